//! The consensus driver: runs the sans-IO core (`couponchain_consensus`) for a validator
//! among several, translating its outputs into I/O and I/O back into inputs.
//!
//! - `Persist` is made durable (`signing_file`: one of two slots, fdatasync) before the
//!   message it guards leaves.
//! - `Broadcast` goes to every other validator; a proposal's block body is sent first.
//! - `ScheduleTimeout` arms a tokio timer that feeds `TimeoutFired` back.
//! - `CheckBlock` executes the body (when it has arrived) on a blocking thread against the
//!   head, with signatures already checked on admission taken from the mempool, and
//!   refuses a block time more than `max_clock_drift` ahead of this node's clock, or that
//!   far before the height started here.
//! - `ProposeBlock` waits for transactions (at most the heartbeat) and builds a block from
//!   the mempool; its transactions go back to the mempool if another block wins.
//! - `Commit` applies the block with its certificate, pushes it to non-voting peers and
//!   starts the next height.
//!
//! A validator that sees traffic for a later height, or hears nothing for a while, catches
//! up from peers (verified blocks with certificates) and restarts the core there.

use super::bodies::Bodies;
use super::follow::{fetch_body, fetch_next};
use super::mempool::Taken;
use super::signing_file::SigningStateFile;
use super::{lock, wall_ms, Inbound, Node, Role};
use crate::net::wire::{Certified, Request};
use crate::net::Network;
use anyhow::Context;
use couponchain_chain::block::{Block, CommitCertificate};
use couponchain_chain::{Hash, SignedTransaction, TxId};
use couponchain_consensus::{
    Consensus, ConsensusConfig, Equivocation, Input, Message, Output, Rejection, SignedVote, Step,
};
use couponchain_runtime::SignatureCheck;
use couponchain_storage::PreparedBlock;
use libp2p::PeerId;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Block bodies kept for the current and the next height (a Byzantine proposer could send
/// many; honest ones send one per round).
const MAX_BODIES: usize = 64;
/// Bodies accepted from one validator per height: its proposals for a few rounds. Bodies
/// from any other peer are ignored, so no one can crowd out the proposer's.
const MAX_BODIES_PER_PEER: usize = 8;
/// How long `fetch_body` waits for a body to arrive by itself before asking peers.
const BODY_GRACE: Duration = Duration::from_millis(300);
/// If no block becomes final for this long, ask peers whether we fell behind.
const STALL_CHECK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct ConsensusSettings {
    pub config: ConsensusConfig,
    /// A proposal whose block time differs from our clock by more than this is refused.
    pub max_clock_drift_ms: u64,
    /// Where the signing guard's state is persisted.
    pub signing_state_path: PathBuf,
}

enum Event {
    Timeout {
        height: u64,
        round: u32,
        step: Step,
    },
    Checked {
        height: u64,
        round: u32,
        hash: Hash,
        result: Result<Box<PreparedBlock>, String>,
    },
    Built {
        height: u64,
        round: u32,
        result: anyhow::Result<(Box<PreparedBlock>, Vec<Taken>)>,
    },
    Fetched(Option<(PeerId, Vec<Certified>)>),
    /// The answer to `Driver::fetch_body` (`None`: no peer had it).
    BodyFetched {
        height: u64,
        hash: Hash,
        body: Option<Block>,
    },
}

/// Next to the signing state: present while signing is halted (see `Driver::halt_signing`).
pub const HALT_FILE: &str = "signing-halted";

struct Driver {
    node: Arc<Node>,
    net: Network,
    core: Consensus,
    settings: ConsensusSettings,
    /// The height being decided.
    height: u64,
    /// Bodies of this height's and the next height's proposals (`node.bodies`, shared with
    /// the network responder that serves them).
    bodies: Arc<Bodies>,
    bodies_from: HashMap<PeerId, usize>,
    prepared: HashMap<Hash, PreparedBlock>,
    /// Our own proposals' transactions, by block, to return to the mempool if they lose.
    built: HashMap<Hash, Vec<Taken>>,
    /// Checks asked for before the body arrived.
    waiting_body: Vec<(u64, u32, Hash)>,
    checking: HashSet<Hash>,
    /// Bodies being asked of peers (after `BODY_GRACE` without them).
    fetching_bodies: HashSet<Hash>,
    /// We are the proposer of (height, round) and wait for transactions.
    to_propose: Option<(u64, u32)>,
    building: bool,
    /// A commit decided before we had the block: (height, block, certificate).
    pending_commit: Option<(u64, Hash, CommitCertificate)>,
    fetching: bool,
    last_final: Instant,
    /// This height's milestones, for the per-height log line.
    timing: HeightTiming,
    /// This node's clock when the height started (the lower bound of a fresh block time).
    height_started_ms: u64,
    /// Our own messages of this height's latest round, sent again while the height stalls:
    /// a validator that was down missed them, and without them a network that lost its
    /// quorum cannot find a common round again (Algorithm 1 assumes eventual delivery).
    sent: Vec<Message>,
    events: mpsc::Sender<Event>,
    /// The last final block being made durable while the next height runs on top of it
    /// (staged as the ledger's tip). At most one: it is awaited before the next is staged.
    writing: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    signing_file: SigningStateFile,
    /// Where the proof of the valid value is kept, and for which (height, round, block,
    /// number of votes) it was last written.
    proof_file: PathBuf,
    proof_written: Option<(u64, u32, Hash, usize)>,
    /// `DATA/signing-halted`: written when this validator stops signing because another
    /// process signs with its key; while it exists, the validator follows without signing.
    halt_file: PathBuf,
    /// The halt is in `halt_file`, the metric and the log already (found at start-up, or
    /// recorded since).
    halt_recorded: bool,
}

/// Milestones of the current height, from its start (`Driver::last_final`), for the
/// per-height log line and metrics: where a slow height spent its time.
#[derive(Debug, Default)]
struct HeightTiming {
    /// The first block body for this height arrived, or ours was built.
    body: Option<Duration>,
    /// The first body was executed and found valid (or ours was built).
    checked: Option<Duration>,
    /// We are the proposer and started building our block.
    building: Option<Duration>,
}

/// Runs consensus until `shutdown` turns true or the validator set no longer makes this node
/// one validator among several; returns the inbound queue for the next role's task.
pub async fn run_consensus(
    node: Arc<Node>,
    settings: ConsensusSettings,
    inbound: Inbound,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Inbound> {
    let Some(net) = node.net.clone() else {
        anyhow::bail!("a validator among several needs the peer-to-peer network");
    };
    let (mut inbound, stale_through) = super::rejoin::catch_up_before_signing(
        node.clone(),
        &net,
        inbound,
        shutdown.clone(),
        &settings.signing_state_path,
    )
    .await?;
    if *shutdown.borrow() {
        return Ok(inbound);
    }
    let (mut signing_file, mut state) =
        SigningStateFile::open(&settings.signing_state_path, node.ledger.head().height)?;
    if let Some(height) = stale_through {
        signing_file.abstain_through(&mut state, height)?;
    }
    let mut core = Consensus::new(settings.config.clone(), node.key.clone(), state);
    let halt_file = settings.signing_state_path.with_file_name(HALT_FILE);
    match std::fs::read_to_string(&halt_file) {
        Ok(reason) => {
            tracing::error!(
                path = %halt_file.display(),
                reason = reason.trim(),
                "signing halted earlier: this validator follows the chain but signs nothing \
                 until the file is removed (make sure no other process holds its key first)"
            );
            node.metrics.signing_halted.set(1);
            core.halt_signing(reason.trim().to_string());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            // Unreadable is not absent: refuse to sign rather than guess.
            tracing::error!(error = %e, path = %halt_file.display(), "cannot read the signing-halt file; not signing");
            node.metrics.signing_halted.set(1);
            core.halt_signing(format!("{} unreadable: {e}", halt_file.display()));
        }
    }
    let core_halted = core.signing_halted().is_some();
    let settings_proof_path = settings.signing_state_path.with_file_name("lock-proof.bin");
    let (events, mut event_rx) = mpsc::channel(1024);
    let bodies_store = node.bodies.clone();
    let mut d = Driver {
        node,
        net,
        core,
        settings,
        height: 0,
        bodies: bodies_store,
        fetching_bodies: HashSet::new(),
        bodies_from: HashMap::new(),
        prepared: HashMap::new(),
        built: HashMap::new(),
        waiting_body: Vec::new(),
        checking: HashSet::new(),
        to_propose: None,
        building: false,
        pending_commit: None,
        fetching: false,
        last_final: Instant::now(),
        timing: HeightTiming::default(),
        height_started_ms: 0,
        sent: Vec::new(),
        events,
        writing: None,
        signing_file,
        proof_file: settings_proof_path,
        proof_written: None,
        halt_file,
        halt_recorded: core_halted,
    };
    d.start_height()?;
    d.feed_kept_proof()?;
    let mut stall = tokio::time::interval(STALL_CHECK);
    loop {
        let propose_at = d.propose_deadline();
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break; }
            }
            msg = inbound.recv() => {
                let Some((peer, request)) = msg else {
                    anyhow::bail!("the peer-to-peer network stopped");
                };
                d.on_peer(peer, request).await?;
            }
            Some(ev) = event_rx.recv() => d.on_event(ev).await?,
            _ = d.node.wake.notified(), if d.to_propose.is_some() => {}
            _ = tokio::time::sleep_until(propose_at), if d.to_propose.is_some() => {}
            _ = stall.tick() => {
                if d.last_final.elapsed() >= STALL_CHECK {
                    d.fetch();
                    d.rebroadcast();
                    // Bodies no peer had at the first ask: ask again.
                    for (h, _, hash) in d.waiting_body.clone() {
                        d.fetch_body(h, hash);
                    }
                }
            }
        }
        if d.writing.as_ref().is_some_and(|w| w.is_finished()) {
            d.finish_write().await?;
        }
        if d.pending_commit.is_some() {
            d.try_pending_commit().await?;
        }
        if d.node.role() != Role::Validator {
            break;
        }
        d.maybe_build();
        d.keep_valid_proof();
    }
    d.finish_write().await?;
    // Our proposals that did not win go back to the mempool for whoever builds next.
    for (_, batch) in std::mem::take(&mut d.built) {
        d.node.return_to_mempool(batch, &HashSet::new());
    }
    Ok(inbound)
}

