//! Evidence of equivocation checks on its own: genuine pairs hold, anything else does not.

use crate::common::*;
use couponchain_chain::block::{VoteData, VoteKind};
use couponchain_consensus::{ConsensusError, Equivocation, Proposal, SignedProposal, SignedVote};

fn vote(round: u32, kind: VoteKind, block: Option<u8>) -> VoteData {
    VoteData {
        chain_id: CHAIN.into(),
        height: 7,
        round,
        kind,
        block: block.map(crate::common::block),
    }
}

fn proposal(block: u8, valid_round: Option<u32>) -> Proposal {
    Proposal {
        chain_id: CHAIN.into(),
        height: 7,
        round: 1,
        block: crate::common::block(block),
        valid_round,
    }
}

fn bad(e: &Equivocation) -> String {
    match e.verify() {
        Err(ConsensusError::BadEvidence(why)) => why,
        other => panic!("expected BadEvidence, got {other:?}"),
    }
}

#[test]
fn conflicting_votes_and_proposals_by_one_key_are_proof() {
    let k = keys(2);
    let prevote = |b| SignedVote::sign(vote(1, VoteKind::Prevote, b), &k[0]);
    let e = Equivocation::Vote {
        first: prevote(Some(1)),
        second: prevote(None),
    };
    assert_eq!(e.verify(), Ok(()));
    assert_eq!(
        (e.offender(), e.height(), e.round(), e.kind()),
        (k[0].public(), 7, 1, "vote")
    );
    // One equivocation, one encoding, whichever message came first.
    let swapped = Equivocation::Vote {
        first: prevote(None),
        second: prevote(Some(1)),
    };
    assert_eq!(swapped.clone().canonical(), e.clone().canonical());
    assert_eq!(swapped.canonical().verify(), Ok(()));
    let e = Equivocation::Proposal {
        first: SignedProposal::sign(proposal(1, None), &k[0]),
        second: SignedProposal::sign(proposal(1, Some(0)), &k[0]),
    };
    assert_eq!(e.verify(), Ok(()));
}

#[test]
fn pairs_that_prove_nothing_are_refused_with_the_reason() {
    let k = keys(2);
    let signed = |v, key| SignedVote::sign(v, &k[key]);
    let a = signed(vote(1, VoteKind::Prevote, Some(1)), 0);
    let cases = [
        (
            signed(vote(1, VoteKind::Prevote, None), 1),
            "different signers",
        ),
        (signed(vote(2, VoteKind::Prevote, None), 0), "not for one"),
        (signed(vote(1, VoteKind::Precommit, None), 0), "not for one"),
        (a.clone(), "the same thing"),
    ];
    for (second, why) in cases {
        let e = Equivocation::Vote {
            first: a.clone(),
            second,
        };
        assert!(bad(&e).contains(why), "{why}: {}", bad(&e));
    }
    // A forged second message: the other block, under the first one's signature.
    let mut forged = signed(vote(1, VoteKind::Prevote, None), 0);
    forged.signature = a.signature;
    let e = Equivocation::Vote {
        first: a,
        second: forged,
    };
    assert!(bad(&e).contains("signature"));
    let mut forged = SignedProposal::sign(proposal(2, None), &k[0]);
    forged.signature = SignedProposal::sign(proposal(1, None), &k[0]).signature;
    let e = Equivocation::Proposal {
        first: SignedProposal::sign(proposal(1, None), &k[0]),
        second: forged,
    };
    assert!(bad(&e).contains("signature"));
}
