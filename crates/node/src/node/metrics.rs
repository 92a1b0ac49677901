//! The node's Prometheus metrics. Each is documented where it is registered; units are the
//! last word of the name.

use couponchain_storage::Ledger;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

/// A stage of admitting a batch of transactions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: &'static str,
}

#[derive(Clone, Debug)]
pub struct NodeMetrics {
    pub block_height: Gauge,
    pub block_txs: Histogram,
    pub block_build_seconds: Histogram,
    pub block_commit_seconds: Histogram,
    pub finality_latency_seconds: Histogram,
    pub height_seconds: Histogram,
    pub decided_late_round: Counter,
    pub equivocations: Counter,
    pub signing_halted: Gauge,
    pub mempool_txs: Gauge,
    pub mempool_bytes: Gauge,
    pub txs_admitted: Counter,
    pub txs_refused: Family<CodeLabel, Counter>,
    pub admission_seconds: Family<StageLabel, Histogram, fn() -> Histogram>,
}

fn admission_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl NodeMetrics {
    pub fn register(r: &mut Registry) -> NodeMetrics {
        let m = NodeMetrics {
            block_height: Gauge::default(),
            block_txs: Histogram::new([0.0, 1.0, 10.0, 100.0, 1000.0, 5000.0, 10000.0]),
            block_build_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            block_commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            finality_latency_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            height_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            decided_late_round: Counter::default(),
            equivocations: Counter::default(),
            signing_halted: Gauge::default(),
            mempool_txs: Gauge::default(),
            mempool_bytes: Gauge::default(),
            txs_admitted: Counter::default(),
            txs_refused: Family::default(),
            admission_seconds: Family::new_with_constructor(admission_histogram),
        };
        r.register(
            "couponchain_block_height",
            "Height of the last final block",
            m.block_height.clone(),
        );
        r.register(
            "couponchain_block_txs",
            "Transactions per committed block",
            m.block_txs.clone(),
        );
        r.register(
            "couponchain_block_build_seconds",
            "Time to execute a block and update the state root",
            m.block_build_seconds.clone(),
        );
        r.register(
            "couponchain_block_commit_seconds",
            "Time to write a block atomically (fsync included)",
            m.block_commit_seconds.clone(),
        );
        r.register(
            "couponchain_consensus_height_seconds",
            "Time from the start of a height to its decision at this validator",
            m.height_seconds.clone(),
        );
        r.register(
            "couponchain_consensus_decided_late_round",
            "Heights this validator saw decided in a round after the first (a proposer or a quorum was late)",
            m.decided_late_round.clone(),
        );
        r.register(
            "couponchain_consensus_equivocations",
            "Equivocations recorded as new evidence (two conflicting messages signed by one validator)",
            m.equivocations.clone(),
        );
        r.register(
            "couponchain_consensus_signing_halted",
            "1 once this validator stopped signing because another process signs with its key (see DATA/signing-halted); page someone",
            m.signing_halted.clone(),
        );
        r.register(
            "couponchain_finality_latency_seconds",
            "Time from a transaction's admission to the commit of its block",
            m.finality_latency_seconds.clone(),
        );
        r.register(
            "couponchain_mempool_txs",
            "Transactions waiting in the mempool",
            m.mempool_txs.clone(),
        );
        r.register(
            "couponchain_mempool_bytes",
            "Bytes of transactions waiting in the mempool",
            m.mempool_bytes.clone(),
        );
        r.register(
            "couponchain_txs_admitted",
            "Transactions admitted to the mempool",
            m.txs_admitted.clone(),
        );
        r.register(
            "couponchain_txs_refused",
            "Transactions refused at admission or dropped before inclusion, by code",
            m.txs_refused.clone(),
        );
        r.register(
            "couponchain_admission_seconds",
            "Time a batch of submitted or forwarded transactions spends in each stage of admission: queued (waiting for an admission slot; a peer's batch also waits for the one before it), checks (envelope, already final, role), signatures, mempool (lock and insert)",
            m.admission_seconds.clone(),
        );
        m
    }

    pub fn admission_stage(&self, stage: &'static str, seconds: f64) {
        self.admission_seconds
            .get_or_create(&StageLabel { stage })
            .observe(seconds);
    }

    pub fn refused(&self, code: &str) {
        self.refused_many(code, 1);
    }

    pub fn refused_many(&self, code: &str, txs: u64) {
        self.txs_refused
            .get_or_create(&CodeLabel {
                code: code.to_string(),
            })
            .inc_by(txs);
    }
}

