//! The locking rules of Algorithm 1, table-driven: a validator locked on a block prevotes
//! nil for another one (lines 22–27) unless it sees a newer polka for it (lines 28–33),
//! re-proposes its valid value when it is the proposer (lines 14–15), and counts an
//! equivocating validator once per value and once in "any value" totals, beyond its bound
//! of values only for a value f + 1 validators voted for.

use crate::common::*;
use couponchain_chain::Hash;
use couponchain_consensus::{Consensus, Input, Output, SigningState, Step};

/// Validator 0 locks on `b` in round 0 of height 1 and sees nil precommits, so round 0
/// ends without a decision; returns with the core in round 1 (proposer: validator 2).
fn locked_in_round_0(b: Hash) -> (Vec<couponchain_chain::Keypair>, Consensus) {
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
            (prevote(&k[1], 1, 0, Some(b)), vec![]),
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
            (precommit(&k[1], 1, 0, None), vec![]),
            (
                precommit(&k[2], 1, 0, None),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Precommit,
                    ms: 300,
                }],
            ),
            (
                timeout(1, 0, Step::Precommit),
                vec![Out::Timeout {
                    round: 1,
                    step: Step::Propose,
                    ms: 1500,
                }],
            ),
        ],
    );
    assert_eq!(c.locked(), Some((0, b)));
    assert_eq!(c.valid(), Some((0, b)));
    (k, c)
}

#[test]
fn a_locked_validator_prevotes_nil_for_another_block() {
    let (b, other) = (block(1), block(2));
    let (k, mut c) = locked_in_round_0(b);
    run_table(
        &mut c,
        vec![
            (propose(&k[2], 1, 1, other, None), vec![Out::Check(other)]),
            // lines 23 and 26: valid, but lockedValue ≠ v and lockedRound ≠ −1
            (
                checked(1, 1, other, true),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 1,
                        block: None,
                    },
                ],
            ),
        ],
    );
    assert_eq!(c.locked(), Some((0, b)));
}

#[test]
fn a_locked_validator_prevotes_its_locked_block_again() {
    let b = block(1);
    let (k, mut c) = locked_in_round_0(b);
    run_table(
        &mut c,
        vec![(
            // already known valid: lines 22–24 fire at once
            propose(&k[2], 1, 1, b, Some(0)),
            vec![
                Out::Persist,
                Out::Prevote {
                    round: 1,
                    block: Some(b),
                },
            ],
        )],
    );
}

#[test]
fn a_newer_polka_unlocks_through_lines_28_to_33() {
    let (b, other) = (block(1), block(2));
    let (k, mut c) = locked_in_round_0(b);
    run_table(
        &mut c,
        vec![
            // we miss round 1's proposal; others prevote `other`
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
            (prevote(&k[1], 1, 1, Some(other)), vec![]),
            (
                prevote(&k[2], 1, 1, Some(other)),
                vec![Out::Timeout {
                    round: 1,
                    step: Step::Prevote,
                    ms: 600,
                }],
            ),
            (prevote(&k[3], 1, 1, Some(other)), vec![]),
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
            (precommit(&k[1], 1, 1, None), vec![]),
            (
                precommit(&k[2], 1, 1, None),
                vec![Out::Timeout {
                    round: 1,
                    step: Step::Precommit,
                    ms: 400,
                }],
            ),
            (
                timeout(1, 1, Step::Precommit),
                vec![Out::Timeout {
                    round: 2,
                    step: Step::Propose,
                    ms: 2000,
                }],
            ),
            // round 2: validator 3 re-proposes `other` with valid round 1
            (
                propose(&k[3], 1, 2, other, Some(1)),
                vec![Out::Check(other)],
            ),
            // lockedRound 0 ≤ vr 1: prevote `other`
            (
                checked(1, 2, other, true),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 2,
                        block: Some(other),
                    },
                ],
            ),
        ],
    );
    assert_eq!(c.locked(), Some((0, b)), "prevoting does not move the lock");
}

#[test]
fn a_proposal_with_a_valid_round_waits_for_its_polka() {
    let (b, other) = (block(1), block(2));
    let (k, mut c) = locked_in_round_0(b);
    run_table(
        &mut c,
        vec![
            // claims a polka in round 0 for `other` that we never saw: no prevote yet
            (
                propose(&k[2], 1, 1, other, Some(0)),
                vec![Out::Check(other)],
            ),
            (checked(1, 1, other, true), vec![]),
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
        ],
    );
}

#[test]
fn the_proposer_re_proposes_its_valid_value() {
    let b = block(1);
    let (k, mut c) = locked_in_round_0(b);
    // f+1 messages from round 3 (proposer: validator 0, us) make us skip there (line 55).
    c.handle(prevote(&k[1], 1, 3, None));
    let outs = c.handle(prevote(&k[2], 1, 3, None));
    assert_eq!(
        view(&outs),
        vec![
            Out::Persist,
            Out::Proposal {
                round: 3,
                block: b,
                vr: Some(0)
            },
            Out::Timeout {
                round: 3,
                step: Step::Propose,
                ms: 2500
            },
            Out::Persist,
            Out::Prevote {
                round: 3,
                block: Some(b)
            },
            Out::Timeout {
                round: 3,
                step: Step::Prevote,
                ms: 1000
            },
        ]
    );
}

