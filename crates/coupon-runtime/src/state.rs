//! The runtime's state: typed records under 32-byte keys, and the overlay that buffers one
//! block's writes.
//!
//! Every record lives in the sparse Merkle tree under `blake3(tag || namespace || id)`, so
//! the tree stays balanced whatever ids clients choose, and its value is the canonical
//! encoding of [`Record`]. A light verifier decodes the value it was given a proof for.

use crate::error::StoreError;
use couponchain_chain::block::ValidatorSet;
use couponchain_chain::encoding;
use couponchain_chain::hash::{hash_parts, tag};
use couponchain_chain::tx::{CampaignSpec, GovAction};
use couponchain_chain::{ChainError, Hash, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What a record is keyed by, before hashing into a tree key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKey {
    Params,
    Validators,
    Account(PublicKey),
    Campaign(Hash),
    Coupon(Hash),
    /// How many coupons of a campaign a holder has received (for the per-holder limit).
    Received {
        campaign: Hash,
        holder: PublicKey,
    },
    Proposal(Hash),
}

impl StateKey {
    /// The tree key.
    pub fn hash(&self) -> Hash {
        match self {
            StateKey::Params => hash_parts(tag::STATE_KEY, &[&[1]]),
            StateKey::Validators => hash_parts(tag::STATE_KEY, &[&[2]]),
            StateKey::Account(k) => hash_parts(tag::STATE_KEY, &[&[3], &k.0]),
            StateKey::Campaign(h) => hash_parts(tag::STATE_KEY, &[&[4], &h.0]),
            StateKey::Coupon(h) => hash_parts(tag::STATE_KEY, &[&[5], &h.0]),
            StateKey::Received { campaign, holder } => {
                hash_parts(tag::STATE_KEY, &[&[6], &campaign.0, &holder.0])
            }
            StateKey::Proposal(h) => hash_parts(tag::STATE_KEY, &[&[7], &h.0]),
        }
    }
}

/// Chain-wide parameters, fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub chain_id: String,
    /// The farthest ahead of chain time a transaction's `valid_until_ms` may be. Bounds
    /// how long a mempool must remember a transaction id.
    pub max_tx_lifetime_ms: u64,
    /// How long a governance proposal stays open for approvals.
    pub proposal_ttl_ms: u64,
    /// How many blocks after its approval a validator-set change takes effect.
    pub validator_change_delay: u64,
}

/// The roles one key holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub admin: bool,
    pub issuer: Option<IssuerInfo>,
    pub site: Option<SiteInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerInfo {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteInfo {
    pub name: String,
    /// The issuer that operates the site, if any.
    pub issuer: Option<PublicKey>,
    /// A geohash.
    pub region: Option<String>,
}

/// The current validator set and a scheduled change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorsRecord {
    pub current: ValidatorSet,
    /// (height from which it certifies blocks, the set).
    pub pending: Option<(u64, ValidatorSet)>,
}

