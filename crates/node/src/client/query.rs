//! Read-only commands: `coupon` (optionally with its state proof checked locally), `coupons`
//! (an owner's, paged), `campaign show` (with its report), `block`, `tx`, `status` and
//! `evidence` (each piece checked locally). With `--json` each prints the node's answer
//! unchanged (`evidence` adds its verdicts); otherwise a readable summary. An answer this
//! client cannot interpret is printed as JSON rather than lost.

use super::output::{event_line, fmt_time, summarize_events};
use super::setup::Ctx;
use anyhow::{anyhow, bail};
use couponchain_chain::tx::{Benefit, CouponKind, SitePolicy};
use couponchain_chain::{Hash, PublicKey, TxBody};
use couponchain_consensus::Equivocation;
use couponchain_rpc::views::{CampaignView, CouponPage, CouponStateView, TxStatusView};
use couponchain_rpc::{BlockView, NodeStatus, ProofView};
use couponchain_runtime::{CampaignRecord, Outcome, Record, StateKey};
use serde::de::DeserializeOwned;

pub async fn fetch_coupon(rpc: &super::http::Rpc, id: Hash) -> anyhow::Result<CouponStateView> {
    rpc.get(&format!("/v1/coupons/{id}")).await
}

/// Prints `v` raw with `--json`, else decodes it and prints it with `human`.
fn show<T: DeserializeOwned>(
    ctx: &Ctx,
    v: serde_json::Value,
    human: impl FnOnce(T),
) -> anyhow::Result<()> {
    if ctx.json {
        return ctx.print_json(&v);
    }
    match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => human(t),
        Err(e) => {
            eprintln!("(could not interpret the node's answer: {e}; showing it as JSON)");
            ctx.print_json(&v)?;
        }
    }
    Ok(())
}

/// A unit enum's JSON name (`active`, `campaign_paused`, ...).
fn word<T: serde::Serialize + std::fmt::Debug>(t: &T) -> String {
    match serde_json::to_value(t) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{t:?}"),
    }
}

fn kind_words(c: &CampaignRecord) -> String {
    let cur = c.spec.terms.currency.as_deref().unwrap_or("units");
    match c.spec.kind {
        CouponKind::SingleUse => "single use".into(),
        CouponKind::MultiUse { uses } => format!("{uses} uses"),
        CouponKind::StoredValue { amount } => format!("stored value of {amount} {cur}"),
    }
}

fn benefit_words(c: &CampaignRecord) -> String {
    let cur = c.spec.terms.currency.as_deref().unwrap_or("");
    match &c.spec.terms.benefit {
        Benefit::PercentOff { basis_points } => {
            format!("{}.{:02} % off", basis_points / 100, basis_points % 100)
        }
        Benefit::AmountOff { amount } => format!("{amount} {cur} off (minor units)"),
        Benefit::FreeItem { sku } => format!("free item {sku}"),
        Benefit::Other => "see metadata".into(),
    }
}

fn print_campaign(c: &CampaignRecord) {
    println!("campaign  {} {:?}", c.id, c.spec.name);
    println!("issuer    {}", c.issuer);
    println!("status    {}", word(&c.status));
    println!("kind      {}", kind_words(c));
    println!("benefit   {}", benefit_words(c));
    if !c.spec.terms.metadata.is_empty() {
        println!("metadata  {}", c.spec.terms.metadata);
    }
    println!(
        "valid     {} to {}",
        fmt_time(c.spec.not_before_ms),
        fmt_time(c.spec.expires_at_ms)
    );
    let sites = match &c.spec.redeem_at {
        SitePolicy::AnySiteOfIssuer => "any site of the issuer".to_string(),
        SitePolicy::AnySite => "any registered site".to_string(),
        SitePolicy::Sites(s) => s
            .iter()
            .map(PublicKey::to_hex)
            .collect::<Vec<_>>()
            .join(", "),
    };
    println!("sites     {sites}");
    if let Some(r) = &c.spec.region_prefix {
        println!("region    {r}*");
    }
    println!(
        "supply    max {}, {}transferable{}",
        c.spec.max_supply,
        if c.spec.transferable { "" } else { "not " },
        c.spec
            .per_holder_limit
            .map(|l| format!(", at most {l} per holder"))
            .unwrap_or_default()
    );
}

