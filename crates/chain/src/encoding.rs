//! The one canonical binary encoding (bincode 2 with a fixed configuration), specified byte
//! for byte in `docs/encoding.md`: little-endian fixed-width integers, `u64` length prefixes,
//! `u32` enum variant indexes, a `u8` tag for `Option` and `bool`, structs as their fields in
//! order. Decoding is bounded and refuses trailing bytes, so every value has exactly one
//! encoding that decodes.

use crate::ChainError;
use bincode::config::{Configuration, Fixint, Limit, LittleEndian};
use serde::{de::DeserializeOwned, Serialize};

/// The largest value (a block) that decoding will accept, in bytes. Bounds the memory an
/// untrusted input can make us allocate.
pub const MAX_DECODE_BYTES: usize = 64 * 1024 * 1024;

type Config = Configuration<LittleEndian, Fixint, Limit<MAX_DECODE_BYTES>>;

const CONFIG: Config = bincode::config::standard()
    .with_little_endian()
    .with_fixed_int_encoding()
    .with_limit::<MAX_DECODE_BYTES>();

/// Encodes `value` canonically.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Encoding into a Vec only fails for types serde cannot express in bincode (maps with
    // non-string keys are fine; `deserialize_any`-style types are not). All chain types are
    // plain structs and enums, which the round-trip tests cover.
    match bincode::serde::encode_to_vec(value, CONFIG) {
        Ok(v) => v,
        Err(e) => unreachable_encode(e),
    }
}

#[cold]
fn unreachable_encode(e: bincode::error::EncodeError) -> Vec<u8> {
    // Reached only by a programming error in a type definition; make it loud in debug builds
    // and produce an undecodable empty encoding otherwise.
    debug_assert!(false, "canonical encoding failed: {e}");
    Vec::new()
}

/// Decodes a value, refusing malformed input and trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ChainError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, CONFIG)
        .map_err(|e| ChainError::Decode(e.to_string()))?;
    if read != bytes.len() {
        return Err(ChainError::TrailingBytes {
            len: bytes.len() - read,
        });
    }
    Ok(value)
}
