//! Test and benchmark helpers: deterministic actors, a genesis naming them, and builders
//! for every kind of transaction. Compiled only for tests and with the `testkit` feature.

use crate::genesis::{Genesis, GenesisIssuer, GenesisSite};
use couponchain_chain::block::BlockContext;
use couponchain_chain::tx::{
    Benefit, CampaignSpec, CouponKind, RedeemAuth, Redemption, SitePolicy, Terms, TxBody,
};
use couponchain_chain::{Hash, Keypair, PublicKey, SignedTransaction, Transaction};

pub const CHAIN_ID: &str = "couponchain-test";
/// Genesis time: 2026-01-01T00:00:00Z.
pub const T0: u64 = 1_767_225_600_000;
pub const HOUR: u64 = 3_600_000;
pub const DAY: u64 = 24 * HOUR;

/// Everyone a test needs, from fixed seeds.
#[derive(Debug, Clone)]
pub struct Actors {
    pub validators: Vec<Keypair>,
    pub admin: Keypair,
    /// Issuer with a site of its own (`site`, region "u33db") .
    pub issuer: Keypair,
    pub issuer2: Keypair,
    pub site: Keypair,
    /// A site of `issuer2`, region "gcpvj".
    pub site2: Keypair,
    /// A site of no issuer and no region.
    pub site3: Keypair,
    pub holders: Vec<Keypair>,
}

impl Actors {
    pub fn new(validators: usize, holders: usize) -> Actors {
        Actors {
            validators: (0..validators)
                .map(|i| Keypair::from_seed(&format!("validator-{i}")))
                .collect(),
            admin: Keypair::from_seed("admin"),
            issuer: Keypair::from_seed("issuer"),
            issuer2: Keypair::from_seed("issuer2"),
            site: Keypair::from_seed("site"),
            site2: Keypair::from_seed("site2"),
            site3: Keypair::from_seed("site3"),
            holders: (0..holders)
                .map(|i| Keypair::from_seed(&format!("holder-{i}")))
                .collect(),
        }
    }

    pub fn genesis(&self) -> Genesis {
        Genesis {
            chain_id: CHAIN_ID.into(),
            genesis_time_ms: T0,
            validators: self.validators.iter().map(|k| k.public()).collect(),
            admins: vec![self.admin.public()],
            issuers: vec![
                GenesisIssuer {
                    key: self.issuer.public(),
                    name: "Shop One".into(),
                },
                GenesisIssuer {
                    key: self.issuer2.public(),
                    name: "Shop Two".into(),
                },
            ],
            sites: vec![
                GenesisSite {
                    key: self.site.public(),
                    name: "Shop One till".into(),
                    issuer: Some(self.issuer.public()),
                    region: Some("u33db".into()),
                },
                GenesisSite {
                    key: self.site2.public(),
                    name: "Shop Two till".into(),
                    issuer: Some(self.issuer2.public()),
                    region: Some("gcpvj".into()),
                },
                GenesisSite {
                    key: self.site3.public(),
                    name: "Canteen".into(),
                    issuer: None,
                    region: None,
                },
            ],
            max_tx_lifetime_ms: Genesis::DEFAULT_MAX_TX_LIFETIME_MS,
            proposal_ttl_ms: Genesis::DEFAULT_PROPOSAL_TTL_MS,
            validator_change_delay: Genesis::DEFAULT_VALIDATOR_CHANGE_DELAY,
        }
    }
}

/// The context of block `height` at `T0 + offset_ms`.
pub fn ctx(height: u64, offset_ms: u64) -> BlockContext {
    BlockContext {
        height,
        time_ms: T0 + offset_ms,
    }
}

/// A signed transaction valid for the first 30 days after T0 (tests move the clock
/// within that span; `max_tx_lifetime_ms` is checked against block time).
pub fn sign_at(
    signer: &Keypair,
    nonce: u64,
    valid_until_ms: u64,
    body: TxBody,
) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN_ID.into(),
        signer: signer.public(),
        nonce,
        valid_until_ms,
        body,
    }
    .sign(signer)
}

/// A signed transaction valid until 30 minutes after `now_ms`.
pub fn sign(signer: &Keypair, nonce: u64, now_ms: u64, body: TxBody) -> SignedTransaction {
    sign_at(signer, nonce, now_ms + 30 * 60 * 1000, body)
}

/// A single-use campaign redeemable at any site of its issuer, valid from T0 for 30 days.
pub fn spec(name: &str) -> CampaignSpec {
    CampaignSpec {
        name: name.into(),
        terms: Terms {
            benefit: Benefit::PercentOff { basis_points: 1000 },
            currency: Some("EUR".into()),
            metadata: "{\"min_purchase\": 5000}".into(),
        },
        not_before_ms: T0,
        expires_at_ms: T0 + 30 * DAY,
        max_supply: 1_000_000,
        transferable: true,
        kind: CouponKind::SingleUse,
        redeem_at: SitePolicy::AnySiteOfIssuer,
        region_prefix: None,
        per_holder_limit: None,
    }
}

/// A redemption of `coupon` by `holder` at `site`, authorized for the coupon's `seq`-th use.
pub fn redeem(
    site: &Keypair,
    holder: &Keypair,
    coupon: Hash,
    amount: u64,
    seq: u32,
    nonce: u64,
    now_ms: u64,
) -> SignedTransaction {
    let auth = RedeemAuth {
        chain_id: CHAIN_ID.into(),
        coupon,
        site: site.public(),
        amount,
        seq,
        valid_until_ms: now_ms + 10 * 60 * 1000,
    };
    let r = Redemption {
        coupon,
        holder: holder.public(),
        amount,
        seq,
        auth_valid_until_ms: auth.valid_until_ms,
        holder_signature: auth.sign(holder),
    };
    sign(site, nonce, now_ms, TxBody::Redeem(r))
}

pub fn keys(k: &[Keypair]) -> Vec<PublicKey> {
    k.iter().map(|k| k.public()).collect()
}
