//! Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon, Milosevic, 2018)
//! for one height: the round state, the lock and valid value, and the `upon` rules.
//!
//! After every input, [`HeightState::run_rules`] re-evaluates the rules that read the
//! message log until none is enabled; each rule cites the lines of Algorithm 1 it encodes.
//! Values are block hashes; valid(v) is the node's verdict (`Input::BlockChecked`),
//! requested once per hash. Signing goes through the `SigningGuard`, whose new state is
//! emitted as `Output::Persist` just before the `Output::Broadcast` it guards.

use crate::guard::SigningGuard;
use crate::io::{ConsensusConfig, Output, Stats, Step};
use crate::messages::{Message, Proposal, SignedProposal, SignedVote};
use crate::votes::{Added, HeightLog};
use couponchain_chain::block::{CommitCertificate, ValidatorSet, VoteData, VoteKind};
use couponchain_chain::{Hash, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

/// The proposer of (height, round): round-robin over the sorted set,
/// `validators[(height + round) mod n]`. `None` only for an empty set.
pub fn proposer(validators: &ValidatorSet, height: u64, round: u32) -> Option<PublicKey> {
    let n = validators.len() as u128;
    if n == 0 {
        return None;
    }
    let i = (u128::from(height) + u128::from(round)) % n;
    validators.validators.get(i as usize).copied()
}

/// Each rule changes the state when it fires, so a few passes settle every input; the
/// bound only guards against a bug turning into an endless loop.
const MAX_RULE_PASSES: usize = 64;

/// What the rules need besides the height's own state.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a ConsensusConfig,
    pub(crate) guard: &'a mut SigningGuard,
    pub(crate) stats: &'a mut Stats,
    pub(crate) out: &'a mut Vec<Output>,
}

/// "For the first time" flags of the current round (reset by StartRound).
#[derive(Debug, Default)]
struct RoundFlags {
    prevote_timeout: bool,
    precommit_timeout: bool,
    line_36: bool,
    /// OnTimeoutPropose fired once while the round's proposal was still being checked.
    propose_timeout_deferred: bool,
}

/// The state of process p at height h_p.
#[derive(Debug)]
pub(crate) struct HeightState {
    pub(crate) height: u64,
    pub(crate) validators: ValidatorSet,
    pub(crate) round: u32,
    pub(crate) step: Step,
    /// (lockedRound, lockedValue); `None` is (−1, nil).
    pub(crate) locked: Option<(u32, Hash)>,
    /// (validRound, validValue); `None` is (−1, nil).
    pub(crate) valid: Option<(u32, Hash)>,
    pub(crate) decided: Option<Hash>,
    pub(crate) log: HeightLog,
    /// valid(v) verdicts by block hash; the first verdict for a hash stands.
    validity: BTreeMap<Hash, bool>,
    check_requested: BTreeSet<Hash>,
    flags: RoundFlags,
}

impl HeightState {
    /// A height, resuming the round, lock and valid value the guard persisted for it.
    pub(crate) fn new(height: u64, validators: ValidatorSet, guard: &SigningGuard) -> Self {
        let st = guard.state();
        let (round, locked, valid) = if st.height == height {
            (st.round, st.locked, st.valid)
        } else {
            (0, None, None)
        };
        let one_honest = validators.len().saturating_sub(1) / 3 + 1;
        HeightState {
            height,
            validators,
            round,
            step: Step::Propose,
            locked,
            valid,
            decided: None,
            log: HeightLog::new(one_honest),
            validity: BTreeMap::new(),
            check_requested: BTreeSet::new(),
            flags: RoundFlags::default(),
        }
    }

    fn quorum(&self) -> usize {
        self.validators.quorum()
    }

    /// f + 1 with f the largest number of faults the set tolerates (n ≥ 3f + 1).
    fn one_honest(&self) -> usize {
        self.validators.len().saturating_sub(1) / 3 + 1
    }

    pub(crate) fn proposer(&self, round: u32) -> Option<PublicKey> {
        proposer(&self.validators, self.height, round)
    }

    fn valid_verdict(&self, block: Hash) -> Option<bool> {
        self.validity.get(&block).copied()
    }

    /// Asks the node for valid(block) once per hash.
    pub(crate) fn request_check(&mut self, round: u32, block: Hash, ctx: &mut Ctx) {
        if !self.validity.contains_key(&block) && self.check_requested.insert(block) {
            ctx.out.push(Output::CheckBlock {
                height: self.height,
                round,
                block,
            });
        }
    }

