//! The server's layers over stand-in routes (no node involved): JSON errors for unknown
//! routes, wrong methods, oversized bodies and timeouts; CORS; request metrics.

use axum::body::{to_bytes, Body, Bytes};
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use couponchain_rpc::{apply_layers, RpcError, RpcLimits, RpcMetrics, METRICS_CONTENT_TYPE};
use prometheus_client::registry::Registry;
use std::time::Duration;
use tower::ServiceExt as _;

fn limits() -> RpcLimits {
    RpcLimits {
        max_body_bytes: 1024,
        request_timeout: Duration::from_millis(200),
        ..RpcLimits::default()
    }
}

fn app(limits: RpcLimits) -> (Router, Registry) {
    let mut registry = Registry::default();
    let metrics = RpcMetrics::register(&mut registry);
    let routes = Router::new()
        .route("/echo/{id}", post(|b: Bytes| async move { b }))
        .route("/fine/{id}", get(|| async { "ok" }))
        .route(
            "/fail",
            get(|| async { RpcError::Internal("disk on fire at /secret/path".into()) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    (apply_layers(routes, &limits, metrics), registry)
}

async fn send(app: &Router, req: Request<Body>) -> Response {
    app.clone().oneshot(req).await.unwrap()
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn error_of(resp: Response) -> (StatusCode, String, String) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    (
        status,
        v["code"].as_str().unwrap().to_string(),
        v["message"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let (app, _) = app(limits());
    for uri in ["/", "/v2/nothing", "/fine", "/fine/1/2"] {
        let (status, code, message) = error_of(send(&app, get_req(uri)).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{uri}"
        );
        assert!(message.contains(uri), "{message}");
    }
}

#[tokio::test]
async fn wrong_methods_are_json_405() {
    let (app, _) = app(limits());
    let resp = send(&app, get_req("/echo/1")).await;
    let allow = resp
        .headers()
        .get(header::ALLOW)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(allow.contains("POST"), "{allow}");
    let (status, code, _) = error_of(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let req = Request::delete("/fine/1").body(Body::empty()).unwrap();
    let (status, code, _) = error_of(send(&app, req).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn oversized_bodies_are_json_413() {
    let (app, _) = app(limits());
    let ok = Request::post("/echo/1")
        .body(Body::from(vec![7u8; 1024]))
        .unwrap();
    assert_eq!(send(&app, ok).await.status(), StatusCode::OK);
    let big = Request::post("/echo/1")
        .body(Body::from(vec![7u8; 1025]))
        .unwrap();
    let resp = send(&app, big).await;
    // The unread rest of the body makes the connection unusable for another request.
    assert_eq!(resp.headers()[header::CONNECTION], "close");
    let (status, code, message) = error_of(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    assert!(message.contains("1024"), "{message}");
    // Without a Content-Length (streamed), too.
    let chunks = futures_util::stream::iter(
        (0..3).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 600]))),
    );
    let streamed = Request::post("/echo/1")
        .body(Body::from_stream(chunks))
        .unwrap();
    let (status, code, _) = error_of(send(&app, streamed).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
}

#[tokio::test]
async fn slow_requests_are_json_504() {
    let (app, _) = app(limits());
    let (status, code, _) = error_of(send(&app, get_req("/slow")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::GATEWAY_TIMEOUT, "timeout")
    );
}

#[tokio::test]
async fn internal_errors_hide_details() {
    let (app, _) = app(limits());
    let (status, code, message) = error_of(send(&app, get_req("/fail")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal")
    );
    assert!(!message.contains("/secret/path"), "{message}");
}

#[tokio::test]
async fn every_error_variant_has_its_status_and_code() {
    let cases = [
        (RpcError::bad_request("bad_hex", "x"), 400, "bad_hex"),
        (RpcError::not_found("coupon 00"), 404, "not_found"),
        (
            RpcError::Refused {
                code: "already_spent".into(),
                message: "m".into(),
            },
            422,
            "already_spent",
        ),
        (RpcError::Unavailable("busy".into()), 503, "unavailable"),
        (RpcError::NotReady("syncing".into()), 503, "not_ready"),
        (RpcError::Internal("x".into()), 500, "internal"),
        (
            RpcError::MethodNotAllowed("PUT".into()),
            405,
            "method_not_allowed",
        ),
        (RpcError::BodyTooLarge { limit: 5 }, 413, "body_too_large"),
        (
            RpcError::UnsupportedMediaType("text/plain".into()),
            415,
            "unsupported_media_type",
        ),
        (RpcError::Timeout(5), 504, "timeout"),
    ];
    for (e, status, code) in cases {
        let (s, c, _) = error_of(e.clone().into_response()).await;
        assert_eq!((s.as_u16(), c.as_str()), (status, code), "{e:?}");
    }
}

#[tokio::test]
async fn cors() {
    let origin = "https://shop.example";
    let with_origin = |uri: &str, o: &str| {
        Request::get(uri)
            .header(header::ORIGIN, o)
            .body(Body::empty())
            .unwrap()
    };
    let allow = |r: &Response| {
        r.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.to_str().unwrap().to_string())
    };
    // No origins configured: no CORS headers.
    let (none, _) = app(limits());
    assert_eq!(
        allow(&send(&none, with_origin("/fine/1", origin)).await),
        None
    );
    // Any origin.
    let (any, _) = app(RpcLimits {
        cors_origins: vec!["*".into()],
        ..limits()
    });
    assert_eq!(
        allow(&send(&any, with_origin("/fine/1", origin)).await).as_deref(),
        Some("*")
    );
    // A list: listed origins only; errors carry the headers too.
    let (listed, _) = app(RpcLimits {
        cors_origins: vec![origin.into(), "http://localhost:3000".into()],
        ..limits()
    });
    assert_eq!(
        allow(&send(&listed, with_origin("/fine/1", origin)).await).as_deref(),
        Some(origin)
    );
    assert_eq!(
        allow(&send(&listed, with_origin("/nope", origin)).await).as_deref(),
        Some(origin)
    );
    assert_eq!(
        allow(&send(&listed, with_origin("/fine/1", "https://evil.example")).await),
        None
    );
    let preflight = Request::options("/echo/1")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap();
    let resp = send(&listed, preflight).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(allow(&resp).as_deref(), Some(origin));
}

#[tokio::test]
async fn requests_are_timed_by_route_template() {
    let (app, registry) = app(limits());
    assert_eq!(
        send(&app, get_req("/fine/abc")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&app, get_req("/fine/def")).await.status(),
        StatusCode::OK
    );
    send(&app, get_req("/no/such/route")).await;
    send(
        &app,
        Request::delete("/fine/1").body(Body::empty()).unwrap(),
    )
    .await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("# TYPE rpc_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# UNIT rpc_request_duration_seconds seconds"),
        "{text}"
    );
    assert!(
        text.contains("# HELP rpc_request_duration_seconds "),
        "{text}"
    );
    let count = |labels: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("rpc_request_duration_seconds_count{{{labels}}}")))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    assert_eq!(
        count(r#"route="/fine/{id}",method="GET",status="200""#).as_deref(),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        count(r#"route="unmatched",method="GET",status="404""#).as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        count(r#"route="/fine/{id}",method="DELETE",status="405""#).as_deref(),
        Some("1"),
        "{text}"
    );
    assert!(
        !text.contains("/fine/abc"),
        "raw paths must not become labels"
    );
    // Buckets from 100 µs to 30 s.
    assert!(
        text.contains(r#"le="0.0001""#) && text.contains(r#"le="30.0""#),
        "{text}"
    );
    assert!(
        text.contains("# HELP rpc_submitted_transactions "),
        "{text}"
    );
    assert!(
        text.contains(r#"rpc_submitted_transactions_total{status="refused"} 0"#),
        "{text}"
    );
    assert!(text.contains("# HELP rpc_event_streams "), "{text}");
    assert!(METRICS_CONTENT_TYPE.starts_with("application/openmetrics-text; version=1.0.0"));
}
