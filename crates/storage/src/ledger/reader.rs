//! The runtime's view of committed (durable) state: records and the replay index, read
//! one by one or in sorted batches.

use super::Ledger;
use crate::tables;
use couponchain_chain::Hash;
use couponchain_runtime::{StateReader, StoreError};

impl StateReader for Ledger {
    fn get(&self, key: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self
            .cf(tables::STATE)
            .map_err(|e| StoreError(e.to_string()))?;
        self.db
            .get_cf(cf, key.0)
            .map_err(|e| StoreError(e.to_string()))
    }

    fn get_many(&self, keys: &[Hash]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let cf = self
            .cf(tables::STATE)
            .map_err(|e| StoreError(e.to_string()))?;
        let mut sorted: Vec<(usize, &Hash)> = keys.iter().enumerate().collect();
        sorted.sort_unstable_by_key(|(_, k)| **k);
        let found = self
            .db
            .batched_multi_get_cf(cf, sorted.iter().map(|(_, k)| &k.0), true);
        let mut out = vec![None; keys.len()];
        for ((i, _), v) in sorted.into_iter().zip(found) {
            out[i] = v
                .map_err(|e| StoreError(e.to_string()))?
                .map(|v| v.to_vec());
        }
        Ok(out)
    }

    fn txs_included(&self, ids: &[Hash]) -> Result<Vec<bool>, StoreError> {
        let cf = self
            .cf(tables::TXS)
            .map_err(|e| StoreError(e.to_string()))?;
        let mut sorted: Vec<(usize, &Hash)> = ids.iter().enumerate().collect();
        sorted.sort_unstable_by_key(|(_, k)| **k);
        let found = self
            .db
            .batched_multi_get_cf(cf, sorted.iter().map(|(_, k)| &k.0), true);
        let mut out = vec![false; ids.len()];
        for ((i, _), v) in sorted.into_iter().zip(found) {
            out[i] = v.map_err(|e| StoreError(e.to_string()))?.is_some();
        }
        Ok(out)
    }

    fn tx_included(&self, id: &Hash) -> Result<bool, StoreError> {
        let cf = self
            .cf(tables::TXS)
            .map_err(|e| StoreError(e.to_string()))?;
        self.db
            .get_pinned_cf(cf, id.0)
            .map(|v| v.is_some())
            .map_err(|e| StoreError(e.to_string()))
    }
}