    pub(crate) fn record_verdict(&mut self, block: Hash, valid: bool) {
        self.validity.entry(block).or_insert(valid);
    }

    fn schedule(&self, step: Step, ctx: &mut Ctx) {
        ctx.out.push(Output::ScheduleTimeout {
            height: self.height,
            round: self.round,
            step,
            duration_ms: ctx.config.timeouts.duration_ms(step, self.round),
        });
    }

    /// Lines 11–21: StartRound(round).
    pub(crate) fn start_round(&mut self, round: u32, ctx: &mut Ctx) {
        self.round = round; // line 11
        self.step = Step::Propose; // line 12
        self.flags = RoundFlags::default();
        if self.proposer(round) == Some(ctx.guard.public()) {
            // Lines 13–18: re-propose validValue if there is one, else getValue().
            match self.valid {
                Some((vr, v)) => self.propose(v, Some(vr), ctx),
                None => ctx.out.push(Output::ProposeBlock {
                    height: self.height,
                    round,
                }),
            }
        }
        // Line 20: schedule OnTimeoutPropose. Armed for the proposer too (a deviation
        // that only adds a timeout, which never affects safety): if the node fails to
        // build a block, the round still ends.
        self.schedule(Step::Propose, ctx);
    }

    /// Line 18: broadcast ⟨PROPOSAL, h_p, round_p, v, vr⟩ (and deliver it to ourselves).
    pub(crate) fn propose(&mut self, block: Hash, valid_round: Option<u32>, ctx: &mut Ctx) {
        if self.step != Step::Propose {
            return;
        }
        let proposal = Proposal {
            chain_id: ctx.config.chain_id.clone(),
            height: self.height,
            round: self.round,
            block,
            valid_round,
        };
        match ctx.guard.sign_proposal(&proposal) {
            Ok(g) => {
                if g.fresh {
                    ctx.out.push(Output::Persist(ctx.guard.state().clone()));
                }
                let signed = SignedProposal {
                    proposal,
                    signer: ctx.guard.public(),
                    signature: g.signature,
                };
                ctx.out
                    .push(Output::Broadcast(Message::Proposal(signed.clone())));
                self.record_verdict(block, true);
                let _ = self.log.add_proposal(signed);
            }
            Err(_) => ctx.stats.guard_refusals += 1,
        }
    }

    /// Signs and broadcasts a vote of the current round, and counts it ourselves.
    fn vote(&mut self, kind: VoteKind, block: Option<Hash>, ctx: &mut Ctx) {
        let vote = VoteData {
            chain_id: ctx.config.chain_id.clone(),
            height: self.height,
            round: self.round,
            kind,
            block,
        };
        match ctx.guard.sign_vote(&vote) {
            Ok(g) => {
                if g.fresh {
                    ctx.out.push(Output::Persist(ctx.guard.state().clone()));
                }
                let signed = SignedVote {
                    vote,
                    signer: ctx.guard.public(),
                    signature: g.signature,
                };
                ctx.out
                    .push(Output::Broadcast(Message::Vote(signed.clone())));
                let _ = self.log.add_vote(signed);
            }
            Err(_) => ctx.stats.guard_refusals += 1,
        }
    }

    fn prevote(&mut self, block: Option<Hash>, ctx: &mut Ctx) {
        self.vote(VoteKind::Prevote, block, ctx);
        self.step = Step::Prevote;
    }

    fn precommit(&mut self, block: Option<Hash>, ctx: &mut Ctx) {
        self.vote(VoteKind::Precommit, block, ctx);
        self.step = Step::Precommit;
    }

