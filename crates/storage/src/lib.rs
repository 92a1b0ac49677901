//! The ledger on RocksDB. A block, its transactions, receipts, state changes, the keys it
//! changed (the tree journal), query indexes and the new head are written in one atomic
//! `WriteBatch`, so a crash at any instant leaves exactly the last committed block; the
//! state-tree chunks follow by background checkpoints and are recomputed from the journal
//! at startup if one had not landed (ADR 008). Column families are declared in one place
//! ([`tables`]).
//!
//! Architecture invariant: storage knows the runtime's records (to index them) but not
//! consensus or networking; blocks reach [`Ledger::commit`] only as [`PreparedBlock`]s,
//! which exist only after execution has checked them against the current head.

mod error;
mod evidence;
mod ledger;
mod queries;
mod stats;
pub mod tables;
mod tip;
mod tree;

pub use error::StorageError;
pub use evidence::EvidenceRecord;
pub use ledger::{Head, Ledger, LedgerOptions, PreparedBlock, StagedBlock};
pub use queries::{CouponView, HistoryEntry, ProvenRecord, TxView};
pub use stats::StorageStats;
pub use tables::{StoredBlock, StoredTx};
pub use tree::WarmStats;
