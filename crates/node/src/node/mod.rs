//! The running node: the ledger, the mempool, the block producer and the handle the RPC
//! uses. Admission and block production run on blocking threads (signature checks and
//! RocksDB work); the async side only waits and wakes.
//!
//! A node has one of three roles, decided by the validator set and its key: the sole
//! validator of a one-validator chain finalizes its own blocks ([`producer`], pipelined);
//! a validator among several runs BFT consensus ([`consensus`]); any other registered key
//! runs a full replica ([`replica`]) that follows and verifies the chain. The role is
//! recomputed after every final block; when governance changes it, the running task
//! returns and `run` starts the new role's (see [`Node::role`]).

mod admission;
mod api;
pub mod bodies;
mod consensus;
pub mod disk;
mod follow;
pub mod mempool;
pub mod metrics;
mod producer;
mod rejoin;
mod replica;
mod signing_file;

use crate::net::Network;
use couponchain_chain::{Hash, Keypair, SignedTransaction, TxId};
use couponchain_consensus::Equivocation;
use couponchain_rpc::ErrorBody;
use couponchain_runtime::{Params, Receipt, RuntimeError, SignatureCheck};
use couponchain_storage::{Ledger, PreparedBlock, StorageError};
use libp2p::PeerId;
use mempool::{Mempool, MempoolLimits, Taken};
use metrics::NodeMetrics;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, watch, Notify, Semaphore};

/// Admission batches checked at once. Each may hold a request body of up to
/// `rpc.max_body_bytes` while its signatures are checked on a blocking thread; without a
/// bound, concurrent requests could occupy hundreds of threads and gigabytes. Two cores
/// gain nothing from more than a few in parallel; the rest wait (within their timeout).
pub const MAX_CONCURRENT_ADMISSIONS: usize = 4;

pub use api::NodeHandle;
pub use consensus::{run_consensus, ConsensusSettings};
pub use follow::respond;
pub use producer::run_producer;
pub use replica::run_replica;

/// Consensus and block messages from peers, handed from one role's task to the next.
pub type Inbound = crate::net::PeerMessages;

/// What this node does for the next height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The only validator: produces and finalizes blocks alone.
    SoleValidator,
    /// One of several validators: runs consensus.
    Validator,
    /// Not a validator: follows the chain as a full replica.
    Replica,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::SoleValidator => "sole validator",
            Role::Validator => "validator",
            Role::Replica => "replica",
        }
    }
}

/// Equivocations kept for the RPC (the oldest are dropped beyond this).
pub const MAX_EVIDENCE: usize = 1_000;

/// One piece of evidence with where it is stored: its height and an id over its encoding.
#[derive(Debug)]
struct KeptEvidence {
    height: u64,
    id: Hash,
    evidence: Equivocation,
}

const EVIDENCE_ID_TAG: &[u8] = b"couponchain/evidence-id/v1";

impl KeptEvidence {
    fn new(evidence: Equivocation) -> KeptEvidence {
        let evidence = evidence.canonical();
        let height = evidence.height();
        let bytes = couponchain_chain::encoding::encode(&evidence);
        KeptEvidence {
            height,
            id: couponchain_chain::hash::hash_parts(EVIDENCE_ID_TAG, &[&bytes]),
            evidence,
        }
    }
}

/// The evidence stored by earlier runs (the newest [`MAX_EVIDENCE`]). A record that does not
/// decode, or a read that fails, is reported and skipped: evidence is kept for people to
/// read, and its loss must not stop a node that can follow and sign.
fn stored_evidence(ledger: &Ledger) -> VecDeque<KeptEvidence> {
    let records = match ledger.evidence(MAX_EVIDENCE) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "reading the stored evidence failed; starting without it");
            return VecDeque::new();
        }
    };
    records
        .into_iter()
        .filter_map(|r| {
            match couponchain_chain::encoding::decode::<Equivocation>(&r.bytes) {
                Ok(evidence) => Some(KeptEvidence {
                    height: r.height,
                    id: r.id,
                    evidence,
                }),
                Err(e) => {
                    tracing::warn!(height = r.height, id = %r.id, error = %e, "skipping stored evidence that does not decode");
                    None
                }
            }
        })
        .collect()
}

/// How a waited-for transaction ended.
#[derive(Debug, Clone)]
pub enum Finality {
    Final(Receipt),
    /// Taken out of the mempool without being included (expired, or invalid at inclusion).
    Dropped(ErrorBody),
}

