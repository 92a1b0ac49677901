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

use crate::messages::{Equivocation, Message, SignedProposal, SignedVote};
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
///
/// The bound alone does not stop the hiding: an equivocator that sends some validators four
/// other values first still gets its vote for the polka's value dropped there, and with
/// n = 3f + 1 that validator then refuses the locked value for good (the simulation found
/// it too: `sim_one_equivocating_validator`, seeds 529 and 4782 when found). So a vote
/// beyond the bound is kept aside (up to [`MAX_PARKED_PER_VOTER`]) and counts once f + 1
/// validators voted for its value in that round and kind (see [`Tally::add`]).
pub(crate) const MAX_VALUES_PER_VOTER: usize = 4;

/// How many votes beyond [`MAX_VALUES_PER_VOTER`] one validator may have kept aside per
/// round and kind, waiting for their value to be voted for by f + 1 validators. An
/// equivocator that sends more values than both bounds before its vote for a polka's value
/// can still hide it; only certificates (a proposal carrying its polka's prevotes) close
/// that for good.
pub(crate) const MAX_PARKED_PER_VOTER: usize = 4;

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
    /// Votes beyond the bound, by (value, validator), until their value is widely voted for.
    parked: BTreeMap<(Option<Hash>, PublicKey), SignedVote>,
    parked_per_voter: BTreeMap<PublicKey, usize>,
}

impl Tally {
    /// Adds a vote; `one_honest` is f + 1.
    fn add(&mut self, vote: SignedVote, one_honest: usize) -> Added {
        let key = (vote.vote.block, vote.signer);
        if self.by_value.contains_key(&key) || self.parked.contains_key(&key) {
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
        // Lines 28, 36, 44 and 49 of Algorithm 1 count 2f+1 ⟨PREVOTE|PRECOMMIT, h, r, id(v)⟩
        // among *all* messages received. A value f + 1 validators voted for has a correct
        // voter, so it can reach 2f+1 with this vote at another correct validator: beyond
        // the bound, the vote still counts for it, at once or when its value gets there.
        // At most n / (f + 1) values per round and kind are that widely voted for, so the
        // log stays bounded.
        let n = self.values_per_voter.get(&signer).copied().unwrap_or(0);
        if n < MAX_VALUES_PER_VOTER || self.count(key.0) >= one_honest {
            self.count_vote(key, vote);
            self.unpark(key.0, one_honest);
        } else {
            let parked = self.parked_per_voter.entry(signer).or_insert(0);
            if *parked < MAX_PARKED_PER_VOTER {
                *parked += 1;
                self.parked.insert(key, vote);
            }
        }
        match evidence {
            None => Added::New,
            Some(e) if self.reported.insert(signer) => Added::Equivocation(Some(Box::new(e))),
            Some(_) => Added::Equivocation(None),
        }
    }

    fn count_vote(&mut self, key: (Option<Hash>, PublicKey), vote: SignedVote) {
        *self.values_per_voter.entry(key.1).or_insert(0) += 1;
        *self.counts.entry(key.0).or_insert(0) += 1;
        self.by_value.insert(key, vote);
    }

    /// Counts the votes kept aside for `block` once f + 1 validators voted for it.
    fn unpark(&mut self, block: Option<Hash>, one_honest: usize) {
        if self.count(block) < one_honest {
            return;
        }
        let keys: Vec<_> = self
            .parked
            .range((block, PublicKey([0; 32]))..)
            .take_while(|((b, _), _)| *b == block)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            if let Some(v) = self.parked.remove(&k) {
                self.count_vote(k, v);
            }
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

    /// Every counted vote, by value then signer.
    pub(crate) fn counted(&self) -> impl Iterator<Item = &SignedVote> {
        self.by_value.values()
    }

    /// The blocks (not nil) that have at least `quorum` votes, in hash order.
    pub(crate) fn blocks_with(&self, quorum: usize) -> impl Iterator<Item = Hash> + '_ {
        self.counts
            .iter()
            .filter(move |(_, n)| **n >= quorum)
            .filter_map(|(b, _)| *b)
    }

    fn has_exact(&self, v: &SignedVote) -> bool {
        let key = (v.vote.block, v.signer);
        self.by_value.get(&key) == Some(v) || self.parked.get(&key) == Some(v)
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
    /// The round's proposal and counted votes, in a fixed order: what a validator relays.
    pub(crate) fn messages(&self) -> impl Iterator<Item = Message> + '_ {
        self.proposal
            .iter()
            .map(|p| Message::Proposal(p.clone()))
            .chain(
                self.prevotes
                    .counted()
                    .chain(self.precommits.counted())
                    .map(|v| Message::Vote(v.clone())),
            )
    }

    pub(crate) fn tally(&self, kind: VoteKind) -> &Tally {
        match kind {
            VoteKind::Prevote => &self.prevotes,
            VoteKind::Precommit => &self.precommits,
        }
    }
}

/// The log of the height being decided; dropped when the height is.
#[derive(Debug)]
pub(crate) struct HeightLog {
    rounds: BTreeMap<u32, RoundLog>,
    /// f + 1 for the height's validator set.
    one_honest: usize,
}

impl HeightLog {
    /// The log of a height whose set tolerates f faults; `one_honest` is f + 1.
    pub(crate) fn new(one_honest: usize) -> HeightLog {
        HeightLog {
            rounds: BTreeMap::new(),
            one_honest,
        }
    }

    /// Adds a vote already checked for signature, membership, chain and height.
    pub(crate) fn add_vote(&mut self, vote: SignedVote) -> Added {
        let round = self.rounds.entry(vote.vote.round).or_default();
        let signer = vote.signer;
        let added = match vote.vote.kind {
            VoteKind::Prevote => round.prevotes.add(vote, self.one_honest),
            VoteKind::Precommit => round.precommits.add(vote, self.one_honest),
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
