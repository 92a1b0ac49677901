//! Admission: the checks a transaction passes before it enters the mempool — envelope
//! (chain id, validity window, size bounds), already final or already waiting, the
//! signer's role for role-gated bodies, and all signatures in one batch. Coupon-level rules
//! (ownership, expiry, remaining uses) are left to the block: their outcome depends on the
//! transactions ordered before, and the site learns it when final.

use super::{lock, wall_ms, Finality, Node};
use couponchain_chain::block::BlockContext;
use couponchain_chain::tx::TxBody;
use couponchain_chain::{Hash, PublicKey, SignedTransaction, TxId};
use couponchain_rpc::{ErrorBody, SubmitOutcome, SubmitStatus};
use couponchain_runtime::{
    check_envelope, coupon_named, verify_signatures, Account, Record, RuntimeError, StateKey,
    StateReader,
};
use std::collections::BTreeMap;
use std::time::Instant;
use tokio::sync::oneshot;

/// An admission at least this long is logged (at `info`).
const SLOW_ADMISSION: std::time::Duration = std::time::Duration::from_millis(50);

/// The largest single transaction admitted (a 10,000-recipient issue is ~340 KiB).
pub const MAX_TX_BYTES: usize = 1 << 20;

pub(super) struct Admitted {
    pub outcomes: Vec<SubmitOutcome>,
    /// For each outcome still `Accepted`, the receiver that reports its finality.
    pub waits: Vec<Option<oneshot::Receiver<Finality>>>,
}

fn refused(id: TxId, code: &str, message: String) -> SubmitOutcome {
    SubmitOutcome {
        brief: None,
        tx: id,
        status: SubmitStatus::Refused,
        receipt: None,
        error: Some(ErrorBody {
            code: code.to_string(),
            message,
        }),
    }
}

fn from_runtime(id: TxId, e: &RuntimeError) -> SubmitOutcome {
    refused(id, e.code(), e.to_string())
}

impl Node {
    /// `meta[i]` is `txs[i].id_and_size()`, computed once by the caller.
    pub(super) fn admit(
        &self,
        txs: Vec<SignedTransaction>,
        meta: &[(TxId, usize)],
        wait: bool,
        forward: bool,
    ) -> Admitted {
        // Transactions admitted here (not received from a peer) go to every other
        // validator, once; the sole validator has none.
        let from_client = forward;
        let forward = forward && self.role() != super::Role::SoleValidator && self.net.is_some();
        let started = Instant::now();
        let mut forwarded = Vec::new();
        let head = self.ledger.head();
        let ctx = BlockContext {
            height: head.height + 1,
            time_ms: wall_ms().max(head.time_ms),
        };
        let n = txs.len();
        let mut outcomes: Vec<Option<SubmitOutcome>> = vec![None; n];
        let mut waits: Vec<Option<oneshot::Receiver<Finality>>> = (0..n).map(|_| None).collect();
        let mut roles: BTreeMap<PublicKey, Account> = BTreeMap::new();
        let mut candidates: Vec<(usize, TxId, usize)> = Vec::with_capacity(n);
        let mut in_request: std::collections::HashSet<TxId> = std::collections::HashSet::new();
        for (i, (tx, &(id, size))) in txs.iter().zip(meta).enumerate() {
            if size > MAX_TX_BYTES {
                outcomes[i] = Some(refused(
                    id,
                    "tx_too_large",
                    format!("{size} bytes; at most {MAX_TX_BYTES}"),
                ));
                continue;
            }
            match self.ledger.tx(&id) {
                Ok(Some(view)) => {
                    outcomes[i] = Some(SubmitOutcome {
                        brief: None,
                        tx: id,
                        status: SubmitStatus::Final,
                        receipt: Some(view.receipt),
                        error: None,
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    outcomes[i] = Some(refused(id, "internal", e.to_string()));
                    continue;
                }
            }
            if let Err(e) = check_envelope(tx, &self.params, ctx) {
                outcomes[i] = Some(from_runtime(id, &e));
                continue;
            }
            match self.role_refusal(&mut roles, tx) {
                Ok(Some(e)) => {
                    outcomes[i] = Some(from_runtime(id, &e));
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    outcomes[i] = Some(refused(id, "internal", e));
                    continue;
                }
            }
            if !in_request.insert(id) {
                outcomes[i] = Some(from_runtime(id, &RuntimeError::DuplicateInBlock(id)));
                continue;
            }
            candidates.push((i, id, size));
        }
        let checked = Instant::now();
        let refs: Vec<&SignedTransaction> = candidates.iter().map(|(i, _, _)| &txs[*i]).collect();
        let mut bad = vec![false; candidates.len()];
        if let Err(failures) = verify_signatures(&refs) {
            for (j, e) in failures {
                bad[j] = true;
                outcomes[candidates[j].0] = Some(from_runtime(candidates[j].1, &e));
            }
        }
        let verified = Instant::now();
        let mut ahead = Vec::new();
        {
            let mut pool = lock(&self.mempool);
            let mut waiters = lock(&self.waiters);
            let mut txs: Vec<Option<SignedTransaction>> = txs.into_iter().map(Some).collect();
            for (j, (i, id, size)) in candidates.into_iter().enumerate() {
                if bad[j] {
                    continue;
                }
                let Some(tx) = txs[i].take() else { continue };
                let copy = forward.then(|| tx.clone());
                let coupon = coupon_named(&tx.tx.body);
                // Register before inserting, so a block cannot finish first unseen.
                if wait {
                    let (s, r) = oneshot::channel();
                    waiters.entry(id).or_default().push(s);
                    waits[i] = Some(r);
                }
                match pool.insert(id, tx, size, verified) {
                    Ok(()) => {
                        forwarded.extend(copy);
                        ahead.extend(coupon);
                        self.metrics.txs_admitted.inc();
                        outcomes[i] = Some(SubmitOutcome {
                            brief: None,
                            tx: id,
                            status: SubmitStatus::Accepted,
                            receipt: None,
                            error: None,
                        });
                    }
                    Err(e) => {
                        if wait {
                            waits[i] = None;
                            if let Some(ws) = waiters.get_mut(&id) {
                                ws.pop();
                                if ws.is_empty() {
                                    waiters.remove(&id);
                                }
                            }
                        }
                        outcomes[i] = Some(refused(id, e.code(), e.to_string()));
                    }
                }
            }
            self.metrics.mempool_txs.set(pool.len() as i64);
            self.metrics.mempool_bytes.set(pool.bytes() as i64);
        }
        self.wake.notify_one();
        let pooled = Instant::now();
        self.observe_admission(n, from_client, [started, checked, verified, pooled]);
        if let (false, Some(net)) = (forwarded.is_empty(), &self.net) {
            net.send(
                self.validator_peers(),
                crate::net::wire::Request::Txs(forwarded),
            );
        }
        self.read_ahead(ahead);
        let outcomes: Vec<SubmitOutcome> = outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| refused(TxId::default(), "internal", "no outcome".into())))
            .collect();
        for o in &outcomes {
            if let Some(e) = &o.error {
                self.metrics.refused(&e.code);
            }
        }
        Admitted { outcomes, waits }
    }

