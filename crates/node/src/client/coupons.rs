//! Coupon commands: `issue` (to keys, to fresh bearer codes, or from a CSV/JSON file, split
//! into transactions of at most 10,000 recipients), `transfer`, `claim` (bearer code into a
//! wallet key), `revoke`, `authorize` (the holder signs a redemption authorization for a
//! site and gets a `cpn1:` code) and `redeem` (the site submits it, or does both steps for
//! scripts when it is given the holder's key).

use super::auth::{AuthTerms, AuthorizationCode};
use super::output::{finish, fmt_time};
use super::query::fetch_coupon;
use super::recipients::read_recipients;
use super::setup::{code_arg, key_arg, load_key, report_lines, submit_all, submit_one, verdicts};
use super::setup::{Ctx, Envelope};
use super::SubmitOpts;
use anyhow::{bail, Context};
use clap::{ArgGroup, Args};
use couponchain_chain::tx::{coupon_id, Recipient};
use couponchain_chain::{BearerCode, Hash, Keypair, PublicKey, TxBody};
use couponchain_rpc::views::CouponPage;
use couponchain_rpc::{SubmitOutcome, SubmitStatus};
use couponchain_runtime::{limits, CouponStatus, Outcome};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("recipients").required(true).args(["to", "bearer", "file"])))]
pub struct IssueArgs {
    /// The campaign issuer's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[arg(long, value_name = "ID")]
    pub campaign: Hash,
    /// Recipients' public keys (hex) or key files.
    #[arg(long, value_name = "KEY", num_args = 1.., value_delimiter = ',', value_parser = key_arg)]
    pub to: Vec<PublicKey>,
    /// Generate this many bearer codes and issue one coupon to each (the codes are printed).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub bearer: Option<u32>,
    /// Recipients from a CSV (`owner`[,`bearer`] header) or JSON (`[{"owner", "bearer"}]`) file.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub submit: SubmitOpts,
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The owner's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[arg(long, value_name = "ID")]
    pub coupon: Hash,
    #[arg(long, value_name = "KEY", value_parser = key_arg)]
    pub to: PublicKey,
    #[command(flatten)]
    pub submit: SubmitOpts,
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The bearer code (signs the claim; never sent to the node).
    #[arg(long, value_name = "CODE", value_parser = code_arg)]
    pub code: BearerCode,
    /// The coupon (default: the one unclaimed coupon issued to the code).
    #[arg(long, value_name = "ID")]
    pub coupon: Option<Hash>,
    /// The wallet key that will own the coupon.
    #[arg(long, value_name = "KEY", value_parser = key_arg)]
    pub to: PublicKey,
    #[command(flatten)]
    pub submit: SubmitOpts,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The campaign issuer's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    #[arg(long, value_name = "ID")]
    pub coupon: Hash,
    #[command(flatten)]
    pub submit: SubmitOpts,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("holder").required(true).args(["key", "code"])))]
pub struct AuthorizeArgs {
    /// The holder's key file.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Or the bearer code the coupon was issued to.
    #[arg(long, value_name = "CODE", value_parser = code_arg)]
    pub code: Option<BearerCode>,
    #[arg(long, value_name = "ID")]
    pub coupon: Hash,
    /// The site allowed to redeem (public key or key file).
    #[arg(long, value_name = "KEY", value_parser = key_arg)]
    pub site: PublicKey,
    /// Uses (single/multi-use) or value (stored value) to redeem.
    #[arg(long, default_value_t = 1)]
    pub amount: u64,
    /// How long the authorization stays valid, from the chain's current time.
    #[arg(long, value_name = "MS", default_value_t = 600_000)]
    pub valid_for_ms: u64,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["auth", "coupon"])))]
#[command(group(ArgGroup::new("holder").args(["holder_key", "holder_code"])))]
pub struct RedeemArgs {
    /// The site's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// A `cpn1:` authorization from the holder.
    #[arg(long, value_name = "CODE")]
    pub auth: Option<String>,
    /// Or: the coupon, with the holder's key (both steps at once, for scripts).
    #[arg(long, value_name = "ID", requires = "holder")]
    pub coupon: Option<Hash>,
    #[arg(long, value_name = "FILE", requires = "coupon")]
    pub holder_key: Option<PathBuf>,
    #[arg(long, value_name = "CODE", value_parser = code_arg, requires = "coupon")]
    pub holder_code: Option<BearerCode>,
    #[arg(long, default_value_t = 1, conflicts_with = "auth")]
    pub amount: u64,
    #[command(flatten)]
    pub submit: SubmitOpts,
}

