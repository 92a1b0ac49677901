//! Multi-process tests of a real network: validators and a full replica from the real
//! binary, each with its own RocksDB, talking libp2p over 127.0.0.1 — laid out by
//! `couponchain localnet init` exactly as `scripts/localnet.sh` does. Every wait is
//! bounded; the two tests run one after the other (they share the machine's two cores).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use couponchain_chain::tx::{campaign_id, coupon_id, GovAction, Recipient, TxBody};
use couponchain_chain::{Hash, Keypair};
use couponchain_tests::{demo, Api, Localnet, NodeProcess};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn height(api: &Api) -> u64 {
    let (code, s) = api.get("/v1/status").await;
    if code != 200 {
        return 0;
    }
    s["head"]["height"].as_u64().unwrap_or(0)
}

/// A localnet whose every node has made its first blocks, with a client for each.
async fn started(validators: u16, replicas: u16) -> (Localnet, Vec<Api>) {
    let net = Localnet::start(validators, replicas);
    let mut apis = Vec::new();
    for i in 0..net.specs.len() {
        apis.push(Api::connect(net.url(i)).await);
    }
    for a in &apis {
        wait_height(a, Duration::from_secs(30), "first blocks", |h| h >= 2).await;
    }
    (net, apis)
}

/// Waits (at most `limit`) until `cond` holds for the node's height; returns it.
async fn wait_height(api: &Api, limit: Duration, what: &str, cond: impl Fn(u64) -> bool) -> u64 {
    let start = Instant::now();
    loop {
        let h = height(api).await;
        if cond(h) {
            return h;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: height {h} at {} after {limit:?}",
            api.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn block(api: &Api, h: u64) -> Value {
    let (code, b) = api.get(&format!("/v1/blocks/{h}")).await;
    assert_eq!(code, 200, "block {h} at {}: {b}", api.url);
    b
}

/// Every node has the same block hash and state root at every height up to the lowest head.
async fn assert_agree(apis: &[&Api]) -> u64 {
    let mut common = u64::MAX;
    for a in apis {
        common = common.min(height(a).await);
    }
    for h in 1..=common {
        let first = block(apis[0], h).await;
        for a in &apis[1..] {
            let b = block(a, h).await;
            assert_eq!(b["hash"], first["hash"], "block {h} differs at {}", a.url);
            assert_eq!(
                b["block"]["header"]["state_root"],
                first["block"]["header"]["state_root"]
            );
        }
    }
    common
}

fn issue_to(holder: &Keypair, n: usize) -> Vec<Recipient> {
    (0..n)
        .map(|_| Recipient {
            owner: holder.public(),
            bearer: false,
        })
        .collect()
}

/// Waits (at most 60 s) until `key` (hex) proposes or signs the certificate of a block at
/// or after height `from`, as `api` serves them.
async fn wait_participation(api: &Api, key: &str, from: u64, who: String) {
    let start = Instant::now();
    let mut h = from;
    loop {
        let top = height(api).await;
        while h <= top {
            if participants(&block(api, h).await).iter().any(|p| p == key) {
                return;
            }
            h += 1;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{who} took no part in blocks {from}..{top}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Signers of a block's certificate plus its proposer.
fn participants(b: &Value) -> Vec<String> {
    let mut out = vec![b["block"]["header"]["proposer"]
        .as_str()
        .unwrap()
        .to_string()];
    for s in b["certificate"]["signatures"].as_array().unwrap() {
        out.push(s[0].as_str().unwrap().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_and_a_replica_under_load_survive_a_crash_and_agree() {
    let _serial = SERIAL.lock().await;
    let (mut net, apis) = started(4, 1).await;
    // A backup of validator 1's signing state, restored after it has signed more (below).
    let v1_state = signing_state(&net, 1);
    let v1_backup = v1_state.with_extension("backup");
    std::fs::copy(&v1_state, &v1_backup).unwrap();
    let (issuer, site, holder) = (demo("issuer"), demo("site"), demo("holder"));

    // The lifecycle through different nodes, the replica included.
    let create = apis[1].open_campaign(&issuer, "L").await;
    let campaign = campaign_id(&create.id());
    apis[1].applied(&create).await;
    let issue = apis[2]
        .tx(
            &issuer,
            TxBody::IssueCoupons {
                campaign,
                recipients: issue_to(&holder, 3),
            },
        )
        .await;
    apis[2].applied(&issue).await;
    let (c0, c1) = (coupon_id(&issue.id(), 0), coupon_id(&issue.id(), 1));
    // Submitted to the replica: forwarded to the validators, final when it applies it.
    apis[4]
        .applied(&apis[4].redeem(&site, &holder, c0, 1, 0).await)
        .await;
    apis[3]
        .refused_final(
            &apis[3].redeem(&site, &holder, c0, 1, 0).await,
            "already_spent",
        )
        .await;

    // The same coupon redeemed at two validators at the same moment: exactly one wins.
    let ra = apis[0].redeem(&site, &holder, c1, 1, 0).await;
    let rb = apis[1].redeem(&site, &holder, c1, 1, 0).await;
    let ((ca, oa), (cb, ob)) = tokio::join!(apis[0].submit(&ra), apis[1].submit(&rb));
    assert_eq!((ca, cb), (200, 200), "{oa} {ob}");
    let applied = [&oa, &ob]
        .iter()
        .filter(|o| o["receipt"]["outcome"]["applied"].is_object())
        .count();
    assert_eq!(applied, 1, "exactly one redemption wins: {oa} {ob}");
    for o in [&oa, &ob] {
        assert_eq!(o["status"], "final", "{o}");
    }
    let head = height(&apis[0]).await;
    for a in &apis {
        wait_height(a, Duration::from_secs(30), "replicas follow", |h| h >= head).await;
    }
    let coupon_path = format!("/v1/coupons/{}", c1.to_hex());
    let seen = apis[0].get(&coupon_path).await.1;
    for a in &apis[1..] {
        assert_eq!(
            a.get(&coupon_path).await.1["coupon"],
            seen["coupon"],
            "{}",
            a.url
        );
    }

    // A node whose key is not registered on the chain is refused at the handshake.
    let stranger_dir = net.dir.path().join("stranger");
    std::fs::create_dir_all(&stranger_dir).unwrap();
    let stranger_key = stranger_dir.join("stranger.key");
    let status = std::process::Command::new(couponchain_tests::couponchain_bin())
        .args(["keys", "new", "--seed", "e2e/stranger", "--out"])
        .arg(&stranger_key)
        .output()
        .unwrap();
    assert!(status.status.success());
    let replica_config = std::fs::read_to_string(&net.specs[4].2).unwrap();
    let rpc_port = couponchain_tests::free_ports(1);
    let p2p_port = couponchain_tests::free_ports(1);
    let config: String = replica_config
        .lines()
        .map(|l| {
            if l.starts_with("node_key") {
                format!("node_key = {:?}", stranger_key.display().to_string())
            } else if l.starts_with("addr") {
                format!("addr = \"127.0.0.1:{rpc_port}\"")
            } else if l.starts_with("listen") {
                format!("listen = \"/ip4/127.0.0.1/tcp/{p2p_port}\"")
            } else if l.starts_with("genesis") {
                format!(
                    "genesis = {:?}",
                    net.dir.path().join("genesis.json").display().to_string()
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let stranger_config = stranger_dir.join("config.toml");
    std::fs::write(&stranger_config, config).unwrap();
    let stranger = NodeProcess::run(&stranger_config, &stranger_dir.join("node.log"));
    let stranger_api = Api::connect(&stranger.url).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        height(&stranger_api).await,
        0,
        "an unregistered node must not sync"
    );
    let metrics = apis[0].metrics().await;
    let denied: f64 = metrics
        .lines()
        .find(|l| l.starts_with("couponchain_p2p_denied_connections_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(
        denied >= 1.0,
        "validator 0 refused no connection:\n{metrics}"
    );
    stranger.kill9();

    // Steady load while validator 3 is killed and comes back.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let api = Api::connect(net.url(0)).await;
        let issuer = issuer.clone();
        tokio::spawn(async move {
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) && sent < 2_000 {
                let tx = api
                    .tx(
                        &issuer,
                        TxBody::IssueCoupons {
                            campaign,
                            recipients: issue_to(&Keypair::from_seed("e2e/load"), 1),
                        },
                    )
                    .await;
                let _ = api
                    .http
                    .post(format!("{}/v1/txs", api.url))
                    .header("content-type", "application/octet-stream")
                    .body(tx.encode())
                    .send()
                    .await;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    net.kill9(3);
    let h0 = height(&apis[0]).await;
    wait_height(
        &apis[0],
        Duration::from_secs(60),
        "finality without validator 3",
        |h| h >= h0 + 5,
    )
    .await;
    // It comes back without its signing state (lost with a disk, say): it must abstain
    // at the height it may have signed for, and take part after it.
    let state = signing_state(&net, 3);
    std::fs::remove_file(&state).unwrap_or_else(|e| panic!("removing {}: {e}", state.display()));
    net.start_node(3);
    let restarted_at = height(&apis[0]).await;
    wait_height(
        &apis[3],
        Duration::from_secs(60),
        "validator 3 catches up",
        |h| h >= restarted_at,
    )
    .await;
    // It votes (or proposes) again.
    let v3 = Keypair::from_seed("couponchain-localnet/validator-3")
        .public()
        .to_hex();
    wait_participation(
        &apis[0],
        &v3,
        restarted_at,
        "validator 3 after restarting".into(),
    )
    .await;
    let log = std::fs::read_to_string(net.log(3)).unwrap();
    assert!(
        log.contains("no signing state"),
        "validator 3 did not say it abstains after losing its signing state"
    );
    // A log file is plain text (colours are for terminals).
    assert!(
        !log.contains('\u{1b}'),
        "terminal escape codes in a log file"
    );

    // Validator 1 comes back with the signing state backed up at the start: its own
    // signatures in the chain since show it stale, and it abstains as if it were lost.
    net.kill9(1);
    std::fs::copy(&v1_backup, &v1_state).unwrap();
    let before = past_last_signature(&apis, 1).await;
    net.start_node(1);
    assert_abstains(
        &net,
        &apis,
        1,
        before,
        "the signing state is older than this key's own signature",
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    catch_up_and_agree(&apis).await;
    // Each validator keeps the proof of its last valid value, for after a restart.
    for v in 0..4 {
        let proof = signing_state(&net, v).with_file_name("lock-proof.bin");
        assert!(
            std::fs::metadata(&proof).is_ok_and(|m| m.len() > 0),
            "{} missing",
            proof.display()
        );
    }

    // Governance makes the replica a validator: it starts voting without a restart.
    promote_replica(&net, &apis).await;
}

/// Validator 0 proposes the replica (node 4) as a validator and validators 1 and 2
/// approve (3 of 4); once the new set takes effect the replica reports the validator role
/// and signs certificates, while all five still agree.
async fn promote_replica(net: &Localnet, apis: &[Api]) {
    let replica = Keypair::from_seed("couponchain-localnet/replica-0").public();
    let validator = |i: usize| Keypair::from_seed(&format!("couponchain-localnet/validator-{i}"));
    let out = apis[0]
        .applied(
            &apis[0]
                .tx(
                    &validator(0),
                    TxBody::Propose {
                        action: GovAction::AddValidator { key: replica },
                    },
                )
                .await,
        )
        .await;
    let proposal: Hash = out["receipt"]["outcome"]["applied"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|e| e["proposal_created"]["proposal"].as_str())
        .unwrap_or_else(|| panic!("no proposal_created event: {out}"))
        .parse()
        .unwrap();
    for i in [1, 2] {
        apis[i]
            .applied(
                &apis[i]
                    .tx(&validator(i), TxBody::Approve { proposal })
                    .await,
            )
            .await;
    }
    let from = height(&apis[0]).await;
    wait_participation(
        &apis[0],
        &replica.to_hex(),
        from,
        format!("the promoted replica (log: {})", net.log(4).display()),
    )
    .await;
    let (_, status) = apis[4].get("/v1/status").await;
    assert_eq!(status["role"], "validator", "{status}");
    catch_up_and_agree(apis).await;
}

/// Every node reaches node 0's current height (within 30 s) and all agree up to it.
async fn catch_up_and_agree(apis: &[Api]) {
    let top = height(&apis[0]).await;
    for a in apis {
        wait_height(a, Duration::from_secs(30), "all reach the top", |h| {
            h >= top
        })
        .await;
    }
    let refs: Vec<&Api> = apis.iter().collect();
    let checked = assert_agree(&refs).await;
    assert!(checked >= top);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_two_of_four_validators_halts_finality_until_one_returns() {
    let _serial = SERIAL.lock().await;
    let (mut net, apis) = started(4, 0).await;
    net.kill9(2);
    net.kill9(3);
    // Let anything decided just before the kill land everywhere.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let h0 = height(&apis[0]).await;
    let h1 = height(&apis[1]).await;
    let issuer = demo("issuer");
    let create = apis[0].open_campaign(&issuer, "Q").await;
    let r = apis[0]
        .http
        .post(format!("{}/v1/txs", apis[0].url))
        .header("content-type", "application/octet-stream")
        .body(create.encode())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["status"], "accepted", "{out}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        height(&apis[0]).await,
        h0,
        "a block became final with 2 of 4 validators"
    );
    assert_eq!(height(&apis[1]).await, h1);
    let id: Hash = create.id();
    let tx_path = format!("/v1/txs/{}", id.to_hex());
    assert_ne!(apis[0].get(&tx_path).await.1["status"], "final");

    net.start_node(3);
    let start = Instant::now();
    loop {
        let (_, v) = apis[0].get(&tx_path).await;
        if v["status"] == "final" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the transaction did not become final after validator 3 returned: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let top = height(&apis[0]).await;
    wait_height(
        &apis[3],
        Duration::from_secs(30),
        "validator 3 has it",
        |h| h >= top,
    )
    .await;
    assert_eq!(apis[3].get(&tx_path).await.1["status"], "final");
    assert_agree(&[&apis[0], &apis[1], &apis[3]]).await;

    // Validator 2 comes back with its key on an empty data directory (its disk replaced,
    // say): before signing anything it follows the chain to where the others are, then
    // abstains two heights past it (it may have signed there before), then takes part.
    let data = net.specs[2].2.parent().unwrap().join("data");
    std::fs::remove_dir_all(&data).unwrap_or_else(|e| panic!("wiping {}: {e}", data.display()));
    let before = height(&apis[0]).await;
    net.start_node(2);
    wait_height(
        &apis[2],
        Duration::from_secs(60),
        "validator 2 follows the chain from genesis",
        |h| h >= before,
    )
    .await;
    let log = std::fs::read_to_string(net.log(2)).unwrap();
    assert!(
        log.contains("following the chain there before signing anything"),
        "validator 2 did not catch up before signing"
    );
    assert_abstains(&net, &apis, 2, before, "no signing state: this validator").await;
}

/// A height on validator 0 at or above every height that validator `killed` (just
/// stopped) can have signed for, so a later abstention window starts clear of its last
/// signatures. Its last precommit, at some height `x`, may join a certificate only after it
/// stopped; precommitting `x` needed a polka there, so other validators had already
/// finished `x - 1` when it stopped: `x` ≤ (the highest height now) + 1.
async fn past_last_signature(apis: &[Api], killed: usize) -> u64 {
    let mut top = 0;
    for (i, a) in apis.iter().enumerate().take(4) {
        if i != killed {
            top = top.max(height(a).await);
        }
    }
    wait_height(
        &apis[0],
        Duration::from_secs(60),
        "the height after the stopped validator's last signature",
        |h| h > top,
    )
    .await
}

fn signing_state(net: &Localnet, v: usize) -> std::path::PathBuf {
    net.specs[v]
        .2
        .parent()
        .unwrap()
        .join("data/signing-state.bin")
}

/// Validator `v`, restarted when the chain was at `before`, says `why` it abstains, and
/// through a height at least two past `before`; none of the other validators' blocks in
/// that window carries its signature, and it signs again after it.
async fn assert_abstains(net: &Localnet, apis: &[Api], v: usize, before: u64, why: &str) {
    let start = Instant::now();
    let log = loop {
        let log = std::fs::read_to_string(net.log(v)).unwrap_or_default();
        if log.contains(why) {
            break log;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "validator {v} did not log {why:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let through = abstain_through(&log);
    assert!(
        through >= before + 2,
        "validator {v} abstains only through {through}, the chain was at {before}"
    );
    wait_height(
        &apis[0],
        Duration::from_secs(60),
        "the abstention window passes",
        |h| h > through,
    )
    .await;
    let key = Keypair::from_seed(&format!("couponchain-localnet/validator-{v}"))
        .public()
        .to_hex();
    for h in before + 1..=through {
        for (i, a) in apis.iter().enumerate().take(4) {
            if i != v {
                assert!(
                    !participants(&block(a, h).await).contains(&key),
                    "validator {v} signed block {h} while it had to abstain (through {through})"
                );
            }
        }
    }
    wait_participation(
        &apis[0],
        &key,
        through + 1,
        format!("validator {v} after abstaining"),
    )
    .await;
}

/// The height a validator last said it abstains through, from its log.
fn abstain_through(log: &str) -> u64 {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("abstain_through="))
        .unwrap_or_else(|| panic!("no abstention in the log"));
    let rest = &line[line.find("abstain_through=").unwrap() + "abstain_through=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// A failover gone wrong: validator 3's folder is copied to a standby, and the standby is
/// started while validator 3 runs again — two processes signing with one key. The other
/// validators record the double signing as evidence (served over the RPC and kept across a
/// restart) and send it to every validator: one of the two processes holding the key
/// learns that another signs with it and halts its signing (a file beside its signing
/// state, a metric). The chain stays live with every honest validator agreeing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_run_twice_is_recorded_as_equivocating_and_the_chain_stays_safe() {
    let _serial = SERIAL.lock().await;
    let (mut net, apis) = started(4, 0).await;
    // Stopped cleanly, so that the copy is a consistent database.
    let primary = net.nodes[3].take().unwrap();
    assert!(primary.terminate(), "validator 3 did not stop cleanly");
    let twin_config = copy_node(&net, 3, "validator-3-twin");
    net.start_node(3);
    let twin = NodeProcess::run(&twin_config, &twin_config.with_file_name("node.log"));

    let v3 = Keypair::from_seed("couponchain-localnet/validator-3")
        .public()
        .to_hex();
    let start = Instant::now();
    let (witness, evidence) = 'found: loop {
        for (i, a) in apis.iter().enumerate().take(3) {
            let (code, list) = a.get("/v1/evidence").await;
            assert_eq!(code, 200, "{list}");
            if let Some(e) = list
                .as_array()
                .and_then(|l| l.iter().find(|e| e["offender"] == v3.as_str()))
            {
                break 'found (i, e.clone());
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no validator recorded validator 3's double signing (twin log: {})",
            twin_config.with_file_name("node.log").display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Two messages signed by the key, of one kind, height and round, that differ.
    let id = evidence["id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 64, "{evidence}");
    let kind = evidence["kind"].as_str().unwrap();
    eprintln!(
        "validator {witness} recorded a {kind} equivocation at height {} after {:?}",
        evidence["height"],
        start.elapsed()
    );
    assert!(kind == "proposal" || kind == "vote", "{evidence}");
    let pair = &evidence["messages"][if kind == "vote" { "Vote" } else { "Proposal" }];
    let (first, second) = (&pair["first"], &pair["second"]);
    assert_eq!(first["signer"], v3.as_str(), "{evidence}");
    assert_eq!(second["signer"], v3.as_str(), "{evidence}");
    assert_ne!(first, second, "{evidence}");
    // Anyone can check it without trusting the node: the CLI verifies both signatures.
    let url = net.url(witness).to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(couponchain_tests::couponchain_bin())
            .args(["--rpc", &url, "evidence"])
            .env_remove("COUPONCHAIN_RPC")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("offender {v3}")) && l.ends_with(": verified")),
        "{text}"
    );
    let metrics = apis[witness].metrics().await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("couponchain_consensus_equivocations_total ") && !l.ends_with(" 0")
        ),
        "the equivocation is not counted on /metrics"
    );

    // The evidence reaches the key's holders (the witnesses send it to every validator; one
    // of the two processes gets it, or sees the other's messages relayed): one halts.
    let primary_config = net.specs[3].2.clone();
    let halt_file = |config: &std::path::Path| config.with_file_name("data").join("signing-halted");
    let start = Instant::now();
    let halted = loop {
        if let Some(c) = [&primary_config, &twin_config]
            .into_iter()
            .find(|c| halt_file(c).exists())
        {
            break c.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "neither process holding validator 3's key halted its signing"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let reason = std::fs::read_to_string(halt_file(&halted)).unwrap();
    eprintln!(
        "{} halted after {:?}: {reason}",
        halted.display(),
        start.elapsed()
    );
    assert!(reason.contains("validator's key"), "{reason}");
    let halted_api = Api::connect(&rpc_url(&halted)).await;
    assert!(
        halted_api
            .metrics()
            .await
            .lines()
            .any(|l| l == "couponchain_consensus_signing_halted 1"),
        "the halt is not on /metrics"
    );
    let log = std::fs::read_to_string(halted.with_file_name("node.log")).unwrap_or_default();
    assert!(log.contains("signing halted"), "the halt is not logged");

    // The chain goes on, and the three honest validators agree on every block.
    let h = height(&apis[0]).await;
    wait_height(
        &apis[0],
        Duration::from_secs(60),
        "blocks after the equivocation",
        |x| x >= h + 3,
    )
    .await;
    assert_agree(&[&apis[0], &apis[1], &apis[2]]).await;

    // Both instances gone, the validator that recorded it restarts: the evidence is still
    // served, and the three go on without validator 3.
    twin.kill9();
    net.kill9(3);
    let recorder = net.nodes[witness].take().unwrap();
    assert!(recorder.terminate());
    net.start_node(witness);
    let (_, list) = apis[witness].get("/v1/evidence").await;
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().any(|e| e["id"] == id)),
        "the evidence did not survive the restart: {list}"
    );
    let h = height(&apis[witness]).await;
    wait_height(
        &apis[witness],
        Duration::from_secs(60),
        "blocks from the three honest validators",
        |x| x >= h + 3,
    )
    .await;
}

/// The RPC URL in a node's config.
fn rpc_url(config: &std::path::Path) -> String {
    let text = std::fs::read_to_string(config).unwrap();
    let addr = text
        .lines()
        .find_map(|l| l.strip_prefix("addr = "))
        .unwrap()
        .trim_matches('"');
    format!("http://{addr}")
}

/// Copies node `i`'s folder (stopped) to a sibling `name` with its own RPC and p2p ports;
/// returns the copy's config. It keeps the key, the genesis and the peers of node `i`.
fn copy_node(net: &Localnet, i: usize, name: &str) -> std::path::PathBuf {
    let from = net.specs[i].2.parent().unwrap();
    let to = from.with_file_name(name);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(&to)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_file(to.join("node.log"));
    let rpc = couponchain_tests::free_ports(2);
    let p2p = rpc + 1;
    let config = to.join("config.toml");
    let text: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("addr = ") {
                format!("addr = \"127.0.0.1:{rpc}\"")
            } else if l.starts_with("listen = ") {
                format!("listen = \"/ip4/127.0.0.1/tcp/{p2p}\"")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&config, text).unwrap();
    config
}
