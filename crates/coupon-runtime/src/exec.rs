//! Block execution: envelope checks, batched signature checks, replay protection, then each
//! transaction's rules in order.

use crate::apply::apply_tx;
use crate::error::RuntimeError;
use crate::events::{Outcome, Receipt};
use crate::limits;
use crate::state::{Overlay, Params, Record, StateKey, StateReader};
use couponchain_chain::block::{BlockContext, ValidatorSet};
use couponchain_chain::tx::{Benefit, SitePolicy, TxBody};
use couponchain_chain::{Hash, SignedTransaction, TxId};
use std::collections::BTreeSet;

/// How [`execute_block`] treats signatures.
#[derive(Clone, Copy)]
pub enum SignatureCheck<'a> {
    /// Check every signature (batched).
    Verify,
    /// The caller already checked the signatures of the transactions for which this
    /// returns true (a node's admission cache), given each transaction's id; check the
    /// rest. The cache must match the signed bytes (id *and* envelope signature), not the
    /// id alone: the id does not cover the envelope signature.
    Cached(&'a dyn Fn(&TxId, &SignedTransaction) -> bool),
}

impl std::fmt::Debug for SignatureCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureCheck::Verify => f.write_str("Verify"),
            SignatureCheck::Cached(_) => f.write_str("Cached"),
        }
    }
}

/// The result of executing a block.
#[derive(Debug)]
pub struct Executed {
    pub receipts: Vec<Receipt>,
    /// Tree key → new encoded record (`None`: deleted), sorted by key.
    pub changes: Vec<(Hash, Option<Vec<u8>>)>,
    /// The set that certifies this block.
    pub validators: ValidatorSet,
    /// The set that certifies the next block.
    pub next_validators: ValidatorSet,
}

/// The tree key of the coupon a transaction acts on, if any: the record its block will
/// certainly read.
pub fn coupon_named(body: &TxBody) -> Option<Hash> {
    match body {
        TxBody::Redeem(r) => Some(StateKey::Coupon(r.coupon).hash()),
        TxBody::Transfer { coupon, .. }
        | TxBody::Claim { coupon, .. }
        | TxBody::RevokeCoupon { coupon } => Some(StateKey::Coupon(*coupon).hash()),
        _ => None,
    }
}

/// Checks every signature of `txs` in one batch. On failure, names each bad transaction.
pub fn verify_signatures(txs: &[&SignedTransaction]) -> Result<(), Vec<(usize, RuntimeError)>> {
    let mut owners = Vec::new();
    let mut items = Vec::new();
    for (i, tx) in txs.iter().enumerate() {
        for item in tx.signature_items() {
            owners.push(i);
            items.push(item);
        }
    }
    let refs: Vec<_> = items
        .iter()
        .map(|(pk, msg, sig)| (*pk, msg.as_slice(), *sig))
        .collect();
    couponchain_chain::crypto::verify_batch(&refs).map_err(|bad| {
        let mut seen = BTreeSet::new();
        bad.into_iter()
            .filter(|b| seen.insert(owners[*b]))
            .map(|b| (owners[b], RuntimeError::BadSignature { signer: items[b].0 }))
            .collect()
    })
}

/// The checks that decide whether a transaction may be included at all, at `ctx`:
/// chain id, validity window, and stateless bounds on the body.
pub fn check_envelope(
    tx: &SignedTransaction,
    params: &Params,
    ctx: BlockContext,
) -> Result<(), RuntimeError> {
    let t = &tx.tx;
    if t.chain_id != params.chain_id {
        return Err(RuntimeError::WrongChainId {
            expected: params.chain_id.clone(),
            got: t
                .chain_id
                .chars()
                .take(limits::MAX_CHAIN_ID_BYTES)
                .collect(),
        });
    }
    if t.valid_until_ms < ctx.time_ms {
        return Err(RuntimeError::TxExpired {
            valid_until_ms: t.valid_until_ms,
            now_ms: ctx.time_ms,
        });
    }
    if t.valid_until_ms > ctx.time_ms.saturating_add(params.max_tx_lifetime_ms) {
        return Err(RuntimeError::TxTooFarAhead {
            valid_until_ms: t.valid_until_ms,
            now_ms: ctx.time_ms,
            max_lifetime_ms: params.max_tx_lifetime_ms,
        });
    }
    let malformed = |m: &str| Err(RuntimeError::Malformed(m.to_string()));
    match &t.body {
        TxBody::IssueCoupons { recipients, .. } => {
            if recipients.is_empty() {
                return malformed("an issue needs at least one recipient");
            }
            if recipients.len() > limits::MAX_ISSUE_BATCH {
                return Err(RuntimeError::Malformed(format!(
                    "{} recipients; at most {} per transaction",
                    recipients.len(),
                    limits::MAX_ISSUE_BATCH
                )));
            }
        }
        TxBody::CreateCampaign(spec) => {
            if let SitePolicy::Sites(sites) = &spec.redeem_at {
                if sites.len() > limits::MAX_SITES_PER_CAMPAIGN {
                    return malformed("too many sites in the campaign");
                }
            }
            let sku_len = match &spec.terms.benefit {
                Benefit::FreeItem { sku } => sku.len(),
                _ => 0,
            };
            if spec.name.len() > limits::MAX_NAME_BYTES
                || spec.terms.metadata.len() > limits::MAX_METADATA_BYTES
                || sku_len > limits::MAX_NAME_BYTES
            {
                return malformed("campaign name, metadata or SKU too long");
            }
        }
        TxBody::Redeem(r) if r.amount == 0 => {
            return malformed("a redemption must take at least 1 use or unit of value");
        }
        _ => {}
    }
    Ok(())
}

