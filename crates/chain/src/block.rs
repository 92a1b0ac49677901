//! Blocks, headers, validator sets and commit certificates.
//!
//! A header commits to everything a light verifier needs: the transactions (a binary
//! Merkle root over their ids), the state root *after* this block's transactions, and the
//! hashes of the validator set that certifies this block and the one that certifies the
//! next. A commit certificate is the set of precommit signatures (more than 2/3 of the
//! validators) over the header hash.

use crate::crypto::{PublicKey, Signature};
use crate::encoding;
use crate::hash::{hash_parts, tag, Hash};
use crate::tx::{SignedTransaction, TxId};
use crate::ChainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What the runtime may know about the block it executes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub height: u64,
    /// Consensus time in ms since the Unix epoch; monotonic across blocks.
    pub time_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub chain_id: String,
    pub height: u64,
    pub parent: Hash,
    pub time_ms: u64,
    pub proposer: PublicKey,
    pub tx_root: Hash,
    pub tx_count: u32,
    /// The state root after this block's transactions.
    pub state_root: Hash,
    /// The validator set that certifies this block.
    pub validators_hash: Hash,
    /// The validator set that certifies the next block.
    pub next_validators_hash: Hash,
}

impl Header {
    pub fn hash(&self) -> Hash {
        hash_parts(tag::HEADER, &[&encoding::encode(self)])
    }

    pub fn context(&self) -> BlockContext {
        BlockContext {
            height: self.height,
            time_ms: self.time_ms,
        }
    }
}

/// A block with its transactions. The certificate that made it final is stored beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub header: Header,
    pub txs: Vec<SignedTransaction>,
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Checks that the header's transaction root and count match the body.
    pub fn check_tx_root(&self) -> Result<(), ChainError> {
        let ids: Vec<TxId> = self.txs.iter().map(|t| t.id()).collect();
        if self.header.tx_count as usize != ids.len() || tx_root(&ids) != self.header.tx_root {
            return Err(ChainError::ProofMismatch {
                root: self.header.tx_root,
                reason: "transactions do not match the header's tx_root",
            });
        }
        Ok(())
    }
}

/// A binary Merkle root over transaction ids (an odd node is carried up unchanged).
/// The empty list has the zero root.
pub fn tx_root(ids: &[TxId]) -> Hash {
    if ids.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = ids
        .iter()
        .map(|id| hash_parts(tag::TX_ROOT_LEAF, &[id.as_bytes()]))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => hash_parts(tag::TX_ROOT_NODE, &[l.as_bytes(), r.as_bytes()]),
                [one] => *one,
                _ => Hash::ZERO,
            })
            .collect();
    }
    level[0]
}

/// The validators that certify blocks; every validator has one vote.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValidatorSet {
    /// Sorted and without duplicates.
    pub validators: Vec<PublicKey>,
}

impl ValidatorSet {
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> ValidatorSet {
        let set: BTreeSet<PublicKey> = keys.into_iter().collect();
        ValidatorSet {
            validators: set.into_iter().collect(),
        }
    }

    pub fn hash(&self) -> Hash {
        hash_parts(tag::VALIDATOR_SET, &[&encoding::encode(self)])
    }

    pub fn contains(&self, key: &PublicKey) -> bool {
        self.validators.binary_search(key).is_ok()
    }

    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The smallest number of distinct validators that is more than 2/3 of the set.
    pub fn quorum(&self) -> usize {
        self.validators.len() * 2 / 3 + 1
    }
}

/// Which step of a consensus round a vote belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    Prevote,
    Precommit,
}

/// The bytes a validator signs for a vote. `block` is `None` for a vote for nothing (nil).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteData {
    pub chain_id: String,
    pub height: u64,
    pub round: u32,
    pub kind: VoteKind,
    pub block: Option<Hash>,
}

impl VoteData {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = tag::VOTE.to_vec();
        out.extend_from_slice(&encoding::encode(self));
        out
    }
}

/// Precommit signatures from more than 2/3 of a validator set for one block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCertificate {
    pub height: u64,
    pub round: u32,
    pub block: Hash,
    /// Sorted by key, no duplicates.
    pub signatures: Vec<(PublicKey, Signature)>,
}

impl CommitCertificate {
    /// Checks that more than 2/3 of `validators` precommitted `header` in this certificate.
    pub fn verify(
        &self,
        chain_id: &str,
        header: &Header,
        validators: &ValidatorSet,
    ) -> Result<(), ChainError> {
        let mismatch = |reason| ChainError::ProofMismatch {
            root: header.hash(),
            reason,
        };
        if self.block != header.hash() || self.height != header.height {
            return Err(mismatch("certificate is for another block"));
        }
        if validators.hash() != header.validators_hash {
            return Err(mismatch("validator set does not match the header"));
        }
        let msg = VoteData {
            chain_id: chain_id.to_string(),
            height: self.height,
            round: self.round,
            kind: VoteKind::Precommit,
            block: Some(self.block),
        }
        .signing_bytes();
        let mut seen = BTreeSet::new();
        let mut items = Vec::with_capacity(self.signatures.len());
        for (pk, sig) in &self.signatures {
            if !validators.contains(pk) {
                return Err(mismatch("signature by a key outside the validator set"));
            }
            if !seen.insert(*pk) {
                return Err(mismatch("duplicate signer"));
            }
            items.push((*pk, msg.as_slice(), *sig));
        }
        if seen.len() < validators.quorum() {
            return Err(mismatch("fewer than 2/3+1 signatures"));
        }
        crate::crypto::verify_batch(&items).map_err(|_| mismatch("invalid signature"))
    }
}
