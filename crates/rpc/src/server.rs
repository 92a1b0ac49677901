//! Assembles the HTTP server: the route table ([`router`]), the operational routes
//! (`/health`, `/ready`, `/metrics`, `/openapi.json`), the layers every request passes
//! through and graceful shutdown ([`serve`]).
//!
//! Layers, outermost first: metrics (times every request under its matched route) → CORS
//! (only if origins are configured) → error normalisation (any error response that is not
//! already JSON — a timeout, a body-limit or method rejection from a lower layer — is
//! rewritten into the `ErrorBody` shape) → request timeout (504) → body limit (413) → the
//! handler. Unknown routes answer a JSON 404 and wrong methods a JSON 405.

use crate::metrics::{track, RpcMetrics};
use crate::routes::chain::ShutdownSignal;
use crate::routes::{blocking, chain, state, txs, AppState};
use crate::views::HealthBody;
use crate::{ErrorBody, NodeApi, RpcError, RpcLimits};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use prometheus_client::registry::Registry;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;

/// The content type of `GET /metrics` (OpenMetrics text).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long [`serve`] lets open requests finish after the shutdown signal before it
/// returns anyway (a client that stopped reading could otherwise hold it forever).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(40);

/// The state of the operational routes.
#[derive(Debug)]
pub(crate) struct ServerState<A> {
    app: AppState<A>,
    registry: Arc<Registry>,
}

impl<A> Clone for ServerState<A> {
    fn clone(&self) -> Self {
        ServerState {
            app: self.app.clone(),
            registry: Arc::clone(&self.registry),
        }
    }
}

/// The RPC's routes and layers over `api`. `metrics` must have been registered in
/// `registry` (see [`RpcMetrics::register`]); `/metrics` exposes all of `registry`.
pub fn router<A: NodeApi>(
    api: Arc<A>,
    limits: RpcLimits,
    metrics: RpcMetrics,
    registry: Arc<Registry>,
) -> Router {
    let limits = Arc::new(limits);
    let app = AppState {
        api,
        limits: Arc::clone(&limits),
        metrics: metrics.clone(),
    };
    let ops = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready::<A>))
        .route("/metrics", get(metrics_text::<A>))
        .route("/openapi.json", get(openapi_json))
        .with_state(ServerState {
            app: app.clone(),
            registry,
        });
    let v1 = Router::new()
        .route("/v1/txs", post(txs::submit::<A>))
        .route("/v1/txs/batch", post(txs::submit_batch::<A>))
        .route("/v1/txs/{id}", get(txs::get_tx::<A>))
        .route("/v1/coupons/{id}", get(state::get_coupon::<A>))
        .route("/v1/coupons/{id}/proof", get(state::get_coupon_proof::<A>))
        .route("/v1/owners/{key}/coupons", get(state::owner_coupons::<A>))
        .route("/v1/campaigns/{id}", get(state::get_campaign::<A>))
        .route(
            "/v1/issuers/{key}/campaigns",
            get(state::issuer_campaigns::<A>),
        )
        .route("/v1/accounts/{key}", get(state::get_account::<A>))
        .route("/v1/proposals/{id}", get(state::get_proposal::<A>))
        .route("/v1/validators", get(state::get_validators::<A>))
        .route("/v1/evidence", get(state::get_evidence::<A>))
        .route("/v1/blocks/latest", get(chain::latest_block::<A>))
        .route("/v1/blocks/{height}", get(chain::block_at::<A>))
        .route("/v1/blocks/by-hash/{hash}", get(chain::block_by_hash::<A>))
        .route("/v1/blocks/{height}/receipts", get(chain::receipts::<A>))
        .route("/v1/headers", get(chain::headers::<A>))
        .route("/v1/status", get(chain::status::<A>))
        .route("/v1/events", get(chain::events::<A>))
        .with_state(app);
    apply_layers(v1.merge(ops), &limits, metrics)
}

