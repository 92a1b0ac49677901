//! Signature checks as a batch of redemptions makes them: for 1,000 redemptions, 2,000
//! signatures, one site key and 1,000 holder keys; likewise for 200. The chain's batch check (cofactored, a key's terms summed)
//! next to ed25519-dalek's `verify_batch` (cofactorless, one term per signature) and to
//! single checks.
//!
//! `cargo bench -p couponchain-chain --bench sig`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark/test code

use couponchain_chain::crypto::verify::verify_one;
use couponchain_chain::crypto::{verify_batch, Keypair, PublicKey, Signature};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn benches(c: &mut Criterion) {
    // A block's batch, and an admission batch (the load generator submits 200 at a time).
    for txs in [1_000, 200] {
        group(c, txs);
    }
}

fn group(c: &mut Criterion, txs: usize) {
    let site = Keypair::from_seed("site");
    let holders: Vec<Keypair> = (0..txs)
        .map(|i| Keypair::from_seed(&format!("holder {i}")))
        .collect();
    let mut owned: Vec<(PublicKey, Vec<u8>, Signature)> = Vec::with_capacity(2 * txs);
    for (i, h) in holders.iter().enumerate() {
        let auth = format!("authorization {i}: redeem coupon {i:064x} at the site").into_bytes();
        let envelope =
            format!("envelope {i}: a redemption of {} bytes, give or take", 300).into_bytes();
        owned.push((h.public(), auth.clone(), h.sign(&auth)));
        owned.push((site.public(), envelope.clone(), site.sign(&envelope)));
    }
    let items: Vec<(PublicKey, &[u8], Signature)> = owned
        .iter()
        .map(|(k, m, s)| (*k, m.as_slice(), *s))
        .collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> = owned
        .iter()
        .map(|(k, _, _)| k.to_verifying_key().unwrap())
        .collect();
    let msgs: Vec<&[u8]> = owned.iter().map(|(_, m, _)| m.as_slice()).collect();
    let sigs: Vec<ed25519_dalek::Signature> = owned
        .iter()
        .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();

    let mut g = c.benchmark_group(format!("sig_{}", 2 * txs));
    g.throughput(Throughput::Elements(items.len() as u64));
    g.sample_size(20);
    g.bench_function("chain_verify_batch", |b| {
        b.iter(|| verify_batch(&items).unwrap())
    });
    g.bench_function("dalek_verify_batch", |b| {
        b.iter(|| ed25519_dalek::verify_batch(&msgs, &sigs, &keys).unwrap())
    });
    g.bench_function("chain_verify_one_each", |b| {
        b.iter(|| assert!(items.iter().all(|(k, m, s)| verify_one(k, m, s))))
    });
    g.finish();
}

criterion_group!(sig, benches);
criterion_main!(sig);
