//! Integration tests of the chain crate, one binary (see STYLE: one `tests/it` per crate).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod crypto;
mod encoding;
mod smt;
mod vectors;
