//! A deterministic simulation of four validators in one process: a simulated clock, a
//! network that delays, drops, duplicates and reorders until a global stabilisation time
//! (GST), crash-restarts from the persisted `SigningState`, and optionally one Byzantine
//! validator that sends conflicting signed messages to different peers. All randomness
//! comes from one seed (splitmix64). Checked throughout: agreement (no two honest
//! validators commit different blocks at a height), every certificate verifies, no honest
//! validator ever signs two conflicting messages or broadcasts before persisting; and
//! liveness: after GST every honest validator commits `TARGET_HEIGHT` heights within a
//! bound. A failure names its seed; `SIM_SEED=<n> cargo test -p couponchain-consensus
//! --test it sim` replays it, `SIM_SEEDS=<count>` runs a soak.

use crate::common::{keys, set, CHAIN};
use couponchain_chain::block::{CommitCertificate, Header, ValidatorSet, VoteData, VoteKind};
use couponchain_chain::{Hash, Keypair, PublicKey};
use couponchain_consensus::{
    Consensus, ConsensusConfig, Input, Message, Output, Proposal, SignedProposal, SignedVote,
    SigningState, TimeoutConfig,
};
use std::collections::BTreeMap;

/// (signer, height, round, step 0/1/2) of an honest validator's signed message.
type SignKey = (PublicKey, u64, u32, u8);
/// (block, valid round) it signed there.
type SignedContent = (Option<Hash>, Option<u32>);

/// splitmix64: tiny, seedable, good enough to drive a simulation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const TARGET_HEIGHT: u64 = 4;
const GST_MS: u64 = 10_000;
/// After GST (and the last restart), every honest validator reaches TARGET_HEIGHT within this.
const LIVENESS_BOUND_MS: u64 = 60_000;
const MAX_EVENTS: u64 = 400_000;

#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub network: bool,
    pub crashes: bool,
    pub byzantine: bool,
}

enum Event {
    Deliver {
        to: usize,
        msg: Message,
    },
    Local {
        node: usize,
        incarnation: u32,
        input: Input,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Heal,
    Gossip,
}

/// How often the simulated gossip layer offers each validator the messages of its height
/// that it has not been offered yet.
const GOSSIP_INTERVAL_MS: u64 = 250;

struct Node {
    core: Consensus,
    key: Keypair,
    incarnation: u32,
    up: bool,
    persisted: SigningState,
    committed: BTreeMap<u64, Hash>,
}

struct Sim {
    seed: u64,
    rng: Rng,
    faults: Faults,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    set: ValidatorSet,
    byz: Option<usize>,
    healed: bool,
    /// Every message broadcast, by height: what gossip would still be offering.
    log: BTreeMap<u64, Vec<Message>>,
    /// Blocks known to the simulation, with their validity (execution is deterministic).
    blocks: BTreeMap<Hash, (Header, bool)>,
    decided: BTreeMap<u64, Hash>,
    signed: BTreeMap<SignKey, SignedContent>,
    last_restart: u64,
    /// Per validator and height: how many of `log[height]` gossip has offered it.
    offered: Vec<BTreeMap<u64, usize>>,
    pub evidence: u64,
    pub max_round: u32,
}

fn config() -> ConsensusConfig {
    ConsensusConfig {
        timeouts: TimeoutConfig {
            propose_base_ms: 400,
            propose_delta_ms: 200,
            prevote_base_ms: 200,
            prevote_delta_ms: 100,
            precommit_base_ms: 200,
            precommit_delta_ms: 100,
        },
        ..ConsensusConfig::new(CHAIN)
    }
}

impl Sim {
    fn new(seed: u64, salt: u64, faults: Faults) -> Sim {
        let ks = keys(4);
        let mut rng = Rng(seed ^ salt);
        let byz = faults.byzantine.then(|| rng.below(4) as usize);
        let nodes = ks
            .iter()
            .map(|k| Node {
                core: Consensus::new(config(), k.clone(), SigningState::default()),
                key: k.clone(),
                incarnation: 0,
                up: true,
                persisted: SigningState::default(),
                committed: BTreeMap::new(),
            })
            .collect();
        Sim {
            seed,
            rng,
            faults,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            set: set(&ks),
            byz,
            healed: false,
            log: BTreeMap::new(),
            blocks: BTreeMap::new(),
            decided: BTreeMap::new(),
            signed: BTreeMap::new(),
            last_restart: 0,
            offered: vec![BTreeMap::new(); 4],
            evidence: 0,
            max_round: 0,
        }
    }

