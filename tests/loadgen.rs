//! `couponchain loadgen` against a real dev node: a redeem run issues its coupons, redeems
//! every one and records them in its coupons file; a second run given that file skips the
//! setup and redeems the recorded coupons again — paced this time — which the runtime
//! refuses as already spent, so the counts tell whether the record was read back right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use couponchain_tests::{couponchain_bin, NodeProcess};
use serde_json::Value;
use std::path::Path;

const TXS: u64 = 600;

fn loadgen(url: &str, coupons: &Path, extra: &[&str]) -> Value {
    let out = std::process::Command::new(couponchain_bin())
        .args(["loadgen", "--rpc", url, "--mode", "redeem", "--json"])
        .args(["--duration-s", "60", "--max-txs", &TXS.to_string()])
        .args(["--batch", "50", "--connections", "4", "--holders", "7"])
        .arg("--coupons-file")
        .arg(coupons)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadgen failed: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("loadgen printed no JSON report ({e}); stderr: {stderr}"))
}

#[test]
fn a_redeem_run_records_its_coupons_and_a_second_run_redeems_exactly_those() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::dev(&dir.path().join("node"), &[]);
    let coupons = dir.path().join("coupons.json");

    let first = loadgen(&node.url, &coupons, &[]);
    assert_eq!(first["submitted"], TXS, "{first}");
    assert_eq!(first["final_applied"], TXS, "{first}");
    assert_eq!(first["timeouts"], 0, "{first}");
    let recorded: Value = serde_json::from_slice(&std::fs::read(&coupons).unwrap()).unwrap();
    let issued: u64 = recorded["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["count"].as_u64().unwrap())
        .sum();
    assert_eq!(issued, TXS, "{recorded}");
    assert!(
        first["latency_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{first}"
    );

    // The same coupons again, at 300 a second: every redemption is final and refused as
    // already spent — a coupon or holder read back wrong would be refused for another
    // reason (no such coupon, not the owner).
    let second = loadgen(&node.url, &coupons, &["--rate", "300"]);
    assert_eq!(second["submitted"], TXS, "{second}");
    assert_eq!(second["final_applied"], 0, "{second}");
    assert_eq!(second["final_refused_by_runtime"], TXS, "{second}");
    assert_eq!(
        second["runtime_refusals"],
        serde_json::json!({ "already_spent": TXS }),
        "{second}"
    );
    assert!(
        second["seconds"].as_f64().unwrap() >= 1.5,
        "not paced: {second}"
    );
    assert!(node.terminate(), "the node did not stop cleanly");
}
