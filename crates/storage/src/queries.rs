//! Read-only queries: blocks, transactions with receipts, coupons with their history, an
//! owner's coupons (paged), campaigns, and state records with proofs against a header.

use crate::error::StorageError;
use crate::ledger::Ledger;
use crate::tables::{self, height_key, pair_key, StoredBlock, StoredTx};
use couponchain_chain::block::CommitCertificate;
use couponchain_chain::smt::{self, StateProof};
use couponchain_chain::{encoding, Block, Hash, Header, PublicKey, SignedTransaction, TxId};
use couponchain_runtime::{CampaignRecord, CouponRecord, Event, Receipt, Record, StateKey};
use rocksdb::{Direction, IteratorMode};
use serde::{Deserialize, Serialize};

/// A transaction with where it landed and what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxView {
    pub height: u64,
    pub index: u32,
    pub tx: SignedTransaction,
    pub receipt: Receipt,
}

/// A coupon, its campaign, and every event that touched it, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponView {
    pub coupon: CouponRecord,
    pub campaign: CampaignRecord,
    pub history: Vec<HistoryEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub height: u64,
    pub tx: TxId,
    pub event: Event,
}

/// A record (or its absence) with a proof against the state root of `header`, read from
/// one consistent snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenRecord {
    pub header: Header,
    pub key: Hash,
    /// The encoded record, as committed to by the proof.
    #[serde(with = "couponchain_chain::bytes::vec_hex")]
    pub value: Vec<u8>,
    pub present: bool,
    pub proof: StateProof,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {e}"))
}

