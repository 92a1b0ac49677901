//! Governance: who may propose and approve, the more-than-2/3 quorum of the current
//! validators, proposal lifetimes, validator-set changes taking effect
//! `validator_change_delay` blocks later (and what `Executed` reports for the headers),
//! and approvals by validators that have left the set no longer counting.

use crate::harness::{applied, Chain};
use couponchain_chain::block::ValidatorSet;
use couponchain_chain::tx::{CampaignAction, GovAction, TxBody};
use couponchain_chain::{Hash, Keypair};
use couponchain_runtime::state::{IssuerInfo, SiteInfo};
use couponchain_runtime::testkit::{keys, spec, Actors};
use couponchain_runtime::{CampaignStatus, Event, Genesis, ProposalStatus, Receipt, RuntimeError};

/// Four validators: quorum 3.
fn four() -> (Actors, Chain) {
    let a = Actors::new(4, 3);
    let c = Chain::new(&a.genesis());
    (a, c)
}

/// Proposes `action`; the proposal must be accepted. Returns its id and events.
fn propose(c: &mut Chain, by: &Keypair, action: GovAction) -> (Hash, Vec<Event>) {
    let tx = c.tx(by, TxBody::Propose { action });
    let id = tx.id();
    let r = c.submit(tx);
    (id, applied(&r).to_vec())
}

fn approve(c: &mut Chain, by: &Keypair, proposal: Hash) -> Receipt {
    c.send(by, TxBody::Approve { proposal })
}

fn approved(proposal: Hash, by: &Keypair, approvals: u32, needed: u32) -> Event {
    Event::ProposalApproved {
        proposal,
        approver: by.public(),
        approvals,
        needed,
    }
}

#[test]
fn a_proposal_executes_exactly_at_quorum() {
    let (a, mut c) = four();
    let v = &a.validators;
    let h0 = &a.holders[0];
    let till = Keypair::from_seed("pop-up till");
    let action = GovAction::RegisterSite {
        key: till.public(),
        name: "Pop-up till".into(),
        issuer: Some(a.issuer.public()),
        region: Some("u33dc".into()),
    };
    let camp = c.create_campaign(&a.issuer, spec("for the new till"));
    let coupon = c.issue(&a.issuer, camp, &[h0])[0];

    let at = c.now();
    let (p, events) = propose(&mut c, &a.admin, action.clone());
    // An administrator's proposal carries no approval of its own.
    assert_eq!(
        events,
        vec![Event::ProposalCreated {
            proposal: p,
            proposer: a.admin.public(),
            action: action.clone(),
        }]
    );
    let rec = c.proposal(p);
    assert_eq!(rec.approvals, vec![]);
    assert_eq!(rec.status, ProposalStatus::Open);
    assert_eq!(rec.proposer, a.admin.public());
    assert_eq!(rec.action, action);
    assert_eq!(rec.created_height, c.height);
    assert_eq!(rec.expires_at_ms, at + Genesis::DEFAULT_PROPOSAL_TTL_MS);

    assert_eq!(
        applied(&approve(&mut c, &v[0], p)),
        &[approved(p, &v[0], 1, 3)]
    );
    assert_eq!(
        applied(&approve(&mut c, &v[1], p)),
        &[approved(p, &v[1], 2, 3)]
    );
    // Two of four is not more than 2/3: nothing happened yet.
    let rec = c.proposal(p);
    assert_eq!(rec.status, ProposalStatus::Open);
    let mut two = keys(&v[..2]);
    two.sort();
    assert_eq!(rec.approvals, two);
    assert_eq!(c.account(till.public()), None);
    c.refuse_redeem(&till, h0, coupon, 1, 0, "not_site");

    assert_eq!(
        applied(&approve(&mut c, &v[2], p)),
        &[
            approved(p, &v[2], 3, 3),
            Event::ProposalExecuted {
                proposal: p,
                action: action.clone(),
            },
        ]
    );
    assert_eq!(c.proposal(p).status, ProposalStatus::Executed);
    assert_eq!(
        c.account(till.public()).unwrap().site,
        Some(SiteInfo {
            name: "Pop-up till".into(),
            issuer: Some(a.issuer.public()),
            region: Some("u33dc".into()),
        })
    );
    c.redeem_ok(&till, h0, coupon, 1, 0);

    // Closed once executed, even for the validator that has not voted.
    c.refuse_exactly(
        &v[3],
        TxBody::Approve { proposal: p },
        RuntimeError::ProposalClosed(p),
    );
}

