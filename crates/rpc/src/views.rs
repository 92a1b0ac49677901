//! The JSON bodies the routes answer with, beyond the seam's own types, and the two pieces
//! of arithmetic the RPC adds to committed state: a coupon's effective state at the head's
//! chain time ([`coupon_state`]) and a campaign's report ([`campaign_report`]). Both judge
//! time by the chain (the head block's `time_ms`), never by the server's clock.

use crate::api::SubmitOutcome;
use couponchain_runtime::{CampaignRecord, CampaignStatus, CouponRecord, CouponStatus, Receipt};
use couponchain_storage::{CouponView, TxView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a holder or a till can do with a coupon now. The first that applies wins:
/// `spent`, `revoked` (the coupon), `campaign_revoked`, `expired`, `campaign_paused`,
/// `not_yet_valid`, `active`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponState {
    /// Redeemable now (at an allowed site, with the holder's authorization).
    Active,
    /// Nothing left: every use or all value redeemed.
    Spent,
    /// Revoked by its issuer.
    Revoked,
    /// Chain time has reached the campaign's `expires_at_ms`.
    Expired,
    /// Chain time is before the campaign's `not_before_ms`.
    NotYetValid,
    /// The issuer paused the campaign; it may resume.
    CampaignPaused,
    /// The issuer revoked the whole campaign.
    CampaignRevoked,
}

/// The effective state of `coupon` of `campaign` at chain time `now_ms`.
pub fn coupon_state(coupon: &CouponRecord, campaign: &CampaignRecord, now_ms: u64) -> CouponState {
    match coupon.status {
        CouponStatus::Spent => return CouponState::Spent,
        CouponStatus::Revoked => return CouponState::Revoked,
        CouponStatus::Active => {}
    }
    if campaign.status == CampaignStatus::Revoked {
        CouponState::CampaignRevoked
    } else if campaign.is_expired(now_ms) {
        CouponState::Expired
    } else if campaign.status == CampaignStatus::Paused {
        CouponState::CampaignPaused
    } else if now_ms < campaign.spec.not_before_ms {
        CouponState::NotYetValid
    } else {
        CouponState::Active
    }
}

/// Where every coupon of a campaign stands. Each issued coupon is counted in exactly one of
/// `spent`, `revoked`, `revoked_with_campaign`, `expired_unused` and `active`, so they sum
/// to `issued`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CampaignReport {
    pub issued: u64,
    /// Coupons with nothing left.
    pub spent: u64,
    /// Successful redemption transactions.
    pub redemptions: u64,
    /// Uses (single/multi-use) or value in minor units (stored value) redeemed in total.
    pub redeemed_amount: u64,
    /// Coupons revoked one by one.
    pub revoked: u64,
    /// Coupons still usable: outstanding, campaign not expired and not revoked (a paused
    /// campaign's coupons count here; they become usable again when it resumes).
    pub active: u64,
    /// Outstanding coupons of an expired campaign (never used up).
    pub expired_unused: u64,
    /// Outstanding coupons of a revoked campaign.
    pub revoked_with_campaign: u64,
}

/// The report of `campaign` at chain time `now_ms`.
pub fn campaign_report(campaign: &CampaignRecord, now_ms: u64) -> CampaignReport {
    let s = &campaign.stats;
    let outstanding = s.outstanding();
    let mut report = CampaignReport {
        issued: s.issued,
        spent: s.spent,
        redemptions: s.redemptions,
        redeemed_amount: s.redeemed_amount,
        revoked: s.revoked,
        ..CampaignReport::default()
    };
    if campaign.status == CampaignStatus::Revoked {
        report.revoked_with_campaign = outstanding;
    } else if campaign.is_expired(now_ms) {
        report.expired_unused = outstanding;
    } else {
        report.active = outstanding;
    }
    report
}

/// `GET /v1/txs/{id}`: whether the transaction is final or waiting in the mempool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxStatusView {
    pub status: TxState,
    /// The `TxView` `{height, index, tx, receipt}` when final; null while pending. See
    /// docs/encoding.md for the transaction and receipt JSON.
    #[schema(value_type = Option<Object>)]
    pub view: Option<TxView>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// In a final block.
    Final,
    /// Waiting in this node's mempool.
    Pending,
}

/// `GET /v1/coupons/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CouponStateView {
    /// The `CouponView` `{coupon, campaign, history}`; see docs/encoding.md.
    #[schema(value_type = Object)]
    pub coupon: CouponView,
    pub state: CouponState,
    /// The chain time (ms since the Unix epoch) of the head block the state was judged at.
    pub chain_time_ms: u64,
}

/// `GET /v1/campaigns/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CampaignView {
    /// The `CampaignRecord`; see docs/encoding.md.
    #[schema(value_type = Object)]
    pub campaign: CampaignRecord,
    pub report: CampaignReport,
    /// The chain time (ms) of the head block the report was computed at.
    pub chain_time_ms: u64,
}

/// `GET /v1/owners/{key}/coupons`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CouponPage {
    /// `CouponRecord`s in coupon-id order; see docs/encoding.md.
    #[schema(value_type = Vec<Object>)]
    pub coupons: Vec<CouponRecord>,
    /// Pass as `after` for the next page; null when this page is the last.
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{64}$")]
    pub next: Option<couponchain_chain::Hash>,
}

/// `GET /v1/issuers/{key}/campaigns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CampaignList {
    /// `CampaignRecord`s in campaign-id order; see docs/encoding.md.
    #[schema(value_type = Vec<Object>)]
    pub campaigns: Vec<CampaignRecord>,
}

/// `GET /v1/headers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeaderList {
    /// `Header`s in height order; see docs/encoding.md.
    #[schema(value_type = Vec<Object>)]
    pub headers: Vec<couponchain_chain::Header>,
}

/// `GET /v1/blocks/{height}/receipts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptList {
    /// `Receipt`s in transaction order; see docs/encoding.md.
    #[schema(value_type = Vec<Object>)]
    pub receipts: Vec<Receipt>,
}

/// `POST /v1/txs/batch`: one outcome per submitted transaction, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchResults {
    pub results: Vec<SubmitOutcome>,
}

/// `GET /health` and `GET /ready` when all is well.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthBody {
    #[schema(example = "ok")]
    pub status: String,
}
