//! Keys and signatures (ed25519-dalek), batch verification, and bearer codes.
//!
//! Public keys and signatures travel as plain bytes; they are decoded only when a signature
//! is checked, under one rule for single and batch checks ([`verify`],
//! docs/adr/004-signatures.md).

use crate::hash::tag;
use crate::ChainError;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

pub mod verify;

pub use verify::verify_batch;

/// An ed25519 public key, 32 bytes. JSON: hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// An ed25519 signature, 64 bytes. JSON: hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Decodes the key under the signature rule (canonical encoding, a curve point, not of
    /// small order), as ed25519-dalek's key type.
    pub fn to_verifying_key(&self) -> Result<VerifyingKey, ChainError> {
        verify::key_point(self).ok_or_else(|| ChainError::InvalidPublicKey(self.to_hex()))?;
        VerifyingKey::from_bytes(&self.0).map_err(|_| ChainError::InvalidPublicKey(self.to_hex()))
    }

    /// Checks `sig` over `msg` with the chain's signature rule ([`verify`]).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), ChainError> {
        if verify::key_point(self).is_none() {
            return Err(ChainError::InvalidPublicKey(self.to_hex()));
        }
        if verify::verify_one(self, msg, sig) {
            Ok(())
        } else {
            Err(ChainError::BadSignature {
                signer: self.to_hex(),
            })
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pk:{}", &self.to_hex()[..12])
    }
}
impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl FromStr for PublicKey {
    type Err = ChainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::bytes::parse_hex::<32>(s)
            .map(PublicKey)
            .map_err(ChainError::Hex)
    }
}
impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize(&self.0, s)
    }
}
impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::bytes::deserialize(d).map(PublicKey)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{}", &hex::encode(&self.0[..8]))
    }
}
impl FromStr for Signature {
    type Err = ChainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::bytes::parse_hex::<64>(s)
            .map(Signature)
            .map_err(ChainError::Hex)
    }
}
impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize(&self.0, s)
    }
}
impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::bytes::deserialize(d).map(Signature)
    }
}

/// A signing key with its public key. The secret never leaves this type except through
/// [`Keypair::secret_bytes`], which key files use.
pub struct Keypair {
    signing: SigningKey,
    public: PublicKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.public)
    }
}

impl Clone for Keypair {
    fn clone(&self) -> Self {
        Keypair::from_secret(&self.signing.to_bytes())
    }
}

impl Keypair {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Keypair, ChainError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| ChainError::Encode(format!("no randomness: {e}")))?;
        Ok(Keypair::from_secret(&seed))
    }

    /// The key whose 32-byte secret is `secret`.
    pub fn from_secret(secret: &[u8; 32]) -> Keypair {
        let signing = SigningKey::from_bytes(secret);
        let public = PublicKey(signing.verifying_key().to_bytes());
        Keypair { signing, public }
    }

    /// A deterministic key for test networks and demos: `blake3::derive_key(context, seed)`.
    /// Never use it for a key that guards anything of value.
    pub fn from_seed(seed: &str) -> Keypair {
        Keypair::from_secret(&blake3::derive_key(
            "couponchain 2026 deterministic test key v1",
            seed.as_bytes(),
        ))
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.signing.sign(msg).to_bytes())
    }
}

/// A bearer code: 128 random bits, shown as 26 Crockford base-32 characters in groups
/// (`CPN-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-X`). Whoever holds the code can derive its signing
/// key; only the derived public key ever appears on chain, and a redemption in flight
/// carries a signature, never the code.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerCode([u8; 16]);

impl fmt::Debug for BearerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerCode(<secret>)")
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl BearerCode {
    pub fn generate() -> Result<BearerCode, ChainError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|e| ChainError::Encode(format!("no randomness: {e}")))?;
        Ok(BearerCode(b))
    }

    pub fn from_bytes(b: [u8; 16]) -> BearerCode {
        BearerCode(b)
    }

    /// The signing key the code stands for.
    pub fn keypair(&self) -> Keypair {
        Keypair::from_secret(&blake3::derive_key(tag::BEARER_KEY, &self.0))
    }

    /// The text form handed to a customer.
    pub fn to_text(&self) -> String {
        let v = u128::from_be_bytes(self.0);
        // 26 base-32 digits carry 130 bits; the first digit carries only 3 of them (0-7).
        let digits: Vec<u8> = (0..26)
            .rev()
            .map(|i| CROCKFORD[((v >> (i * 5)) & 31) as usize])
            .collect();
        let mut out = String::from("CPN");
        for (i, d) in digits.iter().enumerate() {
            if i % 5 == 0 {
                out.push('-');
            }
            out.push(*d as char);
        }
        out
    }

    /// Parses the text form, ignoring case, dashes and spaces, and reading the commonly
    /// confused letters O, I and L as 0, 1 and 1.
    pub fn parse(text: &str) -> Result<BearerCode, ChainError> {
        let t = text.trim();
        let t = match t.get(..3) {
            Some(p) if p.eq_ignore_ascii_case("cpn") => &t[3..],
            _ => t,
        };
        let mut v: u128 = 0;
        let mut n = 0;
        for c in t.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            let d = CROCKFORD
                .iter()
                .position(|x| *x as char == c)
                .ok_or(ChainError::BearerCode("unexpected character"))?;
            if n == 0 && d > 7 {
                return Err(ChainError::BearerCode("first digit out of range"));
            }
            v = (v << 5) | d as u128;
            n += 1;
            if n > 26 {
                return Err(ChainError::BearerCode("too long"));
            }
        }
        if n != 26 {
            return Err(ChainError::BearerCode("expected 26 digits"));
        }
        Ok(BearerCode(v.to_be_bytes()))
    }
}
