//! `couponchain genesis new`: builds the genesis document every node of a chain shares from
//! command-line arguments (validators, administrators, issuers, sites and chain parameters),
//! checks it with the runtime's own genesis validation, and writes it as pretty JSON. Keys
//! are given in hex or as key-file paths.

use crate::keyfile::resolve_public_key;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use couponchain_chain::PublicKey;
use couponchain_runtime::{Genesis, GenesisIssuer, GenesisSite};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum GenesisCommand {
    /// Writes a new genesis document.
    New(GenesisNewArgs),
}

#[derive(Debug, Args)]
pub struct GenesisNewArgs {
    /// The chain id (1 to 64 bytes); binds every transaction to this network.
    #[arg(long)]
    pub chain_id: String,
    /// A validator's public key (hex) or key file; repeat for each validator.
    #[arg(long = "validator", value_name = "KEY", required = true)]
    pub validators: Vec<String>,
    /// An administrator (may propose governance actions); repeatable.
    #[arg(long = "admin", value_name = "KEY")]
    pub admins: Vec<String>,
    /// An issuer as KEY:NAME; repeatable.
    #[arg(long = "issuer", value_name = "KEY:NAME")]
    pub issuers: Vec<String>,
    /// A redemption site as KEY:NAME[:ISSUER_KEY][:REGION] (REGION a geohash); repeatable.
    #[arg(long = "site", value_name = "KEY:NAME[:ISSUER_KEY][:REGION]")]
    pub sites: Vec<String>,
    /// Chain time of the genesis block in ms since the Unix epoch (default: now).
    #[arg(long)]
    pub genesis_time_ms: Option<u64>,
    /// How far ahead of chain time a transaction's validity may reach.
    #[arg(long, default_value_t = Genesis::DEFAULT_MAX_TX_LIFETIME_MS)]
    pub max_tx_lifetime_ms: u64,
    /// How long a governance proposal stays open.
    #[arg(long, default_value_t = Genesis::DEFAULT_PROPOSAL_TTL_MS)]
    pub proposal_ttl_ms: u64,
    /// Blocks between a validator-set change's approval and its effect.
    #[arg(long, default_value_t = Genesis::DEFAULT_VALIDATOR_CHANGE_DELAY)]
    pub validator_change_delay: u64,
    /// Where to write the document.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Overwrites an existing file.
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: GenesisCommand) -> anyhow::Result<()> {
    match cmd {
        GenesisCommand::New(args) => {
            let genesis = build(&args)?;
            write(&args.out, &genesis, args.force)?;
            eprintln!(
                "wrote {} (chain {}, {} validators, {} admins, {} issuers, {} sites)",
                args.out.display(),
                genesis.chain_id,
                genesis.validators.len(),
                genesis.admins.len(),
                genesis.issuers.len(),
                genesis.sites.len()
            );
            Ok(())
        }
    }
}

/// Builds and validates the document described by `args`.
pub fn build(args: &GenesisNewArgs) -> anyhow::Result<Genesis> {
    let keys = |flag: &str, list: &[String]| -> anyhow::Result<Vec<PublicKey>> {
        list.iter()
            .map(|k| resolve_public_key(k).with_context(|| format!("--{flag} {k:?}")))
            .collect()
    };
    let genesis_time_ms = match args.genesis_time_ms {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| anyhow::anyhow!("the system clock is before 1970"))?
            .as_millis() as u64,
    };
    let genesis = Genesis {
        chain_id: args.chain_id.clone(),
        genesis_time_ms,
        validators: keys("validator", &args.validators)?,
        admins: keys("admin", &args.admins)?,
        issuers: args
            .issuers
            .iter()
            .map(|s| parse_issuer(s))
            .collect::<anyhow::Result<_>>()?,
        sites: args
            .sites
            .iter()
            .map(|s| parse_site(s))
            .collect::<anyhow::Result<_>>()?,
        max_tx_lifetime_ms: args.max_tx_lifetime_ms,
        proposal_ttl_ms: args.proposal_ttl_ms,
        validator_change_delay: args.validator_change_delay,
    };
    let mut seen = std::collections::BTreeSet::new();
    for i in &genesis.issuers {
        if !seen.insert(i.key) {
            bail!("issuer {} is listed twice", i.key);
        }
    }
    seen.clear();
    for s in &genesis.sites {
        if !seen.insert(s.key) {
            bail!("site {} is listed twice", s.key);
        }
    }
    genesis
        .initial_state()
        .map_err(|e| anyhow::anyhow!("invalid genesis: {e}"))?;
    Ok(genesis)
}

fn write(path: &Path, genesis: &Genesis, force: bool) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(genesis)?;
    text.push('\n');
    crate::keyfile::write_new_file(path, text.as_bytes(), 0o644, force, "genesis")
}

/// `KEY:NAME` (the name may itself contain `:`).
pub fn parse_issuer(arg: &str) -> anyhow::Result<GenesisIssuer> {
    let Some((key, name)) = arg.split_once(':') else {
        bail!("--issuer {arg:?}: expected KEY:NAME");
    };
    let key = resolve_public_key(key).with_context(|| format!("--issuer {arg:?}"))?;
    if name.trim().is_empty() {
        bail!("--issuer {arg:?}: the name is empty");
    }
    Ok(GenesisIssuer {
        key,
        name: name.to_string(),
    })
}

fn is_geohash(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= couponchain_runtime::limits::MAX_REGION_BYTES
        && s.bytes()
            .all(|b| b"0123456789bcdefghjkmnpqrstuvwxyz".contains(&b))
}

