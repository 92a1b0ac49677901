//! The authenticated state: a sparse Merkle tree over 256-bit keys (docs/adr/002-state-commitment.md).
//!
//! *Hashing is binary*: a leaf hashes as `keyed_hash(LEAF_KEY, key || value_hash)`, an inner
//! node as `keyed_hash(NODE_KEY, left || right)` (blake3 in keyed mode: the domain is the key,
//! so each hash is a single 64-byte compression), except that two empty children make an
//! empty (zero) node.
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
pub use update::{apply_updates, apply_updates_parallel, prove, TreeUpdate, PARALLEL_MIN_UPDATES};

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

/// blake3 key for leaf hashes: this ASCII text padded with zero bytes to 32 bytes.
pub const LEAF_KEY: [u8; 32] = pad32(b"couponchain/smt/leaf/v1");
/// blake3 key for inner-node hashes, padded likewise.
pub const NODE_KEY: [u8; 32] = pad32(b"couponchain/smt/node/v1");

const fn pad32(text: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < text.len() && i < 32 {
        out[i] = text[i];
        i += 1;
    }
    out
}

/// `blake3::keyed_hash(key, a || b)`: 64 bytes of input, one compression.
fn keyed64(key: &[u8; 32], a: &Hash, b: &Hash) -> Hash {
    let mut input = [0u8; 64];
    input[..32].copy_from_slice(a.as_bytes());
    input[32..].copy_from_slice(b.as_bytes());
    Hash(*blake3::keyed_hash(key, &input).as_bytes())
}

/// The hash of a leaf: `blake3::keyed_hash(LEAF_KEY, key || value_hash)`.
pub fn leaf_hash(key: &Hash, value_hash: &Hash) -> Hash {
    keyed64(&LEAF_KEY, key, value_hash)
}

/// The hash of an inner node, `blake3::keyed_hash(NODE_KEY, left || right)`; empty (zero)
/// if both children are.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    if left.is_zero() && right.is_zero() {
        return Hash::ZERO;
    }
    keyed64(&NODE_KEY, left, right)
}

/// The hash a value contributes to its leaf.
pub fn value_hash(value: &[u8]) -> Hash {
    crate::hash::hash_parts(crate::hash::tag::STATE_VALUE, &[value])
}
