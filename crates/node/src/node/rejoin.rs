//! Before a validator signs anything after it starts, it makes sure its signing state is
//! not older than what its key already signed.
//!
//! *An empty data directory.* The node is either one of a new network's first validators,
//! or one whose directory was wiped or replaced while the chain ran — and that one may
//! have signed at the height then in progress, which its lost signing state no longer
//! records. It asks the other validators how far the chain is. At a new network they all
//! say height 0 and nothing changes. Otherwise it first follows the chain (every block
//! verified, as a replica does) to the highest height reported, so that opening its
//! signing state there abstains through two heights past it (`SigningStateFile::open`).
//!
//! *A signing state restored from a backup* (or with a snapshot of the machine) claims
//! less than the key signed since. The node asks the same question, follows the chain to
//! the height reported if it is behind, and then looks for proof: a commit certificate
//! above the state's (height, round) that carries this key's signature. The state is
//! persisted before each signature leaves the node, so an intact state is never behind its
//! own signatures; if one is found the state is stale, and the node abstains through two
//! heights past its head as if the state were lost. An ordinary restart finds none and
//! changes nothing.
//!
//! Reports are claims. The node waits for f + 1 of them, so at least one comes from an
//! honest validator, and takes the highest; a higher claim that no peer backs with
//! certified blocks holds it up for at most [`NO_PROGRESS`]. What stays uncovered: every
//! answering honest validator lagging behind the height it signed at; and a stale state
//! whose later signatures made no certificate (votes in rounds that did not decide).
//! Abstaining costs liveness where the network needs this node's vote for a quorum (only
//! 2f + 1 validators up, this one among them): the chain then waits for another validator.

use super::follow::peer_heights;
use super::replica::follow;
use super::signing_file;
use super::{Inbound, Node};
use crate::net::Network;
use couponchain_chain::PublicKey;
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Following stops this long after the last block it applied, target reached or not.
const NO_PROGRESS: Duration = Duration::from_secs(30);
/// Between rounds of asking, while fewer than f + 1 validators answer.
const ASK_AGAIN: Duration = Duration::from_secs(1);

/// Returns once the node may open its signing state (or `shutdown` turned true), with the
/// height through which it must abstain if its signing state proved stale.
pub(super) async fn catch_up_before_signing(
    node: Arc<Node>,
    net: &Network,
    inbound: Inbound,
    mut shutdown: watch::Receiver<bool>,
    signing_state: &Path,
) -> anyhow::Result<(Inbound, Option<u64>)> {
    let head = node.ledger.head().height;
    let persisted = match signing_file::peek(signing_state) {
        // Opening it refuses to sign, with the reason.
        Err(_) => return Ok((inbound, None)),
        // Lost, or a key that never signed here (a validator added later): `open`
        // abstains past the head.
        Ok(None) if head > 0 => return Ok((inbound, None)),
        Ok(p) => p,
    };
    let Some(target) = reported_height(&node, net, &mut shutdown).await? else {
        return Ok((inbound, None));
    };
    let inbound = if target > head {
        if persisted.is_none() {
            tracing::warn!(
                height = target,
                "a validator key on an empty data directory while the chain is at height \
                 {target}: following the chain there before signing anything"
            );
        } else {
            tracing::info!(
                head,
                height = target,
                "behind the chain: following it before signing anything"
            );
        }
        follow_to(node.clone(), inbound, shutdown, target).await?
    } else {
        inbound
    };
    let Some(state) = persisted else {
        return Ok((inbound, None));
    };
    let head = node.ledger.head().height;
    let mine = node.key.public();
    let newer = tokio::task::spawn_blocking({
        let node = node.clone();
        move || signed_since(&node, &mine, state.height, state.round)
    })
    .await??;
    let Some((height, round)) = newer else {
        return Ok((inbound, None));
    };
    tracing::warn!(
        state_height = state.height,
        state_round = state.round,
        signed_height = height,
        signed_round = round,
        abstain_through = head + 2,
        "the signing state is older than this key's own signature in the chain (restored from \
         a backup?): this validator will not sign through height {} and takes part from height {}",
        head + 2,
        head + 3
    );
    Ok((inbound, Some(head + 2)))
}

/// Follows the chain until the head reaches `target` or nothing arrives for [`NO_PROGRESS`].
async fn follow_to(
    node: Arc<Node>,
    inbound: Inbound,
    shutdown: watch::Receiver<bool>,
    target: u64,
) -> anyhow::Result<Inbound> {
    let last = Cell::new((node.ledger.head().height, Instant::now()));
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
            "no peer served certified blocks up to the height claimed; going on from here"
        );
    }
    Ok(inbound)
}

/// The newest final certificate carrying `key`'s precommit above (`height`, `round`),
/// searched from the head down.
fn signed_since(
    node: &Node,
    key: &PublicKey,
    height: u64,
    round: u32,
) -> anyhow::Result<Option<(u64, u32)>> {
    let mut h = node.ledger.head().height;
    while h >= height.max(1) {
        if let Some(cert) = node.ledger.certificate(h)? {
            let above = h > height || cert.round > round;
            if above && cert.signatures.iter().any(|(k, _)| k == key) {
                return Ok(Some((h, cert.round)));
            }
        }
        h -= 1;
    }
    Ok(None)
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
                "before signing: waiting for other validators to report the chain's height"
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
