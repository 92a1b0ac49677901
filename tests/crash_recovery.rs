//! A real crash: a child process commits blocks to a real RocksDB directory and is killed
//! with SIGKILL mid-stream. The reopened ledger must hold at least every block the child
//! reported committed, with the same hash and state root, answer queries, and continue;
//! replaying the same workload on a fresh ledger must reproduce every root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark/test code

use couponchain_chain::Hash;
use couponchain_runtime::Record;
use couponchain_storage::{Ledger, LedgerOptions};
use couponchain_tests::Workload;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "COUPONCHAIN_CRASH_CHILD_DIR";

/// Child mode: commit blocks forever (bounded to 60 s), printing each committed head.
/// In the parent process this test does nothing.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut w = Workload::new();
    let ledger = Ledger::open(dir.as_ref(), &w.actors.genesis(), LedgerOptions::default())
        .unwrap_or_else(|e| panic!("child open: {e}"));
    // Catch the workload up with what is already on disk.
    for h in 0..ledger.head().height {
        w.txs_for(h);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        w.step(&ledger)
            .unwrap_or_else(|e| panic!("child step: {e}"));
        let head = ledger.head();
        println!(
            "COMMITTED {} {} {}",
            head.height, head.hash, head.state_root
        );
    }
}

fn parse(line: &str) -> Option<(u64, Hash, Hash)> {
    let mut it = line.strip_prefix("COMMITTED ")?.split(' ');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

#[test]
fn sigkill_mid_stream_loses_no_committed_block() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let mut reported: Vec<(u64, Hash, Hash)> = Vec::new();
    // Two crashes in a row: the second run resumes from what the first left.
    for round in 0..2 {
        let mut child = Command::new(&exe)
            .args([
                "crash_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn child: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut seen = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap_or_else(|e| panic!("read child: {e}"));
            if let Some(r) = parse(&line) {
                reported.push(r);
                seen += 1;
                if seen == 25 + 10 * round {
                    // SIGKILL: no destructor, no flush, no clean close.
                    child.kill().unwrap_or_else(|e| panic!("kill: {e}"));
                    break;
                }
            }
        }
        let _ = child.wait();
        assert_eq!(
            seen,
            25 + 10 * round,
            "child stopped early in round {round}"
        );
    }

    let w = Workload::new();
    let ledger = Ledger::open(dir.path(), &w.actors.genesis(), LedgerOptions::default())
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    let head = ledger.head();
    let &(last_h, _, _) = reported
        .last()
        .unwrap_or_else(|| panic!("nothing reported"));
    assert!(
        head.height >= last_h,
        "head {} < last reported {last_h}",
        head.height
    );
    for (h, hash, root) in &reported {
        let block = ledger
            .block(*h)
            .unwrap_or_else(|e| panic!("block {h}: {e}"))
            .unwrap_or_else(|| panic!("reported block {h} lost"));
        assert_eq!(block.hash(), *hash, "block {h} changed");
        assert_eq!(block.header.state_root, *root, "root at {h} changed");
    }

    // Replay the same workload on a fresh ledger: identical roots at every height.
    let fresh_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut w2 = Workload::new();
    let fresh = Ledger::open(
        fresh_dir.path(),
        &w2.actors.genesis(),
        LedgerOptions::default(),
    )
    .unwrap_or_else(|e| panic!("open fresh: {e}"));
    while fresh.head().height < head.height {
        w2.step(&fresh).unwrap_or_else(|e| panic!("replay: {e}"));
    }
    assert_eq!(
        fresh.head(),
        head,
        "replay diverged from the crashed ledger"
    );

    // Same query answers on both.
    let holder = w.actors.holders[0].public();
    let a = ledger
        .coupons_of(&holder, None, 1000)
        .unwrap_or_else(|e| panic!("{e}"));
    let b = fresh
        .coupons_of(&holder, None, 1000)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let c = a[0].campaign;
    let stats = |l: &Ledger| match l.record(couponchain_runtime::StateKey::Campaign(c)) {
        Ok(Some(Record::Campaign(c))) => c.stats,
        other => panic!("campaign lookup: {other:?}"),
    };
    assert_eq!(stats(&ledger), stats(&fresh));

    // The recovered ledger continues.
    let mut w3 = Workload::new();
    for h in 0..head.height {
        w3.txs_for(h);
    }
    w3.step(&ledger)
        .unwrap_or_else(|e| panic!("continue after crash: {e}"));
    assert_eq!(ledger.head().height, head.height + 1);
}
