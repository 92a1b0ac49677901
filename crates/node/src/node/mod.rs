//! The running node: the ledger, the mempool, the block producer and the handle the RPC
//! uses. Admission and block production run on blocking threads (signature checks and
//! RocksDB work); the async side only waits and wakes.
//!
//! Today the node is a single validator that finalizes its own blocks (the commit
//! certificate carries its one precommit). Multi-validator consensus replaces
//! [`producer`] with the consensus driver (issue #4).

mod admission;
mod api;
pub mod mempool;
pub mod metrics;
mod producer;

use couponchain_chain::{Keypair, TxId};
use couponchain_rpc::ErrorBody;
use couponchain_runtime::{Params, Receipt};
use couponchain_storage::Ledger;
use mempool::{Mempool, MempoolLimits};
use metrics::NodeMetrics;
use std::collections::HashMap;
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
pub use producer::run_producer;

/// How a waited-for transaction ended.
#[derive(Debug, Clone)]
pub enum Finality {
    Final(Receipt),
    /// Taken out of the mempool without being included (expired, or invalid at inclusion).
    Dropped(ErrorBody),
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
    head: watch::Sender<u64>,
    ready: AtomicBool,
    metrics: NodeMetrics,
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
        mempool: MempoolLimits,
        block: BlockSettings,
        metrics: NodeMetrics,
    ) -> anyhow::Result<Arc<Node>> {
        let params = ledger.genesis().params();
        let set = ledger.next_validator_set()?;
        if !set.contains(&key.public()) {
            anyhow::bail!(
                "this node's key {} is not in the validator set; replicas arrive with issue #4",
                key.public()
            );
        }
        if set.len() != 1 {
            anyhow::bail!(
                "the genesis names {} validators; this build runs a single validator (multi-validator consensus is issue #4)",
                set.len()
            );
        }
        let height = ledger.head().height;
        metrics.block_height.set(height as i64);
        Ok(Arc::new(Node {
            ledger,
            params,
            key,
            block,
            mempool: Mutex::new(Mempool::new(mempool)),
            waiters: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            admissions: Semaphore::new(MAX_CONCURRENT_ADMISSIONS),
            head: watch::channel(height).0,
            ready: AtomicBool::new(false),
            metrics,
        }))
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    fn finish(&self, id: &TxId, how: Finality) {
        if let Some(ws) = lock(&self.waiters).remove(id) {
            for w in ws {
                let _ = w.send(how.clone());
            }
        }
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
