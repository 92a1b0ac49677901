//! Genesis, block validation, replication, queries and proofs on a real RocksDB ledger.

use couponchain_chain::smt::{self, Chunk, ChunkPos};
use couponchain_chain::tx::{campaign_id, coupon_id, Recipient, TxBody};
use couponchain_chain::{BearerCode, Hash, SignedTransaction};
use couponchain_runtime::testkit::{self, Actors, T0};
use couponchain_runtime::{Event, Record, RuntimeError, SignatureCheck, StateKey};
use couponchain_storage::{Ledger, LedgerOptions, PreparedBlock, StorageError};
use std::collections::BTreeMap;

fn open(dir: &tempfile::TempDir, a: &Actors) -> Ledger {
    Ledger::open(dir.path(), &a.genesis(), LedgerOptions::default()).unwrap()
}

fn now(l: &Ledger) -> u64 {
    T0 + (l.head().height + 1) * 1000
}

fn propose(l: &Ledger, a: &Actors, txs: Vec<SignedTransaction>) -> PreparedBlock {
    l.prepare_proposal(
        txs,
        now(l),
        a.validators[0].public(),
        SignatureCheck::Verify,
    )
    .unwrap()
}

fn commit(l: &Ledger, a: &Actors, txs: Vec<SignedTransaction>) -> couponchain_chain::Block {
    let p = propose(l, a, txs);
    let block = p.block.clone();
    l.commit(p, None).unwrap();
    block
}

/// Creates a campaign and issues `n` coupons round-robin to the first holders.
fn seed(l: &Ledger, a: &Actors, n: usize) -> (Hash, Vec<Hash>) {
    let create = testkit::sign(
        &a.issuer,
        1,
        now(l),
        TxBody::CreateCampaign(testkit::spec("c")),
    );
    let campaign = campaign_id(&create.id());
    commit(l, a, vec![create]);
    let recipients = (0..n)
        .map(|i| Recipient {
            owner: a.holders[i % a.holders.len()].public(),
            bearer: false,
        })
        .collect();
    let issue = testkit::sign(
        &a.issuer,
        2,
        now(l),
        TxBody::IssueCoupons {
            campaign,
            recipients,
        },
    );
    let id = issue.id();
    commit(l, a, vec![issue]);
    (campaign, (0..n).map(|i| coupon_id(&id, i as u32)).collect())
}

#[test]
fn genesis_is_created_once_and_checked_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = Actors::new(4, 2);
    let head = open(&dir, &a).head();
    assert_eq!(head.height, 0);
    assert!(!head.state_root.is_zero());
    let g = open(&dir, &a).head();
    assert_eq!(g, head);
    let mut other = a.genesis();
    other.admins.clear();
    match Ledger::open(dir.path(), &other, LedgerOptions::default()) {
        Err(StorageError::GenesisMismatch { .. }) => {}
        r => panic!("expected GenesisMismatch, got {r:?}"),
    }
    other = a.genesis();
    other.chain_id = "another".into();
    match Ledger::open(dir.path(), &other, LedgerOptions::default()) {
        Err(StorageError::WrongChain { .. }) => {}
        r => panic!("expected WrongChain, got {r:?}"),
    }
    let mut bad = a.genesis();
    bad.validators.clear();
    let dir2 = tempfile::tempdir().unwrap();
    assert!(Ledger::open(dir2.path(), &bad, LedgerOptions::default()).is_err());
}

#[test]
fn a_replica_applies_the_proposers_blocks_to_the_same_roots() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Actors::new(1, 4);
    let (leader, replica) = (open(&d1, &a), open(&d2, &a));
    let (_, coupons) = seed(&leader, &a, 10);
    let redeem = testkit::redeem(&a.site, &a.holders[0], coupons[0], 1, 0, 9, now(&leader));
    let double = testkit::redeem(&a.site, &a.holders[0], coupons[0], 1, 0, 10, now(&leader));
    commit(&leader, &a, vec![redeem, double]);
    for h in 1..=leader.head().height {
        let block = leader.block(h).unwrap().unwrap();
        let p = replica
            .prepare_block(block, SignatureCheck::Verify)
            .unwrap();
        replica.commit(p, None).unwrap();
        assert_eq!(replica.head(), {
            let b = leader.block(h).unwrap().unwrap();
            couponchain_storage::Head {
                height: h,
                hash: b.hash(),
                state_root: b.header.state_root,
                time_ms: b.header.time_ms,
            }
        });
    }
    // The race resolved the same way on both: first applied, second refused.
    let r = replica.receipts(3).unwrap();
    assert!(r[0].is_applied());
    assert!(
        matches!(&r[1].outcome, couponchain_runtime::Outcome::Refused { code, .. } if code == "stale_authorization" || code == "already_spent")
    );
}

