//! Routes over the chain itself: blocks (latest, by height, by hash), headers for light
//! verifiers, a block's receipts, the node's status, and the finalized-event stream
//! ([`crate::events`]).

use super::{blocking, AppState};
use crate::api::{BlockView, ErrorBody, NodeApi, NodeStatus, StreamEvent};
use crate::events::{event_stream, stream_start};
use crate::params::{page_limit, parse_hash, ApiPath, ApiQuery, EventsParams, HeadersParams};
use crate::views::{HeaderList, ReceiptList};
use crate::RpcError;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

/// How often an idle event stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Ends event streams when the server shuts down (inserted by [`crate::serve`]).
#[derive(Clone, Debug)]
pub(crate) struct ShutdownSignal(pub tokio::sync::watch::Receiver<bool>);

fn block_or_404(
    block: Option<BlockView>,
    what: impl FnOnce() -> String,
) -> Result<Json<BlockView>, RpcError> {
    block.map(Json).ok_or_else(|| RpcError::not_found(what()))
}

/// The last final block.
#[utoipa::path(
    get,
    path = "/v1/blocks/latest",
    tag = "chain",
    responses(
        (status = 200, description = "The head block", body = BlockView),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub(crate) async fn latest_block<A: NodeApi>(
    State(st): State<AppState<A>>,
) -> Result<Json<BlockView>, RpcError> {
    let block = blocking(&st.api, |a| {
        let height = a.status().head.height;
        a.block(height)
    })
    .await?;
    block_or_404(block, || "latest block".to_string())
}

/// The final block at a height.
#[utoipa::path(
    get,
    path = "/v1/blocks/{height}",
    tag = "chain",
    params(("height" = u64, Path, description = "Block height (0 is genesis)", minimum = 0)),
    responses(
        (status = 200, description = "The block", body = BlockView),
        (status = 400, description = "`bad_param`", body = ErrorBody),
        (status = 404, description = "`not_found`: beyond the head", body = ErrorBody),
    )
)]
pub(crate) async fn block_at<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(height): ApiPath<u64>,
) -> Result<Json<BlockView>, RpcError> {
    let block = blocking(&st.api, move |a| a.block(height)).await?;
    block_or_404(block, || format!("block {height}"))
}

/// The final block with a hash.
#[utoipa::path(
    get,
    path = "/v1/blocks/by-hash/{hash}",
    tag = "chain",
    params(("hash" = String, Path, description = "Block hash, 64 hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The block", body = BlockView),
        (status = 400, description = "`bad_param`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub(crate) async fn block_by_hash<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<Json<BlockView>, RpcError> {
    let hash = parse_hash("hash", &hash)?;
    let block = blocking(&st.api, move |a| match a.block_height(&hash)? {
        Some(h) => a.block(h),
        None => Ok(None),
    })
    .await?;
    block_or_404(block, || format!("block {hash}"))
}

/// Headers from a height, for light verifiers following the chain.
#[utoipa::path(
    get,
    path = "/v1/headers",
    tag = "chain",
    params(HeadersParams),
    responses(
        (status = 200, description = "Headers in height order (empty beyond the head)", body = HeaderList),
        (status = 400, description = "`bad_param`", body = ErrorBody),
    )
)]
pub(crate) async fn headers<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiQuery(params): ApiQuery<HeadersParams>,
) -> Result<Json<HeaderList>, RpcError> {
    let from = params.from.unwrap_or(0);
    let limit = page_limit(params.limit)?;
    let headers = blocking(&st.api, move |a| a.headers(from, limit)).await?;
    Ok(Json(HeaderList { headers }))
}

/// The receipts of a final block, in transaction order.
#[utoipa::path(
    get,
    path = "/v1/blocks/{height}/receipts",
    tag = "chain",
    params(("height" = u64, Path, description = "Block height", minimum = 0)),
    responses(
        (status = 200, description = "The block's receipts", body = ReceiptList),
        (status = 400, description = "`bad_param`", body = ErrorBody),
        (status = 404, description = "`not_found`: beyond the head", body = ErrorBody),
    )
)]
pub(crate) async fn receipts<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(height): ApiPath<u64>,
) -> Result<Json<ReceiptList>, RpcError> {
    let receipts = blocking(&st.api, move |a| {
        if height > a.status().head.height {
            return Ok(None);
        }
        a.receipts(height).map(Some)
    })
    .await?;
    match receipts {
        Some(receipts) => Ok(Json(ReceiptList { receipts })),
        None => Err(RpcError::not_found(format!("block {height}"))),
    }
}

/// What the node tells about itself: chain, version, head, readiness, role, mempool.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    responses((status = 200, description = "The node's status", body = NodeStatus))
)]
pub(crate) async fn status<A: NodeApi>(
    State(st): State<AppState<A>>,
) -> Result<Json<NodeStatus>, RpcError> {
    Ok(Json(blocking(&st.api, |a| Ok(a.status())).await?))
}

/// The stream of finalized events (Server-Sent Events).
///
/// Each message has `id: {height}:{tx_index}:{event_index}`, `event:` the event's kind
/// (`campaign_created`, `coupon_issued`, `coupon_redeemed`, ...) and `data:` a StreamEvent.
/// Only events of applied transactions are sent; blocks without events send nothing. An
/// idle stream gets a comment every 15 s. To resume, reconnect with `Last-Event-ID` (browsers'
/// EventSource does it by itself): the stream continues strictly after that event. If the
/// node fails to read a block, the stream sends one `event: error` message (an ErrorBody)
/// and ends; reconnect with the last id.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "chain",
    params(
        EventsParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume strictly after this event id (`height:tx_index:event_index`); wins over from_height", pattern = "^[0-9]+:[0-9]+:[0-9]+$"),
    ),
    responses(
        (status = 200, description = "An endless text/event-stream of StreamEvent messages", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "`bad_param` (a malformed Last-Event-ID or from_height)", body = ErrorBody),
    )
)]
pub(crate) async fn events<A: NodeApi>(
    State(st): State<AppState<A>>,
    shutdown: Option<Extension<ShutdownSignal>>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<EventsParams>,
) -> Result<Response, RpcError> {
    let last_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| RpcError::bad_param("Last-Event-ID", "not visible ASCII"))?
                .to_string(),
        ),
    };
    let head = st.api.subscribe_head();
    let start = stream_start(last_id.as_deref(), params.from_height, *head.borrow())?;
    let stream = event_stream(
        st.api.clone(),
        head,
        start,
        shutdown.map(|Extension(s)| s.0),
        st.metrics.stream_opened(),
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}
