//! Test vectors for client implementations: `docs/test-vectors.json`, whose format and
//! meaning `docs/encoding.md` describes.
//!
//! The generator builds one or more deterministic examples of every transaction body (and
//! every nested enum variant), bearer codes, state tree batches with proofs, and block data,
//! and the committed file must equal its output (`UPDATE_VECTORS=1` rewrites the file).
//! Independently of the generator, every vector in the committed file is then re-checked
//! from its hex fields with nothing but blake3, ed25519 and the layout rules written out here:
//! ids and hashes recomputed, signatures verified, proofs folded up to their roots, and a few
//! layouts compared byte by byte with values written by hand.

// The helpers below are test code too (a failing unwrap is a failing test), but clippy's
// allow-unwrap-in-tests only covers `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use couponchain_chain::block::{tx_root, Header, ValidatorSet, VoteData, VoteKind};
use couponchain_chain::crypto::{BearerCode, Keypair, PublicKey, Signature};
use couponchain_chain::encoding;
use couponchain_chain::hash::Hash;
use couponchain_chain::smt::{self, Chunk, ChunkPos, StateProof};
use couponchain_chain::tx::{
    campaign_id, coupon_id, Benefit, CampaignAction, CampaignSpec, CouponKind, GovAction,
    Recipient, RedeemAuth, Redemption, SitePolicy, Terms, Transaction, TxBody,
};
use couponchain_chain::SignedTransaction;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/test-vectors.json");
const CHAIN_ID: &str = "couponchain-vectors";
/// 2026-01-01T00:00:00Z in ms.
const VALID_UNTIL_MS: u64 = 1_767_225_600_000;
/// Larger than 2^53: a JSON number a JavaScript `JSON.parse` cannot hold exactly.
const BIG_NONCE: u64 = 0x0102_0304_0506_0708;

// ---------------------------------------------------------------------------------------
// The file's shape.

#[derive(Serialize)]
struct Vectors {
    description: &'static str,
    chain_id: &'static str,
    key_seeds: Vec<KeySeed>,
    transactions: Vec<TxVector>,
    bearer_codes: Vec<BearerVector>,
    state_tree: StateVectors,
    block: BlockVectors,
}

#[derive(Serialize)]
struct KeySeed {
    seed: String,
    secret_key_hex: String,
    public_key: PublicKey,
}

#[derive(Serialize)]
struct TxVector {
    name: String,
    secret_key_hex: String,
    public_key: PublicKey,
    tx: Transaction,
    encoded_tx_hex: String,
    signing_bytes_hex: String,
    signature: Signature,
    tx_id: Hash,
    signed_encoded_hex: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    campaign_id: Option<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    coupon_ids: Vec<Hash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redeem_auth: Option<RedeemAuthVector>,
}

#[derive(Serialize)]
struct RedeemAuthVector {
    holder_secret_key_hex: String,
    holder_public_key: PublicKey,
    auth: RedeemAuth,
    encoded_auth_hex: String,
    auth_signing_bytes_hex: String,
    holder_signature: Signature,
}

#[derive(Serialize)]
struct BearerVector {
    code_bytes_hex: String,
    text: String,
    also_parses: Vec<String>,
    secret_key_hex: String,
    public_key: PublicKey,
}

#[derive(Serialize)]
struct StateVectors {
    empty_root: Hash,
    batches: Vec<StateBatch>,
}

#[derive(Serialize)]
struct StateBatch {
    updates: Vec<StateUpdate>,
    root: Hash,
    proofs: Vec<ProofVector>,
}

#[derive(Serialize)]
struct StateUpdate {
    key: Hash,
    /// `None`: delete the key.
    value_hex: Option<String>,
    value_hash: Option<Hash>,
}

#[derive(Serialize)]
struct ProofVector {
    name: &'static str,
    key: Hash,
    /// The value proven present, or `None` for a proof of absence.
    value_hex: Option<String>,
    proof: StateProof,
    encoded_proof_hex: String,
}

#[derive(Serialize)]
struct BlockVectors {
    tx_root: TxRootVector,
    validator_set: ValidatorSetVector,
    header: HeaderVector,
    votes: Vec<VoteVector>,
}

#[derive(Serialize)]
struct TxRootVector {
    tx_ids: Vec<Hash>,
    root: Hash,
}

#[derive(Serialize)]
struct ValidatorSetVector {
    validator_set: ValidatorSet,
    encoded_hex: String,
    hash: Hash,
}

#[derive(Serialize)]
struct HeaderVector {
    header: Header,
    encoded_hex: String,
    hash: Hash,
}

#[derive(Serialize)]
struct VoteVector {
    secret_key_hex: String,
    public_key: PublicKey,
    vote: VoteData,
    encoded_hex: String,
    signing_bytes_hex: String,
    signature: Signature,
}

// ---------------------------------------------------------------------------------------
// The generator.

const SEEDS: &[&str] = &[
    "vectors/admin",
    "vectors/validator-1",
    "vectors/validator-2",
    "vectors/validator-3",
    "vectors/issuer",
    "vectors/site-1",
    "vectors/site-2",
    "vectors/alice",
    "vectors/bob",
];

fn key(name: &str) -> Keypair {
    Keypair::from_seed(&format!("vectors/{name}"))
}

fn pk(name: &str) -> PublicKey {
    key(name).public()
}

const BEARER_CODE_HEX: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn bearer_code() -> BearerCode {
    let mut b = [0u8; 16];
    hex::decode_to_slice(BEARER_CODE_HEX, &mut b).unwrap();
    BearerCode::from_bytes(b)
}

fn build(name: &str, signer: &Keypair, nonce: u64, body: TxBody) -> TxVector {
    let tx = Transaction {
        chain_id: CHAIN_ID.into(),
        signer: signer.public(),
        nonce,
        valid_until_ms: VALID_UNTIL_MS,
        body,
    };
    let signed = tx.clone().sign(signer);
    let id = tx.id();
    let (campaign, coupons) = match &tx.body {
        TxBody::CreateCampaign(_) => (Some(campaign_id(&id)), Vec::new()),
        TxBody::IssueCoupons { recipients, .. } => (
            None,
            (0..recipients.len() as u32)
                .map(|i| coupon_id(&id, i))
                .collect(),
        ),
        _ => (None, Vec::new()),
    };
    TxVector {
        name: name.into(),
        secret_key_hex: hex::encode(signer.secret_bytes()),
        public_key: signer.public(),
        encoded_tx_hex: hex::encode(encoding::encode(&tx)),
        signing_bytes_hex: hex::encode(tx.signing_bytes()),
        signature: signed.signature,
        tx_id: id,
        signed_encoded_hex: hex::encode(signed.encode()),
        campaign_id: campaign,
        coupon_ids: coupons,
        redeem_auth: None,
        tx,
    }
}

