//! Shared helpers for the end-to-end tests: a deterministic workload that drives a real
//! ledger block by block, and real `couponchain` processes on free ports.
// Test support only: a failure here is a failed test, so it may panic.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub use api::{demo, spec, Api};

use couponchain_chain::tx::{coupon_id, Recipient, TxBody};
use couponchain_chain::{Hash, SignedTransaction};
use couponchain_runtime::testkit::{self, Actors, T0};
use couponchain_runtime::SignatureCheck;
use couponchain_storage::{Ledger, StorageError};

/// Produces block after block of issues and redemptions, deterministically: block `h` has
/// the same transactions every time, so a second ledger fed the same workload must reach
/// the same roots.
#[derive(Debug)]
pub struct Workload {
    pub actors: Actors,
    campaign: Option<Hash>,
    unredeemed: Vec<(Hash, usize)>,
    nonce: u64,
}

/// Milliseconds of chain time between workload blocks.
pub const BLOCK_MS: u64 = 1000;

impl Workload {
    pub fn new() -> Workload {
        Workload {
            actors: Actors::new(1, 8),
            campaign: None,
            unredeemed: Vec::new(),
            nonce: 0,
        }
    }

    fn next_nonce(&mut self) -> u64 {
        self.nonce += 1;
        self.nonce
    }

    /// The transactions of the block after `height`.
    pub fn txs_for(&mut self, height: u64) -> Vec<SignedTransaction> {
        let now = T0 + (height + 1) * BLOCK_MS;
        let a = self.actors.clone();
        let Some(campaign) = self.campaign else {
            let tx = testkit::sign(
                &a.issuer,
                self.next_nonce(),
                now,
                TxBody::CreateCampaign(testkit::spec("workload")),
            );
            self.campaign = Some(couponchain_chain::tx::campaign_id(&tx.id()));
            return vec![tx];
        };
        let mut txs = Vec::new();
        // Redeem up to 20 coupons issued earlier.
        let take = self.unredeemed.len().min(20);
        for (coupon, holder) in self.unredeemed.drain(..take).collect::<Vec<_>>() {
            let n = self.next_nonce();
            txs.push(testkit::redeem(
                &a.site,
                &a.holders[holder],
                coupon,
                1,
                0,
                n,
                now,
            ));
        }
        // Issue 40 new ones.
        let recipients: Vec<Recipient> = (0..40)
            .map(|i| Recipient {
                owner: a.holders[i % a.holders.len()].public(),
                bearer: false,
            })
            .collect();
        let issue = testkit::sign(
            &a.issuer,
            self.next_nonce(),
            now,
            TxBody::IssueCoupons {
                campaign,
                recipients,
            },
        );
        let id = issue.id();
        self.unredeemed
            .extend((0..40).map(|i| (coupon_id(&id, i as u32), i % a.holders.len())));
        txs.push(issue);
        txs
    }

    /// Prepares and commits the next block on `ledger`.
    pub fn step(&mut self, ledger: &Ledger) -> Result<(), StorageError> {
        let head = ledger.head();
        let txs = self.txs_for(head.height);
        let prepared = ledger.prepare_proposal(
            txs,
            T0 + (head.height + 1) * BLOCK_MS,
            self.actors.validators[0].public(),
            SignatureCheck::Verify,
        )?;
        if let Some(bad) = prepared.receipts().iter().find(|r| !r.is_applied()) {
            return Err(StorageError::Corrupt(format!(
                "workload tx refused: {:?}",
                bad.outcome
            )));
        }
        ledger.commit(prepared, None)?;
        Ok(())
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload::new()
    }
}

/// A `couponchain` process started by a test, killed when dropped.
#[derive(Debug)]
pub struct NodeProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub data_dir: std::path::PathBuf,
}

/// The path of the `couponchain` binary, built on demand (`cargo test --workspace` has
/// usually built it already; this makes `cargo test -p couponchain-tests` work too).
pub fn couponchain_bin() -> std::path::PathBuf {
    use std::sync::OnceLock;
    static BIN: OnceLock<std::path::PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("COUPONCHAIN_BIN") {
            return p.into();
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "couponchain-node",
                "--bin",
                "couponchain",
            ])
            .status();
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "building the couponchain binary failed"
        );
        // target/debug/deps/<test> → target/debug/couponchain
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        dir.join("couponchain")
    })
    .clone()
}

impl NodeProcess {
    /// Starts `couponchain dev` on a free port with its state in `data_dir`, and waits
    /// (bounded: 30 s) for the line announcing the RPC URL.
    pub fn dev(data_dir: &std::path::Path, extra: &[&str]) -> NodeProcess {
        NodeProcess::dev_env(data_dir, extra, &[])
    }

