//! Table-driven step tests: an input sequence for validator 0 (or 1) of four, and the exact
//! outputs each input must produce. Proposer(h, r) = validators[(h + r) mod 4], so at
//! height 1 the proposers of rounds 0, 1, 2, 3 are validators 1, 2, 3, 0.

use crate::common::*;
use couponchain_chain::block::Header;
use couponchain_chain::Hash;
use couponchain_consensus::{Input, Output, SigningState, Step};

#[test]
fn happy_path_as_non_proposer_commits_with_a_verifiable_certificate() {
    let k = keys(4);
    let header = Header {
        chain_id: CHAIN.into(),
        height: 1,
        parent: Hash::ZERO,
        time_ms: 1,
        proposer: k[1].public(),
        tx_root: Hash::ZERO,
        tx_count: 0,
        state_root: Hash::ZERO,
        validators_hash: set(&k).hash(),
        next_validators_hash: set(&k).hash(),
    };
    let b = header.hash();
    let mut c = core(&k, 0, SigningState::default());
    let outs = run_table(
        &mut c,
        vec![
            (
                start(1, &k),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Propose,
                    ms: 1000,
                }],
            ),
            (propose(&k[1], 1, 0, b, None), vec![Out::Check(b)]),
            // lines 22–27
            (
                checked(1, 0, b, true),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 0,
                        block: Some(b),
                    },
                ],
            ),
            (prevote(&k[1], 1, 0, Some(b)), vec![]),
            // lines 34–35, then 36–43
            (
                prevote(&k[2], 1, 0, Some(b)),
                vec![
                    Out::Timeout {
                        round: 0,
                        step: Step::Prevote,
                        ms: 400,
                    },
                    Out::Persist,
                    Out::Precommit {
                        round: 0,
                        block: Some(b),
                    },
                ],
            ),
            (precommit(&k[1], 1, 0, Some(b)), vec![]),
            // lines 49–54
            (
                precommit(&k[3], 1, 0, Some(b)),
                vec![Out::Commit { round: 0, block: b }],
            ),
            (precommit(&k[2], 1, 0, Some(b)), vec![]),
        ],
    );
    assert_eq!(c.decision(), Some(b));
    assert_eq!(c.locked(), Some((0, b)));
    let Some(Output::Commit { certificate, .. }) = outs[6].first() else {
        panic!("no commit")
    };
    certificate.verify(CHAIN, &header, &set(&k)).unwrap();
    assert_eq!(certificate.signatures.len(), 3);
    assert!(certificate.signatures.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn persist_comes_before_every_broadcast_and_holds_its_signature() {
    let k = keys(4);
    let b = block(7);
    let mut c = core(&k, 1, SigningState::default());
    let mut outs = c.handle(start(1, &k));
    outs.extend(c.handle(Input::BlockBuilt {
        height: 1,
        round: 0,
        block: b,
    }));
    let mut persisted: Option<SigningState> = None;
    let mut broadcasts = 0;
    for o in &outs {
        match o {
            Output::Persist(s) => persisted = Some(s.clone()),
            Output::Broadcast(m) => {
                broadcasts += 1;
                let sig = match m {
                    couponchain_consensus::Message::Proposal(p) => p.signature,
                    couponchain_consensus::Message::Vote(v) => v.signature,
                };
                let st = persisted.as_ref().expect("broadcast before any persist");
                assert!(st.signed.iter().any(|r| r.signature == sig));
            }
            _ => {}
        }
    }
    assert_eq!(broadcasts, 2);
}

#[test]
fn proposer_asks_for_a_block_then_proposes_and_prevotes_it() {
    let k = keys(4);
    let b = block(9);
    let mut c = core(&k, 1, SigningState::default());
    run_table(
        &mut c,
        vec![
            (
                start(1, &k),
                vec![
                    Out::Build { round: 0 },
                    Out::Timeout {
                        round: 0,
                        step: Step::Propose,
                        ms: 1000,
                    },
                ],
            ),
            (
                Input::BlockBuilt {
                    height: 1,
                    round: 0,
                    block: b,
                },
                vec![
                    Out::Persist,
                    Out::Proposal {
                        round: 0,
                        block: b,
                        vr: None,
                    },
                    Out::Persist,
                    Out::Prevote {
                        round: 0,
                        block: Some(b),
                    },
                ],
            ),
            // A second build answer for the same round is ignored (step is prevote).
            (
                Input::BlockBuilt {
                    height: 1,
                    round: 0,
                    block: block(10),
                },
                vec![],
            ),
        ],
    );
}

#[test]
fn timeouts_prevote_and_precommit_nil_and_move_to_the_next_round() {
    let k = keys(4);
    let mut c = core(&k, 0, SigningState::default());
    run_table(
        &mut c,
        vec![
            (
                start(1, &k),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Propose,
                    ms: 1000,
                }],
            ),
            // lines 57–60
            (
                timeout(1, 0, Step::Propose),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 0,
                        block: None,
                    },
                ],
            ),
            (timeout(1, 0, Step::Propose), vec![]),
            (prevote(&k[1], 1, 0, None), vec![]),
            // lines 34–35 and 44–46
            (
                prevote(&k[2], 1, 0, None),
                vec![
                    Out::Timeout {
                        round: 0,
                        step: Step::Prevote,
                        ms: 400,
                    },
                    Out::Persist,
                    Out::Precommit {
                        round: 0,
                        block: None,
                    },
                ],
            ),
            (precommit(&k[1], 1, 0, None), vec![]),
            // lines 47–48
            (
                precommit(&k[2], 1, 0, None),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Precommit,
                    ms: 300,
                }],
            ),
            // lines 65–67: round 1, proposer is validator 2; timeouts grow with the round.
            (
                timeout(1, 0, Step::Precommit),
                vec![Out::Timeout {
                    round: 1,
                    step: Step::Propose,
                    ms: 1500,
                }],
            ),
            (timeout(1, 0, Step::Prevote), vec![]),
            (timeout(2, 1, Step::Propose), vec![]),
            (
                timeout(1, 1, Step::Propose),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 1,
                        block: None,
                    },
                ],
            ),
            // lines 61–64: 2f+1 prevotes for anything, then the prevote timeout.
            (prevote(&k[1], 1, 1, Some(block(3))), vec![]),
            (
                prevote(&k[2], 1, 1, None),
                vec![Out::Timeout {
                    round: 1,
                    step: Step::Prevote,
                    ms: 600,
                }],
            ),
            (
                timeout(1, 1, Step::Prevote),
                vec![
                    Out::Persist,
                    Out::Precommit {
                        round: 1,
                        block: None,
                    },
                ],
            ),
        ],
    );
    assert_eq!(c.round(), Some(1));
    assert_eq!(c.step(), Some(Step::Precommit));
}

