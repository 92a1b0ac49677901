//! Chain types shared by every other crate: keys and signatures (ed25519), hashes (blake3),
//! the one canonical binary encoding, transactions, blocks and headers, and the sparse Merkle
//! state commitment with its inclusion and non-inclusion proofs.
//!
//! Architecture invariant: this crate performs no I/O. It knows nothing of RocksDB, tokio,
//! sockets or the clock, so a light verifier can depend on it alone.

pub mod block;
pub mod bytes;
pub mod crypto;
pub mod encoding;
pub mod error;
pub mod hash;
pub mod smt;
pub mod tx;

pub use block::{Block, BlockContext, CommitCertificate, Header};
pub use crypto::{BearerCode, Keypair, PublicKey, Signature};
pub use error::ChainError;
pub use hash::Hash;
pub use tx::{SignedTransaction, Transaction, TxBody, TxId};
