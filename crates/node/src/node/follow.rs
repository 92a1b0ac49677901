//! Applying final blocks, whoever decided them: this node's consensus, a peer's
//! `Decided` push, or catch-up. Every block from elsewhere is checked against its commit
//! certificate (signed by more than 2/3 of the set the ledger says certifies that height)
//! and re-executed: the header's state root must match. Catch-up asks peers for their
//! head, then for up to [`MAX_SYNC_BLOCKS`] blocks at a time, from the best-placed peer.

use super::bodies::Bodies;
use super::{lock, Finality, Node};
use crate::net::wire::{Certified, Request, Response, MAX_SYNC_BLOCKS, SYNC_RESPONSE_BUDGET};
use crate::net::Network;
use couponchain_chain::block::CommitCertificate;
use couponchain_chain::{encoding, Block, Hash, SignedTransaction, TxId};
use couponchain_runtime::{Receipt, SignatureCheck};
use couponchain_storage::{Ledger, PreparedBlock, StagedBlock};
use libp2p::PeerId;
use std::time::Instant;

impl Node {
    /// The admission cache: exactly these signed bytes passed admission here.
    pub(super) fn checked_on_admission(&self, id: &TxId, tx: &SignedTransaction) -> bool {
        lock(&self.mempool).contains_signed(id, tx)
    }

    /// Commits a final block durably ([`Node::stage_final`], then [`Node::write_final`]).
    pub(super) fn apply_final(
        &self,
        prepared: PreparedBlock,
        cert: CommitCertificate,
    ) -> anyhow::Result<Vec<Receipt>> {
        let (staged, _) = self.stage_final(prepared, cert)?;
        self.write_final(staged)
    }

    /// Makes a final block the ledger's tip (not durable yet) and takes its transactions out
    /// of the mempool, so the next block is built on it and without them. Returns the staged
    /// block for [`Node::write_final`] and the ids of its transactions.
    pub(super) fn stage_final(
        &self,
        prepared: PreparedBlock,
        cert: CommitCertificate,
    ) -> anyhow::Result<(StagedBlock, Vec<TxId>)> {
        let ids: Vec<TxId> = prepared.receipts().iter().map(|r| r.tx).collect();
        let staged = self.ledger.stage(prepared, Some(cert))?;
        let mut pool = lock(&self.mempool);
        pool.remove_all(ids.iter());
        self.metrics.mempool_txs.set(pool.len() as i64);
        self.metrics.mempool_bytes.set(pool.bytes() as i64);
        Ok((staged, ids))
    }

    /// Writes a staged final block durably (one fsync'd batch), then settles its
    /// transactions: waiters told, metrics and the head watch updated.
    pub(super) fn write_final(&self, staged: StagedBlock) -> anyhow::Result<Vec<Receipt>> {
        let height = staged.header().height;
        let committing = Instant::now();
        let receipts = self.ledger.write_staged(staged)?;
        self.metrics
            .block_commit_seconds
            .observe(committing.elapsed().as_secs_f64());
        self.metrics.block_txs.observe(receipts.len() as f64);
        self.metrics.block_height.set(height as i64);
        for r in &receipts {
            self.finish(&r.tx, Finality::Final(r.clone()));
        }
        self.head.send_replace(height);
        self.refresh_membership();
        if receipts.is_empty() {
            tracing::debug!(height, "empty block final");
        } else {
            tracing::info!(height, txs = receipts.len(), "block final");
        }
        Ok(receipts)
    }

    /// Checks and applies blocks fetched or pushed from `peer`, in order, while each is the
    /// next one. Returns how many were applied; a block that fails its checks stops the run
    /// (and the peer is charged for it).
    pub(super) fn apply_certified(&self, peer: Option<PeerId>, blocks: Vec<Certified>) -> usize {
        let mut applied = 0;
        for c in blocks {
            let head = self.ledger.head();
            if c.block.header.height <= head.height {
                continue;
            }
            if c.block.header.height != head.height + 1 {
                break;
            }
            match self.check_certified(c) {
                Ok((prepared, cert)) => match self.apply_final(prepared, cert) {
                    Ok(_) => applied += 1,
                    Err(e) => {
                        tracing::error!(error = %e, "applying a final block failed");
                        break;
                    }
                },
                Err(e) => {
                    tracing::warn!(peer = ?peer, error = %e, "refused a block from a peer");
                    if let (Some(p), Some(net)) = (peer, &self.net) {
                        net.penalize(p, e.to_string());
                    }
                    break;
                }
            }
        }
        applied
    }

    fn check_certified(&self, c: Certified) -> anyhow::Result<(PreparedBlock, CommitCertificate)> {
        let set = self.ledger.next_validator_set()?;
        c.cert
            .verify(&self.params.chain_id, &c.block.header, &set)
            .map_err(|e| anyhow::anyhow!("block {}: {e}", c.block.header.height))?;
        let known = |id: &TxId, tx: &SignedTransaction| self.checked_on_admission(id, tx);
        let prepared = self
            .ledger
            .prepare_block(c.block, SignatureCheck::Cached(&known))?;
        Ok((prepared, c.cert))
    }
}

