//! BFT Proof-of-Authority consensus as a deterministic, sans-IO state machine: the
//! Tendermint algorithm (Algorithm 1 of "The latest gossip on BFT consensus", Buchman,
//! Kwon, Milosevic, 2018) for one height at a time, driven from height to height.
//!
//! Inputs (a new height, proposals, votes, fired timeouts, the node's verdict on a block)
//! go into [`Consensus::handle`]; outputs (persist, broadcast, schedule a timeout, check or
//! build a block, commit with a certificate, evidence of equivocation) come out in the
//! order the node must carry them out. No clock, sockets, tokio, storage or randomness
//! inside; iteration is over `BTreeMap`s only, so the same inputs always give the same
//! outputs. See docs/adr/006-consensus.md for the safety argument and the node's duties.

pub mod driver;
pub mod guard;
pub mod io;
pub mod machine;
pub mod messages;
mod votes;

pub use driver::Consensus;
pub use guard::{GuardedSignature, SignedRecord, SigningGuard, SigningState};
pub use io::{ConsensusConfig, Input, Output, Stats, Step, TimeoutConfig};
pub use machine::proposer;
pub use messages::{
    Equivocation, Message, Proposal, Rejection, SignedProposal, SignedVote, PROPOSAL_TAG,
};

use couponchain_chain::block::ValidatorSet;

/// The consensus crate's error type: configuration errors, the signing guard's refusals and
/// evidence that proves nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsensusError {
    #[error("empty validator set")]
    EmptyValidatorSet,
    /// Signing would go back from the last signed (height, round, step).
    #[error("refusing to sign {requested:?}: last signed (height, round, step) is {last:?}")]
    SignBehind {
        requested: (u64, u32, Step),
        last: (u64, u32, Option<Step>),
    },
    /// A different message of the same step was already signed at this height and round.
    #[error("refusing to sign a second, different {step:?} at height {height} round {round}")]
    SignConflict { height: u64, round: u32, step: Step },
    /// The guard saw this validator's key sign something it did not, and signs no more.
    #[error("signing halted: {0}")]
    SigningHalted(String),
    /// Evidence of equivocation that proves nothing (see `Equivocation::verify`).
    #[error("not evidence of equivocation: {0}")]
    BadEvidence(String),
}

/// How many faulty validators a set of `n` tolerates: the largest f with n ≥ 3f + 1.
pub fn max_faulty(set: &ValidatorSet) -> Result<usize, ConsensusError> {
    if set.is_empty() {
        return Err(ConsensusError::EmptyValidatorSet);
    }
    Ok((set.len() - 1) / 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponchain_chain::PublicKey;

    #[test]
    fn quorum_and_faults_match_bft_bounds() {
        for n in 1..=10u8 {
            let set = ValidatorSet::new((0..n).map(|i| PublicKey([i; 32])));
            let f = max_faulty(&set).unwrap_or(usize::MAX);
            assert!(set.len() > 3 * f, "n={n} f={f}"); // n >= 3f + 1
                                                       // Two quorums always share an honest validator: 2q - n > f.
            assert!(2 * set.quorum() > set.len() + f, "n={n}");
        }
        assert_eq!(
            max_faulty(&ValidatorSet::default()),
            Err(ConsensusError::EmptyValidatorSet)
        );
    }
}
