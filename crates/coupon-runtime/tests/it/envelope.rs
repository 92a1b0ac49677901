//! Envelope errors: transactions that can never be included here and now make the whole
//! block invalid (`RuntimeError::InvalidBlockTx` naming the culprit), and such a block
//! changes nothing, not even through its valid transactions.

use crate::harness::{to, Chain};
use couponchain_chain::tx::{Benefit, CampaignSpec, Recipient, SitePolicy, TxBody};
use couponchain_chain::{Hash, Keypair, SignedTransaction, Transaction};
use couponchain_runtime::testkit::{sign_at, spec, Actors, CHAIN_ID};
use couponchain_runtime::{execute_block, limits, Genesis, RuntimeError, SignatureCheck};

struct Fixture {
    a: Actors,
    c: Chain,
    coupon: Hash,
    campaign: Hash,
}

/// A chain with one campaign of `issuer` and one coupon held by holder 0.
fn fixture() -> Fixture {
    let a = Actors::new(1, 3);
    let mut c = Chain::new(&a.genesis());
    let campaign = c.create_campaign(&a.issuer, spec("envelopes"));
    let coupon = c.issue(&a.issuer, campaign, &[&a.holders[0]])[0];
    Fixture {
        a,
        c,
        coupon,
        campaign,
    }
}

fn give(f: &Fixture, to: &Keypair) -> TxBody {
    TxBody::Transfer {
        coupon: f.coupon,
        to: to.public(),
    }
}

/// Re-signs the envelope after a test tampered with its body.
fn resign(
    mut tx: SignedTransaction,
    signer: &Keypair,
    edit: impl FnOnce(&mut TxBody),
) -> SignedTransaction {
    edit(&mut tx.tx.body);
    tx.tx.sign(signer)
}

#[test]
fn a_transaction_is_never_included_twice_across_blocks() {
    let mut f = fixture();
    let (h0, h1) = (&f.a.holders[0], &f.a.holders[1]);
    let tx = f.c.tx(h0, give(&f, h1));
    assert!(f.c.submit(tx.clone()).is_applied());
    let id = tx.id();
    assert_eq!(
        f.c.reject(std::slice::from_ref(&tx)),
        (0, RuntimeError::Replay(id))
    );
    // Behind a valid transaction: the block is still invalid, and the valid one is not
    // applied either (`reject` checks the chain did not move).
    let fine = f.c.tx(h1, give(&f, h0));
    assert_eq!(
        f.c.reject(&[fine.clone(), tx]),
        (1, RuntimeError::Replay(id))
    );
    assert_eq!(f.c.coupon(f.coupon).owner, h1.public());
    assert!(f.c.submit(fine).is_applied());
}

#[test]
fn a_refused_transaction_cannot_be_replayed_either() {
    let mut f = fixture();
    let h1 = &f.a.holders[1];
    // Refused (not the owner), yet included: its id is spent.
    let tx = f.c.tx(h1, give(&f, h1));
    let id = tx.id();
    f.c.refuse_tx(tx.clone(), "not_owner");
    assert_eq!(f.c.reject(&[tx]), (0, RuntimeError::Replay(id)));
}

#[test]
fn a_transaction_may_appear_only_once_in_a_block() {
    let mut f = fixture();
    let (h0, h1) = (&f.a.holders[0], &f.a.holders[1]);
    let tx = f.c.tx(h0, give(&f, h1));
    assert_eq!(
        f.c.reject(&[tx.clone(), tx.clone()]),
        (1, RuntimeError::DuplicateInBlock(tx.id()))
    );
    // Found wherever the copies sit in the block.
    let other = f.c.tx(
        &f.a.issuer,
        TxBody::IssueCoupons {
            campaign: f.campaign,
            recipients: vec![to(h1)],
        },
    );
    assert_eq!(
        f.c.reject(&[other, tx.clone(), tx.clone()]),
        (2, RuntimeError::DuplicateInBlock(tx.id()))
    );
    assert!(f.c.submit(tx).is_applied());
}