impl Ledger {
    /// The block at `height` with its transactions.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        let Some(stored) = self.stored_block(height)? else {
            return Ok(None);
        };
        let txs = self
            .stored_txs(&stored.tx_ids)?
            .into_iter()
            .map(|t| t.tx)
            .collect();
        Ok(Some(Block {
            header: stored.header,
            txs,
        }))
    }

    /// The header at `height`.
    pub fn header(&self, height: u64) -> Result<Option<Header>, StorageError> {
        Ok(self.stored_block(height)?.map(|b| b.header))
    }

    fn stored_block(&self, height: u64) -> Result<Option<StoredBlock>, StorageError> {
        match self
            .db()
            .get_cf(self.cf(tables::BLOCKS)?, height_key(height))?
        {
            None => Ok(None),
            Some(b) => Ok(Some(
                encoding::decode(&b).map_err(|e| corrupt("stored block", e))?,
            )),
        }
    }

    fn stored_txs(&self, ids: &[TxId]) -> Result<Vec<StoredTx>, StorageError> {
        let cf = self.cf(tables::TXS)?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, v) in ids
            .iter()
            .zip(self.db().multi_get_cf(ids.iter().map(|id| (cf, id.0))))
        {
            let v = v?.ok_or_else(|| StorageError::Corrupt(format!("transaction {id} missing")))?;
            out.push(encoding::decode(&v).map_err(|e| corrupt("stored transaction", e))?);
        }
        Ok(out)
    }

    pub fn block_height(&self, hash: &Hash) -> Result<Option<u64>, StorageError> {
        match self.db().get_cf(self.cf(tables::BLOCK_HEIGHTS)?, hash.0)? {
            None => Ok(None),
            Some(b) => {
                let arr: [u8; 8] = b.as_slice().try_into().map_err(|_| {
                    StorageError::Corrupt("block height index value is not 8 bytes".into())
                })?;
                Ok(Some(u64::from_be_bytes(arr)))
            }
        }
    }

    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StorageError> {
        match self
            .db()
            .get_cf(self.cf(tables::CERTS)?, height_key(height))?
        {
            None => Ok(None),
            Some(b) => Ok(Some(
                encoding::decode(&b).map_err(|e| corrupt("stored certificate", e))?,
            )),
        }
    }

    /// Headers from `from` up to `from + limit - 1`, stopping at the head.
    pub fn headers(&self, from: u64, limit: usize) -> Result<Vec<Header>, StorageError> {
        let mut out = Vec::new();
        let iter = self.db().iterator_cf(
            self.cf(tables::BLOCKS)?,
            IteratorMode::From(&height_key(from), Direction::Forward),
        );
        for item in iter.take(limit) {
            let (_, v) = item?;
            let b: StoredBlock = encoding::decode(&v).map_err(|e| corrupt("stored block", e))?;
            out.push(b.header);
        }
        Ok(out)
    }

    /// The receipts of block `height`, in order.
    pub fn receipts(&self, height: u64) -> Result<Vec<Receipt>, StorageError> {
        let Some(stored) = self.stored_block(height)? else {
            return Ok(Vec::new());
        };
        Ok(self
            .stored_txs(&stored.tx_ids)?
            .into_iter()
            .map(|t| t.receipt)
            .collect())
    }

    /// A transaction with its receipt.
    pub fn tx(&self, id: &TxId) -> Result<Option<TxView>, StorageError> {
        let Some(v) = self.db().get_cf(self.cf(tables::TXS)?, id.0)? else {
            return Ok(None);
        };
        let stored: StoredTx =
            encoding::decode(&v).map_err(|e| corrupt("stored transaction", e))?;
        Ok(Some(TxView {
            height: stored.receipt.height,
            index: stored.receipt.index,
            tx: stored.tx,
            receipt: stored.receipt,
        }))
    }

    /// The committed record under `key`.
    pub fn record(&self, key: StateKey) -> Result<Option<Record>, StorageError> {
        match self.db().get_cf(self.cf(tables::STATE)?, key.hash().0)? {
            None => Ok(None),
            Some(v) => Ok(Some(
                Record::decode(&v).map_err(|e| corrupt("stored record", e))?,
            )),
        }
    }

    pub fn campaign(&self, id: &Hash) -> Result<Option<CampaignRecord>, StorageError> {
        match self.record(StateKey::Campaign(*id))? {
            None => Ok(None),
            Some(Record::Campaign(c)) => Ok(Some(c)),
            Some(_) => Err(StorageError::Corrupt(
                "campaign key holds another record".into(),
            )),
        }
    }

    pub fn coupon_record(&self, id: &Hash) -> Result<Option<CouponRecord>, StorageError> {
        match self.record(StateKey::Coupon(*id))? {
            None => Ok(None),
            Some(Record::Coupon(c)) => Ok(Some(c)),
            Some(_) => Err(StorageError::Corrupt(
                "coupon key holds another record".into(),
            )),
        }
    }

    /// A coupon with its campaign and history.
    pub fn coupon(&self, id: &Hash) -> Result<Option<CouponView>, StorageError> {
        let Some(coupon) = self.coupon_record(id)? else {
            return Ok(None);
        };
        let campaign = self
            .campaign(&coupon.campaign)?
            .ok_or_else(|| StorageError::Corrupt("coupon's campaign missing".into()))?;
        let mut history = Vec::new();
        let iter = self.db().iterator_cf(
            self.cf(tables::COUPON_HISTORY)?,
            IteratorMode::From(&id.0, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&id.0) {
                break;
            }
            if k.len() != 48 || v.len() != 32 {
                return Err(StorageError::Corrupt(
                    "malformed coupon history entry".into(),
                ));
            }
            let height = u64::from_be_bytes(k[32..40].try_into().unwrap_or_default());
            let ev_index = u32::from_be_bytes(k[44..48].try_into().unwrap_or_default());
            let mut tx = [0u8; 32];
            tx.copy_from_slice(&v);
            let tx = Hash(tx);
            let view = self
                .tx(&tx)?
                .ok_or_else(|| StorageError::Corrupt(format!("history names missing tx {tx}")))?;
            let event = view
                .receipt
                .events()
                .get(ev_index as usize)
                .cloned()
                .ok_or_else(|| StorageError::Corrupt("history names a missing event".into()))?;
            history.push(HistoryEntry { height, tx, event });
        }
        Ok(Some(CouponView {
            coupon,
            campaign,
            history,
        }))
    }

    /// Up to `limit` coupons owned by `owner`, in id order, starting after `after`.
    pub fn coupons_of(
        &self,
        owner: &PublicKey,
        after: Option<&Hash>,
        limit: usize,
    ) -> Result<Vec<CouponRecord>, StorageError> {
        let start = match after {
            Some(a) => {
                let mut k = pair_key(&owner.0, &a.0).to_vec();
                k.push(0); // strictly after `a`
                k
            }
            None => owner.0.to_vec(),
        };
        let mut out = Vec::new();
        let iter = self.db().iterator_cf(
            self.cf(tables::OWNER_COUPONS)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, _) = item?;
            if !k.starts_with(&owner.0) || k.len() != 64 {
                break;
            }
            let mut id = [0u8; 32];
            id.copy_from_slice(&k[32..]);
            let c = self.coupon_record(&Hash(id))?.ok_or_else(|| {
                StorageError::Corrupt("owner index points at a missing coupon".into())
            })?;
            out.push(c);
        }
        Ok(out)
    }

    /// The campaigns an issuer created, in id order.
    pub fn campaigns_of(
        &self,
        issuer: &PublicKey,
        limit: usize,
    ) -> Result<Vec<CampaignRecord>, StorageError> {
        let mut out = Vec::new();
        let iter = self.db().iterator_cf(
            self.cf(tables::ISSUER_CAMPAIGNS)?,
            IteratorMode::From(&issuer.0, Direction::Forward),
        );
        for item in iter.take(limit) {
            let (k, _) = item?;
            if !k.starts_with(&issuer.0) || k.len() != 64 {
                break;
            }
            let mut id = [0u8; 32];
            id.copy_from_slice(&k[32..]);
            if let Some(c) = self.campaign(&Hash(id))? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The record under `key` (or its absence) with a proof against the state root of the
    /// head. The tree's newest chunks live in memory, not in a RocksDB snapshot, so the
    /// parts are read one after another and the proof is checked against the head's root:
    /// if a block was committed in between, they may not match, and it is read again.
    pub fn prove(&self, key: StateKey) -> Result<ProvenRecord, StorageError> {
        let k = key.hash();
        let mut attempts = 0u64;
        loop {
            attempts += 1;
            let head = self.head();
            let block = self
                .db()
                .get_cf(self.cf(tables::BLOCKS)?, height_key(head.height))?
                .ok_or_else(|| StorageError::Corrupt("head block missing".into()))?;
            let block: StoredBlock =
                encoding::decode(&block).map_err(|e| corrupt("stored block", e))?;
            let value = self.db().get_cf(self.cf(tables::STATE)?, k.0)?;
            let proof = smt::prove(&self.tree_for_queries(), &k)?;
            match proof.verify(&head.state_root, &k, value.as_deref()) {
                Ok(()) => {
                    return Ok(ProvenRecord {
                        header: block.header,
                        key: k,
                        present: value.is_some(),
                        value: value.unwrap_or_default(),
                        proof,
                    })
                }
                // A commit writes the state, then publishes the head: between the two, the
                // value read can be a block ahead of the head. That window is short; a
                // proof that still fails after it is a real fault.
                Err(e) if attempts >= 20 => {
                    return Err(StorageError::Corrupt(format!(
                        "proof of {k} does not verify against the head's root: {e}"
                    )))
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(attempts)),
            }
        }
    }
}
