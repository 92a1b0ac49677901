//! The coupon rules, one test per rule or refusal: the lifecycle from campaign to report,
//! and every refusal with its exact code (and, where it carries values, its exact message).
//! Every refusal also checks that its block changed nothing.

use crate::harness::{applied, assert_refused, bearer, nowhere, to, Chain};
use couponchain_chain::tx::{
    campaign_id, CampaignAction, CampaignSpec, CouponKind, SitePolicy, TxBody,
};
use couponchain_chain::{BearerCode, Hash, Keypair};
use couponchain_runtime::testkit::{spec, Actors, DAY, HOUR, T0};
use couponchain_runtime::{
    CampaignStats, CampaignStatus, CouponRecord, CouponStatus, Event, Outcome, RuntimeError,
};

fn setup() -> (Actors, Chain) {
    let a = Actors::new(1, 4);
    let c = Chain::new(&a.genesis());
    (a, c)
}

fn with(f: impl FnOnce(&mut CampaignSpec)) -> CampaignSpec {
    let mut s = spec("test campaign");
    f(&mut s);
    s
}

fn transfer(coupon: Hash, to: &Keypair) -> TxBody {
    TxBody::Transfer {
        coupon,
        to: to.public(),
    }
}

fn claim(coupon: Hash, to: &Keypair) -> TxBody {
    TxBody::Claim {
        coupon,
        to: to.public(),
    }
}

fn status(campaign: Hash, action: CampaignAction) -> TxBody {
    TxBody::SetCampaignStatus { campaign, action }
}

fn issue_body(campaign: Hash, owners: &[&Keypair]) -> TxBody {
    TxBody::IssueCoupons {
        campaign,
        recipients: owners.iter().map(|k| to(k)).collect(),
    }
}

#[test]
fn full_lifecycle_issue_claim_transfer_redeem_and_report() {
    let (a, mut c) = setup();
    let (h0, h1, h2) = (&a.holders[0], &a.holders[1], &a.holders[2]);
    let code = BearerCode::from_bytes([7; 16]);
    let code_key = code.keypair();

    let camp = c.create_campaign(&a.issuer, spec("lifecycle"));
    let rec = c.campaign(camp);
    assert_eq!(rec.id, camp);
    assert_eq!(rec.issuer, a.issuer.public());
    assert_eq!(rec.spec, spec("lifecycle"));
    assert_eq!(rec.status, CampaignStatus::Active);
    assert_eq!(rec.created_height, 1);
    assert_eq!(rec.stats, CampaignStats::default());

    let ids = c.issue_to(&a.issuer, camp, vec![to(h0), bearer(&code), to(h1)]);
    let (wallet, coded, spare) = (ids[0], ids[1], ids[2]);
    assert_eq!(
        c.coupon(wallet),
        CouponRecord {
            id: wallet,
            campaign: camp,
            owner: h0.public(),
            bearer: false,
            remaining: 1,
            redemptions: 0,
            status: CouponStatus::Active,
            issued_height: 2,
        }
    );
    assert_eq!(c.coupon(coded).owner, code_key.public());
    assert!(c.coupon(coded).bearer);
    assert_eq!(c.campaign(camp).stats.issued, 3);

    // Whoever holds the code moves the coupon into a wallet, signing with the derived key.
    assert_eq!(
        c.apply(&code_key, claim(coded, h2)),
        vec![Event::CouponClaimed {
            coupon: coded,
            campaign: camp,
            from: code_key.public(),
            to: h2.public(),
        }]
    );
    assert_eq!(c.coupon(coded).owner, h2.public());
    assert!(!c.coupon(coded).bearer);

    assert_eq!(
        c.apply(h0, transfer(wallet, h1)),
        vec![Event::CouponTransferred {
            coupon: wallet,
            campaign: camp,
            from: h0.public(),
            to: h1.public(),
        }]
    );
    assert_eq!(c.coupon(wallet).owner, h1.public());

    assert_eq!(c.redeem_ok(&a.site, h1, wallet, 1, 0), 0);
    let spent = c.coupon(wallet);
    assert_eq!(spent.status, CouponStatus::Spent);
    assert_eq!(spent.redemptions, 1);
    assert_eq!(spent.owner, h1.public());
    assert_eq!(c.redeem_ok(&a.site, h2, coded, 1, 0), 0);

    assert_eq!(
        c.apply(&a.issuer, TxBody::RevokeCoupon { coupon: spare }),
        vec![Event::CouponRevoked {
            coupon: spare,
            campaign: camp,
        }]
    );
    assert_eq!(c.coupon(spare).status, CouponStatus::Revoked);

    let stats = c.campaign(camp).stats;
    assert_eq!(
        stats,
        CampaignStats {
            issued: 3,
            spent: 2,
            revoked: 1,
            redemptions: 2,
            redeemed_amount: 2,
        }
    );
    assert_eq!(stats.outstanding(), 0);
    assert_eq!(c.height, 7);
}