/// Answers a peer's `Status` or `GetBlocks` from the durable ledger, and `GetBody` from
/// the bodies of the blocks being decided (or, for a block since made final, the ledger).
pub fn respond(ledger: &Ledger, bodies: &Bodies, request: Request) -> Response {
    match request {
        Request::Status => {
            let head = ledger.head();
            Response::Status {
                height: head.height,
                hash: head.hash,
            }
        }
        Request::GetBlocks { from, max } => {
            let mut out = Vec::new();
            let mut bytes = 0usize;
            let head = ledger.head().height;
            let mut h = from.max(1);
            while h <= head
                && (out.len() as u32) < max.min(MAX_SYNC_BLOCKS)
                && bytes < SYNC_RESPONSE_BUDGET
            {
                let (Ok(Some(block)), Ok(Some(cert))) = (ledger.block(h), ledger.certificate(h))
                else {
                    break;
                };
                bytes += encoding::encode(&block.txs).len();
                out.push(Certified { block, cert });
                h += 1;
            }
            Response::Blocks(out)
        }
        Request::GetBody(hash) => {
            if let Some(block) = bodies.get(&hash) {
                return Response::Body(Box::new((*block).clone()));
            }
            let stored = ledger
                .block_height(&hash)
                .ok()
                .flatten()
                .and_then(|h| ledger.block(h).ok().flatten());
            match stored {
                Some(block) => Response::Body(Box::new(block)),
                None => Response::Refused(format!("no body of block {hash} here")),
            }
        }
        other => Response::Refused(format!("{} is not a question", other.kind())),
    }
}

/// Asks `peers`, one after another, for the body of block `hash`; returns the first that
/// is the block (its header hashes to `hash`). Bounded: a few seconds per peer.
pub async fn fetch_body(net: &Network, peers: Vec<PeerId>, hash: Hash) -> Option<Block> {
    for peer in peers {
        let asked = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            net.ask(peer, Request::GetBody(hash)),
        )
        .await;
        match asked {
            Ok(Ok(Response::Body(block))) if block.hash() == hash => return Some(*block),
            Ok(Ok(Response::Body(_))) => net.penalize(peer, "answered GetBody with another block"),
            _ => {}
        }
    }
    None
}

/// Finds the peer with the highest head and fetches the blocks after ours from it.
/// Returns the peer and the blocks (empty when no peer is ahead).
pub async fn fetch_next(
    net: &Network,
    peers: Vec<PeerId>,
    our_height: u64,
) -> Option<(PeerId, Vec<Certified>)> {
    let best = peer_heights(net, peers).await.into_iter().max()?;
    if best.0 <= our_height {
        return None;
    }
    let peer = best.1;
    match tokio::time::timeout(
        std::time::Duration::from_secs(30),
        net.ask(
            peer,
            Request::GetBlocks {
                from: our_height + 1,
                max: MAX_SYNC_BLOCKS,
            },
        ),
    )
    .await
    {
        Ok(Ok(Response::Blocks(b))) => Some((peer, b)),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "catch-up request failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "catch-up request timed out");
            None
        }
    }
}

/// The heights `peers` report (those that answer within 2 s), with who reported each. A
/// claim, not a proof: only blocks with certificates are believed.
pub async fn peer_heights(net: &Network, peers: Vec<PeerId>) -> Vec<(u64, PeerId)> {
    let asks = peers.into_iter().map(|p| {
        let net = net.clone();
        async move {
            let r = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                net.ask(p, Request::Status),
            )
            .await;
            match r {
                Ok(Ok(Response::Status { height, .. })) => Some((height, p)),
                _ => None,
            }
        }
    });
    libp2p::futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponchain_runtime::testkit::{Actors, T0};
    use couponchain_storage::LedgerOptions;
    use std::sync::Arc;

    /// A body is served from the blocks being decided, then (once final) from the ledger;
    /// a hash no one proposed is refused, not answered with something else.
    #[test]
    fn get_body_is_answered_from_the_proposals_then_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let a = Actors::new(1, 2);
        let ledger = Ledger::open(dir.path(), &a.genesis(), LedgerOptions::default()).unwrap();
        let bodies = Bodies::default();
        let proposed = ledger
            .prepare_proposal(
                vec![],
                T0 + 1000,
                a.validators[0].public(),
                SignatureCheck::Verify,
            )
            .unwrap();
        let hash = proposed.block.hash();
        let ask = |h| respond(&ledger, &bodies, Request::GetBody(h));
        assert!(matches!(ask(hash), Response::Refused(_)));
        bodies.insert(hash, Arc::new(proposed.block.clone()));
        match ask(hash) {
            Response::Body(b) => assert_eq!(b.hash(), hash),
            other => panic!("{other:?}"),
        }
        ledger.commit(proposed, None).unwrap();
        bodies.retain_from(2);
        assert_eq!(bodies.len(), 0);
        match ask(hash) {
            Response::Body(b) => assert_eq!(b.header.height, 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(ask(Hash([7; 32])), Response::Refused(_)));
    }
}