impl ValidatorsRecord {
    /// The set that certifies block `height` (given this record as of block `height - 1`).
    pub fn set_at(&self, height: u64) -> &ValidatorSet {
        match &self.pending {
            Some((from, set)) if *from <= height => set,
            _ => &self.current,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Active,
    Paused,
    Revoked,
}

/// Counters kept per campaign so no coupon goes unaccounted for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignStats {
    pub issued: u64,
    /// Coupons with nothing left (all uses or all value redeemed).
    pub spent: u64,
    pub revoked: u64,
    /// Redemption transactions that succeeded.
    pub redemptions: u64,
    /// Uses (single/multi-use) or value (stored value) redeemed in total.
    pub redeemed_amount: u64,
}

impl CampaignStats {
    /// Coupons neither spent nor revoked (whether or not expired).
    pub fn outstanding(&self) -> u64 {
        self.issued.saturating_sub(self.spent + self.revoked)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub id: Hash,
    pub issuer: PublicKey,
    pub spec: CampaignSpec,
    pub status: CampaignStatus,
    pub created_height: u64,
    pub stats: CampaignStats,
}

impl CampaignRecord {
    /// Uses or value one coupon of this campaign starts with.
    pub fn initial_amount(&self) -> u64 {
        match self.spec.kind {
            couponchain_chain::tx::CouponKind::SingleUse => 1,
            couponchain_chain::tx::CouponKind::MultiUse { uses } => uses as u64,
            couponchain_chain::tx::CouponKind::StoredValue { amount } => amount,
        }
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.spec.expires_at_ms
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponStatus {
    Active,
    Spent,
    Revoked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponRecord {
    pub id: Hash,
    pub campaign: Hash,
    pub owner: PublicKey,
    /// The owner key was derived from a bearer code and the coupon has not been claimed.
    pub bearer: bool,
    /// Uses or value left.
    pub remaining: u64,
    /// Successful redemptions so far; a holder's authorization names the next one.
    pub redemptions: u32,
    pub status: CouponStatus,
    pub issued_height: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Open,
    Executed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRecord {
    pub id: Hash,
    pub action: GovAction,
    pub proposer: PublicKey,
    /// Sorted, without duplicates; only keys that were validators when they approved.
    pub approvals: Vec<PublicKey>,
    pub status: ProposalStatus,
    pub created_height: u64,
    pub expires_at_ms: u64,
}

/// Every value the tree holds. The variant tag makes a value's kind part of its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Params(Params),
    Validators(ValidatorsRecord),
    Account(Account),
    Campaign(CampaignRecord),
    Coupon(CouponRecord),
    Received(u32),
    Proposal(ProposalRecord),
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, ChainError> {
        encoding::decode(bytes)
    }
}

/// Read access to committed state, as of the end of the previous block.
pub trait StateReader {
    /// The encoded record under a tree key.
    fn get(&self, key: &Hash) -> Result<Option<Vec<u8>>, StoreError>;
    /// Whether a transaction with this id is already in the chain.
    fn tx_included(&self, id: &Hash) -> Result<bool, StoreError>;

    /// Many records at once, in the order of `keys` (a store can batch the reads).
    fn get_many(&self, keys: &[Hash]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// [`StateReader::tx_included`] for many ids, in order.
    fn txs_included(&self, ids: &[Hash]) -> Result<Vec<bool>, StoreError> {
        ids.iter().map(|id| self.tx_included(id)).collect()
    }
}

impl StateReader for BTreeMap<Hash, Vec<u8>> {
    fn get(&self, key: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(BTreeMap::get(self, key).cloned())
    }
    fn tx_included(&self, _id: &Hash) -> Result<bool, StoreError> {
        Ok(false)
    }
}

/// Buffers one block's writes over a [`StateReader`], with a second layer for the
/// transaction being applied so a refused transaction leaves nothing behind. Records read
/// from the base are decoded once per block.
pub(crate) struct Overlay<'a, R: StateReader> {
    base: &'a R,
    /// Decoded base reads; the HashMap is only looked up, never iterated.
    read_cache: HashMap<Hash, Option<Record>>,
    block: BTreeMap<Hash, Option<Record>>,
    tx: BTreeMap<Hash, Option<Record>>,
}

impl<'a, R: StateReader> Overlay<'a, R> {
    pub fn new(base: &'a R) -> Self {
        Overlay {
            base,
            read_cache: HashMap::new(),
            block: BTreeMap::new(),
            tx: BTreeMap::new(),
        }
    }

    /// Reads the records under `keys` from the base in one batch, ahead of their use.
    /// Order and duplicates do not matter.
    pub fn prefetch(&mut self, mut keys: Vec<Hash>) -> Result<(), StoreError> {
        keys.sort_unstable();
        keys.dedup();
        keys.retain(|k| !self.read_cache.contains_key(k));
        let values = self.base.get_many(&keys)?;
        for (k, v) in keys.into_iter().zip(values) {
            let v = match v {
                None => None,
                Some(bytes) => Some(
                    Record::decode(&bytes)
                        .map_err(|e| StoreError(format!("undecodable state record {k}: {e}")))?,
                ),
            };
            self.read_cache.insert(k, v);
        }
        Ok(())
    }

    pub fn get(&mut self, key: StateKey) -> Result<Option<Record>, StoreError> {
        let k = key.hash();
        if let Some(v) = self.tx.get(&k) {
            return Ok(v.clone());
        }
        if let Some(v) = self.block.get(&k) {
            return Ok(v.clone());
        }
        if let Some(v) = self.read_cache.get(&k) {
            return Ok(v.clone());
        }
        let v = match self.base.get(&k)? {
            None => None,
            Some(bytes) => Some(
                Record::decode(&bytes)
                    .map_err(|e| StoreError(format!("undecodable state record {k}: {e}")))?,
            ),
        };
        self.read_cache.insert(k, v.clone());
        Ok(v)
    }

    pub fn put(&mut self, key: StateKey, value: Record) {
        self.tx.insert(key.hash(), Some(value));
    }

    pub fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.block.extend(tx);
    }

    pub fn discard_tx(&mut self) {
        self.tx.clear();
    }

    /// The block's changes, sorted by tree key, encoded.
    pub fn into_changes(self) -> Vec<(Hash, Option<Vec<u8>>)> {
        self.block
            .into_iter()
            .map(|(k, v)| (k, v.map(|r| r.encode())))
            .collect()
    }
}

/// Typed accessors; a record of the wrong kind under a key is a storage fault.
macro_rules! typed_get {
    ($name:ident, $variant:ident, $ty:ty, $key:ident : $kty:ty => $skey:expr) => {
        pub fn $name(&mut self, $key: $kty) -> Result<Option<$ty>, StoreError> {
            match self.get($skey)? {
                None => Ok(None),
                Some(Record::$variant(v)) => Ok(Some(v)),
                Some(_) => Err(StoreError(format!(
                    "record under {:?} is not a {}",
                    $skey,
                    stringify!($variant)
                ))),
            }
        }
    };
}

impl<R: StateReader> Overlay<'_, R> {
    typed_get!(account, Account, Account, k: PublicKey => StateKey::Account(k));
    typed_get!(campaign, Campaign, CampaignRecord, id: Hash => StateKey::Campaign(id));
    typed_get!(coupon, Coupon, CouponRecord, id: Hash => StateKey::Coupon(id));
    typed_get!(proposal, Proposal, ProposalRecord, id: Hash => StateKey::Proposal(id));

    pub fn params(&mut self) -> Result<Params, StoreError> {
        match self.get(StateKey::Params)? {
            Some(Record::Params(p)) => Ok(p),
            _ => Err(StoreError("chain parameters missing from state".into())),
        }
    }

    pub fn validators(&mut self) -> Result<ValidatorsRecord, StoreError> {
        match self.get(StateKey::Validators)? {
            Some(Record::Validators(v)) => Ok(v),
            _ => Err(StoreError("validator set missing from state".into())),
        }
    }

    pub fn received(&mut self, campaign: Hash, holder: PublicKey) -> Result<u32, StoreError> {
        match self.get(StateKey::Received { campaign, holder })? {
            None => Ok(0),
            Some(Record::Received(n)) => Ok(n),
            Some(_) => Err(StoreError("received-count record of the wrong kind".into())),
        }
    }
}