#[test]
fn an_equivocator_is_reported_and_counted_once_per_value() {
    let k = keys(4);
    let (b, other) = (block(1), block(2));
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
            (propose(&k[1], 1, 0, other, None), vec![Out::Check(other)]),
            (propose(&k[1], 1, 0, b, None), vec![Out::Evidence]),
            (
                checked(1, 0, other, true),
                vec![
                    Out::Persist,
                    Out::Prevote {
                        round: 0,
                        block: Some(other),
                    },
                ],
            ),
            (precommit(&k[1], 1, 0, Some(b)), vec![]),
            (precommit(&k[1], 1, 0, Some(other)), vec![Out::Evidence]),
            (precommit(&k[1], 1, 0, None), vec![]),
            (precommit(&k[1], 1, 0, Some(other)), vec![]),
            // k[1] counts once towards "any value": 2 distinct precommitters, no timeout;
            // and once towards `other`: 2 of 3.
            (precommit(&k[2], 1, 0, Some(other)), vec![]),
            (
                precommit(&k[3], 1, 0, Some(other)),
                vec![Out::Commit {
                    round: 0,
                    block: other,
                }],
            ),
        ],
    );
    assert_eq!(c.decision(), Some(other));
    assert_eq!(c.stats().equivocations, 3);
    assert_eq!(c.stats().duplicates, 1);
    // The evidence carries both signed votes.
    let mut c2 = core(&k, 0, SigningState::default());
    c2.handle(start(1, &k));
    c2.handle(precommit(&k[1], 1, 0, Some(b)));
    let outs = c2.handle(precommit(&k[1], 1, 0, Some(other)));
    let Some(Output::Evidence(couponchain_consensus::Equivocation::Vote { first, second })) =
        outs.first()
    else {
        panic!("no vote evidence: {outs:?}")
    };
    assert_eq!(
        (first.vote.block, second.vote.block),
        (Some(b), Some(other))
    );
    assert_eq!(first.signer, k[1].public());
    let _ = Input::Vote(second.clone());
}

/// An equivocator that sends four other values first cannot hide its vote for a value
/// f + 1 validators voted for: it still completes the polka (lines 36–43), else this
/// validator would miss a polka another one locked on (found by the simulation).
#[test]
fn an_equivocators_vote_beyond_its_bound_counts_for_a_widely_voted_value() {
    let k = keys(4);
    let b = block(1);
    let mut c = core(&k, 0, SigningState::default());
    prevote_for(&mut c, &k, b);
    run_table(&mut c, junk_from_k1(&k, &[2, 3, 4, 5]));
    run_table(
        &mut c,
        vec![
            (
                prevote(&k[2], 1, 0, Some(b)),
                vec![Out::Timeout {
                    round: 0,
                    step: Step::Prevote,
                    ms: 400,
                }],
            ),
            // b has 2 = f + 1 votes: k[1]'s fifth value counts, and completes the polka.
            (prevote(&k[1], 1, 0, Some(b)), polka_precommit(b)),
        ],
    );
    assert_eq!(c.locked(), Some((0, b)));
}

/// Arriving before its value has f + 1 votes, such a vote waits aside and counts once the
/// value gets them (found by the simulation); beyond that second bound it is dropped.
#[test]
fn an_equivocators_early_vote_beyond_its_bound_counts_once_its_value_is_widely_voted() {
    let k = keys(4);
    let b = block(1);
    let mut c = core(&k, 0, SigningState::default());
    prevote_for(&mut c, &k, b);
    let mut table = junk_from_k1(&k, &[2, 3, 4, 5]);
    table.push((prevote(&k[1], 1, 0, Some(b)), vec![]));
    let mut done = vec![Out::Timeout {
        round: 0,
        step: Step::Prevote,
        ms: 400,
    }];
    done.extend(polka_precommit(b));
    table.push((prevote(&k[2], 1, 0, Some(b)), done));
    run_table(&mut c, table);
    assert_eq!(c.locked(), Some((0, b)));

    // Four counted and four kept-aside values later, the vote for b is dropped: no polka.
    let mut c = core(&k, 0, SigningState::default());
    prevote_for(&mut c, &k, b);
    let mut table = junk_from_k1(&k, &[2, 3, 4, 5, 6, 7, 8, 9]);
    table.push((prevote(&k[1], 1, 0, Some(b)), vec![]));
    table.push((
        prevote(&k[2], 1, 0, Some(b)),
        vec![Out::Timeout {
            round: 0,
            step: Step::Prevote,
            ms: 400,
        }],
    ));
    run_table(&mut c, table);
    assert_eq!(c.locked(), None);
}

/// Height 1, round 0 from validator 0's side: k[1] proposes `b`, valid, prevoted.
fn prevote_for(c: &mut Consensus, k: &[couponchain_chain::Keypair], b: Hash) {
    c.handle(start(1, k));
    c.handle(propose(&k[1], 1, 0, b, None));
    let outs = c.handle(checked(1, 0, b, true));
    assert!(view(&outs).contains(&Out::Prevote {
        round: 0,
        block: Some(b),
    }));
}

/// k[1] prevotes each of `blocks` in round 0 (evidence with the second).
fn junk_from_k1(k: &[couponchain_chain::Keypair], blocks: &[u8]) -> Vec<(Input, Vec<Out>)> {
    blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let out = if i == 1 { vec![Out::Evidence] } else { vec![] };
            (prevote(&k[1], 1, 0, Some(block(*b))), out)
        })
        .collect()
}

fn polka_precommit(b: Hash) -> Vec<Out> {
    vec![
        Out::Persist,
        Out::Precommit {
            round: 0,
            block: Some(b),
        },
    ]
}