#[test]
fn a_bearer_code_redeems_without_a_claim_and_survives_its_text_form() {
    let (a, mut c) = setup();
    let code = BearerCode::from_bytes([0xa5; 16]);
    let camp = c.create_campaign(&a.issuer, spec("mailed"));
    let id = c.issue_to(&a.issuer, camp, vec![bearer(&code)])[0];
    // The customer types the code from an e-mail; the derived key is the same.
    let typed = BearerCode::parse(&code.to_text().to_lowercase()).unwrap();
    let key = typed.keypair();
    assert_eq!(key.public(), c.coupon(id).owner);
    assert_eq!(c.redeem_ok(&a.site, &key, id, 1, 0), 0);
    // Spent: the code is worth nothing now, neither to redeem nor to claim.
    c.refuse_redeem(&a.site, &key, id, 1, 1, "already_spent");
    c.refuse(&key, claim(id, &a.holders[0]), "already_spent");
}

#[test]
fn unknown_coupon_is_refused_everywhere() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let x = nowhere(1);
    c.refuse_exactly(
        h0,
        transfer(x, &a.holders[1]),
        RuntimeError::UnknownCoupon(x),
    );
    c.refuse(h0, claim(x, &a.holders[1]), "unknown_coupon");
    c.refuse(
        &a.issuer,
        TxBody::RevokeCoupon { coupon: x },
        "unknown_coupon",
    );
    let tx = c.redeem_tx(&a.site, h0, x, 1, 0);
    c.refuse_tx_exactly(tx, RuntimeError::UnknownCoupon(x));
}

#[test]
fn unknown_campaign_is_refused() {
    let (a, mut c) = setup();
    let x = nowhere(2);
    c.refuse_exactly(
        &a.issuer,
        issue_body(x, &[&a.holders[0]]),
        RuntimeError::UnknownCampaign(x),
    );
    c.refuse(
        &a.issuer,
        status(x, CampaignAction::Pause),
        "unknown_campaign",
    );
}

#[test]
fn only_issuers_create_and_only_the_campaigns_issuer_issues() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    c.refuse_exactly(
        h0,
        TxBody::CreateCampaign(spec("forged")),
        RuntimeError::NotIssuer(h0.public()),
    );
    // A site is not an issuer either, even a site an issuer operates.
    c.refuse(
        &a.site,
        TxBody::CreateCampaign(spec("forged")),
        "not_issuer",
    );

    let camp = c.create_campaign(&a.issuer, spec("shop one"));
    c.refuse_exactly(
        &a.issuer2,
        issue_body(camp, &[h0]),
        RuntimeError::NotCampaignIssuer {
            campaign: camp,
            signer: a.issuer2.public(),
        },
    );
    c.refuse(h0, issue_body(camp, &[h0]), "not_campaign_issuer");
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    c.refuse(
        &a.issuer2,
        TxBody::RevokeCoupon { coupon: id },
        "not_campaign_issuer",
    );
    c.refuse(
        &a.issuer2,
        status(camp, CampaignAction::Pause),
        "not_campaign_issuer",
    );
    c.refuse(
        h0,
        status(camp, CampaignAction::Revoke),
        "not_campaign_issuer",
    );
    assert_eq!(c.campaign(camp).stats.issued, 1);
    assert_eq!(c.campaign(camp).status, CampaignStatus::Active);
}

#[test]
fn a_single_use_coupon_is_redeemed_once() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(&a.issuer, spec("once"));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    assert_eq!(c.redeem_ok(&a.site, h0, id, 1, 0), 0);
    let tx = c.redeem_tx(&a.site, h0, id, 1, 1);
    c.refuse_tx_exactly(tx, RuntimeError::AlreadySpent(id));
    // An authorization for the first use, replayed with a fresh envelope, is refused too.
    c.refuse_redeem(&a.site, h0, id, 1, 0, "already_spent");
    let stats = c.campaign(camp).stats;
    assert_eq!(
        (stats.redemptions, stats.redeemed_amount, stats.spent),
        (1, 1, 1)
    );
}

#[test]
fn two_simultaneous_redemptions_of_one_coupon_exactly_one_wins() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(&a.issuer, with(|s| s.redeem_at = SitePolicy::AnySite));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    // The holder authorized two tills; consensus orders them in one block.
    let first = c.redeem_tx(&a.site, h0, id, 1, 0);
    let second = c.redeem_tx(&a.site3, h0, id, 1, 0);
    let receipts = c.block(&[first, second]).unwrap();
    assert_eq!(
        applied(&receipts[0]),
        &[Event::CouponRedeemed {
            coupon: id,
            campaign: camp,
            holder: h0.public(),
            site: a.site.public(),
            amount: 1,
            remaining: 0,
        }]
    );
    assert_refused(&receipts[1], "already_spent");
    assert_eq!(c.campaign(camp).stats.redemptions, 1);
    assert_eq!(c.coupon(id).redemptions, 1);
}

