//! Parsing of transaction submissions, as pure functions of the `Content-Type` and the body
//! bytes so every accepted form and every malformed variant can be tested without a server.
//!
//! `application/octet-stream` is the canonical encoding (docs/encoding.md) of one
//! `SignedTransaction` (`POST /v1/txs`) or of a `Vec<SignedTransaction>` (`POST
//! /v1/txs/batch`). `application/json` is one item — `{"encoded": "<hex>"}`,
//! `{"encoded_base64": "<standard base64>"}` or `{"tx": <Transaction>, "signature": "<hex>"}`
//! — or, for a batch, `{"txs": [item, ...]}`. Errors name where they are (`txs[3].encoded`)
//! and carry a stable code: `bad_json`, `bad_hex`, `bad_encoding`, `batch_too_large`, or 415
//! `unsupported_media_type`.

use crate::RpcError;
use base64::Engine as _;
use couponchain_chain::{encoding, Signature, SignedTransaction, Transaction};
use serde_json::{Map, Value};
use std::str::FromStr;

/// How a submission body is encoded, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/octet-stream`: canonical binary encoding.
    Binary,
    /// `application/json`.
    Json,
}

/// Classifies a `Content-Type` header value (parameters such as `charset` are ignored, the
/// media type is case-insensitive). Anything else, or no header, is `415`.
pub fn body_kind(content_type: Option<&str>) -> Result<BodyKind, RpcError> {
    let Some(ct) = content_type else {
        return Err(RpcError::UnsupportedMediaType(
            "missing Content-Type; use application/octet-stream or application/json".into(),
        ));
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/octet-stream" => Ok(BodyKind::Binary),
        "application/json" => Ok(BodyKind::Json),
        _ => Err(RpcError::UnsupportedMediaType(format!(
            "Content-Type {ct:?} is not accepted; use application/octet-stream or application/json"
        ))),
    }
}

/// Parses the body of `POST /v1/txs`: one signed transaction.
pub fn parse_submit_body(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<SignedTransaction, RpcError> {
    match body_kind(content_type)? {
        BodyKind::Binary => decode_canonical(body, "body"),
        BodyKind::Json => parse_json_item(parse_json(body)?, ""),
    }
}

/// Parses the body of `POST /v1/txs/batch`: up to `max_txs` signed transactions, in order.
pub fn parse_batch_body(
    content_type: Option<&str>,
    body: &[u8],
    max_txs: usize,
) -> Result<Vec<SignedTransaction>, RpcError> {
    match body_kind(content_type)? {
        BodyKind::Binary => {
            // The encoding starts with the u64 (little-endian) element count: refuse an
            // oversized batch before decoding any of it.
            if let Some(prefix) = body.get(..8) {
                let mut len = [0u8; 8];
                len.copy_from_slice(prefix);
                check_batch_len(u64::from_le_bytes(len), max_txs)?;
            }
            let txs: Vec<SignedTransaction> = encoding::decode(body).map_err(|e| {
                RpcError::bad_request(
                    "bad_encoding",
                    format!("body: not a canonical Vec<SignedTransaction>: {e}"),
                )
            })?;
            check_batch_len(txs.len() as u64, max_txs)?;
            Ok(txs)
        }
        BodyKind::Json => {
            let Value::Object(mut obj) = parse_json(body)? else {
                return Err(bad_json("", "expected an object {\"txs\": [...]}"));
            };
            reject_unknown_keys(&obj, &["txs"], "")?;
            let Some(Value::Array(items)) = obj.remove("txs") else {
                return Err(bad_json("txs", "expected an array of transactions"));
            };
            check_batch_len(items.len() as u64, max_txs)?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| parse_json_item(item, &format!("txs[{i}].")))
                .collect()
        }
    }
}

fn check_batch_len(len: u64, max_txs: usize) -> Result<(), RpcError> {
    if len > max_txs as u64 {
        return Err(RpcError::bad_request(
            "batch_too_large",
            format!("the batch holds {len} transactions; at most {max_txs} are accepted"),
        ));
    }
    Ok(())
}

fn parse_json(body: &[u8]) -> Result<Value, RpcError> {
    serde_json::from_slice(body)
        .map_err(|e| RpcError::bad_request("bad_json", format!("body is not valid JSON: {e}")))
}

fn bad_json(at: &str, message: impl std::fmt::Display) -> RpcError {
    let at = at.trim_end_matches('.');
    if at.is_empty() {
        RpcError::bad_request("bad_json", message.to_string())
    } else {
        RpcError::bad_request("bad_json", format!("{at}: {message}"))
    }
}

fn reject_unknown_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), RpcError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad_json(at, format!("unexpected field `{k}`"))),
        None => Ok(()),
    }
}

fn decode_canonical(bytes: &[u8], at: &str) -> Result<SignedTransaction, RpcError> {
    SignedTransaction::decode(bytes).map_err(|e| {
        RpcError::bad_request(
            "bad_encoding",
            format!("{at}: not a canonical SignedTransaction: {e}"),
        )
    })
}

/// A string field of `obj`, or `bad_json`.
fn string_field(obj: &mut Map<String, Value>, key: &str, at: &str) -> Result<String, RpcError> {
    match obj.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(bad_json(&format!("{at}{key}"), "expected a string")),
        None => Err(bad_json(at, format!("missing field `{key}`"))),
    }
}

/// One JSON item; `at` prefixes error locations (`""` or `"txs[3]."`).
fn parse_json_item(item: Value, at: &str) -> Result<SignedTransaction, RpcError> {
    const FORMS: &str =
        "expected exactly one of {\"encoded\": hex}, {\"encoded_base64\": base64} or {\"tx\": {...}, \"signature\": hex}";
    let Value::Object(mut obj) = item else {
        return Err(bad_json(at, FORMS));
    };
    let forms = ["encoded", "encoded_base64", "tx"]
        .iter()
        .filter(|k| obj.contains_key(**k))
        .count();
    if forms != 1 {
        return Err(bad_json(at, FORMS));
    }
    if obj.contains_key("encoded") {
        reject_unknown_keys(&obj, &["encoded"], at)?;
        let text = string_field(&mut obj, "encoded", at)?;
        let bytes = decode_hex(&text)
            .map_err(|e| RpcError::bad_request("bad_hex", format!("{at}encoded: {e}")))?;
        decode_canonical(&bytes, &format!("{at}encoded"))
    } else if obj.contains_key("encoded_base64") {
        reject_unknown_keys(&obj, &["encoded_base64"], at)?;
        let text = string_field(&mut obj, "encoded_base64", at)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| {
                RpcError::bad_request(
                    "bad_encoding",
                    format!("{at}encoded_base64: invalid standard base64: {e}"),
                )
            })?;
        decode_canonical(&bytes, &format!("{at}encoded_base64"))
    } else {
        reject_unknown_keys(&obj, &["tx", "signature"], at)?;
        let signature = string_field(&mut obj, "signature", at)?;
        let signature = Signature::from_str(&signature)
            .map_err(|e| RpcError::bad_request("bad_hex", format!("{at}signature: {e}")))?;
        let tx_value = obj.remove("tx").unwrap_or(Value::Null);
        let tx: Transaction = serde_json::from_value(tx_value)
            .map_err(|e| bad_json(&format!("{at}tx"), format!("not a valid Transaction: {e}")))?;
        Ok(SignedTransaction { tx, signature })
    }
}

/// Hex with an optional `0x` prefix, either case.
fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    hex::decode(t).map_err(|e| format!("invalid hex: {e}"))
}
