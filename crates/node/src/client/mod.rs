//! The command-line client: every `couponchain` subcommand that talks to a running node over
//! its HTTP RPC (`--rpc`, or `COUPONCHAIN_RPC`). Signing commands read a key file, ask the
//! node for its chain id and head, build and sign the transaction locally (the secret never
//! leaves this process), submit it in the canonical binary encoding and, unless
//! `--no-wait`, wait until it is final. Output is a short readable summary, or the node's
//! JSON with `--json`; the exit status is 0 only if every transaction was applied. When a
//! command's stdout carries ids (campaign create, issue, gov propose, authorize), the summary
//! goes to stderr so `$(…)` captures just the ids.

mod auth;
mod campaign;
mod coupons;
mod gov;
mod http;
mod output;
mod query;
mod recipients;
mod setup;

use clap::{Args, Subcommand};
use couponchain_chain::Hash;
use std::time::Duration;

/// Options every client command shares.
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// The node's RPC address.
    #[arg(
        long,
        env = "COUPONCHAIN_RPC",
        default_value = "http://127.0.0.1:8545",
        global = true
    )]
    pub rpc: String,
    /// Machine output: the node's JSON instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

/// How a signing command submits.
#[derive(Debug, Clone, Args)]
pub struct SubmitOpts {
    /// Only submit; do not wait for the transaction to become final.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for finality.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub wait_timeout_ms: u64,
    /// How long the transaction may wait to be included, from the chain's current time.
    #[arg(long, value_name = "MS", default_value_t = 600_000)]
    pub valid_for_ms: u64,
}

