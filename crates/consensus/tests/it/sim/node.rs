//! One validator's node loop: feeds an input to its core and carries out the outputs the
//! way ADR 006 says a node must — persist before broadcast, arm timers (at the validator's
//! own clock rate), answer `CheckBlock` by executing the block on its own ledger and
//! `ProposeBlock` by building one from its mempool, apply a `Commit` and start the next
//! height — checking the consensus-level invariants on the way: certificates verify, no
//! two blocks are decided at one height, an honest validator never signs two conflicting
//! messages nor sends one before persisting it, honest blocks are valid everywhere,
//! evidence only names the Byzantine validator, and no honest message is rejected.

use super::app::SimBlock;
use super::world::{Event, Sim};
use couponchain_chain::block::{CommitCertificate, VoteKind};
use couponchain_chain::Hash;
use couponchain_consensus::{Input, Message, Output};
use couponchain_runtime::testkit::CHAIN_ID;

/// A block whose time is further than this ahead of a validator's clock gets its verdict
/// only once the clock catches up (the node's block-time bound, made to wait rather than
/// refuse so that valid(v) stays the same at every honest validator).
pub const MAX_FUTURE_MS: u64 = 1_000;

impl Sim {
    pub(super) fn run_node(&mut self, i: usize, input: Input) {
        let mut work = vec![input];
        while let Some(input) = work.pop() {
            let shown = if self.trace {
                format!("{input:?}")
            } else {
                String::new()
            };
            let outs = self.nodes[i].core.handle(input);
            if self.trace {
                let v = crate::common::view(&outs);
                let c = &self.nodes[i].core;
                eprintln!(
                    "{:>6} n{i} h{:?}/r{:?}/{:?} <- {shown:.160}\n{:>6}    -> {v:?}",
                    self.now,
                    c.height(),
                    c.round(),
                    c.step(),
                    ""
                );
            }
            if let Some(r) = self.nodes[i].core.round() {
                self.max_round = self.max_round.max(r);
            }
            let proof = self.nodes[i].core.valid_proof();
            if !proof.is_empty() {
                self.nodes[i].persisted_proof = proof;
            }
            let inc = self.nodes[i].incarnation;
            let local = |input| Event::Local {
                node: i,
                incarnation: inc,
                input,
            };
            for o in outs {
                match o {
                    Output::Persist(s) => self.nodes[i].persisted = s,
                    Output::Broadcast(m) => {
                        if self.honest(i) {
                            self.check_signed(i, &m);
                        }
                        let sent = &mut self.nodes[i].sent;
                        if sent.iter().any(|s| s.round() < m.round()) {
                            sent.retain(|s| s.round() >= m.round());
                        }
                        sent.push(m.clone());
                        self.broadcast(i, m);
                    }
                    Output::ScheduleTimeout {
                        height,
                        round,
                        step,
                        duration_ms,
                    } => {
                        let d = self.nodes[i].clock.timer(duration_ms);
                        let input = Input::TimeoutFired {
                            height,
                            round,
                            step,
                        };
                        self.at(d, local(input));
                    }
                    Output::CheckBlock {
                        height,
                        round,
                        block,
                    } => {
                        let (valid, wait) = self.check_block(i, height, block);
                        let d = 1 + self.rng.below(20) + wait;
                        let input = Input::BlockChecked {
                            height,
                            round,
                            block,
                            valid,
                        };
                        self.at(d, local(input));
                    }
                    Output::ProposeBlock { height, round } => {
                        let block = self.build_block(i, height);
                        let d = 1 + self.rng.below(20);
                        let input = Input::BlockBuilt {
                            height,
                            round,
                            block,
                        };
                        self.at(d, local(input));
                    }
                    Output::Commit {
                        height,
                        block,
                        certificate,
                        ..
                    } => work.push(self.on_commit(i, height, block, &certificate)),
                    Output::Evidence(e) => {
                        let offender = self.set.validators.binary_search(&e.offender()).ok();
                        if offender != self.byz {
                            self.fail(format!("evidence against an honest validator: {e:?}"));
                        }
                        self.evidence += 1;
                    }
                    Output::KeyUsedElsewhere {
                        height,
                        round,
                        step,
                    } => {
                        // Only the equivocator's own core can see its key sign what it did
                        // not (its twins, relayed back); an honest one never may, through
                        // crashes, restarts, duplicates and relays.
                        if self.honest(i) {
                            self.fail(format!(
                                "honest validator {i} saw its own key used elsewhere at \
                                 {height}/{round}/{step:?}"
                            ));
                        }
                    }
                    Output::Rejected(r) => self.fail(format!("validator {i} rejected {r:?}")),
                }
            }
        }
    }

