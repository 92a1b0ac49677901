//! The write path: one `WriteBatch` per block — the block, its transactions and receipts,
//! the state changes, the state-tree chunks (or, when checkpoints are on, the block's
//! changed keys in the tree journal), the query indexes and the new head — written with
//! keys sorted per column family, then the head and the chunk cache or overlay updated.

use super::checkpoint::{TreeHead, TREE_HEAD_KEY};
use super::{Head, Ledger, PreparedBlock, HEAD_KEY};
use crate::error::StorageError;
use crate::tables::{self, height_key, history_key, pair_key};
use crate::tree::FlushLimits;
use couponchain_chain::block::CommitCertificate;
use couponchain_chain::smt::ChunkPos;
use couponchain_chain::{encoding, SignedTransaction};
use couponchain_runtime::{Event, Receipt};
use rocksdb::{WriteBatch, WriteOptions};

impl Ledger {
    pub(super) fn write_block(
        &self,
        mut batch: WriteBatch,
        prepared: &PreparedBlock,
        cert: Option<&CommitCertificate>,
    ) -> Result<(), StorageError> {
        let PreparedBlock {
            block,
            executed,
            tree,
            ..
        } = prepared;
        let height = block.header.height;
        let hash = block.hash();
        let stored = tables::StoredBlock {
            header: block.header.clone(),
            tx_ids: executed.receipts.iter().map(|r| r.tx).collect(),
        };
        batch.put_cf(
            self.cf(tables::BLOCKS)?,
            height_key(height),
            encoding::encode(&stored),
        );
        batch.put_cf(self.cf(tables::BLOCK_HEIGHTS)?, hash.0, height_key(height));
        if let Some(c) = cert {
            batch.put_cf(
                self.cf(tables::CERTS)?,
                height_key(height),
                encoding::encode(c),
            );
        }
        // Within each column family, keys go into the batch in sorted order: the memtable's
        // skiplist then inserts each next to the previous one instead of searching from the
        // top (this halved its share of a 10,000-transaction commit).
        let txs_cf = self.cf(tables::TXS)?;
        let mut by_id: Vec<(&Receipt, &SignedTransaction)> =
            executed.receipts.iter().zip(&block.txs).collect();
        by_id.sort_unstable_by_key(|(r, _)| r.tx);
        for (r, tx) in by_id {
            // Same bytes as encoding a `StoredTx`, without cloning it first.
            batch.put_cf(txs_cf, r.tx.0, encoding::encode(&(tx, r)));
        }
        let state_cf = self.cf(tables::STATE)?;
        for (k, v) in &executed.changes {
            match v {
                Some(v) => batch.put_cf(state_cf, k.0, v),
                None => batch.delete_cf(state_cf, k.0),
            }
        }
        // Genesis always writes its tree: there is no journal to recover it from.
        let deferred = self.opts.tree_flush_bytes > 0 && height > 0;
        let chunks: Vec<(ChunkPos, Option<Vec<u8>>)> = tree
            .writes
            .iter()
            .map(|(pos, c)| (*pos, c.as_ref().map(|c| c.encode())))
            .collect();
        if deferred {
            // `changes` is sorted by key and holds each key once.
            let mut keys = Vec::with_capacity(executed.changes.len() * 32);
            for (k, _) in &executed.changes {
                keys.extend_from_slice(&k.0);
            }
            batch.put_cf(self.cf(tables::TREE_JOURNAL)?, height_key(height), keys);
        } else {
            let tree_cf = self.cf(tables::TREE)?;
            let mut keyed: Vec<(Vec<u8>, Option<&Vec<u8>>)> = chunks
                .iter()
                .map(|(pos, chunk)| (pos.storage_key(), chunk.as_ref()))
                .collect();
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (key, chunk) in keyed {
                match chunk {
                    Some(c) => batch.put_cf(tree_cf, key, c),
                    None => batch.delete_cf(tree_cf, key),
                }
            }
            batch.put_cf(
                self.cf(tables::META)?,
                TREE_HEAD_KEY,
                encoding::encode(&TreeHead {
                    height,
                    root: tree.root,
                }),
            );
        }
        self.index_events(&mut batch, height, &executed.receipts)?;
        let new_head = Head {
            height,
            hash,
            state_root: tree.root,
            time_ms: block.header.time_ms,
        };
        batch.put_cf(
            self.cf(tables::META)?,
            HEAD_KEY,
            encoding::encode(&new_head),
        );
        let mut wo = WriteOptions::default();
        wo.set_sync(self.opts.sync_writes);
        self.db.write_opt(batch, &wo)?;
        // Durable: publish the new chunks, then the new head.
        if deferred {
            let layer = self.overlay().add_block(
                height,
                tree.root,
                chunks,
                FlushLimits {
                    bytes: self.opts.tree_flush_bytes,
                    blocks: self.opts.tree_flush_blocks.max(1),
                },
            )?;
            if let Some(layer) = layer {
                match self.checkpointer() {
                    Some(cp) => cp.submit(layer, self.overlay()),
                    None => self.overlay().finish(false),
                }
            }
        } else {
            if let Ok(mut cache) = self.tree_cache.lock() {
                for (pos, chunk) in chunks {
                    match chunk {
                        Some(bytes) => cache.insert(pos, bytes),
                        None => {
                            cache.remove(&pos);
                        }
                    }
                }
            }
            self.overlay().mark_persisted(height);
        }
        *self.head_mut() = new_head;
        Ok(())
    }

    fn index_events(
        &self,
        batch: &mut WriteBatch,
        height: u64,
        receipts: &[Receipt],
    ) -> Result<(), StorageError> {
        let owners = self.cf(tables::OWNER_COUPONS)?;
        let history = self.cf(tables::COUPON_HISTORY)?;
        let campaigns = self.cf(tables::ISSUER_CAMPAIGNS)?;
        let mut entries: Vec<([u8; 48], [u8; 32])> = Vec::new();
        for r in receipts {
            for (ei, ev) in r.events().iter().enumerate() {
                if let Some(coupon) = ev.coupon() {
                    entries.push((history_key(&coupon.0, height, r.index, ei as u32), r.tx.0));
                }
                match ev {
                    Event::CouponIssued { coupon, owner, .. } => {
                        batch.put_cf(owners, pair_key(&owner.0, &coupon.0), [])
                    }
                    Event::CouponTransferred {
                        coupon, from, to, ..
                    }
                    | Event::CouponClaimed {
                        coupon, from, to, ..
                    } => {
                        batch.delete_cf(owners, pair_key(&from.0, &coupon.0));
                        batch.put_cf(owners, pair_key(&to.0, &coupon.0), []);
                    }
                    Event::CampaignCreated { campaign, issuer } => {
                        batch.put_cf(campaigns, pair_key(&issuer.0, &campaign.0), [])
                    }
                    _ => {}
                }
            }
        }
        entries.sort_unstable_by_key(|e| e.0);
        for (k, v) in entries {
            batch.put_cf(history, k, v);
        }
        Ok(())
    }
}