#[test]
fn a_transaction_for_another_chain_is_invalid() {
    let mut f = fixture();
    let (h0, h1) = (&f.a.holders[0], &f.a.holders[1]);
    let tx = Transaction {
        chain_id: "other".into(),
        signer: h0.public(),
        nonce: 1,
        valid_until_ms: f.c.now() + 60_000,
        body: give(&f, h1),
    }
    .sign(h0);
    assert_eq!(
        f.c.reject(&[tx]),
        (
            0,
            RuntimeError::WrongChainId {
                expected: CHAIN_ID.into(),
                got: "other".into(),
            }
        )
    );
    // An absurdly long chain id is reported cut to the limit.
    let long = "x".repeat(1000);
    let tx = Transaction {
        chain_id: long.clone(),
        signer: h0.public(),
        nonce: 2,
        valid_until_ms: f.c.now() + 60_000,
        body: give(&f, h1),
    }
    .sign(h0);
    match f.c.reject(&[tx]) {
        (0, RuntimeError::WrongChainId { got, .. }) => {
            assert_eq!(got, long[..limits::MAX_CHAIN_ID_BYTES])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bad_envelope_signature_is_invalid_and_names_its_signer() {
    let mut f = fixture();
    let (h0, h1) = (&f.a.holders[0], &f.a.holders[1]);
    let good = f.c.tx(
        &f.a.issuer,
        TxBody::IssueCoupons {
            campaign: f.campaign,
            recipients: vec![to(h1)],
        },
    );
    let mut bad = f.c.tx(h0, give(&f, h1));
    bad.signature.0[17] ^= 0x01;
    assert_eq!(
        f.c.reject(&[good.clone(), bad.clone()]),
        (
            1,
            RuntimeError::BadSignature {
                signer: h0.public()
            }
        )
    );
    // Signed by someone other than the named signer.
    let forged = Transaction {
        signer: h0.public(),
        ..f.c.tx(h1, give(&f, h1)).tx
    }
    .sign(h1);
    assert_eq!(
        f.c.reject(&[forged]),
        (
            0,
            RuntimeError::BadSignature {
                signer: h0.public()
            }
        )
    );
    assert!(f.c.submit(good).is_applied());
}

#[test]
fn a_bad_holder_signature_on_a_redemption_is_invalid() {
    let mut f = fixture();
    let (site, h0, h1) = (&f.a.site, &f.a.holders[0], &f.a.holders[1]);
    let holder_sig_bad = BadSig {
        signer: h0.public(),
    };

    // A flipped bit in the holder's authorization.
    let tx = f.c.redeem_tx(site, h0, f.coupon, 1, 0);
    let tampered = resign(tx.clone(), site, |b| {
        if let TxBody::Redeem(r) = b {
            r.holder_signature.0[3] ^= 0x80;
        }
    });
    assert_eq!(f.c.reject(&[tampered]), holder_sig_bad.at(0));

    // An authorization signed by someone else on the owner's behalf.
    let now = f.c.now();
    let forged =
        f.c.redeem_tx_custom(site, h1, h0.public(), f.coupon, 1, 0, now + 60_000);
    assert_eq!(f.c.reject(&[forged]), holder_sig_bad.at(0));

    // A redemption seen in flight cannot be stolen: another site cannot submit it...
    let stolen = match &tx.tx.body {
        TxBody::Redeem(r) => f.c.tx(&f.a.site3, TxBody::Redeem(*r)),
        _ => unreachable!(),
    };
    assert_eq!(f.c.reject(&[stolen]), holder_sig_bad.at(0));
    // ...nor the same site for a larger amount.
    let more = resign(tx.clone(), site, |b| {
        if let TxBody::Redeem(r) = b {
            r.amount = 2;
        }
    });
    assert_eq!(f.c.reject(&[more]), holder_sig_bad.at(0));
    // ...nor with a longer authorization window.
    let longer = resign(tx.clone(), site, |b| {
        if let TxBody::Redeem(r) = b {
            r.auth_valid_until_ms += 1;
        }
    });
    assert_eq!(f.c.reject(&[longer]), holder_sig_bad.at(0));

    assert!(f.c.submit(tx).is_applied());
}

struct BadSig {
    signer: couponchain_chain::PublicKey,
}

impl BadSig {
    fn at(&self, index: u32) -> (u32, RuntimeError) {
        (
            index,
            RuntimeError::BadSignature {
                signer: self.signer,
            },
        )
    }
}

#[test]
fn cached_signature_checks_still_check_the_uncached() {
    let f = fixture();
    let (h0, h1) = (&f.a.holders[0], &f.a.holders[1]);
    let good = f.c.tx(
        &f.a.issuer,
        TxBody::IssueCoupons {
            campaign: f.campaign,
            recipients: vec![to(h1)],
        },
    );
    let mut bad = f.c.tx(h0, give(&f, h1));
    bad.signature.0[0] ^= 0x01;
    let good_copy = good.clone();
    let known = |_: &couponchain_chain::TxId, t: &SignedTransaction| *t == good_copy;
    let out = execute_block(
        &f.c.ledger,
        f.c.ctx(),
        &[good.clone(), bad],
        SignatureCheck::Cached(&known),
    );
    match out {
        Err(RuntimeError::InvalidBlockTx { index: 1, error }) => assert_eq!(
            *error,
            RuntimeError::BadSignature {
                signer: h0.public()
            }
        ),
        other => panic!("{other:?}"),
    }
    let ok = execute_block(
        &f.c.ledger,
        f.c.ctx(),
        &[good],
        SignatureCheck::Cached(&known),
    );
    assert!(ok.unwrap().receipts[0].is_applied());
}

#[test]
fn an_expired_transaction_is_invalid() {
    let mut f = fixture();
    let (h0, h1) = (&f.a.holders[0], &f.a.holders[1]);
    let now = f.c.now();
    let late = sign_at(h0, 1, now - 1, give(&f, h1));
    assert_eq!(
        f.c.reject(&[late]),
        (
            0,
            RuntimeError::TxExpired {
                valid_until_ms: now - 1,
                now_ms: now,
            }
        )
    );
    // A transaction stays valid through its last millisecond.
    let just = sign_at(h0, 2, now, give(&f, h1));
    assert!(f.c.submit(just).is_applied());
}

#[test]
fn a_transaction_valid_too_far_ahead_is_invalid() {
    let mut f = fixture();
    let (h0, h1) = (&f.a.holders[0], &f.a.holders[1]);
    let now = f.c.now();
    let max = Genesis::DEFAULT_MAX_TX_LIFETIME_MS;
    let ahead = sign_at(h0, 1, now + max + 1, give(&f, h1));
    assert_eq!(
        f.c.reject(&[ahead]),
        (
            0,
            RuntimeError::TxTooFarAhead {
                valid_until_ms: now + max + 1,
                now_ms: now,
                max_lifetime_ms: max,
            }
        )
    );
    let edge = sign_at(h0, 2, now + max, give(&f, h1));
    assert!(f.c.submit(edge).is_applied());
}

fn assert_malformed(c: &mut Chain, tx: SignedTransaction) {
    match c.reject(&[tx]) {
        (0, e @ RuntimeError::Malformed(_)) => {
            assert!(e.is_envelope_error());
            assert_eq!(e.code(), "malformed");
        }
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[test]
fn malformed_bodies_are_invalid() {
    let mut f = fixture();
    let h0 = &f.a.holders[0];
    let issue = |c: &Chain, issuer: &Keypair, campaign: Hash, recipients: Vec<Recipient>| {
        c.tx(
            issuer,
            TxBody::IssueCoupons {
                campaign,
                recipients,
            },
        )
    };
    let empty = issue(&f.c, &f.a.issuer, f.campaign, vec![]);
    assert_malformed(&mut f.c, empty);
    let huge = issue(
        &f.c,
        &f.a.issuer,
        f.campaign,
        vec![to(h0); limits::MAX_ISSUE_BATCH + 1],
    );
    assert_malformed(&mut f.c, huge);

    let zero = f.c.redeem_tx(&f.a.site, h0, f.coupon, 0, 0);
    assert_malformed(&mut f.c, zero);

    let create = |c: &Chain, edit: &dyn Fn(&mut CampaignSpec)| {
        let mut s = spec("malformed");
        edit(&mut s);
        c.tx(&f.a.issuer, TxBody::CreateCampaign(s))
    };
    let long_name = create(&f.c, &|s| s.name = "n".repeat(limits::MAX_NAME_BYTES + 1));
    assert_malformed(&mut f.c, long_name);
    let long_meta = create(&f.c, &|s| {
        s.terms.metadata = "m".repeat(limits::MAX_METADATA_BYTES + 1)
    });
    assert_malformed(&mut f.c, long_meta);
    // A free item's SKU is stored with the campaign: bounded like a name.
    let sku = |n: usize| {
        move |s: &mut CampaignSpec| s.terms.benefit = Benefit::FreeItem { sku: "k".repeat(n) }
    };
    let long_sku = create(&f.c, &sku(limits::MAX_NAME_BYTES + 1));
    assert_malformed(&mut f.c, long_sku);
    let edge_sku = create(&f.c, &sku(limits::MAX_NAME_BYTES));
    assert!(f.c.submit(edge_sku).is_applied());
    let many_sites = create(&f.c, &|s| {
        let mut keys: Vec<_> = (0..=limits::MAX_SITES_PER_CAMPAIGN)
            .map(|i| Keypair::from_seed(&format!("s{i}")).public())
            .collect();
        keys.sort();
        s.redeem_at = SitePolicy::Sites(keys);
    });
    assert_malformed(&mut f.c, many_sites);

    // The largest batch is fine.
    let max = issue(
        &f.c,
        &f.a.issuer,
        f.campaign,
        vec![to(h0); limits::MAX_ISSUE_BATCH],
    );
    assert!(f.c.submit(max).is_applied());
    assert_eq!(
        f.c.campaign(f.campaign).stats.issued,
        1 + limits::MAX_ISSUE_BATCH as u64
    );
}
