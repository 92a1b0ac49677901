//! The `couponchain` binary: node commands (`run`, `dev`, `init`), key and genesis tools,
//! and client commands that sign with a key file and talk to any node's RPC.

mod client;
mod config;
mod dev;
mod genesis_cmd;
mod keyfile;
mod keys_cmd;
mod loadgen;
mod localnet;
mod net;
mod node;
mod run;
mod telemetry;

use anyhow::Context;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "couponchain",
    version,
    about = "A permissioned PoA chain with a native coupon runtime"
)]
struct Cli {
    #[command(flatten)]
    client: client::ClientOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a node from a config file.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Runs a one-validator development chain with demo keys.
    Dev(dev::DevArgs),
    /// Creates a data folder with a commented config file.
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        /// Overwrite an existing config file.
        #[arg(long)]
        force: bool,
    },
    /// Creates and shows key files.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Creates bearer codes and shows the keys they stand for.
    #[command(subcommand)]
    Bearer(keys_cmd::BearerCommand),
    /// Creates a genesis document.
    #[command(subcommand)]
    Genesis(genesis_cmd::GenesisCommand),
    #[command(flatten)]
    Client(client::ClientCommand),
    /// Drives a node with pre-signed transactions and reports throughput and latency.
    Loadgen(loadgen::LoadgenArgs),
    /// Lays out a local multi-node network (used by `scripts/localnet.sh`).
    #[command(subcommand)]
    Localnet(LocalnetCommand),
}

#[derive(Subcommand)]
enum LocalnetCommand {
    /// Writes keys, a genesis and one config per node into a folder (keeps existing keys
    /// and genesis, so a network resumes); prints `NAME RPC_URL CONFIG` per node.
    Init(localnet::LocalnetArgs),
}

/// The commented template `init` writes (also in `config/node.toml`).
const NODE_TOML: &str = include_str!("../../../config/node.toml");

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => {
            let base = config.parent().map(PathBuf::from).unwrap_or_default();
            let user = config::UserConfig::load(&config, std::env::vars())?;
            let config = user.validate(&base)?;
            telemetry::init(config.log_format, &config.log_level)?;
            let genesis = run::read_genesis(&config.genesis)?;
            let key_path = config.validator_key.clone().context(
                "config field `validator_key` (or `node_key`) is required: the node's identity",
            )?;
            let key = keyfile::read_key_file(&key_path)?;
            runtime()?.block_on(run::run_node(config, genesis, key))
        }
        Command::Dev(args) => {
            let (data_dir, _temp) = match &args.data_dir {
                Some(d) => (d.clone(), None),
                None => {
                    let t = tempfile::Builder::new()
                        .prefix("couponchain-dev-")
                        .tempdir()?;
                    (t.path().to_path_buf(), Some(t))
                }
            };
            let (config, genesis, key) = dev::prepare(&args, &data_dir)?;
            telemetry::init(config.log_format, &config.log_level)?;
            dev::print_banner(&config, &data_dir, args.data_dir.is_none());
            let rt = runtime()?;
            let result = rt.block_on(run::run_node(config, genesis, key));
            // Stop every task (closing the ledger) before the temporary folder is removed;
            // as a tail-expression temporary the runtime would outlive `_temp`.
            drop(rt);
            drop(_temp);
            result
        }
        Command::Init { data_dir, force } => {
            std::fs::create_dir_all(data_dir.join("keys"))
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let path = data_dir.join("config.toml");
            if path.exists() && !force {
                anyhow::bail!("{} exists; pass --force to overwrite", path.display());
            }
            std::fs::write(&path, NODE_TOML)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
            println!(
                "next: couponchain keys new --out {}/keys/validator.key",
                data_dir.display()
            );
            println!(
                "      couponchain genesis new ... --out {}/genesis.json",
                data_dir.display()
            );
            println!("      couponchain run --config {}", path.display());
            Ok(())
        }
        Command::Keys(cmd) => keys_cmd::run(cmd, cli.client.json),
        Command::Bearer(cmd) => keys_cmd::run_bearer(cmd, cli.client.json),
        Command::Client(cmd) => runtime()?.block_on(client::run(cmd, cli.client)),
        Command::Genesis(cmd) => genesis_cmd::run(cmd),
        Command::Loadgen(args) => runtime()?.block_on(loadgen::run(args)),
        Command::Localnet(LocalnetCommand::Init(args)) => {
            for n in localnet::init(&args)? {
                println!("{} {} {}", n.name, n.rpc, n.config.display());
            }
            Ok(())
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("couponchain")
        .build()
        .context("starting the async runtime")
}
