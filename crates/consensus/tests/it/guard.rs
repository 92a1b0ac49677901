//! The signing guard on its own, and a validator that crashes and restarts with its
//! persisted `SigningState`: it never signs a conflicting vote.

use crate::common::*;
use couponchain_chain::block::{VoteData, VoteKind};
use couponchain_chain::Hash;
use couponchain_consensus::{
    ConsensusError, Input, Output, Proposal, SigningGuard, SigningState, Step,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn vd(height: u64, round: u32, kind: VoteKind, block: Option<Hash>) -> VoteData {
    VoteData {
        chain_id: CHAIN.into(),
        height,
        round,
        kind,
        block,
    }
}

#[test]
fn same_request_same_signature_conflicts_and_going_back_refused() {
    let k = keys(1);
    let mut g = SigningGuard::new(k[0].clone(), SigningState::default());
    let pv = vd(5, 2, VoteKind::Prevote, Some(block(1)));
    let first = g.sign_vote(&pv).unwrap();
    assert!(first.fresh);
    let again = g.sign_vote(&pv).unwrap();
    assert_eq!((again.signature, again.fresh), (first.signature, false));
    assert!(matches!(
        g.sign_vote(&vd(5, 2, VoteKind::Prevote, None)),
        Err(ConsensusError::SignConflict {
            height: 5,
            round: 2,
            step: Step::Prevote
        })
    ));
    // a proposal after the prevote of the same round goes back
    let p = Proposal {
        chain_id: CHAIN.into(),
        height: 5,
        round: 2,
        block: block(1),
        valid_round: None,
    };
    assert!(matches!(
        g.sign_proposal(&p),
        Err(ConsensusError::SignBehind { .. })
    ));
    let pc = vd(5, 2, VoteKind::Precommit, Some(block(1)));
    assert!(g.sign_vote(&pc).unwrap().fresh);
    // the earlier prevote of this round is still returned identically
    assert_eq!(g.sign_vote(&pv).unwrap().signature, first.signature);
    for old in [
        vd(5, 1, VoteKind::Precommit, None),
        vd(4, 9, VoteKind::Prevote, None),
    ] {
        assert!(matches!(
            g.sign_vote(&old),
            Err(ConsensusError::SignBehind { .. })
        ));
    }
    // later round, then later height (which clears the lock)
    g.record_locks(5, Some((2, block(1))), Some((2, block(1))));
    assert!(
        g.sign_vote(&vd(5, 3, VoteKind::Prevote, None))
            .unwrap()
            .fresh
    );
    assert_eq!(g.state().locked, Some((2, block(1))));
    assert!(
        g.sign_vote(&vd(6, 0, VoteKind::Prevote, None))
            .unwrap()
            .fresh
    );
    assert_eq!(g.state().locked, None);
    // a guard rebuilt from the state behaves the same
    let mut g2 = SigningGuard::new(k[0].clone(), g.state().clone());
    assert!(g2
        .sign_vote(&vd(6, 0, VoteKind::Prevote, Some(block(2))))
        .is_err());
}

proptest! {
    /// Whatever sequence of requests, a guard (restarted from its state at random points)
    /// never signs two different messages for one (height, round, step), and what it signs
    /// never goes back in (height, round, step) order.
    #[test]
    fn guard_never_signs_conflicting_messages(
        reqs in proptest::collection::vec((0u64..3, 0u32..3, 0u8..3, 0u8..3, any::<bool>()), 1..60)
    ) {
        let k = keys(1);
        let mut g = SigningGuard::new(k[0].clone(), SigningState::default());
        let mut signed: BTreeMap<(u64, u32, u8), (u8, couponchain_chain::Signature)> = BTreeMap::new();
        let mut last: Option<(u64, u32, u8)> = None;
        for (h, r, step, b, restart) in reqs {
            if restart {
                g = SigningGuard::new(k[0].clone(), g.state().clone());
            }
            let res = if step == 0 {
                g.sign_proposal(&Proposal { chain_id: CHAIN.into(), height: h, round: r, block: block(b), valid_round: None })
            } else {
                let kind = if step == 1 { VoteKind::Prevote } else { VoteKind::Precommit };
                g.sign_vote(&vd(h, r, kind, Some(block(b))))
            };
            if let Ok(s) = res {
                let key = (h, r, step);
                if let Some((prev_b, prev_sig)) = signed.get(&key) {
                    prop_assert_eq!(*prev_b, b);
                    prop_assert_eq!(*prev_sig, s.signature);
                } else {
                    prop_assert!(last.is_none_or(|l| key > l), "went back: {key:?} after {last:?}");
                    signed.insert(key, (b, s.signature));
                    last = Some(key);
                }
            }
        }
    }
}

#[test]
fn a_restarted_validator_never_signs_a_conflicting_vote() {
    let k = keys(4);
    let b = block(4);
    let mut c = core(&k, 0, SigningState::default());
    c.handle(start(1, &k));
    c.handle(propose(&k[1], 1, 0, b, None));
    let outs = c.handle(checked(1, 0, b, true));
    let persisted = outs
        .iter()
        .find_map(|o| match o {
            Output::Persist(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    let sig_before = persisted.signed.last().unwrap().signature;
    // Crash; restart from the persisted state. Its prevote may never have left: it is sent
    // again, rebuilt from the signing state. The propose timeout fires first: the core
    // would prevote nil, which the guard refuses.
    let mut c = core(&k, 0, persisted.clone());
    let outs = c.handle(start(1, &k));
    assert_eq!(
        view(&outs),
        vec![
            Out::Timeout {
                round: 0,
                step: Step::Propose,
                ms: 1000
            },
            Out::Prevote {
                round: 0,
                block: Some(b)
            }
        ]
    );
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Broadcast(couponchain_consensus::Message::Vote(v)) if v.signature == sig_before
    )));
    assert_eq!(view(&c.handle(timeout(1, 0, Step::Propose))), vec![]);
    assert_eq!(c.stats().guard_refusals, 1);
    // Restart again: the same proposal gives the same prevote with the same signature and
    // nothing new to persist.
    let mut c = core(&k, 0, persisted);
    c.handle(start(1, &k));
    c.handle(propose(&k[1], 1, 0, b, None));
    let outs = c.handle(checked(1, 0, b, true));
    assert_eq!(
        view(&outs),
        vec![Out::Prevote {
            round: 0,
            block: Some(b)
        }]
    );
    let Some(Output::Broadcast(couponchain_consensus::Message::Vote(v))) = outs.first() else {
        panic!()
    };
    assert_eq!(v.signature, sig_before);
}

#[test]
fn a_restarted_validator_keeps_its_lock_and_round() {
    let (b, other) = (block(1), block(2));
    let k = keys(4);
    let mut c = core(&k, 0, SigningState::default());
    c.handle(start(1, &k));
    c.handle(propose(&k[1], 1, 0, b, None));
    let mut last = None;
    for input in [
        checked(1, 0, b, true),
        prevote(&k[1], 1, 0, Some(b)),
        prevote(&k[2], 1, 0, Some(b)),
    ] {
        for o in c.handle(input) {
            if let Output::Persist(s) = o {
                last = Some(s);
            }
        }
    }
    let state = last.unwrap();
    assert_eq!(state.locked, Some((0, b)));
    // Restart at the same height: the lock is back, and a round-1 proposal of another
    // block gets a nil prevote.
    let mut c = core(&k, 0, state);
    c.handle(start(1, &k));
    assert_eq!(c.locked(), Some((0, b)));
    c.handle(timeout(1, 0, Step::Precommit));
    assert_eq!(c.round(), Some(1));
    c.handle(propose(&k[2], 1, 1, other, None));
    let outs = c.handle(checked(1, 1, other, true));
    assert_eq!(
        view(&outs),
        vec![
            Out::Persist,
            Out::Prevote {
                round: 1,
                block: None
            }
        ]
    );
}

#[test]
fn a_validator_whose_state_was_lost_abstains_through_the_height_it_was_deciding() {
    let k = keys(1);
    let mut g = SigningGuard::new(k[0].clone(), SigningState::abstaining_through(7));
    for round in [0, 1, 5, 1_000] {
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            assert!(matches!(
                g.sign_vote(&vd(7, round, kind, Some(block(1)))),
                Err(ConsensusError::SignBehind { .. })
            ));
        }
        let p = Proposal {
            chain_id: CHAIN.into(),
            height: 7,
            round,
            block: block(1),
            valid_round: None,
        };
        assert!(g.sign_proposal(&p).is_err());
    }
    assert!(g.sign_vote(&vd(6, 0, VoteKind::Prevote, None)).is_err());
    // the next height is signed normally
    assert!(
        g.sign_vote(&vd(8, 0, VoteKind::Prevote, Some(block(2))))
            .unwrap()
            .fresh
    );
}

