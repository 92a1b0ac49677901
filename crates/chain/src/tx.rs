//! Transactions: a signed envelope binding chain id, signer, a nonce, a validity limit and
//! a body.
//!
//! Replay protection without coordination (docs/adr/003-replay-protection.md): the
//! transaction id is the hash of the unsigned envelope, so it does not depend on the
//! signature's encoding. A signer picks any nonce (random, or a per-worker counter); the
//! chain refuses an id it has already included, forever, and refuses envelopes whose
//! `valid_until_ms` has passed or lies too far ahead, which bounds what a mempool must
//! remember. Many workers sharing one key never need to agree on anything.

use crate::crypto::{Keypair, PublicKey, Signature};
use crate::encoding;
use crate::hash::{hash_parts, tag, Hash};
use crate::ChainError;
use serde::{Deserialize, Serialize};

/// A transaction id: blake3 of the domain tag and the canonical unsigned envelope.
pub type TxId = Hash;

/// The unsigned envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Binds the transaction to one network; a signature for another chain is useless here.
    pub chain_id: String,
    /// The key that signs the envelope and whose role authorizes the body.
    pub signer: PublicKey,
    /// Any value; makes otherwise identical transactions distinct.
    pub nonce: u64,
    /// Chain time (ms since the Unix epoch) after which the transaction can never be included.
    pub valid_until_ms: u64,
    pub body: TxBody,
}

/// An envelope with the signer's signature over [`Transaction::signing_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: Signature,
}

impl Transaction {
    /// The bytes the signer signs: the domain tag followed by the canonical encoding.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = tag::TX.to_vec();
        out.extend_from_slice(&encoding::encode(self));
        out
    }

    /// The transaction id (independent of the signature).
    pub fn id(&self) -> TxId {
        hash_parts(&[], &[&self.signing_bytes()])
    }

    pub fn sign(self, key: &Keypair) -> SignedTransaction {
        let signature = key.sign(&self.signing_bytes());
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

impl SignedTransaction {
    pub fn id(&self) -> TxId {
        self.tx.id()
    }

    /// Every signature this transaction carries, as (key, signed bytes, signature): the
    /// envelope's, and for a redemption the holder's authorization. All are checkable
    /// without state, so a node checks them once (on admission) and in batches.
    pub fn signature_items(&self) -> Vec<(PublicKey, Vec<u8>, Signature)> {
        let mut items = vec![(self.tx.signer, self.tx.signing_bytes(), self.signature)];
        if let TxBody::Redeem(r) = &self.tx.body {
            let auth = RedeemAuth::of(&self.tx.chain_id, self.tx.signer, r);
            items.push((r.holder, auth.signing_bytes(), r.holder_signature));
        }
        items
    }

    /// Checks the envelope signature with the strict single rule.
    pub fn verify_signature(&self) -> Result<(), ChainError> {
        self.tx
            .signer
            .verify(&self.tx.signing_bytes(), &self.signature)
    }

    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// The id and the length of [`SignedTransaction::encode`], from one encoding of the
    /// envelope (the signed form is the envelope followed by the 64-byte signature).
    pub fn id_and_size(&self) -> (TxId, usize) {
        let signing = self.tx.signing_bytes();
        let size = signing.len() - tag::TX.len() + 64;
        (hash_parts(&[], &[&signing]), size)
    }

    pub fn decode(bytes: &[u8]) -> Result<SignedTransaction, ChainError> {
        encoding::decode(bytes)
    }
}

/// What a transaction does. Each variant's rules live in the coupon runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxBody {
    /// An issuer opens a campaign (a coupon class). Its id is derived from the tx id.
    CreateCampaign(CampaignSpec),
    /// The campaign's issuer issues coupons; coupon `i` gets id `coupon_id(tx_id, i)`.
    IssueCoupons {
        campaign: Hash,
        recipients: Vec<Recipient>,
    },
    /// The owner gives a coupon away (only if the campaign is transferable).
    Transfer { coupon: Hash, to: PublicKey },
    /// The holder of a bearer code moves the coupon into a wallet key (allowed even for
    /// non-transferable campaigns, once).
    Claim { coupon: Hash, to: PublicKey },
    /// A site redeems a coupon with the holder's authorization; the envelope signer is the site.
    Redeem(Redemption),
    /// The campaign's issuer revokes one coupon.
    RevokeCoupon { coupon: Hash },
    /// The campaign's issuer pauses, resumes or revokes (for good) a campaign.
    SetCampaignStatus {
        campaign: Hash,
        action: CampaignAction,
    },
    /// An administrator or validator proposes a governance action; a validator proposer's
    /// approval is counted at once.
    Propose { action: GovAction },
    /// A validator approves a proposal; it executes when more than 2/3 of the current
    /// validators have approved.
    Approve { proposal: Hash },
}

