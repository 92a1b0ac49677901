//! The sparse Merkle tree against a reference that recomputes the root from scratch by the
//! definition in `smt/mod.rs`, plus proof properties.

use couponchain_chain::hash::Hash;
use couponchain_chain::smt::{self, leaf_hash, node_hash, Chunk, ChunkPos, StateProof};
use proptest::prelude::*;
use std::collections::BTreeMap;

type Store = BTreeMap<ChunkPos, Chunk>;

/// The root by definition: the root is always a chunk; below it, a slot holding no key is
/// empty, one key is that key's leaf, two or more are a chunk one nibble deeper.
fn reference_root(map: &BTreeMap<Hash, Hash>) -> Hash {
    let keys: Vec<(Hash, Hash)> = map.iter().map(|(k, v)| (*k, *v)).collect();
    chunk_hash(0, &keys)
}

fn chunk_hash(depth: usize, keys: &[(Hash, Hash)]) -> Hash {
    let mut level: Vec<Hash> = (0..16u8)
        .map(|n| {
            let sub: Vec<(Hash, Hash)> = keys
                .iter()
                .filter(|(k, _)| k.nibble(depth) == n)
                .copied()
                .collect();
            match sub.as_slice() {
                [] => Hash::ZERO,
                [(k, v)] => leaf_hash(k, v),
                _ => chunk_hash(depth + 1, &sub),
            }
        })
        .collect();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    level[0]
}

