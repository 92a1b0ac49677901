//! The signed messages validators exchange: proposals and votes (prevotes and precommits).
//!
//! A vote signs the chain's own `VoteData` bytes (`couponchain/vote/v1`, so a precommit is
//! exactly what a `CommitCertificate` carries); a proposal signs
//! [`PROPOSAL_TAG`] ‖ canonical encoding of [`Proposal`]. Messages name block *hashes*
//! only: block bodies travel beside them and are the node's business.

use crate::ConsensusError;
use couponchain_chain::block::{ValidatorSet, VoteData, VoteKind};
use couponchain_chain::{encoding, Hash, Keypair, PublicKey, Signature};
use serde::{Deserialize, Serialize};

/// Domain tag of a proposal's signing bytes; distinct from every tag in `chain::hash::tag`.
pub const PROPOSAL_TAG: &[u8] = b"couponchain/proposal/v1";

/// ⟨PROPOSAL, h, r, v, vr⟩ of Algorithm 1: `block` is id(v), `valid_round` is vr
/// (`None` stands for −1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub chain_id: String,
    pub height: u64,
    pub round: u32,
    pub block: Hash,
    pub valid_round: Option<u32>,
}

impl Proposal {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = PROPOSAL_TAG.to_vec();
        out.extend_from_slice(&encoding::encode(self));
        out
    }
}

/// A proposal with its proposer's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProposal {
    pub proposal: Proposal,
    pub signer: PublicKey,
    pub signature: Signature,
}

impl SignedProposal {
    /// Signs `proposal` with `key` (no guard: the core signs only through `SigningGuard`).
    pub fn sign(proposal: Proposal, key: &Keypair) -> SignedProposal {
        let signature = key.sign(&proposal.signing_bytes());
        SignedProposal {
            proposal,
            signer: key.public(),
            signature,
        }
    }

    /// Checks the signature (strict rule) and that the signer is one of `validators`.
    pub fn verify(&self, validators: &ValidatorSet) -> Result<(), Rejection> {
        if !validators.contains(&self.signer) {
            return Err(Rejection::UnknownSigner(self.signer));
        }
        self.signer
            .verify(&self.proposal.signing_bytes(), &self.signature)
            .map_err(|_| Rejection::BadSignature(self.signer))
    }
}

/// ⟨PREVOTE|PRECOMMIT, h, r, id(v)|nil⟩ with its signer's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedVote {
    pub vote: VoteData,
    pub signer: PublicKey,
    pub signature: Signature,
}

impl SignedVote {
    /// Signs `vote` with `key` (no guard: the core signs only through `SigningGuard`).
    pub fn sign(vote: VoteData, key: &Keypair) -> SignedVote {
        let signature = key.sign(&vote.signing_bytes());
        SignedVote {
            vote,
            signer: key.public(),
            signature,
        }
    }

    pub fn kind(&self) -> VoteKind {
        self.vote.kind
    }

    /// Checks the signature (strict rule) and that the signer is one of `validators`.
    pub fn verify(&self, validators: &ValidatorSet) -> Result<(), Rejection> {
        if !validators.contains(&self.signer) {
            return Err(Rejection::UnknownSigner(self.signer));
        }
        self.signer
            .verify(&self.vote.signing_bytes(), &self.signature)
            .map_err(|_| Rejection::BadSignature(self.signer))
    }
}

/// Everything the core broadcasts and receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    Proposal(SignedProposal),
    Vote(SignedVote),
}

impl Message {
    pub fn height(&self) -> u64 {
        match self {
            Message::Proposal(p) => p.proposal.height,
            Message::Vote(v) => v.vote.height,
        }
    }

    pub fn round(&self) -> u32 {
        match self {
            Message::Proposal(p) => p.proposal.round,
            Message::Vote(v) => v.vote.round,
        }
    }

    pub fn signer(&self) -> PublicKey {
        match self {
            Message::Proposal(p) => p.signer,
            Message::Vote(v) => v.signer,
        }
    }
}

/// Proof that a validator signed two conflicting messages at one height and round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Equivocation {
    /// Two votes of one kind for different blocks (or a block and nil).
    Vote {
        first: SignedVote,
        second: SignedVote,
    },
    /// Two proposals for different blocks or valid rounds.
    Proposal {
        first: SignedProposal,
        second: SignedProposal,
    },
}

