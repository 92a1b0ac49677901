//! Governance (docs/adr/005-governance.md): an administrator or validator proposes an
//! action; it executes in the transaction that brings the approvals of current validators
//! to more than 2/3 of the current set. Approvals from keys that have since left the set
//! do not count. A validator-set change is scheduled `validator_change_delay` blocks ahead,
//! so the header of the block before it already names the new set.

use crate::apply::valid_region;
use crate::error::RuntimeError;
use crate::events::Event;
use crate::limits;
use crate::state::{
    Account, CampaignStatus, IssuerInfo, Overlay, Params, ProposalRecord, ProposalStatus, Record,
    SiteInfo, StateKey, StateReader,
};
use couponchain_chain::block::{BlockContext, ValidatorSet};
use couponchain_chain::tx::GovAction;
use couponchain_chain::{Hash, PublicKey, TxId};

type Result<T> = std::result::Result<T, RuntimeError>;

pub(crate) fn propose<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    params: &Params,
    ctx: BlockContext,
    signer: PublicKey,
    id: &TxId,
    action: &GovAction,
) -> Result<Vec<Event>> {
    let validators = ov.validators()?.current;
    let is_validator = validators.contains(&signer);
    let is_admin = ov.account(signer)?.is_some_and(|a| a.admin);
    if !is_validator && !is_admin {
        return Err(RuntimeError::NotProposer(signer));
    }
    check_action(ov, action)?;
    let mut rec = ProposalRecord {
        id: *id,
        action: action.clone(),
        proposer: signer,
        approvals: if is_validator { vec![signer] } else { vec![] },
        status: ProposalStatus::Open,
        created_height: ctx.height,
        expires_at_ms: ctx.time_ms.saturating_add(params.proposal_ttl_ms),
    };
    let mut events = vec![Event::ProposalCreated {
        proposal: *id,
        proposer: signer,
        action: action.clone(),
    }];
    if is_validator {
        events.push(Event::ProposalApproved {
            proposal: *id,
            approver: signer,
            approvals: 1,
            needed: validators.quorum() as u32,
        });
    }
    execute_if_approved(ov, params, ctx, &validators, &mut rec, &mut events)?;
    ov.put(StateKey::Proposal(*id), Record::Proposal(rec));
    Ok(events)
}

pub(crate) fn approve<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    params: &Params,
    ctx: BlockContext,
    signer: PublicKey,
    proposal: Hash,
) -> Result<Vec<Event>> {
    let validators = ov.validators()?.current;
    if !validators.contains(&signer) {
        return Err(RuntimeError::NotValidator(signer));
    }
    let mut rec = ov
        .proposal(proposal)?
        .ok_or(RuntimeError::UnknownProposal(proposal))?;
    if rec.status != ProposalStatus::Open || ctx.time_ms >= rec.expires_at_ms {
        return Err(RuntimeError::ProposalClosed(proposal));
    }
    match rec.approvals.binary_search(&signer) {
        Ok(_) => {
            return Err(RuntimeError::AlreadyApproved {
                proposal,
                approver: signer,
            })
        }
        Err(at) => rec.approvals.insert(at, signer),
    }
    let mut events = vec![Event::ProposalApproved {
        proposal,
        approver: signer,
        approvals: counted(&rec, &validators) as u32,
        needed: validators.quorum() as u32,
    }];
    execute_if_approved(ov, params, ctx, &validators, &mut rec, &mut events)?;
    ov.put(StateKey::Proposal(proposal), Record::Proposal(rec));
    Ok(events)
}

fn counted(rec: &ProposalRecord, validators: &ValidatorSet) -> usize {
    rec.approvals
        .iter()
        .filter(|k| validators.contains(k))
        .count()
}

fn execute_if_approved<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    params: &Params,
    ctx: BlockContext,
    validators: &ValidatorSet,
    rec: &mut ProposalRecord,
    events: &mut Vec<Event>,
) -> Result<()> {
    if counted(rec, validators) < validators.quorum() {
        return Ok(());
    }
    check_action(ov, &rec.action)?;
    execute(ov, params, ctx, &rec.action, events)?;
    rec.status = ProposalStatus::Executed;
    events.push(Event::ProposalExecuted {
        proposal: rec.id,
        action: rec.action.clone(),
    });
    Ok(())
}

/// The set the next change starts from: the scheduled one if any, else the current one.
fn latest_set<R: StateReader>(ov: &mut Overlay<'_, R>) -> Result<ValidatorSet> {
    let v = ov.validators()?;
    Ok(v.pending.map(|(_, s)| s).unwrap_or(v.current))
}