#[test]
fn invalid_blocks_are_refused_with_the_reason() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Actors::new(1, 2);
    let (leader, replica) = (open(&d1, &a), open(&d2, &a));
    let create = testkit::sign(
        &a.issuer,
        1,
        now(&leader),
        TxBody::CreateCampaign(testkit::spec("c")),
    );
    let good = propose(&leader, &a, vec![create]).block;

    let mut b = good.clone();
    b.header.state_root.0[0] ^= 1;
    assert!(matches!(
        replica.prepare_block(b, SignatureCheck::Verify),
        Err(StorageError::HeaderMismatch {
            field: "state_root",
            ..
        })
    ));
    let mut b = good.clone();
    b.header.parent.0[0] ^= 1;
    assert!(matches!(
        replica.prepare_block(b, SignatureCheck::Verify),
        Err(StorageError::WrongParent { .. })
    ));
    let mut b = good.clone();
    b.header.height = 5;
    assert!(matches!(
        replica.prepare_block(b, SignatureCheck::Verify),
        Err(StorageError::NotNext { .. })
    ));
    let mut b = good.clone();
    b.header.time_ms = T0 - 1;
    assert!(matches!(
        replica.prepare_block(b, SignatureCheck::Verify),
        Err(StorageError::TimeWentBack { .. })
    ));
    let mut b = good.clone();
    b.txs[0].tx.nonce += 1; // body no longer matches the header's tx root
    assert!(matches!(
        replica.prepare_block(b, SignatureCheck::Verify),
        Err(StorageError::Chain(_))
    ));
    let mut b = good.clone();
    b.txs[0].signature.0[5] ^= 1;
    b.header.tx_root = couponchain_chain::block::tx_root(&[b.txs[0].id()]);
    match replica.prepare_block(b, SignatureCheck::Verify) {
        Err(StorageError::Runtime(RuntimeError::InvalidBlockTx { index: 0, error })) => {
            assert!(matches!(*error, RuntimeError::BadSignature { .. }))
        }
        r => panic!("expected a bad-signature refusal, got {r:?}"),
    }
    let mut b = good.clone();
    b.header.validators_hash.0[0] ^= 1;
    assert!(matches!(
        replica.prepare_block(b, SignatureCheck::Verify),
        Err(StorageError::HeaderMismatch {
            field: "validators_hash",
            ..
        })
    ));
    // Nothing above changed the replica; the good block still applies.
    assert_eq!(replica.head().height, 0);
    let p = replica.prepare_block(good, SignatureCheck::Verify).unwrap();
    replica.commit(p, None).unwrap();
    assert_eq!(replica.head().height, 1);
}

#[test]
fn a_prepared_block_goes_stale_when_the_head_moves() {
    let d = tempfile::tempdir().unwrap();
    let a = Actors::new(1, 2);
    let l = open(&d, &a);
    let p1 = propose(&l, &a, vec![]);
    let p2 = propose(&l, &a, vec![]);
    l.commit(p1, None).unwrap();
    assert!(matches!(
        l.commit(p2, None),
        Err(StorageError::StalePrepared { .. })
    ));
}

#[test]
fn replays_across_blocks_make_a_block_invalid() {
    let d = tempfile::tempdir().unwrap();
    let a = Actors::new(1, 2);
    let l = open(&d, &a);
    let create = testkit::sign(
        &a.issuer,
        1,
        now(&l),
        TxBody::CreateCampaign(testkit::spec("c")),
    );
    commit(&l, &a, vec![create.clone()]);
    match l.prepare_proposal(
        vec![create],
        now(&l),
        a.validators[0].public(),
        SignatureCheck::Verify,
    ) {
        Err(StorageError::Runtime(RuntimeError::InvalidBlockTx { error, .. })) => {
            assert!(matches!(*error, RuntimeError::Replay(_)))
        }
        r => panic!("expected a replay refusal, got {r:?}"),
    }
}

