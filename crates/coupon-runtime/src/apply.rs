//! The rules of each coupon transaction. Every check happens before the first write, so a
//! refusal leaves the overlay's transaction layer to be discarded whole.

use crate::error::RuntimeError;
use crate::events::Event;
use crate::governance;
use crate::limits;
use crate::state::{
    Account, CampaignRecord, CampaignStats, CampaignStatus, CouponRecord, CouponStatus, Overlay,
    Params, Record, StateKey, StateReader,
};
use couponchain_chain::block::BlockContext;
use couponchain_chain::tx::{
    campaign_id, coupon_id, CampaignAction, CampaignSpec, CouponKind, Recipient, Redemption,
    SitePolicy, TxBody,
};
use couponchain_chain::{Hash, PublicKey, SignedTransaction, TxId};

type Result<T> = std::result::Result<T, RuntimeError>;

pub(crate) fn apply_tx<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    params: &Params,
    ctx: BlockContext,
    tx: &SignedTransaction,
    id: &TxId,
) -> Result<Vec<Event>> {
    let signer = tx.tx.signer;
    match &tx.tx.body {
        TxBody::CreateCampaign(spec) => create_campaign(ov, ctx, signer, id, spec),
        TxBody::IssueCoupons {
            campaign,
            recipients,
        } => issue(ov, ctx, signer, id, *campaign, recipients),
        TxBody::Transfer { coupon, to } => transfer(ov, ctx, signer, *coupon, *to, false),
        TxBody::Claim { coupon, to } => transfer(ov, ctx, signer, *coupon, *to, true),
        TxBody::Redeem(r) => redeem(ov, ctx, signer, r),
        TxBody::RevokeCoupon { coupon } => revoke_coupon(ov, signer, *coupon),
        TxBody::SetCampaignStatus { campaign, action } => {
            set_campaign_status(ov, signer, *campaign, *action)
        }
        TxBody::Propose { action } => governance::propose(ov, params, ctx, signer, id, action),
        TxBody::Approve { proposal } => governance::approve(ov, params, ctx, signer, *proposal),
    }
}

fn account<R: StateReader>(ov: &mut Overlay<'_, R>, key: PublicKey) -> Result<Account> {
    Ok(ov.account(key)?.unwrap_or_default())
}

fn campaign<R: StateReader>(ov: &mut Overlay<'_, R>, id: Hash) -> Result<CampaignRecord> {
    ov.campaign(id)?.ok_or(RuntimeError::UnknownCampaign(id))
}

fn coupon<R: StateReader>(ov: &mut Overlay<'_, R>, id: Hash) -> Result<CouponRecord> {
    ov.coupon(id)?.ok_or(RuntimeError::UnknownCoupon(id))
}

/// The signer is the campaign's issuer and still holds the issuer role.
fn require_issuer_of<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    signer: PublicKey,
    c: &CampaignRecord,
) -> Result<()> {
    if c.issuer != signer {
        return Err(RuntimeError::NotCampaignIssuer {
            campaign: c.id,
            signer,
        });
    }
    if account(ov, signer)?.issuer.is_none() {
        return Err(RuntimeError::NotIssuer(signer));
    }
    Ok(())
}

fn require_not_revoked(c: &CampaignRecord) -> Result<()> {
    match c.status {
        CampaignStatus::Revoked => Err(RuntimeError::CampaignRevoked(c.id)),
        _ => Ok(()),
    }
}

fn require_usable(c: &CampaignRecord) -> Result<()> {
    match c.status {
        CampaignStatus::Active => Ok(()),
        CampaignStatus::Paused => Err(RuntimeError::CampaignPaused(c.id)),
        CampaignStatus::Revoked => Err(RuntimeError::CampaignRevoked(c.id)),
    }
}

fn require_unexpired(c: &CampaignRecord, ctx: BlockContext) -> Result<()> {
    if c.is_expired(ctx.time_ms) {
        return Err(RuntimeError::Expired {
            expires_at_ms: c.spec.expires_at_ms,
            now_ms: ctx.time_ms,
        });
    }
    Ok(())
}

