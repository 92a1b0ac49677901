//! 32-byte blake3 hashes and the domain-separated hashing every other module uses.
//!
//! Every hash the chain commits to is `blake3(tag || data)` with a distinct tag per purpose,
//! so a value of one kind can never be passed off as a value of another.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A 32-byte blake3 digest. JSON: 64 lowercase hex digits. Binary: the 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash: the root of an empty tree, the parent of the genesis block.
    pub const ZERO: Hash = Hash([0u8; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0u8; 32]
    }

    /// Bit `i` (0 = most significant bit of the first byte).
    pub fn bit(&self, i: usize) -> bool {
        (self.0[i / 8] >> (7 - (i % 8))) & 1 == 1
    }

    /// Nibble `i` (0 = high nibble of the first byte).
    pub fn nibble(&self, i: usize) -> u8 {
        let b = self.0[i / 2];
        if i.is_multiple_of(2) {
            b >> 4
        } else {
            b & 0x0f
        }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = crate::ChainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::bytes::parse_hex::<32>(s)
            .map(Hash)
            .map_err(crate::ChainError::Hex)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::bytes::deserialize(d).map(Hash)
    }
}

/// Domain tags. Each is hashed before the data it separates; never reuse one for two purposes.
pub mod tag {
    pub const TX: &[u8] = b"couponchain/tx/v1";
    pub const HEADER: &[u8] = b"couponchain/header/v1";
    pub const TX_ROOT_LEAF: &[u8] = b"couponchain/txroot-leaf/v1";
    pub const TX_ROOT_NODE: &[u8] = b"couponchain/txroot-node/v1";
    pub const STATE_KEY: &[u8] = b"couponchain/state-key/v1";
    pub const STATE_VALUE: &[u8] = b"couponchain/state-value/v1";
    pub const COUPON_ID: &[u8] = b"couponchain/coupon-id/v1";
    pub const CAMPAIGN_ID: &[u8] = b"couponchain/campaign-id/v1";
    pub const REDEEM_AUTH: &[u8] = b"couponchain/redeem-auth/v1";
    pub const VALIDATOR_SET: &[u8] = b"couponchain/validator-set/v1";
    pub const VOTE: &[u8] = b"couponchain/vote/v1";
    pub const BEARER_KEY: &str = "couponchain 2026 bearer code signing key v1";
}

/// `blake3(tag || parts[0] || parts[1] || ...)`.
pub fn hash_parts(tag: &[u8], parts: &[&[u8]]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(tag);
    for p in parts {
        h.update(p);
    }
    Hash(*h.finalize().as_bytes())
}
