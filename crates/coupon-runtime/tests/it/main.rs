//! Integration tests of the coupon runtime, driven only through its public API: blocks of
//! signed transactions go through `execute_block` with full signature checks, on a test
//! chain (`harness`) that commits each block's changes to a map and remembers every
//! included transaction. `rules` covers every coupon rule and refusal, `envelope` the
//! errors that make a block invalid, `governance` proposals, quorums and validator-set
//! changes, and `props` checks the product's invariants over random operation sequences.
// A failing unwrap or panic is a failing test (clippy.toml); the helpers outside `#[test]`
// functions need saying so here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod envelope;
mod governance;
mod harness;
mod props;
mod rules;