fn require_active_coupon(c: &CouponRecord) -> Result<()> {
    match c.status {
        CouponStatus::Active => Ok(()),
        CouponStatus::Spent => Err(RuntimeError::AlreadySpent(c.id)),
        CouponStatus::Revoked => Err(RuntimeError::CouponRevoked(c.id)),
    }
}

/// Geohash alphabet: base 32 without a, i, l, o.
pub(crate) fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= limits::MAX_REGION_BYTES
        && r.bytes()
            .all(|b| b"0123456789bcdefghjkmnpqrstuvwxyz".contains(&b))
}

fn validate_spec<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: BlockContext,
    spec: &CampaignSpec,
) -> Result<()> {
    let bad = |m: &str| Err(RuntimeError::InvalidCampaign(m.to_string()));
    if spec.name.trim().is_empty() {
        return bad("name is empty");
    }
    if spec.expires_at_ms <= spec.not_before_ms {
        return bad("expires_at_ms must be after not_before_ms");
    }
    if spec.expires_at_ms <= ctx.time_ms {
        return bad("expires_at_ms is already past");
    }
    if spec.max_supply == 0 {
        return bad("max_supply must be at least 1");
    }
    match spec.kind {
        CouponKind::MultiUse { uses: 0 } => return bad("a multi-use coupon needs at least 1 use"),
        CouponKind::StoredValue { amount: 0 } => return bad("a stored-value coupon needs a value"),
        _ => {}
    }
    // The campaign's counters (`stats.redeemed_amount`) sum what all its coupons give out.
    let per_coupon = match spec.kind {
        CouponKind::SingleUse => 1,
        CouponKind::MultiUse { uses } => uses as u64,
        CouponKind::StoredValue { amount } => amount,
    };
    if spec.max_supply.checked_mul(per_coupon).is_none() {
        return bad("max_supply times one coupon's uses or value must fit in 64 bits");
    }
    if let Some(c) = &spec.terms.currency {
        if c.is_empty() || c.len() > limits::MAX_CURRENCY_BYTES {
            return bad("currency must be 1 to 8 characters");
        }
    }
    if let Some(p) = &spec.region_prefix {
        if !valid_region(p) {
            return bad("region_prefix must be a geohash of 1 to 12 characters");
        }
    }
    if spec.per_holder_limit == Some(0) {
        return bad("per_holder_limit must be at least 1 when set");
    }
    if let SitePolicy::Sites(sites) = &spec.redeem_at {
        if sites.is_empty() {
            return bad("the list of sites is empty");
        }
        if sites.windows(2).any(|w| w[0] >= w[1]) {
            return bad("sites must be sorted and without duplicates");
        }
        for s in sites {
            if account(ov, *s)?.site.is_none() {
                return Err(RuntimeError::NotSite(*s));
            }
        }
    }
    Ok(())
}

fn create_campaign<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: BlockContext,
    signer: PublicKey,
    tx: &TxId,
    spec: &CampaignSpec,
) -> Result<Vec<Event>> {
    if account(ov, signer)?.issuer.is_none() {
        return Err(RuntimeError::NotIssuer(signer));
    }
    validate_spec(ov, ctx, spec)?;
    let id = campaign_id(tx);
    let rec = CampaignRecord {
        id,
        issuer: signer,
        spec: spec.clone(),
        status: CampaignStatus::Active,
        created_height: ctx.height,
        stats: CampaignStats::default(),
    };
    ov.put(StateKey::Campaign(id), Record::Campaign(rec));
    Ok(vec![Event::CampaignCreated {
        campaign: id,
        issuer: signer,
    }])
}

/// Counts one more coupon received by `holder`, enforcing the campaign's limit.
fn count_received<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    c: &CampaignRecord,
    holder: PublicKey,
) -> Result<()> {
    let Some(limit) = c.spec.per_holder_limit else {
        return Ok(());
    };
    let n = ov.received(c.id, holder)?;
    if n >= limit {
        return Err(RuntimeError::HolderLimit { holder, limit });
    }
    ov.put(
        StateKey::Received {
            campaign: c.id,
            holder,
        },
        Record::Received(n + 1),
    );
    Ok(())
}