#[test]
fn redemption_only_inside_the_validity_window() {
    let (a, mut c) = setup();
    let hs: Vec<&Keypair> = a.holders.iter().collect();
    let camp = c.create_campaign(
        &a.issuer,
        with(|s| {
            s.not_before_ms = T0 + DAY;
            s.expires_at_ms = T0 + 2 * DAY;
        }),
    );
    // Coupons may be handed out before they become valid.
    let ids = c.issue(&a.issuer, camp, &hs);

    let now = c.now();
    let tx = c.redeem_tx(&a.site, hs[0], ids[0], 1, 0);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::NotYetValid {
            not_before_ms: T0 + DAY,
            now_ms: now,
        },
    );
    c.set_time(T0 + DAY - 1);
    let tx = c.redeem_tx(&a.site, hs[0], ids[0], 1, 0);
    assert_refused(&c.dry_run(tx), "not_yet_valid");
    c.set_time(T0 + DAY);
    c.redeem_ok(&a.site, hs[0], ids[0], 1, 0);

    // Valid through the last millisecond before `expires_at_ms`...
    c.set_time(T0 + 2 * DAY - 1);
    let tx = c.redeem_tx(&a.site, hs[1], ids[1], 1, 0);
    assert!(c.dry_run(tx.clone()).is_applied());
    // ...and from `expires_at_ms` on, nothing moves.
    c.set_time(T0 + 2 * DAY);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::Expired {
            expires_at_ms: T0 + 2 * DAY,
            now_ms: T0 + 2 * DAY,
        },
    );
    c.refuse(hs[2], transfer(ids[2], hs[0]), "expired");
    c.refuse(&a.issuer, issue_body(camp, &[hs[0]]), "expired");
    c.advance(30 * DAY);
    c.refuse_redeem(&a.site, hs[3], ids[3], 1, 0, "expired");
    let stats = c.campaign(camp).stats;
    assert_eq!(
        (stats.issued, stats.redemptions, stats.outstanding()),
        (4, 1, 3)
    );
}

#[test]
fn any_site_of_issuer_refuses_other_issuers_sites() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(&a.issuer, spec("own tills only"));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    let tx = c.redeem_tx(&a.site2, h0, id, 1, 0);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::SiteNotAllowed {
            site: a.site2.public(),
            campaign: camp,
        },
    );
    // A site of no issuer is not a site of this issuer.
    c.refuse_redeem(&a.site3, h0, id, 1, 0, "site_not_allowed");
    c.redeem_ok(&a.site, h0, id, 1, 0);
}

#[test]
fn a_list_of_sites_admits_exactly_those_sites() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let canteen = c.create_campaign(
        &a.issuer,
        with(|s| s.redeem_at = SitePolicy::Sites(vec![a.site3.public()])),
    );
    let id = c.issue(&a.issuer, canteen, &[h0])[0];
    // Not even the issuer's own till.
    c.refuse_redeem(&a.site, h0, id, 1, 0, "site_not_allowed");
    c.refuse_redeem(&a.site2, h0, id, 1, 0, "site_not_allowed");
    c.redeem_ok(&a.site3, h0, id, 1, 0);

    let mut two = vec![a.site.public(), a.site3.public()];
    two.sort();
    let both = c.create_campaign(&a.issuer, with(|s| s.redeem_at = SitePolicy::Sites(two)));
    let ids = c.issue(&a.issuer, both, &[h0, h1]);
    c.refuse_redeem(&a.site2, h0, ids[0], 1, 0, "site_not_allowed");
    c.redeem_ok(&a.site, h0, ids[0], 1, 0);
    c.redeem_ok(&a.site3, h1, ids[1], 1, 0);

    let anywhere = c.create_campaign(&a.issuer, with(|s| s.redeem_at = SitePolicy::AnySite));
    let id = c.issue(&a.issuer, anywhere, &[h0])[0];
    c.redeem_ok(&a.site2, h0, id, 1, 0);
}

#[test]
fn a_region_prefix_admits_only_sites_inside_it() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    // `site` lies in "u33db".
    let near = c.create_campaign(&a.issuer, with(|s| s.region_prefix = Some("u33".into())));
    let id = c.issue(&a.issuer, near, &[h0])[0];
    c.redeem_ok(&a.site, h0, id, 1, 0);

    let exact = c.create_campaign(&a.issuer, with(|s| s.region_prefix = Some("u33db".into())));
    let id = c.issue(&a.issuer, exact, &[h0])[0];
    c.redeem_ok(&a.site, h0, id, 1, 0);

    let far = c.create_campaign(&a.issuer, with(|s| s.region_prefix = Some("gcp".into())));
    let id = c.issue(&a.issuer, far, &[h0])[0];
    let tx = c.redeem_tx(&a.site, h0, id, 1, 0);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::WrongRegion {
            site_region: Some("u33db".into()),
            required: "gcp".into(),
        },
    );

    // Any site may redeem, but only inside the region: a site without a region never.
    let anywhere_near = c.create_campaign(
        &a.issuer,
        with(|s| {
            s.redeem_at = SitePolicy::AnySite;
            s.region_prefix = Some("u33".into());
        }),
    );
    let ids = c.issue(&a.issuer, anywhere_near, &[h0, h1]);
    let tx = c.redeem_tx(&a.site3, h0, ids[0], 1, 0);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::WrongRegion {
            site_region: None,
            required: "u33".into(),
        },
    );
    c.refuse_redeem(&a.site2, h0, ids[0], 1, 0, "wrong_region");
    c.redeem_ok(&a.site, h0, ids[0], 1, 0);
}

