//! The native coupon runtime: a deterministic state machine. [`execute_block`] takes the
//! state before a block, the block's context (height, consensus time) and its ordered
//! transactions, and gives a receipt and events per transaction plus the state changes —
//! or a typed error that says which transaction made the block invalid. It never panics
//! on any input and never reads a clock, a random source or a hash map's iteration order.
//!
//! Architecture invariant: the runtime knows nothing of storage engines, networking or
//! consensus. It reads state through [`StateReader`] and returns changes as data.

mod apply;
mod error;
mod events;
mod exec;
mod genesis;
mod governance;
pub mod state;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use error::{RuntimeError, StoreError};
pub use events::{Event, Outcome, Receipt};
pub use exec::{
    check_envelope, coupon_named, execute_block, verify_signatures, Executed, SignatureCheck,
};
pub use genesis::{Genesis, GenesisIssuer, GenesisSite};
pub use state::{
    Account, CampaignRecord, CampaignStats, CampaignStatus, CouponRecord, CouponStatus, Params,
    ProposalRecord, ProposalStatus, Record, StateKey, StateReader, ValidatorsRecord,
};

/// Bounds on what one transaction may carry; each keeps a transaction's cost and size
/// predictable (a 10,000-coupon batch is about 330 KiB).
pub mod limits {
    pub const MAX_ISSUE_BATCH: usize = 10_000;
    pub const MAX_NAME_BYTES: usize = 128;
    pub const MAX_METADATA_BYTES: usize = 4096;
    pub const MAX_SITES_PER_CAMPAIGN: usize = 256;
    pub const MAX_REGION_BYTES: usize = 12;
    pub const MAX_CURRENCY_BYTES: usize = 8;
    pub const MAX_CHAIN_ID_BYTES: usize = 64;
}