fn issue<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: BlockContext,
    signer: PublicKey,
    tx: &TxId,
    campaign_id: Hash,
    recipients: &[Recipient],
) -> Result<Vec<Event>> {
    let mut c = campaign(ov, campaign_id)?;
    require_issuer_of(ov, signer, &c)?;
    require_usable(&c)?;
    require_unexpired(&c, ctx)?;
    let n = recipients.len() as u64;
    if c.stats.issued.saturating_add(n) > c.spec.max_supply {
        return Err(RuntimeError::OverSupply {
            max_supply: c.spec.max_supply,
            issued: c.stats.issued,
            requested: n,
        });
    }
    let amount = c.initial_amount();
    let mut events = Vec::with_capacity(recipients.len());
    for (i, r) in recipients.iter().enumerate() {
        count_received(ov, &c, r.owner)?;
        let id = coupon_id(tx, i as u32);
        ov.put(
            StateKey::Coupon(id),
            Record::Coupon(CouponRecord {
                id,
                campaign: c.id,
                owner: r.owner,
                bearer: r.bearer,
                remaining: amount,
                redemptions: 0,
                status: CouponStatus::Active,
                issued_height: ctx.height,
            }),
        );
        events.push(Event::CouponIssued {
            coupon: id,
            campaign: c.id,
            owner: r.owner,
            bearer: r.bearer,
        });
    }
    c.stats.issued += n;
    ov.put(StateKey::Campaign(c.id), Record::Campaign(c));
    Ok(events)
}

/// Transfer (`claim = false`) or bearer claim (`claim = true`).
fn transfer<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: BlockContext,
    signer: PublicKey,
    coupon_id: Hash,
    to: PublicKey,
    claim: bool,
) -> Result<Vec<Event>> {
    let mut cp = coupon(ov, coupon_id)?;
    let c = campaign(ov, cp.campaign)?;
    if cp.owner != signer {
        return Err(RuntimeError::NotOwner {
            coupon: cp.id,
            signer,
        });
    }
    require_active_coupon(&cp)?;
    require_not_revoked(&c)?;
    require_unexpired(&c, ctx)?;
    if claim && !cp.bearer {
        return Err(RuntimeError::NotBearer(cp.id));
    }
    if !claim && !c.spec.transferable {
        return Err(RuntimeError::NotTransferable(c.id));
    }
    if to != cp.owner {
        count_received(ov, &c, to)?;
    }
    let from = cp.owner;
    cp.owner = to;
    cp.bearer = false;
    ov.put(StateKey::Coupon(cp.id), Record::Coupon(cp));
    Ok(vec![if claim {
        Event::CouponClaimed {
            coupon: coupon_id,
            campaign: c.id,
            from,
            to,
        }
    } else {
        Event::CouponTransferred {
            coupon: coupon_id,
            campaign: c.id,
            from,
            to,
        }
    }])
}