/// What a node is configured with besides its ledger, key and network.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub mempool: MempoolLimits,
    pub block: BlockSettings,
}

#[derive(Debug, Clone)]
pub struct BlockSettings {
    pub min_interval: Duration,
    pub heartbeat: Duration,
    pub max_txs: usize,
    pub max_bytes: usize,
}

#[derive(Debug)]
pub struct Node {
    ledger: Arc<Ledger>,
    params: Params,
    key: Keypair,
    block: BlockSettings,
    mempool: Mutex<Mempool>,
    /// Transactions someone waits on (looked up by id, never iterated).
    waiters: Mutex<HashMap<TxId, Vec<oneshot::Sender<Finality>>>>,
    /// Wakes the producer when transactions arrive.
    wake: Notify,
    /// Bounds the admission batches in flight (see [`MAX_CONCURRENT_ADMISSIONS`]).
    admissions: Semaphore,
    /// Bounds the record read-aheads in flight (they are skipped beyond it).
    read_aheads: Arc<Semaphore>,
    head: watch::Sender<u64>,
    ready: AtomicBool,
    metrics: NodeMetrics,
    /// The role for the next height, as of the last final block.
    role: Mutex<Role>,
    net: Option<Network>,
    /// Peer ids of the validators of the next height, without this node.
    validator_peers: Mutex<Vec<PeerId>>,
    /// Evidence kept (and stored) most recent last, with its height and id.
    evidence: Mutex<VecDeque<KeptEvidence>>,
    /// The data directory's free space (client submissions are refused under its reserve).
    disk: Arc<disk::DiskGuard>,
    /// Bodies of the blocks being decided, also served to peers that missed one.
    bodies: Arc<bodies::Bodies>,
}