#[test]
fn only_registered_sites_redeem() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let camp = c.create_campaign(&a.issuer, with(|s| s.redeem_at = SitePolicy::AnySite));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    // Another holder, with the owner's authorization, posing as a till.
    let tx = c.redeem_tx(h1, h0, id, 1, 0);
    c.refuse_tx_exactly(tx, RuntimeError::NotSite(h1.public()));
    // The issuer itself is not a site.
    c.refuse_redeem(&a.issuer, h0, id, 1, 0, "not_site");
    assert_eq!(c.coupon(id).remaining, 1);
}

#[test]
fn only_the_owner_transfers() {
    let (a, mut c) = setup();
    let (h0, h1, h2) = (&a.holders[0], &a.holders[1], &a.holders[2]);
    let camp = c.create_campaign(&a.issuer, spec("gift"));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    c.refuse_exactly(
        h1,
        transfer(id, h1),
        RuntimeError::NotOwner {
            coupon: id,
            signer: h1.public(),
        },
    );
    // Not the issuer either.
    c.refuse(&a.issuer, transfer(id, h2), "not_owner");
    c.apply(h0, transfer(id, h1));
    // The previous owner has nothing left to give.
    c.refuse(h0, transfer(id, h2), "not_owner");
    c.apply(h1, transfer(id, h2));
    assert_eq!(c.coupon(id).owner, h2.public());
}

#[test]
fn non_transferable_coupons_do_not_move_but_a_bearer_code_is_claimed_once() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let code = BearerCode::from_bytes([3; 16]);
    let camp = c.create_campaign(&a.issuer, with(|s| s.transferable = false));
    let ids = c.issue_to(&a.issuer, camp, vec![to(h0), bearer(&code)]);
    c.refuse_exactly(
        h0,
        transfer(ids[0], h1),
        RuntimeError::NotTransferable(camp),
    );
    // Claiming the code into a wallet is allowed even here...
    c.apply(&code.keypair(), claim(ids[1], h1));
    // ...but afterwards the coupon is as bound to the wallet as any other.
    c.refuse(h1, transfer(ids[1], h0), "not_transferable");
    assert_eq!(c.coupon(ids[0]).owner, h0.public());
    assert_eq!(c.coupon(ids[1]).owner, h1.public());
    c.redeem_ok(&a.site, h1, ids[1], 1, 0);
}

#[test]
fn only_an_unclaimed_bearer_coupon_can_be_claimed() {
    let (a, mut c) = setup();
    let (h0, h1, h2) = (&a.holders[0], &a.holders[1], &a.holders[2]);
    let code = BearerCode::from_bytes([4; 16]);
    let camp = c.create_campaign(&a.issuer, spec("claims"));
    let ids = c.issue_to(&a.issuer, camp, vec![to(h0), bearer(&code)]);
    c.refuse_exactly(h0, claim(ids[0], h1), RuntimeError::NotBearer(ids[0]));
    c.apply(&code.keypair(), claim(ids[1], h1));
    // Claimed once: not a bearer coupon any more, and the code's key no longer owns it.
    c.refuse_exactly(h1, claim(ids[1], h2), RuntimeError::NotBearer(ids[1]));
    c.refuse(&code.keypair(), claim(ids[1], h2), "not_owner");
    assert_eq!(c.coupon(ids[1]).owner, h1.public());
}

#[test]
fn supply_never_exceeds_the_maximum() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let camp = c.create_campaign(&a.issuer, with(|s| s.max_supply = 3));
    c.issue(&a.issuer, camp, &[h0, h1]);
    c.refuse_exactly(
        &a.issuer,
        issue_body(camp, &[h0, h1]),
        RuntimeError::OverSupply {
            max_supply: 3,
            issued: 2,
            requested: 2,
        },
    );
    c.issue(&a.issuer, camp, &[h1]);
    c.refuse(&a.issuer, issue_body(camp, &[h0]), "over_supply");
    assert_eq!(c.campaign(camp).stats.issued, 3);
}

#[test]
fn stored_value_is_never_overspent() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(
        &a.issuer,
        with(|s| s.kind = CouponKind::StoredValue { amount: 1000 }),
    );
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    assert_eq!(c.coupon(id).remaining, 1000);
    assert_eq!(c.redeem_ok(&a.site, h0, id, 600, 0), 400);
    let tx = c.redeem_tx(&a.site, h0, id, 500, 1);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::OverSpend {
            remaining: 400,
            requested: 500,
        },
    );
    assert_eq!(c.coupon(id).status, CouponStatus::Active);
    assert_eq!(c.redeem_ok(&a.site, h0, id, 400, 1), 0);
    let cp = c.coupon(id);
    assert_eq!((cp.status, cp.redemptions), (CouponStatus::Spent, 2));
    c.refuse_redeem(&a.site, h0, id, 1, 2, "already_spent");
    assert_eq!(
        c.campaign(camp).stats,
        CampaignStats {
            issued: 1,
            spent: 1,
            revoked: 0,
            redemptions: 2,
            redeemed_amount: 1000,
        }
    );
}

