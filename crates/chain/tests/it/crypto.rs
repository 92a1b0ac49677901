//! Keys, signatures, the signature rule in its single and batch forms, and bearer codes.

use couponchain_chain::crypto::verify::verify_one;
use couponchain_chain::crypto::{verify_batch, BearerCode, Keypair, PublicKey, Signature};
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use proptest::prelude::*;
use sha2::{Digest, Sha512};

#[test]
fn sign_and_verify() {
    let k = Keypair::from_seed("alice");
    let sig = k.sign(b"hello");
    k.public().verify(b"hello", &sig).unwrap();
    assert!(k.public().verify(b"hellO", &sig).is_err());
    let other = Keypair::from_seed("bob");
    assert!(other.public().verify(b"hello", &sig).is_err());
    let mut bad = sig;
    bad.0[63] ^= 0xff; // non-canonical S
    assert!(k.public().verify(b"hello", &bad).is_err());
}

#[test]
fn seeded_keys_are_deterministic_and_distinct() {
    assert_eq!(
        Keypair::from_seed("a").public(),
        Keypair::from_seed("a").public()
    );
    assert_ne!(
        Keypair::from_seed("a").public(),
        Keypair::from_seed("b").public()
    );
    let k = Keypair::generate().unwrap();
    assert_eq!(Keypair::from_secret(&k.secret_bytes()).public(), k.public());
}

#[test]
fn weak_and_invalid_keys_are_refused() {
    // The identity point (small order) and a non-point.
    let identity = PublicKey({
        let mut b = [0u8; 32];
        b[0] = 1;
        b
    });
    assert!(identity.to_verifying_key().is_err());
    let sig = Signature([0u8; 64]);
    assert!(identity.verify(b"x", &sig).is_err());
    // About half of all 32-byte strings are not curve points.
    let non_points = (0u8..=255)
        .filter(|b| PublicKey([*b; 32]).to_verifying_key().is_err())
        .count();
    assert!(non_points > 50, "only {non_points} non-points refused");
}

#[test]
fn batch_verification_names_exactly_the_bad_items() {
    let keys: Vec<Keypair> = (0..40)
        .map(|i| Keypair::from_seed(&format!("k{i}")))
        .collect();
    let msgs: Vec<Vec<u8>> = (0..40)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let items = |sigs: &[Signature]| -> Vec<(PublicKey, &[u8], Signature)> {
        keys.iter()
            .zip(&msgs)
            .zip(sigs)
            .map(|((k, m), s)| (k.public(), m.as_slice(), *s))
            .collect()
    };
    verify_batch(&items(&sigs)).unwrap();
    sigs[3] = keys[3].sign(b"something else");
    sigs[17] = keys[18].sign(&msgs[17]);
    assert_eq!(verify_batch(&items(&sigs)), Err(vec![3, 17]));
    assert_eq!(verify_batch(&[]), Ok(()));
}

/// Signs by hand with secret scalar `a` and nonce `r`, adding torsion `t_r` to R and `t_a` to
/// the key: what a dishonest signer can do, and what makes the cofactorless and cofactored
/// equations disagree.
fn sign_raw(
    a: Scalar,
    t_a: EdwardsPoint,
    r: Scalar,
    t_r: EdwardsPoint,
    msg: &[u8],
) -> (PublicKey, Signature) {
    let key = (ED25519_BASEPOINT_POINT * a + t_a).compress().to_bytes();
    let big_r = (ED25519_BASEPOINT_POINT * r + t_r).compress().to_bytes();
    let mut h = Sha512::new();
    h.update(big_r);
    h.update(key);
    h.update(msg);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&big_r);
    sig[32..].copy_from_slice(s.as_bytes());
    (PublicKey(key), Signature(sig))
}

fn scalar(seed: u8) -> Scalar {
    Scalar::from_bytes_mod_order_wide(&Sha512::digest([seed]).into())
}

#[test]
fn torsion_components_get_the_same_answer_alone_and_in_a_batch() {
    let none = EdwardsPoint::default();
    let honest = sign_raw(scalar(1), none, scalar(2), none, b"m");
    let torsion_r = sign_raw(scalar(3), none, scalar(4), EIGHT_TORSION[1], b"m");
    let torsion_a = sign_raw(scalar(5), EIGHT_TORSION[3], scalar(6), none, b"m");
    for (pk, sig) in [honest, torsion_r, torsion_a] {
        // The cofactored rule accepts all three, alone and batched with honest signatures
        // by the same and by other keys.
        assert!(verify_one(&pk, b"m", &sig));
        let other = Keypair::from_seed("other");
        let items = [
            (pk, b"m".as_slice(), sig),
            (other.public(), b"x".as_slice(), other.sign(b"x")),
            (pk, b"m".as_slice(), sig),
        ];
        assert_eq!(verify_batch(&items), Ok(()));
    }
    // The cofactorless equation (ed25519-dalek's verify_strict) refuses the torsion in R:
    // the two rules differ, and only the cofactored one has a batch form that agrees.
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&torsion_r.0 .0).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&torsion_r.1 .0);
    assert!(vk.verify_strict(b"m", &sig).is_err());
    // A wrong message fails alone and is named in a batch.
    assert!(!verify_one(&torsion_r.0, b"n", &torsion_r.1));
    let items = [
        (honest.0, b"m".as_slice(), honest.1),
        (torsion_r.0, b"n".as_slice(), torsion_r.1),
    ];
    assert_eq!(verify_batch(&items), Err(vec![1]));
}