/// Whether the action makes sense against the state now (checked at proposal and again at
/// execution, since the state may change in between).
fn check_action<R: StateReader>(ov: &mut Overlay<'_, R>, action: &GovAction) -> Result<()> {
    let bad = |m: String| Err(RuntimeError::InvalidAction(m));
    let acct = |ov: &mut Overlay<'_, R>, k: PublicKey| -> Result<Account> {
        Ok(ov.account(k)?.unwrap_or_default())
    };
    match action {
        GovAction::AddValidator { key } => {
            key.to_verifying_key()
                .map_err(|e| RuntimeError::InvalidAction(e.to_string()))?;
            if latest_set(ov)?.contains(key) {
                return bad(format!("{key} is already a validator"));
            }
        }
        GovAction::RemoveValidator { key } => {
            let set = latest_set(ov)?;
            if !set.contains(key) {
                return bad(format!("{key} is not a validator"));
            }
            if set.len() == 1 {
                return bad("cannot remove the last validator".into());
            }
        }
        GovAction::AddAdmin { key } if acct(ov, *key)?.admin => {
            return bad(format!("{key} is already an administrator"));
        }
        GovAction::RemoveAdmin { key } if !acct(ov, *key)?.admin => {
            return bad(format!("{key} is not an administrator"));
        }
        GovAction::RegisterIssuer { key, name } => {
            if name.trim().is_empty() || name.len() > limits::MAX_NAME_BYTES {
                return bad("issuer name must be 1 to 128 bytes".into());
            }
            if acct(ov, *key)?.issuer.is_some() {
                return bad(format!("{key} is already an issuer"));
            }
        }
        GovAction::RemoveIssuer { key } if acct(ov, *key)?.issuer.is_none() => {
            return bad(format!("{key} is not an issuer"));
        }
        GovAction::RegisterSite {
            key,
            name,
            issuer,
            region,
        } => {
            if name.trim().is_empty() || name.len() > limits::MAX_NAME_BYTES {
                return bad("site name must be 1 to 128 bytes".into());
            }
            if region.as_deref().is_some_and(|r| !valid_region(r)) {
                return bad("region must be a geohash of 1 to 12 characters".into());
            }
            if let Some(i) = issuer {
                if acct(ov, *i)?.issuer.is_none() {
                    return bad(format!("{i} is not an issuer"));
                }
            }
            if acct(ov, *key)?.site.is_some() {
                return bad(format!("{key} is already a site"));
            }
        }
        GovAction::RemoveSite { key } if acct(ov, *key)?.site.is_none() => {
            return bad(format!("{key} is not a site"));
        }
        GovAction::RevokeCampaign { campaign } => match ov.campaign(*campaign)? {
            None => return Err(RuntimeError::UnknownCampaign(*campaign)),
            Some(c) if c.status == CampaignStatus::Revoked => {
                return Err(RuntimeError::CampaignRevoked(*campaign))
            }
            Some(_) => {}
        },
        _ => {}
    }
    Ok(())
}

fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    params: &Params,
    ctx: BlockContext,
    action: &GovAction,
    events: &mut Vec<Event>,
) -> Result<()> {
    let update_account =
        |ov: &mut Overlay<'_, R>, key: PublicKey, f: &dyn Fn(&mut Account)| -> Result<()> {
            let mut a = ov.account(key)?.unwrap_or_default();
            f(&mut a);
            ov.put(StateKey::Account(key), Record::Account(a));
            Ok(())
        };
    match action {
        GovAction::AddValidator { key } | GovAction::RemoveValidator { key } => {
            let mut keys = latest_set(ov)?.validators;
            if matches!(action, GovAction::AddValidator { .. }) {
                keys.push(*key);
            } else {
                keys.retain(|k| k != key);
            }
            let set = ValidatorSet::new(keys);
            let from = ctx
                .height
                .saturating_add(params.validator_change_delay.max(1));
            let mut v = ov.validators()?;
            v.pending = Some((from, set.clone()));
            ov.put(StateKey::Validators, Record::Validators(v));
            events.push(Event::ValidatorSetScheduled {
                from_height: from,
                validators: set.validators,
            });
        }
        GovAction::AddAdmin { key } => update_account(ov, *key, &|a| a.admin = true)?,
        GovAction::RemoveAdmin { key } => update_account(ov, *key, &|a| a.admin = false)?,
        GovAction::RegisterIssuer { key, name } => {
            let info = IssuerInfo { name: name.clone() };
            update_account(ov, *key, &|a| a.issuer = Some(info.clone()))?
        }
        GovAction::RemoveIssuer { key } => update_account(ov, *key, &|a| a.issuer = None)?,
        GovAction::RegisterSite {
            key,
            name,
            issuer,
            region,
        } => {
            let info = SiteInfo {
                name: name.clone(),
                issuer: *issuer,
                region: region.clone(),
            };
            update_account(ov, *key, &|a| a.site = Some(info.clone()))?
        }
        GovAction::RemoveSite { key } => update_account(ov, *key, &|a| a.site = None)?,
        GovAction::RevokeCampaign { campaign } => {
            if let Some(mut c) = ov.campaign(*campaign)? {
                c.status = CampaignStatus::Revoked;
                ov.put(StateKey::Campaign(*campaign), Record::Campaign(c));
                events.push(Event::CampaignStatusChanged {
                    campaign: *campaign,
                    status: CampaignStatus::Revoked,
                });
            }
        }
    }
    Ok(())
}
