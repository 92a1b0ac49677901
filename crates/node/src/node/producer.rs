//! Block production for a single validator: a block as soon as transactions wait (no
//! sooner than `min_interval` after the previous one), an empty heartbeat block otherwise.
//! The loop sleeps on a notification or a deadline — never polls — and hands the work to a
//! blocking thread.

use super::mempool::Taken;
use super::{lock, wall_ms, Finality, Node};
use couponchain_chain::block::{CommitCertificate, VoteData, VoteKind};
use couponchain_rpc::ErrorBody;
use couponchain_runtime::{RuntimeError, SignatureCheck};
use couponchain_storage::StorageError;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Runs until `shutdown` turns true. Returns an error only for a failure that makes it
/// unsafe to continue (the ledger cannot be written).
pub async fn run_producer(
    node: Arc<Node>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut last = Instant::now();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let since = last.elapsed();
        let pending = !lock(&node.mempool).is_empty();
        if (pending && since >= node.block.min_interval) || since >= node.block.heartbeat {
            let n = node.clone();
            tokio::task::spawn_blocking(move || n.produce_block()).await??;
            last = Instant::now();
            continue;
        }
        let deadline = if pending {
            node.block.min_interval - since
        } else {
            node.block.heartbeat - since
        };
        tokio::select! {
            _ = node.wake.notified() => {}
            _ = tokio::time::sleep(deadline) => {}
            _ = shutdown.changed() => {}
        }
    }
}

impl Node {
    /// Takes a batch from the mempool, builds, certifies and commits one block.
    fn produce_block(&self) -> anyhow::Result<()> {
        let head = self.ledger.head();
        let time_ms = wall_ms().max(head.time_ms);
        let (mut batch, expired) = {
            let mut pool = lock(&self.mempool);
            let expired = pool.prune_expired(time_ms);
            (
                pool.take_batch(self.block.max_txs, self.block.max_bytes),
                expired,
            )
        };
        for id in expired {
            self.metrics.refused("tx_expired");
            self.finish(
                &id,
                Finality::Dropped(ErrorBody {
                    code: "tx_expired".into(),
                    message: "the transaction's validity window closed before inclusion".into(),
                }),
            );
        }
        let started = Instant::now();
        // Every transaction in the mempool had its signatures checked on admission.
        let checked = |_: &couponchain_chain::SignedTransaction| true;
        let prepared = loop {
            let txs = batch.iter().map(|t| t.tx.clone()).collect();
            match self.ledger.prepare_proposal(
                txs,
                time_ms,
                self.key.public(),
                SignatureCheck::Cached(&checked),
            ) {
                Ok(p) => break p,
                Err(StorageError::Runtime(RuntimeError::InvalidBlockTx { index, error })) => {
                    // Admitted, but no longer includable (e.g. expired between admission and
                    // now): drop it with its reason and build again without it.
                    let t: Taken = batch.remove(index as usize);
                    tracing::debug!(tx = %t.id, code = error.code(), "dropping a transaction at inclusion");
                    self.metrics.refused(error.code());
                    self.finish(
                        &t.id,
                        Finality::Dropped(ErrorBody {
                            code: error.code().to_string(),
                            message: error.to_string(),
                        }),
                    );
                }
                Err(e) => {
                    for t in &batch {
                        self.finish(
                            &t.id,
                            Finality::Dropped(ErrorBody {
                                code: "internal".into(),
                                message: format!("block production failed: {e}"),
                            }),
                        );
                    }
                    return Err(e.into());
                }
            }
        };
        self.metrics
            .block_build_seconds
            .observe(started.elapsed().as_secs_f64());
        let header = &prepared.block.header;
        let hash = header.hash();
        let vote = VoteData {
            chain_id: self.params.chain_id.clone(),
            height: header.height,
            round: 0,
            kind: VoteKind::Precommit,
            block: Some(hash),
        };
        let cert = CommitCertificate {
            height: header.height,
            round: 0,
            block: hash,
            signatures: vec![(self.key.public(), self.key.sign(&vote.signing_bytes()))],
        };
        let height = header.height;
        let ntx = prepared.block.txs.len();
        let committing = Instant::now();
        let receipts = self.ledger.commit(prepared, Some(&cert))?;
        let now = Instant::now();
        self.metrics
            .block_commit_seconds
            .observe(committing.elapsed().as_secs_f64());
        self.metrics.block_txs.observe(ntx as f64);
        self.metrics.block_height.set(height as i64);
        for (r, t) in receipts.into_iter().zip(&batch) {
            self.metrics
                .finality_latency_seconds
                .observe(now.duration_since(t.admitted).as_secs_f64());
            let id = r.tx;
            self.finish(&id, Finality::Final(r));
        }
        {
            let pool = lock(&self.mempool);
            self.metrics.mempool_txs.set(pool.len() as i64);
            self.metrics.mempool_bytes.set(pool.bytes() as i64);
        }
        self.head.send_replace(height);
        if ntx > 0 {
            tracing::info!(
                height,
                txs = ntx,
                build_ms = started.elapsed().as_millis() as u64,
                "block committed"
            );
        } else {
            tracing::debug!(height, "heartbeat block committed");
        }
        Ok(())
    }
}