#[test]
fn queries_answer_from_the_indexes() {
    let d = tempfile::tempdir().unwrap();
    let a = Actors::new(1, 3);
    let l = open(&d, &a);
    let (campaign, coupons) = seed(&l, &a, 30);
    // Transfer coupon 0 from holder 0 to holder 1, then redeem it.
    let t = testkit::sign(
        &a.holders[0],
        7,
        now(&l),
        TxBody::Transfer {
            coupon: coupons[0],
            to: a.holders[1].public(),
        },
    );
    let t_id = t.id();
    commit(&l, &a, vec![t]);
    let r = testkit::redeem(&a.site, &a.holders[1], coupons[0], 1, 0, 8, now(&l));
    commit(&l, &a, vec![r]);

    let view = l.coupon(&coupons[0]).unwrap().unwrap();
    assert_eq!(view.coupon.owner, a.holders[1].public());
    assert_eq!(view.campaign.id, campaign);
    let kinds: Vec<&str> = view
        .history
        .iter()
        .map(|h| match h.event {
            Event::CouponIssued { .. } => "issued",
            Event::CouponTransferred { .. } => "transferred",
            Event::CouponRedeemed { .. } => "redeemed",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["issued", "transferred", "redeemed"]);
    assert_eq!(view.history[1].tx, t_id);
    assert!(l.coupon(&Hash([9; 32])).unwrap().is_none());

    // Holder 0 had coupons 0,3,6,...,27 (10) and gave one away; page through them by 4.
    let h0 = a.holders[0].public();
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = l.coupons_of(&h0, after.as_ref(), 4).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        after = Some(page.last().unwrap().id);
        all.extend(page);
    }
    assert_eq!(all.len(), 9);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert!(all.iter().all(|c| c.owner == h0));
    assert_eq!(
        l.coupons_of(&a.holders[1].public(), None, 100)
            .unwrap()
            .len(),
        11
    );

    let c = l.campaign(&campaign).unwrap().unwrap();
    assert_eq!(
        (c.stats.issued, c.stats.spent, c.stats.redemptions),
        (30, 1, 1)
    );
    assert_eq!(l.campaigns_of(&a.issuer.public(), 10).unwrap().len(), 1);
    assert!(l.campaigns_of(&a.issuer2.public(), 10).unwrap().is_empty());

    let tx = l.tx(&t_id).unwrap().unwrap();
    assert_eq!((tx.height, tx.index), (3, 0));
    assert!(tx.receipt.is_applied());
    assert!(l.tx(&Hash([1; 32])).unwrap().is_none());

    let headers = l.headers(1, 10).unwrap();
    assert_eq!(headers.len(), 4);
    assert!(headers.windows(2).all(|w| w[1].parent == w[0].hash()));
    assert_eq!(l.block_height(&headers[2].hash()).unwrap(), Some(3));
    assert_eq!(l.receipts(4).unwrap().len(), 1);
    assert!(l.block(99).unwrap().is_none());
}

#[test]
fn proofs_from_the_ledger_verify_against_the_header() {
    let d = tempfile::tempdir().unwrap();
    let a = Actors::new(1, 3);
    let l = open(&d, &a);
    let (_, coupons) = seed(&l, &a, 500);
    let code = BearerCode::from_bytes([3; 16]);
    for c in coupons.iter().take(50) {
        let p = l.prove(StateKey::Coupon(*c)).unwrap();
        assert!(p.present);
        assert_eq!(p.header, l.block(l.head().height).unwrap().unwrap().header);
        p.proof
            .verify(&p.header.state_root, &p.key, Some(&p.value))
            .unwrap();
        match Record::decode(&p.value).unwrap() {
            Record::Coupon(r) => assert_eq!(r.id, *c),
            other => panic!("not a coupon: {other:?}"),
        }
    }
    for absent in [
        StateKey::Coupon(Hash([7; 32])),
        StateKey::Account(code.keypair().public()),
    ] {
        let p = l.prove(absent).unwrap();
        assert!(!p.present);
        p.proof.verify(&p.header.state_root, &p.key, None).unwrap();
        assert!(p
            .proof
            .verify(&p.header.state_root, &p.key, Some(b"x"))
            .is_err());
    }
}

