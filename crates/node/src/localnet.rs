//! `couponchain localnet init`: lays out a local multi-node network in one folder —
//! deterministic keys (validators, replicas, and the same demo administrator, issuer, site
//! and holder as `couponchain dev`), one genesis, and a config per node that lists every
//! other node as a peer. Run again on the same folder, it keeps the keys and the genesis
//! (so the chain resumes) and rewrites only the configs. `scripts/localnet.sh` and the
//! multi-process tests both use it.

use crate::dev::demo_keys;
use crate::keyfile::write_key_file;
use anyhow::Context;
use couponchain_chain::Keypair;
use couponchain_runtime::{Genesis, GenesisIssuer, GenesisSite};
use std::path::{Path, PathBuf};

pub const LOCALNET_CHAIN_ID: &str = "couponchain-localnet";

#[derive(Debug, clap::Args)]
pub struct LocalnetArgs {
    /// The folder holding the whole network.
    #[arg(long, default_value = "localnet-data")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub validators: u16,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(0..=16))]
    pub replicas: u16,
    /// RPC port of the first node; node i listens on this + i.
    #[arg(long, default_value_t = 8545)]
    pub rpc_port: u16,
    /// Peer-to-peer port of the first node; node i listens on this + i.
    #[arg(long, default_value_t = 26656)]
    pub p2p_port: u16,
    /// Empty blocks this often when idle.
    #[arg(long, default_value_t = 1000)]
    pub heartbeat_ms: u64,
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

/// One node of the layout.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub config: PathBuf,
    pub rpc: String,
}

fn seeded(name: &str) -> Keypair {
    Keypair::from_seed(&format!("couponchain-localnet/{name}"))
}

fn ensure_key(dir: &Path, name: &str, kp: &Keypair) -> anyhow::Result<()> {
    let path = dir.join("keys").join(format!("{name}.key"));
    if !path.exists() {
        write_key_file(&path, kp, false)?;
    }
    Ok(())
}

/// Flush and compaction MiB/s per localnet node (see `storage.compaction_rate_mb`): the
/// nodes share one machine, so each gets a slice of its disk and cores.
const LOCALNET_COMPACTION_RATE_MB: u64 = 64;

pub fn init(args: &LocalnetArgs) -> anyhow::Result<Vec<NodeSpec>> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir.join("keys"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let validators: Vec<String> = (0..args.validators)
        .map(|i| format!("validator-{i}"))
        .collect();
    let replicas: Vec<String> = (0..args.replicas).map(|i| format!("replica-{i}")).collect();
    for name in validators.iter().chain(&replicas) {
        ensure_key(dir, name, &seeded(name))?;
    }
    for (role, kp) in demo_keys() {
        if role != "validator" {
            ensure_key(dir, role, &kp)?;
        }
    }
    let genesis_path = dir.join("genesis.json");
    let wanted: Vec<_> = validators.iter().map(|n| seeded(n).public()).collect();
    if genesis_path.exists() {
        let g = crate::run::read_genesis(&genesis_path)?;
        let mut have = g.validators.clone();
        let mut want = wanted.clone();
        have.sort();
        want.sort();
        if have != want {
            anyhow::bail!(
                "{} was made for {} validators, not {}; start over with --clean",
                genesis_path.display(),
                g.validators.len(),
                args.validators
            );
        }
    } else {
        let demo = |role: &str| {
            demo_keys()
                .into_iter()
                .find(|(r, _)| *r == role)
                .map(|(_, k)| k.public())
                .context("demo key missing")
        };
        let issuer = demo("issuer")?;
        let mut sites = vec![GenesisSite {
            key: demo("site")?,
            name: "Demo Shop till".into(),
            issuer: Some(issuer),
            region: Some("u33db".into()),
        }];
        for r in &replicas {
            sites.push(GenesisSite {
                key: seeded(r).public(),
                name: format!("verification site {r}"),
                issuer: None,
                region: None,
            });
        }
        let g = Genesis {
            chain_id: LOCALNET_CHAIN_ID.into(),
            genesis_time_ms: crate::node::wall_ms(),
            validators: wanted,
            admins: vec![demo("admin")?],
            issuers: vec![GenesisIssuer {
                key: issuer,
                name: "Demo Shop".into(),
            }],
            sites,
            max_tx_lifetime_ms: Genesis::DEFAULT_MAX_TX_LIFETIME_MS,
            proposal_ttl_ms: Genesis::DEFAULT_PROPOSAL_TTL_MS,
            validator_change_delay: Genesis::DEFAULT_VALIDATOR_CHANGE_DELAY,
        };
        g.initial_state()
            .context("checking the generated genesis")?;
        std::fs::write(&genesis_path, serde_json::to_string_pretty(&g)?)?;
    }
    let names: Vec<&String> = validators.iter().chain(&replicas).collect();
    let p2p = |i: usize| -> anyhow::Result<String> {
        let port =
            u16::try_from(usize::from(args.p2p_port) + i).context("p2p port out of range")?;
        Ok(format!("/ip4/127.0.0.1/tcp/{port}"))
    };
    let mut specs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut peers = Vec::new();
        for (j, other) in names.iter().enumerate() {
            if i != j {
                let id = crate::net::gate::peer_id(&seeded(other).public())
                    .context("deriving a peer id")?;
                peers.push(format!("{}/p2p/{id}", p2p(j)?));
            }
        }
        let rpc_port =
            u16::try_from(usize::from(args.rpc_port) + i).context("RPC port out of range")?;
        let node_dir = dir.join(name.as_str());
        std::fs::create_dir_all(&node_dir)?;
        let config = node_dir.join("config.toml");
        let text = format!(
            "# Written by `couponchain localnet init`; rewritten on every run.\n\
             data_dir = \"data\"\n\
             genesis = \"../genesis.json\"\n\
             node_key = \"../keys/{name}.key\"\n\n\
             [rpc]\naddr = \"127.0.0.1:{rpc_port}\"\n\n\
             [p2p]\nlisten = \"{listen}\"\npeers = {peers:?}\n\n\
             [block]\nmin_interval_ms = 0\nheartbeat_ms = {hb}\n\n\
             # All nodes of the localnet share this machine's cores and disk: flushes and\n\
             # compactions are rate-limited so that five nodes' bursts do not coincide.\n\
             [storage]\ncompaction_rate_mb = {LOCALNET_COMPACTION_RATE_MB}\n\n\
             [log]\nlevel = \"{level}\"\n",
            listen = p2p(i)?,
            hb = args.heartbeat_ms,
            level = args.log_level,
        );
        std::fs::write(&config, text)?;
        specs.push(NodeSpec {
            name: name.to_string(),
            config,
            rpc: format!("http://127.0.0.1:{rpc_port}"),
        });
    }
    Ok(specs)
}
