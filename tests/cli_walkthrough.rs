//! End-to-end test of the command-line client: the README's five-minute walkthrough, run
//! with the real `couponchain` binary (`std::process::Command`) against a `couponchain dev`
//! node on a free port of 127.0.0.1, with the demo key files the dev chain writes.
//!
//! Covered: status; campaign create (id on stdout); issue to a key, to a bearer code and
//! from a CSV file; transfer, and a non-owner's transfer refused `not_owner`; a non-issuer's
//! issue refused `not_issuer`; claim of the bearer coupon into a wallet; authorize → redeem
//! `--auth`, and the same redemption again refused `already_spent`; a campaign that expires
//! by block time, redeemed after it did → `expired`; the campaign reports (`campaign show
//! --json`); coupon views, the coupon's proof, an owner's coupons; and the event stream the
//! walkthrough reads with curl, resumed with `Last-Event-ID`. Every CLI call and wait is
//! bounded, so a hung node fails the test instead of stalling it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use couponchain_chain::Keypair;
use couponchain_tests::{couponchain_bin, NodeProcess};
use futures_util::StreamExt;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest one CLI command may take (each waits for finality, ~1 block).
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// What one `couponchain` invocation did.
#[derive(Debug)]
struct Run {
    args: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit status 0.
    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "`couponchain {}` failed\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts a non-zero exit status with `reason` on stderr.
    fn refused(self, reason: &str) -> Run {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "`couponchain {}` should have failed with {reason}\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(reason),
            "`couponchain {}`: stderr lacks {reason:?}:\n{}",
            self.args,
            self.stderr
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`couponchain {}` did not print JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }

    /// Stdout's non-empty lines, split into words.
    fn lines(&self) -> Vec<Vec<String>> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    }
}

/// The CLI pointed at one node, with that node's demo key files.
struct Cli {
    rpc: String,
    keys: PathBuf,
}

impl Cli {
    /// The path of a key file, as a command-line argument.
    fn key(&self, name: &str) -> String {
        self.keys
            .join(format!("{name}.key"))
            .to_str()
            .unwrap()
            .to_string()
    }

    /// Runs `couponchain --rpc URL args...`, bounded by [`CLI_TIMEOUT`].
    fn run(&self, args: &[&str]) -> Run {
        let mut child = Command::new(couponchain_bin())
            .arg("--rpc")
            .arg(&self.rpc)
            .args(args)
            // Plain error messages, and no node address from the environment.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .env_remove("COUPONCHAIN_RPC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting couponchain: {e}"));
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = r.read_to_string(&mut s);
                s
            })
        };
        let out = drain(Box::new(child.stdout.take().unwrap()));
        let err = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = Instant::now() + CLI_TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`couponchain {}` did not finish within {CLI_TIMEOUT:?}",
                    args.join(" ")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            args: args.join(" "),
            code: status.code(),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }

    /// The head block's time: the chain's "now".
    fn chain_time(&self) -> u64 {
        self.run(&["--json", "status"]).ok().json()["head"]["time_ms"]
            .as_u64()
            .unwrap()
    }

    /// Waits (bounded) until the chain's time has passed `t_ms`.
    fn wait_for_chain_time(&self, t_ms: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.chain_time() <= t_ms {
            assert!(
                Instant::now() < deadline,
                "chain time did not pass {t_ms} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `campaign show --json`'s report.
    fn report(&self, campaign: &str) -> Value {
        self.run(&["--json", "campaign", "show", campaign])
            .ok()
            .json()["report"]
            .clone()
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads `count` messages of the event stream (as `curl -N` would), bounded to 20 s:
/// their `(id, event kind)` pairs.
fn read_events(
    url: &str,
    query: &str,
    last_id: Option<&str>,
    count: usize,
) -> Vec<(String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(format!("{url}/v1/events{query}"));
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let mut stream = resp.bytes_stream();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = String::new();
        let mut out = Vec::new();
        while out.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, stream.next())
                .await
                .unwrap_or_else(|_| panic!("only {} of {count} events within 20 s", out.len()))
                .expect("the event stream ended")
                .unwrap();
            buf.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = buf.find("\n\n") {
                let msg: String = buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    msg.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_string())
                };
                if let (Some(id), Some(kind)) = (field("id:"), field("event:")) {
                    out.push((id, kind));
                }
            }
        }
        out.truncate(count);
        out
    })
}

#[test]
fn the_readme_walkthrough_works_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::dev(dir.path(), &[]);
    walkthrough(
        &Cli {
            rpc: node.url.clone(),
            keys: node.data_dir.join("keys"),
        },
        "couponchain-dev",
    );
}

