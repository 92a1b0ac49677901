//! `couponchain keys …` and `couponchain bearer …`: create and inspect signing keys (key
//! files) and bearer codes. Everything here works offline. Seeded keys are deterministic and
//! meant for test networks only; bearer codes are random and printed with the public key
//! they stand for, which is what an issuer issues the coupon to.

use crate::keyfile::{read_key_file, write_key_file};
use anyhow::Context;
use clap::Subcommand;
use couponchain_chain::{BearerCode, Keypair};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Creates a key file (mode 0600) and prints its public key.
    New {
        /// Where to write the key file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Derives the key deterministically from this string (test networks only).
        #[arg(long, value_name = "STRING")]
        seed: Option<String>,
        /// Overwrites an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Prints the public key of a key file.
    Show {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BearerCommand {
    /// Generates bearer codes and prints each with the public key derived from it.
    New {
        /// How many codes.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        count: u32,
    },
    /// Prints the public key a bearer code stands for.
    Show {
        #[arg(value_name = "CODE")]
        code: String,
    },
}

/// The libp2p peer id of a node using this key (for `[p2p] peers` entries).
fn peer_id_text(kp: &Keypair) -> String {
    crate::net::gate::peer_id(&kp.public())
        .map(|p| p.to_string())
        .unwrap_or_default()
}

/// Runs a `keys` subcommand; `json` selects machine output.
pub fn run(cmd: KeysCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::New { out, seed, force } => {
            let kp = match &seed {
                Some(s) => {
                    eprintln!(
                        "warning: a key derived from a seed is for test networks only; \
                         anyone who knows the seed has the key"
                    );
                    Keypair::from_seed(s)
                }
                None => Keypair::generate().context("generating a key")?,
            };
            write_key_file(&out, &kp, force)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "public_key": kp.public(),
                        "peer_id": peer_id_text(&kp),
                        "file": out.display().to_string(),
                    })
                );
            } else {
                println!("{}", kp.public());
                eprintln!("wrote {}", out.display());
            }
        }
        KeysCommand::Show { file } => {
            let kp = read_key_file(&file)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "public_key": kp.public(), "peer_id": peer_id_text(&kp) })
                );
            } else {
                println!("{}", kp.public());
                eprintln!("peer id {}", peer_id_text(&kp));
            }
        }
    }
    Ok(())
}

/// Runs a `bearer` subcommand; `json` selects machine output.
pub fn run_bearer(cmd: BearerCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        BearerCommand::New { count } => {
            let mut rows = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let code = BearerCode::generate().context("generating a bearer code")?;
                rows.push((code.to_text(), code.keypair().public()));
            }
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(c, k)| serde_json::json!({ "code": c, "public_key": k }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (c, k) in rows {
                    println!("{c} {k}");
                }
            }
        }
        BearerCommand::Show { code } => {
            let parsed = BearerCode::parse(&code)
                .map_err(|e| anyhow::anyhow!("{code:?} is not a bearer code: {e}"))?;
            let pk = parsed.keypair().public();
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "code": parsed.to_text(), "public_key": pk })
                );
            } else {
                println!("{pk}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_new_and_show() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("v.json");
        run(
            KeysCommand::New {
                out: out.clone(),
                seed: Some("validator-0".into()),
                force: false,
            },
            true,
        )
        .unwrap();
        assert_eq!(
            read_key_file(&out).unwrap().public(),
            Keypair::from_seed("validator-0").public()
        );
        run(KeysCommand::Show { file: out.clone() }, false).unwrap();
        let again = run(
            KeysCommand::New {
                out,
                seed: None,
                force: false,
            },
            false,
        );
        assert!(again.is_err());
    }

    #[test]
    fn bearer_show_rejects_garbage() {
        assert!(run_bearer(
            BearerCommand::Show {
                code: "CPN-nope".into()
            },
            false
        )
        .is_err());
        let code = BearerCode::generate().unwrap().to_text();
        run_bearer(BearerCommand::Show { code }, true).unwrap();
    }
}
