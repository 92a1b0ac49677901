//! The seam between the RPC and the node: [`NodeApi`], which the node implements, and the
//! wire types the routes return. Everything here is plain data or a query; the routes in
//! this crate turn them into HTTP.

use crate::RpcError;
use couponchain_chain::block::{CommitCertificate, ValidatorSet};
use couponchain_chain::{Block, Hash, Header, PublicKey, SignedTransaction, TxId};
use couponchain_runtime::{
    Account, CampaignRecord, CouponRecord, Outcome, ProposalRecord, Receipt, StateKey,
};
use couponchain_storage::{CouponView, Head, ProvenRecord, TxView};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use utoipa::ToSchema;

/// What the node tells about itself (`GET /v1/status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeStatus {
    pub chain_id: String,
    pub version: String,
    /// The last final block.
    #[schema(value_type = crate::openapi::HeadSchema)]
    pub head: Head,
    /// True once the node is caught up and (for a validator) producing blocks.
    pub ready: bool,
    /// "sole_validator", "validator" or "replica".
    pub role: String,
    /// Connected peers (0 for a sole validator without replicas).
    pub peers: usize,
    pub mempool_txs: usize,
    pub mempool_bytes: usize,
}

/// The fate of one submitted transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubmitOutcome {
    /// The transaction id (64 lowercase hex digits).
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub tx: TxId,
    pub status: SubmitStatus,
    /// Present when `status` is `final`: a `Receipt` (see docs/encoding.md).
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<Receipt>,
    /// Present when `status` is `refused`: why the node did not take it.
    pub error: Option<ErrorBody>,
    /// Present instead of `receipt` when the submission asked for `receipts=brief`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brief: Option<BriefReceipt>,
}

impl SubmitOutcome {
    /// Replaces a full receipt with its brief form.
    pub fn into_brief(mut self) -> SubmitOutcome {
        if let Some(r) = self.receipt.take() {
            self.brief = Some(BriefReceipt::of(&r));
        }
        self
    }
}

/// Where a final transaction landed and whether the runtime applied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BriefReceipt {
    pub height: u64,
    pub index: u32,
    /// False when the runtime refused it in the block (e.g. `already_spent`).
    pub applied: bool,
    /// The runtime's refusal code when not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl BriefReceipt {
    pub fn of(r: &Receipt) -> BriefReceipt {
        BriefReceipt {
            height: r.height,
            index: r.index,
            applied: r.is_applied(),
            code: match &r.outcome {
                Outcome::Refused { code, .. } => Some(code.clone()),
                Outcome::Applied { .. } => None,
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmitStatus {
    /// In the mempool; not final yet.
    Accepted,
    /// Included in a final block; see the receipt (which may itself be a refusal by the
    /// runtime, e.g. `already_spent`).
    Final,
    /// Not admitted; nothing will happen.
    Refused,
    /// Admitted, but not final within the requested wait.
    Timeout,
}

/// The JSON error shape of every route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: `bad_json`, `bad_hex`, `bad_encoding`, `bad_param`,
    /// `batch_too_large`, `not_found`, `method_not_allowed`, `body_too_large`,
    /// `unsupported_media_type`, `unavailable`, `not_ready`, `timeout`, `internal`, or (for a
    /// refused transaction) the mempool's or runtime's refusal code.
    #[schema(example = "not_found")]
    pub code: String,
    /// For humans; may change between versions.
    pub message: String,
}

impl From<&RpcError> for ErrorBody {
    fn from(e: &RpcError) -> Self {
        ErrorBody {
            code: e.code().to_string(),
            message: e.to_string(),
        }
    }
}

/// A block with the certificate that made it final (absent for genesis).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    /// The block hash (64 lowercase hex digits).
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub hash: Hash,
    /// A `Block` (header and signed transactions); see docs/encoding.md.
    #[schema(value_type = Object)]
    pub block: Block,
    /// A `CommitCertificate`; see docs/encoding.md. Null for genesis.
    #[schema(value_type = Option<Object>)]
    pub certificate: Option<CommitCertificate>,
}

/// A state record with its proof, the header it is valid against, and that header's
/// certificate: everything a light verifier needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProofView {
    /// A `ProvenRecord`: `{header, key, value (hex), present, proof}`; see docs/encoding.md.
    #[schema(value_type = Object)]
    pub proven: ProvenRecord,
    /// The `CommitCertificate` of `proven.header`; see docs/encoding.md.
    #[schema(value_type = Option<Object>)]
    pub certificate: Option<CommitCertificate>,
    /// The `ValidatorSet` that signed the certificate.
    #[schema(value_type = Object)]
    pub validators: ValidatorSet,
}

