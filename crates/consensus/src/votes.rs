//! The message log of one height: per round, the proposal and the prevotes and precommits,
//! counted by distinct validator.
//!
//! Each validator counts once per (round, kind) towards "any value" (its first vote), and
//! at most once towards each value. A second, different vote of the same kind and round
//! is an equivocation, reported as evidence with both signed votes (see
//! [`MAX_VALUES_PER_VOTER`] for why it still counts for its own value); an identical one
//! is a duplicate. Likewise for a second, different
//! proposal from a round's proposer. Every map is a `BTreeMap`, so iteration (and hence
//! the core's outputs) is deterministic.

use crate::messages::{Equivocation, SignedProposal, SignedVote};
use couponchain_chain::block::VoteKind;
use couponchain_chain::{Hash, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

/// What adding a message did.
#[derive(Debug)]
pub(crate) enum Added {
    New,
    Duplicate,
    /// A conflicting message; the evidence is reported once per validator, round and kind.
    Equivocation(Option<Box<Equivocation>>),
}

/// How many different values one validator's votes of one kind and round may count
/// for. The first vote counts towards the "∗" totals; an equivocator's conflicting votes
/// are evidence *and* count towards their own value (never twice for one value). Counting
/// only the first vote would let an equivocator hide, from some honest validators, the
/// polka another honest validator locked on, stalling Algorithm 1 for good (lines 28–33
/// could never fire); the simulation found exactly that. Safety is unchanged: two 2f+1
/// sets for different values still share f+1 validators, so one honest double voter. The
/// bound keeps a flooding equivocator from growing the log without limit.
pub(crate) const MAX_VALUES_PER_VOTER: usize = 4;

/// The votes of one kind in one round.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Each validator's first vote.
    first: BTreeMap<PublicKey, SignedVote>,
    /// Every counted vote by (value, validator): one per validator and value.
    by_value: BTreeMap<(Option<Hash>, PublicKey), SignedVote>,
    values_per_voter: BTreeMap<PublicKey, usize>,
    counts: BTreeMap<Option<Hash>, usize>,
    reported: BTreeSet<PublicKey>,
}

impl Tally {
    fn add(&mut self, vote: SignedVote) -> Added {
        let key = (vote.vote.block, vote.signer);
        if self.by_value.contains_key(&key) {
            return Added::Duplicate;
        }
        let signer = vote.signer;
        let evidence = match self.first.get(&signer) {
            None => {
                self.first.insert(signer, vote.clone());
                None
            }
            Some(first) => Some(Equivocation::Vote {
                first: first.clone(),
                second: vote.clone(),
            }),
        };
        let n = self.values_per_voter.entry(signer).or_insert(0);
        if *n < MAX_VALUES_PER_VOTER {
            *n += 1;
            *self.counts.entry(key.0).or_insert(0) += 1;
            self.by_value.insert(key, vote);
        }
        match evidence {
            None => Added::New,
            Some(e) if self.reported.insert(signer) => Added::Equivocation(Some(Box::new(e))),
            Some(_) => Added::Equivocation(None),
        }
    }

    /// Distinct validators that voted for `block` (None = nil).
    pub(crate) fn count(&self, block: Option<Hash>) -> usize {
        self.counts.get(&block).copied().unwrap_or(0)
    }

    /// Distinct validators that voted for anything (the "∗" of Algorithm 1).
    pub(crate) fn total(&self) -> usize {
        self.first.len()
    }

    /// The votes for `block`, one per validator, sorted by signer key.
    pub(crate) fn votes_for(&self, block: Option<Hash>) -> impl Iterator<Item = &SignedVote> {
        self.by_value
            .range((block, PublicKey([0; 32]))..)
            .take_while(move |((b, _), _)| *b == block)
            .map(|(_, v)| v)
    }

