//! The `couponchain` binary. For now it offers the ledger-level commands that need no
//! network: inspecting a data directory. `run`, `dev`, keys and genesis tooling arrive with
//! the node issue.

use anyhow::Context;
use clap::{Parser, Subcommand};
use couponchain_runtime::Genesis;
use couponchain_storage::{Ledger, LedgerOptions};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "couponchain",
    version,
    about = "A permissioned PoA chain with a native coupon runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the head (height, hash, state root) of a ledger directory.
    Head {
        /// The ledger's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The genesis document (JSON) the ledger was created from.
        #[arg(long)]
        genesis: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Head { data_dir, genesis } => {
            let text = std::fs::read_to_string(&genesis)
                .with_context(|| format!("reading {}", genesis.display()))?;
            let genesis: Genesis = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", genesis.display()))?;
            let ledger = Ledger::open(&data_dir, &genesis, LedgerOptions::default())
                .with_context(|| format!("opening {}", data_dir.display()))?;
            println!("{}", serde_json::to_string_pretty(&ledger.head())?);
        }
    }
    Ok(())
}