/// Adds to `routes` what every RPC route gets: the JSON 404 fallback and 405 answer, the
/// body limit, the request timeout, error normalisation, CORS and request metrics (see the
/// module documentation for the order). [`router`] uses it; it is public so the layers can
/// be exercised over any routes.
pub fn apply_layers(routes: Router, limits: &RpcLimits, metrics: RpcMetrics) -> Router {
    let mut router = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(from_fn_with_state(
            Arc::new(limits.clone()),
            normalize_errors,
        ));
    if let Some(cors) = cors_layer(&limits.cors_origins) {
        router = router.layer(cors);
    }
    router.layer(from_fn_with_state(metrics, track))
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting
/// connections, ends open event streams, lets in-flight requests finish (at most
/// [`SHUTDOWN_GRACE`]) and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Event streams watch `rx` and end when it turns true; the value stays readable after
    // the sender is dropped.
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let router = router.layer(Extension(ShutdownSignal(rx.clone())));
    let signal = async move {
        shutdown.await;
        let _ = tx.send(true);
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(signal);
    let deadline = async move {
        // Resolves once `true` is sent (or the sender is gone, which happens only after).
        let _ = rx.wait_for(|down| *down).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server.into_future() => result,
        () = deadline => {
            tracing::warn!("RPC connections still open {SHUTDOWN_GRACE:?} after shutdown; closing them");
            Ok(())
        }
    }
}

/// The CORS layer for the configured origins: none for an empty list, any origin for
/// `["*"]`, else exactly the listed origins (unparseable ones are logged and skipped).
pub fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::HEAD, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o.trim() == "*") {
        return Some(base.allow_origin(Any));
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| match HeaderValue::from_str(o.trim()) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!(origin = %o, "ignoring an unparseable CORS origin");
                None
            }
        })
        .collect();
    Some(base.allow_origin(AllowOrigin::list(list)))
}

async fn not_found(uri: Uri) -> RpcError {
    RpcError::not_found(format!("route {}", uri.path()))
}

async fn method_not_allowed(method: Method) -> RpcError {
    RpcError::MethodNotAllowed(method.to_string())
}

/// Rewrites error responses that are not JSON (produced by layers, not handlers) into the
/// `ErrorBody` shape, keeping their status and headers (e.g. `Allow`).
async fn normalize_errors(
    State(limits): State<Arc<RpcLimits>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => RpcError::not_found(format!("route {path}")),
        StatusCode::METHOD_NOT_ALLOWED => RpcError::MethodNotAllowed(method.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => RpcError::BodyTooLarge {
            limit: limits.max_body_bytes,
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            RpcError::UnsupportedMediaType("unsupported Content-Type".into())
        }
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            RpcError::Timeout(u64::try_from(limits.request_timeout.as_millis()).unwrap_or(u64::MAX))
        }
        StatusCode::SERVICE_UNAVAILABLE => RpcError::Unavailable("service unavailable".into()),
        s if s.is_client_error() => RpcError::bad_request(
            "bad_request",
            s.canonical_reason().unwrap_or("bad request").to_string(),
        ),
        s => RpcError::Internal(format!("a layer answered {s} for {method} {path}")),
    };
    let (mut parts, _) = response.into_parts();
    let (fresh, body) = error.into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(fresh.headers);
    Response::from_parts(parts, body)
}

/// Liveness: the process serves HTTP.
#[utoipa::path(
    get,
    path = "/health",
    tag = "node",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = HealthBody))
)]
pub(crate) async fn health() -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".into(),
    })
}

/// Readiness: the node is caught up and (for a validator) producing blocks.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "node",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = HealthBody),
        (status = 503, description = "`not_ready`", body = ErrorBody),
    )
)]
pub(crate) async fn ready<A: NodeApi>(
    State(st): State<ServerState<A>>,
) -> Result<Json<HealthBody>, RpcError> {
    let status = blocking(&st.app.api, |a| Ok(a.status())).await?;
    if status.ready {
        Ok(Json(HealthBody {
            status: "ready".into(),
        }))
    } else {
        Err(RpcError::NotReady(format!(
            "the node is not ready (head at height {})",
            status.head.height
        )))
    }
}

/// Prometheus metrics in the OpenMetrics text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    responses((
        status = 200,
        description = "OpenMetrics text exposition of the node's registry",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body = String
    ))
)]
pub(crate) async fn metrics_text<A: NodeApi>(
    State(st): State<ServerState<A>>,
) -> Result<Response, RpcError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &st.registry)
        .map_err(|e| RpcError::Internal(format!("encoding metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response())
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "node",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn openapi_json() -> Result<Response, RpcError> {
    let doc = crate::openapi::document_json()?;
    Ok(([(header::CONTENT_TYPE, "application/json")], doc).into_response())
}