#[test]
fn encodings_outside_the_rule_are_refused() {
    let k = Keypair::from_seed("alice");
    let sig = k.sign(b"m");
    // S + ℓ: the same scalar, not canonical.
    let s = Scalar::from_canonical_bytes(sig.0[32..].try_into().unwrap()).unwrap();
    let l_minus_1 = -Scalar::ONE;
    let mut wide = [0u8; 32];
    let mut carry = 1u16; // s + (ℓ − 1) + 1 as 256-bit integers
    for (i, w) in wide.iter_mut().enumerate() {
        let v = s.as_bytes()[i] as u16 + l_minus_1.as_bytes()[i] as u16 + carry;
        *w = v as u8;
        carry = v >> 8;
    }
    let mut bad = sig;
    bad.0[32..].copy_from_slice(&wide);
    assert!(!verify_one(&k.public(), b"m", &bad));
    assert!(k.public().verify(b"m", &bad).is_err());
    // R of small order (the identity) with S = 0 over a small-order key: refused.
    let mut id = [0u8; 32];
    id[0] = 1;
    let mut zero_sig = [0u8; 64];
    zero_sig[..32].copy_from_slice(&id);
    assert!(!verify_one(&PublicKey(id), b"m", &Signature(zero_sig)));
    // R of small order under a good key.
    let mut small_r = sig;
    small_r.0[..32].copy_from_slice(&id);
    assert!(!verify_one(&k.public(), b"m", &small_r));
    assert_eq!(
        verify_batch(&[
            (k.public(), b"m".as_slice(), small_r),
            (k.public(), b"m".as_slice(), sig)
        ]),
        Err(vec![0])
    );
    // A point whose y is below 19 has a second encoding y + p; only the first is a key.
    let (y, point) = (2u8..19)
        .find_map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            let p = CompressedEdwardsY(b).decompress()?;
            (!p.is_small_order()).then_some((y, p))
        })
        .expect("a point with a small y");
    let mut canonical = [0u8; 32];
    canonical[0] = y;
    let mut non_canonical = [0xffu8; 32];
    non_canonical[0] = 0xed + y;
    non_canonical[31] = 0x7f;
    assert_eq!(CompressedEdwardsY(non_canonical).decompress(), Some(point));
    assert!(PublicKey(canonical).to_verifying_key().is_ok());
    assert!(PublicKey(non_canonical).to_verifying_key().is_err());
    assert!(PublicKey(non_canonical).verify(b"m", &sig).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the mix of keys (repeated ones are summed in the batch), messages and
    /// corruptions, the batch names exactly the items that fail alone.
    #[test]
    fn batches_name_exactly_what_fails_alone(
        picks in prop::collection::vec((0usize..5, 0u8..4, any::<u8>()), 1..40)
    ) {
        let keys: Vec<Keypair> = (0..5).map(|i| Keypair::from_seed(&format!("p{i}"))).collect();
        let mut owned = Vec::new();
        for (i, (key, fault, byte)) in picks.iter().enumerate() {
            let k = &keys[*key];
            let msg = format!("message {i} {byte}").into_bytes();
            let mut sig = k.sign(&msg);
            let mut pk = k.public();
            match fault {
                0 | 1 => {}
                2 => sig.0[(*byte as usize) % 64] ^= 1 << (byte % 8),
                _ => pk = keys[(*key + 1) % 5].public(),
            }
            owned.push((pk, msg, sig));
        }
        let items: Vec<(PublicKey, &[u8], Signature)> =
            owned.iter().map(|(p, m, s)| (*p, m.as_slice(), *s)).collect();
        let failing: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, (p, m, s))| !verify_one(p, m, s))
            .map(|(i, _)| i)
            .collect();
        let expected = if failing.is_empty() { Ok(()) } else { Err(failing) };
        prop_assert_eq!(verify_batch(&items), expected);
    }
}

#[test]
fn bearer_codes_round_trip_and_derive_stable_keys() {
    for i in 0..200u8 {
        let c = BearerCode::from_bytes([i.wrapping_mul(37); 16]);
        let text = c.to_text();
        assert_eq!(text.len(), 3 + 26 + 6, "{text}");
        assert_eq!(BearerCode::parse(&text).unwrap(), c);
        assert_eq!(BearerCode::parse(&text.to_lowercase()).unwrap(), c);
        assert_eq!(BearerCode::parse(&text.replace('-', " ")).unwrap(), c);
        assert_eq!(
            c.keypair().public(),
            BearerCode::parse(&text).unwrap().keypair().public()
        );
    }
    let max = BearerCode::from_bytes([0xff; 16]);
    assert_eq!(BearerCode::parse(&max.to_text()).unwrap(), max);
    let c = BearerCode::generate().unwrap();
    assert_ne!(
        c.keypair().public(),
        BearerCode::generate().unwrap().keypair().public()
    );
    // O, I and L read as 0, 1 and 1.
    let t = BearerCode::from_bytes([0; 16]).to_text().replace('0', "O");
    assert_eq!(
        BearerCode::parse(&t).unwrap(),
        BearerCode::from_bytes([0; 16])
    );
    for bad in [
        "",
        "CPN-123",
        "CPN-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZZ",
        "CPN-8ZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZU",
        "CPN-00000-00000-00000-00000-0000000",
    ] {
        assert!(BearerCode::parse(bad).is_err(), "{bad:?} parsed");
    }
    assert!(
        !format!("{c:?}").contains(&c.to_text()),
        "Debug leaks the code"
    );
}
