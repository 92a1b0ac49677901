//! Integration tests of the ledger over real RocksDB directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger;
