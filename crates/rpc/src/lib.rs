//! The HTTP RPC served to shop backends, verification sites and light verifiers. It talks
//! to the node only through a small handle and never touches storage or the mempool.
//!
//! This crate is still the seam only: the routes arrive with the node issue.

/// The RPC crate's one error type; every variant maps to a stable machine-readable code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RpcError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
}

impl RpcError {
    pub fn code(&self) -> &'static str {
        match self {
            RpcError::BadRequest { code, .. } => code,
        }
    }
}