fn spec_percent_single_any_site_of_issuer() -> CampaignSpec {
    CampaignSpec {
        name: "Spring sale".into(),
        terms: Terms {
            benefit: Benefit::PercentOff { basis_points: 1500 },
            currency: None,
            metadata: String::new(),
        },
        not_before_ms: 1_764_547_200_000,
        expires_at_ms: 1_775_001_600_000,
        max_supply: 10_000,
        transferable: true,
        kind: CouponKind::SingleUse,
        redeem_at: SitePolicy::AnySiteOfIssuer,
        region_prefix: None,
        per_holder_limit: None,
    }
}

fn spec_amount_multi_sites() -> CampaignSpec {
    CampaignSpec {
        name: "Coffee card".into(),
        terms: Terms {
            benefit: Benefit::AmountOff { amount: 250 },
            currency: Some("EUR".into()),
            metadata: "{\"image\":\"https://example.com/c.png\"}".into(),
        },
        not_before_ms: 0,
        expires_at_ms: u64::MAX,
        max_supply: 500,
        transferable: false,
        kind: CouponKind::MultiUse { uses: 10 },
        redeem_at: SitePolicy::Sites(vec![pk("site-1"), pk("site-2")]),
        region_prefix: Some("u0yj".into()),
        per_holder_limit: Some(2),
    }
}

fn spec_free_item_stored_value_any_site() -> CampaignSpec {
    CampaignSpec {
        name: "Gift card".into(),
        terms: Terms {
            benefit: Benefit::FreeItem {
                sku: "SKU-0042".into(),
            },
            currency: Some("CHF".into()),
            metadata: "Café ☕ – non-ASCII text is UTF-8".into(),
        },
        not_before_ms: 1_764_547_200_000,
        expires_at_ms: 1_796_083_200_000,
        max_supply: 1,
        transferable: true,
        kind: CouponKind::StoredValue { amount: 5_000 },
        redeem_at: SitePolicy::AnySite,
        region_prefix: None,
        per_holder_limit: Some(1),
    }
}

fn spec_other_no_sites() -> CampaignSpec {
    CampaignSpec {
        name: String::new(),
        terms: Terms {
            benefit: Benefit::Other,
            currency: None,
            metadata: "see terms".into(),
        },
        not_before_ms: 1,
        expires_at_ms: 2,
        max_supply: 0,
        transferable: false,
        kind: CouponKind::SingleUse,
        redeem_at: SitePolicy::Sites(Vec::new()),
        region_prefix: Some(String::new()),
        per_holder_limit: None,
    }
}

fn transactions() -> Vec<TxVector> {
    let (admin, v1, v2, issuer) = (
        key("admin"),
        key("validator-1"),
        key("validator-2"),
        key("issuer"),
    );
    let (site1, alice) = (key("site-1"), key("alice"));
    let bearer = bearer_code().keypair();
    let mut out = Vec::new();

    out.push(build(
        "create_campaign/percent_off+single_use+any_site_of_issuer",
        &issuer,
        1,
        TxBody::CreateCampaign(spec_percent_single_any_site_of_issuer()),
    ));
    let campaign = out[0].campaign_id.unwrap();
    out.push(build(
        "create_campaign/amount_off+multi_use+sites",
        &issuer,
        2,
        TxBody::CreateCampaign(spec_amount_multi_sites()),
    ));
    out.push(build(
        "create_campaign/free_item+stored_value+any_site",
        &issuer,
        3,
        TxBody::CreateCampaign(spec_free_item_stored_value_any_site()),
    ));
    out.push(build(
        "create_campaign/other+empty_sites",
        &issuer,
        4,
        TxBody::CreateCampaign(spec_other_no_sites()),
    ));
    out.push(build(
        "issue_coupons",
        &issuer,
        5,
        TxBody::IssueCoupons {
            campaign,
            recipients: vec![
                Recipient {
                    owner: alice.public(),
                    bearer: false,
                },
                Recipient {
                    owner: bearer.public(),
                    bearer: true,
                },
            ],
        },
    ));
    let issued = out[4].coupon_ids.clone();
    out.push(build(
        "transfer",
        &alice,
        BIG_NONCE,
        TxBody::Transfer {
            coupon: issued[0],
            to: pk("bob"),
        },
    ));
    out.push(build(
        "claim",
        &bearer,
        0,
        TxBody::Claim {
            coupon: issued[1],
            to: pk("bob"),
        },
    ));

    // A redemption: the holder authorizes, the site signs the envelope.
    let auth = RedeemAuth {
        chain_id: CHAIN_ID.into(),
        coupon: issued[0],
        site: site1.public(),
        amount: 1,
        seq: 0,
        valid_until_ms: VALID_UNTIL_MS - 60_000,
    };
    let holder_signature = auth.sign(&alice);
    let mut redeem = build(
        "redeem",
        &site1,
        7,
        TxBody::Redeem(Redemption {
            coupon: auth.coupon,
            holder: alice.public(),
            amount: auth.amount,
            seq: auth.seq,
            auth_valid_until_ms: auth.valid_until_ms,
            holder_signature,
        }),
    );
    redeem.redeem_auth = Some(RedeemAuthVector {
        holder_secret_key_hex: hex::encode(alice.secret_bytes()),
        holder_public_key: alice.public(),
        encoded_auth_hex: hex::encode(encoding::encode(&auth)),
        auth_signing_bytes_hex: hex::encode(auth.signing_bytes()),
        holder_signature,
        auth,
    });
    out.push(redeem);

    out.push(build(
        "revoke_coupon",
        &issuer,
        8,
        TxBody::RevokeCoupon { coupon: issued[1] },
    ));
    for (i, (name, action)) in [
        ("pause", CampaignAction::Pause),
        ("resume", CampaignAction::Resume),
        ("revoke", CampaignAction::Revoke),
    ]
    .into_iter()
    .enumerate()
    {
        out.push(build(
            &format!("set_campaign_status/{name}"),
            &issuer,
            9 + i as u64,
            TxBody::SetCampaignStatus { campaign, action },
        ));
    }

    let gov = [
        (
            "add_validator",
            &v1,
            GovAction::AddValidator {
                key: pk("validator-3"),
            },
        ),
        (
            "remove_validator",
            &v1,
            GovAction::RemoveValidator {
                key: pk("validator-3"),
            },
        ),
        ("add_admin", &admin, GovAction::AddAdmin { key: pk("bob") }),
        (
            "remove_admin",
            &admin,
            GovAction::RemoveAdmin { key: pk("bob") },
        ),
        (
            "register_issuer",
            &admin,
            GovAction::RegisterIssuer {
                key: issuer.public(),
                name: "Example Retail AG".into(),
            },
        ),
        (
            "remove_issuer",
            &admin,
            GovAction::RemoveIssuer {
                key: issuer.public(),
            },
        ),
        (
            "register_site/with_issuer_and_region",
            &admin,
            GovAction::RegisterSite {
                key: site1.public(),
                name: "Store 1".into(),
                issuer: Some(issuer.public()),
                region: Some("u0yjjd".into()),
            },
        ),
        (
            "register_site/independent",
            &admin,
            GovAction::RegisterSite {
                key: pk("site-2"),
                name: "Kiosk".into(),
                issuer: None,
                region: None,
            },
        ),
        (
            "remove_site",
            &admin,
            GovAction::RemoveSite { key: pk("site-2") },
        ),
        (
            "revoke_campaign",
            &admin,
            GovAction::RevokeCampaign { campaign },
        ),
    ];
    for (i, (name, signer, action)) in gov.into_iter().enumerate() {
        out.push(build(
            &format!("propose/{name}"),
            signer,
            100 + i as u64,
            TxBody::Propose { action },
        ));
    }
    let proposal = out
        .iter()
        .find(|b| b.name == "propose/add_validator")
        .unwrap()
        .tx_id;
    out.push(build("approve", &v2, 200, TxBody::Approve { proposal }));
    out
}