/// A standby started beside the primary: both sign with one key. The primary's core, given
/// its own messages back (relayed by others), stays quiet; given a message with its key
/// that its guard never signed — a prevote for another block in its round, a precommit
/// before it precommitted — it reports the key as used elsewhere once and signs nothing
/// more, while still counting what others send.
#[test]
fn a_message_with_our_key_that_we_never_signed_halts_signing() {
    let k = keys(4);
    let (b, other) = (block(1), block(2));
    let mut c = core(&k, 0, SigningState::default());
    c.handle(start(1, &k));
    c.handle(propose(&k[1], 1, 0, b, None));
    let outs = c.handle(checked(1, 0, b, true));
    let own = outs
        .iter()
        .find_map(|o| match o {
            Output::Broadcast(m @ couponchain_consensus::Message::Vote(_)) => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    // Our own prevote, relayed back: a duplicate, nothing reported.
    let couponchain_consensus::Message::Vote(own) = own else {
        panic!()
    };
    assert_eq!(view(&c.handle(Input::Vote(own))), vec![]);
    // An earlier height's or round's message with our key cannot be checked: it passes.
    assert_eq!(view(&c.handle(prevote(&k[0], 0, 3, Some(other)))), vec![]);
    assert_eq!(c.signing_halted(), None);
    // Our key's prevote for another block in our round: someone else signed it.
    let outs = c.handle(prevote(&k[0], 1, 0, Some(other)));
    assert!(view(&outs).contains(&Out::KeyUsedElsewhere {
        round: 0,
        step: Step::Prevote
    }));
    assert!(c.signing_halted().is_some());
    // A precommit we never signed is counted but not reported again.
    let outs = c.handle(precommit(&k[0], 1, 0, Some(b)));
    assert!(!view(&outs)
        .iter()
        .any(|o| matches!(o, Out::KeyUsedElsewhere { .. })));
    assert_eq!(c.stats().foreign_own_signatures, 2);
    // The polka for `b` completes with two more prevotes: the core would precommit, but
    // the guard signs nothing now.
    let mut outs = c.handle(prevote(&k[1], 1, 0, Some(b)));
    outs.extend(c.handle(prevote(&k[2], 1, 0, Some(b))));
    assert!(!view(&outs).iter().any(|o| matches!(
        o,
        Out::Precommit { .. } | Out::Prevote { .. } | Out::Persist
    )));
    assert!(c.stats().guard_refusals >= 1);
    // Others' precommits still decide the height: a halted validator keeps following.
    let mut outs = c.handle(precommit(&k[1], 1, 0, Some(b)));
    outs.extend(c.handle(precommit(&k[2], 1, 0, Some(b))));
    assert!(view(&outs).contains(&Out::Commit { round: 0, block: b }));
}

/// A halt recorded by the node (at start-up, from its marker) stops the next signature.
#[test]
fn a_halted_core_signs_nothing() {
    let k = keys(4);
    let mut c = core(&k, 0, SigningState::default());
    c.halt_signing("told so");
    c.handle(start(1, &k));
    let outs = c.handle(propose(&k[1], 1, 0, block(1), None));
    let outs2 = c.handle(checked(1, 0, block(1), true));
    assert!(!view(&outs)
        .iter()
        .chain(view(&outs2).iter())
        .any(|o| matches!(o, Out::Prevote { .. } | Out::Persist)));
    assert_eq!(c.signing_halted(), Some("told so"));
}
