//! The closed sets of inputs the core accepts and outputs it produces, and its config.
//!
//! Everything that happens to a validator — a message, a timeout firing, the verdict on a
//! block, a new height — arrives as an [`Input`]; everything it wants done — persist,
//! send, arm a timer, check or build a block, commit — leaves as an [`Output`], in the
//! order it must be done. The node's event loop only translates between these and I/O.

use crate::messages::{Equivocation, Message, Rejection, SignedProposal, SignedVote};
use crate::SigningState;
use couponchain_chain::block::{CommitCertificate, ValidatorSet};
use couponchain_chain::Hash;
use serde::{Deserialize, Serialize};

/// A step of a round (step_p in Algorithm 1), in the order a round goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Propose,
    Prevote,
    Precommit,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Start consensus on `height` with the set that certifies it. The node sends it once
    /// at start-up (after the last committed block) and after applying each `Commit`.
    /// If the guard's persisted state is at this height, its round, lock and valid value
    /// are restored.
    StartHeight {
        height: u64,
        validators: ValidatorSet,
    },
    Proposal(SignedProposal),
    Vote(SignedVote),
    /// A timer armed by `Output::ScheduleTimeout` expired.
    TimeoutFired {
        height: u64,
        round: u32,
        step: Step,
    },
    /// The node's verdict on a proposed block (valid(v) of Algorithm 1): it executed the
    /// block against its head and checked the header (and the block time bound).
    BlockChecked {
        height: u64,
        round: u32,
        block: Hash,
        valid: bool,
    },
    /// The block the node built after `Output::ProposeBlock`; the node considers it valid.
    BlockBuilt {
        height: u64,
        round: u32,
        block: Hash,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Persist (fsync) this signing state; it always comes before the `Broadcast` it
    /// guards, and the node must not send that message before the write is durable.
    Persist(SigningState),
    /// Send to every validator.
    Broadcast(Message),
    /// Arm a timer; when it expires, feed back `Input::TimeoutFired` with the same fields.
    ScheduleTimeout {
        height: u64,
        round: u32,
        step: Step,
        duration_ms: u64,
    },
    /// Execute the block with this hash (once its body is here) and answer with
    /// `Input::BlockChecked`. Asked once per block hash and height.
    CheckBlock {
        height: u64,
        round: u32,
        block: Hash,
    },
    /// We are the proposer and have no valid value: build a block and answer with
    /// `Input::BlockBuilt` (getValue() of Algorithm 1). A valid value is re-proposed by
    /// the core itself, as a `Broadcast` proposal naming the block the node already checked.
    ProposeBlock { height: u64, round: u32 },
    /// `block` is final at `height`: store it with `certificate`, apply it, then send
    /// `Input::StartHeight` for the next height.
    Commit {
        height: u64,
        round: u32,
        block: Hash,
        certificate: CommitCertificate,
    },
    /// A validator signed two conflicting messages; keep it (and serve it over the RPC).
    Evidence(Equivocation),
    /// A valid message signed with this validator's own key that its guard never signed:
    /// another process holds the key (a standby started beside the primary, a restored
    /// backup). The core has stopped signing, for good in this process; the node should
    /// alert its operator and keep the halt across restarts ([`Consensus::halt_signing`]).
    /// Emitted once.
    ///
    /// [`Consensus::halt_signing`]: crate::Consensus::halt_signing
    KeyUsedElsewhere { height: u64, round: u32, step: Step },
    /// An incoming message was ignored for this reason (for peer scoring and logs).
    Rejected(Rejection),
}

/// Round timeouts: `base_ms + round × delta_ms` for each step, so they grow until the
/// network's real delay fits in them (partial synchrony).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutConfig {
    pub propose_base_ms: u64,
    pub propose_delta_ms: u64,
    pub prevote_base_ms: u64,
    pub prevote_delta_ms: u64,
    pub precommit_base_ms: u64,
    pub precommit_delta_ms: u64,
}

impl Default for TimeoutConfig {
    /// Tendermint's classic defaults, scaled for a LAN-sized permissioned network.
    fn default() -> Self {
        TimeoutConfig {
            propose_base_ms: 1_000,
            propose_delta_ms: 500,
            prevote_base_ms: 500,
            prevote_delta_ms: 250,
            precommit_base_ms: 500,
            precommit_delta_ms: 250,
        }
    }
}

impl TimeoutConfig {
    /// timeoutPropose/Prevote/Precommit(round) of Algorithm 1.
    pub fn duration_ms(&self, step: Step, round: u32) -> u64 {
        let (base, delta) = match step {
            Step::Propose => (self.propose_base_ms, self.propose_delta_ms),
            Step::Prevote => (self.prevote_base_ms, self.prevote_delta_ms),
            Step::Precommit => (self.precommit_base_ms, self.precommit_delta_ms),
        };
        base.saturating_add(delta.saturating_mul(u64::from(round)))
    }
}

/// The core's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusConfig {
    /// Every signed message names the chain; others are rejected.
    pub chain_id: String,
    pub timeouts: TimeoutConfig,
    /// Messages for rounds further than this ahead of ours are rejected: bounds the vote
    /// book a Byzantine validator can make us keep (one vote per kind per round), while
    /// honest rounds, which advance only by timeouts or the f+1 rule, stay far closer.
    pub max_round_lookahead: u32,
    /// Messages for the next height, received before we finish this one, are kept up to
    /// this many (3 messages per validator per round, for a few rounds, for sets of ~100).
    pub max_future_messages: usize,
}

impl ConsensusConfig {
    pub fn new(chain_id: impl Into<String>) -> ConsensusConfig {
        ConsensusConfig {
            chain_id: chain_id.into(),
            timeouts: TimeoutConfig::default(),
            max_round_lookahead: 1_000,
            max_future_messages: 4_096,
        }
    }
}

/// Counters of everything the core ignored, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Rejected messages (also reported as `Output::Rejected`).
    pub rejected: u64,
    /// Exact duplicates of a message already counted.
    pub duplicates: u64,
    /// Messages for a height we already finished or that is too far ahead.
    pub wrong_height: u64,
    /// Next-height messages dropped because the buffer was full.
    pub future_dropped: u64,
    /// Signing requests the guard refused (after a restart, for example).
    pub guard_refusals: u64,
    /// Equivocations seen.
    pub equivocations: u64,
    /// Messages with this validator's key that its guard never signed.
    pub foreign_own_signatures: u64,
}