    /// Checks an honest validator's outgoing message: persisted first, never conflicting.
    fn check_signed(&mut self, from: usize, msg: &Message) {
        let (sig, key, content) = match msg {
            Message::Proposal(p) => {
                let pr = &p.proposal;
                let key = (from, pr.height, pr.round, 0);
                (p.signature, key, (Some(pr.block), pr.valid_round))
            }
            Message::Vote(v) => {
                let step = if v.vote.kind == VoteKind::Prevote {
                    1
                } else {
                    2
                };
                let key = (from, v.vote.height, v.vote.round, step);
                (v.signature, key, (v.vote.block, None))
            }
        };
        let persisted = &self.nodes[from].persisted.signed;
        if !persisted.iter().any(|r| r.signature == sig) {
            self.fail(format!(
                "validator {from} broadcast {msg:?} before persisting it"
            ));
        }
        if let Some(prev) = self.signed.insert(key, content) {
            if prev != content {
                self.fail(format!(
                    "validator {from} signed conflicting {key:?}: {prev:?} then {content:?}"
                ));
            }
        }
    }

    pub(super) fn store_block(&mut self, b: SimBlock) -> Hash {
        let h = b.hash();
        if !self.blocks.contains_key(&h) {
            self.by_height.entry(b.header.height).or_default().push(h);
            self.blocks.insert(h, b);
        }
        h
    }

    /// getValue(): validator `i` builds a block on its ledger at its clock's time.
    fn build_block(&mut self, i: usize, height: u64) -> Hash {
        let applied = self.nodes[i].app.ledger.height;
        if applied + 1 != height {
            self.fail(format!(
                "validator {i} asked to propose {height} on {applied}"
            ));
        }
        let node = &mut self.nodes[i];
        let time = node.app.ledger.time_ms.max(node.clock.read(self.now));
        let mut b = node.app.build(&self.set, node.key.public(), time);
        b.honest = self.honest(i);
        self.store_block(b)
    }

    /// valid(v) at validator `i`, and how long its verdict waits for the clock.
    fn check_block(&mut self, i: usize, height: u64, hash: Hash) -> (bool, u64) {
        // A hash with no body (a Byzantine vote's invention) never becomes valid.
        let Some(b) = self.blocks.get(&hash).cloned() else {
            return (false, 0);
        };
        if b.header.height != height {
            return (false, 0);
        }
        let node = &mut self.nodes[i];
        match node.app.check(&b, &self.set) {
            Ok(()) => {
                let t = b.header.time_ms;
                let wait = if t > node.app.ledger.time_ms {
                    node.clock.until(self.now, t.saturating_sub(MAX_FUTURE_MS))
                } else {
                    0
                };
                (true, wait)
            }
            Err(why) => {
                if b.honest && self.honest(i) {
                    self.fail(format!(
                        "STATE: validator {i} finds honest block {hash:?} at height {height} invalid: {why}"
                    ));
                }
                (false, 0)
            }
        }
    }

    fn on_commit(&mut self, i: usize, height: u64, block: Hash, cert: &CommitCertificate) -> Input {
        let Some(b) = self.blocks.get(&block).cloned() else {
            self.fail(format!("validator {i} committed unknown block {block:?}"));
        };
        if let Err(e) = cert.verify(CHAIN_ID, &b.header, &self.set) {
            self.fail(format!("validator {i}: certificate does not verify: {e}"));
        }
        match self.decided.get(&height) {
            Some(d) if *d != block => self.fail(format!(
                "AGREEMENT: validator {i} committed {block:?} at height {height}, another {d:?}"
            )),
            Some(_) => {}
            None => {
                self.decided.insert(height, block);
                self.certs.insert(height, cert.clone());
                self.on_decision();
            }
        }
        self.apply_final(i, &b);
        Input::StartHeight {
            height: height + 1,
            validators: self.set.clone(),
        }
    }

    /// Validator `i` applies final block `b` (decided, or fetched with its certificate).
    pub(super) fn apply_final(&mut self, i: usize, b: &SimBlock) {
        let height = b.header.height;
        let receipts = match self.nodes[i].app.commit(b, &self.set) {
            Ok(r) => r,
            Err(e) => self.fail(format!("validator {i} cannot apply final {height}: {e}")),
        };
        self.last_final[i] = self.now;
        if self.honest(i) {
            let ledger = &self.nodes[i].app.ledger;
            match self.checker.on_commit(b, &receipts, ledger) {
                Ok(true) => {
                    let subs = self.client.on_final(&mut self.rng, &receipts, self.now);
                    self.submit_all(subs);
                }
                Ok(false) => {}
                Err(e) => self.fail(e),
            }
        }
    }
}