    /// The blocks (not nil) that have at least `quorum` votes, in hash order.
    pub(crate) fn blocks_with(&self, quorum: usize) -> impl Iterator<Item = Hash> + '_ {
        self.counts
            .iter()
            .filter(move |(_, n)| **n >= quorum)
            .filter_map(|(b, _)| *b)
    }

    fn has_exact(&self, v: &SignedVote) -> bool {
        self.by_value.get(&(v.vote.block, v.signer)) == Some(v)
    }
}

/// Everything received for one round.
#[derive(Debug, Default)]
pub(crate) struct RoundLog {
    pub(crate) proposal: Option<SignedProposal>,
    proposal_equivocation_reported: bool,
    pub(crate) prevotes: Tally,
    pub(crate) precommits: Tally,
    /// Validators that sent any message for this round (for line 55).
    senders: BTreeSet<PublicKey>,
}

impl RoundLog {
    pub(crate) fn tally(&self, kind: VoteKind) -> &Tally {
        match kind {
            VoteKind::Prevote => &self.prevotes,
            VoteKind::Precommit => &self.precommits,
        }
    }
}

/// The log of the height being decided; dropped when the height is.
#[derive(Debug, Default)]
pub(crate) struct HeightLog {
    rounds: BTreeMap<u32, RoundLog>,
}

impl HeightLog {
    /// Adds a vote already checked for signature, membership, chain and height.
    pub(crate) fn add_vote(&mut self, vote: SignedVote) -> Added {
        let round = self.rounds.entry(vote.vote.round).or_default();
        let signer = vote.signer;
        let added = match vote.vote.kind {
            VoteKind::Prevote => round.prevotes.add(vote),
            VoteKind::Precommit => round.precommits.add(vote),
        };
        round.senders.insert(signer);
        added
    }

    /// Adds a proposal already checked to come from the round's proposer.
    pub(crate) fn add_proposal(&mut self, p: SignedProposal) -> Added {
        let round = self.rounds.entry(p.proposal.round).or_default();
        round.senders.insert(p.signer);
        match &round.proposal {
            Some(first) if first.proposal == p.proposal => Added::Duplicate,
            Some(first) => {
                if round.proposal_equivocation_reported {
                    return Added::Equivocation(None);
                }
                round.proposal_equivocation_reported = true;
                Added::Equivocation(Some(Box::new(Equivocation::Proposal {
                    first: first.clone(),
                    second: p,
                })))
            }
            None => {
                round.proposal = Some(p);
                Added::New
            }
        }
    }

    /// Whether exactly this signed message (signature included) is already in the log,
    /// so gossip duplicates skip signature verification.
    pub(crate) fn has_exact_vote(&self, v: &SignedVote) -> bool {
        self.round(v.vote.round)
            .is_some_and(|l| l.tally(v.vote.kind).has_exact(v))
    }

    pub(crate) fn has_exact_proposal(&self, p: &SignedProposal) -> bool {
        self.round(p.proposal.round)
            .and_then(|l| l.proposal.as_ref())
            .is_some_and(|first| first == p)
    }

    pub(crate) fn round(&self, r: u32) -> Option<&RoundLog> {
        self.rounds.get(&r)
    }

    pub(crate) fn rounds(&self) -> impl Iterator<Item = (u32, &RoundLog)> {
        self.rounds.iter().map(|(r, l)| (*r, l))
    }

    /// Distinct validators that cast a `kind` vote for `block` in round `r`.
    pub(crate) fn count(&self, r: u32, kind: VoteKind, block: Option<Hash>) -> usize {
        self.round(r).map_or(0, |l| l.tally(kind).count(block))
    }

    /// The highest round above `current` from which at least `threshold` distinct
    /// validators sent messages (line 55).
    pub(crate) fn skip_target(&self, current: u32, threshold: usize) -> Option<u32> {
        let above = current.checked_add(1)?;
        self.rounds
            .range(above..)
            .rev()
            .find(|(_, l)| l.senders.len() >= threshold)
            .map(|(r, _)| *r)
    }
}