fn bearer_vectors() -> Vec<BearerVector> {
    let mut first = [0u8; 16];
    hex::decode_to_slice(BEARER_CODE_HEX, &mut first).unwrap();
    [first, [0u8; 16], [0xff; 16]]
        .into_iter()
        .map(|bytes| {
            let code = BearerCode::from_bytes(bytes);
            let text = code.to_text();
            let compact: String = text.chars().filter(|c| *c != '-').collect();
            let kp = code.keypair();
            BearerVector {
                code_bytes_hex: hex::encode(bytes),
                also_parses: vec![
                    compact.to_lowercase(),
                    format!(
                        "  {}  ",
                        text.replace('-', " ").replace('0', "O").replace('1', "l")
                    ),
                ],
                text,
                secret_key_hex: hex::encode(kp.secret_bytes()),
                public_key: kp.public(),
            }
        })
        .collect()
}

type Store = BTreeMap<ChunkPos, Chunk>;

fn state_key(byte: u8) -> Hash {
    Hash([byte; 32])
}

fn apply(store: &mut Store, ups: &[(Hash, Option<&[u8]>)]) -> (Hash, Vec<StateUpdate>) {
    let tree_ups: Vec<(Hash, Option<Hash>)> = ups
        .iter()
        .map(|(k, v)| (*k, v.map(smt::value_hash)))
        .collect();
    let upd = smt::apply_updates(store, &tree_ups).unwrap();
    for (pos, chunk) in upd.writes {
        match chunk {
            Some(c) => store.insert(pos, *c),
            None => store.remove(&pos),
        };
    }
    let listed = ups
        .iter()
        .map(|(k, v)| StateUpdate {
            key: *k,
            value_hex: v.map(hex::encode),
            value_hash: v.map(smt::value_hash),
        })
        .collect();
    (upd.root, listed)
}

fn proof(store: &Store, name: &'static str, key: Hash, value: Option<&[u8]>) -> ProofVector {
    let proof = smt::prove(store, &key).unwrap();
    ProofVector {
        name,
        key,
        value_hex: value.map(hex::encode),
        encoded_proof_hex: hex::encode(encoding::encode(&proof)),
        proof,
    }
}

fn state_vectors() -> StateVectors {
    let mut store = Store::new();
    let empty_root = smt::apply_updates(&store, &[]).unwrap().root;
    // 0x12.. and 0x13.. share their first nibble and so sit one chunk down; 0xab.. and
    // 0xf0.. are alone in their root slots.
    let (k12, k13, kab, kf0) = (
        state_key(0x12),
        state_key(0x13),
        state_key(0xab),
        state_key(0xf0),
    );
    let (root1, updates1) = apply(
        &mut store,
        &[
            (k12, Some(b"one".as_slice())),
            (k13, Some(b"two".as_slice())),
            (kab, Some(b"three".as_slice())),
            (kf0, Some(b"".as_slice())),
        ],
    );
    let proofs1 = vec![
        proof(&store, "present_in_child_chunk", k13, Some(b"two")),
        proof(&store, "present_in_root_chunk", kab, Some(b"three")),
        proof(&store, "absent_empty_slot", state_key(0x50), None),
        proof(&store, "absent_other_leaf_on_path", state_key(0xa0), None),
    ];
    let (root2, updates2) = apply(
        &mut store,
        &[(k12, Some(b"one, updated".as_slice())), (k13, None)],
    );
    let proofs2 = vec![
        proof(
            &store,
            "present_moved_up_to_root_chunk",
            k12,
            Some(b"one, updated"),
        ),
        proof(&store, "absent_after_delete", k13, None),
    ];
    StateVectors {
        empty_root,
        batches: vec![
            StateBatch {
                updates: updates1,
                root: root1,
                proofs: proofs1,
            },
            StateBatch {
                updates: updates2,
                root: root2,
                proofs: proofs2,
            },
        ],
    }
}

