//! How messages and blocks reach validators besides a direct broadcast.
//!
//! Relay, as the node does it (`crates/node/src/node/consensus.rs::rebroadcast`): every
//! `STALL_MS` a validator that has applied nothing for that long sends every other validator
//! what `Consensus::relay` returns (the proposals and counted votes, its own and others', of
//! its current, valid and locked rounds, and of the valid round its current proposal names)
//! and its own messages of its latest round.
//!
//! Gossip (the profiles with `gossip` set): besides, every 250 ms each validator is offered
//! the messages of its current height it has not been offered yet (everything again after a
//! partition heals, at GST and after a restart) — the delivery Algorithm 1's liveness
//! assumes (ADR 006), stronger than the node's: it still holds the messages a crashed
//! validator had received, which the node forgets with its process. The profiles without
//! it hold the node's relay alone to that assumption: a restarted validator has only its
//! signing state and its kept proof of its valid value.
//!
//! Catch-up, as the node does it (`crates/node/src/node/follow.rs`): a validator that
//! hears a message for a later height, or has applied nothing for `STALL_MS`, asks a
//! random peer for the certified blocks after its head (at most `MAX_SYNC_BLOCKS`),
//! verifies each certificate, executes and applies the blocks, and starts its core at the
//! new height. Request and answer cross the same network as consensus messages: they can
//! be lost, delayed or cut by a partition, and a later trigger asks again.

use super::world::{Event, Sim};
use couponchain_consensus::{Input, Message};
use couponchain_runtime::testkit::CHAIN_ID;

/// How often gossip offers each validator what it has not been offered yet.
pub const GOSSIP_INTERVAL_MS: u64 = 250;
/// A validator that applied nothing for this long asks a peer for final blocks and relays;
/// it checks this often (the node's `STALL_CHECK` tick).
pub const STALL_MS: u64 = 2_000;
const MAX_SYNC_BLOCKS: u64 = 16;

impl Sim {
    /// Validator `i` asks a random peer for the final blocks after its head.
    pub(super) fn fetch(&mut self, i: usize) {
        if self.fetching[i] || !self.nodes[i].up {
            return;
        }
        let n = self.n();
        let peer = (i + 1 + self.rng.index(n - 1)) % n;
        let there = self.network.delays(&mut self.rng, i, peer);
        let back = self.network.delays(&mut self.rng, peer, i);
        let (Some(a), Some(b)) = (there.first(), back.first()) else {
            return;
        };
        if !self.nodes[peer].up {
            return;
        }
        self.fetching[i] = true;
        let incarnation = self.nodes[i].incarnation;
        self.at(
            a + b,
            Event::Fetched {
                node: i,
                peer,
                incarnation,
            },
        );
    }

    /// The peer's answer: its final blocks after `i`'s head, each with its certificate.
    pub(super) fn on_fetched(&mut self, i: usize, peer: usize, incarnation: u32) {
        if !self.nodes[i].up || self.nodes[i].incarnation != incarnation {
            return;
        }
        self.fetching[i] = false;
        let from = self.nodes[i].app.ledger.height + 1;
        let to = self.nodes[peer]
            .app
            .ledger
            .height
            .min(from + MAX_SYNC_BLOCKS - 1);
        let mut applied = 0;
        for h in from..=to {
            let (Some(hash), Some(cert)) = (self.decided.get(&h), self.certs.get(&h)) else {
                break;
            };
            let (b, cert) = (self.blocks[hash].clone(), cert.clone());
            if let Err(e) = cert.verify(CHAIN_ID, &b.header, &self.set) {
                self.fail(format!(
                    "validator {i}: fetched certificate of {h} fails: {e}"
                ));
            }
            self.apply_final(i, &b);
            applied += 1;
        }
        if applied > 0 {
            self.caught_up += applied;
            let start = Input::StartHeight {
                height: self.nodes[i].app.ledger.height + 1,
                validators: self.set.clone(),
            };
            self.run_node(i, start);
        }
    }

    /// Every validator that applied nothing for `STALL_MS` fetches.
    pub(super) fn stall_check(&mut self) {
        for i in 0..self.n() {
            if self.now.saturating_sub(self.last_final[i]) >= STALL_MS {
                self.fetch(i);
            }
        }
    }

    /// Every validator that applied nothing for `STALL_MS` relays (see the module doc).
    pub(super) fn relay(&mut self) {
        for j in 0..self.n() {
            if !self.nodes[j].up || self.now.saturating_sub(self.last_final[j]) < STALL_MS {
                continue;
            }
            let Some(h) = self.nodes[j].core.height() else {
                continue;
            };
            let mut msgs = self.nodes[j].core.relay();
            for m in self.nodes[j].sent.iter().filter(|m| m.height() == h) {
                if !msgs.contains(m) {
                    msgs.push(m.clone());
                }
            }
            for to in (0..self.n()).filter(|to| *to != j) {
                for m in &msgs {
                    self.send(j, to, m.clone());
                }
            }
        }
    }

    /// Each validator is offered the messages of its current height it has not been
    /// offered yet — including its own, which a restarted validator forgot (peers re-send
    /// them) and the precommits a lagging validator still needs (as Tendermint's gossip
    /// sends a peer the commit of its height).
    pub(super) fn gossip(&mut self) {
        for i in 0..self.n() {
            let Some(h) = self.nodes[i].core.height().filter(|_| self.nodes[i].up) else {
                continue;
            };
            let from = self.offered[i].get(&h).copied().unwrap_or(0);
            let msgs: Vec<(usize, Message)> = self
                .log
                .get(&h)
                .map(|l| l[from.min(l.len())..].to_vec())
                .unwrap_or_default();
            self.offered[i].insert(h, from + msgs.len());
            for (sender, m) in msgs {
                self.send(sender, i, m);
            }
        }
    }

    /// Puts one message from `from` to `to` on the network.
    pub(super) fn send(&mut self, from: usize, to: usize, msg: Message) {
        for d in self.network.delays(&mut self.rng, from, to) {
            self.at(
                d,
                Event::Deliver {
                    to,
                    msg: msg.clone(),
                },
            );
        }
    }
}
