//! Integration tests of the consensus core, one binary (see STYLE: one `tests/it` per crate):
//! table-driven step tests of Algorithm 1, the signing guard (with crash-restart), and a
//! deterministic in-process simulation of four validators under a faulty network.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod guard;
mod rules;
mod sim;
mod steps;
