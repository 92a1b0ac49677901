use couponchain_chain::tx::{Benefit, CampaignSpec, CouponKind, SitePolicy, Terms};
use couponchain_chain::{Hash, PublicKey};
use couponchain_rpc::views::{campaign_report, coupon_state, CampaignReport, CouponState};
use couponchain_runtime::{
    CampaignRecord, CampaignStats, CampaignStatus, CouponRecord, CouponStatus,
};

const NOT_BEFORE: u64 = 1_000;
const EXPIRES: u64 = 5_000;

fn campaign(status: CampaignStatus, stats: CampaignStats) -> CampaignRecord {
    CampaignRecord {
        id: Hash([1; 32]),
        issuer: PublicKey([2; 32]),
        spec: CampaignSpec {
            name: "test".into(),
            terms: Terms {
                benefit: Benefit::Other,
                currency: None,
                metadata: String::new(),
            },
            not_before_ms: NOT_BEFORE,
            expires_at_ms: EXPIRES,
            max_supply: 100,
            transferable: true,
            kind: CouponKind::SingleUse,
            redeem_at: SitePolicy::AnySite,
            region_prefix: None,
            per_holder_limit: None,
        },
        status,
        created_height: 1,
        stats,
    }
}

fn coupon(status: CouponStatus) -> CouponRecord {
    CouponRecord {
        id: Hash([3; 32]),
        campaign: Hash([1; 32]),
        owner: PublicKey([4; 32]),
        bearer: false,
        remaining: 1,
        redemptions: 0,
        status,
        issued_height: 2,
    }
}

#[test]
fn coupon_state_of_an_active_coupon_follows_chain_time() {
    let c = campaign(CampaignStatus::Active, CampaignStats::default());
    let k = coupon(CouponStatus::Active);
    assert_eq!(coupon_state(&k, &c, 0), CouponState::NotYetValid);
    assert_eq!(
        coupon_state(&k, &c, NOT_BEFORE - 1),
        CouponState::NotYetValid
    );
    assert_eq!(coupon_state(&k, &c, NOT_BEFORE), CouponState::Active);
    assert_eq!(coupon_state(&k, &c, EXPIRES - 1), CouponState::Active);
    assert_eq!(coupon_state(&k, &c, EXPIRES), CouponState::Expired);
    assert_eq!(coupon_state(&k, &c, u64::MAX), CouponState::Expired);
}

#[test]
fn coupon_state_precedence() {
    let times = [0, NOT_BEFORE, EXPIRES];
    for status in [
        CampaignStatus::Active,
        CampaignStatus::Paused,
        CampaignStatus::Revoked,
    ] {
        let c = campaign(status, CampaignStats::default());
        for t in times {
            // A coupon's own terminal status wins over everything.
            assert_eq!(
                coupon_state(&coupon(CouponStatus::Spent), &c, t),
                CouponState::Spent
            );
            assert_eq!(
                coupon_state(&coupon(CouponStatus::Revoked), &c, t),
                CouponState::Revoked
            );
        }
    }
    let active = coupon(CouponStatus::Active);
    let revoked = campaign(CampaignStatus::Revoked, CampaignStats::default());
    for t in times {
        assert_eq!(
            coupon_state(&active, &revoked, t),
            CouponState::CampaignRevoked
        );
    }
    let paused = campaign(CampaignStatus::Paused, CampaignStats::default());
    assert_eq!(
        coupon_state(&active, &paused, 0),
        CouponState::CampaignPaused
    );
    assert_eq!(
        coupon_state(&active, &paused, NOT_BEFORE),
        CouponState::CampaignPaused
    );
    assert_eq!(
        coupon_state(&active, &paused, EXPIRES),
        CouponState::Expired
    );
}

#[test]
fn coupon_state_json_names() {
    let names = [
        (CouponState::Active, "active"),
        (CouponState::Spent, "spent"),
        (CouponState::Revoked, "revoked"),
        (CouponState::Expired, "expired"),
        (CouponState::NotYetValid, "not_yet_valid"),
        (CouponState::CampaignPaused, "campaign_paused"),
        (CouponState::CampaignRevoked, "campaign_revoked"),
    ];
    for (state, name) in names {
        assert_eq!(
            serde_json::to_value(state).unwrap(),
            serde_json::json!(name)
        );
    }
}

fn stats() -> CampaignStats {
    CampaignStats {
        issued: 100,
        spent: 30,
        revoked: 5,
        redemptions: 42,
        redeemed_amount: 77,
    }
}

fn accounted(r: &CampaignReport) -> u64 {
    r.spent + r.revoked + r.active + r.expired_unused + r.revoked_with_campaign
}

#[test]
fn campaign_report_before_expiry() {
    for status in [CampaignStatus::Active, CampaignStatus::Paused] {
        let r = campaign_report(&campaign(status, stats()), EXPIRES - 1);
        assert_eq!(
            r,
            CampaignReport {
                issued: 100,
                spent: 30,
                redemptions: 42,
                redeemed_amount: 77,
                revoked: 5,
                active: 65,
                expired_unused: 0,
                revoked_with_campaign: 0,
            }
        );
        assert_eq!(accounted(&r), r.issued);
    }
}

#[test]
fn campaign_report_after_expiry() {
    let r = campaign_report(&campaign(CampaignStatus::Active, stats()), EXPIRES);
    assert_eq!(
        (r.active, r.expired_unused, r.revoked_with_campaign),
        (0, 65, 0)
    );
    assert_eq!(accounted(&r), r.issued);
    let r = campaign_report(&campaign(CampaignStatus::Paused, stats()), EXPIRES + 1);
    assert_eq!(
        (r.active, r.expired_unused, r.revoked_with_campaign),
        (0, 65, 0)
    );
}

#[test]
fn campaign_report_of_a_revoked_campaign() {
    for t in [0, EXPIRES - 1, EXPIRES, u64::MAX] {
        let r = campaign_report(&campaign(CampaignStatus::Revoked, stats()), t);
        assert_eq!(
            (r.active, r.expired_unused, r.revoked_with_campaign),
            (0, 0, 65),
            "t={t}"
        );
        assert_eq!(r.revoked, 5);
        assert_eq!(accounted(&r), r.issued);
    }
}

#[test]
fn campaign_report_edge_cases() {
    let r = campaign_report(
        &campaign(CampaignStatus::Active, CampaignStats::default()),
        0,
    );
    assert_eq!(r, CampaignReport::default());
    // Everything spent or revoked: nothing outstanding whatever the time.
    let done = CampaignStats {
        issued: 10,
        spent: 7,
        revoked: 3,
        redemptions: 7,
        redeemed_amount: 7,
    };
    for t in [0, EXPIRES] {
        let r = campaign_report(&campaign(CampaignStatus::Active, done), t);
        assert_eq!((r.active, r.expired_unused), (0, 0));
        assert_eq!(accounted(&r), 10);
    }
    let json = serde_json::to_value(campaign_report(
        &campaign(CampaignStatus::Active, stats()),
        0,
    ))
    .unwrap();
    for field in [
        "issued",
        "spent",
        "redemptions",
        "redeemed_amount",
        "revoked",
        "active",
        "expired_unused",
        "revoked_with_campaign",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
}