/// The root RocksDB holds equals a tree built from scratch, in memory, from the same state.
#[test]
fn ledger_root_equals_an_in_memory_tree_of_the_same_state() {
    let d = tempfile::tempdir().unwrap();
    let a = Actors::new(1, 5);
    let l = open(&d, &a);
    let (_, coupons) = seed(&l, &a, 2000);
    let mut nonce = 100;
    for (i, c) in coupons.iter().enumerate().take(300) {
        nonce += 1;
        let tx = testkit::redeem(&a.site, &a.holders[i % 5], *c, 1, 0, nonce, now(&l));
        commit(&l, &a, vec![tx]);
    }
    // Rebuild the state map from the committed blocks' effects via re-execution.
    let top = l.head().height;
    replay(&l, &a, |h, block, state| {
        if h % 50 == 0 || h == top {
            let ups: Vec<_> = state
                .iter()
                .map(|(k, v)| (*k, Some(smt::value_hash(v))))
                .collect();
            let root = smt::apply_updates(&BTreeMap::<ChunkPos, Chunk>::new(), &ups).unwrap();
            assert_eq!(root.root, block.header.state_root, "height {h}");
        }
    });
}

/// The two-stage pipeline: a staged block is the tip for execution but invisible to
/// queries until written; only one may be in flight.
#[test]
fn a_staged_block_is_the_tip_for_execution_but_not_final_until_written() {
    let d = tempfile::tempdir().unwrap();
    let a = Actors::new(1, 2);
    let l = open(&d, &a);
    let create = testkit::sign(
        &a.issuer,
        1,
        now(&l),
        TxBody::CreateCampaign(testkit::spec("c")),
    );
    let campaign = campaign_id(&create.id());
    let p1 = propose(&l, &a, vec![create.clone()]);
    let staged1 = l.stage(p1, None).unwrap();
    // Not final: queries do not see it.
    assert_eq!(l.head().height, 0);
    assert_eq!(l.tip().height, 1);
    assert!(l.campaign(&campaign).unwrap().is_none());
    assert!(l.tx(&create.id()).unwrap().is_none());
    // The next block executes on top of it: issuing into the staged campaign works, and
    // replaying the staged transaction is refused.
    let t = T0 + 2000;
    let issue = testkit::sign(
        &a.issuer,
        2,
        t,
        TxBody::IssueCoupons {
            campaign,
            recipients: vec![Recipient {
                owner: a.holders[0].public(),
                bearer: false,
            }],
        },
    );
    let p2 = l
        .prepare_proposal(
            vec![issue],
            t,
            a.validators[0].public(),
            SignatureCheck::Verify,
        )
        .unwrap();
    assert!(p2.receipts()[0].is_applied(), "{:?}", p2.receipts()[0]);
    assert_eq!(p2.block.header.height, 2);
    match l.prepare_proposal(
        vec![create.clone()],
        t,
        a.validators[0].public(),
        SignatureCheck::Verify,
    ) {
        Err(StorageError::Runtime(RuntimeError::InvalidBlockTx { error, .. })) => {
            assert!(matches!(*error, RuntimeError::Replay(_)))
        }
        r => panic!("a staged transaction replayed: {r:?}"),
    }
    // Only one block in flight.
    let p2b = l
        .prepare_proposal(vec![], t, a.validators[0].public(), SignatureCheck::Verify)
        .unwrap();
    assert!(matches!(
        l.stage(p2b, None),
        Err(StorageError::PipelineBusy { height: 1 })
    ));
    // Written: final and visible; then the block built on the tip stages and commits.
    let receipts = l.write_staged(staged1).unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(l.head().height, 1);
    assert!(l.campaign(&campaign).unwrap().is_some());
    l.commit(p2, None).unwrap();
    assert_eq!(l.head().height, 2);
    assert_eq!(l.campaign(&campaign).unwrap().unwrap().stats.issued, 1);
    // A replica applying the same blocks one by one reaches the same head.
    let d2 = tempfile::tempdir().unwrap();
    let r = open(&d2, &a);
    for h in 1..=2 {
        let p = r
            .prepare_block(l.block(h).unwrap().unwrap(), SignatureCheck::Verify)
            .unwrap();
        r.commit(p, None).unwrap();
    }
    assert_eq!(r.head(), l.head());
}