#[test]
fn a_punch_card_gives_exactly_its_uses() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(
        &a.issuer,
        with(|s| s.kind = CouponKind::MultiUse { uses: 3 }),
    );
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    assert_eq!(c.redeem_ok(&a.site, h0, id, 1, 0), 2);
    assert_eq!(c.redeem_ok(&a.site, h0, id, 1, 1), 1);
    assert_eq!(c.coupon(id).status, CouponStatus::Active);
    assert_eq!(c.redeem_ok(&a.site, h0, id, 1, 2), 0);
    assert_eq!(c.coupon(id).status, CouponStatus::Spent);
    c.refuse_redeem(&a.site, h0, id, 1, 3, "already_spent");
    let stats = c.campaign(camp).stats;
    assert_eq!(
        (stats.redemptions, stats.redeemed_amount, stats.spent),
        (3, 3, 1)
    );
}

#[test]
fn a_punch_card_refuses_more_uses_than_remain_in_one_go() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(
        &a.issuer,
        with(|s| s.kind = CouponKind::MultiUse { uses: 3 }),
    );
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    let tx = c.redeem_tx(&a.site, h0, id, 4, 0);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::OverSpend {
            remaining: 3,
            requested: 4,
        },
    );
    assert_eq!(c.redeem_ok(&a.site, h0, id, 3, 0), 0);
}

#[test]
fn an_authorization_works_for_one_redemption_only() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(
        &a.issuer,
        with(|s| s.kind = CouponKind::MultiUse { uses: 5 }),
    );
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    c.redeem_ok(&a.site, h0, id, 1, 0);
    let tx = c.redeem_tx(&a.site, h0, id, 1, 0);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::StaleAuthorization {
            expected: 1,
            got: 0,
        },
    );
    // Nor for one ahead of its turn.
    let tx = c.redeem_tx(&a.site, h0, id, 1, 2);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::StaleAuthorization {
            expected: 1,
            got: 2,
        },
    );
    assert_eq!(c.coupon(id).remaining, 4);
    c.redeem_ok(&a.site, h0, id, 1, 1);
}

#[test]
fn an_expired_authorization_is_refused() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(&a.issuer, spec("auth window"));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    let now = c.now();
    let tx = c.redeem_tx_custom(&a.site, h0, h0.public(), id, 1, 0, now - 1);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::AuthorizationExpired {
            valid_until_ms: now - 1,
            now_ms: now,
        },
    );
    // Valid through its last millisecond.
    let now = c.now();
    let tx = c.redeem_tx_custom(&a.site, h0, h0.public(), id, 1, 0, now);
    assert!(c.submit(tx).is_applied());
}

#[test]
fn only_the_owners_authorization_redeems() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let camp = c.create_campaign(&a.issuer, spec("mine"));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    // h1 signs a perfectly valid authorization for a coupon that is not theirs.
    let tx = c.redeem_tx(&a.site, h1, id, 1, 0);
    c.refuse_tx_exactly(
        tx,
        RuntimeError::NotOwner {
            coupon: id,
            signer: h1.public(),
        },
    );
    // After a transfer the old owner's authorization is worthless.
    let stale = c.redeem_tx(&a.site, h0, id, 1, 0);
    c.apply(h0, transfer(id, h1));
    c.refuse_tx(stale, "not_owner");
    c.redeem_ok(&a.site, h1, id, 1, 0);
}

#[test]
fn the_per_holder_limit_holds_on_issue_and_on_transfer() {
    let (a, mut c) = setup();
    let (h0, h1, h2) = (&a.holders[0], &a.holders[1], &a.holders[2]);
    let camp = c.create_campaign(&a.issuer, with(|s| s.per_holder_limit = Some(2)));
    let first = c.issue(&a.issuer, camp, &[h0, h0]);
    c.refuse_exactly(
        &a.issuer,
        issue_body(camp, &[h0]),
        RuntimeError::HolderLimit {
            holder: h0.public(),
            limit: 2,
        },
    );
    // Within one batch too; the whole batch is refused.
    c.refuse(&a.issuer, issue_body(camp, &[h1, h1, h1]), "holder_limit");
    assert_eq!(c.campaign(camp).stats.issued, 2);
    assert_eq!(c.received(camp, h1.public()), 0);

    c.issue(&a.issuer, camp, &[h1]);
    c.apply(h0, transfer(first[0], h1));
    assert_eq!(c.received(camp, h1.public()), 2);
    let extra = c.issue(&a.issuer, camp, &[h2])[0];
    c.refuse_exactly(
        h2,
        transfer(extra, h1),
        RuntimeError::HolderLimit {
            holder: h1.public(),
            limit: 2,
        },
    );
    // The limit counts what a key received over all time, not what it holds now.
    c.refuse(&a.issuer, issue_body(camp, &[h0]), "holder_limit");
    assert_eq!(c.received(camp, h0.public()), 2);
    assert_eq!(c.coupon(extra).owner, h2.public());
}

