//! Checkpoints of the state tree: the overlay of chunks that committed blocks changed is
//! written to the tree column family in one sorted batch, on a background thread, and the
//! journal of the blocks it covers is dropped in the same batch. After a crash, the chunks
//! of the journalled blocks are recomputed from the state column family ([`recover`]).
//!
//! Invariant: the tree column family holds exactly the tree as of the block named by
//! `tree_head` in `meta`, and the journal holds the changed keys of every block after it up
//! to the head. Both move together in one atomic batch (the block's, or the checkpoint's).

use crate::error::StorageError;
use crate::tables::{self, height_key};
use crate::tree::{ChunkCache, Layer, Overlay};
use couponchain_chain::smt::{self, ChunkPos};
use couponchain_chain::{encoding, Hash};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The `meta` key of the [`TreeHead`].
pub(crate) const TREE_HEAD_KEY: &[u8] = b"tree_head";

/// The block whose tree the tree column family holds. Ledgers written before checkpoints
/// existed have none: their tree is the head's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TreeHead {
    pub height: u64,
    pub root: Hash,
}

/// The background thread that writes checkpoints, one at a time. Dropping it waits for the
/// one in flight (so the database closes with the ledger).
#[derive(Debug)]
pub(crate) struct Checkpointer {
    jobs: Option<Sender<Arc<Layer>>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(
        db: Arc<DB>,
        cache: Arc<ChunkCache>,
        overlay: Arc<Overlay>,
    ) -> Result<Checkpointer, StorageError> {
        let (tx, rx) = channel::<Arc<Layer>>();
        let thread = std::thread::Builder::new()
            .name("tree-checkpoint".into())
            .spawn(move || {
                for layer in rx {
                    let started = std::time::Instant::now();
                    let ok = match write_layer(&db, &layer, false) {
                        Ok(()) => {
                            remember(&cache, &layer);
                            tracing::debug!(
                                height = layer.height,
                                chunks = layer.chunks.len(),
                                bytes = layer.bytes,
                                ms = started.elapsed().as_millis() as u64,
                                "state tree checkpoint written"
                            );
                            true
                        }
                        Err(e) => {
                            tracing::error!(height = layer.height, error = %e, "state tree checkpoint failed; its chunks stay in memory and the next checkpoint retries");
                            false
                        }
                    };
                    overlay.finish(ok);
                }
            })
            .map_err(StorageError::Thread)?;
        Ok(Checkpointer {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Hands a layer to the thread. If the thread is gone, the layer goes back into the
    /// overlay (nothing is lost; the journal still covers it).
    pub(crate) fn submit(&self, layer: Arc<Layer>, overlay: &Overlay) {
        let sent = self.jobs.as_ref().map(|j| j.send(layer));
        if !matches!(sent, Some(Ok(()))) {
            tracing::error!("the state tree checkpoint thread is gone");
            overlay.finish(false);
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the state tree checkpoint thread panicked");
            }
        }
    }
}

/// Puts a written layer's chunks in the cache, a slice at a time so that block execution
/// is not kept waiting for the cache lock.
fn remember(cache: &ChunkCache, layer: &Layer) {
    let all: Vec<(&ChunkPos, &Option<Vec<u8>>)> = layer.chunks.iter().collect();
    for slice in all.chunks(2048) {
        let Ok(mut c) = cache.lock() else { return };
        for (pos, chunk) in slice {
            match chunk {
                Some(bytes) => c.insert(**pos, bytes.clone()),
                None => {
                    c.remove(*pos);
                }
            }
        }
    }
}

/// Writes a layer's chunks (sorted by key, so the memtable inserts each next to the last),
/// moves `tree_head` to the layer's block and drops the journal up to it, in one batch.
/// The write-ahead log is synced by the next block's write (or here if `sync`): losing
/// this batch loses the journal deletion with it, which recovery then replays.
pub(crate) fn write_layer(db: &DB, layer: &Layer, sync: bool) -> Result<(), StorageError> {
    let cf = |t: tables::Table| {
        db.cf_handle(t.name)
            .ok_or_else(|| StorageError::Corrupt(format!("column family {} missing", t.name)))
    };
    let tree_cf = cf(tables::TREE)?;
    let mut sorted: Vec<(Vec<u8>, &Option<Vec<u8>>)> = layer
        .chunks
        .iter()
        .map(|(pos, c)| (pos.storage_key(), c))
        .collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut batch = WriteBatch::with_capacity_bytes(layer.bytes as usize + 4096);
    for (key, chunk) in sorted {
        match chunk {
            Some(c) => batch.put_cf(tree_cf, key, c),
            None => batch.delete_cf(tree_cf, key),
        }
    }
    batch.put_cf(
        cf(tables::META)?,
        TREE_HEAD_KEY,
        encoding::encode(&TreeHead {
            height: layer.height,
            root: layer.root,
        }),
    );
    batch.delete_range_cf(
        cf(tables::TREE_JOURNAL)?,
        height_key(0),
        height_key(layer.height.saturating_add(1)),
    );
    let mut wo = WriteOptions::default();
    wo.set_sync(sync);
    db.write_opt(batch, &wo)?;
    Ok(())
}

/// The block whose tree is on disk: `tree_head`, or the head for ledgers without one.
pub(crate) fn persisted_tree(db: &DB, head_height: u64) -> Result<u64, StorageError> {
    let meta = db
        .cf_handle(tables::META.name)
        .ok_or_else(|| StorageError::Corrupt("column family meta missing".into()))?;
    match db.get_cf(meta, TREE_HEAD_KEY)? {
        None => Ok(head_height),
        Some(bytes) => {
            let t: TreeHead = encoding::decode(&bytes)
                .map_err(|e| StorageError::Corrupt(format!("tree head: {e}")))?;
            if t.height > head_height {
                return Err(StorageError::Corrupt(format!(
                    "the state tree is stored as of block {}, after the head {head_height}",
                    t.height
                )));
            }
            Ok(t.height)
        }
    }
}

/// The state keys changed by the journalled blocks `from..=to`, each once, checking that
/// every one of those blocks has an entry.
pub(crate) fn journalled_keys(db: &DB, from: u64, to: u64) -> Result<Vec<Hash>, StorageError> {
    let cf = db
        .cf_handle(tables::TREE_JOURNAL.name)
        .ok_or_else(|| StorageError::Corrupt("column family tree_journal missing".into()))?;
    let mut keys = BTreeSet::new();
    let mut expect = from;
    let start = height_key(from);
    for item in db.iterator_cf(cf, IteratorMode::From(&start, Direction::Forward)) {
        let (k, v) = item?;
        let height = <[u8; 8]>::try_from(&k[..])
            .map(u64::from_be_bytes)
            .map_err(|_| StorageError::Corrupt(format!("tree journal key of {} bytes", k.len())))?;
        if height > to {
            break;
        }
        if height != expect || v.len() % 32 != 0 {
            return Err(StorageError::Corrupt(format!(
                "tree journal: expected block {expect}, found block {height} with {} bytes",
                v.len()
            )));
        }
        for key in v.chunks_exact(32) {
            let mut h = [0u8; 32];
            h.copy_from_slice(key);
            keys.insert(Hash(h));
        }
        expect += 1;
    }
    if expect != to + 1 {
        return Err(StorageError::Corrupt(format!(
            "tree journal ends before block {expect}; the head is {to}"
        )));
    }
    Ok(keys.into_iter().collect())
}

/// The updates that bring the tree from the persisted block to the head: each journalled
/// key to its current value's hash, or removed.
pub(crate) fn recovery_updates(
    keys: &[Hash],
    values: Vec<Option<Vec<u8>>>,
) -> Vec<(Hash, Option<Hash>)> {
    keys.iter()
        .zip(values)
        .map(|(k, v)| (*k, v.as_deref().map(smt::value_hash)))
        .collect()
}
