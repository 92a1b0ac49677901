//! The simulated world: validators, the event queue and the run loop.
//!
//! Events are ordered by (simulated time, sequence number) in a `BTreeMap`, so ties break
//! by insertion order and a run is a pure function of its seed. A run picks its size
//! (4–7 validators), the Byzantine validator if any, each clock, GST and the client
//! workload from the seed, schedules its faults (`faults.rs`), and ends once every honest
//! validator has applied `target` heights: GST, and every client submission after it,
//! sets the target to enough heights past the last decided one for every validator to
//! propose. Liveness fails the run if, after GST (or a later restart), no new height is
//! decided for `HEIGHT_BOUND_MS` or the target is not reached within `LIVENESS_BOUND_MS`.

use super::app::{App, Ledger, SimBlock};
use super::checks::{Checker, Coverage};
use super::network::{Clock, Network, Partition, Rng};
use super::relay::{GOSSIP_INTERVAL_MS, STALL_MS};
use super::workload::{Client, Submit, HOLDERS};
use super::Profile;
use crate::common::{keys, set};
use couponchain_chain::block::{CommitCertificate, ValidatorSet};
use couponchain_chain::{Hash, Keypair, SignedTransaction};
use couponchain_consensus::{
    Consensus, ConsensusConfig, Input, Message, SignedVote, SigningState, TimeoutConfig,
};
use couponchain_runtime::testkit::{Actors, CHAIN_ID};
use std::collections::BTreeMap;

/// After GST (and the last restart), every honest validator reaches the target within this.
pub const LIVENESS_BOUND_MS: u64 = 60_000;
/// After GST (and the last restart), the next height is decided within this.
pub const HEIGHT_BOUND_MS: u64 = 15_000;
const MAX_EVENTS: u64 = 2_000_000;
/// Heights every run decides at least.
pub(super) const MIN_HEIGHTS: u64 = 4;

/// (signer, height, round, step 0/1/2) of an honest validator's signed message.
pub(super) type SignKey = (usize, u64, u32, u8);
/// (block, valid round) it signed there.
pub(super) type SignedContent = (Option<Hash>, Option<u32>);

