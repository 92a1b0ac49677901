//! State proofs and their verification, which needs nothing but the state root.

use super::{leaf_hash, node_hash, value_hash};
use crate::hash::Hash;
use crate::ChainError;
use serde::{Deserialize, Serialize};

/// Where a key's path ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminal {
    /// Nothing is stored on the path: the key is absent.
    Empty,
    /// A leaf: the key itself (presence), or another key sharing the path (absence).
    Leaf { key: Hash, value_hash: Hash },
}

/// A proof that a key has a given value, or no value, under a state root.
///
/// `siblings` lists the non-zero sibling hashes from the root downwards; bit `i` of
/// `zero_mask` (LSB first within each byte) is set when the sibling at binary level `i` is
/// zero and therefore omitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    pub depth_bits: u16,
    #[serde(with = "crate::bytes::vec_hex")]
    pub zero_mask: Vec<u8>,
    pub siblings: Vec<Hash>,
    pub terminal: Terminal,
}

impl StateProof {
    pub(crate) fn new(
        depth_bits: u16,
        zero_mask: Vec<u8>,
        siblings: Vec<Hash>,
        terminal: Terminal,
    ) -> StateProof {
        StateProof {
            depth_bits,
            zero_mask,
            siblings,
            terminal,
        }
    }

    /// Verifies that under `root`, `key` maps to `value` (`Some`) or to nothing (`None`).
    pub fn verify(&self, root: &Hash, key: &Hash, value: Option<&[u8]>) -> Result<(), ChainError> {
        let fail = |reason| ChainError::ProofMismatch {
            root: *root,
            reason,
        };
        let depth = self.depth_bits as usize;
        if depth > 256 || !depth.is_multiple_of(4) {
            return Err(fail(
                "depth is not a whole number of nibbles within the key",
            ));
        }
        if self.zero_mask.len() != depth.div_ceil(8) {
            return Err(fail("zero mask length does not match the depth"));
        }
        let zeros = (0..depth)
            .filter(|i| self.zero_mask[i / 8] & (1 << (i % 8)) != 0)
            .count();
        if zeros + self.siblings.len() != depth {
            return Err(fail("sibling count does not match the depth"));
        }
        let mut h = match (&self.terminal, value) {
            (
                Terminal::Leaf {
                    key: k,
                    value_hash: vh,
                },
                Some(v),
            ) => {
                if k != key {
                    return Err(fail("proof is for another key"));
                }
                if *vh != value_hash(v) {
                    return Err(fail("value does not match"));
                }
                leaf_hash(k, vh)
            }
            (
                Terminal::Leaf {
                    key: k,
                    value_hash: vh,
                },
                None,
            ) => {
                if k == key {
                    return Err(fail("key is present"));
                }
                if (0..depth).any(|i| k.bit(i) != key.bit(i)) {
                    return Err(fail("leaf is not on the key's path"));
                }
                leaf_hash(k, vh)
            }
            (Terminal::Empty, None) => Hash::ZERO,
            (Terminal::Empty, Some(_)) => return Err(fail("key is absent")),
        };
        let mut sib = self.siblings.iter().rev();
        for level in (0..depth).rev() {
            let s = if self.zero_mask[level / 8] & (1 << (level % 8)) != 0 {
                Hash::ZERO
            } else {
                *sib.next().ok_or_else(|| fail("too few siblings"))?
            };
            h = if key.bit(level) {
                node_hash(&s, &h)
            } else {
                node_hash(&h, &s)
            };
        }
        if h != *root {
            return Err(fail("computed root differs"));
        }
        Ok(())
    }

    /// Size of the canonical encoding, in bytes.
    pub fn encoded_len(&self) -> usize {
        crate::encoding::encode(self).len()
    }
}