/// The same commands, unchanged, against the localnet's full replica (which forwards every
/// transaction to the validators) with the localnet's copy of the demo keys.
#[test]
fn the_readme_walkthrough_works_against_the_localnet_replica() {
    let net = couponchain_tests::Localnet::start(4, 1);
    walkthrough(
        &Cli {
            rpc: net.url(4).to_string(),
            keys: net.dir.path().join("keys"),
        },
        "couponchain-localnet",
    );
}

fn walkthrough(cli: &Cli, chain_id: &str) {
    let dir = tempfile::tempdir().unwrap();
    let holder = Keypair::from_seed("couponchain-dev/holder")
        .public()
        .to_hex();
    let (issuer_key, holder_key, site_key) =
        (cli.key("issuer"), cli.key("holder"), cli.key("site"));

    // Status.
    let status = cli.run(&["status"]).ok();
    assert!(status.stdout.contains(chain_id), "{}", status.stdout);

    // A campaign: its id is all of stdout, so `$(…)` captures it.
    let campaign = cli
        .run(&[
            "campaign",
            "create",
            "--key",
            &issuer_key,
            "--name",
            "10% off",
            "--percent-off",
            "10%",
            "--valid-for-days",
            "30",
            "--max-supply",
            "1000",
        ])
        .ok();
    let campaign = campaign.stdout.trim().to_string();
    assert!(is_id(&campaign), "campaign create printed {campaign:?}");

    // Issue to a key: "COUPON OWNER".
    let issued = cli
        .run(&[
            "issue",
            "--key",
            &issuer_key,
            "--campaign",
            &campaign,
            "--to",
            &holder_key,
        ])
        .ok()
        .lines();
    assert_eq!(issued.len(), 1, "{issued:?}");
    let coupon = issued[0][0].clone();
    assert!(is_id(&coupon));
    assert_eq!(issued[0][1], holder);

    // Issue to a bearer code: "COUPON BEARER_KEY CODE".
    let issued = cli
        .run(&[
            "issue",
            "--key",
            &issuer_key,
            "--campaign",
            &campaign,
            "--bearer",
            "1",
        ])
        .ok()
        .lines();
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0].len(), 3, "{issued:?}");
    let (bearer_coupon, code) = (issued[0][0].clone(), issued[0][2].clone());
    assert!(
        is_id(&bearer_coupon) && code.starts_with("CPN-"),
        "{issued:?}"
    );

    // Transfer the holder's coupon to a new wallet key; the holder no longer owns it.
    let friend_key = dir.path().join("friend.key").to_str().unwrap().to_string();
    let friend = cli.run(&["keys", "new", "--out", &friend_key]).ok();
    let friend = friend.stdout.trim().to_string();
    assert!(is_id(&friend), "keys new printed {friend:?}");
    let moved = cli
        .run(&[
            "transfer",
            "--key",
            &holder_key,
            "--coupon",
            &coupon,
            "--to",
            &friend_key,
        ])
        .ok();
    assert!(moved.stdout.contains("transferred"), "{}", moved.stdout);
    cli.run(&[
        "transfer",
        "--key",
        &holder_key,
        "--coupon",
        &coupon,
        "--to",
        &friend_key,
    ])
    .refused("not_owner");
    let friends = cli
        .run(&["--json", "coupons", "--owner", &friend_key])
        .ok()
        .json();
    assert_eq!(friends["coupons"][0]["id"], coupon.as_str());

    // Someone who is not an issuer cannot issue.
    cli.run(&[
        "issue",
        "--key",
        &site_key,
        "--campaign",
        &campaign,
        "--to",
        &holder_key,
    ])
    .refused("not_issuer");

    // Claim the bearer coupon into the holder's wallet.
    let claimed = cli
        .run(&["claim", "--code", &code, "--to", &holder_key])
        .ok();
    assert!(claimed.stdout.contains("claimed"), "{}", claimed.stdout);
    let view = cli.run(&["--json", "coupon", &bearer_coupon]).ok().json();
    assert_eq!(view["coupon"]["coupon"]["owner"], holder.as_str());
    assert_eq!(view["coupon"]["coupon"]["bearer"], false);

    // The holder authorizes the site; the site redeems; the same redemption again is refused.
    let auth = cli
        .run(&[
            "authorize",
            "--key",
            &holder_key,
            "--coupon",
            &bearer_coupon,
            "--site",
            &site_key,
        ])
        .ok();
    let auth = auth.stdout.trim().to_string();
    assert!(auth.starts_with("cpn1:"), "authorize printed {auth:?}");
    let redeemed = cli
        .run(&["redeem", "--key", &site_key, "--auth", &auth])
        .ok();
    assert!(redeemed.stdout.contains("redeemed"), "{}", redeemed.stdout);
    let again = cli
        .run(&["redeem", "--key", &site_key, "--auth", &auth])
        .refused("already_spent");
    assert!(
        again.stdout.contains("REFUSED already_spent"),
        "{}",
        again.stdout
    );
    let view = cli.run(&["--json", "coupon", &bearer_coupon]).ok().json();
    assert_eq!(view["state"], "spent");
    let proof = cli.run(&["coupon", &bearer_coupon, "--proof"]).ok();
    assert!(proof.stdout.contains("present"), "{}", proof.stdout);

    // Issue from a CSV file (a shop's own export: extra columns are ignored).
    let csv = dir.path().join("customers.csv");
    std::fs::write(
        &csv,
        format!("email,owner,bearer\nann@example.com,{holder},no\nbob@example.com,{friend},\n"),
    )
    .unwrap();
    let issued = cli
        .run(&[
            "issue",
            "--key",
            &issuer_key,
            "--campaign",
            &campaign,
            "--file",
            csv.to_str().unwrap(),
        ])
        .ok()
        .lines();
    assert_eq!(issued.len(), 2, "{issued:?}");
    assert!(is_id(&issued[0][0]) && is_id(&issued[1][0]));
    assert_eq!(
        (issued[0][1].as_str(), issued[1][1].as_str()),
        (holder.as_str(), friend.as_str())
    );

    // The campaign's report: 4 issued (key, bearer, 2 from the file), 1 spent, 3 active.
    let report = cli.report(&campaign);
    assert_eq!(report["issued"], 4, "{report}");
    assert_eq!(report["spent"], 1, "{report}");
    assert_eq!(report["active"], 3, "{report}");
    assert_eq!(report["redemptions"], 1, "{report}");
    let shown = cli.run(&["campaign", "show", &campaign]).ok();
    assert!(
        shown.stdout.contains("issued 4, active 3, spent 1"),
        "{}",
        shown.stdout
    );
    let mine = cli
        .run(&["--json", "coupons", "--owner", &holder_key])
        .ok()
        .json();
    assert_eq!(mine["coupons"].as_array().unwrap().len(), 2, "{mine}");

    // A campaign that expires by block time a few seconds from now.
    let expires_at = cli.chain_time() + 4000;
    let flash = cli
        .run(&[
            "campaign",
            "create",
            "--key",
            &issuer_key,
            "--name",
            "Flash sale",
            "--amount-off",
            "500",
            "--currency",
            "EUR",
            "--expires-at-ms",
            &expires_at.to_string(),
            "--max-supply",
            "10",
        ])
        .ok();
    let flash = flash.stdout.trim().to_string();
    assert!(is_id(&flash), "{flash:?}");
    let issued = cli
        .run(&[
            "issue",
            "--key",
            &issuer_key,
            "--campaign",
            &flash,
            "--to",
            &holder_key,
        ])
        .ok()
        .lines();
    let flash_coupon = issued[0][0].clone();
    // Authorized while still in date ...
    let auth = cli
        .run(&[
            "authorize",
            "--key",
            &holder_key,
            "--coupon",
            &flash_coupon,
            "--site",
            &site_key,
        ])
        .ok();
    let auth = auth.stdout.trim().to_string();
    // ... but redeemed after the chain's time passed the expiry: refused by the chain.
    cli.wait_for_chain_time(expires_at);
    cli.run(&["redeem", "--key", &site_key, "--auth", &auth])
        .refused("expired");
    let view = cli.run(&["--json", "coupon", &flash_coupon]).ok().json();
    assert_eq!(view["state"], "expired", "{view}");
    let report = cli.report(&flash);
    assert_eq!(report["issued"], 1, "{report}");
    assert_eq!(report["spent"], 0, "{report}");
    assert_eq!(report["active"], 0, "{report}");
    assert_eq!(report["expired_unused"], 1, "{report}");

    // The event stream from the first block, and resumed after its third event.
    let events = read_events(&cli.rpc, "?from_height=1", None, 6);
    let kinds: Vec<&str> = events.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "campaign_created",
            "coupon_issued",
            "coupon_issued",
            "coupon_transferred",
            "coupon_claimed",
            "coupon_redeemed"
        ]
    );
    let resumed = read_events(&cli.rpc, "", Some(&events[2].0), 3);
    assert_eq!(resumed, events[3..6]);
}
