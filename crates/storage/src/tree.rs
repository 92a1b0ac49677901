//! The state tree's chunks on RocksDB, behind a bounded cache of committed chunks and an
//! overlay of chunks that committed blocks changed but that are not written yet.
//!
//! A block's changed chunks need not reach the tree column family with the block: every
//! block rewrites the top of the tree, and at millions of keys a block of redemptions
//! rewrites about 2.4 chunks per transaction (3.8 for small blocks). The ledger instead
//! journals the block's changed *keys* in its batch (32 bytes each, from which the chunks
//! can be recomputed), holds the changed chunks in the [`Overlay`], and writes the overlay
//! out as one sorted table file ingested into RocksDB (a *checkpoint*, on a background
//! thread) once it holds enough: chunks rewritten by many blocks in between are written
//! once. Reads go overlay → cache → RocksDB. After a crash the ledger recomputes the chunks of the journalled
//! blocks from the state column family (see `Ledger::open`).

use crate::tables;
use crate::StorageStats;
use couponchain_chain::smt::{Chunk, ChunkPos, ChunkStore};
use couponchain_chain::ChainError;
use quick_cache::unsync::Cache;
use quick_cache::Weighter;
use rocksdb::{Direction, IteratorMode, ReadOptions, DB};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Chunks as RocksDB holds them, in their compact encoding (~200 bytes on average instead
/// of ~1 KiB decoded), bounded in bytes. Filled by the warm-up, by block execution's reads
/// from RocksDB, and with the chunks a block (checkpoints off) or a checkpoint has just made
/// durable — never with a chunk that is only in the overlay, which is read first and
/// shadows any older copy here. Lookups that hit and miss are counted for the metrics.
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

/// Reads the latest committed tree: the overlay, then the cache, then RocksDB.
pub(crate) struct CachedTree<'a> {
    pub db: &'a DB,
    pub cache: &'a ChunkCache,
    pub overlay: &'a Overlay,
    /// Put chunks read from RocksDB in the cache.
    pub remember: bool,
}

impl ChunkStore for CachedTree<'_> {
    fn get_chunk(&self, pos: &ChunkPos) -> Result<Option<Chunk>, ChainError> {
        if let Some(found) = self.overlay.get(pos)? {
            return Ok(found);
        }
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
        if self.remember {
            if let Ok(mut cache) = self.cache.lock() {
                cache.insert(*pos, bytes.to_vec());
            }
        }
        Ok(Some(chunk))
    }
}

/// A changed chunk as the overlay holds it: its compact encoding, or `None` if the block
/// emptied it.
pub(crate) type ChunkWrite = Option<Vec<u8>>;

/// Chunks changed by a run of committed blocks, all of them at once the tree as of the
/// last of them (together with what is persisted below).
#[derive(Debug, Default)]
pub(crate) struct Layer {
    pub chunks: HashMap<ChunkPos, ChunkWrite>,
    /// Encoded bytes + 80 per chunk, as the cache weighs them.
    pub bytes: u64,
    /// The last block whose chunks are in the layer, and its state root.
    pub height: u64,
    pub root: couponchain_chain::Hash,
}

impl Layer {
    pub(crate) fn put(&mut self, pos: ChunkPos, chunk: ChunkWrite) {
        let weight = chunk.as_ref().map_or(0, |c| c.len() as u64) + 80;
        if let Some(old) = self.chunks.insert(pos, chunk) {
            self.bytes -= old.as_ref().map_or(0, |c| c.len() as u64) + 80;
        }
        self.bytes += weight;
    }
}

#[derive(Debug, Default)]
struct Layers {
    /// Blocks committed since the checkpoint in flight began (or since the last one).
    dirty: Layer,
    /// The checkpoint being written, older than `dirty`.
    writing: Option<Arc<Layer>>,
    /// The last block whose chunks are all in the tree column family.
    persisted: u64,
    checkpoints: u64,
    failures: u64,
}

/// Chunks of committed blocks that are not (or not yet known to be) in the tree column
/// family. Only the committing writer adds to it; the checkpoint thread drains it.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    layers: Mutex<Layers>,
    /// Signalled whenever a checkpoint ends.
    written: Condvar,
}

/// When the overlay's dirty layer becomes a checkpoint.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlushLimits {
    pub bytes: u64,
    pub blocks: u64,
}

