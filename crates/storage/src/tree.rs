//! The state tree's chunks on RocksDB, behind a bounded cache of committed chunks.

use crate::tables;
use couponchain_chain::smt::{Chunk, ChunkPos, ChunkStore};
use couponchain_chain::ChainError;
use quick_cache::unsync::Cache;
use rocksdb::{SnapshotWithThreadMode, DB};
use std::sync::Mutex;

/// Committed chunks. Only the committing writer inserts (after the batch is durable), so
/// the cache never holds a chunk of an uncommitted block.
pub(crate) type ChunkCache = Mutex<Cache<ChunkPos, Chunk>>;

fn decode(pos: &ChunkPos, bytes: &[u8]) -> Result<Chunk, ChainError> {
    Chunk::decode(bytes).map_err(|e| ChainError::Decode(format!("chunk {}: {e}", hex_key(pos))))
}

fn hex_key(pos: &ChunkPos) -> String {
    pos.storage_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads the latest committed tree, through the cache.
pub(crate) struct CachedTree<'a> {
    pub db: &'a DB,
    pub cache: &'a ChunkCache,
}

impl ChunkStore for CachedTree<'_> {
    fn get_chunk(&self, pos: &ChunkPos) -> Result<Option<Chunk>, ChainError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(pos) {
                return Ok(Some(c.clone()));
            }
        }
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
            cache.insert(*pos, chunk.clone());
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
