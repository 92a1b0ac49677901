use crate::vectors;
use base64::Engine as _;
use couponchain_chain::{encoding, SignedTransaction};
use couponchain_rpc::body::{body_kind, parse_batch_body, parse_submit_body, BodyKind};
use couponchain_rpc::RpcError;
use serde_json::{json, Value};

const JSON: Option<&str> = Some("application/json");
const BIN: Option<&str> = Some("application/octet-stream");

/// (signed transaction, its canonical encoding, the vector's JSON) for every vector.
fn signed() -> Vec<(SignedTransaction, Vec<u8>, Value)> {
    vectors()["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let bytes = hex::decode(v["signed_encoded_hex"].as_str().unwrap()).unwrap();
            let tx = SignedTransaction::decode(&bytes).unwrap();
            (tx, bytes, v.clone())
        })
        .collect()
}

fn code(e: RpcError) -> String {
    e.code().to_string()
}

fn json_err(body: Value) -> String {
    code(parse_submit_body(JSON, body.to_string().as_bytes()).unwrap_err())
}

#[test]
fn content_types() {
    assert_eq!(body_kind(BIN).unwrap(), BodyKind::Binary);
    assert_eq!(body_kind(JSON).unwrap(), BodyKind::Json);
    assert_eq!(
        body_kind(Some("Application/JSON; charset=utf-8")).unwrap(),
        BodyKind::Json
    );
    for bad in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some(""),
    ] {
        let e = body_kind(bad).unwrap_err();
        assert_eq!(e.code(), "unsupported_media_type");
        assert_eq!(e.status().as_u16(), 415);
    }
}

#[test]
fn every_vector_parses_in_every_form() {
    for (tx, bytes, v) in signed() {
        let name = v["name"].as_str().unwrap();
        assert_eq!(
            parse_submit_body(BIN, &bytes).unwrap(),
            tx,
            "{name}: binary"
        );
        let hex_form = json!({ "encoded": hex::encode(&bytes) });
        assert_eq!(
            parse_submit_body(JSON, hex_form.to_string().as_bytes()).unwrap(),
            tx,
            "{name}: hex"
        );
        let upper = json!({ "encoded": format!("0x{}", hex::encode_upper(&bytes)) });
        assert_eq!(
            parse_submit_body(JSON, upper.to_string().as_bytes()).unwrap(),
            tx,
            "{name}: 0x HEX"
        );
        let b64 =
            json!({ "encoded_base64": base64::engine::general_purpose::STANDARD.encode(&bytes) });
        assert_eq!(
            parse_submit_body(JSON, b64.to_string().as_bytes()).unwrap(),
            tx,
            "{name}: base64"
        );
        let tx_json = json!({ "tx": v["tx"], "signature": v["signature"] });
        let parsed = parse_submit_body(JSON, tx_json.to_string().as_bytes()).unwrap();
        assert_eq!(parsed, tx, "{name}: tx+signature");
        // The node re-encodes the JSON form canonically: it must give the same bytes and id.
        assert_eq!(parsed.encode(), bytes, "{name}: re-encoding");
        assert_eq!(
            parsed.id().to_hex(),
            v["tx_id"].as_str().unwrap(),
            "{name}: id"
        );
    }
}