fn h(i: u64) -> Hash {
    Hash(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

/// Applies a batch to both the store and the model; returns the new root.
fn apply(
    store: &mut Store,
    model: &mut BTreeMap<Hash, Hash>,
    batch: &BTreeMap<Hash, Option<Hash>>,
) -> Hash {
    let ups: Vec<(Hash, Option<Hash>)> = batch.iter().map(|(k, v)| (*k, *v)).collect();
    let upd = smt::apply_updates(store, &ups).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (pos, chunk) in upd.writes {
        assert!(
            seen.insert(pos),
            "position {pos:?} written twice in one update"
        );
        match chunk {
            Some(c) => {
                store.insert(pos, *c);
            }
            None => {
                assert!(
                    store.remove(&pos).is_some(),
                    "deleting a chunk that does not exist"
                );
            }
        }
    }
    for (k, v) in batch {
        match v {
            Some(v) => model.insert(*k, *v),
            None => model.remove(k),
        };
    }
    upd.root
}

/// The store holds exactly the chunks the canonical tree needs: every non-root chunk has
/// at least two keys below it.
fn assert_canonical(store: &Store, model: &BTreeMap<Hash, Hash>) {
    for pos in store.keys() {
        if pos.depth == 0 {
            continue;
        }
        let below = model
            .keys()
            .filter(|k| (0..pos.depth as usize).all(|i| k.nibble(i) == Hash(pos.prefix).nibble(i)))
            .count();
        assert!(below >= 2, "chunk {pos:?} holds {below} keys");
    }
}

#[test]
fn empty_tree_has_zero_root_and_proves_absence() {
    let store = Store::new();
    let upd = smt::apply_updates(&store, &[]).unwrap();
    assert_eq!(upd.root, Hash::ZERO);
    let p = smt::prove(&store, &h(1)).unwrap();
    p.verify(&Hash::ZERO, &h(1), None).unwrap();
    assert!(p.verify(&Hash::ZERO, &h(1), Some(b"x")).is_err());
}

#[test]
fn incremental_updates_match_reference_and_stay_canonical() {
    let mut store = Store::new();
    let mut model = BTreeMap::new();
    // Grow to 3,000 keys in batches, overwrite some, delete most, re-add.
    for round in 0..6u64 {
        let mut batch = BTreeMap::new();
        for i in 0..500 {
            batch.insert(h(round * 500 + i), Some(h(i + 7 * round)));
        }
        let root = apply(&mut store, &mut model, &batch);
        assert_eq!(root, reference_root(&model), "round {round}");
    }
    let mut batch = BTreeMap::new();
    for i in 0..3000u64 {
        if i % 7 != 0 {
            batch.insert(h(i), None);
        } else {
            batch.insert(h(i), Some(h(i + 1)));
        }
    }
    // Deleting keys that were never there is allowed and changes nothing.
    batch.insert(h(999_999), None);
    let root = apply(&mut store, &mut model, &batch);
    assert_eq!(root, reference_root(&model));
    assert_canonical(&store, &model);
    // Delete everything: empty root, no chunks but the (empty) root chunk.
    let batch: BTreeMap<_, _> = model.keys().map(|k| (*k, None)).collect();
    let root = apply(&mut store, &mut model, &batch);
    assert_eq!(root, Hash::ZERO);
    assert!(
        store.keys().all(|p| p.depth == 0),
        "stale chunks left: {}",
        store.len()
    );
}

#[test]
fn keys_sharing_long_prefixes_nest_and_collapse() {
    let mut store = Store::new();
    let mut model = BTreeMap::new();
    let a = [0xabu8; 32];
    let mut b = a;
    b[31] = 0xac; // shares 63 of 64 nibbles with `a`
    let (a, b) = (Hash(a), Hash(b));
    let root = apply(
        &mut store,
        &mut model,
        &BTreeMap::from([(a, Some(h(1))), (b, Some(h(2)))]),
    );
    assert_eq!(root, reference_root(&model));
    assert!(
        store.len() > 60,
        "expected a deep chain of chunks, got {}",
        store.len()
    );
    for k in [a, b] {
        let p = smt::prove(&store, &k).unwrap();
        // Both leaves sit in the deepest possible chunk: 64 nibbles.
        assert_eq!(p.depth_bits, 256);
        p.verify(&root, &k, None).unwrap_err();
    }
    let root = apply(&mut store, &mut model, &BTreeMap::from([(b, None)]));
    assert_eq!(root, reference_root(&model));
    assert_eq!(store.len(), 1, "chain did not collapse");
}

#[test]
fn unsorted_updates_are_refused() {
    let store = Store::new();
    let r = smt::apply_updates(&store, &[(h(2), Some(h(1))), (h(2), None)]);
    assert!(r.is_err());
}

#[test]
fn chunk_encoding_round_trips_and_rejects_garbage() {
    let mut store = Store::new();
    let mut model = BTreeMap::new();
    let batch: BTreeMap<_, _> = (0..200).map(|i| (h(i), Some(h(i)))).collect();
    apply(&mut store, &mut model, &batch);
    for c in store.values() {
        assert_eq!(&Chunk::decode(&c.encode()).unwrap(), c);
    }
    assert!(Chunk::decode(&[]).is_err());
    assert!(
        Chunk::decode(&[1, 0, 2, 0]).is_err(),
        "leaf bit without occupied bit"
    );
    assert!(Chunk::decode(&[1, 0, 0, 0, 1, 2]).is_err(), "truncated");
    let mut long = store.values().next().unwrap().encode();
    long.push(0);
    assert!(Chunk::decode(&long).is_err(), "trailing byte");
    for pos in store.keys() {
        assert_eq!(
            &ChunkPos::from_storage_key(&pos.storage_key()).unwrap(),
            pos
        );
    }
}

fn check_proofs(store: &Store, model: &BTreeMap<Hash, Hash>, root: &Hash, absent: &[Hash]) {
    for (k, _) in model.iter().take(200) {
        let p = smt::prove(store, k).unwrap();
        // Values are hashed by the tree; the model stores value hashes, so prove against
        // the preimage we used: `v` where value_hash(v) == model[k] is unknown here, so
        // check via a leaf-level verify of the terminal instead.
        match p.terminal {
            smt::Terminal::Leaf { key, value_hash } => {
                assert_eq!(key, *k);
                assert_eq!(Some(&value_hash), model.get(k));
            }
            smt::Terminal::Empty => panic!("present key proved empty"),
        }
        assert!(
            p.verify(root, k, None).is_err(),
            "present key proved absent"
        );
    }
    for k in absent {
        let p = smt::prove(store, k).unwrap();
        p.verify(root, k, None).unwrap();
        assert!(p.verify(root, k, Some(b"anything")).is_err());
        let mut other = *root;
        other.0[0] ^= 1;
        assert!(
            p.verify(&other, k, None).is_err(),
            "absence proof under a wrong root"
        );
    }
}

#[test]
fn value_proofs_verify_and_fail_when_anything_is_altered() {
    let mut store = Store::new();
    let mut model = BTreeMap::new();
    let values: Vec<Vec<u8>> = (0..1000u64)
        .map(|i| format!("value-{i}").into_bytes())
        .collect();
    let batch: BTreeMap<_, _> = (0..1000u64)
        .map(|i| (h(i), Some(smt::value_hash(&values[i as usize]))))
        .collect();
    let root = apply(&mut store, &mut model, &batch);
    for i in 0..1000u64 {
        let k = h(i);
        let v = &values[i as usize];
        let p = smt::prove(&store, &k).unwrap();
        p.verify(&root, &k, Some(v)).unwrap();
        assert!(
            p.verify(&root, &k, Some(b"forged")).is_err(),
            "altered value accepted"
        );
        assert!(
            p.verify(&root, &h(i + 5000), Some(v)).is_err(),
            "altered key accepted"
        );
        let mut bad_root = root;
        bad_root.0[31] ^= 0x80;
        assert!(
            p.verify(&bad_root, &k, Some(v)).is_err(),
            "altered root accepted"
        );
        if let Some(s) = p.siblings.first() {
            let mut tampered = p.clone();
            tampered.siblings[0] = Hash(blake3::hash(&s.0).into());
            assert!(
                tampered.verify(&root, &k, Some(v)).is_err(),
                "altered sibling accepted"
            );
        }
        let mut shallow = p.clone();
        shallow.depth_bits = shallow.depth_bits.saturating_sub(4);
        assert!(
            shallow.verify(&root, &k, Some(v)).is_err(),
            "altered depth accepted"
        );
    }
    let absent: Vec<Hash> = (5000..5300).map(h).collect();
    check_proofs(&store, &model, &root, &absent);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u16, u16),
    Del(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u16..400, any::<u16>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => (0u16..400).prop_map(Op::Del),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random batches of puts and deletes: the incremental root always equals the
    /// from-scratch root, the stored tree stays canonical, and proofs hold for keys present
    /// and absent.
    #[test]
    fn random_batches_match_reference(batches in proptest::collection::vec(proptest::collection::vec(op(), 1..60), 1..8)) {
        let mut store = Store::new();
        let mut model = BTreeMap::new();
        let mut root = Hash::ZERO;
        for ops in &batches {
            let mut batch = BTreeMap::new();
            for o in ops {
                match o {
                    Op::Put(k, v) => batch.insert(h(*k as u64), Some(h(*v as u64 + 100_000))),
                    Op::Del(k) => batch.insert(h(*k as u64), None),
                };
            }
            root = apply(&mut store, &mut model, &batch);
            prop_assert_eq!(root, reference_root(&model));
        }
        assert_canonical(&store, &model);
        let absent: Vec<Hash> = (0..400u64).map(h).filter(|k| !model.contains_key(k)).collect();
        check_proofs(&store, &model, &root, &absent);
        // The same final contents built in one batch give the same root (history-independent).
        let mut fresh = Store::new();
        let mut fresh_model = BTreeMap::new();
        let all: BTreeMap<_, _> = model.iter().map(|(k, v)| (*k, Some(*v))).collect();
        prop_assert_eq!(apply(&mut fresh, &mut fresh_model, &all), root);
    }
}

#[test]
fn proof_encoding_round_trips() {
    let mut store = Store::new();
    let mut model = BTreeMap::new();
    let batch: BTreeMap<_, _> = (0..50).map(|i| (h(i), Some(h(i)))).collect();
    apply(&mut store, &mut model, &batch);
    let p = smt::prove(&store, &h(3)).unwrap();
    let bytes = couponchain_chain::encoding::encode(&p);
    let back: StateProof = couponchain_chain::encoding::decode(&bytes).unwrap();
    assert_eq!(back, p);
    let json = serde_json::to_string(&p).unwrap();
    let back: StateProof = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
}

/// A corrupt store (a chain of child slots deeper than the key) gives an error, not a panic.
#[test]
fn a_corrupt_store_cannot_make_proving_panic() {
    let key = h(1);
    let mut store = Store::new();
    let mut pos = ChunkPos::ROOT;
    for _ in 0..64 {
        let mut chunk = Chunk::default();
        let n = key.nibble(pos.depth as usize);
        chunk.slots[n as usize] = couponchain_chain::smt::Slot::Child { hash: h(2) };
        store.insert(pos, chunk);
        pos = pos.child(n);
    }
    store.insert(pos, Chunk::default());
    assert!(smt::prove(&store, &key).is_err());
    assert!(smt::apply_updates(&store, &[(key, Some(h(3)))]).is_err());
}

/// The two-thread update gives the same root and the same writes, in the same order, as the
/// sequential one — across batches that insert, overwrite and delete, on a tree that
/// already holds keys, and whatever nibble the cut falls on.
#[test]
fn parallel_updates_equal_sequential_ones() {
    let mut store = Store::new();
    let mut next = 0u64;
    for round in 0..6u64 {
        let n = smt::PARALLEL_MIN_UPDATES + 300 * round as usize;
        let mut batch: BTreeMap<Hash, Option<Hash>> = BTreeMap::new();
        // New keys, and every third existing key overwritten or (every other round) deleted.
        for _ in 0..n {
            batch.insert(h(next), Some(h(next ^ 0xabcd)));
            next += 1;
        }
        for k in store
            .values()
            .flat_map(|c| c.slots.iter())
            .filter_map(|s| match s {
                smt::Slot::Leaf { key, .. } => Some(*key),
                _ => None,
            })
            .step_by(3)
            .collect::<Vec<_>>()
        {
            batch.insert(k, (round % 2 == 0).then(|| h(round)));
        }
        let ups: Vec<(Hash, Option<Hash>)> = batch.into_iter().collect();
        let seq = smt::apply_updates(&store, &ups).unwrap();
        let par = smt::apply_updates_parallel(&store, &ups).unwrap();
        assert_eq!(par.root, seq.root, "round {round}");
        assert_eq!(par.writes, seq.writes, "round {round}");
        for (pos, chunk) in seq.writes {
            match chunk {
                Some(c) => store.insert(pos, *c),
                None => store.remove(&pos),
            };
        }
    }
    // Updates all under one first nibble: the cut leaves one side empty.
    let ups: Vec<(Hash, Option<Hash>)> = (0..smt::PARALLEL_MIN_UPDATES as u64 * 2)
        .map(|i| {
            let mut k = h(i).0;
            k[0] &= 0x0f;
            (Hash(k), Some(h(i)))
        })
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let seq = smt::apply_updates(&store, &ups).unwrap();
    let par = smt::apply_updates_parallel(&store, &ups).unwrap();
    assert_eq!((par.root, par.writes), (seq.root, seq.writes));
}
