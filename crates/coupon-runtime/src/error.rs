//! The runtime's one error type. Each variant carries the values that explain it, and has
//! a stable machine-readable code (see [`RuntimeError::code`]) that receipts and the RPC use.

use couponchain_chain::{Hash, PublicKey, TxId};

/// A failure to read state: fatal for the block being executed, never the transaction's fault.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("state read failed: {0}")]
pub struct StoreError(pub String);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RuntimeError {
    // --- Envelope errors: the transaction can never be included here and now. ---
    #[error("transaction is for chain {got:?}, this is {expected:?}")]
    WrongChainId { expected: String, got: String },
    #[error("invalid signature by {signer}")]
    BadSignature { signer: PublicKey },
    #[error("transaction expired at {valid_until_ms} ms, chain time is {now_ms} ms")]
    TxExpired { valid_until_ms: u64, now_ms: u64 },
    #[error("transaction valid until {valid_until_ms} ms, more than {max_lifetime_ms} ms after chain time {now_ms} ms")]
    TxTooFarAhead {
        valid_until_ms: u64,
        now_ms: u64,
        max_lifetime_ms: u64,
    },
    #[error("transaction {0} was already included")]
    Replay(TxId),
    #[error("transaction {0} appears twice in the block")]
    DuplicateInBlock(TxId),
    #[error("invalid transaction: {0}")]
    Malformed(String),

    // --- Refusals: included in a block with a refusal receipt; state unchanged. ---
    #[error("unknown coupon {0}")]
    UnknownCoupon(Hash),
    #[error("unknown campaign {0}")]
    UnknownCampaign(Hash),
    #[error("{0} is not a registered issuer")]
    NotIssuer(PublicKey),
    #[error("{signer} is not the issuer of campaign {campaign}")]
    NotCampaignIssuer { campaign: Hash, signer: PublicKey },
    #[error("{0} is not a registered redemption site")]
    NotSite(PublicKey),
    #[error("site {site} may not redeem coupons of campaign {campaign}")]
    SiteNotAllowed { site: PublicKey, campaign: Hash },
    #[error("site region {site_region:?} is outside the campaign's region {required:?}")]
    WrongRegion {
        site_region: Option<String>,
        required: String,
    },
    #[error("{signer} does not own coupon {coupon}")]
    NotOwner { coupon: Hash, signer: PublicKey },
    #[error("coupons of campaign {0} are not transferable")]
    NotTransferable(Hash),
    #[error("coupon {0} is not a bearer coupon, or was already claimed")]
    NotBearer(Hash),
    #[error("coupon {0} is used up")]
    AlreadySpent(Hash),
    #[error("coupon {0} was revoked")]
    CouponRevoked(Hash),
    #[error("campaign {0} is paused")]
    CampaignPaused(Hash),
    #[error("campaign {0} was revoked")]
    CampaignRevoked(Hash),
    #[error("not valid before {not_before_ms} ms; chain time is {now_ms} ms")]
    NotYetValid { not_before_ms: u64, now_ms: u64 },
    #[error("expired at {expires_at_ms} ms; chain time is {now_ms} ms")]
    Expired { expires_at_ms: u64, now_ms: u64 },
    #[error("issuing {requested} would exceed the maximum supply {max_supply} ({issued} issued)")]
    OverSupply {
        max_supply: u64,
        issued: u64,
        requested: u64,
    },
    #[error("redeeming {requested} exceeds the {remaining} remaining")]
    OverSpend { remaining: u64, requested: u64 },
    #[error("{holder} has received the limit of {limit} coupons of this campaign")]
    HolderLimit { holder: PublicKey, limit: u32 },
    #[error("authorization is for redemption #{got}, the coupon is at #{expected}")]
    StaleAuthorization { expected: u32, got: u32 },
    #[error("authorization expired at {valid_until_ms} ms; chain time is {now_ms} ms")]
    AuthorizationExpired { valid_until_ms: u64, now_ms: u64 },
    #[error("invalid campaign: {0}")]
    InvalidCampaign(String),
    #[error("{0} may not propose governance actions (administrators and validators may)")]
    NotProposer(PublicKey),
    #[error("{0} is not a current validator")]
    NotValidator(PublicKey),
    #[error("unknown proposal {0}")]
    UnknownProposal(Hash),
    #[error("{approver} already approved proposal {proposal}")]
    AlreadyApproved { proposal: Hash, approver: PublicKey },
    #[error("proposal {0} is no longer open")]
    ProposalClosed(Hash),
    #[error("governance action is invalid: {0}")]
    InvalidAction(String),

    // --- Block-level. ---
    #[error("transaction #{index} makes the block invalid: {error}")]
    InvalidBlockTx {
        index: u32,
        error: Box<RuntimeError>,
    },

    // --- Not the transaction's fault. ---
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RuntimeError {
    /// A stable snake_case code for machines (receipts, RPC errors, client libraries).
    pub fn code(&self) -> &'static str {
        use RuntimeError::*;
        match self {
            WrongChainId { .. } => "wrong_chain_id",
            BadSignature { .. } => "bad_signature",
            TxExpired { .. } => "tx_expired",
            TxTooFarAhead { .. } => "tx_too_far_ahead",
            Replay(_) => "replay",
            DuplicateInBlock(_) => "duplicate_in_block",
            Malformed(_) => "malformed",
            UnknownCoupon(_) => "unknown_coupon",
            UnknownCampaign(_) => "unknown_campaign",
            NotIssuer(_) => "not_issuer",
            NotCampaignIssuer { .. } => "not_campaign_issuer",
            NotSite(_) => "not_site",
            SiteNotAllowed { .. } => "site_not_allowed",
            WrongRegion { .. } => "wrong_region",
            NotOwner { .. } => "not_owner",
            NotTransferable(_) => "not_transferable",
            NotBearer(_) => "not_bearer",
            AlreadySpent(_) => "already_spent",
            CouponRevoked(_) => "coupon_revoked",
            CampaignPaused(_) => "campaign_paused",
            CampaignRevoked(_) => "campaign_revoked",
            NotYetValid { .. } => "not_yet_valid",
            Expired { .. } => "expired",
            OverSupply { .. } => "over_supply",
            OverSpend { .. } => "over_spend",
            HolderLimit { .. } => "holder_limit",
            StaleAuthorization { .. } => "stale_authorization",
            AuthorizationExpired { .. } => "authorization_expired",
            InvalidCampaign(_) => "invalid_campaign",
            NotProposer(_) => "not_proposer",
            NotValidator(_) => "not_validator",
            UnknownProposal(_) => "unknown_proposal",
            AlreadyApproved { .. } => "already_approved",
            ProposalClosed(_) => "proposal_closed",
            InvalidAction(_) => "invalid_action",
            InvalidBlockTx { .. } => "invalid_block_tx",
            Store(_) => "store",
        }
    }

    /// True for errors that make a transaction unincludable (the block carrying it is
    /// invalid); false for refusals, which are included with a refusal receipt.
    pub fn is_envelope_error(&self) -> bool {
        use RuntimeError::*;
        matches!(
            self,
            WrongChainId { .. }
                | BadSignature { .. }
                | TxExpired { .. }
                | TxTooFarAhead { .. }
                | Replay(_)
                | DuplicateInBlock(_)
                | Malformed(_)
        )
    }
}
