//! The authenticated state: a sparse Merkle tree over 256-bit keys (docs/adr/002-state-commitment.md).
//!
//! *Hashing is binary*: a leaf hashes as `blake3(0x00 || key || value_hash)`, an inner node as
//! `blake3(0x01 || left || right)`, except that two empty children make an empty (zero) node.
//! A key's leaf sits at the shallowest nibble-aligned depth at which its subtree holds no
//! other key, so proofs carry one sibling per binary level on the way down (about 24 for a
//! million keys, most non-zero) and a non-inclusion proof ends at an empty slot or at the one
//! other leaf that occupies the key's path.
//!
//! *Storage is by chunks*: four binary levels (one nibble of the key) are stored together as
//! a [`Chunk`] of 16 slots, so a block that changes k keys of n rewrites about
//! k × (log16 n − log16 k) + (the shared top) chunks, each once per block, not once per key.

mod chunk;
mod proof;
mod update;

pub use chunk::{Chunk, ChunkPos, Slot};
pub use proof::{StateProof, Terminal};
pub use update::{apply_updates, prove, TreeUpdate};

use crate::hash::Hash;
use crate::ChainError;

/// Read access to stored chunks. The storage crate implements it over RocksDB with a cache;
/// tests implement it over a map.
pub trait ChunkStore {
    fn get_chunk(&self, pos: &ChunkPos) -> Result<Option<Chunk>, ChainError>;
}

impl ChunkStore for std::collections::BTreeMap<ChunkPos, Chunk> {
    fn get_chunk(&self, pos: &ChunkPos) -> Result<Option<Chunk>, ChainError> {
        Ok(self.get(pos).cloned())
    }
}

/// The hash of a leaf.
pub fn leaf_hash(key: &Hash, value_hash: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0x00]);
    h.update(key.as_bytes());
    h.update(value_hash.as_bytes());
    Hash(*h.finalize().as_bytes())
}

/// The hash of an inner node; empty if both children are.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    if left.is_zero() && right.is_zero() {
        return Hash::ZERO;
    }
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(left.as_bytes());
    h.update(right.as_bytes());
    Hash(*h.finalize().as_bytes())
}

/// The hash a value contributes to its leaf.
pub fn value_hash(value: &[u8]) -> Hash {
    crate::hash::hash_parts(crate::hash::tag::STATE_VALUE, &[value])
}
