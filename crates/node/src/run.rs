//! Starting and stopping a node: open the ledger, start the producer and the RPC server,
//! print the RPC URL once ready, stop cleanly on SIGINT or SIGTERM.

use crate::config::Config;
use crate::net;
use crate::node::disk::{watch_disk, DiskGuard};
use crate::node::mempool::MempoolLimits;
use crate::node::metrics::{NodeMetrics, StorageCollector};
use crate::node::{
    run_consensus, run_producer, run_replica, BlockSettings, ConsensusSettings, Inbound, Node,
    NodeHandle, NodeSettings, Role,
};
use anyhow::Context;
use couponchain_chain::Keypair;
use couponchain_consensus::ConsensusConfig;
use couponchain_rpc::{RpcLimits, RpcMetrics};
use couponchain_runtime::Genesis;
use couponchain_runtime::{Record, StateKey};
use couponchain_storage::{Ledger, LedgerOptions};
use std::io::Write;
use std::sync::Arc;
use tokio::sync::watch;

pub fn read_genesis(path: &std::path::Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the genesis {}", path.display()))?;
    let g: Genesis = serde_json::from_str(&text)
        .with_context(|| format!("parsing the genesis {}", path.display()))?;
    g.initial_state()
        .with_context(|| format!("checking the genesis {}", path.display()))?;
    Ok(g)
}

/// May this key connect? Validators of the next height and every key with a role
/// (administrator, issuer, site), as the durable ledger says now.
fn is_registered(ledger: &Ledger, key: &couponchain_chain::PublicKey) -> bool {
    if ledger
        .next_validator_set()
        .map(|s| s.contains(key))
        .unwrap_or(false)
    {
        return true;
    }
    match ledger.record(StateKey::Account(*key)) {
        Ok(Some(Record::Account(a))) => a.admin || a.issuer.is_some() || a.site.is_some(),
        _ => false,
    }
}

