//! Keys, signatures, batch verification and bearer codes.

use couponchain_chain::crypto::{verify_batch, BearerCode, Keypair, PublicKey, Signature};

#[test]
fn sign_and_verify_strict() {
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
