//! State-tree benchmarks with 1 million keys: the root update for 10,000 changed keys (the
//! algorithm alone, over an in-memory chunk store), proof generation and verification.
//!
//! `cargo bench -p couponchain-chain --bench smt`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark/test code

use couponchain_chain::smt::{self, Chunk, ChunkPos};
use couponchain_chain::Hash;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::collections::BTreeMap;

fn key(i: u64) -> Hash {
    Hash(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

fn apply(store: &mut BTreeMap<ChunkPos, Chunk>, ups: &[(Hash, Option<Hash>)]) -> Hash {
    let u = smt::apply_updates(store, ups).unwrap();
    for (p, c) in u.writes {
        match c {
            Some(c) => store.insert(p, *c),
            None => store.remove(&p),
        };
    }
    u.root
}

fn benches(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let mut store = BTreeMap::new();
    let mut root = Hash::ZERO;
    for batch in 0..(N / 50_000) {
        let mut ups: Vec<_> = (batch * 50_000..(batch + 1) * 50_000)
            .map(|i| (key(i), Some(smt::value_hash(&i.to_le_bytes()))))
            .collect();
        ups.sort_by_key(|u| u.0);
        root = apply(&mut store, &ups);
    }
    eprintln!("{N} keys in {} chunks", store.len());

    let mut g = c.benchmark_group("smt_1m");
    g.sample_size(20);
    // 10,000 changed keys: 9,000 updates of existing keys and 1,000 new keys.
    let mut ups: Vec<_> = (0..9_000u64)
        .map(|i| (key(i * 97 % N), Some(key(i + 7 * N))))
        .chain((0..1_000u64).map(|i| (key(2 * N + i), Some(key(i)))))
        .collect();
    ups.sort_by_key(|u| u.0);
    ups.dedup_by_key(|u| u.0);
    g.throughput(Throughput::Elements(ups.len() as u64));
    g.bench_function("root_update_10k_keys", |b| {
        b.iter(|| smt::apply_updates(&store, &ups).unwrap())
    });
    let u = smt::apply_updates(&store, &ups).unwrap();
    eprintln!("a 10k-key update rewrites {} chunks", u.writes.len());

    g.throughput(Throughput::Elements(1));
    let k = key(12345);
    let proof = smt::prove(&store, &k).unwrap();
    eprintln!(
        "proof: {} bytes encoded, {} non-zero siblings of {}",
        proof.encoded_len(),
        proof.siblings.len(),
        proof.depth_bits
    );
    g.bench_function("prove", |b| b.iter(|| smt::prove(&store, &k).unwrap()));
    let value = 12345u64.to_le_bytes();
    g.bench_function("verify_inclusion", |b| {
        b.iter(|| proof.verify(&root, &k, Some(&value)).unwrap())
    });
    let absent = key(3 * N);
    let absence = smt::prove(&store, &absent).unwrap();
    g.bench_function("verify_non_inclusion", |b| {
        b.iter(|| absence.verify(&root, &absent, None).unwrap())
    });
    g.finish();
}

criterion_group!(smt_benches, benches);
criterion_main!(smt_benches);