/// Everything that defines a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSpec {
    pub name: String,
    pub terms: Terms,
    /// Chain time before which coupons cannot be redeemed.
    pub not_before_ms: u64,
    /// Chain time from which coupons are expired.
    pub expires_at_ms: u64,
    pub max_supply: u64,
    pub transferable: bool,
    pub kind: CouponKind,
    pub redeem_at: SitePolicy,
    /// If set, the redeeming site's region (a geohash) must start with this prefix.
    pub region_prefix: Option<String>,
    /// If set, no key may receive more coupons of this campaign than this, over all time.
    pub per_holder_limit: Option<u32>,
}

/// Structured terms and opaque metadata, shown to holders; the runtime does not interpret
/// them beyond bounding their size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub benefit: Benefit,
    /// ISO 4217 code for amounts, e.g. "EUR".
    pub currency: Option<String>,
    /// Free text or JSON chosen by the issuer.
    pub metadata: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Benefit {
    /// A percentage off, in basis points (1 % = 100).
    PercentOff { basis_points: u32 },
    /// A fixed amount off, in minor units of `currency`.
    AmountOff { amount: u64 },
    /// A free item, named by the issuer's SKU.
    FreeItem { sku: String },
    /// Anything else; see `metadata`.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponKind {
    /// Redeemed once.
    SingleUse,
    /// A punch card: `uses` redemptions.
    MultiUse { uses: u32 },
    /// A balance in minor units; each redemption takes any amount up to what remains.
    StoredValue { amount: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SitePolicy {
    /// Any registered site that belongs to the campaign's issuer.
    AnySiteOfIssuer,
    /// Only these registered sites (at most 256, no duplicates).
    Sites(Vec<PublicKey>),
    /// Any registered site.
    AnySite,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// A wallet key, or the key derived from a bearer code.
    pub owner: PublicKey,
    /// True if `owner` was derived from a bearer code (the coupon can then be claimed).
    pub bearer: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignAction {
    Pause,
    Resume,
    Revoke,
}

/// A redemption: the site (envelope signer) presents the holder's authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    pub coupon: Hash,
    /// The holder (the coupon's owner) who authorized this redemption.
    pub holder: PublicKey,
    /// Uses to consume (single- and multi-use) or value to take (stored value).
    pub amount: u64,
    /// The coupon's redemption count the holder saw; an authorization works once.
    pub seq: u32,
    /// Chain time after which the authorization is void.
    pub auth_valid_until_ms: u64,
    /// The holder's signature over [`RedeemAuth::signing_bytes`].
    pub holder_signature: Signature,
}

/// What a holder signs to let one site redeem one coupon once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemAuth {
    pub chain_id: String,
    pub coupon: Hash,
    pub site: PublicKey,
    pub amount: u64,
    pub seq: u32,
    pub valid_until_ms: u64,
}

impl RedeemAuth {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = tag::REDEEM_AUTH.to_vec();
        out.extend_from_slice(&encoding::encode(self));
        out
    }

    pub fn sign(&self, holder: &Keypair) -> Signature {
        holder.sign(&self.signing_bytes())
    }

    /// The authorization a [`Redemption`] submitted by `site` claims to carry.
    pub fn of(chain_id: &str, site: PublicKey, r: &Redemption) -> RedeemAuth {
        RedeemAuth {
            chain_id: chain_id.to_string(),
            coupon: r.coupon,
            site,
            amount: r.amount,
            seq: r.seq,
            valid_until_ms: r.auth_valid_until_ms,
        }
    }
}

/// Governance actions; each needs approvals from more than 2/3 of the current validators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovAction {
    AddValidator {
        key: PublicKey,
    },
    RemoveValidator {
        key: PublicKey,
    },
    AddAdmin {
        key: PublicKey,
    },
    RemoveAdmin {
        key: PublicKey,
    },
    RegisterIssuer {
        key: PublicKey,
        name: String,
    },
    RemoveIssuer {
        key: PublicKey,
    },
    /// A redemption site, optionally owned by an issuer and placed in a region (geohash).
    RegisterSite {
        key: PublicKey,
        name: String,
        issuer: Option<PublicKey>,
        region: Option<String>,
    },
    RemoveSite {
        key: PublicKey,
    },
    /// Revokes any campaign, e.g. one a compromised issuer key created.
    RevokeCampaign {
        campaign: Hash,
    },
}

/// The id of the `index`-th coupon issued by transaction `tx`.
pub fn coupon_id(tx: &TxId, index: u32) -> Hash {
    hash_parts(tag::COUPON_ID, &[tx.as_bytes(), &index.to_le_bytes()])
}

/// The id of the campaign created by transaction `tx`.
pub fn campaign_id(tx: &TxId) -> Hash {
    hash_parts(tag::CAMPAIGN_ID, &[tx.as_bytes()])
}
