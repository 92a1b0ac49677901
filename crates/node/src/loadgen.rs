//! `couponchain loadgen`: drives a node over its RPC and reports what it sustained.
//!
//! Setup (not measured): a campaign, and enough coupons issued to `--holders` derived keys.
//! Then every measured transaction is signed before the clock starts, and submitted in
//! binary batches (`POST /v1/txs/batch?wait=final`) over `--connections` concurrent
//! requests, paced to `--rate` transactions per second (or as fast as the node takes them).
//! A batch's submit-to-final time counts for each of its transactions; at a target rate, a
//! batch that found every connection busy past its due time counts from that due time, so
//! a node that falls behind cannot hide its queue behind busy connections. With
//! `--settle-rpc`, the clock starts only once those nodes' storage reports no flush or
//! compaction running or due. `--submit-rpc` spreads the measured batches over several
//! nodes; `--coupons-file` records a redeem setup's coupons so that a network restored from
//! a copy can be measured again without issuing them anew. Bounded: it stops after
//! `--duration-s` or when the pre-signed transactions run out (and waits at most
//! `--settle-max-s` to settle).

use crate::keyfile::read_key_file;
use anyhow::{bail, Context};
use couponchain_chain::tx::{
    campaign_id, coupon_id, Benefit, CampaignSpec, CouponKind, Recipient, SitePolicy, Terms, TxBody,
};
use couponchain_chain::{encoding, Hash, Keypair, SignedTransaction, Transaction};
use couponchain_rpc::{NodeStatus, SubmitOutcome, SubmitStatus};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// The node the setup goes to (and, without `--submit-rpc`, the measured batches).
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// Spread the measured batches over these nodes, batch i to the (i mod n)-th (repeat
    /// the flag), as shop backends spread over a network would.
    #[arg(long = "submit-rpc")]
    pub submit_rpc: Vec<String>,
    /// "redeem" or "issue" (one coupon per transaction).
    #[arg(long, default_value = "redeem")]
    pub mode: String,
    /// Target transactions per second; 0 = as fast as the node takes them.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Measured run length.
    #[arg(long, default_value_t = 60)]
    pub duration_s: u64,
    /// Transactions per HTTP request.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Concurrent requests in flight. At full speed a node needs about three blocks' worth
    /// of transactions in flight (one block building, one being written, the next being
    /// admitted): with 16 × 200 a dev node sat idle ~15 % of the time, waiting for them;
    /// with 48 × 200, ~9 % (blocks of ~3,900); with 96 × 200, ~6 % (blocks of ~7,700, and
    /// 10 % more transactions a second).
    #[arg(long, default_value_t = 96)]
    pub connections: usize,
    /// Holder keys the coupons are spread over.
    #[arg(long, default_value_t = 1000)]
    pub holders: usize,
    /// Issuer key file (default: the dev chain's demo issuer).
    #[arg(long)]
    pub issuer_key: Option<PathBuf>,
    /// Site key file (default: the dev chain's demo site).
    #[arg(long)]
    pub site_key: Option<PathBuf>,
    /// The node's process id, to report its CPU time and memory.
    #[arg(long)]
    pub node_pid: Option<u32>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// This many transactions are prepared (default: rate × duration, or 40,000/s ×
    /// duration at full speed); the run ends early if they run out.
    #[arg(long)]
    pub max_txs: Option<usize>,
    /// Before the measured part, wait until each of these nodes (RPC URLs; repeat the flag)
    /// reports no flush or compaction running or due: a setup that issues millions of
    /// coupons in minutes leaves every node compaction work a real network's gradual
    /// issuance would not, and the measurement should not inherit it.
    #[arg(long = "settle-rpc")]
    pub settle_rpc: Vec<String>,
    /// Give up waiting for storage to settle after this long (and measure anyway).
    #[arg(long, default_value_t = 600)]
    pub settle_max_s: u64,
    /// Redeem mode: where the setup's issued coupons are recorded. If the file exists, the
    /// setup is skipped and its coupons are redeemed (a network restored from a copy of its
    /// data after an earlier setup); otherwise the setup runs and writes it.
    #[arg(long)]
    pub coupons_file: Option<PathBuf>,
}

/// What a redeem setup issued: each issue transaction's id, how many coupons it made, and
/// the index of its first coupon (which picks each coupon's holder).
#[derive(Debug, serde::Serialize, Deserialize)]
struct IssuedCoupons {
    issues: Vec<Issued>,
}

