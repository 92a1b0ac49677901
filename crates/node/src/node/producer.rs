//! Block production for a single validator: a block as soon as transactions wait (no
//! sooner than `min_interval` after the previous one), an empty heartbeat block otherwise.
//! The loop sleeps on a notification or a deadline — never polls — and hands the work to a
//! blocking thread.

use super::mempool::Taken;
use super::{lock, wall_ms, Finality, Node};
use couponchain_chain::block::{CommitCertificate, VoteData, VoteKind};
use couponchain_rpc::ErrorBody;
use couponchain_storage::{PreparedBlock, StagedBlock};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Runs until `shutdown` turns true, or until the block after the tip must be certified by
/// a set that is not this validator alone (the role changed). Returns an error only for a
/// failure that makes it unsafe to continue (the ledger cannot be written).
///
/// Two stages overlap: while block N is written to disk (fsync included) on one blocking
/// thread, block N+1 is built on top of it on another. Transactions are reported final only
/// once their block is durable.
pub async fn run_producer(
    node: Arc<Node>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut last = Instant::now();
    let mut writing: Option<tokio::task::JoinHandle<anyhow::Result<()>>> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if !node.sole_validator_after_tip()? {
            // Governance added validators (or removed this one): a block built now would
            // need their signatures. Finish the write in flight and hand over.
            if let Some(w) = writing.take() {
                w.await??;
            }
            node.refresh_membership();
            return Ok(());
        }
        let since = last.elapsed();
        let pending = !lock(&node.mempool).is_empty();
        if (pending && since >= node.block.min_interval) || since >= node.block.heartbeat {
            let n = node.clone();
            let built = tokio::task::spawn_blocking(move || n.build_block()).await??;
            // Block N must be durable before N+1 becomes the tip, and N+1 must be the tip
            // before N+2 is built: wait, stage, then hand the write to another thread.
            if let Some(w) = writing.take() {
                w.await??;
            }
            let n = node.clone();
            let staged = tokio::task::spawn_blocking(move || n.stage(built)).await??;
            let n = node.clone();
            writing = Some(tokio::task::spawn_blocking(move || n.write_block(staged)));
            last = Instant::now();
            continue;
        }
        if let Some(w) = writing.take() {
            // Nothing to build: finish the write in flight before sleeping.
            w.await??;
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
    if let Some(w) = writing.take() {
        w.await??;
    }
    Ok(())
}

/// A block built and certified on the tip, not yet staged.
struct Built {
    prepared: PreparedBlock,
    cert: CommitCertificate,
    batch: Vec<Taken>,
    started: Instant,
}

/// A block staged as the ledger's tip, waiting to be written.
struct Staged {
    staged: StagedBlock,
    batch: Vec<Taken>,
    started: Instant,
}

impl Node {
    /// Whether the block after the tip is certified by this validator alone.
    fn sole_validator_after_tip(&self) -> anyhow::Result<bool> {
        let set = self.ledger.validator_set_after_tip()?;
        Ok(super::role_in(&set, &self.key) == super::Role::SoleValidator)
    }

    /// Tells everyone waiting on the batch that it will not be included.
    fn fail_batch(&self, batch: &[Taken], message: &str) {
        for t in batch {
            self.finish(
                &t.id,
                Finality::Dropped(ErrorBody {
                    code: "internal".into(),
                    message: message.to_string(),
                }),
            );
        }
    }

    /// Takes a batch from the mempool, builds and certifies a block on the tip, and stages it.
    fn build_block(&self) -> anyhow::Result<Built> {
        let head = self.ledger.tip();
        let time_ms = wall_ms().max(head.time_ms);
        let started = Instant::now();
        let (prepared, batch) = match self.take_and_prepare(time_ms) {
            Ok(built) => built,
            Err((e, batch)) => {
                self.fail_batch(&batch, &format!("block production failed: {e}"));
                return Err(e.into());
            }
        };
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
        self.metrics
            .block_build_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(Built {
            prepared,
            cert,
            batch,
            started,
        })
    }

    /// Makes a built block the ledger's tip.
    fn stage(&self, built: Built) -> anyhow::Result<Staged> {
        let Built {
            prepared,
            cert,
            batch,
            started,
        } = built;
        match self.ledger.stage(prepared, Some(cert)) {
            Ok(staged) => Ok(Staged {
                staged,
                batch,
                started,
            }),
            Err(e) => {
                self.fail_batch(&batch, &format!("staging the block failed: {e}"));
                Err(e.into())
            }
        }
    }

    /// Writes a staged block durably, then reports its transactions final.
    fn write_block(&self, built: Staged) -> anyhow::Result<()> {
        let Staged {
            staged,
            batch,
            started,
        } = built;
        let height = staged.header().height;
        let ntx = staged.receipts().len();
        let committing = Instant::now();
        let receipts = match self.ledger.write_staged(staged) {
            Ok(r) => r,
            Err(e) => {
                self.fail_batch(&batch, &format!("writing the block failed: {e}"));
                return Err(e.into());
            }
        };
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
                total_ms = started.elapsed().as_millis() as u64,
                "block final"
            );
        } else {
            tracing::debug!(height, "heartbeat block final");
        }
        Ok(())
    }
}