/// A finalized event as the stream delivers it. `id` is `"{height}:{tx_index}:{event_index}"`;
/// a client resumes after it with the `Last-Event-ID` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    #[schema(example = "42:0:1")]
    pub id: String,
    pub height: u64,
    /// The transaction id (64 lowercase hex digits).
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub tx: TxId,
    pub tx_index: u32,
    pub event_index: u32,
    /// An `Event`, externally tagged snake_case (e.g. `{"coupon_redeemed": {...}}`); see
    /// docs/encoding.md.
    #[schema(value_type = Object)]
    pub event: couponchain_runtime::Event,
}

/// The node, as the RPC sees it. Queries are synchronous (they read committed state);
/// submission is asynchronous because it may wait for finality.
pub trait NodeApi: Send + Sync + 'static {
    fn status(&self) -> NodeStatus;

    /// Admits transactions to the mempool (in order) and, if `wait` is set, waits up to
    /// that long for each to become final.
    fn submit(
        &self,
        txs: Vec<SignedTransaction>,
        wait: Option<Duration>,
    ) -> impl Future<Output = Vec<SubmitOutcome>> + Send;

    /// A transaction that is final; `Ok(None)` if unknown. `pending` tells whether it is
    /// waiting in the mempool.
    fn tx(&self, id: &TxId) -> Result<Option<TxView>, RpcError>;
    fn tx_pending(&self, id: &TxId) -> bool;

    fn coupon(&self, id: &Hash) -> Result<Option<CouponView>, RpcError>;
    fn coupons_of(
        &self,
        owner: &PublicKey,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<CouponRecord>, RpcError>;
    fn campaign(&self, id: &Hash) -> Result<Option<CampaignRecord>, RpcError>;
    fn campaigns_of(
        &self,
        issuer: &PublicKey,
        limit: usize,
    ) -> Result<Vec<CampaignRecord>, RpcError>;
    fn account(&self, key: &PublicKey) -> Result<Option<Account>, RpcError>;
    fn proposal(&self, id: &Hash) -> Result<Option<ProposalRecord>, RpcError>;
    fn validators(&self) -> Result<ValidatorSet, RpcError>;

    fn block(&self, height: u64) -> Result<Option<BlockView>, RpcError>;
    fn block_height(&self, hash: &Hash) -> Result<Option<u64>, RpcError>;
    fn headers(&self, from: u64, limit: usize) -> Result<Vec<Header>, RpcError>;
    fn receipts(&self, height: u64) -> Result<Vec<Receipt>, RpcError>;

    /// A record (or its absence) with a proof against the latest certified header.
    fn prove(&self, key: StateKey) -> Result<ProofView, RpcError>;

    /// Follows the height of the last final block.
    fn subscribe_head(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Equivocations this node has seen (two conflicting messages signed by one
    /// validator), most recent last, as JSON objects with both signed messages.
    fn evidence(&self) -> Vec<serde_json::Value> {
        Vec::new()
    }
}

/// Limits that shape the HTTP server; the node fills them from its config.
#[derive(Clone, Debug)]
pub struct RpcLimits {
    /// Largest request body accepted (a 10,000-coupon issue is ~350 KiB binary, ~1.5 MiB JSON).
    pub max_body_bytes: usize,
    /// Longest a request may take, `wait=final` included.
    pub request_timeout: Duration,
    /// The longest `wait=final` a client may ask for.
    pub max_wait: Duration,
    /// Most transactions in one batch submission.
    pub max_batch_txs: usize,
    /// Origins allowed by CORS; empty means no CORS headers (same-origin only); `*` any.
    pub cors_origins: Vec<String>,
}

impl Default for RpcLimits {
    fn default() -> Self {
        RpcLimits {
            max_body_bytes: 8 << 20,
            request_timeout: Duration::from_secs(35),
            max_wait: Duration::from_secs(30),
            max_batch_txs: 10_000,
            cors_origins: Vec::new(),
        }
    }
}