#[test]
fn transactions_read_back_from_blob_files_after_reopen() {
    let d = tempfile::tempdir().unwrap();
    let a = Actors::new(1, 2);
    let ids: Vec<Hash> = {
        let l = open(&d, &a);
        let (campaign, _) = seed(&l, &a, 3);
        let more = testkit::sign(
            &a.issuer,
            3,
            now(&l),
            TxBody::IssueCoupons {
                campaign,
                recipients: vec![Recipient {
                    owner: a.holders[0].public(),
                    bearer: false,
                }],
            },
        );
        let id = more.id();
        commit(&l, &a, vec![more]);
        let mut ids: Vec<Hash> = (1..=l.head().height)
            .flat_map(|h| l.receipts(h).unwrap().into_iter().map(|r| r.tx))
            .collect();
        assert!(ids.contains(&id));
        // Nothing flushed yet: everything is in memtables.
        let s = l.storage_stats().unwrap();
        assert!(s.memtable_bytes > 0, "{s:?}");
        assert_eq!((s.live_sst_bytes, s.blob_bytes, s.level0_files), (0, 0, 0));
        ids.sort();
        ids
    };
    // Reopening flushes the recovered memtables: the transactions' values now live in
    // blob files, and reading them must give the same answers.
    let l = open(&d, &a);
    let blobs = std::fs::read_dir(d.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "blob"))
        })
        .count();
    assert!(blobs > 0, "no blob file written");
    // The storage gauges see the flushed tables and blob files.
    let s = l.storage_stats().unwrap();
    assert!(
        s.live_sst_bytes > 0 && s.blob_bytes > 0 && s.level0_files > 0,
        "{s:?}"
    );
    assert!(!s.writes_stopped, "{s:?}");
    for id in &ids {
        let tx = l.tx(id).unwrap().unwrap();
        assert_eq!(tx.tx.id(), *id);
        assert!(tx.receipt.is_applied());
    }
}

#[test]
fn evidence_survives_reopening_keeps_one_copy_per_id_and_lists_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let a = Actors::new(4, 2);
    let id = |n: u8| Hash([n; 32]);
    {
        let l = open(&dir, &a);
        assert!(l.evidence(10).unwrap().is_empty());
        l.put_evidence(7, &id(2), b"seven").unwrap();
        l.put_evidence(3, &id(1), b"three").unwrap();
        l.put_evidence(7, &id(2), b"seven").unwrap();
        l.put_evidence(9, &id(0), b"nine").unwrap();
    }
    let l = open(&dir, &a);
    let all = l.evidence(10).unwrap();
    let heights: Vec<u64> = all.iter().map(|e| e.height).collect();
    assert_eq!(heights, [3, 7, 9]);
    assert_eq!((all[1].id, all[1].bytes.as_slice()), (id(2), &b"seven"[..]));
    let newest: Vec<u64> = l.evidence(2).unwrap().iter().map(|e| e.height).collect();
    assert_eq!(newest, [7, 9]);
    l.delete_evidence(7, &id(2)).unwrap();
    let left: Vec<u64> = l.evidence(10).unwrap().iter().map(|e| e.height).collect();
    assert_eq!(left, [3, 9]);
}

