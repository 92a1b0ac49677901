//! Checkpoints of the state tree: on a background thread, the overlay of chunks that
//! committed blocks changed is written as one sorted table file and *ingested* into the tree
//! column family — no write-ahead log, no memtable, and block commits never queue behind it
//! — then `tree_head` moves to the layer's block and the journal up to it is dropped. After
//! a crash, the chunks of the journalled blocks are recomputed from the state column family
//! (`Ledger::open`).
//!
//! Invariant: the tree column family holds the whole tree of one block T (an ingestion is
//! atomic), `tree_head` ≤ T ≤ the head, and the journal holds the changed keys of every
//! block after `tree_head`. Setting every journalled key to its current value turns the
//! tree of any such T into the head's (the tree is a function of the key-value map), so a
//! crash between the ingestion and the `tree_head` write loses nothing.

use crate::error::StorageError;
use crate::tables::{self, height_key};
use crate::tree::{ChunkCache, Layer, Overlay};
use couponchain_chain::smt::ChunkPos;
use couponchain_chain::{encoding, Hash};
use rocksdb::{
    Direction, IngestExternalFileOptions, IteratorMode, Options, SstFileWriter, WriteBatch,
    WriteOptions, DB,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
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

/// Where a checkpoint builds its table file (in the ledger's directory, so that ingesting
/// it is a rename), and the tree column family's options to build it with.
pub(crate) struct TableFile {
    pub path: PathBuf,
    pub opts: Options,
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
        file: TableFile,
        cache: Arc<ChunkCache>,
        overlay: Arc<Overlay>,
    ) -> Result<Checkpointer, StorageError> {
        let (tx, rx) = channel::<Arc<Layer>>();
        let thread = std::thread::Builder::new()
            .name("tree-checkpoint".into())
            .spawn(move || {
                for layer in rx {
                    let started = std::time::Instant::now();
                    let ok = match write_layer(&db, &file, &layer, false) {
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

/// Writes a layer: its chunks as one table file, sorted, ingested into the tree column
/// family; then, in a small batch, `tree_head` moved to the layer's block and the journal up
/// to it dropped. That batch is synced only if `sync` (else by the next block's write):
/// losing it costs a recovery from the older `tree_head`, which the journal still covers.
pub(crate) fn write_layer(
    db: &DB,
    file: &TableFile,
    layer: &Layer,
    sync: bool,
) -> Result<(), StorageError> {
    let cf = |t: tables::Table| {
        db.cf_handle(t.name)
            .ok_or_else(|| StorageError::Corrupt(format!("column family {} missing", t.name)))
    };
    let mut sorted: Vec<(Vec<u8>, &Option<Vec<u8>>)> = layer
        .chunks
        .iter()
        .map(|(pos, c)| (pos.storage_key(), c))
        .collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if !sorted.is_empty() {
        // What an interrupted checkpoint left.
        match std::fs::remove_file(&file.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StorageError::File(format!("{}: {e}", file.path.display())))
            }
            _ => {}
        }
        let mut w = SstFileWriter::create(&file.opts);
        w.open(&file.path)?;
        for (key, chunk) in sorted {
            match chunk {
                Some(c) => w.put(key, c)?,
                None => w.delete(key)?,
            }
        }
        w.finish()?;
        let mut io = IngestExternalFileOptions::default();
        io.set_move_files(true);
        db.ingest_external_file_cf_opts(cf(tables::TREE)?, &io, vec![&file.path])?;
    }
    let mut batch = WriteBatch::default();
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