#[test]
fn invalid_block_gets_a_nil_prevote() {
    let k = keys(4);
    let b = block(5);
    let mut c = core(&k, 0, SigningState::default());
    run_table(
        &mut c,
        vec![
            (
                start(1, &k),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Propose,
                    ms: 1000,
                }],
            ),
            (propose(&k[1], 1, 0, b, None), vec![Out::Check(b)]),
            (
                checked(1, 0, b, false),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 0,
                        block: None,
                    },
                ],
            ),
            // Even >2/3 precommits never make us commit a block we found invalid.
            (precommit(&k[1], 1, 0, Some(b)), vec![]),
            (precommit(&k[2], 1, 0, Some(b)), vec![]),
            (
                precommit(&k[3], 1, 0, Some(b)),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Precommit,
                    ms: 300,
                }],
            ),
        ],
    );
    assert_eq!(c.decision(), None);
}

#[test]
fn f_plus_one_messages_from_a_higher_round_skip_to_it() {
    let k = keys(4);
    let mut c = core(&k, 0, SigningState::default());
    run_table(
        &mut c,
        vec![
            (
                start(1, &k),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Propose,
                    ms: 1000,
                }],
            ),
            (prevote(&k[1], 1, 3, None), vec![]),
            // line 55: f+1 = 2 validators at round 3; we are its proposer (validator 0).
            (
                precommit(&k[2], 1, 3, None),
                vec![
                    Out::Build { round: 3 },
                    Out::Timeout {
                        round: 3,
                        step: Step::Propose,
                        ms: 2500,
                    },
                ],
            ),
        ],
    );
    assert_eq!(c.round(), Some(3));
}

