//! Shared helpers: deterministic keys sorted in validator-set order, message builders, and
//! a compact view of outputs (`Out`) that step tables compare against.

use couponchain_chain::block::{ValidatorSet, VoteData, VoteKind};
use couponchain_chain::{Hash, Keypair};
use couponchain_consensus::{
    Consensus, ConsensusConfig, Input, Message, Output, Proposal, SignedProposal, SignedVote,
    SigningState, Step, TimeoutConfig,
};

pub const CHAIN: &str = "consensus-test";

/// `n` deterministic keys, sorted by public key, so index i is `validators[i]`.
pub fn keys(n: usize) -> Vec<Keypair> {
    let mut ks: Vec<Keypair> = (0..n)
        .map(|i| Keypair::from_seed(&format!("validator-{i}")))
        .collect();
    ks.sort_by_key(|k| k.public());
    ks
}

pub fn set(keys: &[Keypair]) -> ValidatorSet {
    ValidatorSet::new(keys.iter().map(|k| k.public()))
}

pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig {
        propose_base_ms: 1000,
        propose_delta_ms: 500,
        prevote_base_ms: 400,
        prevote_delta_ms: 200,
        precommit_base_ms: 300,
        precommit_delta_ms: 100,
    }
}

pub fn config() -> ConsensusConfig {
    ConsensusConfig {
        timeouts: timeouts(),
        ..ConsensusConfig::new(CHAIN)
    }
}

pub fn block(i: u8) -> Hash {
    Hash([i; 32])
}

pub fn vote(key: &Keypair, height: u64, round: u32, kind: VoteKind, b: Option<Hash>) -> SignedVote {
    let data = VoteData {
        chain_id: CHAIN.into(),
        height,
        round,
        kind,
        block: b,
    };
    SignedVote::sign(data, key)
}

pub fn prevote(key: &Keypair, height: u64, round: u32, b: Option<Hash>) -> Input {
    Input::Vote(vote(key, height, round, VoteKind::Prevote, b))
}

pub fn precommit(key: &Keypair, height: u64, round: u32, b: Option<Hash>) -> Input {
    Input::Vote(vote(key, height, round, VoteKind::Precommit, b))
}

pub fn proposal(
    key: &Keypair,
    height: u64,
    round: u32,
    b: Hash,
    vr: Option<u32>,
) -> SignedProposal {
    let p = Proposal {
        chain_id: CHAIN.into(),
        height,
        round,
        block: b,
        valid_round: vr,
    };
    SignedProposal::sign(p, key)
}

pub fn propose(key: &Keypair, height: u64, round: u32, b: Hash, vr: Option<u32>) -> Input {
    Input::Proposal(proposal(key, height, round, b, vr))
}

/// A compact, comparable view of an output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Persist,
    Proposal {
        round: u32,
        block: Hash,
        vr: Option<u32>,
    },
    Prevote {
        round: u32,
        block: Option<Hash>,
    },
    Precommit {
        round: u32,
        block: Option<Hash>,
    },
    Timeout {
        round: u32,
        step: Step,
        ms: u64,
    },
    Check(Hash),
    Build {
        round: u32,
    },
    Commit {
        round: u32,
        block: Hash,
    },
    Evidence,
    KeyUsedElsewhere {
        round: u32,
        step: Step,
    },
    Rejected,
}

pub fn view(outputs: &[Output]) -> Vec<Out> {
    outputs
        .iter()
        .map(|o| match o {
            Output::Persist(_) => Out::Persist,
            Output::Broadcast(Message::Proposal(p)) => Out::Proposal {
                round: p.proposal.round,
                block: p.proposal.block,
                vr: p.proposal.valid_round,
            },
            Output::Broadcast(Message::Vote(v)) => match v.vote.kind {
                VoteKind::Prevote => Out::Prevote {
                    round: v.vote.round,
                    block: v.vote.block,
                },
                VoteKind::Precommit => Out::Precommit {
                    round: v.vote.round,
                    block: v.vote.block,
                },
            },
            Output::ScheduleTimeout {
                round,
                step,
                duration_ms,
                ..
            } => Out::Timeout {
                round: *round,
                step: *step,
                ms: *duration_ms,
            },
            Output::CheckBlock { block, .. } => Out::Check(*block),
            Output::ProposeBlock { round, .. } => Out::Build { round: *round },
            Output::Commit { round, block, .. } => Out::Commit {
                round: *round,
                block: *block,
            },
            Output::Evidence(_) => Out::Evidence,
            Output::KeyUsedElsewhere { round, step, .. } => Out::KeyUsedElsewhere {
                round: *round,
                step: *step,
            },
            Output::Rejected(_) => Out::Rejected,
        })
        .collect()
}

/// A core for `keys[me]`, fresh or resumed from `state`.
pub fn core(keys: &[Keypair], me: usize, state: SigningState) -> Consensus {
    Consensus::new(config(), keys[me].clone(), state)
}

/// Feeds each input and compares the outputs with the expected ones, naming the step.
pub fn run_table(c: &mut Consensus, table: Vec<(Input, Vec<Out>)>) -> Vec<Vec<Output>> {
    let mut all = Vec::new();
    for (i, (input, expected)) in table.into_iter().enumerate() {
        let dbg = format!("{input:?}");
        let got = c.handle(input);
        assert_eq!(view(&got), expected, "step {i}: input {dbg}");
        all.push(got);
    }
    all
}

pub fn checked(height: u64, round: u32, b: Hash, valid: bool) -> Input {
    Input::BlockChecked {
        height,
        round,
        block: b,
        valid,
    }
}

pub fn timeout(height: u64, round: u32, step: Step) -> Input {
    Input::TimeoutFired {
        height,
        round,
        step,
    }
}

pub fn start(height: u64, keys: &[Keypair]) -> Input {
    Input::StartHeight {
        height,
        validators: set(keys),
    }
}