fn block_vectors(txs: &[TxVector], state_root: Hash) -> BlockVectors {
    let tx_ids: Vec<Hash> = txs.iter().take(3).map(|b| b.tx_id).collect();
    let root = tx_root(&tx_ids);
    let set = ValidatorSet::new([pk("validator-1"), pk("validator-2"), pk("validator-3")]);
    let header = Header {
        chain_id: CHAIN_ID.into(),
        height: 7,
        parent: Hash([0xee; 32]),
        time_ms: VALID_UNTIL_MS - 3_600_000,
        proposer: pk("validator-1"),
        tx_root: root,
        tx_count: tx_ids.len() as u32,
        state_root,
        validators_hash: set.hash(),
        next_validators_hash: set.hash(),
    };
    let v1 = key("validator-1");
    let votes = [
        VoteData {
            chain_id: CHAIN_ID.into(),
            height: 7,
            round: 1,
            kind: VoteKind::Precommit,
            block: Some(header.hash()),
        },
        VoteData {
            chain_id: CHAIN_ID.into(),
            height: 7,
            round: 0,
            kind: VoteKind::Prevote,
            block: None,
        },
    ]
    .into_iter()
    .map(|vote| VoteVector {
        secret_key_hex: hex::encode(v1.secret_bytes()),
        public_key: v1.public(),
        encoded_hex: hex::encode(encoding::encode(&vote)),
        signing_bytes_hex: hex::encode(vote.signing_bytes()),
        signature: v1.sign(&vote.signing_bytes()),
        vote,
    })
    .collect();
    BlockVectors {
        tx_root: TxRootVector { tx_ids, root },
        validator_set: ValidatorSetVector {
            encoded_hex: hex::encode(encoding::encode(&set)),
            hash: set.hash(),
            validator_set: set,
        },
        header: HeaderVector {
            encoded_hex: hex::encode(encoding::encode(&header)),
            hash: header.hash(),
            header,
        },
        votes,
    }
}

fn generate() -> String {
    let txs = transactions();
    let state_tree = state_vectors();
    let block = block_vectors(&txs, state_tree.batches[0].root);
    let vectors = Vectors {
        description: "couponchain canonical encoding test vectors; see docs/encoding.md. \
            Generated by crates/chain/tests/it/vectors.rs (UPDATE_VECTORS=1 rewrites this file).",
        chain_id: CHAIN_ID,
        key_seeds: SEEDS
            .iter()
            .map(|s| {
                let k = Keypair::from_seed(s);
                KeySeed {
                    seed: s.to_string(),
                    secret_key_hex: hex::encode(k.secret_bytes()),
                    public_key: k.public(),
                }
            })
            .collect(),
        transactions: txs,
        bearer_codes: bearer_vectors(),
        state_tree,
        block,
    };
    let mut s = serde_json::to_string_pretty(&vectors).unwrap();
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------------------
// Independent checks of the committed file: blake3, ed25519 and the rules written out here.

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(
        v.as_str()
            .unwrap_or_else(|| panic!("not a hex string: {v}")),
    )
    .unwrap()
}

fn unhex32(v: &Value) -> [u8; 32] {
    unhex(v).try_into().unwrap()
}

fn blake3_cat(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    *h.finalize().as_bytes()
}

/// Verifies an ed25519 signature with ed25519-dalek directly (strict rule).
fn verify_ed25519(public: &[u8; 32], msg: &[u8], sig: &[u8]) {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(public).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(sig).unwrap();
    vk.verify_strict(msg, &sig).unwrap();
}

fn public_of(secret: &[u8]) -> [u8; 32] {
    let secret: [u8; 32] = secret.try_into().unwrap();
    ed25519_dalek::SigningKey::from_bytes(&secret)
        .verifying_key()
        .to_bytes()
}

fn updating() -> bool {
    std::env::var("UPDATE_VECTORS").as_deref() == Ok("1")
}

/// The committed vectors; while they are being rewritten, the generator's output (the
/// tests run in parallel with the one that writes the file).
fn load() -> Value {
    let text = if updating() {
        generate()
    } else {
        std::fs::read_to_string(FILE)
            .unwrap_or_else(|e| panic!("{FILE}: {e}; generate it with UPDATE_VECTORS=1"))
    };
    serde_json::from_str(&text).unwrap()
}

fn check_transaction(v: &Value) {
    let name = v["name"].as_str().unwrap();
    let secret = unhex(&v["secret_key_hex"]);
    let public = unhex32(&v["public_key"]);
    assert_eq!(public_of(&secret), public, "{name}: public key");
    assert_eq!(v["tx"]["signer"], v["public_key"], "{name}: signer");

    let encoded = unhex(&v["encoded_tx_hex"]);
    let signing = unhex(&v["signing_bytes_hex"]);
    assert_eq!(
        signing,
        [b"couponchain/tx/v1".as_slice(), &encoded].concat(),
        "{name}: signing bytes"
    );
    assert_eq!(
        unhex32(&v["tx_id"]),
        blake3_cat(&[&signing]),
        "{name}: tx id"
    );
    let sig = unhex(&v["signature"]);
    verify_ed25519(&public, &signing, &sig);
    let signed = unhex(&v["signed_encoded_hex"]);
    assert_eq!(
        signed,
        [encoded.as_slice(), &sig].concat(),
        "{name}: a signed transaction is the envelope then the 64 signature bytes"
    );

    // The JSON form, the binary form and the library agree.
    let tx: Transaction = serde_json::from_value(v["tx"].clone()).unwrap();
    assert_eq!(encoding::encode(&tx), encoded, "{name}: JSON vs binary");
    let decoded = SignedTransaction::decode(&signed).unwrap();
    assert_eq!(decoded.tx, tx, "{name}: decoded envelope");
    assert_eq!(decoded.signature.0.as_slice(), sig.as_slice());
    decoded.verify_signature().unwrap();
    assert_eq!(decoded.id().0, unhex32(&v["tx_id"]));
    assert_eq!(serde_json::to_value(&tx).unwrap(), v["tx"], "{name}: JSON");

    let id = unhex32(&v["tx_id"]);
    if let Some(c) = v.get("campaign_id") {
        assert_eq!(
            unhex32(c),
            blake3_cat(&[b"couponchain/campaign-id/v1", &id]),
            "{name}: campaign id"
        );
    }
    if let Some(ids) = v.get("coupon_ids") {
        let ids = ids.as_array().unwrap();
        assert_eq!(
            ids.len(),
            v["tx"]["body"]["issue_coupons"]["recipients"]
                .as_array()
                .unwrap()
                .len()
        );
        for (i, c) in ids.iter().enumerate() {
            let index = (i as u32).to_le_bytes();
            assert_eq!(
                unhex32(c),
                blake3_cat(&[b"couponchain/coupon-id/v1", &id, &index]),
                "{name}: coupon id {i}"
            );
        }
    }
    if let Some(a) = v.get("redeem_auth") {
        let r = &v["tx"]["body"]["redeem"];
        let auth = &a["auth"];
        assert_eq!(auth["chain_id"], v["tx"]["chain_id"]);
        assert_eq!(auth["site"], v["tx"]["signer"]);
        assert_eq!(auth["coupon"], r["coupon"]);
        assert_eq!(auth["amount"], r["amount"]);
        assert_eq!(auth["seq"], r["seq"]);
        assert_eq!(auth["valid_until_ms"], r["auth_valid_until_ms"]);
        assert_eq!(a["holder_public_key"], r["holder"]);
        assert_eq!(a["holder_signature"], r["holder_signature"]);
        let holder = unhex32(&a["holder_public_key"]);
        assert_eq!(public_of(&unhex(&a["holder_secret_key_hex"])), holder);
        let parsed: RedeemAuth = serde_json::from_value(auth.clone()).unwrap();
        let enc = unhex(&a["encoded_auth_hex"]);
        assert_eq!(encoding::encode(&parsed), enc);
        let msg = unhex(&a["auth_signing_bytes_hex"]);
        assert_eq!(
            msg,
            [b"couponchain/redeem-auth/v1".as_slice(), &enc].concat()
        );
        verify_ed25519(&holder, &msg, &unhex(&a["holder_signature"]));
        // What the node checks.
        assert_eq!(decoded.signature_items().len(), 2);
        for (k, m, s) in decoded.signature_items() {
            k.verify(&m, &s).unwrap();
        }
    }
}