/// `KEY:NAME[:ISSUER_KEY][:REGION]`. With one optional part, it is the issuer if it is a
/// key (64 hex digits or an existing key file) and the region otherwise; either may be
/// left empty (`KEY:NAME::u33d`).
pub fn parse_site(arg: &str) -> anyhow::Result<GenesisSite> {
    let usage = || format!("--site {arg:?}: expected KEY:NAME[:ISSUER_KEY][:REGION]");
    let parts: Vec<&str> = arg.split(':').collect();
    if parts.len() < 2 || parts.len() > 4 {
        bail!(usage());
    }
    let key = resolve_public_key(parts[0]).with_context(usage)?;
    let name = parts[1];
    if name.trim().is_empty() {
        bail!("--site {arg:?}: the name is empty");
    }
    let issuer_arg = |s: &str| -> anyhow::Result<Option<PublicKey>> {
        if s.is_empty() {
            Ok(None)
        } else {
            resolve_public_key(s)
                .map(Some)
                .with_context(|| format!("--site {arg:?}: issuer"))
        }
    };
    let region_arg = |s: &str| -> anyhow::Result<Option<String>> {
        if s.is_empty() {
            Ok(None)
        } else if is_geohash(s) {
            Ok(Some(s.to_string()))
        } else {
            bail!("--site {arg:?}: region {s:?} is not a geohash (1 to 12 of 0-9, b-z without a, i, l, o)")
        }
    };
    let (issuer, region) = match parts.len() {
        2 => (None, None),
        3 => {
            let x = parts[2];
            if is_geohash(x) && !Path::new(x).is_file() {
                (None, region_arg(x)?)
            } else {
                (issuer_arg(x)?, None)
            }
        }
        _ => (issuer_arg(parts[2])?, region_arg(parts[3])?),
    };
    Ok(GenesisSite {
        key,
        name: name.to_string(),
        issuer,
        region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponchain_chain::Keypair;

    fn pk(s: &str) -> PublicKey {
        Keypair::from_seed(s).public()
    }

    #[test]
    fn parses_sites_in_every_form() {
        let (k, i) = (pk("site"), pk("issuer"));
        let s = parse_site(&format!("{k}:Canteen")).unwrap();
        assert_eq!(
            (s.key, s.name.as_str(), s.issuer, s.region),
            (k, "Canteen", None, None)
        );
        let s = parse_site(&format!("{k}:Canteen:{i}")).unwrap();
        assert_eq!((s.issuer, s.region), (Some(i), None));
        let s = parse_site(&format!("{k}:Canteen:u33d")).unwrap();
        assert_eq!((s.issuer, s.region.as_deref()), (None, Some("u33d")));
        let s = parse_site(&format!("{k}:Canteen:{i}:u33dc0")).unwrap();
        assert_eq!((s.issuer, s.region.as_deref()), (Some(i), Some("u33dc0")));
        let s = parse_site(&format!("{k}:Canteen::u33d")).unwrap();
        assert_eq!((s.issuer, s.region.as_deref()), (None, Some("u33d")));
    }

    #[test]
    fn rejects_malformed_sites_and_issuers() {
        let k = pk("site");
        for bad in [
            "nokey".to_string(),
            format!("{k}"),
            format!("{k}:"),
            format!("{k}:Name:{k}:u33d:extra"),
            format!("{k}:Name:{k}:NOT-A-GEOHASH"),
            "zz:Name".to_string(),
        ] {
            let e = parse_site(&bad).unwrap_err();
            assert!(format!("{e:#}").contains("--site"), "{bad}: {e:#}");
        }
        assert!(parse_issuer(&format!("{k}")).is_err());
        assert!(parse_issuer(&format!("{k}: ")).is_err());
        let i = parse_issuer(&format!("{k}:Shop: Berlin")).unwrap();
        assert_eq!(i.name, "Shop: Berlin");
    }

    fn args(validators: Vec<String>) -> GenesisNewArgs {
        GenesisNewArgs {
            chain_id: "test-1".into(),
            validators,
            admins: vec![pk("admin").to_hex()],
            issuers: vec![format!("{}:Shop", pk("issuer"))],
            sites: vec![format!("{}:Till:{}:u33d", pk("site"), pk("issuer"))],
            genesis_time_ms: Some(1_700_000_000_000),
            max_tx_lifetime_ms: Genesis::DEFAULT_MAX_TX_LIFETIME_MS,
            proposal_ttl_ms: Genesis::DEFAULT_PROPOSAL_TTL_MS,
            validator_change_delay: Genesis::DEFAULT_VALIDATOR_CHANGE_DELAY,
            out: PathBuf::from("unused"),
            force: false,
        }
    }

    #[test]
    fn builds_validates_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let vfile = dir.path().join("v1.json");
        crate::keyfile::write_key_file(&vfile, &Keypair::from_seed("v1"), false).unwrap();
        let mut a = args(vec![pk("v0").to_hex(), vfile.display().to_string()]);
        a.out = dir.path().join("genesis.json");
        let g = build(&a).unwrap();
        assert_eq!(g.validators, vec![pk("v0"), pk("v1")]);
        run(GenesisCommand::New(a)).unwrap();
        let text = std::fs::read_to_string(dir.path().join("genesis.json")).unwrap();
        let back: Genesis = serde_json::from_str(&text).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn invalid_documents_are_refused_with_the_reason() {
        let v = pk("v0").to_hex();
        let e = build(&args(vec![v.clone(), v.clone()])).unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
        let mut a = args(vec![v.clone()]);
        a.sites = vec![format!("{}:Till:{}", pk("site"), pk("not-an-issuer"))];
        let e = build(&a).unwrap_err();
        assert!(e.to_string().contains("not an issuer"), "{e}");
        let mut a = args(vec![v]);
        a.chain_id = String::new();
        assert!(build(&a).unwrap_err().to_string().contains("chain_id"));
    }
}