/// Locks a mutex, recovering the data if a thread panicked while holding it (the data
/// structures here stay consistent between statements).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    pub fn new(
        ledger: Arc<Ledger>,
        key: Keypair,
        settings: NodeSettings,
        metrics: NodeMetrics,
        net: Option<Network>,
        disk: Arc<disk::DiskGuard>,
        bodies: Arc<bodies::Bodies>,
    ) -> anyhow::Result<Arc<Node>> {
        let NodeSettings { mempool, block } = settings;
        let params = ledger.genesis().params();
        let role = role_in(&ledger.next_validator_set()?, &key);
        if role != Role::SoleValidator && net.is_none() {
            anyhow::bail!(
                "this node is a {} but has no peer-to-peer settings ([p2p] listen and peers)",
                role.name()
            );
        }
        let height = ledger.head().height;
        metrics.block_height.set(height as i64);
        let evidence = stored_evidence(&ledger);
        let node = Arc::new(Node {
            ledger,
            params,
            key,
            block,
            mempool: Mutex::new(Mempool::new(mempool)),
            waiters: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            admissions: Semaphore::new(MAX_CONCURRENT_ADMISSIONS),
            read_aheads: Arc::new(Semaphore::new(MAX_CONCURRENT_ADMISSIONS)),
            head: watch::channel(height).0,
            ready: AtomicBool::new(false),
            metrics,
            role: Mutex::new(role),
            net,
            validator_peers: Mutex::new(Vec::new()),
            evidence: Mutex::new(evidence),
            disk,
            bodies,
        });
        node.refresh_membership();
        Ok(node)
    }

    /// This node's role for the next height. A role task checks it after each final block
    /// and returns when it changed.
    pub fn role(&self) -> Role {
        *lock(&self.role)
    }

    /// Recomputes the role and the peers that receive transactions and consensus messages
    /// from the validator set of the next height (after each final block).
    fn refresh_membership(&self) {
        let Ok(set) = self.ledger.next_validator_set() else {
            return;
        };
        let role = role_in(&set, &self.key);
        let before = std::mem::replace(&mut *lock(&self.role), role);
        if before != role {
            tracing::warn!(
                from = before.name(),
                to = role.name(),
                height = self.ledger.head().height + 1,
                "the validator set changed this node's role"
            );
        }
        let me = self.key.public();
        let peers = set
            .validators
            .iter()
            .filter(|k| **k != me)
            .filter_map(crate::net::gate::peer_id)
            .collect();
        *lock(&self.validator_peers) = peers;
    }

    fn validator_peers(&self) -> Vec<PeerId> {
        lock(&self.validator_peers).clone()
    }

    /// Keeps new evidence, in memory for the RPC and in the ledger so that it outlives a
    /// restart; beyond [`MAX_EVIDENCE`] the oldest is dropped from both.
    /// Whether this evidence (by content) is already kept.
    fn knows_evidence(&self, e: &Equivocation) -> bool {
        let id = KeptEvidence::new(e.clone()).id;
        lock(&self.evidence).iter().any(|k| k.id == id)
    }

    /// Keeps evidence (in memory and in the ledger); returns whether it was new.
    fn record_evidence(&self, e: Equivocation) -> bool {
        let kept = KeptEvidence::new(e);
        let (height, id) = (kept.height, kept.id);
        let bytes = couponchain_chain::encoding::encode(&kept.evidence);
        let dropped = {
            let mut ev = lock(&self.evidence);
            if ev.iter().any(|k| k.id == id) {
                return false;
            }
            tracing::warn!(
                offender = %kept.evidence.offender(),
                height,
                %id,
                "equivocation: a validator signed two conflicting messages (kept as evidence)"
            );
            ev.push_back(kept);
            (ev.len() > MAX_EVIDENCE).then(|| ev.pop_front()).flatten()
        };
        self.metrics.equivocations.inc();
        // Written after the lock is released: the RPC reads the list meanwhile.
        if let Err(e) = self.ledger.put_evidence(height, &id, &bytes) {
            tracing::error!(error = %e, %id, "storing evidence failed; it is kept in memory only");
        }
        if let Some(old) = dropped {
            if let Err(e) = self.ledger.delete_evidence(old.height, &old.id) {
                tracing::warn!(error = %e, id = %old.id, "pruning stored evidence failed");
            }
        }
        true
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Takes a batch from the mempool and prepares a block of it at `time_ms` on the ledger's
    /// tip. Transactions whose validity window closed, or that are no longer includable
    /// (invalid at inclusion), are dropped with their reason and the block is built again
    /// without them. On any other error the batch comes back with it, for the caller to
    /// return or fail. Every mempool transaction had its signatures checked on admission.
    fn take_and_prepare(
        &self,
        time_ms: u64,
    ) -> Result<(PreparedBlock, Vec<Taken>), (StorageError, Vec<Taken>)> {
        let (mut batch, expired) = {
            let mut pool = lock(&self.mempool);
            let expired = pool.prune_expired(time_ms);
            (
                pool.take_batch(self.block.max_txs, self.block.max_bytes),
                expired,
            )
        };
        for id in expired {
            self.drop_tx(
                &id,
                "tx_expired",
                "the transaction's validity window closed before inclusion".into(),
            );
        }
        let checked = |_: &TxId, _: &SignedTransaction| true;
        loop {
            let txs = batch.iter().map(|t| t.tx.clone()).collect();
            match self.ledger.prepare_proposal(
                txs,
                time_ms,
                self.key.public(),
                SignatureCheck::Cached(&checked),
            ) {
                Ok(p) => return Ok((p, batch)),
                Err(StorageError::Runtime(RuntimeError::InvalidBlockTx { index, error })) => {
                    let t = batch.remove(index as usize);
                    tracing::debug!(tx = %t.id, code = error.code(), "dropping a transaction at inclusion");
                    self.drop_tx(&t.id, error.code(), error.to_string());
                }
                Err(e) => return Err((e, batch)),
            }
        }
    }

    /// Counts a refusal and tells whoever waits on `id` that it will not be included.
    fn drop_tx(&self, id: &TxId, code: &'static str, message: String) {
        self.metrics.refused(code);
        self.finish(
            id,
            Finality::Dropped(ErrorBody {
                code: code.to_string(),
                message,
            }),
        );
    }

    fn finish(&self, id: &TxId, how: Finality) {
        if let Some(ws) = lock(&self.waiters).remove(id) {
            for w in ws {
                let _ = w.send(how.clone());
            }
        }
    }
}

/// The role of `key` in a validator set.
fn role_in(set: &couponchain_chain::block::ValidatorSet, key: &Keypair) -> Role {
    match (set.contains(&key.public()), set.len()) {
        (true, 1) => Role::SoleValidator,
        (true, _) => Role::Validator,
        (false, _) => Role::Replica,
    }
}

/// Milliseconds since the Unix epoch by this machine's clock (used only to propose a
/// block time; consensus time is what the chain records).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
