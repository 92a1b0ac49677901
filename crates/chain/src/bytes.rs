//! Serde helpers for fixed-size byte arrays: lowercase hex strings in human-readable formats
//! (JSON), the raw bytes with no length prefix in the canonical binary encoding.

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

/// Serializes `bytes` as hex (JSON) or as the N raw bytes (bincode).
///
/// The raw bytes go through serde as N/8 little-endian `u64` words: the canonical
/// configuration writes integers fixed-width and little-endian, so the bytes are the same
/// and the encoder is called 8 times less (encoding was ~6 % of a node at full load). The
/// test vectors in `docs/test-vectors.json` pin the bytes. Every array the chain encodes
/// this way (keys, hashes, signatures) is a multiple of 8 bytes long; another length does
/// not compile.
pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeTuple;
    let words = const { words::<N>() };
    if s.is_human_readable() {
        return s.serialize_str(&hex::encode(bytes));
    }
    let mut t = s.serialize_tuple(words)?;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        t.serialize_element(&u64::from_le_bytes(word))?;
    }
    t.end()
}

/// How many `u64` words carry N bytes; evaluated at compile time, so a length that is not a
/// multiple of 8 fails to compile.
const fn words<const N: usize>() -> usize {
    assert!(
        N.is_multiple_of(8),
        "fixed byte arrays must be a multiple of 8 long"
    );
    N / 8
}

/// The inverse of [`serialize`].
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    if d.is_human_readable() {
        let s: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        parse_hex::<N>(&s).map_err(D::Error::custom)
    } else {
        d.deserialize_tuple(const { words::<N>() }, WordsVisitor::<N>)
    }
}

/// Parses exactly `N` bytes of hex (an optional `0x` prefix is accepted).
pub fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() != 2 * N {
        // Say what was wrong with the digits before what was wrong with their number.
        hex::decode(s).map_err(|e| format!("invalid hex: {e}"))?;
        return Err(format!(
            "expected {N} bytes ({} hex digits), got {} hex digits",
            N * 2,
            s.len()
        ));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|e| format!("invalid hex: {e}"))?;
    Ok(out)
}

/// Reads N bytes written as N/8 little-endian `u64` words (see [`serialize`]).
struct WordsVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for WordsVisitor<N> {
    type Value = [u8; N];
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{N} bytes")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
        let mut out = [0u8; N];
        for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
            let word: u64 = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(i * 8, &self))?;
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Ok(out)
    }
}

/// Serde helper for `Vec<u8>`: hex in JSON, length-prefixed bytes in bincode.
pub mod vec_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let s: std::borrow::Cow<'de, str> = Deserialize::deserialize(d)?;
            hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom)
        } else {
            Vec::<u8>::deserialize(d)
        }
    }
}
