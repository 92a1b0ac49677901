//! What RocksDB is doing in the background, for operators and for benchmarks that must not
//! start measuring while an earlier burst of writes is still being compacted: sizes, the
//! compaction backlog, running flushes and compactions, and whether writes are being
//! slowed or stopped to let compaction catch up.

use crate::error::StorageError;
use crate::ledger::Ledger;
use crate::tables;
use rocksdb::properties;

/// A snapshot of the storage engine's state, summed over all column families.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Bytes RocksDB estimates compaction must rewrite to bring every level under its target.
    pub pending_compaction_bytes: u64,
    pub running_compactions: u64,
    pub running_flushes: u64,
    /// Level-0 files (each overlaps the others; reads check them all).
    pub level0_files: u64,
    /// Memtables full and waiting to be flushed.
    pub immutable_memtables: u64,
    /// Bytes of live table files (blob files not included).
    pub live_sst_bytes: u64,
    /// Bytes in blob files (transactions and receipts).
    pub blob_bytes: u64,
    /// Bytes in memtables, active and immutable.
    pub memtable_bytes: u64,
    /// Writes are stopped until compaction catches up.
    pub writes_stopped: bool,
    /// Writes are being slowed to this many bytes per second (0: not slowed).
    pub delayed_write_rate: u64,
    /// State-tree chunks in the node's own cache, and their weight (encoded bytes + 80 each).
    pub tree_cache_chunks: u64,
    pub tree_cache_bytes: u64,
    /// Chunk lookups the cache answered, and those that went to RocksDB, since opening.
    pub tree_cache_hits: u64,
    pub tree_cache_misses: u64,
    /// State-tree chunks changed by committed blocks and held in memory until the next
    /// checkpoint writes them (including the one being written), and their weight.
    pub tree_overlay_chunks: u64,
    pub tree_overlay_bytes: u64,
    /// The last block whose state tree is all in RocksDB.
    pub tree_persisted_height: u64,
    /// Checkpoints written, and failed (their chunks were kept for the next), since opening.
    pub tree_checkpoints: u64,
    pub tree_checkpoint_failures: u64,
}

impl Ledger {
    /// Reads the storage engine's counters (cheap: no I/O).
    pub fn storage_stats(&self) -> Result<StorageStats, StorageError> {
        let db = self.db();
        let int = |name: &str| -> Result<u64, StorageError> {
            Ok(db.property_int_value(name)?.unwrap_or(0))
        };
        let mut s = StorageStats {
            running_compactions: int(properties::NUM_RUNNING_COMPACTIONS.as_str())?,
            running_flushes: int(properties::NUM_RUNNING_FLUSHES.as_str())?,
            writes_stopped: int(properties::IS_WRITE_STOPPED.as_str())? != 0,
            delayed_write_rate: int(properties::ACTUAL_DELAYED_WRITE_RATE.as_str())?,
            ..StorageStats::default()
        };
        self.tree_cache().fill_stats(&mut s);
        let o = self.overlay().stats();
        s.tree_overlay_chunks = o.chunks;
        s.tree_overlay_bytes = o.bytes;
        s.tree_persisted_height = o.persisted;
        s.tree_checkpoints = o.checkpoints;
        s.tree_checkpoint_failures = o.failures;
        let level0 = properties::num_files_at_level(0);
        for t in tables::ALL {
            let cf = self.cf(t)?;
            let cf_int = |name: &str| -> Result<u64, StorageError> {
                Ok(db.property_int_value_cf(cf, name)?.unwrap_or(0))
            };
            s.pending_compaction_bytes +=
                cf_int(properties::ESTIMATE_PENDING_COMPACTION_BYTES.as_str())?;
            s.level0_files += cf_int(level0.as_str())?;
            s.immutable_memtables += cf_int(properties::NUM_IMMUTABLE_MEM_TABLE.as_str())?;
            s.live_sst_bytes += cf_int(properties::LIVE_SST_FILES_SIZE.as_str())?;
            s.blob_bytes += cf_int("rocksdb.total-blob-file-size")?;
            s.memtable_bytes += cf_int(properties::CUR_SIZE_ALL_MEM_TABLES.as_str())?;
        }
        Ok(s)
    }
}
