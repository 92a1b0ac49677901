//! End-to-end tests of `couponchain dev`: the real binary on a free port on 127.0.0.1,
//! driven over raw HTTP. The whole coupon lifecycle with every refusal, the event stream
//! across a reconnect, and SIGKILL crash safety.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use couponchain_chain::tx::{campaign_id, coupon_id, GovAction, Recipient, TxBody};
use couponchain_chain::{BearerCode, Hash, Keypair};
use couponchain_tests::{demo, spec, Api, NodeProcess};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Parsed Server-Sent Events: (id, event name, data).
async fn read_events(
    api: &Api,
    query: &str,
    last_id: Option<&str>,
    count: usize,
) -> Vec<(String, String, Value)> {
    let mut req = api.http.get(format!("{}/v1/events{query}", api.url));
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events within 20 s", out.len()))
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let msg: String = buf.drain(..end + 2).collect();
            let (mut id, mut ev, mut data) = (String::new(), String::new(), String::new());
            for line in msg.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("event:") {
                    ev = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !data.is_empty() && out.len() < count {
                out.push((id, ev, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_over_http_with_every_refusal_and_a_resumable_event_stream() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::dev(dir.path(), &[]);
    let api = Api::connect(&node.url).await;
    let (issuer, site, holder, validator) = (
        demo("issuer"),
        demo("site"),
        demo("holder"),
        demo("validator"),
    );
    let other = Keypair::from_seed("e2e/other-holder");
    let now = api.chain_time().await;

    // Campaign A (long), campaign B (expires in 3 s).
    let create_a = api.open_campaign(&issuer, "A").await;
    let a = campaign_id(&create_a.id());
    api.applied(&create_a).await;
    let create_b = api
        .tx(
            &issuer,
            TxBody::CreateCampaign(spec("B", now - 1, now + 3_000)),
        )
        .await;
    let b = campaign_id(&create_b.id());
    api.applied(&create_b).await;

    // Issue to a key and to a bearer code.
    let code = BearerCode::generate().unwrap();
    let issue = api
        .tx(
            &issuer,
            TxBody::IssueCoupons {
                campaign: a,
                recipients: vec![
                    Recipient {
                        owner: holder.public(),
                        bearer: false,
                    },
                    Recipient {
                        owner: code.keypair().public(),
                        bearer: true,
                    },
                    Recipient {
                        owner: holder.public(),
                        bearer: false,
                    },
                ],
            },
        )
        .await;
    let (c0, c1, c2) = (
        coupon_id(&issue.id(), 0),
        coupon_id(&issue.id(), 1),
        coupon_id(&issue.id(), 2),
    );
    api.applied(&issue).await;
    let issue_b = api
        .tx(
            &issuer,
            TxBody::IssueCoupons {
                campaign: b,
                recipients: vec![Recipient {
                    owner: holder.public(),
                    bearer: false,
                }],
            },
        )
        .await;
    let cb = coupon_id(&issue_b.id(), 0);
    api.applied(&issue_b).await;

    // Transfer c0 to `other`; claim the bearer coupon into `holder`.
    api.applied(
        &api.tx(
            &holder,
            TxBody::Transfer {
                coupon: c0,
                to: other.public(),
            },
        )
        .await,
    )
    .await;
    api.applied(
        &api.tx(
            &code.keypair(),
            TxBody::Claim {
                coupon: c1,
                to: holder.public(),
            },
        )
        .await,
    )
    .await;
    // Redeem c0 (now owned by `other`), then try again.
    api.applied(&api.redeem(&site, &other, c0, 1, 0).await)
        .await;
    api.refused_final(&api.redeem(&site, &other, c0, 1, 0).await, "already_spent")
        .await;
    // A transfer by someone who does not own the coupon.
    api.refused_final(
        &api.tx(
            &other,
            TxBody::Transfer {
                coupon: c2,
                to: other.public(),
            },
        )
        .await,
        "not_owner",
    )
    .await;
    // A site of no issuer (registered by governance; one validator executes at once).
    let canteen = Keypair::from_seed("e2e/canteen");
    api.applied(
        &api.tx(
            &validator,
            TxBody::Propose {
                action: GovAction::RegisterSite {
                    key: canteen.public(),
                    name: "Canteen".into(),
                    issuer: None,
                    region: None,
                },
            },
        )
        .await,
    )
    .await;
    api.refused_final(
        &api.redeem(&canteen, &holder, c2, 1, 0).await,
        "site_not_allowed",
    )
    .await;
    // Issue by a key that is not an issuer: refused at admission.
    api.refused_admission(
        &api.tx(
            &holder,
            TxBody::IssueCoupons {
                campaign: a,
                recipients: vec![Recipient {
                    owner: holder.public(),
                    bearer: false,
                }],
            },
        )
        .await,
        "not_issuer",
    )
    .await;
    // A bad signature: refused at admission.
    let mut forged = api.redeem(&site, &holder, c2, 1, 0).await;
    forged.signature.0[10] ^= 1;
    api.refused_admission(&forged, "bad_signature").await;
    // Past expiry (block time, not the clock of this test).
    while api.chain_time().await < now + 3_000 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    api.refused_final(&api.redeem(&site, &holder, cb, 1, 0).await, "expired")
        .await;

    // Malformed requests.
    let r = api
        .http
        .post(format!("{}/v1/txs", api.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_json", "{body}");
    let r = api
        .http
        .post(format!("{}/v1/txs", api.url))
        .header("content-type", "application/octet-stream")
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = api
        .http
        .post(format!("{}/v1/txs", api.url))
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; 9 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large", "{body}");
    let (code, body) = api.get("/v1/nope").await;
    assert_eq!(code, 404);
    assert_eq!(body["code"], "not_found");
    let (code, _) = api.get(&format!("/v1/coupons/{}", Hash([9; 32]))).await;
    assert_eq!(code, 404);
    let (code, body) = api.get("/v1/coupons/not-hex").await;
    assert_eq!(code, 400, "{body}");

    // Queries.
    let (_, c) = api.get(&format!("/v1/coupons/{c0}")).await;
    assert_eq!(c["state"], "spent", "{c}");
    assert_eq!(c["coupon"]["history"].as_array().unwrap().len(), 3, "{c}"); // issued, transferred, redeemed
    let (_, cbv) = api.get(&format!("/v1/coupons/{cb}")).await;
    assert_eq!(cbv["state"], "expired", "{cbv}");
    let (_, camp) = api.get(&format!("/v1/campaigns/{a}")).await;
    assert_eq!(camp["report"]["issued"], 3, "{camp}");
    assert_eq!(camp["report"]["spent"], 1, "{camp}");
    assert_eq!(camp["report"]["active"], 2, "{camp}");
    let (_, cambp) = api.get(&format!("/v1/campaigns/{b}")).await;
    assert_eq!(cambp["report"]["expired_unused"], 1, "{cambp}");
    let (_, mine) = api
        .get(&format!("/v1/owners/{}/coupons", holder.public()))
        .await;
    assert_eq!(mine["coupons"].as_array().unwrap().len(), 3, "{mine}"); // c1 (claimed), c2, cb

    // The event stream: everything final so far, in order, across a reconnect.
    let head: u64 = api.get("/v1/status").await.1["head"]["height"]
        .as_u64()
        .unwrap();
    let mut expected = Vec::new();
    for h in 1..=head {
        let (_, r) = api.get(&format!("/v1/blocks/{h}/receipts")).await;
        for (ti, rec) in r["receipts"].as_array().unwrap().iter().enumerate() {
            if let Some(evs) = rec["outcome"]["applied"]["events"].as_array() {
                for (ei, ev) in evs.iter().enumerate() {
                    expected.push((format!("{h}:{ti}:{ei}"), ev.clone()));
                }
            }
        }
    }
    assert!(expected.len() >= 10, "{} events", expected.len());
    let first = read_events(&api, "?from_height=1", None, 4).await;
    let rest = read_events(
        &api,
        "?from_height=1",
        Some(&first[3].0),
        expected.len() - 4,
    )
    .await;
    let got: Vec<(String, Value)> = first
        .iter()
        .chain(&rest)
        .map(|(id, _, d)| (id.clone(), d["event"].clone()))
        .collect();
    assert_eq!(got, expected, "stream differs from the receipts");
    // A new event arrives live on an open stream.
    let live = tokio::spawn({
        let url = api.url.clone();
        let last = expected.last().unwrap().0.clone();
        async move {
            let api2 = Api {
                http: reqwest::Client::new(),
                url,
                chain_id: String::new(),
            };
            read_events(&api2, "", Some(&last), 1).await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.applied(
        &api.tx(
            &issuer,
            TxBody::SetCampaignStatus {
                campaign: a,
                action: couponchain_chain::tx::CampaignAction::Pause,
            },
        )
        .await,
    )
    .await;
    let live = live.await.unwrap();
    assert_eq!(live[0].1, "campaign_status_changed", "{live:?}");

    // A batch answered in brief: the verdict of each, no events.
    let now = api.chain_time().await;
    let batch = vec![
        api.redeem(&site, &other, c0, 1, 0).await,
        api.tx(
            &issuer,
            TxBody::CreateCampaign(spec("brief", now, now + 3_600_000)),
        )
        .await,
    ];
    let r = api
        .http
        .post(format!(
            "{}/v1/txs/batch?wait=final&timeout_ms=10000&receipts=brief",
            api.url
        ))
        .header("content-type", "application/octet-stream")
        .body(couponchain_chain::encoding::encode(&batch))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let out: Value = r.json().await.unwrap();
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{out}");
    for (res, tx) in results.iter().zip(&batch) {
        assert_eq!(res["tx"], tx.id().to_string(), "{out}");
        assert_eq!(res["status"], "final", "{out}");
        assert!(res.get("receipt").is_none_or(Value::is_null), "{out}");
        assert!(res["brief"]["height"].as_u64().unwrap() > 0, "{out}");
    }
    assert_eq!(results[0]["brief"]["applied"], false, "{out}");
    assert_eq!(results[0]["brief"]["code"], "already_spent", "{out}");
    assert_eq!(results[1]["brief"]["applied"], true, "{out}");
    assert!(results[1]["brief"].get("code").is_none(), "{out}");

    // Health, readiness, metrics, OpenAPI.
    assert_eq!(api.get("/health").await.0, 200);
    assert_eq!(api.get("/ready").await.0, 200);
    let metrics = api.metrics().await;
    for m in [
        "couponchain_block_height",
        "couponchain_mempool_txs",
        "couponchain_finality_latency_seconds",
        "rpc_request_duration_seconds",
    ] {
        assert!(metrics.contains(m), "metric {m} missing");
    }
    // Every stage of the admissions above was timed.
    for stage in ["queued", "checks", "signatures", "mempool"] {
        let line = format!("couponchain_admission_seconds_count{{stage=\"{stage}\"}} ");
        let count: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no admission timing for stage {stage}"));
        assert!(count > 0, "stage {stage} never timed");
    }
    let (code, doc) = api.get("/openapi.json").await;
    assert_eq!(code, 200);
    assert!(doc["paths"]["/v1/txs"].is_object(), "OpenAPI lacks /v1/txs");
    assert!(node.terminate(), "the node did not stop cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_final_transaction_and_the_node_continues() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::dev(dir.path(), &[]);
    let api = Api::connect(&node.url).await;
    let issuer = demo("issuer");
    let create = api.open_campaign(&issuer, "crash").await;
    let campaign = campaign_id(&create.id());
    api.applied(&create).await;
    let mut finals = Vec::new();
    for i in 0..20u64 {
        let tx = api
            .tx(
                &issuer,
                TxBody::IssueCoupons {
                    campaign,
                    recipients: vec![Recipient {
                        owner: Keypair::from_seed(&format!("h{i}")).public(),
                        bearer: false,
                    }],
                },
            )
            .await;
        let out = api.applied(&tx).await;
        finals.push((tx.id(), out["receipt"].clone()));
    }
    let (_, latest) = api.get("/v1/blocks/latest").await;
    let height = latest["block"]["header"]["height"].as_u64().unwrap();
    let root = latest["block"]["header"]["state_root"].clone();
    node.kill9();

    let node = NodeProcess::dev(dir.path(), &[]);
    let api = Api::connect(&node.url).await;
    for (id, receipt) in &finals {
        let (code, v) = api.get(&format!("/v1/txs/{id}")).await;
        assert_eq!(code, 200, "final tx {id} lost");
        assert_eq!(v["status"], "final");
        assert_eq!(&v["view"]["receipt"], receipt);
    }
    let (_, b) = api.get(&format!("/v1/blocks/{height}")).await;
    assert_eq!(
        b["block"]["header"]["state_root"], root,
        "root at {height} changed"
    );
    let (_, camp) = api.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(camp["report"]["issued"], 20);
    // And it continues.
    let tx = api
        .tx(
            &issuer,
            TxBody::IssueCoupons {
                campaign,
                recipients: vec![Recipient {
                    owner: issuer.public(),
                    bearer: false,
                }],
            },
        )
        .await;
    api.applied(&tx).await;
}

/// A node whose disk is under its reserve (`storage.min_free_mb`, here far above any disk)
/// refuses client transactions with `disk_low` and HTTP 503 — the client should try
/// another node — while it keeps serving queries and producing blocks, and says so in its
/// metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_its_disk_reserve_a_node_refuses_transactions_and_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::dev_env(
        dir.path(),
        &[],
        &[("COUPONCHAIN__STORAGE__MIN_FREE_MB", "1000000000000")],
    );
    let api = Api::connect(&node.url).await;
    let issuer = demo("issuer");
    let create = api.open_campaign(&issuer, "full disk").await;
    let (http, out) = api.submit(&create).await;
    assert_eq!(http, 503, "{out}");
    assert_eq!(out["code"], "disk_low", "{out}");
    assert!(
        out["message"].as_str().unwrap().contains("reserve"),
        "{out}"
    );
    let (code, status) = api.get("/v1/status").await;
    assert_eq!(code, 200, "{status}");
    let metrics = api.metrics().await;
    let gauge = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    assert_eq!(gauge("couponchain_storage_disk_low"), 1);
    assert!(gauge("couponchain_storage_disk_free_bytes") > 0);
    assert!(
        metrics.contains("couponchain_txs_refused_total{code=\"disk_low\"} 1"),
        "the refusal is not counted by code"
    );
    assert!(node.terminate(), "the node did not stop cleanly on SIGTERM");
}