#[test]
fn only_current_validators_approve_and_each_only_once() {
    let (a, mut c) = four();
    let v = &a.validators;
    let (p, _) = propose(
        &mut c,
        &a.admin,
        GovAction::AddAdmin {
            key: a.holders[0].public(),
        },
    );
    c.refuse_exactly(
        &a.admin,
        TxBody::Approve { proposal: p },
        RuntimeError::NotValidator(a.admin.public()),
    );
    c.refuse(
        &a.holders[0],
        TxBody::Approve { proposal: p },
        "not_validator",
    );
    approve(&mut c, &v[1], p);
    c.refuse_exactly(
        &v[1],
        TxBody::Approve { proposal: p },
        RuntimeError::AlreadyApproved {
            proposal: p,
            approver: v[1].public(),
        },
    );
    let nothing = Hash([0x42; 32]);
    c.refuse_exactly(
        &v[0],
        TxBody::Approve { proposal: nothing },
        RuntimeError::UnknownProposal(nothing),
    );
    assert_eq!(c.proposal(p).approvals, vec![v[1].public()]);
}

#[test]
fn only_administrators_and_validators_propose() {
    let (a, mut c) = four();
    let v = &a.validators;
    let h0 = &a.holders[0];
    let action = GovAction::AddAdmin { key: h0.public() };
    c.refuse_exactly(
        h0,
        TxBody::Propose {
            action: action.clone(),
        },
        RuntimeError::NotProposer(h0.public()),
    );
    // Issuers and sites have no say in governance either.
    c.refuse(
        &a.issuer,
        TxBody::Propose {
            action: action.clone(),
        },
        "not_proposer",
    );
    c.refuse(
        &a.site,
        TxBody::Propose {
            action: action.clone(),
        },
        "not_proposer",
    );
    // A validator's proposal counts as its first approval.
    let (p, events) = propose(&mut c, &v[2], action.clone());
    assert_eq!(
        events,
        vec![
            Event::ProposalCreated {
                proposal: p,
                proposer: v[2].public(),
                action: action.clone(),
            },
            approved(p, &v[2], 1, 3),
        ]
    );
    assert_eq!(c.proposal(p).approvals, vec![v[2].public()]);
    c.refuse(&v[2], TxBody::Approve { proposal: p }, "already_approved");
    approve(&mut c, &v[0], p);
    approve(&mut c, &v[3], p);
    assert!(c.account(h0.public()).unwrap().admin);
    // Now an administrator, the holder may propose.
    propose(
        &mut c,
        h0,
        GovAction::AddAdmin {
            key: a.holders[1].public(),
        },
    );
}

#[test]
fn a_proposal_closes_when_its_time_is_up() {
    let (a, mut c) = four();
    let v = &a.validators;
    let at = c.now();
    let (p, _) = propose(
        &mut c,
        &a.admin,
        GovAction::RegisterIssuer {
            key: a.holders[0].public(),
            name: "Late Shop".into(),
        },
    );
    approve(&mut c, &v[0], p);
    let expires = at + Genesis::DEFAULT_PROPOSAL_TTL_MS;
    c.set_time(expires - 1);
    let last_chance = c.tx(&v[1], TxBody::Approve { proposal: p });
    assert_eq!(
        applied(&c.dry_run(last_chance)),
        &[approved(p, &v[1], 2, 3)]
    );
    c.set_time(expires);
    c.refuse_exactly(
        &v[1],
        TxBody::Approve { proposal: p },
        RuntimeError::ProposalClosed(p),
    );
    c.refuse(&v[2], TxBody::Approve { proposal: p }, "proposal_closed");
    assert_eq!(c.proposal(p).status, ProposalStatus::Open);
    assert_eq!(c.account(a.holders[0].public()), None);
}