impl Driver {
    /// Starts the height after the tip (the last final block, durable or being written).
    fn start_height(&mut self) -> anyhow::Result<()> {
        let head = self.node.ledger.tip();
        self.height = head.height + 1;
        let validators = self.node.ledger.validator_set_after_tip()?;
        let h = self.height;
        self.bodies.retain_from(h);
        self.fetching_bodies.clear();
        self.bodies_from.clear();
        self.prepared.clear();
        self.waiting_body.clear();
        self.checking.clear();
        self.to_propose = None;
        self.building = false;
        self.pending_commit = None;
        self.last_final = Instant::now();
        self.timing = HeightTiming::default();
        // After a (re)start the height may have begun long before: then only the parent's
        // time is known to precede every honest block of it.
        self.height_started_ms = if self.height_started_ms == 0 {
            head.time_ms
        } else {
            wall_ms()
        };
        self.sent.clear();
        let outs = self.core.handle(Input::StartHeight {
            height: self.height,
            validators,
        });
        self.outputs(None, outs)
    }

    fn propose_deadline(&self) -> tokio::time::Instant {
        let block = &self.node.block;
        let wait = if lock(&self.node.mempool).is_empty() {
            // An idle proposer waits for transactions, but proposes (an empty block) well
            // before the others' propose timeout would give up on it.
            let patience = Duration::from_millis(self.settings.config.timeouts.propose_base_ms / 2);
            block.heartbeat.min(patience)
        } else {
            block.min_interval
        };
        tokio::time::Instant::from_std(self.last_final + wait)
    }

