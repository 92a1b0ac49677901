use couponchain_chain::tx::GovAction;
use couponchain_chain::{Hash, PublicKey};
use couponchain_rpc::events::{
    block_events, event_id, event_name, parse_event_id, stream_start, StreamStart,
};
use couponchain_runtime::{CampaignStatus, Event, Outcome, Receipt};

#[test]
fn event_ids_round_trip() {
    assert_eq!(parse_event_id("12:3:4").unwrap(), (12, 3, 4));
    assert_eq!(parse_event_id("0:0:0").unwrap(), (0, 0, 0));
    assert_eq!(parse_event_id(" 7:1:2 ").unwrap(), (7, 1, 2));
    let max = format!("{}:{}:{}", u64::MAX, u32::MAX, u32::MAX);
    assert_eq!(
        parse_event_id(&max).unwrap(),
        (u64::MAX, u32::MAX, u32::MAX)
    );
    assert_eq!(event_id(42, 0, 1), "42:0:1");
    assert_eq!(parse_event_id(&event_id(9, 8, 7)).unwrap(), (9, 8, 7));
}

#[test]
fn malformed_event_ids() {
    let too_big_tx = format!("1:{}:0", u64::from(u32::MAX) + 1);
    let too_big_height = format!("{}0:0:0", u64::MAX);
    for bad in [
        "",
        "1",
        "1:2",
        "1:2:3:4",
        "a:b:c",
        "1:2:x",
        "-1:0:0",
        "+1:0:0",
        "1::3",
        ":1:2",
        "1:2:",
        "1.0:2:3",
        "1 :2:3",
        "0x1:2:3",
        &too_big_tx,
        &too_big_height,
    ] {
        let e = parse_event_id(bad).unwrap_err();
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("bad_param", 400),
            "{bad:?}"
        );
    }
}

#[test]
fn where_a_stream_starts() {
    let at = |height, after| StreamStart { height, after };
    // Default: only new events.
    assert_eq!(stream_start(None, None, 10).unwrap(), at(11, None));
    assert_eq!(
        stream_start(None, None, u64::MAX).unwrap(),
        at(u64::MAX, None)
    );
    // from_height, never below 1.
    assert_eq!(stream_start(None, Some(3), 10).unwrap(), at(3, None));
    assert_eq!(stream_start(None, Some(0), 10).unwrap(), at(1, None));
    assert_eq!(stream_start(None, Some(50), 10).unwrap(), at(50, None));
    // Last-Event-ID wins and resumes strictly after the event.
    assert_eq!(
        stream_start(Some("5:2:1"), Some(1), 10).unwrap(),
        at(5, Some((2, 1)))
    );
    assert_eq!(stream_start(Some(""), Some(4), 10).unwrap(), at(4, None));
    assert_eq!(
        stream_start(Some("5:2"), Some(1), 10).unwrap_err().code(),
        "bad_param"
    );
}

fn h(b: u8) -> Hash {
    Hash([b; 32])
}

fn k(b: u8) -> PublicKey {
    PublicKey([b; 32])
}

fn one_of_each() -> Vec<Event> {
    let action = GovAction::AddAdmin { key: k(1) };
    vec![
        Event::CampaignCreated {
            campaign: h(1),
            issuer: k(1),
        },
        Event::CampaignStatusChanged {
            campaign: h(1),
            status: CampaignStatus::Paused,
        },
        Event::CouponIssued {
            coupon: h(2),
            campaign: h(1),
            owner: k(2),
            bearer: true,
        },
        Event::CouponTransferred {
            coupon: h(2),
            campaign: h(1),
            from: k(2),
            to: k(3),
        },
        Event::CouponClaimed {
            coupon: h(2),
            campaign: h(1),
            from: k(2),
            to: k(3),
        },
        Event::CouponRedeemed {
            coupon: h(2),
            campaign: h(1),
            holder: k(3),
            site: k(4),
            amount: 1,
            remaining: 0,
        },
        Event::CouponRevoked {
            coupon: h(2),
            campaign: h(1),
        },
        Event::ProposalCreated {
            proposal: h(5),
            proposer: k(1),
            action: action.clone(),
        },
        Event::ProposalApproved {
            proposal: h(5),
            approver: k(1),
            approvals: 1,
            needed: 3,
        },
        Event::ProposalExecuted {
            proposal: h(5),
            action,
        },
        Event::ValidatorSetScheduled {
            from_height: 9,
            validators: vec![k(1)],
        },
    ]
}

#[test]
fn event_names_are_the_json_variant_names() {
    for e in one_of_each() {
        let json = serde_json::to_value(&e).unwrap();
        let tag = json.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(event_name(&e), tag);
    }
}

fn receipt(index: u32, events: Vec<Event>) -> Receipt {
    Receipt {
        tx: h(100 + index as u8),
        height: 7,
        index,
        outcome: Outcome::Applied { events },
    }
}

fn refused(index: u32) -> Receipt {
    Receipt {
        tx: h(100 + index as u8),
        height: 7,
        index,
        outcome: Outcome::Refused {
            code: "already_spent".into(),
            message: "spent".into(),
        },
    }
}

#[test]
fn events_of_a_block() {
    let all = one_of_each();
    let receipts = vec![
        receipt(0, all[0..2].to_vec()),
        refused(1),
        receipt(2, vec![]),
        receipt(3, all[2..5].to_vec()),
    ];
    let events = block_events(7, &receipts, None);
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["7:0:0", "7:0:1", "7:3:0", "7:3:1", "7:3:2"]);
    assert_eq!(events[3].event, all[3]);
    assert_eq!(events[3].tx, h(103));
    assert_eq!(
        (events[3].height, events[3].tx_index, events[3].event_index),
        (7, 3, 1)
    );
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["id"], "7:0:0");
    assert_eq!(json["tx"], h(100).to_hex());
    assert!(json["event"]["campaign_created"].is_object(), "{json}");

    // Resuming strictly after an event.
    let after = |a| {
        block_events(7, &receipts, Some(a))
            .into_iter()
            .map(|e| e.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(after((0, 0)), ["7:0:1", "7:3:0", "7:3:1", "7:3:2"]);
    assert_eq!(after((0, 1)), ["7:3:0", "7:3:1", "7:3:2"]);
    assert_eq!(after((1, 0)), ["7:3:0", "7:3:1", "7:3:2"]);
    assert_eq!(after((3, 1)), ["7:3:2"]);
    assert!(after((3, 2)).is_empty());
    assert!(after((u32::MAX, u32::MAX)).is_empty());

    // Blocks with no events (or only refusals) produce nothing.
    assert!(block_events(8, &[], None).is_empty());
    assert!(block_events(8, &[refused(0), receipt(1, vec![])], None).is_empty());
}