/// Re-executes every committed block from genesis, calling `each` with the state after
/// each one; returns the last: the state the ledger should hold.
fn replay(
    l: &Ledger,
    a: &Actors,
    mut each: impl FnMut(u64, &couponchain_chain::Block, &BTreeMap<Hash, Vec<u8>>),
) -> BTreeMap<Hash, Vec<u8>> {
    let mut state: BTreeMap<Hash, Vec<u8>> = a.genesis().initial_state().unwrap();
    for h in 1..=l.head().height {
        let block = l.block(h).unwrap().unwrap();
        let ex = couponchain_runtime::execute_block(
            &state,
            block.header.context(),
            &block.txs,
            SignatureCheck::Verify,
        )
        .unwrap();
        for (k, v) in ex.changes {
            match v {
                Some(v) => state.insert(k, v),
                None => state.remove(&k),
            };
        }
        each(h, &block, &state);
    }
    state
}

fn follow(replica: &Ledger, leader: &Ledger, from: u64) {
    for h in from..=leader.head().height {
        let block = leader.block(h).unwrap().unwrap();
        let p = replica
            .prepare_block(block, SignatureCheck::Verify)
            .unwrap();
        replica.commit(p, None).unwrap();
    }
    assert_eq!(replica.head(), leader.head());
}

/// Warming loads every stored chunk when the cache is large enough (exactly the chunks of
/// the in-memory tree of the replayed state), only the top ones when it is not, and either
/// way blocks proposed afterwards reach the roots an unwarmed replica computes.
#[test]
fn a_warmed_tree_cache_holds_the_committed_chunks_and_blocks_still_agree() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Actors::new(1, 5);
    let mut nonce = 100;
    let coupons = {
        let (leader, replica) = (open(&d1, &a), open(&d2, &a));
        let (_, coupons) = seed(&leader, &a, 3000);
        for (i, coupon) in coupons.iter().enumerate().take(40) {
            nonce += 1;
            let tx = testkit::redeem(
                &a.site,
                &a.holders[i % 5],
                *coupon,
                1,
                0,
                nonce,
                now(&leader),
            );
            commit(&leader, &a, vec![tx]);
        }
        follow(&replica, &leader, 1);
        coupons
    };
    let expected = {
        let l = open(&d1, &a);
        let state = replay(&l, &a, |_, _, _| {});
        let ups: Vec<_> = state
            .iter()
            .map(|(k, v)| (*k, Some(smt::value_hash(v))))
            .collect();
        let tree = smt::apply_updates(&BTreeMap::<ChunkPos, Chunk>::new(), &ups).unwrap();
        assert_eq!(tree.root, l.head().state_root);
        let chunks: Vec<_> = tree.writes.iter().filter_map(|(_, c)| c.as_ref()).collect();
        let bytes: u64 = chunks.iter().map(|c| c.encode().len() as u64).sum();
        (chunks.len() as u64, bytes)
    };
    let mut next = 40;
    for cache_bytes in [256 << 20, 64 << 10] {
        let opts = LedgerOptions {
            tree_cache_bytes: cache_bytes,
            ..LedgerOptions::default()
        };
        let leader = Ledger::open(d1.path(), &a.genesis(), opts).unwrap();
        let warm = leader.warm_tree_cache().unwrap();
        if cache_bytes > 1 << 20 {
            assert!(warm.complete, "{warm:?}");
            assert_eq!((warm.chunks, warm.bytes), expected);
        } else {
            assert!(!warm.complete, "{warm:?}");
            assert!(warm.chunks > 17 && warm.chunks < expected.0, "{warm:?}");
            assert!(warm.bytes + warm.chunks * 80 <= (64 << 10), "{warm:?}");
        }
        let replica = open(&d2, &a);
        let from = leader.head().height + 1;
        for _ in 0..5 {
            let txs = (0..20)
                .map(|_| {
                    nonce += 1;
                    next += 1;
                    testkit::redeem(
                        &a.site,
                        &a.holders[next % 5],
                        coupons[next],
                        1,
                        0,
                        nonce,
                        now(&leader),
                    )
                })
                .collect();
            commit(&leader, &a, txs);
        }
        follow(&replica, &leader, from);
    }
}

/// Redeems `coupons[range]` in one block (`seed` gave coupon i to holder i mod 5) and
/// checks that every redemption applied.
fn redeem_block(
    l: &Ledger,
    a: &Actors,
    coupons: &[Hash],
    range: std::ops::Range<usize>,
    nonce: &mut u64,
) {
    let txs = range
        .map(|i| {
            *nonce += 1;
            testkit::redeem(&a.site, &a.holders[i % 5], coupons[i], 1, 0, *nonce, now(l))
        })
        .collect();
    commit(l, a, txs);
    let receipts = l.receipts(l.head().height).unwrap();
    assert!(receipts.iter().all(|r| r.is_applied()), "{receipts:?}");
}

