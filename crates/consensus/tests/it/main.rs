//! Integration tests of the consensus core, one binary (see STYLE: one `tests/it` per crate):
//! table-driven step tests of Algorithm 1, the signing guard (with crash-restart), and a
//! deterministic in-process simulation of 4–7 validators executing coupon transactions
//! under network faults, partitions, crashes, clock skew and an equivocator (`sim/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod evidence;
mod guard;
mod rules;
mod sim;
mod steps;