/// The gauges that read zero once a node's storage has digested what was written: no flush
/// or compaction running or due (`loadgen --settle-rpc` waits for them).
pub const STORAGE_SETTLED_GAUGES: [&str; 4] = [
    PENDING_COMPACTION,
    RUNNING_COMPACTIONS,
    RUNNING_FLUSHES,
    IMMUTABLE_MEMTABLES,
];
const PENDING_COMPACTION: &str = "couponchain_storage_pending_compaction_bytes";
const RUNNING_COMPACTIONS: &str = "couponchain_storage_running_compactions";
const RUNNING_FLUSHES: &str = "couponchain_storage_running_flushes";
const IMMUTABLE_MEMTABLES: &str = "couponchain_storage_immutable_memtables";

/// The storage engine's background state, read from RocksDB on each scrape (a backlog of
/// compaction or stopped writes is what an operator must see before blocks slow down).
#[derive(Debug)]
pub struct StorageCollector {
    pub ledger: Arc<Ledger>,
    pub disk: Arc<super::disk::DiskGuard>,
}

impl Collector for StorageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let disk: [(&str, &str, u64); 2] = [
            (
                "couponchain_storage_disk_free_bytes",
                "Free bytes on the data directory's disk (at the last check, every 5 s)",
                self.disk.free(),
            ),
            (
                "couponchain_storage_disk_low",
                "1 while the free space is under storage.min_free_mb (client transactions refused)",
                u64::from(self.disk.low().is_some()),
            ),
        ];
        for (name, help, value) in disk {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        let s = match self.ledger.storage_stats() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "reading storage statistics");
                return Ok(());
            }
        };
        let gauges: [(&str, &str, u64); 15] = [
            (
                PENDING_COMPACTION,
                "Bytes compaction must still rewrite to bring every level under its target",
                s.pending_compaction_bytes,
            ),
            (
                RUNNING_COMPACTIONS,
                "Compactions running now",
                s.running_compactions,
            ),
            (
                RUNNING_FLUSHES,
                "Memtable flushes running now",
                s.running_flushes,
            ),
            (
                "couponchain_storage_level0_files",
                "Level-0 table files, all column families",
                s.level0_files,
            ),
            (
                IMMUTABLE_MEMTABLES,
                "Full memtables waiting to be flushed",
                s.immutable_memtables,
            ),
            (
                "couponchain_storage_live_sst_bytes",
                "Bytes of live table files",
                s.live_sst_bytes,
            ),
            (
                "couponchain_storage_blob_bytes",
                "Bytes of blob files (transactions and receipts)",
                s.blob_bytes,
            ),
            (
                "couponchain_storage_memtable_bytes",
                "Bytes held in memtables",
                s.memtable_bytes,
            ),
            (
                "couponchain_storage_writes_stopped",
                "1 while writes are stopped until compaction catches up",
                u64::from(s.writes_stopped),
            ),
            (
                "couponchain_storage_delayed_write_rate_bytes",
                "Rate writes are slowed to while compaction catches up, bytes/s (0: not slowed)",
                s.delayed_write_rate,
            ),
            (
                "couponchain_storage_tree_cache_chunks",
                "State-tree chunks held in the node's chunk cache",
                s.tree_cache_chunks,
            ),
            (
                "couponchain_storage_tree_cache_bytes",
                "Weight of the chunk cache: encoded chunk bytes + 80 per chunk (storage.tree_cache_mb bounds it)",
                s.tree_cache_bytes,
            ),
            (
                "couponchain_storage_tree_overlay_chunks",
                "State-tree chunks changed by committed blocks, held in memory until the next checkpoint writes them",
                s.tree_overlay_chunks,
            ),
            (
                "couponchain_storage_tree_overlay_bytes",
                "Weight of those chunks (a checkpoint starts at storage.tree_flush_mb)",
                s.tree_overlay_bytes,
            ),
            (
                "couponchain_storage_tree_persisted_height",
                "The last block whose state tree is all written to RocksDB",
                s.tree_persisted_height,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        let counters: [(&str, &str, u64); 4] = [
            (
                "couponchain_storage_tree_cache_hits",
                "State-tree chunk lookups answered by the chunk cache",
                s.tree_cache_hits,
            ),
            (
                "couponchain_storage_tree_cache_misses",
                "State-tree chunk lookups that read RocksDB",
                s.tree_cache_misses,
            ),
            (
                "couponchain_storage_tree_checkpoints",
                "State-tree checkpoints written since the node started",
                s.tree_checkpoints,
            ),
            (
                "couponchain_storage_tree_checkpoint_failures",
                "State-tree checkpoints that failed (their chunks stay in memory for the next)",
                s.tree_checkpoint_failures,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}
