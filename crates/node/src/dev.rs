//! `couponchain dev`: one validator in one process with ready-made demo keys, like the
//! local development chains developers already know. State lives in a temporary folder
//! unless `--data-dir` is given; the demo keys are deterministic and printed.

use crate::config::{Config, LogFormat, UserConfig};
use crate::keyfile::write_key_file;
use couponchain_chain::Keypair;
use couponchain_runtime::{Genesis, GenesisIssuer, GenesisSite};
use std::path::{Path, PathBuf};

pub const DEV_CHAIN_ID: &str = "couponchain-dev";

/// The demo actors, from fixed seeds (never use them for anything of value).
pub fn demo_keys() -> Vec<(&'static str, Keypair)> {
    ["validator", "admin", "issuer", "site", "holder"]
        .into_iter()
        .map(|role| (role, Keypair::from_seed(&format!("couponchain-dev/{role}"))))
        .collect()
}

fn key_of(role: &str) -> Keypair {
    Keypair::from_seed(&format!("couponchain-dev/{role}"))
}

pub fn dev_genesis(genesis_time_ms: u64) -> Genesis {
    let issuer = key_of("issuer").public();
    Genesis {
        chain_id: DEV_CHAIN_ID.into(),
        genesis_time_ms,
        validators: vec![key_of("validator").public()],
        admins: vec![key_of("admin").public()],
        issuers: vec![GenesisIssuer {
            key: issuer,
            name: "Demo Shop".into(),
        }],
        sites: vec![GenesisSite {
            key: key_of("site").public(),
            name: "Demo Shop till".into(),
            issuer: Some(issuer),
            region: Some("u33db".into()),
        }],
        max_tx_lifetime_ms: Genesis::DEFAULT_MAX_TX_LIFETIME_MS,
        proposal_ttl_ms: Genesis::DEFAULT_PROPOSAL_TTL_MS,
        validator_change_delay: Genesis::DEFAULT_VALIDATOR_CHANGE_DELAY,
    }
}

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Keep state here across restarts (default: a temporary folder removed on exit).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where the RPC listens; port 0 picks any free port.
    #[arg(long, default_value = "127.0.0.1:8545")]
    pub rpc_addr: String,
    /// A fixed block interval instead of a block as soon as transactions wait.
    #[arg(long)]
    pub block_interval_ms: Option<u64>,
    /// "human" or "json".
    #[arg(long, default_value = "human")]
    pub log_format: String,
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

/// Prepares the data folder (genesis, demo key files) and the config for a dev node.
pub fn prepare(args: &DevArgs, data_dir: &Path) -> anyhow::Result<(Config, Genesis, Keypair)> {
    std::fs::create_dir_all(data_dir.join("keys"))?;
    let genesis_path = data_dir.join("genesis.json");
    let genesis = if genesis_path.exists() {
        crate::run::read_genesis(&genesis_path)?
    } else {
        let g = dev_genesis(crate::node::wall_ms());
        std::fs::write(&genesis_path, serde_json::to_string_pretty(&g)?)?;
        g
    };
    for (role, kp) in demo_keys() {
        write_key_file(
            &data_dir.join("keys").join(format!("{role}.key")),
            &kp,
            true,
        )?;
    }
    let interval = args.block_interval_ms.unwrap_or(0);
    let text = format!(
        "data_dir = {data:?}\ngenesis = {gen:?}\n[rpc]\naddr = {addr:?}\n[block]\nmin_interval_ms = {interval}\nheartbeat_ms = {hb}\n[log]\nformat = {fmt:?}\nlevel = {lvl:?}\n",
        data = data_dir.display().to_string(),
        gen = genesis_path.display().to_string(),
        addr = args.rpc_addr,
        hb = interval.max(1000),
        fmt = args.log_format,
        lvl = args.log_level,
    );
    let config =
        UserConfig::parse(&text, Path::new("<dev>"), std::env::vars())?.validate(data_dir)?;
    Ok((config, genesis, key_of("validator")))
}

/// The banner a developer reads: the chain, the demo keys and where their files are.
pub fn print_banner(config: &Config, data_dir: &Path, temporary: bool) {
    println!("couponchain dev chain `{DEV_CHAIN_ID}`");
    println!(
        "  data: {}{}",
        data_dir.display(),
        if temporary {
            " (temporary; removed on exit)"
        } else {
            ""
        }
    );
    println!(
        "  demo keys (test only; key files in {}/keys):",
        data_dir.display()
    );
    for (role, kp) in demo_keys() {
        println!("    {role:<9} {}", kp.public());
    }
    if config.log_format == LogFormat::Json {
        println!("  logs: JSON on stderr");
    }
}