pub(super) enum Event {
    Deliver {
        to: usize,
        msg: Message,
    },
    Local {
        node: usize,
        incarnation: u32,
        input: Input,
    },
    Submit {
        to: usize,
        tx: SignedTransaction,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Split(Partition),
    Join,
    Fetched {
        node: usize,
        peer: usize,
        incarnation: u32,
    },
    Gst,
    Gossip,
    Stall,
}

pub(super) struct Node {
    pub core: Consensus,
    pub key: Keypair,
    pub incarnation: u32,
    pub up: bool,
    pub persisted: SigningState,
    /// The proof of its valid value, kept as the node keeps it (`lock-proof.bin`).
    pub persisted_proof: Vec<SignedVote>,
    /// Its own messages of its latest round since it (re)started, as the node's `sent`.
    pub sent: Vec<Message>,
    pub app: App,
    pub clock: Clock,
}

pub struct Sim {
    pub(super) seed: u64,
    pub(super) profile: Profile,
    pub(super) rng: Rng,
    pub(super) now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    pub(super) nodes: Vec<Node>,
    pub(super) set: ValidatorSet,
    pub(super) byz: Option<usize>,
    pub(super) network: Network,
    pub(super) gst: u64,
    pub(super) healed: bool,
    pub(super) target: u64,
    pub(super) last_restart: u64,
    /// Every message broadcast, by height, with its sender: what gossip still offers.
    pub(super) log: BTreeMap<u64, Vec<(usize, Message)>>,
    /// Per validator and height: how many of `log[height]` gossip has offered it.
    pub(super) offered: Vec<BTreeMap<u64, usize>>,
    /// Block bodies by hash, and the hashes of each height.
    pub(super) blocks: BTreeMap<Hash, SimBlock>,
    pub(super) by_height: BTreeMap<u64, Vec<Hash>>,
    /// The block decided at each height (by anyone), and its first certificate.
    pub(super) decided: BTreeMap<u64, Hash>,
    pub(super) certs: BTreeMap<u64, CommitCertificate>,
    /// Per validator: a catch-up request is out; when it last applied a block.
    pub(super) fetching: Vec<bool>,
    pub(super) last_final: Vec<u64>,
    /// What each honest validator signed.
    pub(super) signed: BTreeMap<SignKey, SignedContent>,
    /// A Byzantine proposer's alternative block per (height, round).
    pub(super) twins: BTreeMap<(u64, u32), Hash>,
    pub(super) checker: Checker,
    pub(super) client: Client,
    pub(super) trace: bool,
    pub evidence: u64,
    pub max_round: u32,
    /// Blocks applied through catch-up rather than the validator's own decision.
    pub caught_up: u64,
    /// When a height was last first decided.
    pub(super) last_decision: u64,
    /// The longest wait for the next decided height after GST (or a later restart).
    pub max_gap_ms: u64,
}

pub(super) fn config() -> ConsensusConfig {
    ConsensusConfig {
        timeouts: TimeoutConfig {
            propose_base_ms: 400,
            propose_delta_ms: 200,
            prevote_base_ms: 200,
            prevote_delta_ms: 100,
            precommit_base_ms: 200,
            precommit_delta_ms: 100,
        },
        ..ConsensusConfig::new(CHAIN_ID)
    }
}

impl Sim {
    pub fn new(seed: u64, profile: Profile) -> Sim {
        let mut rng = Rng(seed ^ profile.salt);
        let n = 4 + rng.index(4);
        let ks = keys(n);
        let set = set(&ks);
        let genesis = Actors::new(n, HOLDERS).genesis();
        assert_eq!(
            genesis.validator_set(),
            set,
            "testkit validators are common::keys"
        );
        let ledger = Ledger::genesis(&genesis);
        let byz = profile.byzantine.then(|| rng.index(n));
        let nodes = ks
            .iter()
            .map(|k| Node {
                core: Consensus::new(config(), k.clone(), SigningState::default()),
                key: k.clone(),
                incarnation: 0,
                up: true,
                persisted: SigningState::default(),
                persisted_proof: Vec::new(),
                sent: Vec::new(),
                app: App::new(ledger.clone()),
                clock: Clock::random(&mut rng),
            })
            .collect();
        let gst = if profile.faulty() {
            rng.range(4_000, 10_000)
        } else {
            0
        };
        let (client, subs) = Client::new(&mut rng, n);
        let mut sim = Sim {
            seed,
            profile,
            rng,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            set,
            byz,
            network: Network {
                lossy: profile.network,
                partition: None,
            },
            gst,
            healed: false,
            target: MIN_HEIGHTS,
            last_restart: 0,
            log: BTreeMap::new(),
            offered: vec![BTreeMap::new(); n],
            blocks: BTreeMap::new(),
            by_height: BTreeMap::new(),
            decided: BTreeMap::new(),
            certs: BTreeMap::new(),
            fetching: vec![false; n],
            last_final: vec![0; n],
            signed: BTreeMap::new(),
            twins: BTreeMap::new(),
            checker: Checker::default(),
            client,
            trace: std::env::var("SIM_TRACE").is_ok(),
            evidence: 0,
            max_round: 0,
            caught_up: 0,
            last_decision: 0,
            max_gap_ms: 0,
        };
        sim.submit_all(subs);
        sim
    }

    pub(super) fn n(&self) -> usize {
        self.nodes.len()
    }

