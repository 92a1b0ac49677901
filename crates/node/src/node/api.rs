//! The node's side of the RPC seam: [`couponchain_rpc::NodeApi`] over the ledger and the
//! mempool.

use super::{Finality, Node};
use couponchain_chain::block::ValidatorSet;
use couponchain_chain::{Hash, Header, PublicKey, SignedTransaction, TxId};
use couponchain_rpc::{
    BlockView, ErrorBody, NodeApi, NodeStatus, ProofView, RpcError, SubmitOutcome, SubmitStatus,
};
use couponchain_runtime::{
    Account, CampaignRecord, CouponRecord, ProposalRecord, Receipt, Record, StateKey,
};
use couponchain_storage::{CouponView, StorageError, TxView};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The handle the RPC holds.
#[derive(Clone, Debug)]
pub struct NodeHandle(pub Arc<Node>);

fn internal(e: StorageError) -> RpcError {
    tracing::error!(error = %e, "storage error serving a query");
    RpcError::Internal(e.to_string())
}

impl NodeHandle {
    fn record(&self, key: StateKey) -> Result<Option<Record>, RpcError> {
        self.0.ledger.record(key).map_err(internal)
    }
}

impl NodeApi for NodeHandle {
    fn evidence(&self) -> Vec<serde_json::Value> {
        super::lock(&self.0.evidence)
            .iter()
            .map(|k| {
                let e = &k.evidence;
                serde_json::json!({
                    "id": k.id,
                    "offender": e.offender(),
                    "kind": e.kind(),
                    "height": e.height(),
                    "round": e.round(),
                    "messages": e,
                })
            })
            .collect()
    }

    fn status(&self) -> NodeStatus {
        let (txs, bytes) = {
            let pool = super::lock(&self.0.mempool);
            (pool.len(), pool.bytes())
        };
        NodeStatus {
            chain_id: self.0.params.chain_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            head: self.0.ledger.head(),
            ready: self.0.ready.load(Ordering::Acquire),
            role: self.0.role().name().replace(' ', "_"),
            peers: self
                .0
                .net
                .as_ref()
                .map(|n| n.connected().len())
                .unwrap_or(0),
            mempool_txs: txs,
            mempool_bytes: bytes,
        }
    }