    fn maybe_build(&mut self) {
        let Some((height, round)) = self.to_propose else {
            return;
        };
        if self.building || tokio::time::Instant::now() < self.propose_deadline() {
            return;
        }
        self.to_propose = None;
        self.building = true;
        self.timing
            .building
            .get_or_insert_with(|| self.last_final.elapsed());
        let node = self.node.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(move || node.build_proposal())
                .await
                .map_err(anyhow::Error::from)
                .and_then(|r| r);
            let _ = events
                .send(Event::Built {
                    height,
                    round,
                    result,
                })
                .await;
        });
    }

    /// Writes the proof of the current valid value (`Consensus::valid_proof`) to
    /// `lock-proof.bin` when it changes, so that after a restart this validator can still
    /// show the others why it holds that value (ADR 007). Written through a temporary file
    /// and a rename, without waiting for the disk: it is a liveness aid, not a safety record
    /// (the signing state is), and it changes at most a few times a height.
    fn keep_valid_proof(&mut self) {
        let Some((round, block)) = self.core.valid() else {
            return;
        };
        let proof = self.core.valid_proof();
        // Rewritten as late votes join the proof; a failed write is tried again.
        let key = (self.height, round, block, proof.len());
        if proof.is_empty() || self.proof_written == Some(key) {
            return;
        }
        let bytes = couponchain_chain::encoding::encode(&proof);
        let tmp = self.proof_file.with_extension("tmp");
        match std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &self.proof_file)) {
            Ok(()) => self.proof_written = Some(key),
            Err(e) => {
                tracing::warn!(error = %e, path = %self.proof_file.display(), "keeping the proof of the valid value failed");
            }
        }
    }

    /// After a (re)start: the kept proof of this height's valid value goes back into the
    /// core as the votes it is (each checked again). A file that does not read or decode is
    /// reported and ignored.
    fn feed_kept_proof(&mut self) -> anyhow::Result<()> {
        let bytes = match std::fs::read(&self.proof_file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, path = %self.proof_file.display(), "reading the kept proof of the valid value failed");
                return Ok(());
            }
        };
        let votes: Vec<SignedVote> = match couponchain_chain::encoding::decode(&bytes) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, path = %self.proof_file.display(), "the kept proof of the valid value does not decode; ignored");
                return Ok(());
            }
        };
        let height = self.height;
        for v in votes.into_iter().filter(|v| v.vote.height == height) {
            let outs = self.core.handle(Input::Vote(v));
            self.outputs(None, outs)?;
        }
        Ok(())
    }

    /// While the height stalls: sends this validator's latest-round messages again, and
    /// relays what the core holds of the rounds that can still decide (`Consensus::relay`:
    /// other validators' votes included). Not the bodies: a validator that lacks one asks
    /// for it (`fetch_body`).
    fn rebroadcast(&self) {
        let peers = self.node.validator_peers();
        let mut messages = self.core.relay();
        for m in &self.sent {
            if !messages.contains(m) {
                messages.push(m.clone());
            }
        }
        for m in messages {
            self.net.send(peers.clone(), Request::Consensus(m));
        }
    }

    fn fetch(&mut self) {
        if self.fetching {
            return;
        }
        self.fetching = true;
        let net = self.net.clone();
        let events = self.events.clone();
        let height = self.node.ledger.tip().height;
        tokio::spawn(async move {
            let got = fetch_next(&net, net.connected(), height).await;
            let _ = events.send(Event::Fetched(got)).await;
        });
    }

    async fn on_peer(&mut self, peer: PeerId, request: Request) -> anyhow::Result<()> {
        match request {
            Request::Consensus(m) => {
                if m.height() > self.height {
                    self.fetch();
                }
                let input = match m {
                    Message::Proposal(p) => Input::Proposal(p),
                    Message::Vote(v) => Input::Vote(v),
                };
                let outs = self.core.handle(input);
                self.outputs(Some(peer), outs)?;
            }
            Request::Block(b) => {
                let h = b.header.height;
                let hash = b.hash();
                if self.bodies.contains(&hash) {
                    // Already here (fetched, or re-proposed): not counted against the peer
                    // (its later proposals' bodies must still get in).
                    return Ok(());
                }
                let from_validator = self.node.validator_peers().contains(&peer);
                let count = self.bodies_from.entry(peer).or_default();
                *count += 1;
                if from_validator && *count <= MAX_BODIES_PER_PEER {
                    self.accept_body(h, hash, b).await?;
                }
            }
            Request::Decided(c) if c.block.header.height == self.height => {
                self.apply_fetched(Some(peer), vec![*c]).await?;
            }
            Request::Evidence(e) => self.on_evidence(peer, *e),
            _ => {}
        }
        Ok(())
    }

    /// Evidence another validator found: checked (signatures, this chain, a key of the
    /// current set), kept like our own, and if it names this validator's key — which its
    /// guard never lets equivocate — signing stops: another process holds the key.
    fn on_evidence(&mut self, peer: PeerId, e: Equivocation) {
        if self.node.knows_evidence(&e) {
            // Sent by several witnesses: checked once.
            return;
        }
        let set = match self.node.ledger.validator_set_after_tip() {
            Ok(set) => set,
            Err(err) => {
                tracing::warn!(error = %err, "reading the validator set for received evidence failed");
                return;
            }
        };
        if !set.contains(&e.offender()) {
            // Perhaps a validator just removed: nothing this node can act on.
            tracing::debug!(offender = %e.offender(), "evidence against a key outside the validator set ignored");
            return;
        }
        let checked = if e.chain_id() != self.settings.config.chain_id {
            Err(format!("evidence for chain {:?}", e.chain_id()))
        } else {
            e.verify().map_err(|err| err.to_string())
        };
        if let Err(why) = checked {
            self.net.penalize(peer, why);
            return;
        }
        let offender = e.offender();
        let (height, round, kind) = (e.height(), e.round(), e.kind());
        self.node.record_evidence(e);
        if offender == self.core.public_key() {
            self.halt_signing(format!(
                "a peer sent evidence that this validator's key signed two conflicting \
                 {kind}s at height {height} round {round}; this node signed at most one"
            ));
        }
    }

    /// Stops signing for good: the core refuses, the halt file keeps it across restarts,
    /// the metric and the log tell the operator.
    fn halt_signing(&mut self, reason: String) {
        if self.core.signing_halted().is_none() {
            self.core.halt_signing(reason.clone());
        }
        if self.halt_recorded {
            return;
        }
        self.halt_recorded = true;
        self.node.metrics.signing_halted.set(1);
        tracing::error!(
            reason = %reason,
            path = %self.halt_file.display(),
            "ANOTHER PROCESS SIGNS WITH THIS VALIDATOR'S KEY: signing halted. Stop the other \
             process (or this one), then remove the file to sign again"
        );
        let text = format!("{reason}\n");
        let written = std::fs::File::create(&self.halt_file).and_then(|mut f| {
            use std::io::Write;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        });
        if let Err(e) = written {
            tracing::error!(error = %e, path = %self.halt_file.display(), "writing the signing-halt file failed; the halt lasts until this process stops");
        }
    }

    /// Asks the validators in turn for a body the core wants checked, unless it arrives
    /// within `BODY_GRACE`; what comes back goes the way of a pushed body.
    fn fetch_body(&mut self, height: u64, hash: Hash) {
        if !self.fetching_bodies.insert(hash) {
            return;
        }
        let (node, net, events) = (self.node.clone(), self.net.clone(), self.events.clone());
        tokio::spawn(async move {
            tokio::time::sleep(BODY_GRACE).await;
            if node.bodies.contains(&hash) {
                return;
            }
            let body = fetch_body(&net, node.validator_peers(), hash).await;
            tracing::debug!(height, %hash, found = body.is_some(), "asked peers for a missing block body");
            let _ = events.send(Event::BodyFetched { height, hash, body }).await;
        });
    }

    /// Keeps a body (pushed by a validator or fetched) of this height or the next, up to
    /// `MAX_BODIES`, and checks or commits what waited for it.
    async fn accept_body(&mut self, height: u64, hash: Hash, b: Block) -> anyhow::Result<()> {
        let wanted = height == self.height || height == self.height + 1;
        if !wanted || self.bodies.len() >= MAX_BODIES || self.bodies.contains(&hash) {
            return Ok(());
        }
        if height == self.height {
            self.timing
                .body
                .get_or_insert_with(|| self.last_final.elapsed());
        }
        self.bodies.insert(hash, Arc::new(b));
        self.body_arrived(hash).await
    }

    async fn body_arrived(&mut self, hash: Hash) -> anyhow::Result<()> {
        if let Some((h, block, _)) = &self.pending_commit {
            if *block == hash && *h == self.height {
                return self.try_pending_commit().await;
            }
        }
        let ready: Vec<_> = self
            .waiting_body
            .iter()
            .filter(|w| w.2 == hash)
            .copied()
            .collect();
        self.waiting_body.retain(|w| w.2 != hash);
        for (h, r, b) in ready {
            self.check(h, r, b);
        }
        Ok(())
    }

    fn check(&mut self, height: u64, round: u32, hash: Hash) {
        if self.prepared.contains_key(&hash) {
            let outs = self.core.handle(Input::BlockChecked {
                height,
                round,
                block: hash,
                valid: true,
            });
            if let Err(e) = self.outputs(None, outs) {
                tracing::error!(error = %e, "consensus output failed");
            }
            return;
        }
        let Some(block) = self.bodies.get(&hash) else {
            self.waiting_body.push((height, round, hash));
            // A proposal seen while the height stalls (relayed, or after a restart) will
            // not bring its body: ask for it. Otherwise the body is normally on its way
            // (sent just before the proposal, on another queue, and slower under load);
            // it is asked for only if the height stalls (the stall check).
            if self.last_final.elapsed() >= STALL_CHECK {
                self.fetch_body(height, hash);
            }
            return;
        };
        if !self.checking.insert(hash) {
            return;
        }
        let block = (*block).clone();
        let node = self.node.clone();
        let events = self.events.clone();
        let drift = self.settings.max_clock_drift_ms;
        let started = self.height_started_ms;
        tokio::spawn(async move {
            let result =
                tokio::task::spawn_blocking(move || node.check_proposed(block, drift, started))
                    .await
                    .unwrap_or_else(|e| Err(format!("check task failed: {e}")));
            let _ = events
                .send(Event::Checked {
                    height,
                    round,
                    hash,
                    result,
                })
                .await;
        });
    }

    async fn on_event(&mut self, ev: Event) -> anyhow::Result<()> {
        match ev {
            Event::Timeout {
                height,
                round,
                step,
            } => {
                let outs = self.core.handle(Input::TimeoutFired {
                    height,
                    round,
                    step,
                });
                if height == self.height && !outs.is_empty() {
                    // A timeout that moved consensus on: a round without a timely proposal
                    // or quorum (none fire while the network keeps up).
                    tracing::info!(height, round, ?step, "consensus timeout acted on");
                }
                self.outputs(None, outs)?;
            }
            Event::Checked {
                height,
                round,
                hash,
                result,
            } => {
                self.checking.remove(&hash);
                if height != self.height {
                    return Ok(());
                }
                let valid = match result {
                    Ok(p) => {
                        self.timing
                            .checked
                            .get_or_insert_with(|| self.last_final.elapsed());
                        self.prepared.insert(hash, *p);
                        true
                    }
                    Err(e) => {
                        tracing::warn!(height, round, block = %hash, error = %e, "proposed block refused");
                        false
                    }
                };
                let outs = self.core.handle(Input::BlockChecked {
                    height,
                    round,
                    block: hash,
                    valid,
                });
                self.outputs(None, outs)?;
            }
            Event::Built {
                height,
                round,
                result,
            } => {
                self.building = false;
                let (prepared, batch) = match result {
                    Ok(x) => x,
                    Err(e) => return Err(e.context("building a block failed")),
                };
                let hash = prepared.block.hash();
                if height != self.height {
                    self.node.return_to_mempool(batch, &HashSet::new());
                    return Ok(());
                }
                let at = self.last_final.elapsed();
                self.timing.body.get_or_insert(at);
                self.timing.checked.get_or_insert(at);
                self.bodies.insert(hash, Arc::new(prepared.block.clone()));
                self.prepared.insert(hash, *prepared);
                self.built.insert(hash, batch);
                let outs = self.core.handle(Input::BlockBuilt {
                    height,
                    round,
                    block: hash,
                });
                self.outputs(None, outs)?;
            }
            Event::BodyFetched { height, hash, body } => {
                self.fetching_bodies.remove(&hash);
                if let Some(b) = body {
                    self.accept_body(height, hash, b).await?;
                }
            }
            Event::Fetched(got) => {
                self.fetching = false;
                if let Some((peer, blocks)) = got {
                    let more = blocks.len() as u32 == crate::net::wire::MAX_SYNC_BLOCKS;
                    let applied = self.apply_fetched(Some(peer), blocks).await?;
                    if more && applied > 0 {
                        self.fetch();
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies final blocks from peers; restarts the core if the head moved.
    async fn apply_fetched(
        &mut self,
        peer: Option<PeerId>,
        blocks: Vec<Certified>,
    ) -> anyhow::Result<usize> {
        // Blocks from peers are committed whole (staged and written at once).
        self.finish_write().await?;
        let node = self.node.clone();
        let applied =
            tokio::task::spawn_blocking(move || node.apply_certified(peer, blocks)).await?;
        if applied > 0 {
            tracing::info!(
                applied,
                head = self.node.ledger.head().height,
                "caught up from a peer"
            );
            self.settle_built(&HashSet::new());
            self.start_height()?;
        }
        Ok(applied)
    }

    /// Returns our losing proposals' transactions to the mempool, except `included`.
    fn settle_built(&mut self, included: &HashSet<TxId>) {
        for (_, batch) in self.built.drain() {
            self.node.return_to_mempool(batch, included);
        }
    }

    async fn try_pending_commit(&mut self) -> anyhow::Result<()> {
        let Some((height, hash, cert)) = self.pending_commit.take() else {
            return Ok(());
        };
        if height != self.height {
            return Ok(());
        }
        if let Some(prepared) = self.prepared.remove(&hash) {
            return self.commit(prepared, cert).await;
        }
        if self.checking.contains(&hash) {
            // Our own check is under way: its result commits it.
            self.pending_commit = Some((height, hash, cert));
            return Ok(());
        }
        if let Some(block) = self.bodies.get(&hash).map(|b| (*b).clone()) {
            // Final without our own check finished: verify the certificate and execute.
            let applied = self
                .apply_fetched(None, vec![Certified { block, cert }])
                .await?;
            if applied == 0 {
                anyhow::bail!("block {hash} at height {height} is final but does not apply here");
            }
            return Ok(());
        }
        self.pending_commit = Some((height, hash, cert));
        self.fetch();
        Ok(())
    }

    /// Waits until the block being written (if any) is durable; an error writing it stops
    /// the validator (continuing could sign on top of a block this node does not have).
    async fn finish_write(&mut self) -> anyhow::Result<()> {
        if let Some(w) = self.writing.take() {
            w.await.context("the block writer panicked")??;
        }
        Ok(())
    }

    /// Commits a final block as a two-stage pipeline: it becomes the ledger's tip at once
    /// and the next height starts on top of it, while another thread makes it durable (its
    /// transactions are reported final only then). Building and checking the next block
    /// thus overlap with this one's write and fsync instead of waiting for them.
    async fn commit(
        &mut self,
        prepared: PreparedBlock,
        cert: CommitCertificate,
    ) -> anyhow::Result<()> {
        let decided = self.last_final.elapsed();
        self.finish_write().await?;
        let written = self.last_final.elapsed();
        let hash = prepared.block.hash();
        let block_for_replicas = prepared.block.clone();
        let (height, round, txs) = (cert.height, cert.round, prepared.block.txs.len());
        let node = self.node.clone();
        let c = cert.clone();
        let (staged, included) =
            tokio::task::spawn_blocking(move || node.stage_final(prepared, c)).await??;
        let node = self.node.clone();
        self.writing = Some(tokio::task::spawn_blocking(move || {
            node.write_final(staged).map(|_| ())
        }));
        let metrics = &self.node.metrics;
        metrics.height_seconds.observe(decided.as_secs_f64());
        if round > 0 {
            metrics.decided_late_round.inc();
        }
        let ms = |d: Option<Duration>| d.map_or(-1.0, |d| d.as_secs_f64() * 1e3);
        tracing::info!(
            height,
            round,
            txs,
            body_ms = ms(self.timing.body),
            checked_ms = ms(self.timing.checked),
            built_from_ms = ms(self.timing.building),
            decided_ms = ms(Some(decided)),
            wrote_previous_ms = ms(Some(written - decided)),
            staged_ms = ms(Some(self.last_final.elapsed() - written)),
            "height decided"
        );
        let included: HashSet<TxId> = included.into_iter().collect();
        let ours = self.built.remove(&hash);
        if let Some(mine) = &ours {
            self.node.report_proposed(mine);
        }
        self.settle_built(&included);
        // The validator that built the block pushes it to the replicas: one copy each, not
        // one per validator (a replica decodes every copy it receives). A replica that
        // misses it — not connected to that validator, or it crashed — asks within its poll.
        let validators = self.node.validator_peers();
        let others: Vec<PeerId> = self
            .net
            .connected()
            .into_iter()
            .filter(|p| !validators.contains(p))
            .collect();
        if ours.is_some() && !others.is_empty() {
            self.net.send(
                others,
                Request::Decided(Box::new(Certified {
                    block: block_for_replicas,
                    cert,
                })),
            );
        }
        self.start_height()
    }

    fn outputs(&mut self, from: Option<PeerId>, outs: Vec<Output>) -> anyhow::Result<()> {
        let mut queue = std::collections::VecDeque::from(outs);
        while let Some(o) = queue.pop_front() {
            match o {
                Output::Persist(state) => {
                    // The message waits for the disk, but the runtime's other tasks (the
                    // network, admission) move to another worker meanwhile.
                    let file = &mut self.signing_file;
                    tokio::task::block_in_place(|| file.persist(&state))
                        .context("persisting the signing state")?;
                }
                Output::Broadcast(m) => {
                    let round = m.round();
                    if self.sent.iter().any(|s| s.round() < round) {
                        self.sent.retain(|s| s.round() >= round);
                    }
                    self.sent.push(m.clone());
                    let peers = self.node.validator_peers();
                    if let Message::Proposal(p) = &m {
                        if let Some(body) = self.bodies.get(&p.proposal.block) {
                            self.net
                                .send(peers.clone(), Request::Block((*body).clone()));
                        }
                    }
                    self.net.send(peers, Request::Consensus(m));
                }
                Output::ScheduleTimeout {
                    height,
                    round,
                    step,
                    duration_ms,
                } => {
                    let events = self.events.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(duration_ms)).await;
                        let _ = events
                            .send(Event::Timeout {
                                height,
                                round,
                                step,
                            })
                            .await;
                    });
                }
                Output::CheckBlock {
                    height,
                    round,
                    block,
                } => self.check(height, round, block),
                Output::ProposeBlock { height, round } => {
                    self.to_propose = Some((height, round));
                }
                Output::Commit {
                    height,
                    block,
                    certificate,
                    ..
                } => {
                    // Applied by the event loop right after (committing awaits).
                    self.pending_commit = Some((height, block, certificate));
                }
                Output::Evidence(e) => {
                    let offender = e.offender();
                    if self.node.record_evidence(e.clone()) {
                        // Every validator hears of it, the offender's key holders included.
                        let peers = self.node.validator_peers();
                        self.net.send(peers, Request::Evidence(Box::new(e)));
                    }
                    if offender == self.core.public_key() {
                        self.halt_signing(
                            "this validator's key signed two conflicting messages".into(),
                        );
                    }
                }
                Output::KeyUsedElsewhere {
                    height,
                    round,
                    step,
                } => self.halt_signing(format!(
                    "received a {step:?} for height {height} round {round} signed with this \
                     validator's key that this node never signed"
                )),
                Output::Rejected(r) => {
                    if let (Some(peer), Rejection::BadSignature(_) | Rejection::UnknownSigner(_)) =
                        (from, &r)
                    {
                        self.net.penalize(peer, r.to_string());
                    }
                }
            }
        }
        Ok(())
    }
}

impl Node {
    /// Executes a proposed block against the tip (the valid(v) of consensus).
    fn check_proposed(
        &self,
        block: Block,
        max_drift_ms: u64,
        height_started_ms: u64,
    ) -> Result<Box<PreparedBlock>, String> {
        let now = wall_ms();
        let t = block.header.time_ms;
        // Ahead of our clock by more than the drift: refused (it would bring expiries
        // forward). Behind: an honest block for this height was built after the height
        // started, so it is refused only if older than that (by more than the drift) — not
        // merely old: a block locked in an early round and re-proposed after a long stall
        // must stay acceptable, or the validators locked on it could never decide.
        if t > now.saturating_add(max_drift_ms) {
            return Err(format!(
                "block time {t} is {} ms ahead of this node's clock (bound {max_drift_ms} ms)",
                t - now
            ));
        }
        if t.saturating_add(max_drift_ms) < height_started_ms {
            return Err(format!(
                "block time {t} is {} ms before this height started here (bound {max_drift_ms} ms)",
                height_started_ms - t
            ));
        }
        let known = |id: &TxId, tx: &SignedTransaction| self.checked_on_admission(id, tx);
        self.ledger
            .prepare_block(block, SignatureCheck::Cached(&known))
            .map(Box::new)
            .map_err(|e| e.to_string())
    }

    /// Builds a block on the tip from the mempool (getValue() of consensus).
    fn build_proposal(&self) -> anyhow::Result<(Box<PreparedBlock>, Vec<Taken>)> {
        let head = self.ledger.tip();
        let time_ms = wall_ms().max(head.time_ms);
        let started = Instant::now();
        match self.take_and_prepare(time_ms) {
            Ok((p, batch)) => {
                self.metrics
                    .block_build_seconds
                    .observe(started.elapsed().as_secs_f64());
                Ok((Box::new(p), batch))
            }
            Err((e, batch)) => {
                self.return_to_mempool(batch, &HashSet::new());
                Err(e.into())
            }
        }
    }

    /// Puts a losing proposal's transactions back (those not `included` elsewhere).
    fn return_to_mempool(&self, batch: Vec<Taken>, included: &HashSet<TxId>) {
        let mut pool = lock(&self.mempool);
        for t in batch {
            if included.contains(&t.id) || self.ledger.tx(&t.id).ok().flatten().is_some() {
                continue;
            }
            let _ = pool.insert(t.id, t.tx, t.bytes, t.admitted);
        }
    }

    /// Finality latency for the transactions of our own block that became final.
    fn report_proposed(&self, batch: &[Taken]) {
        let now = Instant::now();
        for t in batch {
            self.metrics
                .finality_latency_seconds
                .observe(now.duration_since(t.admitted).as_secs_f64());
        }
    }
}