/// What the overlay holds, for the metrics.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OverlayStats {
    pub chunks: u64,
    pub bytes: u64,
    pub persisted: u64,
    pub checkpoints: u64,
    pub failures: u64,
}

impl Overlay {
    pub(crate) fn new(persisted: u64) -> Overlay {
        Overlay {
            layers: Mutex::new(Layers {
                persisted,
                ..Layers::default()
            }),
            written: Condvar::new(),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Layers>, ChainError> {
        self.layers
            .lock()
            .map_err(|_| ChainError::Store("tree overlay lock poisoned".into()))
    }

    /// `Some(chunk or its absence)` if a committed block changed `pos` after the last
    /// checkpoint that is on disk.
    pub(crate) fn get(&self, pos: &ChunkPos) -> Result<Option<Option<Chunk>>, ChainError> {
        let layers = self.lock()?;
        let found = match layers.dirty.chunks.get(pos) {
            Some(c) => c,
            None => match layers.writing.as_ref().and_then(|w| w.chunks.get(pos)) {
                Some(c) => c,
                None => return Ok(None),
            },
        };
        match found {
            Some(bytes) => decode(pos, bytes).map(|c| Some(Some(c))),
            None => Ok(Some(None)),
        }
    }

    /// Adds a durable block's chunks. Returns the layer to write if no checkpoint is in
    /// flight and the overlay now holds at least `limits.bytes` bytes or `limits.blocks`
    /// blocks (so an idle chain's journal stays short too); waits for the one in flight
    /// first if it holds twice the bytes (so memory stays bounded when the disk is slow).
    pub(crate) fn add_block(
        &self,
        height: u64,
        root: couponchain_chain::Hash,
        chunks: impl IntoIterator<Item = (ChunkPos, ChunkWrite)>,
        limits: FlushLimits,
    ) -> Result<Option<Arc<Layer>>, ChainError> {
        let mut layers = self.lock()?;
        for (pos, chunk) in chunks {
            layers.dirty.put(pos, chunk);
        }
        layers.dirty.height = height;
        layers.dirty.root = root;
        while layers.writing.is_some() && layers.dirty.bytes >= limits.bytes.saturating_mul(2) {
            layers = self
                .written
                .wait(layers)
                .map_err(|_| ChainError::Store("tree overlay lock poisoned".into()))?;
        }
        if layers.writing.is_some() {
            return Ok(None);
        }
        let blocks = height.saturating_sub(layers.persisted);
        if layers.dirty.bytes < limits.bytes && blocks < limits.blocks {
            return Ok(None);
        }
        let layer = Arc::new(std::mem::take(&mut layers.dirty));
        layers.writing = Some(layer.clone());
        Ok(Some(layer))
    }

    /// The checkpoint in flight ended: on success its chunks are on disk (and the caller
    /// has put them in the cache); on failure they go back under the newer dirty ones, to
    /// be written by the next checkpoint.
    pub(crate) fn finish(&self, ok: bool) {
        let mut layers = match self.layers.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(layer) = layers.writing.take() {
            if ok {
                layers.persisted = layer.height;
                layers.checkpoints += 1;
            } else {
                layers.failures += 1;
                let newer = std::mem::take(&mut layers.dirty);
                let mut merged = Layer {
                    chunks: layer.chunks.clone(),
                    bytes: layer.bytes,
                    height: layer.height,
                    root: layer.root,
                };
                if newer.height > merged.height {
                    merged.height = newer.height;
                    merged.root = newer.root;
                }
                for (pos, chunk) in newer.chunks {
                    merged.put(pos, chunk);
                }
                layers.dirty = merged;
            }
        }
        self.written.notify_all();
    }

    /// A block wrote its own chunks (checkpoints are off).
    pub(crate) fn mark_persisted(&self, height: u64) {
        if let Ok(mut layers) = self.lock() {
            layers.persisted = height;
        }
    }

    pub(crate) fn stats(&self) -> OverlayStats {
        let layers = match self.layers.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (wc, wb) = layers
            .writing
            .as_ref()
            .map_or((0, 0), |w| (w.chunks.len() as u64, w.bytes));
        OverlayStats {
            chunks: layers.dirty.chunks.len() as u64 + wc,
            bytes: layers.dirty.bytes + wb,
            persisted: layers.persisted,
            checkpoints: layers.checkpoints,
            failures: layers.failures,
        }
    }
}