#[test]
fn a_new_validator_takes_effect_after_the_delay_and_headers_say_so() {
    let (a, mut c) = four();
    let v = &a.validators;
    let newcomer = Keypair::from_seed("validator-new");
    let old = ValidatorSet::new(keys(v));
    let new = ValidatorSet::new(keys(v).into_iter().chain([newcomer.public()]));
    assert_eq!(new.len(), 5);

    // Something for the newcomer to approve later.
    let (other, _) = propose(
        &mut c,
        &a.admin,
        GovAction::AddAdmin {
            key: a.holders[0].public(),
        },
    );
    let (p, _) = propose(
        &mut c,
        &v[0],
        GovAction::AddValidator {
            key: newcomer.public(),
        },
    );
    approve(&mut c, &v[1], p);

    let h = c.height + 1;
    let tx = c.tx(&v[2], TxBody::Approve { proposal: p });
    let ex = c.block_full(&[tx]).unwrap();
    assert_eq!(
        applied(&ex.receipts[0]),
        &[
            approved(p, &v[2], 3, 3),
            Event::ValidatorSetScheduled {
                from_height: h + 2,
                validators: new.validators.clone(),
            },
            Event::ProposalExecuted {
                proposal: p,
                action: GovAction::AddValidator {
                    key: newcomer.public(),
                },
            },
        ]
    );
    assert_eq!(ex.validators, old);
    assert_eq!(ex.next_validators, old);
    let rec = c.validators();
    assert_eq!(rec.current, old);
    assert_eq!(rec.pending, Some((h + 2, new.clone())));

    // Block h+1 is still certified by the old set, whose header names the new one next;
    // the newcomer is not a validator yet.
    let tx = c.tx(&newcomer, TxBody::Approve { proposal: other });
    let ex = c.block_full(&[tx]).unwrap();
    assert_eq!(c.height, h + 1);
    assert_eq!(ex.validators, old);
    assert_eq!(ex.next_validators, new);
    crate::harness::assert_refused(&ex.receipts[0], "not_validator");

    // From block h+2 the new set certifies, and the quorum is 4 of 5.
    let tx = c.tx(&newcomer, TxBody::Approve { proposal: other });
    let ex = c.block_full(&[tx]).unwrap();
    assert_eq!(c.height, h + 2);
    assert_eq!(ex.validators, new);
    assert_eq!(ex.next_validators, new);
    assert_eq!(
        applied(&ex.receipts[0]),
        &[approved(other, &newcomer, 1, 4)]
    );
    let rec = c.validators();
    assert_eq!((rec.current, rec.pending), (new.clone(), None));

    // Nothing changes on later blocks.
    let ex = c.block_full(&[]).unwrap();
    assert_eq!((ex.validators, ex.next_validators), (new.clone(), new));
    assert!(ex.changes.is_empty());

    // Adding it again makes no sense.
    c.refuse(
        &v[0],
        TxBody::Propose {
            action: GovAction::AddValidator {
                key: newcomer.public(),
            },
        },
        "invalid_action",
    );
}

#[test]
fn the_last_validator_cannot_be_removed() {
    let a = Actors::new(1, 1);
    let mut c = Chain::new(&a.genesis());
    let v0 = &a.validators[0];
    c.refuse_exactly(
        v0,
        TxBody::Propose {
            action: GovAction::RemoveValidator { key: v0.public() },
        },
        RuntimeError::InvalidAction("cannot remove the last validator".into()),
    );
    assert_eq!(c.validators().current, ValidatorSet::new([v0.public()]));
    // With one validator the quorum is one: its own proposal executes at once.
    let action = GovAction::AddAdmin {
        key: a.holders[0].public(),
    };
    let (p, events) = propose(&mut c, v0, action.clone());
    assert_eq!(
        events,
        vec![
            Event::ProposalCreated {
                proposal: p,
                proposer: v0.public(),
                action: action.clone(),
            },
            approved(p, v0, 1, 1),
            Event::ProposalExecuted {
                proposal: p,
                action
            },
        ]
    );
    assert!(c.account(a.holders[0].public()).unwrap().admin);
}