/// True if the outcome says the transaction will never take effect.
fn definitely_failed(o: &SubmitOutcome) -> bool {
    match o.status {
        SubmitStatus::Refused => true,
        SubmitStatus::Final => !matches!(
            o.receipt.as_ref().map(|r| &r.outcome),
            Some(Outcome::Applied { .. })
        ),
        SubmitStatus::Accepted | SubmitStatus::Timeout => false,
    }
}

pub async fn issue(ctx: &Ctx, a: IssueArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    // (recipient, bearer code to hand out, if we generated one)
    let list: Vec<(Recipient, Option<String>)> = if let Some(n) = a.bearer {
        (0..n)
            .map(|_| {
                let code = BearerCode::generate().context("generating a bearer code")?;
                let owner = code.keypair().public();
                Ok((
                    Recipient {
                        owner,
                        bearer: true,
                    },
                    Some(code.to_text()),
                ))
            })
            .collect::<anyhow::Result<_>>()?
    } else if let Some(f) = &a.file {
        read_recipients(f)?.into_iter().map(|r| (r, None)).collect()
    } else {
        a.to.iter()
            .map(|k| {
                (
                    Recipient {
                        owner: *k,
                        bearer: false,
                    },
                    None,
                )
            })
            .collect()
    };
    if list.is_empty() {
        bail!("no recipients");
    }
    let env = Envelope::fetch(&ctx.rpc, a.submit.valid_for_ms).await?;
    let chunks: Vec<&[(Recipient, Option<String>)]> =
        list.chunks(limits::MAX_ISSUE_BATCH).collect();
    let txs = chunks
        .iter()
        .map(|c| {
            env.sign(
                &key,
                TxBody::IssueCoupons {
                    campaign: a.campaign,
                    recipients: c.iter().map(|(r, _)| *r).collect(),
                },
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if txs.len() > 1 {
        eprintln!(
            "{} recipients: submitting {} transactions of at most {}",
            list.len(),
            txs.len(),
            limits::MAX_ISSUE_BATCH
        );
    }
    let outcomes = submit_all(ctx, &txs, &a.submit).await?;
    let mut coupons = Vec::new();
    for ((tx, chunk), o) in txs.iter().zip(&chunks).zip(&outcomes) {
        if definitely_failed(o) {
            continue;
        }
        let tx_id = tx.id(); // hashes the whole transaction: once per chunk, not per coupon
        for (i, (r, code)) in chunk.iter().enumerate() {
            coupons.push((coupon_id(&tx_id, i as u32), r.owner, code.clone(), tx_id));
        }
    }
    let verdicts = if ctx.json {
        let list: Vec<_> = coupons
            .iter()
            .map(|(id, owner, code, tx)| {
                let mut v = serde_json::json!({ "coupon": id, "owner": owner, "tx": tx });
                if let Some(c) = code {
                    v["bearer_code"] = serde_json::json!(c);
                }
                v
            })
            .collect();
        ctx.print_json(&serde_json::json!({ "results": outcomes, "coupons": list }))?;
        verdicts(&outcomes, &a.submit)
    } else {
        let v = report_lines(&outcomes, &a.submit, true);
        for (id, owner, code, _) in &coupons {
            match code {
                Some(c) => println!("{id} {owner} {c}"),
                None => println!("{id} {owner}"),
            }
        }
        v
    };
    finish(&verdicts)
}

pub async fn transfer(ctx: &Ctx, a: TransferArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    let env = Envelope::fetch(&ctx.rpc, a.submit.valid_for_ms).await?;
    let tx = env.sign(
        &key,
        TxBody::Transfer {
            coupon: a.coupon,
            to: a.to,
        },
    )?;
    submit_one(ctx, tx, &a.submit).await
}

pub async fn revoke(ctx: &Ctx, a: RevokeArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    let env = Envelope::fetch(&ctx.rpc, a.submit.valid_for_ms).await?;
    let tx = env.sign(&key, TxBody::RevokeCoupon { coupon: a.coupon })?;
    submit_one(ctx, tx, &a.submit).await
}

pub async fn claim(ctx: &Ctx, a: ClaimArgs) -> anyhow::Result<()> {
    let key = a.code.keypair();
    let coupon =
        match a.coupon {
            Some(c) => c,
            None => {
                let path = format!("/v1/owners/{}/coupons?limit=100", key.public());
                let page: CouponPage = ctx.rpc.get(&path).await?;
                let open: Vec<Hash> = page
                    .coupons
                    .iter()
                    .filter(|c| c.bearer && c.status == CouponStatus::Active)
                    .map(|c| c.id)
                    .collect();
                match open.as_slice() {
                    [one] => *one,
                    [] => bail!("no unclaimed coupon was issued to this code (already claimed?)"),
                    many => bail!(
                    "{} unclaimed coupons were issued to this code; pick one with --coupon:\n  {}",
                    many.len(),
                    many.iter().map(|h| h.to_hex()).collect::<Vec<_>>().join("\n  ")
                ),
                }
            }
        };
    let env = Envelope::fetch(&ctx.rpc, a.submit.valid_for_ms).await?;
    let tx = env.sign(&key, TxBody::Claim { coupon, to: a.to })?;
    submit_one(ctx, tx, &a.submit).await
}

/// Signs an authorization for `site` to redeem `amount` of `coupon`, reading the coupon's
/// current redemption count from the node.
async fn sign_authorization(
    ctx: &Ctx,
    holder: &Keypair,
    coupon: Hash,
    site: PublicKey,
    amount: u64,
    env: &Envelope,
    valid_until_ms: u64,
) -> anyhow::Result<AuthorizationCode> {
    let view = fetch_coupon(&ctx.rpc, coupon).await?;
    let c = &view.coupon.coupon;
    if c.owner != holder.public() {
        bail!(
            "coupon {coupon} is owned by {}, not by the holder key {}",
            c.owner,
            holder.public()
        );
    }
    match c.status {
        CouponStatus::Active => {}
        CouponStatus::Spent => bail!("coupon {coupon} is used up"),
        CouponStatus::Revoked => bail!("coupon {coupon} was revoked"),
    }
    if amount == 0 || amount > c.remaining {
        bail!(
            "cannot authorize {amount}: coupon {coupon} has {} remaining",
            c.remaining
        );
    }
    Ok(AuthorizationCode::sign(
        holder,
        &AuthTerms {
            chain_id: env.chain_id.clone(),
            coupon,
            site,
            amount,
            seq: c.redemptions,
            valid_until_ms,
        },
    ))
}

pub async fn authorize(ctx: &Ctx, a: AuthorizeArgs) -> anyhow::Result<()> {
    let holder = match (&a.key, &a.code) {
        (Some(k), _) => load_key(k)?,
        (None, Some(c)) => c.keypair(),
        (None, None) => bail!("give --key or --code"),
    };
    let env = Envelope::fetch(&ctx.rpc, a.valid_for_ms).await?;
    let code = sign_authorization(
        ctx,
        &holder,
        a.coupon,
        a.site,
        a.amount,
        &env,
        env.valid_until_ms,
    )
    .await?;
    let text = code.to_text();
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "authorization": text,
            "coupon": code.coupon,
            "holder": code.holder,
            "site": a.site,
            "amount": code.amount,
            "seq": code.seq,
            "valid_until_ms": code.valid_until_ms,
        }))?;
    } else {
        eprintln!(
            "site {} may redeem {} of coupon {} (redemption #{}) until {}",
            a.site,
            code.amount,
            code.coupon,
            code.seq,
            fmt_time(code.valid_until_ms)
        );
        println!("{text}");
    }
    Ok(())
}

