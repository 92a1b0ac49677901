//! The storage crate's one error type.

use couponchain_chain::{ChainError, Hash};
use couponchain_runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("the database belongs to chain {found:?}, not {expected:?}")]
    WrongChain { expected: String, found: String },
    #[error(
        "the database was initialised with another genesis ({found}); this genesis is {expected}"
    )]
    GenesisMismatch { expected: Hash, found: Hash },
    #[error("the database has no genesis yet")]
    NotInitialised,
    #[error("block {got} does not follow the head at height {head}")]
    NotNext { head: u64, got: u64 },
    #[error("block's parent {got} is not the head {expected}")]
    WrongParent { expected: Hash, got: Hash },
    #[error("block time {got} ms is before the parent's {parent} ms")]
    TimeWentBack { parent: u64, got: u64 },
    #[error("header field {field} is {header}, execution gives {computed}")]
    HeaderMismatch {
        field: &'static str,
        header: String,
        computed: String,
    },
    #[error(
        "the head moved while the block was prepared (prepared on {prepared_on}, head is {head})"
    )]
    StalePrepared { prepared_on: Hash, head: Hash },
    #[error("ledger file {0}")]
    File(String),
    #[error("could not start the state tree checkpoint thread: {0}")]
    Thread(std::io::Error),
    #[error("block {height} is still being written; write it before staging another")]
    PipelineBusy { height: u64 },
}

impl From<couponchain_runtime::StoreError> for StorageError {
    fn from(e: couponchain_runtime::StoreError) -> Self {
        StorageError::Corrupt(e.0)
    }
}
