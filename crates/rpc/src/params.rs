//! Request parameters: the query-string types of every route (documented in the OpenAPI
//! document through `IntoParams`), extractors that turn axum's own rejections into
//! [`RpcError`]s (`400 bad_param`) so even a malformed query or path answers with the JSON
//! error shape, and the pure functions that validate ids, limits and waits.

use crate::RpcError;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use couponchain_chain::{Hash, PublicKey};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::str::FromStr;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// The default page size of list routes.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page size of list routes.
pub const MAX_LIMIT: usize = 1000;
/// How long `wait=final` waits when `timeout_ms` is not given.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// What a submission waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitMode {
    /// Answer once the transaction is in a final block (or the wait ends).
    Final,
}

/// `POST /v1/txs` and `POST /v1/txs/batch`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmitParams {
    /// `final`: wait until each transaction is final (or `timeout_ms` passes). Without it
    /// the answer comes as soon as the mempool has admitted or refused the transactions.
    #[param(inline)]
    pub wait: Option<WaitMode>,
    /// How long to wait, in milliseconds (default 10000; capped by the node's maximum wait,
    /// 30000 by default). Only with `wait=final`.
    #[param(minimum = 0)]
    pub timeout_ms: Option<u64>,
    /// `brief`: a final transaction's outcome carries `brief` (where it landed, whether it
    /// applied, a refusal's code) instead of the whole `receipt` with its events — for
    /// clients that submit in bulk and need only the verdict. Default `full`.
    #[param(inline)]
    pub receipts: Option<ReceiptDetail>,
}

/// How much of a final transaction's receipt a submission answers with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptDetail {
    /// The whole receipt, events included.
    #[default]
    Full,
    /// Height, index, applied or not, and a refusal's code.
    Brief,
}

impl SubmitParams {
    /// The outcome as the submission asked for it (`receipts=brief` or the whole receipt).
    pub fn shape(&self, outcome: crate::api::SubmitOutcome) -> crate::api::SubmitOutcome {
        match self.receipts {
            Some(ReceiptDetail::Brief) => outcome.into_brief(),
            Some(ReceiptDetail::Full) | None => outcome,
        }
    }
}

/// `GET /v1/owners/{key}/coupons`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Continue strictly after this coupon id (the previous page's `next`), 64 hex digits.
    #[param(pattern = "^[0-9a-f]{64}$")]
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// `GET /v1/issuers/{key}/campaigns`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// How many to return, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// `GET /v1/headers`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadersParams {
    /// First height (default 0, the genesis block).
    #[param(minimum = 0)]
    pub from: Option<u64>,
    /// How many headers, 1 to 1000 (default 100); fewer if the head is reached.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// `GET /v1/events`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// First block height whose events are sent (inclusive; below 1 counts as 1). Default:
    /// the block after the current head, i.e. only new events. A `Last-Event-ID` header
    /// takes precedence.
    #[param(minimum = 0)]
    pub from_height: Option<u64>,
}

/// The wait a submission asks for: `None` without `wait`, else `timeout_ms` (default 10 s)
/// capped at `max_wait`. `timeout_ms` without `wait=final` is a `bad_param`.
pub fn wait_duration(
    params: &SubmitParams,
    max_wait: Duration,
) -> Result<Option<Duration>, RpcError> {
    match (params.wait, params.timeout_ms) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(RpcError::bad_param(
            "timeout_ms",
            "only meaningful with wait=final",
        )),
        (Some(WaitMode::Final), t) => {
            let asked = t.map(Duration::from_millis).unwrap_or(DEFAULT_WAIT);
            Ok(Some(asked.min(max_wait)))
        }
    }
}

/// A page size: default [`DEFAULT_LIMIT`], 1 ..= [`MAX_LIMIT`].
pub fn page_limit(limit: Option<usize>) -> Result<usize, RpcError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(RpcError::bad_param(
            "limit",
            format!("{n} is out of range; use 1 to {MAX_LIMIT}"),
        )),
    }
}

/// A 32-byte hash parameter (64 hex digits, optional `0x`).
pub fn parse_hash(name: &str, text: &str) -> Result<Hash, RpcError> {
    Hash::from_str(text).map_err(|e| RpcError::bad_param(name, e))
}

/// A public-key parameter (64 hex digits, optional `0x`).
pub fn parse_key(name: &str, text: &str) -> Result<PublicKey, RpcError> {
    PublicKey::from_str(text).map_err(|e| RpcError::bad_param(name, e))
}

/// `axum::extract::Query` whose rejection is a JSON `400 bad_param`.
#[derive(Clone, Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = RpcError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(RpcError::bad_param("query", e.body_text())),
        }
    }
}

/// `axum::extract::Path` whose rejection is a JSON `400 bad_param` (or `500 internal` for a
/// route declared wrongly).
#[derive(Clone, Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = RpcError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(e) if e.status() == StatusCode::INTERNAL_SERVER_ERROR => {
                Err(RpcError::Internal(e.body_text()))
            }
            Err(e) => Err(RpcError::bad_param("path", e.body_text())),
        }
    }
}
