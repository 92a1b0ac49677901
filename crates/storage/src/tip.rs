//! The tip: the last block handed to the ledger, which may still be on its way to disk.
//!
//! Block production is a two-stage pipeline. [`Ledger::stage`] makes a prepared block the
//! tip at once, so the next block can be executed on top of it, while
//! [`Ledger::write_staged`] makes it durable on another thread. Reads for *execution* go
//! through a [`TipView`] (the staged block's changes first, then RocksDB); reads for
//! *queries* see only what is durable, so nothing is reported final before it is on disk.
//! At most one block is staged at a time.

use crate::ledger::{Head, Ledger, PreparedBlock};
use couponchain_chain::smt::{Chunk, ChunkPos, ChunkStore};
use couponchain_chain::{ChainError, Hash, TxId};
use couponchain_runtime::{StateReader, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// A block that is the tip but may not be durable yet.
#[derive(Debug)]
pub(crate) struct Staged {
    pub prepared: PreparedBlock,
    pub head: Head,
    /// Position of each rewritten chunk in `prepared.tree.writes` (looked up only).
    chunk_index: HashMap<ChunkPos, usize>,
    /// The block's transaction ids, sorted.
    tx_ids: Vec<TxId>,
}

impl Staged {
    pub fn new(prepared: PreparedBlock, head: Head) -> Staged {
        let chunk_index = prepared
            .tree_writes()
            .iter()
            .enumerate()
            .map(|(i, (pos, _))| (*pos, i))
            .collect();
        let mut tx_ids: Vec<TxId> = prepared.executed.receipts.iter().map(|r| r.tx).collect();
        tx_ids.sort_unstable();
        Staged {
            prepared,
            head,
            chunk_index,
            tx_ids,
        }
    }

    /// `Some(value or deletion)` if this block changed `key`.
    fn state(&self, key: &Hash) -> Option<Option<&[u8]>> {
        let changes = &self.prepared.executed.changes;
        changes
            .binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .map(|i| changes[i].1.as_deref())
    }

    fn chunk(&self, pos: &ChunkPos) -> Option<Option<&Chunk>> {
        self.chunk_index
            .get(pos)
            .map(|i| self.prepared.tree_writes()[*i].1.as_deref())
    }

    fn has_tx(&self, id: &TxId) -> bool {
        self.tx_ids.binary_search(id).is_ok()
    }
}

/// State as of the tip: the staged block's changes over what is durable.
pub(crate) struct TipView<'a> {
    pub ledger: &'a Ledger,
    pub staged: Option<Arc<Staged>>,
}

impl StateReader for TipView<'_> {
    fn get(&self, key: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.staged.as_ref().and_then(|s| s.state(key)) {
            return Ok(v.map(|b| b.to_vec()));
        }
        self.ledger.get(key)
    }

    fn tx_included(&self, id: &Hash) -> Result<bool, StoreError> {
        if self.staged.as_ref().is_some_and(|s| s.has_tx(id)) {
            return Ok(true);
        }
        self.ledger.tx_included(id)
    }

    fn get_many(&self, keys: &[Hash]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let Some(staged) = &self.staged else {
            return self.ledger.get_many(keys);
        };
        let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let mut rest = Vec::new();
        let mut rest_at = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match staged.state(k) {
                Some(v) => out[i] = v.map(|b| b.to_vec()),
                None => {
                    rest.push(*k);
                    rest_at.push(i);
                }
            }
        }
        for (i, v) in rest_at.into_iter().zip(self.ledger.get_many(&rest)?) {
            out[i] = v;
        }
        Ok(out)
    }

    fn txs_included(&self, ids: &[Hash]) -> Result<Vec<bool>, StoreError> {
        let mut out = self.ledger.txs_included(ids)?;
        if let Some(staged) = &self.staged {
            for (i, id) in ids.iter().enumerate() {
                out[i] = out[i] || staged.has_tx(id);
            }
        }
        Ok(out)
    }
}

impl ChunkStore for TipView<'_> {
    fn get_chunk(&self, pos: &ChunkPos) -> Result<Option<Chunk>, ChainError> {
        if let Some(c) = self.staged.as_ref().and_then(|s| s.chunk(pos)) {
            return Ok(c.cloned());
        }
        self.ledger.tree().get_chunk(pos)
    }
}