fn check_bearer(v: &Value) {
    let bytes = unhex(&v["code_bytes_hex"]);
    let text = v["text"].as_str().unwrap();
    // CPN then six dash-led groups of 5, 5, 5, 5, 5 and 1 Crockford digits.
    let groups: Vec<&str> = text.split('-').collect();
    assert_eq!(groups[0], "CPN");
    assert_eq!(
        groups[1..].iter().map(|g| g.len()).collect::<Vec<_>>(),
        [5, 5, 5, 5, 5, 1]
    );
    let mut acc = 0u128;
    for c in groups[1..].concat().chars() {
        let d = "0123456789ABCDEFGHJKMNPQRSTVWXYZ".find(c).unwrap();
        acc = (acc << 5) | d as u128;
    }
    assert_eq!(acc.to_be_bytes().as_slice(), bytes.as_slice(), "{text}");
    let secret = blake3::derive_key("couponchain 2026 bearer code signing key v1", &bytes);
    assert_eq!(secret.as_slice(), unhex(&v["secret_key_hex"]).as_slice());
    assert_eq!(public_of(&secret), unhex32(&v["public_key"]));
    let code = BearerCode::parse(text).unwrap();
    assert_eq!(code.keypair().public().0, unhex32(&v["public_key"]));
    for alt in v["also_parses"].as_array().unwrap() {
        assert_eq!(
            BearerCode::parse(alt.as_str().unwrap()).unwrap(),
            code,
            "{alt}"
        );
    }
}

fn bit(key: &[u8; 32], i: usize) -> bool {
    key[i / 8] & (0x80 >> (i % 8)) != 0
}

fn keyed(text: &[u8], a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..text.len()].copy_from_slice(text);
    let mut h = blake3::Hasher::new_keyed(&k);
    h.update(a);
    h.update(b);
    *h.finalize().as_bytes()
}

fn leaf(key: &[u8; 32], value_hash: &[u8; 32]) -> [u8; 32] {
    keyed(b"couponchain/smt/leaf/v1", key, value_hash)
}

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    if *l == [0; 32] && *r == [0; 32] {
        [0; 32]
    } else {
        keyed(b"couponchain/smt/node/v1", l, r)
    }
}

/// The state root by the definition: a chunk per nibble level, a slot holding no key is
/// zero, one key is its leaf, more keys a chunk one nibble deeper; the root is a chunk.
fn reference_root(entries: &[([u8; 32], [u8; 32])], depth: usize) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = (0..16u8)
        .map(|n| {
            let sub: Vec<_> = entries
                .iter()
                .filter(|(k, _)| {
                    let b = k[depth / 2];
                    (if depth.is_multiple_of(2) {
                        b >> 4
                    } else {
                        b & 15
                    }) == n
                })
                .copied()
                .collect();
            match sub.as_slice() {
                [] => [0; 32],
                [(k, vh)] => leaf(k, vh),
                _ => reference_root(&sub, depth + 1),
            }
        })
        .collect();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| node(&p[0], &p[1])).collect();
    }
    level[0]
}