/// Runs a node until a shutdown signal; `key` signs its blocks.
pub async fn run_node(config: Config, genesis: Genesis, key: Keypair) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let disk = Arc::new(
        DiskGuard::new(config.data_dir.clone(), config.storage_min_free_bytes)
            .with_context(|| format!("reading the free space of {}", config.data_dir.display()))?,
    );
    let ledger_dir = config.data_dir.join("ledger");
    let opts = LedgerOptions {
        block_cache_bytes: config.storage_block_cache_bytes,
        tree_cache_bytes: config.storage_tree_cache_bytes,
        write_buffer_bytes: config.storage_write_buffer_bytes,
        compaction_rate_bytes: config.storage_compaction_rate_bytes,
        sync_writes: config.storage_sync_writes,
        tree_flush_bytes: config.storage_tree_flush_bytes,
        tree_flush_blocks: config.storage_tree_flush_blocks,
    };
    let ledger = Arc::new(
        Ledger::open(&ledger_dir, &genesis, opts)
            .with_context(|| format!("opening the ledger in {}", ledger_dir.display()))?,
    );
    if config.storage_warm_tree_cache {
        let started = std::time::Instant::now();
        let warm = ledger
            .warm_tree_cache()
            .with_context(|| format!("loading the state tree from {}", ledger_dir.display()))?;
        tracing::info!(
            chunks = warm.chunks,
            bytes = warm.bytes,
            complete = warm.complete,
            ms = started.elapsed().as_millis() as u64,
            "state tree cache warmed"
        );
    }
    let head = ledger.head();
    tracing::info!(chain_id = %genesis.chain_id, height = head.height, root = %head.state_root, "ledger open");

    let mut registry = prometheus_client::registry::Registry::default();
    let rpc_metrics = RpcMetrics::register(&mut registry);
    let node_metrics = NodeMetrics::register(&mut registry);
    registry.register_collector(Box::new(StorageCollector {
        ledger: ledger.clone(),
        disk: disk.clone(),
    }));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(watch_disk(disk.clone(), stop_rx.clone()));
    let bodies = Arc::new(crate::node::bodies::Bodies::default());
    let (net, inbound) = match &config.p2p_listen {
        Some(listen) => {
            let allow_ledger = ledger.clone();
            let respond_ledger = ledger.clone();
            let respond_bodies = bodies.clone();
            let (net, inbound) = net::spawn(
                net::NetConfig {
                    listen: listen.clone(),
                    peers: config.p2p_peers.clone(),
                    secret: key.secret_bytes(),
                    allow: Arc::new(move |k| is_registered(&allow_ledger, k)),
                    responder: Arc::new(move |req| {
                        crate::node::respond(&respond_ledger, &respond_bodies, req)
                    }),
                },
                net::NetMetrics::register(&mut registry),
                stop_rx.clone(),
            )?;
            (Some(net), Some(inbound))
        }
        None => (None, None),
    };
    let node = Node::new(
        ledger.clone(),
        key,
        NodeSettings {
            mempool: MempoolLimits {
                max_txs: config.mempool_max_txs,
                max_bytes: config.mempool_max_bytes,
                max_per_sender: config.mempool_max_per_sender,
            },
            block: BlockSettings {
                min_interval: config.block_min_interval,
                heartbeat: config.block_heartbeat,
                max_txs: config.block_max_txs,
                max_bytes: config.block_max_bytes,
            },
        },
        node_metrics,
        net.clone(),
        disk,
        bodies,
    )?;
    let limits = RpcLimits {
        max_body_bytes: config.rpc_max_body_bytes,
        request_timeout: config.rpc_request_timeout,
        max_wait: config.rpc_max_wait,
        cors_origins: config.rpc_cors_origins.clone(),
        ..RpcLimits::default()
    };
    let router = couponchain_rpc::router(
        Arc::new(NodeHandle(node.clone())),
        limits,
        rpc_metrics,
        Arc::new(registry),
    );
    let listener = tokio::net::TcpListener::bind(config.rpc_addr)
        .await
        .with_context(|| format!("binding the RPC to {}", config.rpc_addr))?;
    let addr = listener.local_addr()?;

    let consensus_settings = ConsensusSettings {
        config: ConsensusConfig {
            timeouts: config.timeouts,
            ..ConsensusConfig::new(genesis.chain_id.clone())
        },
        max_clock_drift_ms: config.max_clock_drift_ms,
        signing_state_path: config.data_dir.join("signing-state.bin"),
    };
    let consensus_inbound = inbound.map(|inbound| {
        // Transactions forwarded by peers are admitted whatever this node's role.
        let n = node.clone();
        let mut txs = inbound.txs;
        tokio::spawn(async move {
            while let Some((_peer, batch, received)) = txs.recv().await {
                n.admit_from_peer(batch, received).await;
            }
        });
        inbound.consensus
    });
    let role = node.role();
    let producer = tokio::spawn(run_roles(
        node.clone(),
        consensus_settings,
        consensus_inbound,
        stop_rx.clone(),
    ));
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(couponchain_rpc::serve(listener, router, async move {
        let _ = server_stop.wait_for(|s| *s).await;
    }));
    if let Some(net) = &net {
        for a in net.listen_addrs().await {
            println!(
                "couponchain: p2p listening on {a}/p2p/{}",
                net.local_peer_id()
            );
        }
    }
    node.set_ready(true);
    tracing::info!(%addr, role = role.name(), "RPC listening");
    println!("couponchain: RPC listening on http://{addr}");
    let _ = std::io::stdout().flush();

    let outcome = tokio::select! {
        r = producer => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.context(format!("the {} stopped", node.role().name()))),
            Err(e) => Err(anyhow::anyhow!("the {} task failed: {e}", node.role().name())),
        },
        s = shutdown_signal() => {
            tracing::info!(signal = s, "shutting down");
            Ok(())
        }
    };
    node.set_ready(false);
    let _ = stop_tx.send(true);
    match tokio::time::timeout(std::time::Duration::from_secs(10), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "RPC server stopped with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "RPC server task failed"),
        Err(_) => tracing::warn!("RPC server did not stop within 10 s"),
    }
    tracing::info!(height = ledger.head().height, "stopped");
    outcome
}

/// Runs the task of the node's current role; when governance changes the role (the task
/// returns without a shutdown), runs the new role's. A role that needs peers on a node
/// without `[p2p]` settings stops block production and waits for shutdown: producing alone
/// would make blocks the new validator set does not certify.
async fn run_roles(
    node: Arc<Node>,
    settings: ConsensusSettings,
    mut inbound: Option<Inbound>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        let role = node.role();
        tracing::info!(role = role.name(), "running as {}", role.name());
        match (role, inbound.take()) {
            (Role::SoleValidator, rx) => {
                inbound = rx;
                run_producer(node.clone(), stop.clone()).await?;
            }
            (Role::Validator, Some(rx)) => {
                inbound =
                    Some(run_consensus(node.clone(), settings.clone(), rx, stop.clone()).await?);
            }
            (Role::Replica, Some(rx)) => {
                inbound = Some(run_replica(node.clone(), rx, stop.clone()).await?);
            }
            (role, None) => {
                tracing::error!(
                    role = role.name(),
                    "this node is now a {} but has no peer-to-peer settings: block production \
                     stopped; add [p2p] listen and peers and restart",
                    role.name()
                );
                node.set_ready(false);
                let mut stop = stop.clone();
                let _ = stop.wait_for(|s| *s).await;
                return Ok(());
            }
        }
        if *stop.borrow() {
            return Ok(());
        }
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // No signal handling available: run until killed.
        std::future::pending::<()>().await;
        return "none";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