pub async fn coupon(ctx: &Ctx, id: Hash, proof: bool) -> anyhow::Result<()> {
    if proof {
        return coupon_with_proof(ctx, id).await;
    }
    let v = ctx.rpc.get_json(&format!("/v1/coupons/{id}"), &[]).await?;
    show(ctx, v, |r: CouponStateView| print_coupon(&r))
}

fn print_coupon(r: &CouponStateView) {
    let c = &r.coupon.coupon;
    println!("coupon    {}", c.id);
    println!(
        "state     {} (chain time {})",
        word(&r.state),
        fmt_time(r.chain_time_ms)
    );
    println!(
        "owner     {}{}",
        c.owner,
        if c.bearer {
            " (bearer code, unclaimed)"
        } else {
            ""
        }
    );
    println!(
        "remaining {} ({} redemptions so far)",
        c.remaining, c.redemptions
    );
    println!("issued    at height {}", c.issued_height);
    print_campaign(&r.coupon.campaign);
    println!("history");
    for h in &r.coupon.history {
        println!(
            "  height {:>8}  {}  (tx {})",
            h.height,
            event_line(&h.event),
            h.tx
        );
    }
}

/// Fetches the coupon's proof and checks it: the Merkle proof against the header's state
/// root, and the header's certificate against the validator set the node reports. (A
/// light verifier must know that set independently; this check shows consistency.)
async fn coupon_with_proof(ctx: &Ctx, id: Hash) -> anyhow::Result<()> {
    let pv_json = ctx
        .rpc
        .get_json(&format!("/v1/coupons/{id}/proof"), &[])
        .await?;
    let pv: ProofView = serde_json::from_value(pv_json.clone())
        .map_err(|e| anyhow!("unexpected proof from the node: {e}"))?;
    let p = &pv.proven;
    let key = StateKey::Coupon(id).hash();
    let mut problems = Vec::new();
    if p.key != key {
        problems.push(format!("the proof is for key {}, not this coupon's", p.key));
    }
    let value = p.present.then_some(p.value.as_slice());
    if let Err(e) = p.proof.verify(&p.header.state_root, &key, value) {
        problems.push(format!("Merkle proof: {e}"));
    }
    let cert = match &pv.certificate {
        Some(c) => match c.verify(&p.header.chain_id, &p.header, &pv.validators) {
            Ok(()) => format!(
                "signed by {} of {} validators",
                c.signatures.len(),
                pv.validators.validators.len()
            ),
            Err(e) => {
                problems.push(format!("certificate: {e}"));
                "INVALID".into()
            }
        },
        None => "none (genesis)".into(),
    };
    let record = if p.present {
        match Record::decode(&p.value) {
            Ok(Record::Coupon(c)) => Some(c),
            Ok(_) => {
                problems.push("the proven record is not a coupon".into());
                None
            }
            Err(e) => {
                problems.push(format!("the proven record does not decode: {e}"));
                None
            }
        }
    } else {
        None
    };
    if ctx.json {
        ctx.print_json(&serde_json::json!({
            "proof": pv_json,
            "verified": problems.is_empty(),
            "problems": problems,
            "coupon": record,
        }))?;
    } else {
        println!(
            "proof     against block {} (state root {}), certificate {cert}",
            p.header.height, p.header.state_root
        );
        match &record {
            Some(c) => println!(
                "coupon    {} present: owner {}, {}, {} remaining, {} redemptions",
                c.id,
                c.owner,
                word(&c.status),
                c.remaining,
                c.redemptions
            ),
            None if !p.present => println!("coupon    {id} does NOT exist (proof of absence)"),
            None => {}
        }
    }
    if !problems.is_empty() {
        bail!("the proof does not check: {}", problems.join("; "));
    }
    if !p.present {
        bail!("coupon {id} does not exist");
    }
    Ok(())
}

