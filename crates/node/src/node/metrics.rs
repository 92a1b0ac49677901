//! The node's Prometheus metrics. Each is documented where it is registered; units are the
//! last word of the name.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Clone, Debug)]
pub struct NodeMetrics {
    pub block_height: Gauge,
    pub block_txs: Histogram,
    pub block_build_seconds: Histogram,
    pub block_commit_seconds: Histogram,
    pub finality_latency_seconds: Histogram,
    pub mempool_txs: Gauge,
    pub mempool_bytes: Gauge,
    pub txs_admitted: Counter,
    pub txs_refused: Family<CodeLabel, Counter>,
}

impl NodeMetrics {
    pub fn register(r: &mut Registry) -> NodeMetrics {
        let m = NodeMetrics {
            block_height: Gauge::default(),
            block_txs: Histogram::new([0.0, 1.0, 10.0, 100.0, 1000.0, 5000.0, 10000.0]),
            block_build_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            block_commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            finality_latency_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            mempool_txs: Gauge::default(),
            mempool_bytes: Gauge::default(),
            txs_admitted: Counter::default(),
            txs_refused: Family::default(),
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
        m
    }

    pub fn refused(&self, code: &str) {
        self.txs_refused
            .get_or_create(&CodeLabel {
                code: code.to_string(),
            })
            .inc();
    }
}