#[derive(Debug, serde::Serialize, Deserialize)]
struct Issued {
    tx: Hash,
    count: usize,
    first: usize,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    mode: String,
    target_rate: u64,
    submitted: usize,
    final_applied: usize,
    final_refused_by_runtime: usize,
    /// Why the runtime refused them, by code (e.g. `already_spent`).
    runtime_refusals: BTreeMap<String, usize>,
    refused_at_admission: BTreeMap<String, usize>,
    timeouts: usize,
    seconds: f64,
    throughput_tx_per_s: f64,
    latency_ms: Percentiles,
    node_cpu_percent: Option<f64>,
    node_rss_mib: Option<f64>,
    /// The load generator's own CPU over the measured part: it shares the machine.
    loadgen_cpu_percent: Option<f64>,
}

#[derive(Debug, Default, serde::Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

struct Client {
    http: reqwest::Client,
    rpc: String,
}

impl Client {
    async fn status(&self) -> anyhow::Result<NodeStatus> {
        Ok(self
            .http
            .get(format!("{}/v1/status", self.rpc))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn submit(&self, txs: &[SignedTransaction]) -> anyhow::Result<Vec<SubmitOutcome>> {
        self.submit_encoded(encoding::encode(&txs.to_vec())).await
    }

    /// Like [`Client::submit`] for a pre-encoded batch, reading only what the report needs.
    async fn submit_measured(&self, body: Vec<u8>) -> anyhow::Result<Vec<Seen>> {
        self.submit_encoded(body).await
    }

    /// Submits a pre-encoded `Vec<SignedTransaction>` and waits for finality.
    async fn submit_encoded<T: DeserializeOwned>(&self, body: Vec<u8>) -> anyhow::Result<Vec<T>> {
        #[derive(serde::Deserialize)]
        struct Results<T> {
            results: Vec<T>,
        }
        let r: Results<T> = self
            .http
            .post(format!(
                "{}/v1/txs/batch?wait=final&timeout_ms=30000&receipts=brief",
                self.rpc
            ))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(r.results)
    }
}

/// What the report reads of a submit outcome: its status, whether the runtime applied it,
/// a refusal's code. Measured submissions ask for `receipts=brief`: serializing every
/// receipt's events was ~4 % of the node's CPU at full speed, and parsing them a third of a
/// core of the load generator's — both taken from the node being measured.
#[derive(Deserialize)]
struct Seen {
    status: SubmitStatus,
    brief: Option<SeenBrief>,
    error: Option<SeenError>,
}

#[derive(Deserialize)]
struct SeenBrief {
    applied: bool,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct SeenError {
    code: String,
}

fn sign(key: &Keypair, chain_id: &str, nonce: u64, now_ms: u64, body: TxBody) -> SignedTransaction {
    Transaction {
        chain_id: chain_id.to_string(),
        signer: key.public(),
        nonce,
        valid_until_ms: now_ms + 50 * 60 * 1000,
        body,
    }
    .sign(key)
}

fn demo_or(path: &Option<PathBuf>, role: &str) -> anyhow::Result<Keypair> {
    match path {
        Some(p) => read_key_file(p),
        None => Ok(Keypair::from_seed(&format!("couponchain-dev/{role}"))),
    }
}

/// (utime + stime) clock ticks and resident set size in bytes of a process.
fn proc_usage(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let rss_pages = f.get(21)?.parse::<u64>().ok()?;
    Some((ticks, rss_pages * 4096))
}

pub async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.connections == 0 || args.holders == 0 {
        bail!("--batch, --connections and --holders must be at least 1");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()?;
    let client = Arc::new(Client {
        http: http.clone(),
        rpc: args.rpc.trim_end_matches('/').to_string(),
    });
    let submit_to = if args.submit_rpc.is_empty() {
        std::slice::from_ref(&args.rpc)
    } else {
        &args.submit_rpc[..]
    };
    let submitters: Arc<Vec<Client>> = Arc::new(
        submit_to
            .iter()
            .map(|u| Client {
                http: http.clone(),
                rpc: u.trim_end_matches('/').to_string(),
            })
            .collect(),
    );
    let status = client.status().await.context("reaching the node")?;
    let chain = status.chain_id.clone();
    let issuer = demo_or(&args.issuer_key, "issuer")?;
    let site = demo_or(&args.site_key, "site")?;
    let holders: Vec<Keypair> = (0..args.holders)
        .map(|i| Keypair::from_seed(&format!("loadgen/holder/{i}")))
        .collect();
    let now = status.head.time_ms.max(crate::node::wall_ms());
    let run_nonce = now; // distinct transactions on every run
    let wanted = if args.rate > 0 {
        (args.rate * args.duration_s) as usize
    } else {
        // Enough for 40,000 tx/s over the run.
        (40_000 * args.duration_s) as usize
    };
    let wanted = args.max_txs.unwrap_or(wanted);

    let mut txs: Vec<SignedTransaction> = Vec::with_capacity(wanted);
    let recorded = match &args.coupons_file {
        Some(p) if args.mode == "redeem" && p.exists() => Some((
            p,
            serde_json::from_slice::<IssuedCoupons>(
                &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("parsing {}", p.display()))?,
        )),
        _ => None,
    };
    if let Some((path, recorded)) = recorded {
        eprintln!(
            "loadgen: redeeming the coupons recorded in {} (no setup) ...",
            path.display()
        );
        'all: for issue in &recorded.issues {
            for i in 0..issue.count {
                if txs.len() >= wanted {
                    break 'all;
                }
                let n = issue.first + i;
                txs.push(redeem(
                    &site,
                    &holders[n % holders.len()],
                    &chain,
                    coupon_id(&issue.tx, i as u32),
                    run_nonce + n as u64,
                    now,
                ));
            }
        }
    } else {
        let campaign = setup_campaign(&client, &issuer, &chain, run_nonce, now).await?;
        if args.mode == "redeem" {
            issue_coupons(
                &client, &args, &issuer, &site, &holders, &chain, campaign, run_nonce, now, wanted,
                &mut txs,
            )
            .await?;
        } else if args.mode == "issue" {
            eprintln!("loadgen: signing {wanted} issue transactions ...");
            for i in 0..wanted {
                txs.push(sign(
                    &issuer,
                    &chain,
                    run_nonce + 1_000_000_000 + i as u64,
                    now,
                    TxBody::IssueCoupons {
                        campaign,
                        recipients: vec![Recipient {
                            owner: holders[i % holders.len()].public(),
                            bearer: false,
                        }],
                    },
                ));
            }
        } else {
            bail!("--mode must be redeem or issue");
        }
    }

    let signed = txs.len();
    // Request bodies are encoded before the clock starts, like the signatures.
    let batches: Arc<Vec<Vec<u8>>> = Arc::new(
        txs.chunks(args.batch)
            .map(|c| encoding::encode(&c.to_vec()))
            .collect(),
    );
    drop(txs);
    if !args.settle_rpc.is_empty() {
        settle(
            &client.http,
            &args.settle_rpc,
            Duration::from_secs(args.settle_max_s),
        )
        .await;
    }
    eprintln!(
        "loadgen: {} {} transactions signed; running for {} s at {} ...",
        signed,
        args.mode,
        args.duration_s,
        if args.rate > 0 {
            format!("{} tx/s", args.rate)
        } else {
            "full speed".into()
        }
    );
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration_s);
    let usage_before = args.node_pid.and_then(proc_usage);
    let own_before = proc_usage(std::process::id());
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (submitters, batches, next) = (submitters.clone(), batches.clone(), next.clone());
        let (rate, batch) = (args.rate, args.batch);
        workers.push(tokio::spawn(async move {
            let mut results: Vec<(Duration, Vec<Seen>)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= batches.len() || Instant::now() >= deadline {
                    break;
                }
                // At a target rate, batch i is due at start + i·batch/rate. If this
                // connection came free only after that (the node fell behind), the latency
                // counts from the due time, so the queue is not hidden (no coordinated
                // omission); otherwise from the send, so timer jitter is not counted.
                let free_at = Instant::now();
                let mut from = free_at;
                if rate > 0 {
                    let due =
                        start + Duration::from_secs_f64(i as f64 * batch as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                    from = if free_at > due { due } else { Instant::now() };
                }
                let client = &submitters[i % submitters.len()];
                match client.submit_measured(batches[i].clone()).await {
                    Ok(r) => results.push((from.elapsed(), r)),
                    Err(e) => eprintln!("loadgen: batch {i} failed: {e}"),
                }
            }
            results
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let usage_after = args.node_pid.and_then(proc_usage);
    let own_after = proc_usage(std::process::id());

    let mut latencies: Vec<f64> = Vec::new();
    let mut report = Report {
        mode: args.mode.clone(),
        target_rate: args.rate,
        submitted: 0,
        final_applied: 0,
        final_refused_by_runtime: 0,
        runtime_refusals: BTreeMap::new(),
        refused_at_admission: BTreeMap::new(),
        timeouts: 0,
        seconds,
        throughput_tx_per_s: 0.0,
        latency_ms: Percentiles::default(),
        node_cpu_percent: None,
        node_rss_mib: None,
        loadgen_cpu_percent: None,
    };
    for (took, outcomes) in &all {
        for o in outcomes {
            report.submitted += 1;
            match o.status {
                SubmitStatus::Final => {
                    latencies.push(took.as_secs_f64() * 1e3);
                    match &o.brief {
                        Some(b) if b.applied => report.final_applied += 1,
                        brief => {
                            let code = brief.as_ref().and_then(|b| b.code.clone());
                            *report
                                .runtime_refusals
                                .entry(code.unwrap_or_default())
                                .or_default() += 1;
                        }
                    }
                }
                SubmitStatus::Refused => {
                    let code = o.error.as_ref().map(|e| e.code.clone()).unwrap_or_default();
                    *report.refused_at_admission.entry(code).or_default() += 1;
                }
                SubmitStatus::Timeout | SubmitStatus::Accepted => report.timeouts += 1,
            }
        }
    }
    report.final_refused_by_runtime = report.runtime_refusals.values().sum();
    report.throughput_tx_per_s =
        (report.final_applied + report.final_refused_by_runtime) as f64 / seconds;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i.min(latencies.len() - 1)]
    };
    report.latency_ms = Percentiles {
        p50: pct(0.50),
        p90: pct(0.90),
        p99: pct(0.99),
        max: pct(1.0),
    };
    // Linux reports CPU time in clock ticks of 1/100 s.
    let percent = |t0: u64, t1: u64| t1.saturating_sub(t0) as f64 / 100.0 / seconds * 100.0;
    if let (Some((t0, _)), Some((t1, rss))) = (usage_before, usage_after) {
        report.node_cpu_percent = Some(percent(t0, t1));
        report.node_rss_mib = Some(rss as f64 / (1024.0 * 1024.0));
    }
    if let (Some((t0, _)), Some((t1, _))) = (own_before, own_after) {
        report.loadgen_cpu_percent = Some(percent(t0, t1));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "mode {} target {} tx/s, {:.1} s",
            report.mode, report.target_rate, report.seconds
        );
        println!(
            "final {} (applied {}, refused by the runtime {} {:?}), admission refusals {:?}, timeouts {}",
            report.final_applied + report.final_refused_by_runtime,
            report.final_applied,
            report.final_refused_by_runtime,
            report.runtime_refusals,
            report.refused_at_admission,
            report.timeouts
        );
        println!("throughput {:.0} tx/s final", report.throughput_tx_per_s);
        println!(
            "submit-to-final latency ms: p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
            report.latency_ms.p50,
            report.latency_ms.p90,
            report.latency_ms.p99,
            report.latency_ms.max
        );
        if let (Some(c), Some(m)) = (report.node_cpu_percent, report.node_rss_mib) {
            println!("node: {c:.0} % CPU (of one core), {m:.0} MiB resident");
        }
        if let Some(c) = report.loadgen_cpu_percent {
            println!("loadgen: {c:.0} % CPU (of one core)");
        }
    }
    Ok(())
}

/// Waits (at most `max`) until every node's storage gauges read zero three polls in a row.
async fn settle(http: &reqwest::Client, urls: &[String], max: Duration) {
    let start = Instant::now();
    let mut quiet = 0;
    let mut reported = start;
    while quiet < 3 {
        if start.elapsed() >= max {
            eprintln!(
                "loadgen: storage still busy after {} s; measuring anyway",
                max.as_secs()
            );
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut busy = Vec::new();
        for url in urls {
            let metrics = match fetch_metrics(http, url).await {
                Ok(m) => m,
                Err(e) => {
                    busy.push(format!("{url}: {e}"));
                    continue;
                }
            };
            for gauge in crate::node::metrics::STORAGE_SETTLED_GAUGES {
                match gauge_value(&metrics, gauge) {
                    Some(0) => {}
                    Some(v) => busy.push(format!("{url}: {gauge} {v}")),
                    None => busy.push(format!("{url}: no {gauge}")),
                }
            }
        }
        quiet = if busy.is_empty() { quiet + 1 } else { 0 };
        if !busy.is_empty() && reported.elapsed() >= Duration::from_secs(30) {
            reported = Instant::now();
            eprintln!(
                "loadgen: waiting for storage to settle: {}",
                busy.join("; ")
            );
        }
    }
    eprintln!(
        "loadgen: {} nodes' storage settled after {:.0} s",
        urls.len(),
        start.elapsed().as_secs_f64()
    );
}

async fn fetch_metrics(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let url = format!("{}/metrics", url.trim_end_matches('/'));
    Ok(http
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The value of an unlabelled gauge in Prometheus text format.
fn gauge_value(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// Creates the run's campaign (valid for a day, unlimited supply) and returns its id.
async fn setup_campaign(
    client: &Client,
    issuer: &Keypair,
    chain: &str,
    run_nonce: u64,
    now: u64,
) -> anyhow::Result<Hash> {
    eprintln!("loadgen: setting up a campaign on {chain} ...");
    let spec = CampaignSpec {
        name: format!("loadgen {run_nonce}"),
        terms: Terms {
            benefit: Benefit::Other,
            currency: None,
            metadata: String::new(),
        },
        not_before_ms: 0,
        expires_at_ms: now + 24 * 3_600_000,
        max_supply: u64::MAX / 4,
        transferable: false,
        kind: CouponKind::SingleUse,
        redeem_at: SitePolicy::AnySite,
        region_prefix: None,
        per_holder_limit: None,
    };
    let create = sign(issuer, chain, run_nonce, now, TxBody::CreateCampaign(spec));
    let campaign = campaign_id(&create.id());
    expect_applied(client.submit(&[create]).await?)?;
    Ok(campaign)
}

/// Issues `wanted` coupons of `campaign` (not measured), pushes one signed redemption of
/// each onto `txs`, and records them in `--coupons-file` if one is given.
#[allow(clippy::too_many_arguments)]
async fn issue_coupons(
    client: &Client,
    args: &LoadgenArgs,
    issuer: &Keypair,
    site: &Keypair,
    holders: &[Keypair],
    chain: &str,
    campaign: Hash,
    run_nonce: u64,
    now: u64,
    wanted: usize,
    txs: &mut Vec<SignedTransaction>,
) -> anyhow::Result<()> {
    eprintln!("loadgen: issuing {wanted} coupons (not measured) ...");
    let mut issued = 0usize;
    let mut batch = Vec::new();
    let mut record = IssuedCoupons { issues: Vec::new() };
    while issued < wanted {
        let n = (wanted - issued).min(10_000);
        let recipients: Vec<Recipient> = (0..n)
            .map(|i| Recipient {
                owner: holders[(issued + i) % holders.len()].public(),
                bearer: false,
            })
            .collect();
        let tx = sign(
            issuer,
            chain,
            run_nonce + 1 + issued as u64,
            now,
            TxBody::IssueCoupons {
                campaign,
                recipients,
            },
        );
        let id = tx.id();
        for i in 0..n {
            let holder = &holders[(issued + i) % holders.len()];
            txs.push(redeem(
                site,
                holder,
                chain,
                coupon_id(&id, i as u32),
                run_nonce + (issued + i) as u64,
                now,
            ));
        }
        record.issues.push(Issued {
            tx: id,
            count: n,
            first: issued,
        });
        batch.push(tx);
        if batch.len() == 4 {
            expect_applied(client.submit(&batch).await?)?;
            batch.clear();
        }
        issued += n;
    }
    if !batch.is_empty() {
        expect_applied(client.submit(&batch).await?)?;
    }
    if let Some(p) = &args.coupons_file {
        std::fs::write(p, serde_json::to_vec(&record)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn redeem(
    site: &Keypair,
    holder: &Keypair,
    chain: &str,
    coupon: Hash,
    nonce: u64,
    now: u64,
) -> SignedTransaction {
    let auth = couponchain_chain::tx::RedeemAuth {
        chain_id: chain.to_string(),
        coupon,
        site: site.public(),
        amount: 1,
        seq: 0,
        valid_until_ms: now + 50 * 60 * 1000,
    };
    let r = couponchain_chain::tx::Redemption {
        coupon,
        holder: holder.public(),
        amount: 1,
        seq: 0,
        auth_valid_until_ms: auth.valid_until_ms,
        holder_signature: auth.sign(holder),
    };
    sign(site, chain, nonce, now, TxBody::Redeem(r))
}

fn expect_applied(outcomes: Vec<SubmitOutcome>) -> anyhow::Result<()> {
    for o in outcomes {
        match (&o.status, &o.brief) {
            (SubmitStatus::Final, Some(b)) if b.applied => {}
            _ => bail!(
                "setup transaction {} not applied: {:?} {:?} {:?}",
                o.tx,
                o.status,
                o.error,
                o.brief
            ),
        }
    }
    Ok(())
}
