//! Misbehaviour evidence kept across restarts: records the node hands over as bytes (it
//! alone knows their format — storage does not know consensus), keyed by the height they
//! concern and an id the node derives from their content, so one piece of evidence is
//! stored once however often it is reported. Written apart from blocks, durably, and
//! pruned by the node (it bounds how many it keeps).

use crate::error::StorageError;
use crate::ledger::Ledger;
use crate::tables;
use couponchain_chain::Hash;
use rocksdb::{IteratorMode, WriteOptions};

/// One stored piece of evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceRecord {
    pub height: u64,
    pub id: Hash,
    pub bytes: Vec<u8>,
}

fn key(height: u64, id: &Hash) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&tables::height_key(height));
    k[8..].copy_from_slice(id.as_bytes());
    k
}

impl Ledger {
    /// Evidence writes wait for the disk as block writes do.
    fn evidence_write(&self) -> WriteOptions {
        let mut wo = WriteOptions::default();
        wo.set_sync(self.syncs_writes());
        wo
    }

    /// Stores `bytes` as evidence about `height` under `id`, durably (when the ledger
    /// syncs its writes). Storing an id again rewrites the same entry.
    pub fn put_evidence(&self, height: u64, id: &Hash, bytes: &[u8]) -> Result<(), StorageError> {
        self.db().put_cf_opt(
            self.cf(tables::EVIDENCE)?,
            key(height, id),
            bytes,
            &self.evidence_write(),
        )?;
        Ok(())
    }

    /// Forgets one piece of evidence (the node prunes the oldest beyond its bound).
    pub fn delete_evidence(&self, height: u64, id: &Hash) -> Result<(), StorageError> {
        self.db().delete_cf_opt(
            self.cf(tables::EVIDENCE)?,
            key(height, id),
            &self.evidence_write(),
        )?;
        Ok(())
    }

    /// The `limit` pieces of evidence about the highest heights, lowest height first.
    pub fn evidence(&self, limit: usize) -> Result<Vec<EvidenceRecord>, StorageError> {
        let mut out = Vec::new();
        for item in self
            .db()
            .iterator_cf(self.cf(tables::EVIDENCE)?, IteratorMode::End)
            .take(limit)
        {
            let (k, v) = item?;
            let (Ok(height), Ok(id)) = (
                <[u8; 8]>::try_from(k.get(..8).unwrap_or_default()),
                <[u8; 32]>::try_from(k.get(8..).unwrap_or_default()),
            ) else {
                return Err(StorageError::Corrupt(format!(
                    "evidence key of {} bytes (expected 40)",
                    k.len()
                )));
            };
            out.push(EvidenceRecord {
                height: u64::from_be_bytes(height),
                id: Hash(id),
                bytes: v.to_vec(),
            });
        }
        out.reverse();
        Ok(out)
    }
}