    fn fail(&self, what: String) -> ! {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                let c = &n.core;
                format!(
                    "h{:?} r{:?} {:?} up={} locked={:?} valid={:?} {:?}",
                    c.height(),
                    c.round(),
                    c.step(),
                    n.up,
                    c.locked(),
                    c.valid(),
                    c.stats()
                )
            })
            .collect();
        panic!(
            "seed {} ({:?}, byzantine {:?}) at {} ms: {what}\n  nodes: {nodes:#?}\n  replay: SIM_SEED={} cargo test -p couponchain-consensus --test it sim",
            self.seed, self.faults, self.byz, self.now, self.seed
        )
    }

    fn at(&mut self, delay_ms: u64, e: Event) {
        self.seq += 1;
        self.queue.insert((self.now + delay_ms, self.seq), e);
    }

    fn unstable(&self) -> bool {
        self.now < GST_MS
    }

    fn honest(&self, i: usize) -> bool {
        Some(i) != self.byz
    }

    /// A (valid or not) block for (height, round) by `proposer`; `salt` tells apart the
    /// conflicting blocks of a Byzantine proposer.
    fn make_block(
        &mut self,
        height: u64,
        round: u32,
        proposer: usize,
        salt: u64,
        valid: bool,
    ) -> Hash {
        let header = Header {
            chain_id: CHAIN.into(),
            height,
            parent: Hash::ZERO,
            time_ms: u64::from(round) * 1_000 + salt,
            proposer: self.set.validators[proposer],
            tx_root: Hash::ZERO,
            tx_count: 0,
            state_root: Hash::ZERO,
            validators_hash: self.set.hash(),
            next_validators_hash: self.set.hash(),
        };
        let h = header.hash();
        self.blocks.insert(h, (header, valid));
        h
    }

    fn send_to(&mut self, to: usize, msg: Message) {
        let faulty = self.faults.network && self.unstable();
        if faulty && self.rng.chance(15) {
            return;
        }
        let copies = if faulty && self.rng.chance(10) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = if faulty {
                1 + self.rng.below(800)
            } else {
                1 + self.rng.below(40)
            };
            self.at(
                delay,
                Event::Deliver {
                    to,
                    msg: msg.clone(),
                },
            );
        }
    }

    /// A Byzantine validator's conflicting twin of `msg`, properly signed.
    fn twin(&mut self, from: usize, msg: &Message) -> Message {
        let key = self.nodes[from].key.clone();
        match msg {
            Message::Vote(v) => {
                let block = match v.vote.block {
                    Some(_) if self.rng.chance(50) => None,
                    _ => Some(Hash([self.rng.below(3) as u8 + 1; 32])),
                };
                let data = VoteData {
                    block,
                    ..v.vote.clone()
                };
                Message::Vote(SignedVote::sign(data, &key))
            }
            Message::Proposal(p) => {
                let valid = self.rng.chance(50);
                let salt = 1 + self.rng.below(1_000);
                let pr = &p.proposal;
                let block = self.make_block(pr.height, pr.round, from, salt, valid);
                let proposal = Proposal {
                    block,
                    ..pr.clone()
                };
                Message::Proposal(SignedProposal::sign(proposal, &key))
            }
        }
    }

    fn broadcast(&mut self, from: usize, msg: Message) {
        self.log.entry(msg.height()).or_default().push(msg.clone());
        for to in 0..self.nodes.len() {
            if to == from {
                continue;
            }
            if !self.honest(from) && self.rng.chance(50) {
                let twin = self.twin(from, &msg);
                self.log
                    .entry(twin.height())
                    .or_default()
                    .push(twin.clone());
                self.send_to(to, twin);
            } else {
                self.send_to(to, msg.clone());
            }
        }
    }

    /// Checks an honest validator's outgoing message: persisted first, never conflicting.
    fn check_signed(&mut self, from: usize, msg: &Message) {
        let (sig, key) = match msg {
            Message::Proposal(p) => {
                let pr = &p.proposal;
                (
                    p.signature,
                    (
                        (p.signer, pr.height, pr.round, 0),
                        (Some(pr.block), pr.valid_round),
                    ),
                )
            }
            Message::Vote(v) => {
                let kind = if v.vote.kind == VoteKind::Prevote {
                    1
                } else {
                    2
                };
                (
                    v.signature,
                    (
                        (v.signer, v.vote.height, v.vote.round, kind),
                        (v.vote.block, None),
                    ),
                )
            }
        };
        if !self.nodes[from]
            .persisted
            .signed
            .iter()
            .any(|r| r.signature == sig)
        {
            self.fail(format!(
                "validator {from} broadcast {msg:?} before persisting it"
            ));
        }
        if let Some(prev) = self.signed.insert(key.0, key.1) {
            if prev != key.1 {
                self.fail(format!(
                    "validator {from} signed conflicting {:?}: {prev:?} then {:?}",
                    key.0, key.1
                ));
            }
        }
    }

    fn run_node(&mut self, i: usize, input: Input) {
        let mut work = vec![input];
        while let Some(input) = work.pop() {
            let trace = std::env::var("SIM_TRACE").is_ok();
            let shown = if trace {
                format!("{input:?}")
            } else {
                String::new()
            };
            let outs = self.nodes[i].core.handle(input);
            if trace {
                let v = crate::common::view(&outs);
                eprintln!(
                    "{:>6} n{i} {:?}/{:?} <- {shown:.160}\n{:>6}    -> {v:?}",
                    self.now,
                    self.nodes[i].core.round(),
                    self.nodes[i].core.step(),
                    ""
                );
            }
            if let Some(r) = self.nodes[i].core.round() {
                self.max_round = self.max_round.max(r);
            }
            let inc = self.nodes[i].incarnation;
            for o in outs {
                match o {
                    Output::Persist(s) => self.nodes[i].persisted = s,
                    Output::Broadcast(m) => {
                        if self.honest(i) {
                            self.check_signed(i, &m);
                        }
                        self.broadcast(i, m);
                    }
                    Output::ScheduleTimeout {
                        height,
                        round,
                        step,
                        duration_ms,
                    } => {
                        let input = Input::TimeoutFired {
                            height,
                            round,
                            step,
                        };
                        self.at(
                            duration_ms,
                            Event::Local {
                                node: i,
                                incarnation: inc,
                                input,
                            },
                        );
                    }
                    Output::CheckBlock {
                        height,
                        round,
                        block,
                    } => {
                        let valid = self
                            .blocks
                            .get(&block)
                            .is_some_and(|(h, v)| *v && h.height == height);
                        let input = Input::BlockChecked {
                            height,
                            round,
                            block,
                            valid,
                        };
                        let d = 1 + self.rng.below(20);
                        self.at(
                            d,
                            Event::Local {
                                node: i,
                                incarnation: inc,
                                input,
                            },
                        );
                    }
                    Output::ProposeBlock { height, round } => {
                        let block = self.make_block(height, round, i, 0, true);
                        let d = 1 + self.rng.below(20);
                        let input = Input::BlockBuilt {
                            height,
                            round,
                            block,
                        };
                        self.at(
                            d,
                            Event::Local {
                                node: i,
                                incarnation: inc,
                                input,
                            },
                        );
                    }
                    Output::Commit {
                        height,
                        block,
                        certificate,
                        ..
                    } => {
                        work.push(self.on_commit(i, height, block, &certificate));
                    }
                    Output::Evidence(e) => {
                        if Some(
                            self.set
                                .validators
                                .binary_search(&e.offender())
                                .unwrap_or(9),
                        ) != self.byz
                        {
                            self.fail(format!("evidence against an honest validator: {e:?}"));
                        }
                        self.evidence += 1;
                    }
                    Output::Rejected(r) => self.fail(format!("validator {i} rejected {r:?}")),
                }
            }
        }
    }

    fn on_commit(&mut self, i: usize, height: u64, block: Hash, cert: &CommitCertificate) -> Input {
        let Some((header, valid)) = self.blocks.get(&block).cloned() else {
            self.fail(format!("validator {i} committed unknown block {block:?}"));
        };
        if !valid {
            self.fail(format!(
                "validator {i} committed invalid block at height {height}"
            ));
        }
        if let Err(e) = cert.verify(CHAIN, &header, &self.set) {
            self.fail(format!("validator {i}: certificate does not verify: {e}"));
        }
        if self.honest(i) {
            match self.decided.get(&height) {
                Some(b) if *b != block => self.fail(format!(
                    "AGREEMENT: validator {i} committed {block:?} at height {height}, another {b:?}"
                )),
                _ => {
                    self.decided.insert(height, block);
                }
            }
        }
        self.nodes[i].committed.insert(height, block);
        Input::StartHeight {
            height: height + 1,
            validators: self.set.clone(),
        }
    }

    fn done(&self) -> bool {
        (0..self.nodes.len())
            .filter(|i| self.honest(*i))
            .all(|i| self.nodes[i].committed.len() as u64 >= TARGET_HEIGHT)
    }

    fn run(&mut self) {
        for i in 0..self.nodes.len() {
            let start = Input::StartHeight {
                height: 1,
                validators: self.set.clone(),
            };
            self.run_node(i, start);
        }
        if self.faults.crashes {
            for _ in 0..1 + self.rng.below(3) {
                let node = (self.rng.below(4)) as usize;
                let when = self.rng.below(GST_MS);
                self.seq += 1;
                self.queue.insert((when, self.seq), Event::Crash { node });
            }
        }
        self.seq += 1;
        self.queue.insert((GST_MS, self.seq), Event::Heal);
        self.at(GOSSIP_INTERVAL_MS, Event::Gossip);
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
            if self.healed && self.now > GST_MS.max(self.last_restart) + LIVENESS_BOUND_MS {
                let heights: Vec<usize> = self.nodes.iter().map(|n| n.committed.len()).collect();
                self.fail(format!(
                    "LIVENESS: committed heights {heights:?} after the bound"
                ));
            }
            self.step(e);
        }
    }

    fn step(&mut self, e: Event) {
        match e {
            Event::Deliver { to, msg } if self.nodes[to].up => {
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
            Event::Crash { node } if self.honest(node) && self.nodes[node].up => {
                self.nodes[node].up = false;
                self.nodes[node].incarnation += 1;
                let d = 200 + self.rng.below(3_000);
                self.at(d, Event::Restart { node });
            }
            Event::Crash { .. } => {}
            Event::Restart { node } => {
                self.last_restart = self.now;
                let n = &mut self.nodes[node];
                n.core = Consensus::new(config(), n.key.clone(), n.persisted.clone());
                n.up = true;
                let height = n.committed.keys().next_back().map_or(1, |h| h + 1);
                self.offered[node].clear();
                let start = Input::StartHeight {
                    height,
                    validators: self.set.clone(),
                };
                self.run_node(node, start);
            }
            Event::Heal => {
                // Gossip re-offers everything: what the faulty network lost is sent again.
                self.healed = true;
                self.offered.iter_mut().for_each(BTreeMap::clear);
            }
            Event::Gossip => {
                // Each validator is offered the messages of its current height it has not
                // been offered yet — including its own, which a restarted validator forgot
                // (peers re-send them) and the precommits a lagging validator still needs
                // (as Tendermint's gossip sends a peer the commit of its height).
                for i in 0..self.nodes.len() {
                    let Some(h) = self.nodes[i].core.height().filter(|_| self.nodes[i].up) else {
                        continue;
                    };
                    let from = self.offered[i].get(&h).copied().unwrap_or(0);
                    let msgs: Vec<Message> = self
                        .log
                        .get(&h)
                        .map(|l| l[from.min(l.len())..].to_vec())
                        .unwrap_or_default();
                    self.offered[i].insert(h, from + msgs.len());
                    for m in msgs {
                        self.send_to(i, m);
                    }
                }
                self.at(GOSSIP_INTERVAL_MS, Event::Gossip);
            }
        }
    }
}

