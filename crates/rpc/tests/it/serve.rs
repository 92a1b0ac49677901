//! `serve` on a real socket with stand-in routes: answers, early refusal of an oversized
//! body, and graceful shutdown.

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use couponchain_rpc::{apply_layers, serve, RpcLimits, RpcMetrics};
use prometheus_client::registry::Registry;
use std::time::{Duration, Instant};

async fn start(
    limits: RpcLimits,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let mut registry = Registry::default();
    let metrics = RpcMetrics::register(&mut registry);
    let routes = Router::new()
        .route("/echo", post(|b: Bytes| async move { b.len().to_string() }))
        .route("/hello", get(|| async { "hello" }));
    let router = apply_layers(routes, &limits, metrics);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, async move {
        let _ = stopped.await;
    }));
    (url, stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_refuses_large_bodies_and_shuts_down() {
    let limits = RpcLimits {
        max_body_bytes: 8 << 20,
        ..RpcLimits::default()
    };
    let (url, stop, server) = start(limits).await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{url}/hello")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "hello");
    let r = http
        .post(format!("{url}/echo"))
        .body(vec![0u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "1000");
    let r = http
        .post(format!("{url}/echo"))
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; 9 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large", "{body}");
    let r = http.get(format!("{url}/nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let t = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve did not return after shutdown")
        .unwrap()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(
        http.get(format!("{url}/hello")).send().await.is_err(),
        "still serving after shutdown"
    );
}
