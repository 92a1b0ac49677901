//! The data directory's free space. A node whose disk fills up cannot write its next
//! block: a validator then stops rather than sign on top of a block it does not have, and
//! RocksDB may need an operator to free space before it opens again. So the node checks
//! the free space every few seconds, exports it (`couponchain_storage_disk_free_bytes`),
//! and below a reserve (`storage.min_free_mb`) it warns and refuses new transactions from
//! clients with `disk_low` — shop backends go to another node — while it keeps taking part
//! in consensus and serving queries, which is what the operator needs time for. Above the
//! reserve again, it says so and takes transactions again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How often the free space is read.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct DiskGuard {
    dir: PathBuf,
    /// Bytes that must stay free (0: never low).
    reserve: u64,
    free: AtomicU64,
    low: AtomicBool,
}

impl DiskGuard {
    /// Reads the free space once, so the node starts knowing it.
    pub fn new(dir: PathBuf, reserve: u64) -> std::io::Result<DiskGuard> {
        let guard = DiskGuard {
            dir,
            reserve,
            free: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
        };
        guard.check()?;
        Ok(guard)
    }

    /// Reads the free space (what an unprivileged writer may use) and updates the state,
    /// logging each change between low and not low.
    pub fn check(&self) -> std::io::Result<u64> {
        let st = rustix::fs::statvfs(&self.dir)?;
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        self.free.store(free, Ordering::Relaxed);
        let low = free < self.reserve;
        if self.low.swap(low, Ordering::AcqRel) != low {
            if low {
                tracing::warn!(
                    dir = %self.dir.display(),
                    free_mb = free >> 20,
                    reserve_mb = self.reserve >> 20,
                    "the data directory's disk is under its reserve: refusing new transactions \
                     from clients until space is freed (storage.min_free_mb)"
                );
            } else {
                tracing::info!(
                    dir = %self.dir.display(),
                    free_mb = free >> 20,
                    "the data directory's disk is above its reserve again: taking transactions"
                );
            }
        }
        Ok(free)
    }

    /// Free bytes at the last check.
    pub fn free(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }

    /// The refusal message while the disk is under its reserve.
    pub fn low(&self) -> Option<String> {
        self.low.load(Ordering::Acquire).then(|| {
            format!(
                "this node's disk has {} MiB free, under its reserve of {} MiB: it takes no new \
                 transactions until its operator frees space; submit to another node",
                self.free() >> 20,
                self.reserve >> 20
            )
        })
    }
}

/// Checks every [`CHECK_EVERY`] until `shutdown` turns true.
pub async fn watch_disk(guard: std::sync::Arc<DiskGuard>, mut shutdown: watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
        let g = guard.clone();
        match tokio::task::spawn_blocking(move || g.check()).await {
            Ok(Ok(_)) => failing = false,
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "reading the data directory's free space");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_above_the_free_space_is_low_and_zero_never_is() {
        let dir = tempfile::tempdir().unwrap();
        let never = DiskGuard::new(dir.path().to_path_buf(), 0).unwrap();
        assert!(never.free() > 0 && never.free() < u64::MAX);
        assert_eq!(never.low(), None);
        let always = DiskGuard::new(dir.path().to_path_buf(), u64::MAX).unwrap();
        let msg = always.low().unwrap();
        assert!(msg.contains("under its reserve"), "{msg}");
        assert!(DiskGuard::new(dir.path().join("missing"), 0).is_err());
    }
}