/// Folds a proof (in its JSON form) up to a root, following docs/encoding.md.
fn fold_proof(p: &Value, key: &[u8; 32], value: Option<&[u8]>) -> [u8; 32] {
    let depth = p["depth_bits"].as_u64().unwrap() as usize;
    let mask = unhex(&p["zero_mask"]);
    assert!(depth.is_multiple_of(4) && depth <= 256 && mask.len() == depth.div_ceil(8));
    let siblings: Vec<[u8; 32]> = p["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .map(unhex32)
        .collect();
    let mut h = match (&p["terminal"], value) {
        (Value::String(s), None) if s == "empty" => [0; 32],
        (t, value) => {
            let k = unhex32(&t["leaf"]["key"]);
            let vh = unhex32(&t["leaf"]["value_hash"]);
            match value {
                Some(v) => {
                    assert_eq!(k, *key);
                    assert_eq!(vh, blake3_cat(&[b"couponchain/state-value/v1", v]));
                }
                None => {
                    assert_ne!(k, *key);
                    assert!((0..depth).all(|i| bit(&k, i) == bit(key, i)));
                }
            }
            leaf(&k, &vh)
        }
    };
    let mut next = siblings.iter().rev();
    for level in (0..depth).rev() {
        let s = if mask[level / 8] & (1 << (level % 8)) != 0 {
            [0; 32]
        } else {
            *next.next().unwrap()
        };
        h = if bit(key, level) {
            node(&s, &h)
        } else {
            node(&h, &s)
        };
    }
    assert!(next.next().is_none(), "unused siblings");
    h
}

fn check_state(v: &Value) {
    assert_eq!(unhex32(&v["empty_root"]), [0; 32]);
    let mut model: BTreeMap<[u8; 32], [u8; 32]> = BTreeMap::new();
    for batch in v["batches"].as_array().unwrap() {
        for u in batch["updates"].as_array().unwrap() {
            let k = unhex32(&u["key"]);
            if u["value_hex"].is_null() {
                assert!(u["value_hash"].is_null());
                model.remove(&k);
            } else {
                let vh = blake3_cat(&[b"couponchain/state-value/v1", &unhex(&u["value_hex"])]);
                assert_eq!(vh, unhex32(&u["value_hash"]));
                model.insert(k, vh);
            }
        }
        let root = unhex32(&batch["root"]);
        let entries: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(reference_root(&entries, 0), root, "state root");
        for p in batch["proofs"].as_array().unwrap() {
            let key = unhex32(&p["key"]);
            let value = (!p["value_hex"].is_null()).then(|| unhex(&p["value_hex"]));
            assert_eq!(value.is_some(), model.contains_key(&key), "{}", p["name"]);
            assert_eq!(
                fold_proof(&p["proof"], &key, value.as_deref()),
                root,
                "{}",
                p["name"]
            );
            let proof: StateProof = serde_json::from_value(p["proof"].clone()).unwrap();
            proof
                .verify(&Hash(root), &Hash(key), value.as_deref())
                .unwrap();
            let decoded: StateProof = encoding::decode(&unhex(&p["encoded_proof_hex"])).unwrap();
            assert_eq!(decoded, proof);
            // The proof must not also prove the opposite.
            let wrong: Option<&[u8]> = if value.is_some() { None } else { Some(b"x") };
            assert!(proof.verify(&Hash(root), &Hash(key), wrong).is_err());
        }
    }
}

fn check_block(v: &Value) {
    let ids: Vec<[u8; 32]> = v["tx_root"]["tx_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(unhex32)
        .collect();
    let mut level: Vec<[u8; 32]> = ids
        .iter()
        .map(|id| blake3_cat(&[b"couponchain/txroot-leaf/v1", id]))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => blake3_cat(&[b"couponchain/txroot-node/v1", l, r]),
                [one] => *one,
                _ => unreachable!(),
            })
            .collect();
    }
    assert_eq!(unhex32(&v["tx_root"]["root"]), level[0]);

    let vs = &v["validator_set"];
    let set: ValidatorSet = serde_json::from_value(vs["validator_set"].clone()).unwrap();
    let enc = unhex(&vs["encoded_hex"]);
    assert_eq!(encoding::encode(&set), enc);
    assert_eq!(
        unhex32(&vs["hash"]),
        blake3_cat(&[b"couponchain/validator-set/v1", &enc])
    );

    let h = &v["header"];
    let header: Header = serde_json::from_value(h["header"].clone()).unwrap();
    let enc = unhex(&h["encoded_hex"]);
    assert_eq!(encoding::encode(&header), enc);
    assert_eq!(encoding::decode::<Header>(&enc).unwrap(), header);
    assert_eq!(
        unhex32(&h["hash"]),
        blake3_cat(&[b"couponchain/header/v1", &enc])
    );
    assert_eq!(h["header"]["tx_root"], v["tx_root"]["root"]);
    assert_eq!(h["header"]["validators_hash"], vs["hash"]);

    for vote in v["votes"].as_array().unwrap() {
        let data: VoteData = serde_json::from_value(vote["vote"].clone()).unwrap();
        let enc = unhex(&vote["encoded_hex"]);
        assert_eq!(encoding::encode(&data), enc);
        let msg = unhex(&vote["signing_bytes_hex"]);
        assert_eq!(msg, [b"couponchain/vote/v1".as_slice(), &enc].concat());
        let public = unhex32(&vote["public_key"]);
        assert_eq!(public_of(&unhex(&vote["secret_key_hex"])), public);
        verify_ed25519(&public, &msg, &unhex(&vote["signature"]));
    }
}

#[test]
fn committed_vectors_match_the_generator_and_check_out() {
    let generated = generate();
    if updating() {
        std::fs::write(FILE, &generated).unwrap();
    } else {
        let committed = std::fs::read_to_string(FILE)
            .unwrap_or_else(|e| panic!("{FILE}: {e}; generate it with UPDATE_VECTORS=1"));
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(committed.lines().count().min(generated.lines().count()));
            panic!(
                "docs/test-vectors.json differs from the generator from line {} on \
                 (committed: {:?}, generated: {:?}). If the encoding changed on purpose, \
                 rerun with UPDATE_VECTORS=1 and review the diff.",
                line + 1,
                committed.lines().nth(line),
                generated.lines().nth(line)
            );
        }
    }

    let v = load();
    assert_eq!(v["chain_id"], CHAIN_ID);
    for s in v["key_seeds"].as_array().unwrap() {
        let secret = blake3::derive_key(
            "couponchain 2026 deterministic test key v1",
            s["seed"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(secret.as_slice(), unhex(&s["secret_key_hex"]).as_slice());
        assert_eq!(public_of(&secret), unhex32(&s["public_key"]));
    }
    let txs = v["transactions"].as_array().unwrap();
    let names: BTreeSet<&str> = txs.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), txs.len(), "vector names are unique");
    for t in txs {
        check_transaction(t);
    }
    for b in v["bearer_codes"].as_array().unwrap() {
        check_bearer(b);
    }
    check_state(&v["state_tree"]);
    check_block(&v["block"]);
}

// ---------------------------------------------------------------------------------------
// Coverage and layouts written out by hand.

/// The variant index of every body. Exhaustive, so a new variant fails to compile here
/// until it has an index in docs/encoding.md and a vector.
fn body_index(b: &TxBody) -> (u32, &'static str) {
    match b {
        TxBody::CreateCampaign(_) => (0, "create_campaign"),
        TxBody::IssueCoupons { .. } => (1, "issue_coupons"),
        TxBody::Transfer { .. } => (2, "transfer"),
        TxBody::Claim { .. } => (3, "claim"),
        TxBody::Redeem(_) => (4, "redeem"),
        TxBody::RevokeCoupon { .. } => (5, "revoke_coupon"),
        TxBody::SetCampaignStatus { .. } => (6, "set_campaign_status"),
        TxBody::Propose { .. } => (7, "propose"),
        TxBody::Approve { .. } => (8, "approve"),
    }
}

