//! Shared helpers for the end-to-end tests: a deterministic workload that drives a real
//! ledger block by block, and real `couponchain` processes on free ports.
// Test support only: a failure here is a failed test, so it may panic.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

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
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(couponchain_bin())
            .arg("dev")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--rpc-addr", "127.0.0.1:0", "--log-level", "warn"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
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
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the node did not announce its RPC URL within 30 s"));
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