    async fn submit(
        &self,
        txs: Vec<SignedTransaction>,
        wait: Option<Duration>,
    ) -> Vec<SubmitOutcome> {
        let node = self.0.clone();
        let n = txs.len();
        // One encoding per transaction gives its id and size; admission reuses them, and the
        // ids report a failed admission task (a panic), which returns no outcomes.
        let meta: Vec<(TxId, usize)> = txs.iter().map(|t| t.id_and_size()).collect();
        let ids: Vec<TxId> = meta.iter().map(|m| m.0).collect();
        let refuse_all = |ids: Vec<TxId>, code: &str, message: String| -> Vec<SubmitOutcome> {
            ids.into_iter()
                .map(|tx| SubmitOutcome {
                    brief: None,
                    tx,
                    status: SubmitStatus::Refused,
                    receipt: None,
                    error: Some(ErrorBody {
                        code: code.to_string(),
                        message: message.clone(),
                    }),
                })
                .collect()
        };
        if let Some(message) = self.0.disk.low() {
            self.0.metrics.refused_many("disk_low", n as u64);
            return refuse_all(ids, "disk_low", message);
        }
        let arrived = std::time::Instant::now();
        let Ok(permit) = self.0.admissions.acquire().await else {
            return refuse_all(ids, "unavailable", "the node is shutting down".into());
        };
        self.0
            .metrics
            .admission_stage("queued", arrived.elapsed().as_secs_f64());
        let admitted =
            match tokio::task::spawn_blocking(move || node.admit(txs, &meta, wait.is_some(), true))
                .await
            {
                Ok(a) => a,
                Err(e) => return refuse_all(ids, "internal", format!("admission failed: {e}")),
            };
        // The bound is on admission work, not on waiting for finality.
        drop(permit);
        let mut outcomes = admitted.outcomes;
        let Some(wait) = wait else {
            return outcomes;
        };
        let deadline = tokio::time::Instant::now() + wait;
        for (i, rx) in admitted.waits.into_iter().enumerate().take(n) {
            let Some(rx) = rx else { continue };
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Finality::Final(receipt))) => {
                    outcomes[i].status = SubmitStatus::Final;
                    outcomes[i].receipt = Some(receipt);
                }
                Ok(Ok(Finality::Dropped(e))) => {
                    outcomes[i].status = SubmitStatus::Refused;
                    outcomes[i].error = Some(e);
                }
                Ok(Err(_)) | Err(_) => outcomes[i].status = SubmitStatus::Timeout,
            }
        }
        outcomes
    }

    fn tx(&self, id: &TxId) -> Result<Option<TxView>, RpcError> {
        self.0.ledger.tx(id).map_err(internal)
    }

    fn tx_pending(&self, id: &TxId) -> bool {
        self.0.is_pending(id)
    }

    fn coupon(&self, id: &Hash) -> Result<Option<CouponView>, RpcError> {
        self.0.ledger.coupon(id).map_err(internal)
    }

    fn coupons_of(
        &self,
        owner: &PublicKey,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<CouponRecord>, RpcError> {
        self.0
            .ledger
            .coupons_of(owner, after.as_ref(), limit)
            .map_err(internal)
    }

    fn campaign(&self, id: &Hash) -> Result<Option<CampaignRecord>, RpcError> {
        self.0.ledger.campaign(id).map_err(internal)
    }

    fn campaigns_of(
        &self,
        issuer: &PublicKey,
        limit: usize,
    ) -> Result<Vec<CampaignRecord>, RpcError> {
        self.0.ledger.campaigns_of(issuer, limit).map_err(internal)
    }

    fn account(&self, key: &PublicKey) -> Result<Option<Account>, RpcError> {
        match self.record(StateKey::Account(*key))? {
            Some(Record::Account(a)) => Ok(Some(a)),
            _ => Ok(None),
        }
    }

    fn proposal(&self, id: &Hash) -> Result<Option<ProposalRecord>, RpcError> {
        match self.record(StateKey::Proposal(*id))? {
            Some(Record::Proposal(p)) => Ok(Some(p)),
            _ => Ok(None),
        }
    }

    fn validators(&self) -> Result<ValidatorSet, RpcError> {
        match self.record(StateKey::Validators)? {
            Some(Record::Validators(v)) => Ok(v.current),
            _ => Err(RpcError::Internal("validator set missing".into())),
        }
    }

    fn block(&self, height: u64) -> Result<Option<BlockView>, RpcError> {
        let Some(block) = self.0.ledger.block(height).map_err(internal)? else {
            return Ok(None);
        };
        let certificate = self.0.ledger.certificate(height).map_err(internal)?;
        Ok(Some(BlockView {
            hash: block.hash(),
            block,
            certificate,
        }))
    }

    fn block_height(&self, hash: &Hash) -> Result<Option<u64>, RpcError> {
        self.0.ledger.block_height(hash).map_err(internal)
    }

    fn headers(&self, from: u64, limit: usize) -> Result<Vec<Header>, RpcError> {
        self.0.ledger.headers(from, limit).map_err(internal)
    }

    fn receipts(&self, height: u64) -> Result<Vec<Receipt>, RpcError> {
        self.0.ledger.receipts(height).map_err(internal)
    }

    fn prove(&self, key: StateKey) -> Result<ProofView, RpcError> {
        let proven = self.0.ledger.prove(key).map_err(internal)?;
        let certificate = self
            .0
            .ledger
            .certificate(proven.header.height)
            .map_err(internal)?;
        let validators = self.validators()?;
        Ok(ProofView {
            proven,
            certificate,
            validators,
        })
    }

    fn subscribe_head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.head.subscribe()
    }
}