pub async fn redeem(ctx: &Ctx, a: RedeemArgs) -> anyhow::Result<()> {
    let site = load_key(&a.key)?;
    let env = Envelope::fetch(&ctx.rpc, a.submit.valid_for_ms).await?;
    let code = match (&a.auth, a.coupon) {
        (Some(text), _) => {
            let code = AuthorizationCode::parse(text)?;
            code.verify_for(&env.chain_id, site.public())?;
            if code.valid_until_ms <= env.head_time_ms {
                bail!(
                    "the authorization expired at {} (chain time is {})",
                    fmt_time(code.valid_until_ms),
                    fmt_time(env.head_time_ms)
                );
            }
            code
        }
        (None, Some(coupon)) => {
            let holder = match (&a.holder_key, &a.holder_code) {
                (Some(k), _) => load_key(k)?,
                (None, Some(c)) => c.keypair(),
                (None, None) => bail!("--coupon needs --holder-key or --holder-code"),
            };
            sign_authorization(
                ctx,
                &holder,
                coupon,
                site.public(),
                a.amount,
                &env,
                env.valid_until_ms,
            )
            .await?
        }
        (None, None) => bail!("give --auth, or --coupon with --holder-key"),
    };
    let tx = env.sign(&site, TxBody::Redeem(code.redemption()))?;
    submit_one(ctx, tx, &a.submit).await
}