    /// As [`NodeProcess::dev`], with environment variables set for the node (configuration
    /// overrides such as `COUPONCHAIN__STORAGE__MIN_FREE_MB`).
    pub fn dev_env(
        data_dir: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> NodeProcess {
        let mut args: Vec<std::ffi::OsString> = vec!["dev".into(), "--data-dir".into()];
        args.push(data_dir.into());
        for a in ["--rpc-addr", "127.0.0.1:0", "--log-level", "warn"]
            .iter()
            .chain(extra)
        {
            args.push(a.into());
        }
        NodeProcess::spawn(&args, data_dir, std::process::Stdio::inherit(), env)
    }

    /// Starts `couponchain run --config FILE`, logging to `log`, and waits (bounded: 60 s)
    /// for its RPC URL.
    pub fn run(config: &std::path::Path, log: &std::path::Path) -> NodeProcess {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let args: Vec<std::ffi::OsString> = vec!["run".into(), "--config".into(), config.into()];
        NodeProcess::spawn(&args, config.parent().unwrap(), file.into(), &[])
    }

    fn spawn(
        args: &[std::ffi::OsString],
        data_dir: &std::path::Path,
        stderr: std::process::Stdio,
        env: &[(&str, &str)],
    ) -> NodeProcess {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(couponchain_bin())
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting couponchain: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("couponchain: RPC listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the node did not announce its RPC URL within 60 s"));
        NodeProcess {
            child,
            url,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// SIGKILL: no clean shutdown at all.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (bounded) for a clean exit; returns whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `count` consecutive free TCP ports on 127.0.0.1 (free when checked; the tests that use
/// them bind them moments later).
pub fn free_ports(count: u16) -> u16 {
    for _ in 0..100 {
        let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = l.local_addr() else { continue };
        let base = addr.port();
        drop(l);
        if base > u16::MAX - count {
            continue;
        }
        if (0..count).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {count} consecutive free ports");
}

/// When a test fails while a localnet runs, the end of each node's log goes to stderr
/// (the test output CI keeps) and the folder is kept for a look.
impl Drop for Localnet {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (i, (name, url, _)) in self.specs.iter().enumerate() {
            let log = std::fs::read_to_string(self.log(i)).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- {name} ({url}), last lines of its log:");
            for l in &lines[lines.len().saturating_sub(25)..] {
                eprintln!("{l}");
            }
        }
        // (No panicking here: a second panic would abort the test binary.)
        if let Ok(fresh) = tempfile::TempDir::new() {
            let kept = std::mem::replace(&mut self.dir, fresh);
            eprintln!(
                "--- the localnet's folder is kept at {}",
                kept.keep().display()
            );
        }
    }
}

/// A local network of real processes laid out by `couponchain localnet init`.
#[derive(Debug)]
pub struct Localnet {
    pub dir: tempfile::TempDir,
    /// (name, RPC URL, config path) per node: validators first, then replicas.
    pub specs: Vec<(String, String, std::path::PathBuf)>,
    pub nodes: Vec<Option<NodeProcess>>,
}

impl Localnet {
    /// Lays out and starts `validators` validators and `replicas` replicas.
    pub fn start(validators: u16, replicas: u16) -> Localnet {
        let dir = tempfile::tempdir().unwrap();
        let n = validators + replicas;
        let rpc = free_ports(n);
        let p2p = free_ports(n);
        let out = std::process::Command::new(couponchain_bin())
            .args(["localnet", "init", "--dir"])
            .arg(dir.path())
            .args(["--validators", &validators.to_string()])
            .args(["--replicas", &replicas.to_string()])
            .args([
                "--rpc-port",
                &rpc.to_string(),
                "--p2p-port",
                &p2p.to_string(),
            ])
            .args(["--heartbeat-ms", "500", "--log-level", "info"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let specs: Vec<(String, String, std::path::PathBuf)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                (parts[0].to_string(), parts[1].to_string(), parts[2].into())
            })
            .collect();
        let mut net = Localnet {
            dir,
            nodes: specs.iter().map(|_| None).collect(),
            specs,
        };
        for i in 0..net.specs.len() {
            net.start_node(i);
        }
        net
    }

    pub fn url(&self, i: usize) -> &str {
        &self.specs[i].1
    }

    pub fn log(&self, i: usize) -> std::path::PathBuf {
        self.specs[i].2.parent().unwrap().join("node.log")
    }

    pub fn start_node(&mut self, i: usize) {
        let p = NodeProcess::run(&self.specs[i].2, &self.log(i));
        assert_eq!(p.url, self.specs[i].1);
        self.nodes[i] = Some(p);
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(p) = self.nodes[i].take() {
            p.kill9();
        }
    }
}
