//! A chunk: 16 slots covering one nibble of the key, with its compact storage encoding.

use super::{leaf_hash, node_hash};
use crate::hash::Hash;
use crate::ChainError;

/// Where a chunk sits: `depth` nibbles down, under the key prefix `prefix` (the first
/// `depth` nibbles; the rest are zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkPos {
    pub depth: u8,
    pub prefix: [u8; 32],
}

impl ChunkPos {
    pub const ROOT: ChunkPos = ChunkPos {
        depth: 0,
        prefix: [0u8; 32],
    };

    /// The chunk below slot `nibble` of this one.
    pub fn child(&self, nibble: u8) -> ChunkPos {
        let mut prefix = self.prefix;
        let d = self.depth as usize;
        if d.is_multiple_of(2) {
            prefix[d / 2] |= nibble << 4;
        } else {
            prefix[d / 2] |= nibble & 0x0f;
        }
        ChunkPos {
            depth: self.depth + 1,
            prefix,
        }
    }

    /// The storage key: the depth, then the prefix bytes the depth covers. Chunks of one
    /// depth sort by prefix, which keeps siblings together on disk.
    pub fn storage_key(&self) -> Vec<u8> {
        let n = (self.depth as usize).div_ceil(2);
        let mut k = Vec::with_capacity(1 + n);
        k.push(self.depth);
        k.extend_from_slice(&self.prefix[..n]);
        k
    }

    pub fn from_storage_key(k: &[u8]) -> Result<ChunkPos, ChainError> {
        let (&depth, rest) = k
            .split_first()
            .ok_or_else(|| ChainError::Decode("empty chunk key".into()))?;
        if depth > 64 || rest.len() != (depth as usize).div_ceil(2) {
            return Err(ChainError::Decode(format!(
                "bad chunk key {}",
                hex::encode(k)
            )));
        }
        let mut prefix = [0u8; 32];
        prefix[..rest.len()].copy_from_slice(rest);
        Ok(ChunkPos { depth, prefix })
    }
}

/// One of a chunk's 16 slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Slot {
    #[default]
    Empty,
    /// The only key in this slot's subtree.
    Leaf { key: Hash, value_hash: Hash },
    /// Two or more keys: a chunk one nibble deeper, with this hash.
    Child { hash: Hash },
}

impl Slot {
    pub fn hash(&self) -> Hash {
        match self {
            Slot::Empty => Hash::ZERO,
            Slot::Leaf { key, value_hash } => leaf_hash(key, value_hash),
            Slot::Child { hash } => *hash,
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Slot::Empty)
    }
}

/// Sixteen slots; hashed as a four-level binary tree.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Chunk {
    pub slots: [Slot; 16],
}

impl Chunk {
    /// The 31 hashes of the chunk's binary tree: `[0]` is the root, `[1..3]` the next level,
    /// ..., `[15..31]` the slots (heap order).
    pub fn tree(&self) -> [Hash; 31] {
        let mut t = [Hash::ZERO; 31];
        for (i, s) in self.slots.iter().enumerate() {
            t[15 + i] = s.hash();
        }
        for i in (0..15).rev() {
            t[i] = node_hash(&t[2 * i + 1], &t[2 * i + 2]);
        }
        t
    }

    pub fn hash(&self) -> Hash {
        self.tree()[0]
    }

    pub fn non_empty(&self) -> usize {
        self.slots.iter().filter(|s| !s.is_empty()).count()
    }

    /// Compact encoding: a u16 bitmap of occupied slots, a u16 bitmap of leaves (both
    /// little-endian), then per occupied slot in order: key and value hash (leaf) or hash
    /// (child).
    pub fn encode(&self) -> Vec<u8> {
        let (mut occupied, mut leaves) = (0u16, 0u16);
        let mut body = Vec::with_capacity(16 * 64);
        for (i, s) in self.slots.iter().enumerate() {
            match s {
                Slot::Empty => {}
                Slot::Leaf { key, value_hash } => {
                    occupied |= 1 << i;
                    leaves |= 1 << i;
                    body.extend_from_slice(key.as_bytes());
                    body.extend_from_slice(value_hash.as_bytes());
                }
                Slot::Child { hash } => {
                    occupied |= 1 << i;
                    body.extend_from_slice(hash.as_bytes());
                }
            }
        }
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&occupied.to_le_bytes());
        out.extend_from_slice(&leaves.to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Chunk, ChainError> {
        let bad = |why: &str| ChainError::Decode(format!("state tree chunk: {why}"));
        if bytes.len() < 4 {
            return Err(bad("shorter than its header"));
        }
        let occupied = u16::from_le_bytes([bytes[0], bytes[1]]);
        let leaves = u16::from_le_bytes([bytes[2], bytes[3]]);
        if leaves & !occupied != 0 {
            return Err(bad("leaf bit on an empty slot"));
        }
        let mut chunk = Chunk::default();
        let mut rest = &bytes[4..];
        let mut take = || -> Result<Hash, ChainError> {
            if rest.len() < 32 {
                return Err(bad("truncated"));
            }
            let mut h = [0u8; 32];
            h.copy_from_slice(&rest[..32]);
            rest = &rest[32..];
            Ok(Hash(h))
        };
        for i in 0..16 {
            if occupied & (1 << i) == 0 {
                continue;
            }
            chunk.slots[i] = if leaves & (1 << i) != 0 {
                let key = take()?;
                let value_hash = take()?;
                Slot::Leaf { key, value_hash }
            } else {
                Slot::Child { hash: take()? }
            };
        }
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(chunk)
    }
}
