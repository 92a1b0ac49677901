//! The route handlers, grouped by what they serve: [`txs`] (submission and transaction
//! status), [`state`] (coupons, campaigns, accounts, governance: the ledger's records) and
//! [`chain`] (blocks, headers, receipts, node status and the event stream). Handlers are
//! generic over [`NodeApi`]; every node query runs on tokio's blocking pool
//! ([`blocking`]) because the node answers it from RocksDB.

pub(crate) mod chain;
pub(crate) mod state;
pub(crate) mod txs;

use crate::metrics::RpcMetrics;
use crate::{NodeApi, RpcError, RpcLimits};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use std::sync::Arc;

/// What every handler can reach.
#[derive(Debug)]
pub(crate) struct AppState<A> {
    pub api: Arc<A>,
    pub limits: Arc<RpcLimits>,
    pub metrics: RpcMetrics,
}

impl<A> Clone for AppState<A> {
    fn clone(&self) -> Self {
        AppState {
            api: Arc::clone(&self.api),
            limits: Arc::clone(&self.limits),
            metrics: self.metrics.clone(),
        }
    }
}

/// Runs a synchronous node query on the blocking pool, so a slow database read never stalls
/// the async workers serving other requests.
pub(crate) async fn blocking<A, T, F>(api: &Arc<A>, f: F) -> Result<T, RpcError>
where
    A: NodeApi,
    T: Send + 'static,
    F: FnOnce(&A) -> Result<T, RpcError> + Send + 'static,
{
    let api = Arc::clone(api);
    tokio::task::spawn_blocking(move || f(&api))
        .await
        .map_err(|e| RpcError::Internal(format!("node query task failed: {e}")))?
}

/// A request body with its `Content-Type`, read up to the server's body limit; a larger
/// body is a JSON `413 body_too_large`.
#[derive(Debug)]
pub(crate) struct ApiBody {
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

impl<A: NodeApi> FromRequest<AppState<A>> for ApiBody {
    type Rejection = RpcError;

    async fn from_request(req: Request, state: &AppState<A>) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(ApiBody {
                content_type,
                bytes,
            }),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(RpcError::BodyTooLarge {
                limit: state.limits.max_body_bytes,
            }),
            Err(e) => Err(RpcError::bad_request(
                "bad_encoding",
                format!("could not read the request body: {}", e.body_text()),
            )),
        }
    }
}
