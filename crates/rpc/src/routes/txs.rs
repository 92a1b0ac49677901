//! Transaction routes: `POST /v1/txs` (one), `POST /v1/txs/batch` (many) and
//! `GET /v1/txs/{id}`. Body forms are parsed by [`crate::body`]; waiting for finality is the
//! node's job (`NodeApi::submit` with a wait), bounded here by the node's maximum wait.

use super::{blocking, ApiBody, AppState};
use crate::api::{ErrorBody, NodeApi, SubmitOutcome, SubmitStatus};
use crate::body::{parse_batch_body, parse_submit_body};
use crate::openapi::{BatchJson, CanonicalBytes, SubmitJson};
use crate::params::{parse_hash, wait_duration, ApiPath, ApiQuery, SubmitParams};
use crate::views::{BatchResults, TxState, TxStatusView};
use crate::RpcError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Refusal codes that say nothing about the transaction, only about the node that refused
/// it: the same transaction may be admitted by another node.
const NODE_CONDITIONS: [&str; 2] = ["unavailable", "disk_low"];

/// Submit one signed transaction.
///
/// Without `wait` the answer comes once the mempool has admitted (`accepted`) or refused
/// (`refused`, HTTP 422) it — or answers 503 with an error body when the refusal is about
/// this node, not the transaction (`unavailable` while it shuts down, `disk_low` while its
/// disk is under its reserve), so that a client tries another node. With `wait=final` it comes when the transaction is in a final
/// block (`final`, with its receipt — which may itself be a runtime refusal such as
/// `already_spent`) or when the wait ends (`timeout`: still admitted, not final yet).
#[utoipa::path(
    post,
    path = "/v1/txs",
    tag = "transactions",
    params(SubmitParams),
    request_body(
        description = "One SignedTransaction: canonical binary, or one of three JSON forms.",
        content(
            (CanonicalBytes = "application/octet-stream"),
            (SubmitJson = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Accepted, final or timed out", body = SubmitOutcome),
        (status = 422, description = "Refused; `error` says why", body = SubmitOutcome),
        (status = 503, description = "`unavailable` or `disk_low`: this node takes no transactions now; try another", body = ErrorBody),
        (status = 400, description = "`bad_json`, `bad_hex`, `bad_encoding` or `bad_param`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub(crate) async fn submit<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiQuery(params): ApiQuery<SubmitParams>,
    body: ApiBody,
) -> Result<Response, RpcError> {
    let wait = wait_duration(&params, st.limits.max_wait)?;
    let tx = parse_submit_body(body.content_type.as_deref(), &body.bytes)?;
    let id = tx.id();
    let outcome = st
        .api
        .submit(vec![tx], wait)
        .await
        .into_iter()
        .next()
        .ok_or_else(|| RpcError::Internal(format!("the node returned no outcome for {id}")))?;
    st.metrics.count_submitted(outcome.status);
    let outcome = params.shape(outcome);
    if let Some(e) = outcome
        .error
        .as_ref()
        .filter(|e| NODE_CONDITIONS.contains(&e.code.as_str()))
    {
        return Err(RpcError::NodeCondition {
            code: e.code.clone(),
            message: e.message.clone(),
        });
    }
    let status = match outcome.status {
        SubmitStatus::Refused => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    Ok((status, Json(outcome)).into_response())
}

/// Submit many signed transactions, in order.
///
/// Each gets its own outcome (as for `POST /v1/txs`); the answer is 200 even if some were
/// refused. At most the node's `max_batch_txs` (10,000 by default) per request.
#[utoipa::path(
    post,
    path = "/v1/txs/batch",
    tag = "transactions",
    params(SubmitParams),
    request_body(
        description = "Many SignedTransactions: the canonical encoding of a \
                       Vec<SignedTransaction>, or JSON {\"txs\": [...]} with the item forms of POST /v1/txs.",
        content(
            (CanonicalBytes = "application/octet-stream"),
            (BatchJson = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "One outcome per transaction, in order", body = BatchResults),
        (status = 400, description = "`batch_too_large`, `bad_json`, `bad_hex`, `bad_encoding` or `bad_param`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub(crate) async fn submit_batch<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiQuery(params): ApiQuery<SubmitParams>,
    body: ApiBody,
) -> Result<Json<BatchResults>, RpcError> {
    let wait = wait_duration(&params, st.limits.max_wait)?;
    let txs = parse_batch_body(
        body.content_type.as_deref(),
        &body.bytes,
        st.limits.max_batch_txs,
    )?;
    if txs.is_empty() {
        return Ok(Json(BatchResults {
            results: Vec::new(),
        }));
    }
    let expected = txs.len();
    let results: Vec<SubmitOutcome> = st.api.submit(txs, wait).await;
    if results.len() != expected {
        return Err(RpcError::Internal(format!(
            "the node returned {} outcomes for {expected} transactions",
            results.len()
        )));
    }
    for r in &results {
        st.metrics.count_submitted(r.status);
    }
    let results = results.into_iter().map(|o| params.shape(o)).collect();
    Ok(Json(BatchResults { results }))
}

/// A transaction: final (with where it landed and its receipt) or pending in the mempool.
#[utoipa::path(
    get,
    path = "/v1/txs/{id}",
    tag = "transactions",
    params(("id" = String, Path, description = "Transaction id, 64 hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "Final or pending", body = TxStatusView),
        (status = 400, description = "`bad_param`", body = ErrorBody),
        (status = 404, description = "`not_found`: neither final nor pending", body = ErrorBody),
    )
)]
pub(crate) async fn get_tx<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TxStatusView>, RpcError> {
    let id = parse_hash("id", &id)?;
    let view = blocking(&st.api, move |a| {
        Ok(match a.tx(&id)? {
            Some(view) => Some((TxState::Final, Some(view))),
            None if a.tx_pending(&id) => Some((TxState::Pending, None)),
            None => None,
        })
    })
    .await?;
    match view {
        Some((status, view)) => Ok(Json(TxStatusView { status, view })),
        None => Err(RpcError::not_found(format!("transaction {id}"))),
    }
}
