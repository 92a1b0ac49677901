//! Events and receipts: what a transaction did, in a form shop backends mirror and indexes
//! are built from.

use crate::state::CampaignStatus;
use couponchain_chain::tx::GovAction;
use couponchain_chain::{Hash, PublicKey, TxId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    CampaignCreated {
        campaign: Hash,
        issuer: PublicKey,
    },
    CampaignStatusChanged {
        campaign: Hash,
        status: CampaignStatus,
    },
    CouponIssued {
        coupon: Hash,
        campaign: Hash,
        owner: PublicKey,
        bearer: bool,
    },
    CouponTransferred {
        coupon: Hash,
        campaign: Hash,
        from: PublicKey,
        to: PublicKey,
    },
    CouponClaimed {
        coupon: Hash,
        campaign: Hash,
        from: PublicKey,
        to: PublicKey,
    },
    CouponRedeemed {
        coupon: Hash,
        campaign: Hash,
        holder: PublicKey,
        site: PublicKey,
        amount: u64,
        remaining: u64,
    },
    CouponRevoked {
        coupon: Hash,
        campaign: Hash,
    },
    ProposalCreated {
        proposal: Hash,
        proposer: PublicKey,
        action: GovAction,
    },
    ProposalApproved {
        proposal: Hash,
        approver: PublicKey,
        approvals: u32,
        needed: u32,
    },
    ProposalExecuted {
        proposal: Hash,
        action: GovAction,
    },
    ValidatorSetScheduled {
        from_height: u64,
        validators: Vec<PublicKey>,
    },
}

impl Event {
    /// The coupon this event concerns, if any (for the per-coupon history index).
    pub fn coupon(&self) -> Option<Hash> {
        match self {
            Event::CouponIssued { coupon, .. }
            | Event::CouponTransferred { coupon, .. }
            | Event::CouponClaimed { coupon, .. }
            | Event::CouponRedeemed { coupon, .. }
            | Event::CouponRevoked { coupon, .. } => Some(*coupon),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied { events: Vec<Event> },
    Refused { code: String, message: String },
}

/// What happened to one included transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub tx: TxId,
    pub height: u64,
    pub index: u32,
    pub outcome: Outcome,
}

impl Receipt {
    pub fn is_applied(&self) -> bool {
        matches!(self.outcome, Outcome::Applied { .. })
    }

    pub fn events(&self) -> &[Event] {
        match &self.outcome {
            Outcome::Applied { events } => events,
            Outcome::Refused { .. } => &[],
        }
    }
}