fn seeds(default: u64) -> Vec<u64> {
    if let Some(s) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![s];
    }
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    (0..n).collect()
}

fn run_many(faults: Faults, default_seeds: u64, salt: u64) -> (u64, u64, u32) {
    let (mut evidence, mut runs, mut max_round) = (0, 0, 0);
    for seed in seeds(default_seeds) {
        let mut sim = Sim::new(seed, salt, faults);
        sim.run();
        evidence += sim.evidence;
        max_round = max_round.max(sim.max_round);
        runs += 1;
    }
    (runs, evidence, max_round)
}

#[test]
fn sim_without_faults_commits_every_height_in_round_0() {
    for seed in seeds(20) {
        let mut sim = Sim::new(
            seed,
            0,
            Faults {
                network: false,
                crashes: false,
                byzantine: false,
            },
        );
        sim.run();
        if sim.max_round != 0 {
            sim.fail(format!("reached round {} without faults", sim.max_round));
        }
    }
}

#[test]
fn sim_faulty_network_and_crash_restarts() {
    let faults = Faults {
        network: true,
        crashes: true,
        byzantine: false,
    };
    let (runs, _, max_round) = run_many(faults, 300, 0);
    eprintln!("sim: {runs} seeds, faulty network + crash-restart, max round {max_round}");
}

#[test]
fn sim_one_equivocating_validator() {
    let faults = Faults {
        network: true,
        crashes: true,
        byzantine: true,
    };
    let (runs, evidence, max_round) = run_many(faults, 300, 0x5eed_0000);
    eprintln!(
        "sim: {runs} seeds, one Byzantine, {evidence} evidence outputs, max round {max_round}"
    );
    assert!(
        runs < 10 || evidence > 0,
        "the equivocator was never caught"
    );
}
