//! Integration tests of the chain crate, one binary (see STYLE: one `tests/it` per crate).

mod crypto;
mod encoding;
mod smt;
mod vectors;
