//! Genesis: the chain's parameters and its first validators, administrators, issuers and
//! sites, turned into the initial state.

use crate::error::RuntimeError;
use crate::state::{Account, IssuerInfo, Params, Record, SiteInfo, StateKey, ValidatorsRecord};
use crate::{apply::valid_region, limits};
use couponchain_chain::block::ValidatorSet;
use couponchain_chain::{Hash, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisIssuer {
    pub key: PublicKey,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisSite {
    pub key: PublicKey,
    pub name: String,
    pub issuer: Option<PublicKey>,
    pub region: Option<String>,
}

/// The genesis document every node of a chain must share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: String,
    /// Chain time of the genesis block, ms since the Unix epoch.
    pub genesis_time_ms: u64,
    pub validators: Vec<PublicKey>,
    pub admins: Vec<PublicKey>,
    pub issuers: Vec<GenesisIssuer>,
    pub sites: Vec<GenesisSite>,
    pub max_tx_lifetime_ms: u64,
    pub proposal_ttl_ms: u64,
    pub validator_change_delay: u64,
}

impl Genesis {
    pub const DEFAULT_MAX_TX_LIFETIME_MS: u64 = 60 * 60 * 1000;
    pub const DEFAULT_PROPOSAL_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;
    pub const DEFAULT_VALIDATOR_CHANGE_DELAY: u64 = 2;

    pub fn params(&self) -> Params {
        Params {
            chain_id: self.chain_id.clone(),
            max_tx_lifetime_ms: self.max_tx_lifetime_ms,
            proposal_ttl_ms: self.proposal_ttl_ms,
            validator_change_delay: self.validator_change_delay,
        }
    }

    pub fn validator_set(&self) -> ValidatorSet {
        ValidatorSet::new(self.validators.iter().copied())
    }

    /// Checks the document and builds the initial state (tree key → encoded record).
    pub fn initial_state(&self) -> Result<BTreeMap<Hash, Vec<u8>>, RuntimeError> {
        let bad = |m: String| Err(RuntimeError::InvalidAction(format!("genesis: {m}")));
        if self.chain_id.is_empty() || self.chain_id.len() > limits::MAX_CHAIN_ID_BYTES {
            return bad("chain_id must be 1 to 64 bytes".into());
        }
        if self.validators.is_empty() {
            return bad("at least one validator is required".into());
        }
        if self.max_tx_lifetime_ms == 0 || self.validator_change_delay == 0 {
            return bad("max_tx_lifetime_ms and validator_change_delay must be positive".into());
        }
        let set = self.validator_set();
        if set.len() != self.validators.len() {
            return bad("a validator is listed twice".into());
        }
        for k in &set.validators {
            k.to_verifying_key()
                .map_err(|e| RuntimeError::InvalidAction(format!("genesis validator: {e}")))?;
        }
        let mut accounts: BTreeMap<PublicKey, Account> = BTreeMap::new();
        for a in &self.admins {
            accounts.entry(*a).or_default().admin = true;
        }
        for i in &self.issuers {
            if i.name.trim().is_empty() || i.name.len() > limits::MAX_NAME_BYTES {
                return bad(format!("issuer {} needs a name of 1 to 128 bytes", i.key));
            }
            accounts.entry(i.key).or_default().issuer = Some(IssuerInfo {
                name: i.name.clone(),
            });
        }
        for s in &self.sites {
            if s.name.trim().is_empty() || s.name.len() > limits::MAX_NAME_BYTES {
                return bad(format!("site {} needs a name of 1 to 128 bytes", s.key));
            }
            if s.region.as_deref().is_some_and(|r| !valid_region(r)) {
                return bad(format!("site {} has an invalid region", s.key));
            }
            if let Some(i) = s.issuer {
                if !self.issuers.iter().any(|x| x.key == i) {
                    return bad(format!("site {} names {} which is not an issuer", s.key, i));
                }
            }
            accounts.entry(s.key).or_default().site = Some(SiteInfo {
                name: s.name.clone(),
                issuer: s.issuer,
                region: s.region.clone(),
            });
        }
        let mut state = BTreeMap::new();
        state.insert(
            StateKey::Params.hash(),
            Record::Params(self.params()).encode(),
        );
        state.insert(
            StateKey::Validators.hash(),
            Record::Validators(ValidatorsRecord {
                current: set,
                pending: None,
            })
            .encode(),
        );
        for (k, a) in accounts {
            state.insert(StateKey::Account(k).hash(), Record::Account(a).encode());
        }
        Ok(state)
    }
}
