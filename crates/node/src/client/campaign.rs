//! `couponchain campaign create|show|pause|resume|revoke`: an issuer opens a campaign (a
//! coupon class) from command-line terms, or changes its status; `show` prints the campaign
//! with its report. Also the parsers for coupon kinds (`single`, `multi:N`, `value:AMOUNT`)
//! and discounts (`10%` or basis points).

use super::output::finish;
use super::setup::{key_arg, load_key, outcome_with, report_lines, submit_all, verdicts};
use super::setup::{Ctx, Envelope};
use super::SubmitOpts;
use anyhow::bail;
use clap::{ArgGroup, Args, Subcommand};
use couponchain_chain::tx::{
    campaign_id, Benefit, CampaignAction, CampaignSpec, CouponKind, SitePolicy, Terms,
};
use couponchain_chain::{Hash, PublicKey, TxBody};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Open a campaign (issuer); prints its id.
    Create(Box<CreateArgs>),
    /// Show a campaign and its report.
    Show {
        #[arg(value_name = "ID")]
        id: Hash,
    },
    /// Pause a campaign: no issuing or redeeming until resumed.
    Pause(StatusArgs),
    /// Resume a paused campaign.
    Resume(StatusArgs),
    /// Revoke a campaign for good.
    Revoke(StatusArgs),
}

impl CampaignCommand {
    pub fn submit_opts(&self) -> Option<&SubmitOpts> {
        match self {
            CampaignCommand::Create(a) => Some(&a.submit),
            CampaignCommand::Show { .. } => None,
            CampaignCommand::Pause(a) | CampaignCommand::Resume(a) | CampaignCommand::Revoke(a) => {
                Some(&a.submit)
            }
        }
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The issuer's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[arg(long, value_name = "ID")]
    pub campaign: Hash,
    #[command(flatten)]
    pub submit: SubmitOpts,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("benefit").args(["percent_off", "amount_off", "free_item"])))]
#[command(group(ArgGroup::new("expiry").required(true).args(["expires_at_ms", "valid_for_days"])))]
#[command(group(ArgGroup::new("where").args(["sites", "any_site"])))]
pub struct CreateArgs {
    /// The issuer's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[arg(long)]
    pub name: String,
    /// Free text or JSON shown to holders.
    #[arg(long, alias = "metadata", value_name = "TEXT", default_value = "")]
    pub description: String,
    /// A percentage off: `10%`, `12.5%`, or basis points (`250` = 2.5 %).
    #[arg(long, value_name = "PERCENT|BP", value_parser = parse_percent)]
    pub percent_off: Option<u32>,
    /// A fixed amount off, in minor units of --currency.
    #[arg(long, value_name = "N")]
    pub amount_off: Option<u64>,
    /// A free item, by the issuer's SKU.
    #[arg(long, value_name = "SKU")]
    pub free_item: Option<String>,
    /// ISO 4217 currency of amounts, e.g. EUR.
    #[arg(long)]
    pub currency: Option<String>,
    /// single, multi:USES (a punch card) or value:AMOUNT (stored value, minor units).
    #[arg(long, value_parser = parse_kind, default_value = "single")]
    pub kind: CouponKind,
    /// Chain time before which coupons cannot be redeemed (default: now).
    #[arg(long, value_name = "MS")]
    pub not_before_ms: Option<u64>,
    /// Chain time from which coupons are expired.
    #[arg(long, value_name = "MS")]
    pub expires_at_ms: Option<u64>,
    /// Expire this many days after --not-before-ms (or now).
    #[arg(long, value_name = "DAYS")]
    pub valid_for_days: Option<u32>,
    #[arg(long, value_name = "N")]
    pub max_supply: u64,
    /// Holders may not give coupons away (bearer codes can still be claimed once).
    #[arg(long)]
    pub non_transferable: bool,
    /// Only these sites may redeem (comma-separated keys or key files).
    #[arg(long, value_name = "KEY,KEY", value_delimiter = ',', value_parser = key_arg)]
    pub sites: Vec<PublicKey>,
    /// Any registered site may redeem (default: any site of this issuer).
    #[arg(long)]
    pub any_site: bool,
    /// Redeeming sites' region (geohash) must start with this prefix.
    #[arg(long, value_name = "PREFIX")]
    pub region: Option<String>,
    /// No key may ever receive more coupons of this campaign than this.
    #[arg(long, value_name = "N")]
    pub per_holder_limit: Option<u32>,
    #[command(flatten)]
    pub submit: SubmitOpts,
}

/// `single` | `multi:N` | `value:AMOUNT`.
pub fn parse_kind(s: &str) -> Result<CouponKind, String> {
    let t = s.trim().to_ascii_lowercase();
    let num = |v: &str, what: &str| -> Result<u64, String> {
        let n: u64 = v
            .trim()
            .parse()
            .map_err(|_| format!("{what} in {s:?} must be a positive whole number"))?;
        if n == 0 {
            return Err(format!("{what} in {s:?} must be at least 1"));
        }
        Ok(n)
    };
    match t.split_once(':') {
        None if t == "single" || t == "single-use" => Ok(CouponKind::SingleUse),
        Some(("multi", v)) => {
            let uses = u32::try_from(num(v, "the number of uses")?)
                .map_err(|_| format!("too many uses in {s:?}"))?;
            Ok(CouponKind::MultiUse { uses })
        }
        Some(("value", v)) => Ok(CouponKind::StoredValue {
            amount: num(v, "the amount")?,
        }),
        _ => Err(format!(
            "{s:?} is not a coupon kind: use single, multi:USES or value:AMOUNT"
        )),
    }
}