/// A ledger that leaves its tree chunks to background checkpoints (a small threshold:
/// one every few blocks) reaches the same roots as one that writes them with each block,
/// and its proofs, served from chunks partly in memory, verify at every height.
#[test]
fn blocks_agree_whether_tree_chunks_are_written_per_block_or_by_checkpoints() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Actors::new(1, 5);
    let checkpoints = LedgerOptions {
        tree_flush_bytes: 16 << 10,
        ..LedgerOptions::default()
    };
    let per_block = LedgerOptions {
        tree_flush_bytes: 0,
        ..LedgerOptions::default()
    };
    let leader = Ledger::open(d1.path(), &a.genesis(), checkpoints).unwrap();
    let replica = Ledger::open(d2.path(), &a.genesis(), per_block).unwrap();
    let (_, coupons) = seed(&leader, &a, 2000);
    let mut nonce = 100;
    for b in 0..60 {
        redeem_block(&leader, &a, &coupons, b * 5..b * 5 + 5, &mut nonce);
        for c in [coupons[b * 5], coupons[1999]] {
            let p = leader.prove(StateKey::Coupon(c)).unwrap();
            assert_eq!(p.header.height, leader.head().height);
            p.proof
                .verify(&p.header.state_root, &p.key, Some(&p.value))
                .unwrap();
        }
    }
    let s = leader.storage_stats().unwrap();
    assert!(s.tree_checkpoints >= 3, "{s:?}");
    assert_eq!(s.tree_checkpoint_failures, 0, "{s:?}");
    assert!(s.tree_persisted_height >= 2, "{s:?}");
    follow(&replica, &leader, 1);
    let r = replica.storage_stats().unwrap();
    assert_eq!(r.tree_persisted_height, replica.head().height, "{r:?}");
    assert_eq!((r.tree_overlay_chunks, r.tree_checkpoints), (0, 0), "{r:?}");
}

/// An idle chain (blocks that change little, far below the byte threshold) still gets a
/// checkpoint every `tree_flush_blocks` blocks, so the journal read at every start stays
/// that short; and the chain reopens to the same head.
#[test]
fn an_idle_chain_checkpoints_by_block_count_and_its_journal_stays_short() {
    let dir = tempfile::tempdir().unwrap();
    let a = Actors::new(1, 5);
    let opts = LedgerOptions {
        tree_flush_bytes: 1 << 40,
        tree_flush_blocks: 4,
        ..LedgerOptions::default()
    };
    let head = {
        let l = Ledger::open(dir.path(), &a.genesis(), opts.clone()).unwrap();
        let (_, coupons) = seed(&l, &a, 10);
        let mut nonce = 100;
        for b in 0..30 {
            if b % 10 == 0 {
                redeem_block(&l, &a, &coupons, b / 10..b / 10 + 1, &mut nonce);
            } else {
                commit(&l, &a, vec![]);
            }
        }
        // Checkpoints run beside commits: keep committing empty blocks (at most 200) until
        // one has caught up with all but the last few.
        for _ in 0..200 {
            let s = l.storage_stats().unwrap();
            assert_eq!(s.tree_checkpoint_failures, 0, "{s:?}");
            if s.tree_checkpoints >= 5 && l.head().height - s.tree_persisted_height < 4 {
                break;
            }
            commit(&l, &a, vec![]);
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let s = l.storage_stats().unwrap();
        assert!(s.tree_checkpoints >= 5, "{s:?}");
        assert!(l.head().height - s.tree_persisted_height < 4, "{s:?}");
        l.head()
    };
    let names = couponchain_storage::tables::ALL.map(|t| t.name);
    {
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), names).unwrap();
        let journal = db
            .cf_handle(couponchain_storage::tables::TREE_JOURNAL.name)
            .unwrap();
        let entries = db
            .iterator_cf(journal, rocksdb::IteratorMode::Start)
            .count();
        assert!(entries < 4, "{entries} journal entries");
    }
    let l = Ledger::open(dir.path(), &a.genesis(), opts).unwrap();
    assert_eq!(l.head(), head);
}