fn gov_index(a: &GovAction) -> (u32, &'static str) {
    match a {
        GovAction::AddValidator { .. } => (0, "add_validator"),
        GovAction::RemoveValidator { .. } => (1, "remove_validator"),
        GovAction::AddAdmin { .. } => (2, "add_admin"),
        GovAction::RemoveAdmin { .. } => (3, "remove_admin"),
        GovAction::RegisterIssuer { .. } => (4, "register_issuer"),
        GovAction::RemoveIssuer { .. } => (5, "remove_issuer"),
        GovAction::RegisterSite { .. } => (6, "register_site"),
        GovAction::RemoveSite { .. } => (7, "remove_site"),
        GovAction::RevokeCampaign { .. } => (8, "revoke_campaign"),
    }
}

fn spec_indexes(s: &CampaignSpec) -> [(u32, &'static str); 3] {
    let benefit = match s.terms.benefit {
        Benefit::PercentOff { .. } => (0, "percent_off"),
        Benefit::AmountOff { .. } => (1, "amount_off"),
        Benefit::FreeItem { .. } => (2, "free_item"),
        Benefit::Other => (3, "other"),
    };
    let kind = match s.kind {
        CouponKind::SingleUse => (0, "single_use"),
        CouponKind::MultiUse { .. } => (1, "multi_use"),
        CouponKind::StoredValue { .. } => (2, "stored_value"),
    };
    let site = match s.redeem_at {
        SitePolicy::AnySiteOfIssuer => (0, "any_site_of_issuer"),
        SitePolicy::Sites(_) => (1, "sites"),
        SitePolicy::AnySite => (2, "any_site"),
    };
    [benefit, kind, site]
}

fn vector<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// The JSON name of an externally tagged enum value: the string, or the object's one key.
fn json_variant(v: &Value) -> &str {
    match v {
        Value::String(s) => s,
        Value::Object(m) if m.len() == 1 => m.keys().next().unwrap(),
        _ => panic!("not an externally tagged enum: {v}"),
    }
}

#[test]
fn every_variant_has_a_vector_with_the_documented_index() {
    let v = load();
    let mut bodies = BTreeSet::new();
    let mut gov = BTreeSet::new();
    let mut spec_parts = BTreeSet::new();
    let mut actions = BTreeSet::new();
    // chain_id is "couponchain-vectors" (19 bytes) in every vector, so the body starts at
    // 8 + 19 + 32 (signer) + 8 (nonce) + 8 (valid_until_ms) = 75.
    const BODY: usize = 75;
    for t in v["transactions"].as_array().unwrap() {
        let tx: Transaction = serde_json::from_value(t["tx"].clone()).unwrap();
        let enc = unhex(&t["encoded_tx_hex"]);
        let at = |i: usize| u32::from_le_bytes(enc[i..i + 4].try_into().unwrap());
        let (index, name) = body_index(&tx.body);
        assert_eq!(at(BODY), index, "{}", t["name"]);
        assert_eq!(json_variant(&t["tx"]["body"]), name);
        bodies.insert(index);
        match &tx.body {
            TxBody::Propose { action } => {
                let (index, name) = gov_index(action);
                assert_eq!(at(BODY + 4), index, "{}", t["name"]);
                assert_eq!(json_variant(&t["tx"]["body"]["propose"]["action"]), name);
                gov.insert(index);
            }
            TxBody::CreateCampaign(spec) => {
                for (i, (index, name)) in spec_indexes(spec).into_iter().enumerate() {
                    spec_parts.insert((i, index));
                    let json = &t["tx"]["body"]["create_campaign"];
                    let json = [&json["terms"]["benefit"], &json["kind"], &json["redeem_at"]][i];
                    assert_eq!(json_variant(json), name);
                }
            }
            TxBody::SetCampaignStatus { action, .. } => {
                // The action follows the 32-byte campaign id; JSON: a plain string.
                assert_eq!(at(BODY + 4 + 32), *action as u32);
                assert_eq!(enc.len(), BODY + 4 + 32 + 4);
                actions.insert(*action as u32);
                let names = ["pause", "resume", "revoke"];
                assert_eq!(
                    t["tx"]["body"]["set_campaign_status"]["action"],
                    names[*action as usize]
                );
            }
            _ => {}
        }
    }
    assert_eq!(bodies, (0..9).collect());
    assert_eq!(gov, (0..9).collect());
    assert_eq!(actions, (0..3).collect());
    let want: BTreeSet<(usize, u32)> = (0..4)
        .map(|i| (0, i))
        .chain((0..3).map(|i| (1, i)))
        .chain((0..3).map(|i| (2, i)))
        .collect();
    assert_eq!(
        spec_parts, want,
        "benefit, coupon kind and site policy variants"
    );
}

#[test]
fn layouts_written_out_by_hand() {
    let v = load();

    // Transfer: the whole envelope, field by field.
    let t = vector(&v, "transfer");
    let enc = unhex(&t["encoded_tx_hex"]);
    let signer = unhex(&t["public_key"]);
    let coupon = unhex(&t["tx"]["body"]["transfer"]["coupon"]);
    let to = unhex(&t["tx"]["body"]["transfer"]["to"]);
    let mut want: Vec<u8> = vec![19, 0, 0, 0, 0, 0, 0, 0]; // chain_id length, u64 LE
    want.extend_from_slice(b"couponchain-vectors");
    want.extend_from_slice(&signer); // 32 raw bytes, no length
    want.extend_from_slice(&[0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]); // nonce
    want.extend_from_slice(&[0x00, 0xa8, 0xda, 0x76, 0x9b, 0x01, 0x00, 0x00]); // valid_until_ms
    want.extend_from_slice(&[2, 0, 0, 0]); // TxBody::Transfer
    want.extend_from_slice(&coupon);
    want.extend_from_slice(&to);
    assert_eq!(enc, want);
    assert_eq!(enc.len(), 8 + 19 + 32 + 8 + 8 + 4 + 32 + 32);
    assert_eq!(t["tx"]["nonce"].as_u64(), Some(72_623_859_790_382_856));
    assert_eq!(t["tx"]["valid_until_ms"].as_u64(), Some(1_767_225_600_000));
    let signing = unhex(&t["signing_bytes_hex"]);
    assert_eq!(&signing[..17], b"couponchain/tx/v1");
    assert_eq!(
        hex::encode(&signing[..17]),
        "636f75706f6e636861696e2f74782f7631"
    );

    // Redeem: the body after the variant index.
    let t = vector(&v, "redeem");
    let enc = unhex(&t["encoded_tx_hex"]);
    let r = &t["tx"]["body"]["redeem"];
    let body = &enc[75..];
    assert_eq!(&body[..4], &[4, 0, 0, 0]);
    assert_eq!(&body[4..36], unhex(&r["coupon"]).as_slice());
    assert_eq!(&body[36..68], unhex(&r["holder"]).as_slice());
    assert_eq!(&body[68..76], &[1, 0, 0, 0, 0, 0, 0, 0]); // amount 1
    assert_eq!(&body[76..80], &[0, 0, 0, 0]); // seq 0, u32
                                              // auth_valid_until_ms = 1_767_225_540_000 = 0x19b_76d9_bda0
    assert_eq!(&body[80..88], &[0xa0, 0xbd, 0xd9, 0x76, 0x9b, 0x01, 0, 0]);
    assert_eq!(&body[88..152], unhex(&r["holder_signature"]).as_slice());
    assert_eq!(body.len(), 152);
    let auth = unhex(&t["redeem_auth"]["encoded_auth_hex"]);
    assert_eq!(&auth[..27], b"\x13\0\0\0\0\0\0\0couponchain-vectors");
    assert_eq!(auth.len(), 27 + 32 + 32 + 8 + 4 + 8);

    // RegisterSite: Option tags (1 then the value; 0 alone), strings with u64 lengths.
    let t = vector(&v, "propose/register_site/with_issuer_and_region");
    let enc = unhex(&t["encoded_tx_hex"]);
    let a = &t["tx"]["body"]["propose"]["action"]["register_site"];
    let body = &enc[75..];
    assert_eq!(&body[..8], &[7, 0, 0, 0, 6, 0, 0, 0]); // Propose, RegisterSite
    assert_eq!(&body[8..40], unhex(&a["key"]).as_slice());
    assert_eq!(&body[40..55], b"\x07\0\0\0\0\0\0\0Store 1");
    assert_eq!(body[55], 1);
    assert_eq!(&body[56..88], unhex(&a["issuer"]).as_slice());
    assert_eq!(&body[88..], b"\x01\x06\0\0\0\0\0\0\0u0yjjd");
    let t = vector(&v, "propose/register_site/independent");
    let enc = unhex(&t["encoded_tx_hex"]);
    assert_eq!(&enc[75 + 40..], b"\x05\0\0\0\0\0\0\0Kiosk\0\0");

    // A campaign spec with every Option empty, an empty name and an empty list.
    let t = vector(&v, "create_campaign/other+empty_sites");
    let enc = unhex(&t["encoded_tx_hex"]);
    let want: Vec<u8> = [
        &[0u8, 0, 0, 0][..],       // CreateCampaign
        &[0, 0, 0, 0, 0, 0, 0, 0], // name: ""
        &[3, 0, 0, 0],             // Benefit::Other
        &[0],                      // currency: None
        &[9, 0, 0, 0, 0, 0, 0, 0], // metadata length
        b"see terms",
        &[1, 0, 0, 0, 0, 0, 0, 0],    // not_before_ms
        &[2, 0, 0, 0, 0, 0, 0, 0],    // expires_at_ms
        &[0, 0, 0, 0, 0, 0, 0, 0],    // max_supply
        &[0],                         // transferable: false
        &[0, 0, 0, 0],                // CouponKind::SingleUse
        &[1, 0, 0, 0],                // SitePolicy::Sites
        &[0, 0, 0, 0, 0, 0, 0, 0],    // ... with no keys
        &[1, 0, 0, 0, 0, 0, 0, 0, 0], // region_prefix: Some("")
        &[0],                         // per_holder_limit: None
    ]
    .concat();
    assert_eq!(&enc[75..], want.as_slice());

    // UTF-8 strings are length-prefixed by their byte count, not their character count.
    let t = vector(&v, "create_campaign/free_item+stored_value+any_site");
    let meta = "Café ☕ – non-ASCII text is UTF-8";
    assert_eq!(meta.len(), 37);
    let enc = unhex(&t["encoded_tx_hex"]);
    let mut needle = 37u64.to_le_bytes().to_vec();
    needle.extend_from_slice(meta.as_bytes());
    assert!(enc.windows(needle.len()).any(|w| w == needle.as_slice()));

    // A state proof's encoding: depth_bits u16, zero_mask as a u64-length byte string, the
    // siblings as a u64-length list of 32-byte hashes, then the terminal.
    let p = &v["state_tree"]["batches"][0]["proofs"][2];
    assert_eq!(p["name"], "absent_empty_slot");
    let enc = unhex(&p["encoded_proof_hex"]);
    let n = p["proof"]["siblings"].as_array().unwrap().len();
    assert_eq!(&enc[..2], &[4, 0]);
    assert_eq!(&enc[2..10], &[1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&enc[11..19], &(n as u64).to_le_bytes());
    assert_eq!(&enc[19 + 32 * n..], &[0, 0, 0, 0]); // Terminal::Empty
    assert_eq!(p["proof"]["terminal"], "empty");

    // Votes: VoteKind and the Option tag of the block.
    let vote = unhex(&v["block"]["votes"][1]["encoded_hex"]);
    assert_eq!(
        &vote[27..],
        &[7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    ); // height 7, round 0, Prevote, None

    // The bearer code of the all-zero and all-ones byte strings.
    assert_eq!(
        v["bearer_codes"][1]["text"],
        "CPN-00000-00000-00000-00000-00000-0"
    );
    assert_eq!(
        v["bearer_codes"][2]["text"],
        "CPN-7ZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-Z"
    );
}

#[test]
fn decoders_refuse_trailing_bytes_in_every_vector() {
    let v = load();
    for t in v["transactions"].as_array().unwrap() {
        let mut b = unhex(&t["signed_encoded_hex"]);
        b.push(0);
        assert!(SignedTransaction::decode(&b).is_err(), "{}", t["name"]);
        let mut b = unhex(&t["encoded_tx_hex"]);
        b.push(0);
        assert!(
            encoding::decode::<Transaction>(&b).is_err(),
            "{}",
            t["name"]
        );
    }
}