    /// Lines 57–67: OnTimeoutPropose / OnTimeoutPrevote / OnTimeoutPrecommit.
    pub(crate) fn on_timeout(&mut self, round: u32, step: Step, ctx: &mut Ctx) {
        if self.decided.is_some() || round != self.round {
            return;
        }
        match step {
            // Lines 57–60: while step = propose, prevote nil. Algorithm 1 takes valid(v) to
            // be instant; here it executes the block, which can outlast the timeout (a
            // large block on a cold cache). If the round's proposal has arrived and is still
            // being checked, the timeout is armed once more instead: a longer
            // timeoutPropose for this round, which only liveness depends on. Once, so a
            // proposal whose body never comes costs one more timeout, not the round.
            Step::Propose if self.step == Step::Propose => {
                if self.proposal_being_checked() && !self.flags.propose_timeout_deferred {
                    self.flags.propose_timeout_deferred = true;
                    self.schedule(Step::Propose, ctx);
                } else {
                    self.prevote(None, ctx);
                }
            }
            // Lines 61–64: while step = prevote, precommit nil.
            Step::Prevote if self.step == Step::Prevote => self.precommit(None, ctx),
            // Lines 65–67: StartRound(round_p + 1), whatever the step.
            Step::Precommit => {
                if let Some(next) = self.round.checked_add(1) {
                    self.start_round(next, ctx);
                }
            }
            _ => {}
        }
    }

    /// This round's proposal has arrived and our verdict on its block is not known yet.
    fn proposal_being_checked(&self) -> bool {
        self.log
            .round(self.round)
            .and_then(|l| l.proposal.as_ref())
            .is_some_and(|p| self.valid_verdict(p.proposal.block).is_none())
    }

    /// Applies enabled rules until none is.
    pub(crate) fn run_rules(&mut self, ctx: &mut Ctx) {
        for _ in 0..MAX_RULE_PASSES {
            if !self.fire_one(ctx) {
                return;
            }
        }
    }

    /// Fires the first enabled rule; returns whether one fired.
    fn fire_one(&mut self, ctx: &mut Ctx) -> bool {
        if self.decided.is_some() {
            return false;
        }
        if self.try_decide(ctx) {
            return true;
        }
        // Line 55: upon f+1 ⟨∗, h_p, round, ∗, ∗⟩ with round > round_p: StartRound(round).
        if let Some(r) = self.log.skip_target(self.round, self.one_honest()) {
            self.start_round(r, ctx);
            return true;
        }
        let q = self.quorum();
        let r = self.round;
        let proposal = self
            .log
            .round(r)
            .and_then(|l| l.proposal.as_ref())
            .map(|p| (p.proposal.block, p.proposal.valid_round));
        if self.step == Step::Propose {
            if let Some((v, vr)) = proposal {
                if self.on_proposal_in_propose(v, vr, ctx) {
                    return true;
                }
            }
        }
        let prevotes_total = self.log.round(r).map_or(0, |l| l.prevotes.total());
        // Lines 34–35: upon 2f+1 ⟨PREVOTE, h_p, round_p, ∗⟩ while step = prevote for the
        // first time: schedule OnTimeoutPrevote.
        if self.step == Step::Prevote && prevotes_total >= q && !self.flags.prevote_timeout {
            self.flags.prevote_timeout = true;
            self.schedule(Step::Prevote, ctx);
            return true;
        }
        // Lines 36–43: upon ⟨PROPOSAL, h_p, round_p, v, ∗⟩ AND 2f+1 ⟨PREVOTE, h_p, round_p,
        // id(v)⟩ while valid(v) ∧ step ≥ prevote for the first time.
        if let Some((v, _)) = proposal {
            if self.step >= Step::Prevote
                && !self.flags.line_36
                && self.valid_verdict(v) == Some(true)
                && self.log.count(r, VoteKind::Prevote, Some(v)) >= q
            {
                self.flags.line_36 = true;
                if self.step == Step::Prevote {
                    self.locked = Some((r, v)); // lines 38–39
                    self.valid = Some((r, v)); // lines 42–43
                    ctx.guard.record_locks(self.height, self.locked, self.valid);
                    self.precommit(Some(v), ctx); // lines 40–41
                } else {
                    self.valid = Some((r, v)); // lines 42–43
                    ctx.guard.record_locks(self.height, self.locked, self.valid);
                }
                return true;
            }
        }
        // Lines 44–46: upon 2f+1 ⟨PREVOTE, h_p, round_p, nil⟩ while step = prevote:
        // precommit nil.
        if self.step == Step::Prevote && self.log.count(r, VoteKind::Prevote, None) >= q {
            self.precommit(None, ctx);
            return true;
        }
        // Lines 47–48: upon 2f+1 ⟨PRECOMMIT, h_p, round_p, ∗⟩ for the first time: schedule
        // OnTimeoutPrecommit.
        let precommits_total = self.log.round(r).map_or(0, |l| l.precommits.total());
        if precommits_total >= q && !self.flags.precommit_timeout {
            self.flags.precommit_timeout = true;
            self.schedule(Step::Precommit, ctx);
            return true;
        }
        false
    }

