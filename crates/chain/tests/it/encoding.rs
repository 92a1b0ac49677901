//! The canonical encoding: round trips, fixed layout, refusal of malformed input.

use couponchain_chain::encoding::{decode, encode};
use couponchain_chain::tx::{Transaction, TxBody};
use couponchain_chain::{Hash, Keypair, SignedTransaction};

fn sample() -> SignedTransaction {
    let k = Keypair::from_seed("shop");
    Transaction {
        chain_id: "c".into(),
        signer: k.public(),
        nonce: 0x0102030405060708,
        valid_until_ms: 9,
        body: TxBody::Transfer {
            coupon: Hash([7; 32]),
            to: Keypair::from_seed("bob").public(),
        },
    }
    .sign(&k)
}

#[test]
fn layout_is_fixed_width_little_endian() {
    let tx = sample().tx;
    let b = encode(&tx);
    // chain_id: u64 length 1 then "c"
    assert_eq!(&b[..9], &[1, 0, 0, 0, 0, 0, 0, 0, b'c']);
    // signer: 32 raw bytes
    assert_eq!(&b[9..41], &tx.signer.0);
    // nonce: u64 LE
    assert_eq!(&b[41..49], &0x0102030405060708u64.to_le_bytes());
    assert_eq!(&b[49..57], &9u64.to_le_bytes());
    // body: variant index u32 LE (Transfer = 2), then the coupon and the key
    assert_eq!(&b[57..61], &2u32.to_le_bytes());
    assert_eq!(&b[61..93], &[7u8; 32]);
    assert_eq!(b.len(), 93 + 32);
    // A signed transaction: the envelope, then the signature's 64 raw bytes.
    let signed = sample();
    let sb = encode(&signed);
    assert_eq!(&sb[..b.len()], &b[..]);
    assert_eq!(&sb[b.len()..], &signed.signature.0[..]);
}

#[test]
fn round_trip_binary_and_json() {
    let tx = sample();
    assert_eq!(SignedTransaction::decode(&tx.encode()).unwrap(), tx);
    let json = serde_json::to_string(&tx).unwrap();
    assert!(
        json.contains(&tx.tx.signer.to_hex()),
        "keys are hex in JSON: {json}"
    );
    let back: SignedTransaction = serde_json::from_str(&json).unwrap();
    assert_eq!(back, tx);
    assert_eq!(back.id(), tx.id());
}

#[test]
fn malformed_input_is_refused_not_panicked_on() {
    let bytes = sample().encode();
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(SignedTransaction::decode(&trailing).is_err());
    for cut in 0..bytes.len() {
        assert!(
            SignedTransaction::decode(&bytes[..cut]).is_err(),
            "prefix {cut} decoded"
        );
    }
    // A huge length prefix must not allocate gigabytes.
    let mut huge = vec![0xff; 8];
    huge.extend_from_slice(&[0; 64]);
    assert!(SignedTransaction::decode(&huge).is_err());
    // An unknown enum variant.
    let mut bad_variant = bytes.clone();
    bad_variant[57..61].copy_from_slice(&99u32.to_le_bytes());
    assert!(SignedTransaction::decode(&bad_variant).is_err());
    // Every single-byte corruption either fails to decode or changes the id/signature check.
    let tx = sample();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        if let Ok(t) = decode::<SignedTransaction>(&b) {
            assert!(
                t.verify_signature().is_err(),
                "corruption at {i} still verifies"
            );
            assert_ne!(t, tx);
        }
    }
}

#[test]
fn tx_id_ignores_the_signature_but_binds_every_field() {
    let tx = sample();
    let mut other_sig = tx.clone();
    other_sig.signature.0[0] ^= 1;
    assert_eq!(other_sig.id(), tx.id());
    let mut t2 = tx.tx.clone();
    t2.nonce += 1;
    assert_ne!(t2.id(), tx.id());
    let mut t3 = tx.tx.clone();
    t3.chain_id = "d".into();
    assert_ne!(t3.id(), tx.id());
}

#[test]
fn id_and_size_agree_with_id_and_encode() {
    let tx = sample();
    assert_eq!(tx.id_and_size(), (tx.id(), tx.encode().len()));
}
