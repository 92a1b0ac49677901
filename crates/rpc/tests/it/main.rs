//! Tests of what the RPC can check without a node: submission-body parsing, parameters,
//! coupon-state and campaign-report arithmetic, event ids and event extraction, the
//! server's layers (errors, limits, timeouts, CORS, metrics) over stand-in routes, and the
//! OpenAPI document. End-to-end route tests run against the real node binary elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod body;
mod events;
mod http;
mod openapi;
mod params;
mod serve;
mod views;

/// The canonical-encoding test vectors of docs/encoding.md.
pub fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../../docs/test-vectors.json")).unwrap()
}
