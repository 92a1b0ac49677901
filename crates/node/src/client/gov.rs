//! `couponchain gov propose|approve`: governance transactions. An administrator or validator
//! proposes an action (the proposal id is the transaction id; a validator's own approval is
//! counted at once); validators approve; the action executes when more than 2/3 of the
//! current validators have approved. The summary says whether it executed.

use super::output::finish;
use super::setup::{key_arg, load_key, outcome_with, report_lines, submit_all, verdicts};
use super::setup::{Ctx, Envelope};
use super::SubmitOpts;
use clap::Subcommand;
use couponchain_chain::tx::GovAction;
use couponchain_chain::{Hash, PublicKey, TxBody};
use couponchain_rpc::SubmitOutcome;
use couponchain_runtime::Event;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum GovCommand {
    /// Propose a governance action (administrator or validator); prints the proposal id.
    Propose {
        /// The proposer's key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[command(flatten)]
        submit: SubmitOpts,
        #[command(subcommand)]
        action: ActionArg,
    },
    /// Approve a proposal (validator).
    Approve {
        /// The validator's key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        #[arg(long, value_name = "ID")]
        proposal: Hash,
        #[command(flatten)]
        submit: SubmitOpts,
    },
}

impl GovCommand {
    pub fn submit_opts(&self) -> &SubmitOpts {
        match self {
            GovCommand::Propose { submit, .. } | GovCommand::Approve { submit, .. } => submit,
        }
    }
}

/// The actions, as command-line words. Keys are hex or key files.
#[derive(Debug, Subcommand)]
pub enum ActionArg {
    AddValidator {
        #[arg(value_name = "KEY", value_parser = key_arg)]
        pubkey: PublicKey,
    },
    RemoveValidator {
        #[arg(value_name = "KEY", value_parser = key_arg)]
        pubkey: PublicKey,
    },
    AddAdmin {
        #[arg(value_name = "KEY", value_parser = key_arg)]
        pubkey: PublicKey,
    },
    RemoveAdmin {
        #[arg(value_name = "KEY", value_parser = key_arg)]
        pubkey: PublicKey,
    },
    RegisterIssuer {
        #[arg(value_name = "KEY", value_parser = key_arg)]
        pubkey: PublicKey,
        name: String,
    },
    RemoveIssuer {
        #[arg(value_name = "KEY", value_parser = key_arg)]
        pubkey: PublicKey,
    },
    RegisterSite {
        #[arg(value_name = "KEY", value_parser = key_arg)]
        pubkey: PublicKey,
        name: String,
        /// The issuer operating the site.
        #[arg(long, value_name = "KEY", value_parser = key_arg)]
        issuer: Option<PublicKey>,
        /// The site's geohash.
        #[arg(long)]
        region: Option<String>,
    },
    RemoveSite {
        #[arg(value_name = "KEY", value_parser = key_arg)]
        pubkey: PublicKey,
    },
    RevokeCampaign {
        #[arg(value_name = "ID")]
        campaign: Hash,
    },
}

impl From<ActionArg> for GovAction {
    fn from(a: ActionArg) -> GovAction {
        match a {
            ActionArg::AddValidator { pubkey } => GovAction::AddValidator { key: pubkey },
            ActionArg::RemoveValidator { pubkey } => GovAction::RemoveValidator { key: pubkey },
            ActionArg::AddAdmin { pubkey } => GovAction::AddAdmin { key: pubkey },
            ActionArg::RemoveAdmin { pubkey } => GovAction::RemoveAdmin { key: pubkey },
            ActionArg::RegisterIssuer { pubkey, name } => {
                GovAction::RegisterIssuer { key: pubkey, name }
            }
            ActionArg::RemoveIssuer { pubkey } => GovAction::RemoveIssuer { key: pubkey },
            ActionArg::RegisterSite {
                pubkey,
                name,
                issuer,
                region,
            } => GovAction::RegisterSite {
                key: pubkey,
                name,
                issuer,
                region,
            },
            ActionArg::RemoveSite { pubkey } => GovAction::RemoveSite { key: pubkey },
            ActionArg::RevokeCampaign { campaign } => GovAction::RevokeCampaign { campaign },
        }
    }
}

/// Whether the outcome's events include the proposal's execution.
fn executed(o: &SubmitOutcome) -> bool {
    o.receipt.as_ref().is_some_and(|r| {
        r.events()
            .iter()
            .any(|e| matches!(e, Event::ProposalExecuted { .. }))
    })
}

pub async fn run(ctx: &Ctx, cmd: GovCommand) -> anyhow::Result<()> {
    match cmd {
        GovCommand::Propose {
            key,
            submit,
            action,
        } => {
            let key = load_key(&key)?;
            let env = Envelope::fetch(&ctx.rpc, submit.valid_for_ms).await?;
            let tx = env.sign(
                &key,
                TxBody::Propose {
                    action: action.into(),
                },
            )?;
            let proposal = tx.id();
            let outcomes = submit_all(ctx, std::slice::from_ref(&tx), &submit).await?;
            let o = &outcomes[0];
            let v = if ctx.json {
                ctx.print_json(&outcome_with(
                    o,
                    &[
                        ("proposal", serde_json::json!(proposal)),
                        ("executed", serde_json::json!(executed(o))),
                    ],
                )?)?;
                verdicts(&outcomes, &submit)
            } else {
                let v = report_lines(&outcomes, &submit, true);
                if executed(o) {
                    eprintln!("the proposal executed at once");
                } else if o.receipt.as_ref().is_some_and(|r| r.is_applied()) {
                    eprintln!(
                        "the proposal is open; validators approve it with \
                         `couponchain gov approve --key FILE --proposal {proposal}`"
                    );
                }
                println!("{proposal}");
                v
            };
            finish(&v)
        }
        GovCommand::Approve {
            key,
            proposal,
            submit,
        } => {
            let key = load_key(&key)?;
            let env = Envelope::fetch(&ctx.rpc, submit.valid_for_ms).await?;
            let tx = env.sign(&key, TxBody::Approve { proposal })?;
            let outcomes = submit_all(ctx, std::slice::from_ref(&tx), &submit).await?;
            let o = &outcomes[0];
            let v = if ctx.json {
                ctx.print_json(&outcome_with(
                    o,
                    &[("executed", serde_json::json!(executed(o)))],
                )?)?;
                verdicts(&outcomes, &submit)
            } else {
                report_lines(&outcomes, &submit, false)
            };
            finish(&v)
        }
    }
}