    /// Records the stages of one admission; a slow one is also logged, since a batch held up
    /// here reaches a proposer late and shows as a slow height elsewhere.
    fn observe_admission(&self, txs: usize, from_client: bool, at: [Instant; 4]) {
        let [started, checked, verified, pooled] = at;
        let stages = [
            ("checks", checked - started),
            ("signatures", verified - checked),
            ("mempool", pooled - verified),
        ];
        for (stage, d) in stages {
            self.metrics.admission_stage(stage, d.as_secs_f64());
        }
        if pooled - started >= SLOW_ADMISSION {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            tracing::info!(
                txs,
                from_client,
                checks_ms = ms(stages[0].1),
                signatures_ms = ms(stages[1].1),
                mempool_ms = ms(stages[2].1),
                "slow admission"
            );
        }
    }

    /// Reads the coupon records the admitted transactions will act on, on a thread of their
    /// own, and drops them: the reads land in the storage's block cache, so the block that
    /// includes these transactions (tens of milliseconds later) does not wait on the disk
    /// for them. A record last touched weeks ago — the usual redemption — is a cold read.
    /// Only an optimisation: skipped while as many read-aheads as admissions are running.
    fn read_ahead(&self, keys: Vec<Hash>) {
        if keys.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(permit) = self.read_aheads.clone().try_acquire_owned() else {
            return;
        };
        let ledger = self.ledger.clone();
        runtime.spawn_blocking(move || {
            if let Err(e) = ledger.get_many(&keys) {
                tracing::debug!(error = %e, "reading coupon records ahead failed");
            }
            drop(permit);
        });
    }

    pub(super) fn is_pending(&self, id: &TxId) -> bool {
        lock(&self.mempool).contains(id)
    }

    /// Refusals that depend only on the signer's role, which transactions rarely change.
    fn role_refusal(
        &self,
        roles: &mut BTreeMap<PublicKey, Account>,
        tx: &SignedTransaction,
    ) -> Result<Option<RuntimeError>, String> {
        let signer = tx.tx.signer;
        let acct = match roles.get(&signer) {
            Some(a) => a.clone(),
            None => {
                let a = match self.ledger.record(StateKey::Account(signer)) {
                    Ok(Some(Record::Account(a))) => a,
                    Ok(_) => Account::default(),
                    Err(e) => return Err(e.to_string()),
                };
                roles.insert(signer, a.clone());
                a
            }
        };
        let is_validator = || {
            self.ledger
                .next_validator_set()
                .map(|s| s.contains(&signer))
                .unwrap_or(false)
        };
        Ok(match &tx.tx.body {
            TxBody::CreateCampaign(_)
            | TxBody::IssueCoupons { .. }
            | TxBody::RevokeCoupon { .. }
            | TxBody::SetCampaignStatus { .. }
                if acct.issuer.is_none() =>
            {
                Some(RuntimeError::NotIssuer(signer))
            }
            TxBody::Redeem(_) if acct.site.is_none() => Some(RuntimeError::NotSite(signer)),
            TxBody::Approve { .. } if !is_validator() => Some(RuntimeError::NotValidator(signer)),
            TxBody::Propose { .. } if !acct.admin && !is_validator() => {
                Some(RuntimeError::NotProposer(signer))
            }
            _ => None,
        })
    }
}

impl Node {
    /// Admits a batch a peer forwarded (checked here like any other: every node verifies
    /// each transaction once, on admission). Not forwarded again: the sender sent it to
    /// every validator itself.
    /// `received` is when the network handed the batch over.
    pub async fn admit_from_peer(
        self: &std::sync::Arc<Self>,
        txs: Vec<SignedTransaction>,
        received: Instant,
    ) {
        let Ok(permit) = self.admissions.acquire().await else {
            return;
        };
        let queued = received.elapsed();
        self.metrics.admission_stage("queued", queued.as_secs_f64());
        if queued >= SLOW_ADMISSION {
            tracing::info!(
                txs = txs.len(),
                queued_ms = queued.as_secs_f64() * 1e3,
                "forwarded batch queued"
            );
        }
        let node = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let meta: Vec<(TxId, usize)> = txs.iter().map(|t| t.id_and_size()).collect();
            node.admit(txs, &meta, false, false)
        })
        .await;
        drop(permit);
    }
}