/// Executes a block's transactions in order against the state as of the previous block.
///
/// Returns `InvalidBlockTx` if a transaction may not be in this block at all (bad signature,
/// wrong chain, outside its validity window, a replay); a proposer filters those out before
/// proposing. Any other refusal is recorded in the transaction's receipt and changes nothing.
pub fn execute_block<R: StateReader>(
    state: &R,
    ctx: BlockContext,
    txs: &[SignedTransaction],
    sigs: SignatureCheck<'_>,
) -> Result<Executed, RuntimeError> {
    let invalid = |index: usize, error: RuntimeError| RuntimeError::InvalidBlockTx {
        index: index as u32,
        error: Box::new(error),
    };
    let mut ov = Overlay::new(state);
    let params = ov.params()?;

    // A scheduled validator-set change takes effect at its height.
    let mut vrec = ov.validators()?;
    if let Some((from, set)) = vrec.pending.clone() {
        if from <= ctx.height {
            vrec.current = set;
            vrec.pending = None;
            ov.put(StateKey::Validators, Record::Validators(vrec.clone()));
            ov.commit_tx();
        }
    }
    let validators = vrec.current.clone();

    let ids: Vec<TxId> = txs.iter().map(|t| t.id()).collect();
    let to_check: Vec<(usize, &SignedTransaction)> = match sigs {
        SignatureCheck::Verify => txs.iter().enumerate().collect(),
        SignatureCheck::Cached(known) => txs
            .iter()
            .enumerate()
            .filter(|(i, t)| !known(&ids[*i], t))
            .collect(),
    };
    let refs: Vec<&SignedTransaction> = to_check.iter().map(|(_, t)| *t).collect();
    if let Err(bad) = verify_signatures(&refs) {
        if let Some((j, e)) = bad.into_iter().next() {
            return Err(invalid(to_check[j].0, e));
        }
    }

    // Batch the reads a block will certainly make: the replay index, and the coupons the
    // transactions name (one sorted multi-get instead of thousands of point reads).
    let included = state.txs_included(&ids)?;
    ov.prefetch(
        txs.iter()
            .filter_map(|t| coupon_named(&t.tx.body))
            .collect(),
    )?;

    let mut in_block: BTreeSet<TxId> = BTreeSet::new();
    let mut receipts = Vec::with_capacity(txs.len());
    for (i, (tx, id)) in txs.iter().zip(&ids).enumerate() {
        check_envelope(tx, &params, ctx).map_err(|e| invalid(i, e))?;
        if !in_block.insert(*id) {
            return Err(invalid(i, RuntimeError::DuplicateInBlock(*id)));
        }
        if included[i] {
            return Err(invalid(i, RuntimeError::Replay(*id)));
        }
        let outcome = match apply_tx(&mut ov, &params, ctx, tx, id) {
            Ok(events) => {
                ov.commit_tx();
                Outcome::Applied { events }
            }
            Err(RuntimeError::Store(e)) => return Err(RuntimeError::Store(e)),
            Err(e) => {
                ov.discard_tx();
                Outcome::Refused {
                    code: e.code().to_string(),
                    message: e.to_string(),
                }
            }
        };
        receipts.push(Receipt {
            tx: *id,
            height: ctx.height,
            index: i as u32,
            outcome,
        });
    }

    let next_validators = ov.validators()?.set_at(ctx.height + 1).clone();
    Ok(Executed {
        receipts,
        changes: ov.into_changes(),
        validators,
        next_validators,
    })
}