#[test]
fn the_per_holder_limit_counts_bearer_claims() {
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let code = BearerCode::from_bytes([9; 16]);
    let camp = c.create_campaign(&a.issuer, with(|s| s.per_holder_limit = Some(1)));
    c.issue(&a.issuer, camp, &[h0]);
    let id = c.issue_to(&a.issuer, camp, vec![bearer(&code)])[0];
    c.refuse(&code.keypair(), claim(id, h0), "holder_limit");
    assert!(c.coupon(id).bearer);
}

#[test]
fn a_paused_campaign_neither_issues_nor_redeems_until_resumed() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let camp = c.create_campaign(&a.issuer, spec("pausable"));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    assert_eq!(
        c.apply(&a.issuer, status(camp, CampaignAction::Pause)),
        vec![Event::CampaignStatusChanged {
            campaign: camp,
            status: CampaignStatus::Paused,
        }]
    );
    assert_eq!(c.campaign(camp).status, CampaignStatus::Paused);
    c.refuse_exactly(
        &a.issuer,
        issue_body(camp, &[h1]),
        RuntimeError::CampaignPaused(camp),
    );
    c.refuse_redeem(&a.site, h0, id, 1, 0, "campaign_paused");
    c.refuse(
        &a.issuer,
        status(camp, CampaignAction::Pause),
        "campaign_paused",
    );
    // Holders may still pass coupons on while the campaign is paused.
    c.apply(h0, transfer(id, h1));

    assert_eq!(
        c.apply(&a.issuer, status(camp, CampaignAction::Resume)),
        vec![Event::CampaignStatusChanged {
            campaign: camp,
            status: CampaignStatus::Active,
        }]
    );
    c.refuse(
        &a.issuer,
        status(camp, CampaignAction::Resume),
        "invalid_campaign",
    );
    c.issue(&a.issuer, camp, &[h0]);
    c.redeem_ok(&a.site, h1, id, 1, 0);
    assert_eq!(c.campaign(camp).stats.issued, 2);
}

#[test]
fn a_revoked_campaign_is_dead_for_good() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let code = BearerCode::from_bytes([5; 16]);
    let camp = c.create_campaign(&a.issuer, spec("recalled"));
    let ids = c.issue_to(&a.issuer, camp, vec![to(h0), bearer(&code)]);
    assert_eq!(
        c.apply(&a.issuer, status(camp, CampaignAction::Revoke)),
        vec![Event::CampaignStatusChanged {
            campaign: camp,
            status: CampaignStatus::Revoked,
        }]
    );
    c.refuse_exactly(
        &a.issuer,
        issue_body(camp, &[h1]),
        RuntimeError::CampaignRevoked(camp),
    );
    c.refuse_redeem(&a.site, h0, ids[0], 1, 0, "campaign_revoked");
    c.refuse(h0, transfer(ids[0], h1), "campaign_revoked");
    c.refuse(&code.keypair(), claim(ids[1], h1), "campaign_revoked");
    for action in [
        CampaignAction::Pause,
        CampaignAction::Resume,
        CampaignAction::Revoke,
    ] {
        c.refuse(&a.issuer, status(camp, action), "campaign_revoked");
    }
    assert_eq!(c.campaign(camp).status, CampaignStatus::Revoked);
}

#[test]
fn a_revoked_coupon_is_dead_and_counted() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let camp = c.create_campaign(&a.issuer, spec("revocable"));
    let ids = c.issue(&a.issuer, camp, &[h0, h1]);
    c.refuse(
        h0,
        TxBody::RevokeCoupon { coupon: ids[0] },
        "not_campaign_issuer",
    );
    c.apply(&a.issuer, TxBody::RevokeCoupon { coupon: ids[0] });
    let tx = c.redeem_tx(&a.site, h0, ids[0], 1, 0);
    c.refuse_tx_exactly(tx, RuntimeError::CouponRevoked(ids[0]));
    c.refuse(h0, transfer(ids[0], h1), "coupon_revoked");
    c.refuse(
        &a.issuer,
        TxBody::RevokeCoupon { coupon: ids[0] },
        "coupon_revoked",
    );
    // A spent coupon cannot be revoked (it would be counted twice).
    c.redeem_ok(&a.site, h1, ids[1], 1, 0);
    c.refuse(
        &a.issuer,
        TxBody::RevokeCoupon { coupon: ids[1] },
        "already_spent",
    );
    let cp = c.coupon(ids[0]);
    assert_eq!((cp.status, cp.remaining), (CouponStatus::Revoked, 1));
    assert_eq!(
        c.campaign(camp).stats,
        CampaignStats {
            issued: 2,
            spent: 1,
            revoked: 1,
            redemptions: 1,
            redeemed_amount: 1,
        }
    );
}

