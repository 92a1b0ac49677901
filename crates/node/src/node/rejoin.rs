//! A validator key on an empty data directory. It is either one of a new network's first
//! validators, or a validator whose directory was wiped or replaced while the chain ran —
//! and that one may have signed at the height then in progress, which its lost signing
//! state no longer records. Before such a node signs anything it asks the other
//! validators how far the chain is. At a new network they all say height 0 and nothing
//! changes. Otherwise it first follows the chain (every block verified, as a replica does)
//! to the highest height reported, so that opening its signing state there abstains
//! through two heights past it (`SigningStateFile::open`), covering whatever it signed
//! before.
//!
//! Reports are claims. The node waits for f + 1 of them, so at least one comes from an
//! honest validator, and takes the highest; a higher claim that no peer backs with
//! certified blocks holds it up for at most [`NO_PROGRESS`]. What stays uncovered: every
//! answering honest validator lagging behind the height it signed at.

use super::follow::peer_heights;
use super::replica::follow;
use super::{Inbound, Node};
use crate::net::Network;
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Following stops this long after the last block it applied, target reached or not.
const NO_PROGRESS: Duration = Duration::from_secs(30);
/// Between rounds of asking, while fewer than f + 1 validators answer.
const ASK_AGAIN: Duration = Duration::from_secs(1);

/// Returns once the node may open its signing state (or `shutdown` turned true).
pub(super) async fn catch_up_before_signing(
    node: Arc<Node>,
    net: &Network,
    inbound: Inbound,
    mut shutdown: watch::Receiver<bool>,
    signing_state: &Path,
) -> anyhow::Result<Inbound> {
    if signing_state.exists() || node.ledger.head().height > 0 {
        return Ok(inbound);
    }
    let Some(target) = reported_height(&node, net, &mut shutdown).await? else {
        return Ok(inbound);
    };
    if target == 0 {
        return Ok(inbound);
    }
    tracing::warn!(
        height = target,
        "a validator key on an empty data directory while the chain is at height {target}: \
         following the chain there before signing anything"
    );
    let last = Cell::new((0u64, Instant::now()));
    let inbound = follow(node.clone(), inbound, shutdown, move |n| {
        let head = n.ledger.head().height;
        let (seen, since) = last.get();
        if head != seen {
            last.set((head, Instant::now()));
        }
        head >= target || (head == seen && since.elapsed() >= NO_PROGRESS)
    })
    .await?;
    let head = node.ledger.head().height;
    if head < target {
        tracing::warn!(
            head,
            claimed = target,
            "no peer served certified blocks up to the height claimed; signing from here"
        );
    }
    Ok(inbound)
}

/// The highest height f + 1 or more of the other validators report (asking again until
/// that many answer); `None` if shut down first.
async fn reported_height(
    node: &Node,
    net: &Network,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<u64>> {
    let set = node.ledger.validator_set_after_tip()?;
    let needed = couponchain_consensus::max_faulty(&set)? + 1;
    let started = Instant::now();
    let mut told = Instant::now();
    loop {
        let heights = peer_heights(net, node.validator_peers()).await;
        if heights.len() >= needed {
            return Ok(heights.into_iter().map(|(h, _)| h).max());
        }
        if told.elapsed() >= Duration::from_secs(10) {
            told = Instant::now();
            tracing::info!(
                answered = heights.len(),
                needed,
                waited_s = started.elapsed().as_secs(),
                "no signing state yet: waiting for other validators to report the chain's height"
            );
        }
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return Ok(None);
                }
            }
            _ = tokio::time::sleep(ASK_AGAIN) => {}
        }
    }
}