fn redeem<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: BlockContext,
    site: PublicKey,
    r: &Redemption,
) -> Result<Vec<Event>> {
    let site_info = account(ov, site)?.site.ok_or(RuntimeError::NotSite(site))?;
    let mut cp = coupon(ov, r.coupon)?;
    let mut c = campaign(ov, cp.campaign)?;
    if r.holder != cp.owner {
        return Err(RuntimeError::NotOwner {
            coupon: cp.id,
            signer: r.holder,
        });
    }
    require_active_coupon(&cp)?;
    require_usable(&c)?;
    if ctx.time_ms < c.spec.not_before_ms {
        return Err(RuntimeError::NotYetValid {
            not_before_ms: c.spec.not_before_ms,
            now_ms: ctx.time_ms,
        });
    }
    require_unexpired(&c, ctx)?;
    if r.auth_valid_until_ms < ctx.time_ms {
        return Err(RuntimeError::AuthorizationExpired {
            valid_until_ms: r.auth_valid_until_ms,
            now_ms: ctx.time_ms,
        });
    }
    if r.seq != cp.redemptions {
        return Err(RuntimeError::StaleAuthorization {
            expected: cp.redemptions,
            got: r.seq,
        });
    }
    let allowed = match &c.spec.redeem_at {
        SitePolicy::AnySite => true,
        SitePolicy::AnySiteOfIssuer => site_info.issuer == Some(c.issuer),
        SitePolicy::Sites(list) => list.binary_search(&site).is_ok(),
    };
    if !allowed {
        return Err(RuntimeError::SiteNotAllowed {
            site,
            campaign: c.id,
        });
    }
    if let Some(prefix) = &c.spec.region_prefix {
        if !site_info
            .region
            .as_deref()
            .is_some_and(|reg| reg.starts_with(prefix.as_str()))
        {
            return Err(RuntimeError::WrongRegion {
                site_region: site_info.region.clone(),
                required: prefix.clone(),
            });
        }
    }
    if r.amount > cp.remaining {
        return Err(RuntimeError::OverSpend {
            remaining: cp.remaining,
            requested: r.amount,
        });
    }
    let Some(next_seq) = cp.redemptions.checked_add(1) else {
        // 4 billion redemptions of one coupon: refuse rather than wrap the sequence.
        return Err(RuntimeError::AlreadySpent(cp.id));
    };
    cp.remaining -= r.amount;
    cp.redemptions = next_seq;
    c.stats.redemptions += 1;
    c.stats.redeemed_amount += r.amount;
    if cp.remaining == 0 {
        cp.status = CouponStatus::Spent;
        c.stats.spent += 1;
    }
    let event = Event::CouponRedeemed {
        coupon: cp.id,
        campaign: c.id,
        holder: r.holder,
        site,
        amount: r.amount,
        remaining: cp.remaining,
    };
    ov.put(StateKey::Coupon(cp.id), Record::Coupon(cp));
    ov.put(StateKey::Campaign(c.id), Record::Campaign(c));
    Ok(vec![event])
}

fn revoke_coupon<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    signer: PublicKey,
    coupon_id: Hash,
) -> Result<Vec<Event>> {
    let mut cp = coupon(ov, coupon_id)?;
    let mut c = campaign(ov, cp.campaign)?;
    require_issuer_of(ov, signer, &c)?;
    require_active_coupon(&cp)?;
    cp.status = CouponStatus::Revoked;
    c.stats.revoked += 1;
    let event = Event::CouponRevoked {
        coupon: cp.id,
        campaign: c.id,
    };
    ov.put(StateKey::Coupon(cp.id), Record::Coupon(cp));
    ov.put(StateKey::Campaign(c.id), Record::Campaign(c));
    Ok(vec![event])
}

fn set_campaign_status<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    signer: PublicKey,
    campaign_id: Hash,
    action: CampaignAction,
) -> Result<Vec<Event>> {
    let mut c = campaign(ov, campaign_id)?;
    require_issuer_of(ov, signer, &c)?;
    require_not_revoked(&c)?;
    c.status = match (action, c.status) {
        (CampaignAction::Pause, CampaignStatus::Active) => CampaignStatus::Paused,
        (CampaignAction::Pause, _) => return Err(RuntimeError::CampaignPaused(c.id)),
        (CampaignAction::Resume, CampaignStatus::Paused) => CampaignStatus::Active,
        (CampaignAction::Resume, _) => {
            return Err(RuntimeError::InvalidCampaign(
                "campaign is not paused".into(),
            ))
        }
        (CampaignAction::Revoke, _) => CampaignStatus::Revoked,
    };
    let event = Event::CampaignStatusChanged {
        campaign: c.id,
        status: c.status,
    };
    ov.put(StateKey::Campaign(c.id), Record::Campaign(c));
    Ok(vec![event])
}
