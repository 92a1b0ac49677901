//! The state tree's chunks on RocksDB, behind a bounded cache of committed chunks.

use crate::tables;
use crate::StorageStats;
use couponchain_chain::smt::{Chunk, ChunkPos, ChunkStore};
use couponchain_chain::ChainError;
use quick_cache::unsync::Cache;
use quick_cache::Weighter;
use rocksdb::{Direction, IteratorMode, ReadOptions, SnapshotWithThreadMode, DB};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Committed chunks, in their compact encoding (~200 bytes on average instead of ~1 KiB
/// decoded), bounded in bytes. Only the committing writer inserts (after the batch is
/// durable), so the cache never holds a chunk of an uncommitted block. Lookups that hit
/// and miss are counted for the metrics.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    chunks: Mutex<Chunks>,
    hits: AtomicU64,
    misses: AtomicU64,
}

type Chunks = Cache<ChunkPos, Vec<u8>, ByteWeighter>;

impl ChunkCache {
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Chunks>, ChainError> {
        self.chunks
            .lock()
            .map_err(|_| ChainError::Store("tree cache lock poisoned".into()))
    }

    /// Fills the cache's fields of `s`: chunks held, their weight, lookups that hit and missed.
    pub(crate) fn fill_stats(&self, s: &mut StorageStats) {
        if let Ok(c) = self.lock() {
            s.tree_cache_chunks = c.len() as u64;
            s.tree_cache_bytes = c.weight();
        }
        s.tree_cache_hits = self.hits.load(Ordering::Relaxed);
        s.tree_cache_misses = self.misses.load(Ordering::Relaxed);
    }
}

/// Weighs a cached chunk by its encoded size plus a fixed per-entry overhead.
#[derive(Clone, Debug)]
pub(crate) struct ByteWeighter;

impl Weighter<ChunkPos, Vec<u8>> for ByteWeighter {
    fn weight(&self, _key: &ChunkPos, value: &Vec<u8>) -> u64 {
        value.len() as u64 + 80
    }
}

pub(crate) fn new_cache(bytes: usize) -> ChunkCache {
    let bytes = bytes.max(64 << 10);
    ChunkCache {
        chunks: Mutex::new(Cache::with_weighter(
            bytes / 280,
            bytes as u64,
            ByteWeighter,
        )),
        hits: AtomicU64::new(0),
        misses: AtomicU64::new(0),
    }
}

fn decode(pos: &ChunkPos, bytes: &[u8]) -> Result<Chunk, ChainError> {
    Chunk::decode(bytes).map_err(|e| ChainError::Decode(format!("chunk {}: {e}", hex_key(pos))))
}

fn hex_key(pos: &ChunkPos) -> String {
    pos.storage_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What [`warm`] loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WarmStats {
    /// Chunks put in the cache.
    pub chunks: u64,
    /// Their encoded bytes.
    pub bytes: u64,
    /// Whether every stored chunk fit (else the deepest ones were left on disk).
    pub complete: bool,
}

/// Fills the cache with committed chunks, shallowest first (keys sort by depth), until it
/// is `fill` full. Must run before any block is committed through this cache: it reads
/// without a snapshot and inserts without checking what a writer put there meanwhile.
pub(crate) fn warm(db: &DB, cache: &ChunkCache, fill: f64) -> Result<WarmStats, ChainError> {
    let cf = db
        .cf_handle(tables::TREE.name)
        .ok_or_else(|| ChainError::Store("tree column family missing".into()))?;
    let mut ro = ReadOptions::default();
    // One pass over the whole column family: keep it out of the block cache, read ahead.
    ro.fill_cache(false);
    ro.set_readahead_size(4 << 20);
    let mut cache = cache.lock()?;
    let budget = (cache.capacity() as f64 * fill.clamp(0.0, 1.0)) as u64;
    let mut stats = WarmStats {
        complete: true,
        ..WarmStats::default()
    };
    for item in db.iterator_cf_opt(cf, ro, IteratorMode::From(&[], Direction::Forward)) {
        let (key, value) = item.map_err(|e| ChainError::Store(e.to_string()))?;
        let weight = value.len() as u64 + 80;
        if cache.weight() + weight > budget {
            stats.complete = false;
            break;
        }
        let pos = ChunkPos::from_storage_key(&key)?;
        stats.chunks += 1;
        stats.bytes += value.len() as u64;
        cache.insert(pos, value.into_vec());
    }
    Ok(stats)
}

/// Reads the latest committed tree, through the cache.
pub(crate) struct CachedTree<'a> {
    pub db: &'a DB,
    pub cache: &'a ChunkCache,
}

impl ChunkStore for CachedTree<'_> {
    fn get_chunk(&self, pos: &ChunkPos) -> Result<Option<Chunk>, ChainError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some(bytes) = cache.get(pos) {
                self.cache.hits.fetch_add(1, Ordering::Relaxed);
                return decode(pos, bytes).map(Some);
            }
        }
        self.cache.misses.fetch_add(1, Ordering::Relaxed);
        let cf = self
            .db
            .cf_handle(tables::TREE.name)
            .ok_or_else(|| ChainError::Store("tree column family missing".into()))?;
        let Some(bytes) = self
            .db
            .get_pinned_cf(cf, pos.storage_key())
            .map_err(|e| ChainError::Store(e.to_string()))?
        else {
            return Ok(None);
        };
        let chunk = decode(pos, &bytes)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(*pos, bytes.to_vec());
        }
        Ok(Some(chunk))
    }
}

/// Reads the tree as of a snapshot (for proofs consistent with one head), bypassing the cache.
pub(crate) struct SnapshotTree<'a> {
    pub db: &'a DB,
    pub snap: &'a SnapshotWithThreadMode<'a, DB>,
}

impl ChunkStore for SnapshotTree<'_> {
    fn get_chunk(&self, pos: &ChunkPos) -> Result<Option<Chunk>, ChainError> {
        let cf = self
            .db
            .cf_handle(tables::TREE.name)
            .ok_or_else(|| ChainError::Store("tree column family missing".into()))?;
        match self
            .snap
            .get_cf(cf, pos.storage_key())
            .map_err(|e| ChainError::Store(e.to_string()))?
        {
            None => Ok(None),
            Some(bytes) => decode(pos, &bytes).map(Some),
        }
    }
}