impl Equivocation {
    pub fn offender(&self) -> PublicKey {
        match self {
            Equivocation::Vote { first, .. } => first.signer,
            Equivocation::Proposal { first, .. } => first.signer,
        }
    }

    /// The chain the first message names (`verify` checks that both name it).
    pub fn chain_id(&self) -> &str {
        match self {
            Equivocation::Vote { first, .. } => &first.vote.chain_id,
            Equivocation::Proposal { first, .. } => &first.proposal.chain_id,
        }
    }

    /// The height both messages are for.
    pub fn height(&self) -> u64 {
        match self {
            Equivocation::Vote { first, .. } => first.vote.height,
            Equivocation::Proposal { first, .. } => first.proposal.height,
        }
    }

    /// The round both messages are for.
    pub fn round(&self) -> u32 {
        match self {
            Equivocation::Vote { first, .. } => first.vote.round,
            Equivocation::Proposal { first, .. } => first.proposal.round,
        }
    }

    /// `"vote"` or `"proposal"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Equivocation::Vote { .. } => "vote",
            Equivocation::Proposal { .. } => "proposal",
        }
    }

    /// The same evidence with its two messages in a fixed order (by signature), so that one
    /// equivocation has one encoding whichever message arrived first.
    pub fn canonical(self) -> Equivocation {
        match self {
            Equivocation::Vote { first, second } if second.signature.0 < first.signature.0 => {
                Equivocation::Vote {
                    first: second,
                    second: first,
                }
            }
            Equivocation::Proposal { first, second } if second.signature.0 < first.signature.0 => {
                Equivocation::Proposal {
                    first: second,
                    second: first,
                }
            }
            e => e,
        }
    }

    /// Checks that this is proof on its own, for anyone holding it (no validator set, no
    /// trust in whoever served it): one key signed both messages, both signatures hold, and
    /// the messages are of one chain, height, round (and vote kind) yet differ — which an
    /// honest validator's signing guard never allows. Whether the key is a validator's is
    /// for the holder to look up.
    pub fn verify(&self) -> Result<(), ConsensusError> {
        let bad = |why: &str| Err(ConsensusError::BadEvidence(why.to_string()));
        // (signer, signed bytes, signature) of each message.
        let (same_slot, differ, signed) = match self {
            Equivocation::Vote { first, second } => {
                let (a, b) = (&first.vote, &second.vote);
                (
                    a.chain_id == b.chain_id
                        && a.height == b.height
                        && a.round == b.round
                        && a.kind == b.kind,
                    a.block != b.block,
                    [
                        (first.signer, a.signing_bytes(), first.signature),
                        (second.signer, b.signing_bytes(), second.signature),
                    ],
                )
            }
            Equivocation::Proposal { first, second } => {
                let (a, b) = (&first.proposal, &second.proposal);
                (
                    a.chain_id == b.chain_id && a.height == b.height && a.round == b.round,
                    a != b,
                    [
                        (first.signer, a.signing_bytes(), first.signature),
                        (second.signer, b.signing_bytes(), second.signature),
                    ],
                )
            }
        };
        if signed[0].0 != signed[1].0 {
            return bad("the two messages have different signers");
        }
        if !same_slot {
            return bad("the two messages are not for one chain, height, round and kind");
        }
        if !differ {
            return bad("the two messages say the same thing");
        }
        // Checked last: the only costly part.
        if !signed
            .iter()
            .all(|(key, bytes, signature)| key.verify(bytes, signature).is_ok())
        {
            return bad("a signature does not hold");
        }
        Ok(())
    }
}

/// Why an incoming message was ignored. Reported as `Output::Rejected` so the node can
/// score the peer that relayed it; duplicates and late messages are normal under gossip
/// and are only counted (`Stats`), never reported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("signer {0} is not in the validator set")]
    UnknownSigner(PublicKey),
    #[error("invalid signature by {0}")]
    BadSignature(PublicKey),
    #[error("message for chain {0:?}")]
    WrongChain(String),
    #[error("proposal for round {round} by {signer}, who is not its proposer")]
    NotProposer { round: u32, signer: PublicKey },
    #[error("proposal for round {round} with valid round {valid_round}")]
    BadValidRound { round: u32, valid_round: u32 },
    #[error("round {round} is more than {lookahead} rounds ahead of round {current}")]
    RoundTooFarAhead {
        round: u32,
        current: u32,
        lookahead: u32,
    },
}