#[test]
fn malformed_binary() {
    let (_, bytes, _) = signed().remove(0);
    assert_eq!(
        code(parse_submit_body(BIN, &[]).unwrap_err()),
        "bad_encoding"
    );
    assert_eq!(
        code(parse_submit_body(BIN, &bytes[..bytes.len() - 1]).unwrap_err()),
        "bad_encoding"
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        code(parse_submit_body(BIN, &trailing).unwrap_err()),
        "bad_encoding"
    );
    // JSON sent as octet-stream is not a canonical encoding.
    assert_eq!(
        code(parse_submit_body(BIN, br#"{"encoded":"00"}"#).unwrap_err()),
        "bad_encoding"
    );
    // Binary sent as JSON is not JSON.
    assert_eq!(
        code(parse_submit_body(JSON, &bytes).unwrap_err()),
        "bad_json"
    );
    assert_eq!(
        code(parse_submit_body(None, &bytes).unwrap_err()),
        "unsupported_media_type"
    );
}

#[test]
fn malformed_json() {
    let (_, bytes, v) = signed().remove(0);
    let hex_bytes = hex::encode(&bytes);
    // Not JSON, or not an object of one of the three forms.
    assert_eq!(code(parse_submit_body(JSON, b"{").unwrap_err()), "bad_json");
    assert_eq!(code(parse_submit_body(JSON, b"").unwrap_err()), "bad_json");
    assert_eq!(json_err(json!([hex_bytes])), "bad_json");
    assert_eq!(json_err(json!("text")), "bad_json");
    assert_eq!(json_err(json!({})), "bad_json");
    assert_eq!(
        json_err(json!({ "encoded": hex_bytes, "encoded_base64": "AA==" })),
        "bad_json"
    );
    assert_eq!(
        json_err(json!({ "encoded": hex_bytes, "extra": 1 })),
        "bad_json"
    );
    assert_eq!(json_err(json!({ "encoded": 5 })), "bad_json");
    assert_eq!(json_err(json!({ "encoded_base64": null })), "bad_json");
    // Hex that is not hex, or hex of something else.
    assert_eq!(json_err(json!({ "encoded": "zz" })), "bad_hex");
    assert_eq!(json_err(json!({ "encoded": "abc" })), "bad_hex");
    assert_eq!(json_err(json!({ "encoded": "" })), "bad_encoding");
    assert_eq!(
        json_err(json!({ "encoded": format!("{hex_bytes}00") })),
        "bad_encoding"
    );
    // Base64 that is not base64, or base64 of something else.
    assert_eq!(
        json_err(json!({ "encoded_base64": "not base64!" })),
        "bad_encoding"
    );
    assert_eq!(json_err(json!({ "encoded_base64": "AAA" })), "bad_encoding");
    assert_eq!(
        json_err(json!({ "encoded_base64": "AAAA" })),
        "bad_encoding"
    );
    let url_safe = base64::engine::general_purpose::URL_SAFE.encode(&bytes);
    if url_safe != base64::engine::general_purpose::STANDARD.encode(&bytes) {
        assert_eq!(
            json_err(json!({ "encoded_base64": url_safe })),
            "bad_encoding"
        );
    }
    // The tx + signature form.
    let sig = v["signature"].clone();
    assert_eq!(json_err(json!({ "tx": v["tx"] })), "bad_json");
    assert_eq!(json_err(json!({ "signature": sig })), "bad_json");
    assert_eq!(
        json_err(json!({ "tx": v["tx"], "signature": "00" })),
        "bad_hex"
    );
    assert_eq!(
        json_err(json!({ "tx": v["tx"], "signature": "xy".repeat(64) })),
        "bad_hex"
    );
    assert_eq!(
        json_err(json!({ "tx": v["tx"], "signature": 1 })),
        "bad_json"
    );
    assert_eq!(
        json_err(json!({ "tx": v["tx"], "signature": sig, "x": 0 })),
        "bad_json"
    );
    let mut tx = v["tx"].clone();
    tx["nonce"] = json!("one");
    assert_eq!(json_err(json!({ "tx": tx, "signature": sig })), "bad_json");
    let mut tx = v["tx"].clone();
    tx["signer"] = json!("00");
    assert_eq!(json_err(json!({ "tx": tx, "signature": sig })), "bad_json");
    let mut tx = v["tx"].clone();
    tx["body"] = json!({ "no_such_body": {} });
    assert_eq!(json_err(json!({ "tx": tx, "signature": sig })), "bad_json");
}

#[test]
fn errors_name_the_field() {
    let e = parse_submit_body(JSON, br#"{"encoded":"zz"}"#).unwrap_err();
    assert!(e.to_string().starts_with("encoded:"), "{e}");
    let e = parse_batch_body(JSON, br#"{"txs":[{"encoded":"zz"}]}"#, 10).unwrap_err();
    assert!(e.to_string().starts_with("txs[0].encoded:"), "{e}");
    assert_eq!(e.status().as_u16(), 400);
}

#[test]
fn batches() {
    let all = signed();
    let txs: Vec<SignedTransaction> = all.iter().map(|(t, _, _)| t.clone()).collect();
    let n = txs.len();
    // Binary.
    let bin = encoding::encode(&txs);
    assert_eq!(parse_batch_body(BIN, &bin, n).unwrap(), txs);
    assert_eq!(
        code(parse_batch_body(BIN, &bin, n - 1).unwrap_err()),
        "batch_too_large"
    );
    assert_eq!(
        code(parse_batch_body(BIN, &bin[..bin.len() - 1], n).unwrap_err()),
        "bad_encoding"
    );
    assert_eq!(
        code(parse_batch_body(BIN, &[1, 2, 3], n).unwrap_err()),
        "bad_encoding"
    );
    // A length prefix larger than the limit is refused before decoding anything.
    let huge = u64::MAX.to_le_bytes();
    assert_eq!(
        code(parse_batch_body(BIN, &huge, n).unwrap_err()),
        "batch_too_large"
    );
    let empty = encoding::encode(&Vec::<SignedTransaction>::new());
    assert_eq!(parse_batch_body(BIN, &empty, n).unwrap(), Vec::new());
    // JSON, mixing the three item forms.
    let items: Vec<Value> = all
        .iter()
        .enumerate()
        .map(|(i, (_, bytes, v))| match i % 3 {
            0 => json!({ "encoded": hex::encode(bytes) }),
            1 => {
                json!({ "encoded_base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
            }
            _ => json!({ "tx": v["tx"], "signature": v["signature"] }),
        })
        .collect();
    let body = json!({ "txs": items }).to_string();
    assert_eq!(parse_batch_body(JSON, body.as_bytes(), n).unwrap(), txs);
    assert_eq!(
        code(parse_batch_body(JSON, body.as_bytes(), n - 1).unwrap_err()),
        "batch_too_large"
    );
    assert_eq!(
        parse_batch_body(JSON, br#"{"txs":[]}"#, n).unwrap(),
        Vec::new()
    );
    for bad in [
        r#"[]"#,
        r#"{}"#,
        r#"{"txs":{}}"#,
        r#"{"txs":[],"more":1}"#,
        r#"{"txs":[1]}"#,
        "nope",
    ] {
        assert_eq!(
            code(parse_batch_body(JSON, bad.as_bytes(), n).unwrap_err()),
            "bad_json",
            "{bad}"
        );
    }
    // One bad item fails the batch, naming it.
    let mut items: Vec<Value> = json!({ "txs": [] })["txs"].as_array().unwrap().clone();
    items.push(json!({ "encoded": hex::encode(&all[0].1) }));
    items.push(json!({ "encoded": "00" }));
    let e = parse_batch_body(JSON, json!({ "txs": items }).to_string().as_bytes(), n).unwrap_err();
    assert_eq!(e.code(), "bad_encoding");
    assert!(e.to_string().starts_with("txs[1].encoded"), "{e}");
    assert_eq!(
        code(parse_batch_body(Some("text/csv"), b"", n).unwrap_err()),
        "unsupported_media_type"
    );
}