    pub(super) fn fail(&self, what: String) -> ! {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                let c = &n.core;
                format!(
                    "h{:?} r{:?} {:?} up={} applied={} locked={:?} valid={:?} {:?} {:?}",
                    c.height(),
                    c.round(),
                    c.step(),
                    n.up,
                    n.app.ledger.height,
                    c.locked(),
                    c.valid(),
                    n.clock,
                    c.stats()
                )
            })
            .collect();
        panic!(
            "sim seed {} ({}: {} validators, byzantine {:?}, GST {} ms) failed at {} ms: {what}\n  nodes: {nodes:#?}\n  replay: SIM_SEED={} cargo test -p couponchain-consensus --test it {}",
            self.seed,
            self.profile.test,
            self.n(),
            self.byz,
            self.gst,
            self.now,
            self.seed,
            self.profile.test
        )
    }

    pub(super) fn at(&mut self, delay_ms: u64, e: Event) {
        self.seq += 1;
        self.queue.insert((self.now + delay_ms, self.seq), e);
    }

    pub(super) fn honest(&self, i: usize) -> bool {
        Some(i) != self.byz
    }

    pub(super) fn submit_all(&mut self, subs: Vec<Submit>) {
        for s in subs {
            self.at(s.delay_ms, Event::Submit { to: s.to, tx: s.tx });
        }
    }

    /// A height was first decided (by anyone): track the wait since the last one.
    pub(super) fn on_decision(&mut self) {
        if self.healed {
            let since = self.last_decision.max(self.gst).max(self.last_restart);
            self.max_gap_ms = self.max_gap_ms.max(self.now - since);
        }
        self.last_decision = self.now;
    }

    /// Enough heights after the last decided one for every validator to propose once.
    pub(super) fn next_target(&self) -> u64 {
        let decided = self.decided.keys().next_back().copied().unwrap_or(0);
        decided + self.n() as u64 + 2
    }

    fn done(&self) -> bool {
        self.healed
            && (0..self.n())
                .filter(|i| self.honest(*i))
                .all(|i| self.nodes[i].app.ledger.height >= self.target)
    }

    /// Runs to the end; returns what the coupon workload exercised.
    pub fn run(&mut self) -> Coverage {
        for i in 0..self.n() {
            let start = Input::StartHeight {
                height: 1,
                validators: self.set.clone(),
            };
            self.run_node(i, start);
        }
        self.schedule_faults();
        self.at(GOSSIP_INTERVAL_MS, Event::Gossip);
        self.at(STALL_MS, Event::Stall);
        let mut events = 0u64;
        while !self.done() {
            events += 1;
            if events > MAX_EVENTS {
                self.fail(format!("LIVENESS: no progress after {MAX_EVENTS} events"));
            }
            let Some(((t, _), e)) = self.queue.pop_first() else {
                self.fail("LIVENESS: nothing left to happen".into());
            };
            self.now = t;
            let since = self.gst.max(self.last_restart);
            if self.healed && self.now > since.max(self.last_decision) + HEIGHT_BOUND_MS {
                self.fail(format!(
                    "LIVENESS: no height decided for {HEIGHT_BOUND_MS} ms after GST/restart"
                ));
            }
            if self.healed && self.now > since + LIVENESS_BOUND_MS {
                let heights: Vec<u64> = self.nodes.iter().map(|n| n.app.ledger.height).collect();
                self.fail(format!(
                    "LIVENESS: applied heights {heights:?}, target {}, {LIVENESS_BOUND_MS} ms after GST/restart",
                    self.target
                ));
            }
            self.step(e);
        }
        match self.checker.coverage(&self.client) {
            Ok(c) => c,
            Err(e) => self.fail(e),
        }
    }

    fn step(&mut self, e: Event) {
        match e {
            Event::Deliver { to, msg } if self.nodes[to].up => {
                // The equivocator ignores its own twins relayed back: a real one would, and
                // its core would otherwise see its key used elsewhere and stop signing,
                // leaving a crashed validator instead of a Byzantine one.
                if !self.honest(to) && msg.signer() == self.nodes[to].key.public() {
                    return;
                }
                if msg.height() > self.nodes[to].core.height().unwrap_or(0) {
                    self.fetch(to);
                }
                let input = match msg {
                    Message::Proposal(p) => Input::Proposal(p),
                    Message::Vote(v) => Input::Vote(v),
                };
                self.run_node(to, input);
            }
            Event::Deliver { .. } => {}
            Event::Local {
                node,
                incarnation,
                input,
            } => {
                if self.nodes[node].up && self.nodes[node].incarnation == incarnation {
                    self.run_node(node, input);
                }
            }
            Event::Submit { to, tx } => {
                if self.nodes[to].up {
                    self.nodes[to].app.submit(tx);
                }
                if self.healed {
                    // Run on until every validator had a turn to propose it.
                    self.target = self.target.max(self.next_target());
                }
            }
            Event::Crash { node } => self.crash(node),
            Event::Restart { node } => self.restart(node),
            Event::Split(p) => self.network.partition = Some(p),
            Event::Join => self.join(),
            Event::Gst => self.gst(),
            Event::Gossip => {
                if self.profile.gossip {
                    self.gossip();
                    self.at(GOSSIP_INTERVAL_MS, Event::Gossip);
                }
            }
            Event::Fetched {
                node,
                peer,
                incarnation,
            } => self.on_fetched(node, peer, incarnation),
            Event::Stall => {
                self.stall_check();
                self.relay();
                self.at(STALL_MS, Event::Stall);
            }
        }
    }
}