impl SubmitOpts {
    /// The wait to ask the node for; `None` with `--no-wait`.
    pub fn wait_ms(&self) -> Option<u64> {
        (!self.no_wait).then_some(self.wait_timeout_ms)
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create, inspect, pause, resume or revoke a campaign.
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// Issue coupons of a campaign (issuer).
    Issue(coupons::IssueArgs),
    /// Give a coupon to another key (owner).
    Transfer(coupons::TransferArgs),
    /// Move a bearer coupon into a wallet key (whoever holds the code).
    Claim(coupons::ClaimArgs),
    /// Revoke one coupon (the campaign's issuer).
    Revoke(coupons::RevokeArgs),
    /// Sign a redemption authorization for a site (holder); prints a `cpn1:` code.
    Authorize(coupons::AuthorizeArgs),
    /// Redeem a coupon with the holder's authorization (site).
    Redeem(coupons::RedeemArgs),
    /// Governance: propose and approve.
    #[command(subcommand)]
    Gov(gov::GovCommand),
    /// Show a coupon, its campaign, state and history.
    Coupon {
        #[arg(value_name = "ID")]
        id: Hash,
        /// Also fetch and check the coupon's state proof against the latest certified header.
        #[arg(long)]
        proof: bool,
    },
    /// List the coupons a key owns.
    Coupons {
        /// The owner's public key (hex) or key file.
        #[arg(long, value_name = "KEY", value_parser = setup::key_arg)]
        owner: couponchain_chain::PublicKey,
        /// Start after this coupon id (from the previous page's `next`).
        #[arg(long, value_name = "ID")]
        after: Option<Hash>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show a block (default: the latest).
    Block {
        #[arg(value_name = "HEIGHT|latest", default_value = "latest")]
        at: String,
    },
    /// Show a transaction and its receipt.
    Tx {
        #[arg(value_name = "ID")]
        id: Hash,
    },
    /// Show the node's status.
    Status,
    /// List the validators' equivocations the node has on record, each checked here.
    Evidence,
}

/// Runs one client command against the node at `opts.rpc`. Needs a tokio runtime (reqwest).
pub async fn run(cmd: ClientCommand, opts: ClientOpts) -> anyhow::Result<()> {
    // The node bounds its own wait; the HTTP timeout only has to outlast it.
    let wait = match &cmd {
        ClientCommand::Campaign(c) => c.submit_opts(),
        ClientCommand::Issue(a) => Some(&a.submit),
        ClientCommand::Transfer(a) => Some(&a.submit),
        ClientCommand::Claim(a) => Some(&a.submit),
        ClientCommand::Revoke(a) => Some(&a.submit),
        ClientCommand::Redeem(a) => Some(&a.submit),
        ClientCommand::Gov(g) => Some(g.submit_opts()),
        _ => None,
    }
    .and_then(SubmitOpts::wait_ms)
    .unwrap_or(0);
    let rpc = http::Rpc::new(
        &opts.rpc,
        Duration::from_millis(wait) + Duration::from_secs(30),
    )?;
    let ctx = setup::Ctx {
        rpc,
        json: opts.json,
    };
    match cmd {
        ClientCommand::Campaign(c) => campaign::run(&ctx, c).await,
        ClientCommand::Issue(a) => coupons::issue(&ctx, a).await,
        ClientCommand::Transfer(a) => coupons::transfer(&ctx, a).await,
        ClientCommand::Claim(a) => coupons::claim(&ctx, a).await,
        ClientCommand::Revoke(a) => coupons::revoke(&ctx, a).await,
        ClientCommand::Authorize(a) => coupons::authorize(&ctx, a).await,
        ClientCommand::Redeem(a) => coupons::redeem(&ctx, a).await,
        ClientCommand::Gov(g) => gov::run(&ctx, g).await,
        ClientCommand::Coupon { id, proof } => query::coupon(&ctx, id, proof).await,
        ClientCommand::Coupons {
            owner,
            after,
            limit,
        } => query::coupons(&ctx, owner, after, limit).await,
        ClientCommand::Block { at } => query::block(&ctx, &at).await,
        ClientCommand::Tx { id } => query::tx(&ctx, id).await,
        ClientCommand::Status => query::status(&ctx).await,
        ClientCommand::Evidence => query::evidence(&ctx).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    fn parse(args: &str) -> Result<TestCli, clap::Error> {
        TestCli::try_parse_from(std::iter::once("couponchain").chain(args.split_whitespace()))
    }

    #[test]
    fn the_command_tree_is_consistent() {
        TestCli::command().debug_assert();
    }

    #[test]
    fn parses_representative_commands() {
        let k = couponchain_chain::Keypair::from_seed("k").public();
        let h = Hash([3; 32]);
        let code = couponchain_chain::BearerCode::from_bytes([1; 16]).to_text();
        for ok in [
            "campaign create --key f --name N --kind multi:3 --valid-for-days 30 --max-supply 10 --percent-off 10% --json".to_string(),
            format!("campaign create --key f --name N --kind value:500 --expires-at-ms 9 --max-supply 10 --amount-off 5 --currency EUR --sites {k},{k}"),
            format!("campaign show {h}"),
            format!("campaign pause --key f --campaign {h} --no-wait"),
            format!("issue --key f --campaign {h} --to {k} {k}"),
            format!("issue --key f --campaign {h} --bearer 5"),
            format!("transfer --key f --coupon {h} --to {k}"),
            format!("claim --code {code} --to {k}"),
            format!("authorize --code {code} --coupon {h} --site {k} --amount 2"),
            "redeem --key s --auth cpn1:AAAA".to_string(),
            format!("redeem --key s --coupon {h} --holder-key h --amount 3"),
            format!("gov propose --key f register-site {k} Till --issuer {k} --region u33d"),
            format!("gov propose --key f --no-wait revoke-campaign {h}"),
            format!("gov approve --key f --proposal {h}"),
            format!("coupons --owner {k} --limit 5"),
            "block".to_string(),
            "block 7".to_string(),
            "status --rpc http://x:1".to_string(),
        ] {
            if let Err(e) = parse(&ok) {
                panic!("{ok}: {e}");
            }
        }
        for bad in [
            "campaign create --key f --name N --max-supply 10".to_string(),
            "campaign create --key f --name N --valid-for-days 1 --max-supply 10 --kind multi:x".to_string(),
            "campaign create --key f --name N --valid-for-days 1 --max-supply 10 --percent-off 1 --amount-off 2".to_string(),
            format!("issue --key f --campaign {h}"),
            format!("issue --key f --campaign {h} --bearer 1 --to {k}"),
            format!("authorize --coupon {h} --site {k}"),
            "redeem --key s".to_string(),
            "coupon nothex".to_string(),
            format!("transfer --key f --coupon {h} --to nokey"),
            format!("claim --code CPN-X --to {k}"),
        ] {
            assert!(parse(&bad).is_err(), "{bad} parsed");
        }
    }
}
