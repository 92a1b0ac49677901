//! The fault schedule of a run and what each fault does.
//!
//! Before GST (chosen per seed): one to three crashes of random validators (the Byzantine
//! one does not crash), each restarted 0.2–3.2 s later; up to two partitions into two
//! random non-empty groups, each healing after 0.5–4 s (at GST at the latest); and, with
//! the network fault, loss, duplication and long delays (`network.rs`). A crash loses the
//! core, the timers (their events carry the old incarnation), the mempool and the
//! executed-block cache; the restart builds a new core from the last persisted
//! `SigningState` and starts it after the durable ledger's head. At GST every fault stops,
//! gossip offers everything again, and the liveness target is set.

use super::network::Partition;
use super::world::{config, Event, Sim, MIN_HEIGHTS};
use couponchain_consensus::{Consensus, Input};
use std::collections::BTreeMap;

impl Sim {
    /// Schedules the faults of this run, all before GST.
    pub(super) fn schedule_faults(&mut self) {
        let n = self.n();
        if self.profile.crashes {
            for _ in 0..1 + self.rng.below(3) {
                let node = self.rng.index(n);
                let when = self.rng.below(self.gst);
                self.at(when, Event::Crash { node });
            }
        }
        if self.profile.partitions {
            let mut t = self.rng.below(2_000);
            for _ in 0..2 {
                if t + 500 >= self.gst {
                    break;
                }
                let end = (t + self.rng.range(500, 4_000)).min(self.gst);
                let p = Partition::random(&mut self.rng, n);
                self.at(t, Event::Split(p));
                self.at(end, Event::Join);
                t = end + self.rng.below(3_000);
            }
        }
        self.at(self.gst, Event::Gst);
    }

    pub(super) fn crash(&mut self, node: usize) {
        if !self.honest(node) || !self.nodes[node].up {
            return;
        }
        let n = &mut self.nodes[node];
        n.up = false;
        n.incarnation += 1;
        n.app.crash();
        let d = self.rng.range(200, 3_200);
        self.at(d, Event::Restart { node });
    }

    pub(super) fn restart(&mut self, node: usize) {
        self.last_restart = self.now;
        let n = &mut self.nodes[node];
        n.core = Consensus::new(config(), n.key.clone(), n.persisted.clone());
        n.up = true;
        let height = n.app.ledger.height + 1;
        self.offered[node].clear();
        self.fetching[node] = false;
        self.nodes[node].sent.clear();
        self.last_final[node] = self.now;
        let start = Input::StartHeight {
            height,
            validators: self.set.clone(),
        };
        self.run_node(node, start);
        // The kept proof of its valid value, fed back as the node does.
        for v in self.nodes[node].persisted_proof.clone() {
            self.run_node(node, Input::Vote(v));
        }
    }

    /// A partition heals: reconnected peers exchange what they missed.
    pub(super) fn join(&mut self) {
        self.network.partition = None;
        self.offered.iter_mut().for_each(BTreeMap::clear);
    }

    pub(super) fn gst(&mut self) {
        self.healed = true;
        self.network.lossy = false;
        self.network.partition = None;
        self.offered.iter_mut().for_each(BTreeMap::clear);
        self.target = MIN_HEIGHTS.max(self.next_target());
    }
}