#[test]
fn invalid_campaign_specs_are_refused() {
    let (a, mut c) = setup();
    let now = c.now();
    let mut sorted = vec![a.site.public(), a.site3.public()];
    sorted.sort();
    let unsorted: Vec<_> = sorted.iter().rev().copied().collect();
    let dup = vec![sorted[0], sorted[0]];
    type Case = (&'static str, Box<dyn Fn(&mut CampaignSpec)>);
    let cases: Vec<Case> = vec![
        (
            "expires before start",
            Box::new(|s| s.expires_at_ms = s.not_before_ms - 1),
        ),
        (
            "expires at start",
            Box::new(|s| s.expires_at_ms = s.not_before_ms),
        ),
        (
            "already expired",
            Box::new(move |s| {
                s.not_before_ms = T0 - DAY;
                s.expires_at_ms = now;
            }),
        ),
        ("zero supply", Box::new(|s| s.max_supply = 0)),
        ("empty name", Box::new(|s| s.name = "  ".into())),
        (
            "no uses",
            Box::new(|s| s.kind = CouponKind::MultiUse { uses: 0 }),
        ),
        (
            "no value",
            Box::new(|s| s.kind = CouponKind::StoredValue { amount: 0 }),
        ),
        (
            "empty currency",
            Box::new(|s| s.terms.currency = Some("".into())),
        ),
        (
            "long currency",
            Box::new(|s| s.terms.currency = Some("EURO-DOLLAR".into())),
        ),
        (
            "region outside the geohash alphabet",
            Box::new(|s| s.region_prefix = Some("u3a".into())),
        ),
        (
            "empty region",
            Box::new(|s| s.region_prefix = Some("".into())),
        ),
        (
            "region too long",
            Box::new(|s| s.region_prefix = Some("u33dbu33dbu33".into())),
        ),
        (
            "zero holder limit",
            Box::new(|s| s.per_holder_limit = Some(0)),
        ),
        (
            "empty site list",
            Box::new(|s| s.redeem_at = SitePolicy::Sites(vec![])),
        ),
        (
            "unsorted site list",
            Box::new(move |s| s.redeem_at = SitePolicy::Sites(unsorted.clone())),
        ),
        (
            "duplicate site",
            Box::new(move |s| s.redeem_at = SitePolicy::Sites(dup.clone())),
        ),
    ];
    for (what, f) in cases {
        let tx = c.tx(&a.issuer, TxBody::CreateCampaign(with(|s| f(s))));
        let id = campaign_id(&tx.id());
        let message = c.refuse_tx(tx, "invalid_campaign");
        assert!(
            message.starts_with("invalid campaign: "),
            "{what}: {message}"
        );
        assert!(c
            .record(couponchain_runtime::StateKey::Campaign(id))
            .is_none());
    }
    // A listed key that is not a registered site.
    let h0 = a.holders[0].public();
    c.refuse_exactly(
        &a.issuer,
        TxBody::CreateCampaign(with(|s| s.redeem_at = SitePolicy::Sites(vec![h0]))),
        RuntimeError::NotSite(h0),
    );
    // The boundaries themselves are fine.
    let now = c.now();
    c.create_campaign(
        &a.issuer,
        with(|s| {
            s.expires_at_ms = now + 1;
            s.max_supply = 1;
            s.region_prefix = Some("u33dbu33dbu3".into());
            s.per_holder_limit = Some(1);
            s.kind = CouponKind::MultiUse { uses: 1 };
            s.redeem_at = SitePolicy::Sites(sorted.clone());
        }),
    );
}

#[test]
fn a_block_of_refused_transactions_changes_nothing() {
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let camp = c.create_campaign(&a.issuer, with(|s| s.max_supply = 2));
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    let before = c.ledger.state.clone();
    let txs = vec![
        c.tx(h0, TxBody::CreateCampaign(spec("nope"))),
        c.tx(&a.issuer, issue_body(camp, &[h0, h1])),
        c.tx(&a.issuer2, issue_body(camp, &[h1])),
        c.tx(h1, transfer(id, h1)),
        c.tx(h0, claim(id, h1)),
        c.redeem_tx(&a.site2, h0, id, 1, 0),
        c.redeem_tx(&a.site, h0, id, 1, 1),
        c.redeem_tx(&a.site, h1, id, 1, 0),
        c.tx(&a.issuer2, TxBody::RevokeCoupon { coupon: id }),
        c.tx(&a.issuer, status(camp, CampaignAction::Resume)),
        c.tx(h0, TxBody::Approve { proposal: id }),
    ];
    let ex = c.block_full(&txs).unwrap();
    let codes: Vec<&str> = ex
        .receipts
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Refused { code, .. } => code.as_str(),
            Outcome::Applied { .. } => "applied",
        })
        .collect();
    assert_eq!(
        codes,
        [
            "not_issuer",
            "over_supply",
            "not_campaign_issuer",
            "not_owner",
            "not_bearer",
            "site_not_allowed",
            "stale_authorization",
            "not_owner",
            "not_campaign_issuer",
            "invalid_campaign",
            "not_validator",
        ]
    );
    assert!(ex.changes.is_empty(), "{:?}", ex.changes);
    assert_eq!(c.ledger.state, before);
    // Refused transactions are included all the same: they cannot be replayed.
    assert!(txs.iter().all(|t| c.ledger.included.contains(&t.id())));
}

