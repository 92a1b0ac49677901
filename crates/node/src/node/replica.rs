//! The full replica: a non-voting node that follows the chain. The validator that built a
//! block pushes it to the replicas it is connected to as it becomes final (`Decided`); a
//! replica that misses some (it was down, is new, or is not connected to that validator)
//! catches up from whichever peer is furthest ahead, asking every [`POLL`] when no block
//! arrives. Every block is verified (certificate
//! and re-execution) before it is applied. Transactions submitted to a replica are
//! admitted here and forwarded to the validators (see admission).

use super::follow::fetch_next;
use super::{Inbound, Node, Role};
use crate::net::wire::Request;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often a replica asks its peers whether it is behind, when no block arrives.
const POLL: Duration = Duration::from_millis(500);

/// Follows the chain until `shutdown` turns true or the validator set makes this node a
/// validator; returns the inbound queue for the next role's task.
pub async fn run_replica(
    node: Arc<Node>,
    inbound: Inbound,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Inbound> {
    follow(node, inbound, shutdown, |n| n.role() != Role::Replica).await
}

/// Follows the chain, verifying and applying every block, until `shutdown` turns true or
/// `done` holds; returns the inbound queue.
pub(super) async fn follow(
    node: Arc<Node>,
    mut inbound: Inbound,
    mut shutdown: watch::Receiver<bool>,
    done: impl Fn(&Node) -> bool,
) -> anyhow::Result<Inbound> {
    let Some(net) = node.net.clone() else {
        anyhow::bail!("following the chain needs the peer-to-peer network");
    };
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if done(&node) {
            return Ok(inbound);
        }
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return Ok(inbound); }
            }
            msg = inbound.recv() => {
                let Some((peer, request)) = msg else {
                    anyhow::bail!("the peer-to-peer network stopped");
                };
                if let Request::Decided(c) = request {
                    let next = node.ledger.head().height + 1;
                    if c.block.header.height == next {
                        let n = node.clone();
                        tokio::task::spawn_blocking(move || n.apply_certified(Some(peer), vec![*c])).await?;
                    } else if c.block.header.height > next {
                        poll.reset_immediately();
                    }
                }
            }
            _ = poll.tick() => {
                // Catch up as far as peers are ahead, one batch after another.
                loop {
                    let height = node.ledger.head().height;
                    let Some((peer, blocks)) = fetch_next(&net, net.connected(), height).await else { break };
                    let n = node.clone();
                    let applied = tokio::task::spawn_blocking(move || n.apply_certified(Some(peer), blocks)).await?;
                    if applied == 0 { break; }
                    if *shutdown.borrow() || done(&node) { break; }
                }
            }
        }
    }
}