pub async fn coupons(
    ctx: &Ctx,
    owner: PublicKey,
    after: Option<Hash>,
    limit: u32,
) -> anyhow::Result<()> {
    let mut q = vec![("limit", limit.to_string())];
    if let Some(a) = after {
        q.push(("after", a.to_hex()));
    }
    let v = ctx
        .rpc
        .get_json(&format!("/v1/owners/{owner}/coupons"), &q)
        .await?;
    show(ctx, v, |r: CouponPage| {
        for c in &r.coupons {
            println!(
                "{} campaign {} {} remaining {}{}",
                c.id,
                c.campaign,
                word(&c.status),
                c.remaining,
                if c.bearer { " bearer" } else { "" }
            );
        }
        match r.next {
            Some(n) => eprintln!("more: --after {n}"),
            None => eprintln!("{} coupons", r.coupons.len()),
        }
    })
}

pub async fn campaign(ctx: &Ctx, id: Hash) -> anyhow::Result<()> {
    let v = ctx
        .rpc
        .get_json(&format!("/v1/campaigns/{id}"), &[])
        .await?;
    show(ctx, v, |r: CampaignView| {
        print_campaign(&r.campaign);
        let s = &r.report;
        println!("report    (chain time {})", fmt_time(r.chain_time_ms));
        println!("  issued {}, active {}, spent {}, revoked {} (+{} with the campaign), expired unused {}",
            s.issued, s.active, s.spent, s.revoked, s.revoked_with_campaign, s.expired_unused);
        println!(
            "  redemptions {}, redeemed amount {}",
            s.redemptions, s.redeemed_amount
        );
    })
}

fn body_word(b: &TxBody) -> &'static str {
    match b {
        TxBody::CreateCampaign(_) => "create_campaign",
        TxBody::IssueCoupons { .. } => "issue_coupons",
        TxBody::Transfer { .. } => "transfer",
        TxBody::Claim { .. } => "claim",
        TxBody::Redeem(_) => "redeem",
        TxBody::RevokeCoupon { .. } => "revoke_coupon",
        TxBody::SetCampaignStatus { .. } => "set_campaign_status",
        TxBody::Propose { .. } => "propose",
        TxBody::Approve { .. } => "approve",
    }
}

pub async fn block(ctx: &Ctx, at: &str) -> anyhow::Result<()> {
    let at = at.trim();
    if at != "latest" && at.parse::<u64>().is_err() {
        bail!("{at:?} is not a block height or `latest`");
    }
    let v = ctx.rpc.get_json(&format!("/v1/blocks/{at}"), &[]).await?;
    show(ctx, v, |b: BlockView| {
        let h = &b.block.header;
        println!("block     {} {}", h.height, b.hash);
        println!("time      {}", fmt_time(h.time_ms));
        println!("proposer  {}", h.proposer);
        println!("parent    {}", h.parent);
        println!("state     {}", h.state_root);
        println!("txs       {}", b.block.txs.len());
        for t in &b.block.txs {
            println!("  {} {} {}", t.id(), t.tx.signer, body_word(&t.tx.body));
        }
        match &b.certificate {
            Some(c) => println!(
                "certified round {}, {} signatures",
                c.round,
                c.signatures.len()
            ),
            None => println!("certified (genesis)"),
        }
    })
}

pub async fn tx(ctx: &Ctx, id: Hash) -> anyhow::Result<()> {
    let v = ctx.rpc.get_json(&format!("/v1/txs/{id}"), &[]).await?;
    show(ctx, v, |r: TxStatusView| match &r.view {
        Some(t) => {
            println!("tx        {id}");
            println!("final     at height {} (index {})", t.height, t.index);
            println!("signer    {}", t.tx.tx.signer);
            println!("action    {}", body_word(&t.tx.tx.body));
            match &t.receipt.outcome {
                Outcome::Applied { events } => {
                    println!("outcome   applied; {}", summarize_events(events))
                }
                Outcome::Refused { code, message } => {
                    println!("outcome   REFUSED {code}: {message}")
                }
            }
        }
        None => println!("tx {id} is pending in the node's mempool (not final yet)"),
    })
}

pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let v = ctx.rpc.get_json("/v1/status", &[]).await?;
    show(ctx, v, |s: NodeStatus| {
        println!(
            "chain     {} (node {}, {}, {})",
            s.chain_id,
            s.version,
            s.role,
            if s.ready { "ready" } else { "NOT ready" }
        );
        println!(
            "head      height {} {} at {}",
            s.head.height,
            s.head.hash,
            fmt_time(s.head.time_ms)
        );
        println!("state     {}", s.head.state_root);
        println!("mempool   {} txs, {} bytes", s.mempool_txs, s.mempool_bytes);
    })
}

/// Lists the equivocations the node has on record and checks each one here
/// (`Equivocation::verify`: one key, two valid signatures, one height, round and kind, two
/// different messages; and the node's chain), so that none has to be taken on the node's
/// word. Says which offenders are not in the node's current validator set (removed since,
/// or never members: that part is the node's word). Fails if any does not check.
pub async fn evidence(ctx: &Ctx) -> anyhow::Result<()> {
    let list = ctx.rpc.get_json("/v1/evidence", &[]).await?;
    let items = list
        .as_array()
        .ok_or_else(|| anyhow!("unexpected evidence list from the node: {list}"))?;
    let status: NodeStatus = serde_json::from_value(ctx.rpc.get_json("/v1/status", &[]).await?)?;
    let set: couponchain_chain::block::ValidatorSet =
        serde_json::from_value(ctx.rpc.get_json("/v1/validators", &[]).await?)?;
    let mut verdicts = Vec::new();
    for item in items {
        let checked = serde_json::from_value::<Equivocation>(item["messages"].clone())
            .map_err(|e| format!("the messages do not decode: {e}"))
            .and_then(|e| e.verify().map(|()| e).map_err(|e| e.to_string()))
            .and_then(|e| {
                if e.chain_id() == status.chain_id {
                    Ok(e)
                } else {
                    Err(format!(
                        "signed for chain {:?}, this node's is {:?}",
                        e.chain_id(),
                        status.chain_id
                    ))
                }
            });
        verdicts.push((item, checked));
    }
    let failed = verdicts.iter().filter(|(_, c)| c.is_err()).count();
    if ctx.json {
        let out: Vec<serde_json::Value> = verdicts
            .iter()
            .map(|(item, checked)| {
                let mut v = (*item).clone();
                v["verified"] = checked.is_ok().into();
                match checked {
                    // What the messages say, not what the node claims about them.
                    Ok(e) => {
                        v["offender_in_current_set"] = set.contains(&e.offender()).into();
                        v["offender"] = e.offender().to_hex().into();
                        v["kind"] = e.kind().into();
                        v["height"] = e.height().into();
                        v["round"] = e.round().into();
                    }
                    Err(why) => v["problem"] = why.clone().into(),
                }
                v
            })
            .collect();
        ctx.print_json(&out)?;
    } else if verdicts.is_empty() {
        println!("no evidence: this node has seen no validator sign two conflicting messages");
    } else {
        for (item, checked) in &verdicts {
            match checked {
                Ok(e) => println!(
                    "{:<8} round {:<3} offender {} at height {}{}: verified",
                    e.kind(),
                    e.round(),
                    e.offender(),
                    e.height(),
                    if set.contains(&e.offender()) {
                        ""
                    } else {
                        " (not in the current validator set)"
                    }
                ),
                Err(why) => println!(
                    "{:<8} round {:<3} offender {} (claimed) at height {}: NOT VERIFIED, {why}",
                    item["kind"].as_str().unwrap_or("?"),
                    item["round"],
                    item["offender"],
                    item["height"]
                ),
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} pieces of evidence do not check",
            verdicts.len()
        );
    }
    Ok(())
}
