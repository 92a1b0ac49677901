//! Ledger benchmarks with 1 million coupons in state (issue #2's targets):
//! - validate, apply and commit a block of 10,000 redemptions (signatures batch-verified);
//! - one coupon's proof: size, generation and verification;
//! - the state-root update for 10,000 changed keys.
//!
//! `cargo bench -p couponchain-storage --bench ledger` (set COUPONS to change the state size).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark/test code

use couponchain_chain::tx::{coupon_id, Recipient, TxBody};
use couponchain_chain::{Hash, SignedTransaction};
use couponchain_runtime::testkit::{self, Actors, T0};
use couponchain_runtime::{SignatureCheck, StateKey};
use couponchain_storage::{Ledger, LedgerOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

const BLOCK_TXS: usize = 10_000;
const HOLDERS: usize = 1000;

struct Setup {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    actors: Actors,
    /// (coupon, holder index), not yet redeemed.
    fresh: Vec<(Hash, usize)>,
    nonce: u64,
    campaign: Hash,
}

impl Setup {
    fn now(&self) -> u64 {
        T0 + (self.ledger.head().height + 1) * 1000
    }

    /// Issues `n` more coupons (≤ 10,000) in one block, spread over the holders.
    fn issue(&mut self, n: usize) {
        let base = self.fresh.len() + self.nonce as usize;
        let recipients: Vec<Recipient> = (0..n)
            .map(|i| Recipient {
                owner: self.actors.holders[(base + i) % HOLDERS].public(),
                bearer: false,
            })
            .collect();
        self.nonce += 1;
        let tx = testkit::sign(
            &self.actors.issuer,
            self.nonce,
            self.now(),
            TxBody::IssueCoupons {
                campaign: self.campaign,
                recipients,
            },
        );
        let id = tx.id();
        self.fresh
            .extend((0..n).map(|i| (coupon_id(&id, i as u32), (base + i) % HOLDERS)));
        self.commit(vec![tx]);
    }

    fn commit(&mut self, txs: Vec<SignedTransaction>) {
        let now = self.now();
        let p = self
            .ledger
            .prepare_proposal(
                txs,
                now,
                self.actors.validators[0].public(),
                SignatureCheck::Verify,
            )
            .unwrap();
        assert!(
            p.receipts().iter().all(|r| r.is_applied()),
            "setup tx refused"
        );
        self.ledger.commit(p, None).unwrap();
    }
}

fn setup() -> Setup {
    let coupons: usize = std::env::var("COUPONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let actors = Actors::new(1, HOLDERS);
    let ledger = Ledger::open(dir.path(), &actors.genesis(), LedgerOptions::default()).unwrap();
    let mut spec = testkit::spec("bench");
    spec.max_supply = u64::MAX;
    let create = testkit::sign(&actors.issuer, 0, T0 + 1000, TxBody::CreateCampaign(spec));
    let campaign = couponchain_chain::tx::campaign_id(&create.id());
    let mut s = Setup {
        _dir: dir,
        ledger,
        actors,
        fresh: Vec::new(),
        nonce: 0,
        campaign,
    };
    s.commit(vec![create]);
    let started = Instant::now();
    let mut issued = 0;
    while issued < coupons {
        let n = (coupons - issued).min(10_000);
        s.issue(n);
        issued += n;
    }
    eprintln!(
        "setup: {issued} coupons in {} blocks, {:.1} s",
        s.ledger.head().height,
        started.elapsed().as_secs_f64()
    );
    s
}

fn redeem_block(s: &mut Setup) -> Vec<SignedTransaction> {
    while s.fresh.len() < BLOCK_TXS {
        s.issue(10_000);
    }
    let now = s.now();
    let take: Vec<(Hash, usize)> = s.fresh.drain(..BLOCK_TXS).collect();
    take.into_iter()
        .map(|(coupon, holder)| {
            s.nonce += 1;
            testkit::redeem(
                &s.actors.site,
                &s.actors.holders[holder],
                coupon,
                1,
                0,
                s.nonce,
                now,
            )
        })
        .collect()
}

/// Prints where one block's time goes: signatures, execution, tree, commit.
fn breakdown(s: &mut Setup) {
    for _ in 0..3 {
        let txs = redeem_block(s);
        let now = s.now();
        let t = Instant::now();
        let refs: Vec<&SignedTransaction> = txs.iter().collect();
        couponchain_runtime::verify_signatures(&refs).unwrap();
        let sigs = t.elapsed();
        let known = |_: &couponchain_chain::TxId, _: &SignedTransaction| true;
        let t = Instant::now();
        let ctx = couponchain_chain::BlockContext {
            height: s.ledger.head().height + 1,
            time_ms: now,
        };
        couponchain_runtime::execute_block(&s.ledger, ctx, &txs, SignatureCheck::Cached(&known))
            .unwrap();
        let execute = t.elapsed();
        let t = Instant::now();
        let p = s
            .ledger
            .prepare_proposal(
                txs,
                now,
                s.actors.validators[0].public(),
                SignatureCheck::Cached(&known),
            )
            .unwrap();
        let prepare = t.elapsed();
        let t = Instant::now();
        s.ledger.commit(p, None).unwrap();
        let commit = t.elapsed();
        eprintln!(
            "breakdown of a {BLOCK_TXS}-redemption block: signatures {:.0} ms, execute {:.0} ms (again, warm:) execute+tree {:.0} ms, commit {:.0} ms",
            sigs.as_secs_f64() * 1e3,
            execute.as_secs_f64() * 1e3,
            prepare.as_secs_f64() * 1e3,
            commit.as_secs_f64() * 1e3
        );
    }
}

fn benches(c: &mut Criterion) {
    let mut s = setup();
    breakdown(&mut s);
    let mut g = c.benchmark_group("ledger_1m");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(10));
    g.throughput(criterion::Throughput::Elements(BLOCK_TXS as u64));

    g.bench_function("validate_apply_commit_10k_redeems", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let txs = redeem_block(&mut s);
                let now = s.now();
                let t = Instant::now();
                let p = s
                    .ledger
                    .prepare_proposal(
                        txs,
                        now,
                        s.actors.validators[0].public(),
                        SignatureCheck::Verify,
                    )
                    .unwrap();
                s.ledger.commit(p, None).unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();

    let mut g = c.benchmark_group("proof_1m");
    s.issue(10);
    let (coupon, _) = s.fresh[0];
    let proven = s.ledger.prove(StateKey::Coupon(coupon)).unwrap();
    let root = proven.header.state_root;
    let key = StateKey::Coupon(coupon).hash();
    eprintln!(
        "proof: {} bytes encoded, {} siblings, depth {} bits",
        proven.proof.encoded_len(),
        proven.proof.siblings.len(),
        proven.proof.depth_bits
    );
    g.bench_function("prove_coupon", |b| {
        b.iter(|| s.ledger.prove(StateKey::Coupon(coupon)).unwrap())
    });
    g.bench_function("verify_coupon_proof", |b| {
        b.iter(|| {
            proven
                .proof
                .verify(&root, &key, Some(&proven.value))
                .unwrap()
        })
    });
    let absent = StateKey::Coupon(Hash([0xee; 32]));
    let absent_proof = s.ledger.prove(absent).unwrap();
    g.bench_function("verify_absence_proof", |b| {
        b.iter(|| {
            absent_proof
                .proof
                .verify(&root, &absent.hash(), None)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(ledger, benches);
criterion_main!(ledger);