    /// Lines 22–33, while step = propose and the proposal of round_p is (v, vr).
    fn on_proposal_in_propose(&mut self, v: Hash, vr: Option<u32>, ctx: &mut Ctx) -> bool {
        let Some(valid) = self.valid_verdict(v) else {
            return false; // valid(v) not known yet: wait for BlockChecked
        };
        let vote_for_v = match vr {
            // Lines 22–27: upon ⟨PROPOSAL, h_p, round_p, v, −1⟩ from proposer(h_p, round_p)
            // while step = propose: prevote id(v) if valid(v) ∧ (lockedRound = −1 ∨
            // lockedValue = v), else nil.
            None => valid && self.locked.is_none_or(|(_, lv)| lv == v),
            // Lines 28–33: upon ⟨PROPOSAL, h_p, round_p, v, vr⟩ AND 2f+1 ⟨PREVOTE, h_p, vr,
            // id(v)⟩ while step = propose ∧ (vr ≥ 0 ∧ vr < round_p): prevote id(v) if
            // valid(v) ∧ (lockedRound ≤ vr ∨ lockedValue = v), else nil.
            Some(vr) => {
                if vr >= self.round
                    || self.log.count(vr, VoteKind::Prevote, Some(v)) < self.quorum()
                {
                    return false;
                }
                valid && self.locked.is_none_or(|(lr, lv)| lr <= vr || lv == v)
            }
        };
        self.prevote(vote_for_v.then_some(v), ctx);
        true
    }

    /// Lines 49–54: upon ⟨PROPOSAL, h_p, r, v, ∗⟩ AND 2f+1 ⟨PRECOMMIT, h_p, r, id(v)⟩
    /// while decision_p[h_p] = nil: if valid(v), decide v. As in Tendermint's
    /// implementation, the proposal may be any one carrying v (or none, when the node
    /// fetched the block): what matters is the block and our verdict on it.
    fn try_decide(&mut self, ctx: &mut Ctx) -> bool {
        let q = self.quorum();
        let mut candidates = Vec::new();
        for (r, l) in self.log.rounds() {
            candidates.extend(l.precommits.blocks_with(q).map(|v| (r, v)));
        }
        for (r, v) in candidates {
            match self.valid_verdict(v) {
                Some(true) => {
                    self.decide(r, v, ctx);
                    return true;
                }
                Some(false) => {} // >2/3 precommitted a block we find invalid: never decide it
                None => self.request_check(r, v, ctx),
            }
        }
        false
    }

    fn decide(&mut self, r: u32, v: Hash, ctx: &mut Ctx) {
        let signatures = self
            .log
            .round(r)
            .map(|l| {
                l.precommits
                    .votes_for(Some(v))
                    .map(|sv| (sv.signer, sv.signature))
                    .collect()
            })
            .unwrap_or_default();
        self.decided = Some(v); // line 51; lines 52–54 are the driver's next StartHeight
        ctx.out.push(Output::Commit {
            height: self.height,
            round: r,
            block: v,
            certificate: CommitCertificate {
                height: self.height,
                round: r,
                block: v,
                signatures,
            },
        });
    }

    /// Adds a checked message of this height; reports equivocation; returns whether it
    /// was new.
    pub(crate) fn add_message(&mut self, msg: Message, ctx: &mut Ctx) -> bool {
        let (added, proposal) = match msg {
            Message::Proposal(p) => {
                let info = (p.proposal.round, p.proposal.block);
                (self.log.add_proposal(p), Some(info))
            }
            Message::Vote(v) => (self.log.add_vote(v), None),
        };
        match added {
            Added::New => {
                if let Some((round, block)) = proposal {
                    self.request_check(round, block, ctx);
                }
                true
            }
            Added::Duplicate => {
                ctx.stats.duplicates += 1;
                false
            }
            Added::Equivocation(evidence) => {
                ctx.stats.equivocations += 1;
                if let Some(e) = evidence {
                    ctx.out.push(Output::Evidence(*e));
                }
                // The first message still counts; the sender set may have grown (line 55).
                true
            }
        }
    }
}