#[test]
fn removing_a_validator_that_is_not_one_is_invalid() {
    let (a, mut c) = four();
    c.refuse(
        &a.admin,
        TxBody::Propose {
            action: GovAction::RemoveValidator {
                key: a.holders[0].public(),
            },
        },
        "invalid_action",
    );
}

#[test]
fn approvals_of_a_removed_validator_no_longer_count() {
    let (a, mut c) = four();
    let v = &a.validators;
    let shop = Keypair::from_seed("new shop");
    let action = GovAction::RegisterIssuer {
        key: shop.public(),
        name: "New Shop".into(),
    };
    let (p, _) = propose(&mut c, &a.admin, action.clone());
    approve(&mut c, &v[3], p);

    // v3 leaves: 3 validators remain, whose quorum is still 3.
    let (r, _) = propose(
        &mut c,
        &v[0],
        GovAction::RemoveValidator { key: v[3].public() },
    );
    approve(&mut c, &v[1], r);
    let executed_at = c.height + 1;
    approve(&mut c, &v[2], r);
    while c.height < executed_at + 2 {
        c.block(&[]).unwrap();
    }
    assert_eq!(c.validators().current, ValidatorSet::new(keys(&v[..3])));

    // v3's approval stays on record but counts for nothing.
    assert_eq!(
        applied(&approve(&mut c, &v[0], p)),
        &[approved(p, &v[0], 1, 3)]
    );
    let mut on_record = vec![v[0].public(), v[3].public()];
    on_record.sort();
    assert_eq!(c.proposal(p).approvals, on_record);
    c.refuse(&v[3], TxBody::Approve { proposal: p }, "not_validator");
    assert_eq!(
        applied(&approve(&mut c, &v[1], p)),
        &[approved(p, &v[1], 2, 3)]
    );
    // With v3 counted this would have executed already.
    assert_eq!(c.proposal(p).status, ProposalStatus::Open);
    assert_eq!(c.account(shop.public()), None);
    assert_eq!(
        applied(&approve(&mut c, &v[2], p)),
        &[
            approved(p, &v[2], 3, 3),
            Event::ProposalExecuted {
                proposal: p,
                action,
            },
        ]
    );
    assert_eq!(
        c.account(shop.public()).unwrap().issuer,
        Some(IssuerInfo {
            name: "New Shop".into()
        })
    );
    c.create_campaign(&shop, spec("first of the new shop"));
    // A removed validator cannot propose either.
    c.refuse(
        &v[3],
        TxBody::Propose {
            action: GovAction::AddAdmin {
                key: a.holders[0].public(),
            },
        },
        "not_proposer",
    );
}

/// Runs a proposal by the administrator through to execution with three approvals.
fn pass(c: &mut Chain, a: &Actors, action: GovAction) -> Vec<Event> {
    let (p, _) = propose(c, &a.admin, action);
    approve(c, &a.validators[0], p);
    approve(c, &a.validators[1], p);
    applied(&approve(c, &a.validators[2], p)).to_vec()
}

#[test]
fn governance_revokes_any_campaign() {
    let (a, mut c) = four();
    let h0 = &a.holders[0];
    let camp = c.create_campaign(&a.issuer, spec("compromised"));
    let coupon = c.issue(&a.issuer, camp, &[h0])[0];
    let events = pass(&mut c, &a, GovAction::RevokeCampaign { campaign: camp });
    assert_eq!(
        events[1..],
        [
            Event::CampaignStatusChanged {
                campaign: camp,
                status: CampaignStatus::Revoked,
            },
            Event::ProposalExecuted {
                proposal: match events[0] {
                    Event::ProposalApproved { proposal, .. } => proposal,
                    _ => panic!("{events:?}"),
                },
                action: GovAction::RevokeCampaign { campaign: camp },
            },
        ]
    );
    assert_eq!(c.campaign(camp).status, CampaignStatus::Revoked);
    c.refuse_redeem(&a.site, h0, coupon, 1, 0, "campaign_revoked");
    c.refuse(
        &a.issuer,
        TxBody::SetCampaignStatus {
            campaign: camp,
            action: CampaignAction::Resume,
        },
        "campaign_revoked",
    );
    // Revoking it again, or an unknown campaign, is refused at proposal.
    c.refuse_exactly(
        &a.admin,
        TxBody::Propose {
            action: GovAction::RevokeCampaign { campaign: camp },
        },
        RuntimeError::CampaignRevoked(camp),
    );
    let nothing = Hash([7; 32]);
    c.refuse_exactly(
        &a.admin,
        TxBody::Propose {
            action: GovAction::RevokeCampaign { campaign: nothing },
        },
        RuntimeError::UnknownCampaign(nothing),
    );
}