/// Closing a ledger whose recent blocks' chunks were never checkpointed is what a crash
/// after their commits leaves: on reopening, the tree is recomputed from the journal and
/// the state, and blocks still agree with a replica. A journal with a block missing, or a
/// state that does not give the head's root, is refused with the reason.
#[test]
fn after_a_crash_the_tree_is_recomputed_from_the_journal_and_damage_is_refused() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Actors::new(1, 5);
    let never = LedgerOptions {
        tree_flush_bytes: 1 << 40,
        ..LedgerOptions::default()
    };
    let reopen = || Ledger::open(d1.path(), &a.genesis(), never.clone());
    let mut nonce = 100;
    let coupons = {
        let l = reopen().unwrap();
        let (_, coupons) = seed(&l, &a, 1000);
        for b in 0..20 {
            redeem_block(&l, &a, &coupons, b * 3..b * 3 + 3, &mut nonce);
        }
        let s = l.storage_stats().unwrap();
        assert_eq!(
            (s.tree_persisted_height, s.tree_checkpoints),
            (0, 0),
            "{s:?}"
        );
        assert!(s.tree_overlay_chunks > 300, "{s:?}");
        coupons
    };
    {
        let l = reopen().unwrap();
        let s = l.storage_stats().unwrap();
        assert_eq!(s.tree_persisted_height, l.head().height, "{s:?}");
        assert_eq!(s.tree_overlay_chunks, 0, "{s:?}");
        let p = l.prove(StateKey::Coupon(coupons[0])).unwrap();
        p.proof
            .verify(&p.header.state_root, &p.key, Some(&p.value))
            .unwrap();
        for b in 20..25 {
            redeem_block(&l, &a, &coupons, b * 3..b * 3 + 3, &mut nonce);
        }
        let replica = open(&d2, &a);
        follow(&replica, &l, 1);
    }
    let head = reopen().unwrap().head().height;
    // Damage the journal and the state with RocksDB itself, and put each back.
    let names = couponchain_storage::tables::ALL.map(|t| t.name);
    let raw = || rocksdb::DB::open_cf(&rocksdb::Options::default(), d1.path(), names).unwrap();
    {
        // Give the last blocks no checkpoint again: commit three more, then damage them.
        let l = reopen().unwrap();
        for b in 25..28 {
            redeem_block(&l, &a, &coupons, b * 3..b * 3 + 3, &mut nonce);
        }
    }
    let journal = couponchain_storage::tables::TREE_JOURNAL.name;
    let state = couponchain_storage::tables::STATE.name;
    let middle = (head + 2).to_be_bytes();
    let (entry, key, value) = {
        let db = raw();
        let j = db.cf_handle(journal).unwrap();
        let entry = db.get_cf(j, middle).unwrap().unwrap();
        db.delete_cf(j, middle).unwrap();
        let key = entry[..32].to_vec();
        let value = db
            .get_cf(db.cf_handle(state).unwrap(), &key)
            .unwrap()
            .unwrap();
        (entry, key, value)
    };
    match reopen() {
        Err(StorageError::Corrupt(m)) if m.contains("tree journal") => {}
        r => panic!("expected a tree journal error, got {r:?}"),
    }
    {
        let db = raw();
        db.put_cf(db.cf_handle(journal).unwrap(), middle, &entry)
            .unwrap();
        db.put_cf(db.cf_handle(state).unwrap(), &key, b"tampered")
            .unwrap();
    }
    match reopen() {
        Err(StorageError::Corrupt(m)) if m.contains("has root") => {}
        r => panic!("expected a root mismatch, got {r:?}"),
    }
    {
        let db = raw();
        db.put_cf(db.cf_handle(state).unwrap(), &key, &value)
            .unwrap();
    }
    let l = reopen().unwrap();
    assert_eq!(l.head().height, head + 3);
    assert_eq!(l.storage_stats().unwrap().tree_persisted_height, head + 3);
}
