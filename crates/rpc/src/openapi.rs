//! The OpenAPI 3.1 document served at `/openapi.json`. Every route is listed with its
//! parameters, request-body forms and responses. The RPC's own shapes (errors, submission
//! outcomes, status, reports, pages, query parameters) are described field by field; the
//! deep chain types (transactions, blocks, receipts, records, proofs) are `object`s whose
//! descriptions point at `docs/encoding.md`, which specifies their JSON form. Every
//! operation also lists the errors any route can answer with (500, 503, 504), added by
//! [`CommonErrors`].

use crate::api::{
    BlockView, BriefReceipt, ErrorBody, NodeStatus, ProofView, StreamEvent, SubmitOutcome,
    SubmitStatus,
};
use crate::params::{ReceiptDetail, WaitMode};
use crate::routes::{chain, state, txs};
use crate::views::{
    BatchResults, CampaignList, CampaignReport, CampaignView, CouponPage, CouponState,
    CouponStateView, HeaderList, HealthBody, ReceiptList, TxState, TxStatusView,
};
use crate::RpcError;
use serde::Serialize;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

/// The last final block, as `NodeStatus.head`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Head)]
pub struct HeadSchema {
    pub height: u64,
    /// Block hash, 64 hex digits.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
    /// State root after the block, 64 hex digits.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub state_root: String,
    /// The block's chain time, ms since the Unix epoch.
    pub time_ms: u64,
}

/// The canonical binary encoding (docs/encoding.md).
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct CanonicalBytes(Vec<u8>);

/// One signed transaction as JSON: exactly one of three forms.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SubmitJson {
    /// The canonical encoding of the SignedTransaction, as hex.
    Encoded {
        #[schema(pattern = "^(0x)?([0-9a-fA-F]{2})+$")]
        encoded: String,
    },
    /// The canonical encoding of the SignedTransaction, as standard (padded) base64.
    EncodedBase64 { encoded_base64: String },
    /// The transaction in JSON with the signer's signature; the node re-encodes it
    /// canonically to check the signature.
    Signed {
        /// A `Transaction` in JSON (docs/encoding.md §8).
        #[schema(value_type = Object)]
        tx: serde_json::Value,
        /// 128 hex digits.
        #[schema(pattern = "^[0-9a-f]{128}$")]
        signature: String,
    },
}

/// A batch as JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchJson {
    /// At most `max_batch_txs` (10,000 by default) items.
    pub txs: Vec<SubmitJson>,
}

/// Adds the responses every route may give (500, 503, 504) to every operation.
#[derive(Debug)]
pub struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let common = [
            ("500", "`internal`: the node failed; see its log"),
            ("503", "`unavailable`: the node cannot serve this now"),
            (
                "504",
                "`timeout`: the request exceeded the server's request timeout",
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            let ops: [&mut Option<Operation>; 2] = [&mut item.get, &mut item.post];
            for op in ops.into_iter().flatten() {
                for (status, description) in common {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error_response(description));
                }
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::response::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "couponchain RPC",
        description = "The HTTP RPC of a couponchain node: submit transactions, read coupons, \
            campaigns, blocks and proofs, and follow finalized events. Hashes, keys and \
            signatures are lowercase hex strings; chain types are specified in \
            docs/encoding.md (their JSON form in §8). Every error is an ErrorBody \
            `{code, message}` with a stable `code`; an unknown route answers 404 `not_found`, \
            a wrong method 405 `method_not_allowed`."
    ),
    paths(
        txs::submit,
        txs::submit_batch,
        txs::get_tx,
        state::get_coupon,
        state::get_coupon_proof,
        state::owner_coupons,
        state::get_campaign,
        state::issuer_campaigns,
        state::get_account,
        state::get_proposal,
        state::get_validators,
        state::get_evidence,
        chain::latest_block,
        chain::block_at,
        chain::block_by_hash,
        chain::headers,
        chain::receipts,
        chain::status,
        chain::events,
        crate::server::health,
        crate::server::ready,
        crate::server::metrics_text,
        crate::server::openapi_json,
    ),
    components(schemas(
        ErrorBody,
        SubmitOutcome,
        SubmitStatus,
        BriefReceipt,
        ReceiptDetail,
        NodeStatus,
        HeadSchema,
        BlockView,
        ProofView,
        StreamEvent,
        WaitMode,
        CouponState,
        CouponStateView,
        CampaignReport,
        CampaignView,
        CouponPage,
        CampaignList,
        HeaderList,
        ReceiptList,
        BatchResults,
        TxState,
        TxStatusView,
        HealthBody,
        SubmitJson,
        BatchJson,
        CanonicalBytes,
    )),
    modifiers(&CommonErrors),
    tags(
        (name = "transactions", description = "Submit transactions and follow them to finality"),
        (name = "coupons", description = "Coupons, their state, proofs and owners"),
        (name = "campaigns", description = "Campaigns and their reports"),
        (name = "governance", description = "Accounts (roles), proposals, validators"),
        (name = "chain", description = "Blocks, headers, receipts and the event stream"),
        (name = "node", description = "Status, health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as JSON text.
pub fn document_json() -> Result<String, RpcError> {
    ApiDoc::openapi()
        .to_json()
        .map_err(|e| RpcError::Internal(format!("serializing the OpenAPI document: {e}")))
}