/// `12.5%` (percent, up to two decimals) or `1250` (basis points), at most 100 %.
pub fn parse_percent(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let bp = if let Some(p) = t.strip_suffix('%') {
        let (whole, frac) = p.trim().split_once('.').unwrap_or((p.trim(), ""));
        if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{s:?}: at most two decimals of a percent"));
        }
        let whole: u32 = whole
            .parse()
            .map_err(|_| format!("{s:?} is not a percentage"))?;
        let frac: u32 = format!("{frac:0<2}").parse().unwrap_or(0);
        whole.saturating_mul(100).saturating_add(frac)
    } else {
        t.parse::<u32>()
            .map_err(|_| format!("{s:?} is neither a percentage (10%) nor basis points"))?
    };
    if bp == 0 || bp > 10_000 {
        return Err(format!("{s:?} must be more than 0 and at most 100%"));
    }
    Ok(bp)
}

/// The campaign spec the arguments describe, given the chain's current time.
pub fn spec(a: &CreateArgs, head_time_ms: u64, base_ms: u64) -> anyhow::Result<CampaignSpec> {
    let benefit = match (&a.percent_off, &a.amount_off, &a.free_item) {
        (Some(bp), _, _) => Benefit::PercentOff { basis_points: *bp },
        (_, Some(n), _) => Benefit::AmountOff { amount: *n },
        (_, _, Some(sku)) => Benefit::FreeItem { sku: sku.clone() },
        _ => Benefit::Other,
    };
    if matches!(benefit, Benefit::AmountOff { .. }) && a.currency.is_none() {
        bail!("--amount-off needs --currency");
    }
    let not_before_ms = a.not_before_ms.unwrap_or(head_time_ms);
    let expires_at_ms = match (a.expires_at_ms, a.valid_for_days) {
        (Some(t), _) => t,
        (None, Some(d)) => not_before_ms
            .max(base_ms)
            .saturating_add(u64::from(d) * 86_400_000),
        (None, None) => bail!("give --expires-at-ms or --valid-for-days"),
    };
    if expires_at_ms <= not_before_ms {
        bail!("the campaign would expire ({expires_at_ms}) before it starts ({not_before_ms})");
    }
    let redeem_at = if a.any_site {
        SitePolicy::AnySite
    } else if !a.sites.is_empty() {
        let mut sites = a.sites.clone();
        sites.sort();
        sites.dedup();
        SitePolicy::Sites(sites)
    } else {
        SitePolicy::AnySiteOfIssuer
    };
    Ok(CampaignSpec {
        name: a.name.clone(),
        terms: Terms {
            benefit,
            currency: a.currency.clone(),
            metadata: a.description.clone(),
        },
        not_before_ms,
        expires_at_ms,
        max_supply: a.max_supply,
        transferable: !a.non_transferable,
        kind: a.kind,
        redeem_at,
        region_prefix: a.region.clone(),
        per_holder_limit: a.per_holder_limit,
    })
}

pub async fn run(ctx: &Ctx, cmd: CampaignCommand) -> anyhow::Result<()> {
    let (a, action) = match cmd {
        CampaignCommand::Create(a) => return create(ctx, *a).await,
        CampaignCommand::Show { id } => return super::query::campaign(ctx, id).await,
        CampaignCommand::Pause(a) => (a, CampaignAction::Pause),
        CampaignCommand::Resume(a) => (a, CampaignAction::Resume),
        CampaignCommand::Revoke(a) => (a, CampaignAction::Revoke),
    };
    let key = load_key(&a.key)?;
    let env = Envelope::fetch(&ctx.rpc, a.submit.valid_for_ms).await?;
    let tx = env.sign(
        &key,
        TxBody::SetCampaignStatus {
            campaign: a.campaign,
            action,
        },
    )?;
    super::setup::submit_one(ctx, tx, &a.submit).await
}

async fn create(ctx: &Ctx, a: CreateArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    let env = Envelope::fetch(&ctx.rpc, a.submit.valid_for_ms).await?;
    let spec = spec(&a, env.head_time_ms, env.base_ms)?;
    let tx = env.sign(&key, TxBody::CreateCampaign(spec))?;
    let id = campaign_id(&tx.id());
    let outcomes = submit_all(ctx, std::slice::from_ref(&tx), &a.submit).await?;
    let v = if ctx.json {
        ctx.print_json(&outcome_with(
            &outcomes[0],
            &[("campaign", serde_json::json!(id))],
        )?)?;
        verdicts(&outcomes, &a.submit)
    } else {
        let v = report_lines(&outcomes, &a.submit, true);
        println!("{id}");
        v
    };
    finish(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kinds() {
        assert_eq!(parse_kind("single"), Ok(CouponKind::SingleUse));
        assert_eq!(parse_kind("Multi:3"), Ok(CouponKind::MultiUse { uses: 3 }));
        assert_eq!(
            parse_kind("value:2500"),
            Ok(CouponKind::StoredValue { amount: 2500 })
        );
        for bad in [
            "",
            "multi",
            "multi:",
            "multi:0",
            "multi:-1",
            "multi:x",
            "value:0",
            "double",
            "multi:99999999999",
        ] {
            assert!(parse_kind(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn parses_percentages() {
        assert_eq!(parse_percent("10%"), Ok(1000));
        assert_eq!(parse_percent("12.5%"), Ok(1250));
        assert_eq!(parse_percent("0.25%"), Ok(25));
        assert_eq!(parse_percent("250"), Ok(250));
        assert_eq!(parse_percent("100%"), Ok(10_000));
        for bad in ["0", "0%", "101%", "10001", "1.234%", "ten%", "%"] {
            assert!(parse_percent(bad).is_err(), "{bad:?} parsed");
        }
    }
}