#[test]
fn invalid_messages_are_rejected_and_duplicates_counted() {
    let k = keys(4);
    let outsider = keys(5)
        .into_iter()
        .find(|x| !set(&k).contains(&x.public()))
        .unwrap();
    let mut c = core(&k, 0, SigningState::default());
    c.handle(start(1, &k));
    let mut forged = vote(
        &k[1],
        1,
        0,
        couponchain_chain::block::VoteKind::Prevote,
        None,
    );
    forged.signature.0[0] ^= 1;
    let mut wrong_chain = couponchain_chain::block::VoteData {
        chain_id: "other".into(),
        height: 1,
        round: 0,
        kind: couponchain_chain::block::VoteKind::Prevote,
        block: None,
    };
    let wrong_chain_vote = couponchain_consensus::SignedVote::sign(wrong_chain.clone(), &k[1]);
    wrong_chain.chain_id = CHAIN.into();
    run_table(
        &mut c,
        vec![
            (Input::Vote(forged), vec![Out::Rejected]),
            (prevote(&outsider, 1, 0, None), vec![Out::Rejected]),
            (Input::Vote(wrong_chain_vote), vec![Out::Rejected]),
            // validator 2 is not the proposer of (1, 0)
            (propose(&k[2], 1, 0, block(1), None), vec![Out::Rejected]),
            // a valid round must be below the round
            (propose(&k[2], 1, 1, block(1), Some(1)), vec![Out::Rejected]),
            (prevote(&k[1], 1, 5_000, None), vec![Out::Rejected]),
            (prevote(&k[1], 1, 0, None), vec![]),
            (prevote(&k[1], 1, 0, None), vec![]),
            // an older height, and a height too far ahead: ignored, not rejected
            (prevote(&k[1], 0, 0, None), vec![]),
            (prevote(&k[1], 3, 0, None), vec![]),
        ],
    );
    let s = c.stats();
    assert_eq!((s.rejected, s.duplicates, s.wrong_height), (6, 1, 2));
}

#[test]
fn next_height_messages_wait_for_start_height() {
    let k = keys(4);
    let (b, c2) = (block(1), block(2));
    let mut c = core(&k, 0, SigningState::default());
    run_table(
        &mut c,
        vec![
            (
                start(1, &k),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Propose,
                    ms: 1000,
                }],
            ),
            // proposer of (2, 0) is validator 2
            (propose(&k[2], 2, 0, c2, None), vec![]),
            (propose(&k[1], 1, 0, b, None), vec![Out::Check(b)]),
            (
                checked(1, 0, b, true),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 0,
                        block: Some(b),
                    },
                ],
            ),
            (precommit(&k[1], 1, 0, Some(b)), vec![]),
            (precommit(&k[2], 1, 0, Some(b)), vec![]),
            (
                precommit(&k[3], 1, 0, Some(b)),
                vec![Out::Commit { round: 0, block: b }],
            ),
            // the decided height ignores timeouts
            (timeout(1, 0, Step::Propose), vec![]),
            (
                start(2, &k),
                vec![
                    Out::Timeout {
                        round: 0,
                        step: Step::Propose,
                        ms: 1000,
                    },
                    Out::Check(c2),
                ],
            ),
            (start(2, &k), vec![]),
        ],
    );
    assert_eq!(c.height(), Some(2));
}

#[test]
fn a_proposal_still_being_checked_gets_one_more_propose_timeout() {
    let k = keys(4);
    let b = block(7);
    let mut c = core(&k, 0, SigningState::default());
    let arm = |round| Out::Timeout {
        round,
        step: Step::Propose,
        ms: 1000,
    };
    run_table(
        &mut c,
        vec![
            (start(1, &k), vec![arm(0)]),
            (propose(&k[1], 1, 0, b, None), vec![Out::Check(b)]),
            // The check outlasts the timeout: armed again, no nil prevote.
            (timeout(1, 0, Step::Propose), vec![arm(0)]),
            // The verdict arrives within the second timeout: lines 22–27 as usual.
            (
                checked(1, 0, b, true),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 0,
                        block: Some(b),
                    },
                ],
            ),
            (timeout(1, 0, Step::Propose), vec![]),
        ],
    );
}

#[test]
fn a_proposal_whose_check_never_ends_is_prevoted_nil_after_the_second_timeout() {
    let k = keys(4);
    let b = block(7);
    let mut c = core(&k, 0, SigningState::default());
    run_table(
        &mut c,
        vec![
            (
                start(1, &k),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Propose,
                    ms: 1000,
                }],
            ),
            (propose(&k[1], 1, 0, b, None), vec![Out::Check(b)]),
            (
                timeout(1, 0, Step::Propose),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Propose,
                    ms: 1000,
                }],
            ),
            (
                timeout(1, 0, Step::Propose),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 0,
                        block: None,
                    },
                ],
            ),
            // A late verdict changes nothing: the step is prevote.
            (checked(1, 0, b, true), vec![]),
        ],
    );
}
