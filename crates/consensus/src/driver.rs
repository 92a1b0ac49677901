//! The driver: one [`Consensus`] per validator, deciding one height after another.
//!
//! It checks every incoming message (chain, height, round bound, signer in the set,
//! signature, proposer) before the height's state machine sees it, keeps a bounded buffer
//! of messages for the next height, and starts each height when the node says so
//! (`Input::StartHeight`, after it applied the previous `Commit`). `handle` is the only
//! entry point: deterministic, total (never panics), no I/O.

use crate::guard::{SigningGuard, SigningState};
use crate::io::{ConsensusConfig, Input, Output, Stats, Step};
use crate::machine::{Ctx, HeightState};
use crate::messages::{Message, Proposal, Rejection, SignedProposal, SignedVote};
use couponchain_chain::block::{ValidatorSet, VoteData, VoteKind};
use couponchain_chain::{Hash, Keypair, PublicKey};

/// A validator's consensus core.
#[derive(Debug)]
pub struct Consensus {
    config: ConsensusConfig,
    guard: SigningGuard,
    stats: Stats,
    current: Option<HeightState>,
    /// Unchecked messages for the next height (or, before the first height, any height),
    /// at most `config.max_future_messages`.
    future: Vec<Message>,
}

impl Consensus {
    /// A core signing with `key`, resuming from the last persisted `signing_state`
    /// (`SigningState::default()` for a validator that never signed). Nothing happens
    /// until `Input::StartHeight`.
    pub fn new(config: ConsensusConfig, key: Keypair, signing_state: SigningState) -> Self {
        Consensus {
            config,
            guard: SigningGuard::new(key, signing_state),
            stats: Stats::default(),
            current: None,
            future: Vec::new(),
        }
    }

