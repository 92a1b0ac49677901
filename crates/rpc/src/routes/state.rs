//! Routes over the ledger's records: coupons (with their effective state and proofs), an
//! owner's coupons, campaigns (with their report), an issuer's campaigns, accounts,
//! governance proposals and the validator set. "Now" is the head block's chain time.

use super::{blocking, AppState};
use crate::api::{ErrorBody, NodeApi, ProofView};
use crate::params::{
    page_limit, parse_hash, parse_key, ApiPath, ApiQuery, LimitParams, PageParams,
};
use crate::views::{
    campaign_report, coupon_state, CampaignList, CampaignView, CouponPage, CouponStateView,
};
use crate::RpcError;
use axum::extract::State;
use axum::Json;
use couponchain_chain::block::ValidatorSet;
use couponchain_runtime::{Account, ProposalRecord, StateKey};

/// A coupon with its campaign, history and effective state at the head's chain time.
#[utoipa::path(
    get,
    path = "/v1/coupons/{id}",
    tag = "coupons",
    params(("id" = String, Path, description = "Coupon id, 64 hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The coupon", body = CouponStateView),
        (status = 400, description = "`bad_param`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub(crate) async fn get_coupon<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CouponStateView>, RpcError> {
    let id = parse_hash("id", &id)?;
    let (view, now) = blocking(&st.api, move |a| {
        Ok((a.coupon(&id)?, a.status().head.time_ms))
    })
    .await?;
    let view = view.ok_or_else(|| RpcError::not_found(format!("coupon {id}")))?;
    Ok(Json(CouponStateView {
        state: coupon_state(&view.coupon, &view.campaign, now),
        coupon: view,
        chain_time_ms: now,
    }))
}

/// A coupon record — or proof that it does not exist — with a Merkle proof against the
/// latest certified header, that header's certificate and the validator set that signed it:
/// everything a light verifier needs to check the coupon without trusting this server.
#[utoipa::path(
    get,
    path = "/v1/coupons/{id}/proof",
    tag = "coupons",
    params(("id" = String, Path, description = "Coupon id, 64 hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The proof; `proven.present` is false for an unknown coupon", body = ProofView),
        (status = 400, description = "`bad_param`", body = ErrorBody),
    )
)]
pub(crate) async fn get_coupon_proof<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProofView>, RpcError> {
    let id = parse_hash("id", &id)?;
    Ok(Json(
        blocking(&st.api, move |a| a.prove(StateKey::Coupon(id))).await?,
    ))
}

/// The coupons a key owns, in coupon-id order, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/owners/{key}/coupons",
    tag = "coupons",
    params(
        ("key" = String, Path, description = "Owner public key, 64 hex digits", pattern = "^[0-9a-f]{64}$"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of coupons", body = CouponPage),
        (status = 400, description = "`bad_param`", body = ErrorBody),
    )
)]
pub(crate) async fn owner_coupons<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<CouponPage>, RpcError> {
    let owner = parse_key("key", &key)?;
    let after = page
        .after
        .as_deref()
        .map(|a| parse_hash("after", a))
        .transpose()?;
    let limit = page_limit(page.limit)?;
    let coupons = blocking(&st.api, move |a| a.coupons_of(&owner, after, limit)).await?;
    let next = if coupons.len() >= limit {
        coupons.last().map(|c| c.id)
    } else {
        None
    };
    Ok(Json(CouponPage { coupons, next }))
}

/// A campaign with its report (issued, spent, redeemed, revoked, active, expired unused) at
/// the head's chain time.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}",
    tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id, 64 hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The campaign and its report", body = CampaignView),
        (status = 400, description = "`bad_param`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub(crate) async fn get_campaign<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CampaignView>, RpcError> {
    let id = parse_hash("id", &id)?;
    let (campaign, now) = blocking(&st.api, move |a| {
        Ok((a.campaign(&id)?, a.status().head.time_ms))
    })
    .await?;
    let campaign = campaign.ok_or_else(|| RpcError::not_found(format!("campaign {id}")))?;
    Ok(Json(CampaignView {
        report: campaign_report(&campaign, now),
        campaign,
        chain_time_ms: now,
    }))
}

/// The campaigns an issuer created, in campaign-id order.
#[utoipa::path(
    get,
    path = "/v1/issuers/{key}/campaigns",
    tag = "campaigns",
    params(
        ("key" = String, Path, description = "Issuer public key, 64 hex digits", pattern = "^[0-9a-f]{64}$"),
        LimitParams,
    ),
    responses(
        (status = 200, description = "The issuer's campaigns", body = CampaignList),
        (status = 400, description = "`bad_param`", body = ErrorBody),
    )
)]
pub(crate) async fn issuer_campaigns<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(params): ApiQuery<LimitParams>,
) -> Result<Json<CampaignList>, RpcError> {
    let issuer = parse_key("key", &key)?;
    let limit = page_limit(params.limit)?;
    let campaigns = blocking(&st.api, move |a| a.campaigns_of(&issuer, limit)).await?;
    Ok(Json(CampaignList { campaigns }))
}

/// The roles a key holds (administrator, issuer, redemption site).
#[utoipa::path(
    get,
    path = "/v1/accounts/{key}",
    tag = "governance",
    params(("key" = String, Path, description = "Public key, 64 hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "An `Account` `{admin, issuer, site}`; see docs/encoding.md", body = Object),
        (status = 400, description = "`bad_param`", body = ErrorBody),
        (status = 404, description = "`not_found`: the key holds no role", body = ErrorBody),
    )
)]
pub(crate) async fn get_account<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Account>, RpcError> {
    let key = parse_key("key", &key)?;
    blocking(&st.api, move |a| a.account(&key))
        .await?
        .map(Json)
        .ok_or_else(|| RpcError::not_found(format!("account {key}")))
}

/// A governance proposal with its approvals.
#[utoipa::path(
    get,
    path = "/v1/proposals/{id}",
    tag = "governance",
    params(("id" = String, Path, description = "Proposal id, 64 hex digits", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "A `ProposalRecord`; see docs/encoding.md", body = Object),
        (status = 400, description = "`bad_param`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub(crate) async fn get_proposal<A: NodeApi>(
    State(st): State<AppState<A>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProposalRecord>, RpcError> {
    let id = parse_hash("id", &id)?;
    blocking(&st.api, move |a| a.proposal(&id))
        .await?
        .map(Json)
        .ok_or_else(|| RpcError::not_found(format!("proposal {id}")))
}

/// Equivocation evidence: pairs of conflicting messages signed by one validator, each
/// checkable against the validator's key. Kept across restarts (the newest 1,000).
#[utoipa::path(
    get,
    path = "/v1/evidence",
    tag = "governance",
    responses(
        (status = 200, description = "A list of `{id, offender, kind, height, round, messages}` objects, lowest height first; `messages` holds the two signed messages", body = Vec<Object>),
    )
)]
pub(crate) async fn get_evidence<A: NodeApi>(
    State(st): State<AppState<A>>,
) -> Result<Json<Vec<serde_json::Value>>, RpcError> {
    Ok(Json(blocking(&st.api, |a| Ok(a.evidence())).await?))
}

/// The current validator set.
#[utoipa::path(
    get,
    path = "/v1/validators",
    tag = "governance",
    responses(
        (status = 200, description = "A `ValidatorSet`; see docs/encoding.md", body = Object),
    )
)]
pub(crate) async fn get_validators<A: NodeApi>(
    State(st): State<AppState<A>>,
) -> Result<Json<ValidatorSet>, RpcError> {
    Ok(Json(blocking(&st.api, |a| a.validators()).await?))
}
