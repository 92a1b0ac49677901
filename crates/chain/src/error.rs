//! The one error type of the `chain` crate.

use crate::hash::Hash;

/// Everything that can go wrong while decoding, verifying or proving chain data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    #[error("malformed encoding: {0}")]
    Decode(String),
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("{len} trailing bytes after the encoded value")]
    TrailingBytes { len: usize },
    #[error("invalid public key {0}")]
    InvalidPublicKey(String),
    #[error("invalid signature by {signer}")]
    BadSignature { signer: String },
    #[error("{0}")]
    Hex(String),
    #[error("expected {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
    #[error("proof does not match root {root}: {reason}")]
    ProofMismatch { root: Hash, reason: &'static str },
    #[error("state tree node {0} is missing from storage")]
    MissingNode(String),
    #[error("state tree storage failed: {0}")]
    Store(String),
    #[error("invalid bearer code: {0}")]
    BearerCode(&'static str),
}