    /// Feeds one input; returns what the node must do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::StartHeight { height, validators } => {
                self.start_height(height, validators, &mut out)
            }
            Input::Proposal(p) => self.on_message(Message::Proposal(p), &mut out),
            Input::Vote(v) => self.on_message(Message::Vote(v), &mut out),
            Input::TimeoutFired {
                height,
                round,
                step,
            } => self.with_height(height, &mut out, |hs, ctx| {
                hs.on_timeout(round, step, ctx);
            }),
            Input::BlockChecked {
                height,
                block,
                valid,
                ..
            } => self.with_height(height, &mut out, |hs, _| {
                hs.record_verdict(block, valid);
            }),
            Input::BlockBuilt {
                height,
                round,
                block,
            } => self.with_height(height, &mut out, |hs, ctx| {
                if hs.round == round && hs.proposer(round) == Some(ctx.guard.public()) {
                    // Line 17–18: proposal ← getValue(); broadcast it.
                    hs.propose(block, None, ctx);
                }
            }),
        }
        out
    }

    /// The height being decided (or just decided), if any.
    pub fn height(&self) -> Option<u64> {
        self.current.as_ref().map(|h| h.height)
    }

    pub fn round(&self) -> Option<u32> {
        self.current.as_ref().map(|h| h.round)
    }

    pub fn step(&self) -> Option<Step> {
        self.current.as_ref().map(|h| h.step)
    }

    /// (lockedRound, lockedValue) of the current height.
    pub fn locked(&self) -> Option<(u32, Hash)> {
        self.current.as_ref().and_then(|h| h.locked)
    }

    /// (validRound, validValue) of the current height.
    pub fn valid(&self) -> Option<(u32, Hash)> {
        self.current.as_ref().and_then(|h| h.valid)
    }

    /// The block decided at the current height, once it is.
    pub fn decision(&self) -> Option<Hash> {
        self.current.as_ref().and_then(|h| h.decided)
    }

    /// What this validator relays to the others while its height stalls: the proposal and
    /// every counted vote of its current round, of its valid and locked rounds, and of the
    /// valid round its current proposal names (their prevotes are the proof of lock a
    /// re-proposal of that value needs, line 28).
    ///
    /// Algorithm 1's liveness assumes that a message one correct validator received reaches
    /// every correct one. Re-sending only one's own messages loses that when a validator
    /// stops just after its message reached some peers: if its prevote completed a polka
    /// at two of four, those two lock on the value while the fourth never sees the proof,
    /// refuses every re-proposal of it, and nothing is decided again (found on a localnet:
    /// the proposer killed right after proposing).
    pub fn relay(&self) -> Vec<Message> {
        let Some(hs) = self.current.as_ref() else {
            return Vec::new();
        };
        // The valid round the current round's proposal names: its prevotes are what the
        // others need to take that proposal (line 28), and each voter holds its own.
        let named = hs
            .log
            .round(hs.round)
            .and_then(|l| l.proposal.as_ref())
            .and_then(|p| p.proposal.valid_round);
        let rounds: std::collections::BTreeSet<u32> = [
            Some(hs.round),
            hs.valid.map(|v| v.0),
            hs.locked.map(|l| l.0),
            named,
        ]
        .into_iter()
        .flatten()
        .collect();
        rounds
            .into_iter()
            .filter_map(|r| hs.log.round(r))
            .flat_map(|l| l.messages())
            .collect()
    }

    /// The proof of the current height's valid value: the prevotes (at least 2f+1) of its
    /// valid round for it, or nothing without a valid value or without that many votes.
    /// The signing state persists the lock and the valid value, not the votes behind them;
    /// a node that keeps this too and feeds it back as `Input::Vote`s after a restart can
    /// still relay the proof, which the others need to take a re-proposal of that value
    /// (line 28).
    pub fn valid_proof(&self) -> Vec<SignedVote> {
        let Some(hs) = self.current.as_ref() else {
            return Vec::new();
        };
        let Some((round, block)) = hs.valid else {
            return Vec::new();
        };
        let votes: Vec<SignedVote> = hs
            .log
            .round(round)
            .map(|l| l.prevotes.votes_for(Some(block)).cloned().collect())
            .unwrap_or_default();
        // Restored after a restart, the valid value comes without its votes: until 2f+1
        // are back there is nothing to prove it with.
        if votes.len() < hs.validators.quorum() {
            return Vec::new();
        }
        votes
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Signs nothing more (proposals, votes), for `reason`: the node calls it at start-up
    /// when a halt was recorded earlier, or when it learns by other means (evidence from a
    /// peer) that another process signs with this key. Messages are still counted.
    pub fn halt_signing(&mut self, reason: impl Into<String>) {
        self.guard.halt(reason.into());
    }

    /// Why signing stopped, if it did.
    pub fn signing_halted(&self) -> Option<&str> {
        self.guard.halted()
    }

    /// A checked message signed with our own key that the guard cannot have signed halts
    /// signing (once reported): two processes signing with one key is how a validator
    /// equivocates without a bug, and the halted one can no longer add to it.
    fn check_own_signature(&mut self, msg: &Message, out: &mut Vec<Output>) {
        let (signer, step, signature) = match msg {
            Message::Proposal(p) => (p.signer, Step::Propose, &p.signature),
            Message::Vote(v) => (
                v.signer,
                match v.vote.kind {
                    VoteKind::Prevote => Step::Prevote,
                    VoteKind::Precommit => Step::Precommit,
                },
                &v.signature,
            ),
        };
        let (height, round) = (msg.height(), msg.round());
        if signer != self.guard.public()
            || self.guard.could_have_signed(height, round, step, signature)
        {
            return;
        }
        self.stats.foreign_own_signatures += 1;
        if self.guard.halted().is_none() {
            self.guard.halt(format!(
                "a {step:?} at height {height} round {round} signed with this validator's key \
                 by another process"
            ));
            out.push(Output::KeyUsedElsewhere {
                height,
                round,
                step,
            });
        }
    }

    /// The guard's state (what the node last persisted, or is about to).
    pub fn signing_state(&self) -> &SigningState {
        self.guard.state()
    }

    pub fn public_key(&self) -> PublicKey {
        self.guard.public()
    }

    /// The messages the signing state records for (`height`, `round`), rebuilt from their
    /// signatures.
    fn signed_in(&self, height: u64, round: u32) -> Vec<Message> {
        let st = self.guard.state();
        if st.height != height || st.round != round {
            return Vec::new();
        }
        let signer = self.guard.public();
        let chain_id = &self.config.chain_id;
        st.signed
            .iter()
            .filter_map(|r| {
                let kind = match r.step {
                    Step::Propose => {
                        return r.block.map(|block| {
                            Message::Proposal(SignedProposal {
                                proposal: Proposal {
                                    chain_id: chain_id.clone(),
                                    height,
                                    round,
                                    block,
                                    valid_round: r.valid_round,
                                },
                                signer,
                                signature: r.signature,
                            })
                        })
                    }
                    Step::Prevote => VoteKind::Prevote,
                    Step::Precommit => VoteKind::Precommit,
                };
                Some(Message::Vote(SignedVote {
                    vote: VoteData {
                        chain_id: chain_id.clone(),
                        height,
                        round,
                        kind,
                        block: r.block,
                    },
                    signer,
                    signature: r.signature,
                }))
            })
            .collect()
    }

    /// Lines 52–54 (the new height) and the `upon start` of Algorithm 1.
    fn start_height(&mut self, height: u64, validators: ValidatorSet, out: &mut Vec<Output>) {
        if validators.is_empty() || self.current.as_ref().is_some_and(|h| height <= h.height) {
            self.stats.wrong_height += 1;
            return;
        }
        let hs = HeightState::new(height, validators, &self.guard);
        let round = hs.round;
        self.current = Some(hs);
        self.with_height(height, out, |hs, ctx| hs.start_round(round, ctx));
        // Resuming a height after a restart: what this validator signed in its round may
        // never have left (or reached only some), and the process that knew is gone. The
        // signing state has every signature: send them again, and count them here.
        for msg in self.signed_in(height, round) {
            out.push(Output::Broadcast(msg.clone()));
            self.on_message(msg, out);
        }
        for msg in std::mem::take(&mut self.future) {
            if msg.height() == height {
                self.on_message(msg, out);
            }
        }
    }

    /// Runs `f` on the current height if it is `height` and undecided, then the rules.
    fn with_height(
        &mut self,
        height: u64,
        out: &mut Vec<Output>,
        f: impl FnOnce(&mut HeightState, &mut Ctx),
    ) {
        let Some(hs) = self.current.as_mut() else {
            return;
        };
        if hs.height != height || hs.decided.is_some() {
            return;
        }
        let mut ctx = Ctx {
            config: &self.config,
            guard: &mut self.guard,
            stats: &mut self.stats,
            out,
        };
        f(hs, &mut ctx);
        hs.run_rules(&mut ctx);
    }

    fn reject(&mut self, why: Rejection, out: &mut Vec<Output>) {
        self.stats.rejected += 1;
        out.push(Output::Rejected(why));
    }

    fn on_message(&mut self, msg: Message, out: &mut Vec<Output>) {
        let chain_id = match &msg {
            Message::Proposal(p) => &p.proposal.chain_id,
            Message::Vote(v) => &v.vote.chain_id,
        };
        if *chain_id != self.config.chain_id {
            let why = Rejection::WrongChain(chain_id.clone());
            return self.reject(why, out);
        }
        let height = msg.height();
        let (current_height, decided) = match &self.current {
            Some(h) => (h.height, h.decided.is_some()),
            None => (0, true),
        };
        if height != current_height || decided {
            // The next height's messages wait (checked against its set once it starts);
            // older ones, and anything further ahead, need catch-up, not consensus.
            let next = self.current.is_none() || height == current_height.saturating_add(1);
            if height > current_height && next {
                if self.future.len() < self.config.max_future_messages {
                    self.future.push(msg);
                } else {
                    self.stats.future_dropped += 1;
                }
            } else {
                self.stats.wrong_height += 1;
            }
            return;
        }
        let Some(hs) = self.current.as_ref() else {
            return;
        };
        let round = msg.round();
        if round > hs.round.saturating_add(self.config.max_round_lookahead) {
            let why = Rejection::RoundTooFarAhead {
                round,
                current: hs.round,
                lookahead: self.config.max_round_lookahead,
            };
            return self.reject(why, out);
        }
        let checked = match &msg {
            Message::Vote(v) => {
                if hs.log.has_exact_vote(v) {
                    self.stats.duplicates += 1;
                    return;
                }
                v.verify(&hs.validators)
            }
            Message::Proposal(p) => {
                if hs.log.has_exact_proposal(p) {
                    self.stats.duplicates += 1;
                    return;
                }
                p.verify(&hs.validators).and_then(|()| {
                    let pr = &p.proposal;
                    if hs.proposer(pr.round) != Some(p.signer) {
                        Err(Rejection::NotProposer {
                            round: pr.round,
                            signer: p.signer,
                        })
                    } else if let Some(vr) = pr.valid_round.filter(|vr| *vr >= pr.round) {
                        Err(Rejection::BadValidRound {
                            round: pr.round,
                            valid_round: vr,
                        })
                    } else {
                        Ok(())
                    }
                })
            }
        };
        if let Err(why) = checked {
            return self.reject(why, out);
        }
        self.check_own_signature(&msg, out);
        self.with_height(height, out, |hs, ctx| {
            hs.add_message(msg, ctx);
        });
    }
}