#[test]
fn a_removed_issuer_issues_no_more_and_a_removed_site_redeems_no_more() {
    let (a, mut c) = four();
    let (h0, h1) = (&a.holders[0], &a.holders[1]);
    let camp = c.create_campaign(&a.issuer, spec("before removal"));
    let ids = c.issue(&a.issuer, camp, &[h0, h1]);
    pass(
        &mut c,
        &a,
        GovAction::RemoveIssuer {
            key: a.issuer.public(),
        },
    );
    c.refuse_exactly(
        &a.issuer,
        TxBody::IssueCoupons {
            campaign: camp,
            recipients: vec![crate::harness::to(h0)],
        },
        RuntimeError::NotIssuer(a.issuer.public()),
    );
    c.refuse(
        &a.issuer,
        TxBody::CreateCampaign(spec("after removal")),
        "not_issuer",
    );
    // Coupons already out keep their value.
    c.redeem_ok(&a.site, h0, ids[0], 1, 0);

    pass(
        &mut c,
        &a,
        GovAction::RemoveSite {
            key: a.site.public(),
        },
    );
    c.refuse_redeem(&a.site, h1, ids[1], 1, 0, "not_site");
    assert_eq!(c.account(a.site.public()).unwrap().site, None);
}

#[test]
fn an_action_is_checked_again_when_it_would_execute() {
    let (a, mut c) = four();
    let v = &a.validators;
    let till = Keypair::from_seed("twice registered till");
    let action = GovAction::RegisterSite {
        key: till.public(),
        name: "Till".into(),
        issuer: None,
        region: None,
    };
    let (first, _) = propose(&mut c, &a.admin, action.clone());
    let (second, _) = propose(&mut c, &a.admin, action);
    for k in &v[..2] {
        approve(&mut c, k, first);
        approve(&mut c, k, second);
    }
    approve(&mut c, &v[2], first);
    assert!(c.account(till.public()).unwrap().site.is_some());
    // The second would register the same site again: the deciding approval is refused.
    c.refuse(
        &v[2],
        TxBody::Approve { proposal: second },
        "invalid_action",
    );
    let rec = c.proposal(second);
    assert_eq!(rec.status, ProposalStatus::Open);
    assert_eq!(rec.approvals.len(), 2);
}

#[test]
fn nonsensical_actions_are_refused_at_proposal() {
    let (a, mut c) = four();
    let h0 = a.holders[0].public();
    let cases = [
        GovAction::RegisterSite {
            key: h0,
            name: "Till".into(),
            issuer: None,
            region: Some("abc".into()),
        },
        GovAction::RegisterSite {
            key: h0,
            name: "Till".into(),
            issuer: Some(a.holders[1].public()),
            region: None,
        },
        GovAction::RegisterSite {
            key: a.site.public(),
            name: "Till".into(),
            issuer: None,
            region: None,
        },
        GovAction::RegisterSite {
            key: h0,
            name: " ".into(),
            issuer: None,
            region: None,
        },
        GovAction::RegisterIssuer {
            key: a.issuer.public(),
            name: "Again".into(),
        },
        GovAction::RegisterIssuer {
            key: h0,
            name: "x".repeat(129),
        },
        GovAction::RemoveIssuer { key: h0 },
        GovAction::RemoveSite { key: h0 },
        GovAction::AddAdmin {
            key: a.admin.public(),
        },
        GovAction::RemoveAdmin { key: h0 },
        GovAction::AddValidator {
            key: a.validators[0].public(),
        },
    ];
    for action in cases {
        let tx = c.tx(&a.admin, TxBody::Propose { action });
        c.refuse_tx(tx, "invalid_action");
    }
}