#[test]
fn refused_transactions_in_a_busy_block_leave_no_trace() {
    let (a, mut c) = setup();
    let (h0, h1, h2) = (&a.holders[0], &a.holders[1], &a.holders[2]);
    let camp = c.create_campaign(
        &a.issuer,
        with(|s| {
            s.kind = CouponKind::StoredValue { amount: 100 };
            s.per_holder_limit = Some(2);
            s.max_supply = 4;
        }),
    );
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    // Applied and refused transactions interleaved; the refused ones would each have
    // written something had they gone through.
    let txs = vec![
        c.redeem_tx(&a.site, h0, id, 30, 0),                  // applied
        c.redeem_tx(&a.site, h0, id, 80, 1),                  // over_spend
        c.tx(&a.issuer, issue_body(camp, &[h1, h1, h1])),     // holder_limit
        c.tx(&a.issuer, issue_body(camp, &[h1, h2])),         // applied
        c.tx(&a.issuer, issue_body(camp, &[h2, h2])),         // over_supply
        c.tx(h0, transfer(id, h1)),                           // applied
        c.redeem_tx(&a.site, h0, id, 10, 1),                  // not_owner
        c.redeem_tx(&a.site, h1, id, 70, 1),                  // applied
        c.tx(&a.issuer, TxBody::RevokeCoupon { coupon: id }), // already_spent
    ];
    let applied_only: Vec<_> = [0, 3, 5, 7].iter().map(|i| txs[*i].clone()).collect();
    let lean = c.execute(&applied_only).unwrap();
    let full = c.block_full(&txs).unwrap();
    let applied_idx: Vec<usize> = full
        .receipts
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_applied())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(applied_idx, [0, 3, 5, 7]);
    let codes: Vec<String> = full
        .receipts
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Refused { code, .. } => Some(code.clone()),
            Outcome::Applied { .. } => None,
        })
        .collect();
    assert_eq!(
        codes,
        [
            "over_spend",
            "holder_limit",
            "over_supply",
            "not_owner",
            "already_spent"
        ]
    );
    assert_eq!(full.changes, lean.changes);
    for (f, l) in applied_idx.iter().zip(&lean.receipts) {
        assert_eq!(full.receipts[*f].outcome, l.outcome);
    }
    assert_eq!(c.coupon(id).status, CouponStatus::Spent);
    assert_eq!(c.campaign(camp).stats.issued, 3);
    assert_eq!(c.received(camp, h1.public()), 2);
    assert_eq!(c.received(camp, h2.public()), 1);
}

#[test]
fn time_moves_only_by_block_time_not_by_transactions() {
    // A redemption authorized an hour ahead still fails once block time passes expiry,
    // and a campaign that starts in an hour cannot be used now whatever the tx says.
    let (a, mut c) = setup();
    let h0 = &a.holders[0];
    let now = c.now();
    let camp = c.create_campaign(
        &a.issuer,
        with(|s| {
            s.not_before_ms = now + HOUR;
            s.expires_at_ms = now + 2 * HOUR;
        }),
    );
    let id = c.issue(&a.issuer, camp, &[h0])[0];
    let tx = c.redeem_tx_custom(&a.site, h0, h0.public(), id, 1, 0, now + 3 * HOUR);
    c.refuse_tx(tx, "not_yet_valid");
    c.set_time(now + 2 * HOUR);
    let tx = c.redeem_tx_custom(&a.site, h0, h0.public(), id, 1, 0, now + 3 * HOUR);
    c.refuse_tx(tx, "expired");
}

#[test]
fn the_value_a_campaign_can_give_out_fits_its_counters() {
    // `stats.redeemed_amount` sums the value redeemed from every coupon of a campaign, so
    // a campaign whose coupons could together give out more than u64::MAX is refused.
    let (a, mut c) = setup();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let tx = c.tx(
        &a.issuer,
        TxBody::CreateCampaign(with(|s| {
            s.kind = CouponKind::StoredValue { amount: u64::MAX };
            s.max_supply = 2;
        })),
    );
    c.refuse_tx(tx, "invalid_campaign");
    let tx = c.tx(
        &a.issuer,
        TxBody::CreateCampaign(with(|s| {
            s.kind = CouponKind::MultiUse { uses: u32::MAX };
            s.max_supply = u64::MAX / u32::MAX as u64 + 1;
        })),
    );
    c.refuse_tx(tx, "invalid_campaign");

    // At the limit exactly, everything can be redeemed and counted.
    let camp = c.create_campaign(
        &a.issuer,
        with(|s| {
            s.kind = CouponKind::StoredValue {
                amount: u64::MAX / 2,
            };
            s.max_supply = 2;
        }),
    );
    let ids = c.issue(&a.issuer, camp, &[h0, h1]);
    c.redeem_ok(&a.site, h0, ids[0], u64::MAX / 2, 0);
    c.redeem_ok(&a.site, h1, ids[1], u64::MAX / 2, 0);
    assert_eq!(c.campaign(camp).stats.redeemed_amount, u64::MAX - 1);
}
