//! Every column family, with its key and value layout. Heights and indexes in keys are
//! big-endian so keys sort numerically; values are the canonical encoding unless noted.

use couponchain_chain::{Header, SignedTransaction, TxId};
use couponchain_runtime::Receipt;
use rocksdb::{BlockBasedOptions, Cache, ColumnFamilyDescriptor, Options};
use serde::{Deserialize, Serialize};

/// A block as stored: the header and its transaction ids; the transactions live in `txs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlock {
    pub header: Header,
    pub tx_ids: Vec<TxId>,
}

/// A transaction as stored, with its receipt (which says where it landed). Its encoding
/// is that of the tuple `(tx, receipt)`, which the ledger writes without building one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTx {
    pub tx: SignedTransaction,
    pub receipt: Receipt,
}

/// One column family.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// Point lookups dominate: give it a bloom filter.
    pub point_lookups: bool,
    /// Values are written once, never overwritten, and far larger than their keys: keep
    /// them in blob files so compaction moves only keys and blob references.
    pub blob_values: bool,
    pub doc: &'static str,
}

pub const META: Table = Table {
    name: "meta",
    point_lookups: false,
    blob_values: false,
    doc: "b\"head\" → Head; b\"genesis\" → Genesis (JSON, as given); b\"tree_head\" → the block whose tree `tree` holds (height, state root)",
};
pub const BLOCKS: Table = Table {
    name: "blocks",
    point_lookups: false,
    blob_values: false,
    doc: "height (u64 BE) → StoredBlock (header and the ids of its transactions, in order)",
};
pub const BLOCK_HEIGHTS: Table = Table {
    name: "block_heights",
    point_lookups: true,
    blob_values: false,
    doc: "block hash (32) → height (u64 BE)",
};
pub const CERTS: Table = Table {
    name: "certs",
    point_lookups: false,
    blob_values: false,
    doc: "height (u64 BE) → CommitCertificate",
};
pub const TXS: Table = Table {
    name: "txs",
    point_lookups: true,
    blob_values: true,
    doc: "tx id (32) → StoredTx (the signed transaction and its receipt); also the replay index",
};
pub const STATE: Table = Table {
    name: "state",
    point_lookups: true,
    blob_values: false,
    doc: "tree key (32) → encoded Record",
};
pub const TREE: Table = Table {
    name: "tree",
    point_lookups: true,
    blob_values: false,
    doc: "chunk position (depth u8 ‖ prefix bytes) → Chunk (compact encoding)",
};
pub const TREE_JOURNAL: Table = Table {
    name: "tree_journal",
    point_lookups: false,
    blob_values: false,
    doc: "height (u64 BE) → the state keys the block changed (32 bytes each, sorted), for blocks whose tree chunks are not yet in `tree`",
};
pub const OWNER_COUPONS: Table = Table {
    name: "owner_coupons",
    point_lookups: false,
    blob_values: false,
    doc: "owner (32) ‖ coupon id (32) → empty",
};
pub const COUPON_HISTORY: Table = Table {
    name: "coupon_history",
    point_lookups: false,
    blob_values: false,
    doc: "coupon id (32) ‖ height (u64 BE) ‖ tx index (u32 BE) ‖ event index (u32 BE) → tx id (32); the event is read from the receipt",
};
pub const ISSUER_CAMPAIGNS: Table = Table {
    name: "issuer_campaigns",
    point_lookups: false,
    blob_values: false,
    doc: "issuer (32) ‖ campaign id (32) → empty",
};
pub const EVIDENCE: Table = Table {
    name: "evidence",
    point_lookups: false,
    blob_values: false,
    doc: "height (u64 BE) ‖ evidence id (32) → the evidence as the node encoded it (opaque here)",
};

pub const ALL: [Table; 12] = [
    META,
    BLOCKS,
    BLOCK_HEIGHTS,
    CERTS,
    TXS,
    STATE,
    TREE,
    TREE_JOURNAL,
    OWNER_COUPONS,
    COUPON_HISTORY,
    ISSUER_CAMPAIGNS,
    EVIDENCE,
];

/// Column family descriptors sharing one block cache.
pub fn descriptors(cache: &Cache, write_buffer_bytes: usize) -> Vec<ColumnFamilyDescriptor> {
    ALL.iter()
        .map(|t| ColumnFamilyDescriptor::new(t.name, options(t, cache, write_buffer_bytes)))
        .collect()
}

/// One column family's options (also those its externally written table files are built with).
pub fn options(t: &Table, cache: &Cache, write_buffer_bytes: usize) -> Options {
    let mut bb = BlockBasedOptions::default();
    bb.set_block_cache(cache);
    bb.set_cache_index_and_filter_blocks(true);
    let mut memtable_bloom = false;
    if t.point_lookups {
        bb.set_bloom_filter(10.0, false);
        memtable_bloom = true;
    }
    let mut o = Options::default();
    o.set_block_based_table_factory(&bb);
    // A 10,000-transaction block writes ~10 MB; larger memtables mean fewer level-0
    // files and less compaction competing with block execution for the two cores.
    // (The database-wide cap in `Ledger::open` bounds the sum.)
    o.set_write_buffer_size(write_buffer_bytes.max(4 << 20));
    o.set_max_write_buffer_number(3);
    // Keys are hashes, so every level-0 file overlaps all of level 1 and each
    // L0→L1 compaction rewrites level 1: waiting for 8 files instead of 4 halves
    // that share (60 s dev run: compaction output 0.51 → 0.37 of what flushes write).
    o.set_level_zero_file_num_compaction_trigger(8);
    if memtable_bloom {
        // Most point lookups miss (replay checks, "already final?"): a bloom filter
        // over whole keys lets them skip the memtables' skiplists.
        o.set_memtable_whole_key_filtering(true);
        o.set_memtable_prefix_bloom_ratio(0.05);
    }
    if t.blob_values {
        // A transaction and its receipt are ~500 bytes under a 32-byte id; inline,
        // they were a third of all compaction output at full load. The blob cache
        // is the shared block cache.
        o.set_enable_blob_files(true);
        o.set_min_blob_size(64);
        o.set_blob_cache(cache);
    }
    o
}

pub fn height_key(h: u64) -> [u8; 8] {
    h.to_be_bytes()
}

pub fn pair_key(a: &[u8; 32], b: &[u8; 32]) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(a);
    k[32..].copy_from_slice(b);
    k
}

pub fn history_key(coupon: &[u8; 32], h: u64, tx_index: u32, ev_index: u32) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..32].copy_from_slice(coupon);
    k[32..40].copy_from_slice(&h.to_be_bytes());
    k[40..44].copy_from_slice(&tx_index.to_be_bytes());
    k[44..].copy_from_slice(&ev_index.to_be_bytes());
    k
}
