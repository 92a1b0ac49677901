//! Broadcast, and the one Byzantine validator's equivocation.
//!
//! The Byzantine validator runs the honest core, but each of its messages reaches about
//! half of its peers as a conflicting twin, properly signed with its key (no guard): a
//! vote for another block, for nil, or for a hash with no body; and in its rounds as
//! proposer, a second proposal of an alternative block. That block is valid but different
//! (other transactions or order, another time, or a time ahead of every clock, whose
//! verdict waits), or invalid (a wrong state root, time going back, a transaction twice).

use super::app::SimBlock;
use super::world::Sim;
use couponchain_chain::block::{tx_root, VoteData};
use couponchain_chain::{Hash, TxId};
use couponchain_consensus::{Message, Proposal, SignedProposal, SignedVote};

impl Sim {
    /// Sends `msg` from `from` to every other validator (twins for some, if `from` is
    /// Byzantine) and keeps it for gossip.
    pub(super) fn broadcast(&mut self, from: usize, msg: Message) {
        self.log
            .entry(msg.height())
            .or_default()
            .push((from, msg.clone()));
        for to in 0..self.n() {
            if to == from {
                continue;
            }
            if !self.honest(from) && self.rng.chance(50) {
                let twin = self.twin(from, &msg);
                self.log
                    .entry(twin.height())
                    .or_default()
                    .push((from, twin.clone()));
                self.send(from, to, twin);
            } else {
                self.send(from, to, msg.clone());
            }
        }
    }

    /// A conflicting twin of `msg`, properly signed.
    fn twin(&mut self, from: usize, msg: &Message) -> Message {
        let key = self.nodes[from].key.clone();
        match msg {
            Message::Vote(v) => {
                let others: Vec<Hash> = self
                    .by_height
                    .get(&v.vote.height)
                    .map(|hs| {
                        hs.iter()
                            .copied()
                            .filter(|h| Some(*h) != v.vote.block)
                            .collect()
                    })
                    .unwrap_or_default();
                let block = match v.vote.block {
                    Some(_) if self.rng.chance(40) => None,
                    _ if !others.is_empty() && self.rng.chance(60) => {
                        Some(others[self.rng.index(others.len())])
                    }
                    _ => Some(Hash([self.rng.below(3) as u8 + 1; 32])),
                };
                let data = VoteData {
                    block,
                    ..v.vote.clone()
                };
                Message::Vote(SignedVote::sign(data, &key))
            }
            Message::Proposal(p) => {
                let pr = &p.proposal;
                let block = match self.twins.get(&(pr.height, pr.round)) {
                    Some(b) => *b,
                    None => {
                        let b = self.twin_block(from, pr);
                        self.twins.insert((pr.height, pr.round), b);
                        b
                    }
                };
                let proposal = Proposal {
                    block,
                    ..pr.clone()
                };
                Message::Proposal(SignedProposal::sign(proposal, &key))
            }
        }
    }

    /// An alternative to the block `pr` proposes, built on the Byzantine ledger.
    fn twin_block(&mut self, from: usize, pr: &Proposal) -> Hash {
        let Some(base) = self.blocks.get(&pr.block).cloned() else {
            return Hash([9; 32]);
        };
        let h = base.header.clone();
        let set = self.set.clone();
        let variant = self.rng.below(5);
        let app = &mut self.nodes[from].app;
        let made = match variant {
            0 => {
                let mut txs = base.txs.clone();
                txs.reverse();
                if txs.len() > 1 && self.rng.chance(50) {
                    txs.pop();
                }
                let t = h.time_ms + self.rng.range(1, 800);
                app.make(&set, h.proposer, t, txs)
            }
            1 => {
                let t = h.time_ms + self.rng.range(2_000, 5_000);
                app.make(&set, h.proposer, t, base.txs.clone())
            }
            _ => None,
        };
        let twin = made.unwrap_or_else(|| {
            let mut b = SimBlock {
                honest: false,
                ..base.clone()
            };
            match variant {
                3 => b.header.time_ms = app.ledger.time_ms.saturating_sub(1),
                4 if !b.txs.is_empty() => {
                    b.txs.push(b.txs[0].clone());
                    let ids: Vec<TxId> = b.txs.iter().map(|t| t.id()).collect();
                    b.header.tx_root = tx_root(&ids);
                    b.header.tx_count = ids.len() as u32;
                }
                _ => b.header.state_root = Hash([self.rng.below(256) as u8; 32]),
            }
            b
        });
        self.store_block(twin)
    }
}
