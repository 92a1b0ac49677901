//! The ledger invariants, checked at every final height.
//!
//! The first honest validator to apply a height fixes what that height is: its block, the
//! state root after it and a digest of its receipts; every other honest validator must
//! reach exactly the same (one state everywhere). That first application is also checked
//! against the coupon rules, from the receipts and from the whole state: block time never
//! goes back; no coupon gives more uses than it has (a single-use coupon is redeemed at most
//! once); no redemption is applied at or after its campaign's expiry; and supply is
//! conserved — each campaign's `issued` equals the coupons issued by applied transactions
//! and the coupon records in state, never exceeds `max_supply`, and its redemption
//! counters and every coupon's `remaining`/`redemptions` match the applied redemptions.

use super::app::{Ledger, SimBlock};
use super::workload::Client;
use couponchain_chain::hash::hash_parts;
use couponchain_chain::{encoding, Hash, TxId};
use couponchain_runtime::{CouponStatus, Event, Receipt, Record, StateKey};
use std::collections::BTreeMap;

/// What one height became, as fixed by its first honest application.
#[derive(Debug)]
struct Final {
    root: Hash,
    receipts: Hash,
    time_ms: u64,
}

/// Applied redemptions of one coupon.
#[derive(Clone, Copy, Debug, Default)]
struct Used {
    count: u64,
    amount: u64,
}

/// The invariants' running totals over one run.
#[derive(Debug, Default)]
pub struct Checker {
    finals: BTreeMap<u64, Final>,
    issued: BTreeMap<Hash, u64>,
    used: BTreeMap<Hash, Used>,
    /// Every included transaction: applied (`None`) or the refusal code.
    outcomes: BTreeMap<TxId, Option<String>>,
}

/// How often a run exercised the interesting cases.
#[derive(Clone, Copy, Debug, Default)]
pub struct Coverage {
    pub redemptions_applied: u64,
    /// Same-instant double redemptions with both transactions included (one applied).
    pub doubles_both_included: u64,
    /// Redemptions submitted after expiry that were included (and refused).
    pub late_refused: u64,
    pub over_supply_refused: u64,
}

impl Coverage {
    pub fn add(&mut self, o: Coverage) {
        self.redemptions_applied += o.redemptions_applied;
        self.doubles_both_included += o.doubles_both_included;
        self.late_refused += o.late_refused;
        self.over_supply_refused += o.over_supply_refused;
    }
}

fn digest(receipts: &[Receipt]) -> Hash {
    hash_parts(b"couponchain/sim/receipts", &[&encoding::encode(receipts)])
}

impl Checker {
    /// An honest validator applied `b` at its height with these receipts, reaching
    /// `ledger`. Returns whether it was the first to (the height is then checked).
    pub fn on_commit(
        &mut self,
        b: &SimBlock,
        receipts: &[Receipt],
        ledger: &Ledger,
    ) -> Result<bool, String> {
        let height = b.header.height;
        let receipts_digest = digest(receipts);
        if let Some(f) = self.finals.get(&height) {
            if f.root != ledger.root || f.receipts != receipts_digest {
                return Err(format!(
                    "STATE: at height {height} state root {:?} and receipts {:?}, others {:?} and {:?}",
                    ledger.root, receipts_digest, f.root, f.receipts
                ));
            }
            return Ok(false);
        }
        let time = b.header.time_ms;
        if let Some(prev) = height.checked_sub(1).and_then(|h| self.finals.get(&h)) {
            if time < prev.time_ms {
                return Err(format!(
                    "TIME: block {height} at {time}, its parent at {}",
                    prev.time_ms
                ));
            }
        }
        self.finals.insert(
            height,
            Final {
                root: ledger.root,
                receipts: receipts_digest,
                time_ms: time,
            },
        );
        self.apply_receipts(time, receipts, ledger)?;
        self.check_supply(ledger)?;
        Ok(true)
    }

    fn apply_receipts(
        &mut self,
        time: u64,
        receipts: &[Receipt],
        ledger: &Ledger,
    ) -> Result<(), String> {
        for r in receipts {
            let code = match &r.outcome {
                couponchain_runtime::Outcome::Applied { .. } => None,
                couponchain_runtime::Outcome::Refused { code, .. } => Some(code.clone()),
            };
            if self.outcomes.insert(r.tx, code).is_some() {
                return Err(format!("REPLAY: transaction {:?} included twice", r.tx));
            }
            for e in r.events() {
                match e {
                    Event::CouponIssued { campaign, .. } => {
                        *self.issued.entry(*campaign).or_default() += 1;
                    }
                    Event::CouponRedeemed {
                        coupon,
                        campaign,
                        amount,
                        ..
                    } => {
                        let Some(Record::Campaign(c)) =
                            record(ledger, StateKey::Campaign(*campaign))
                        else {
                            return Err(format!("redeemed coupon {coupon:?} of unknown campaign"));
                        };
                        if time >= c.spec.expires_at_ms || time < c.spec.not_before_ms {
                            return Err(format!(
                                "EXPIRY: coupon {coupon:?} redeemed at {time}, campaign valid {}..{}",
                                c.spec.not_before_ms, c.spec.expires_at_ms
                            ));
                        }
                        let u = self.used.entry(*coupon).or_default();
                        u.count += 1;
                        u.amount += amount;
                        if u.amount > c.initial_amount() {
                            return Err(format!(
                                "DOUBLE SPEND: coupon {coupon:?} redeemed {} times for {} of {}",
                                u.count,
                                u.amount,
                                c.initial_amount()
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Supply conservation over the whole state.
    fn check_supply(&self, ledger: &Ledger) -> Result<(), String> {
        let mut campaigns = BTreeMap::new();
        let mut coupons = Vec::new();
        for bytes in ledger.records().values() {
            match Record::decode(bytes).map_err(|e| e.to_string())? {
                Record::Campaign(c) => {
                    campaigns.insert(c.id, c);
                }
                Record::Coupon(cp) => coupons.push(cp),
                _ => {}
            }
        }
        // Per campaign: coupon records, spent ones, and their applied redemptions.
        let mut tally: BTreeMap<Hash, (u64, u64, Used)> = BTreeMap::new();
        for cp in &coupons {
            let Some(c) = campaigns.get(&cp.campaign) else {
                return Err(format!("SUPPLY: coupon {:?} of unknown campaign", cp.id));
            };
            let used = self.used.get(&cp.id).copied().unwrap_or_default();
            if u64::from(cp.redemptions) != used.count
                || cp.remaining + used.amount != c.initial_amount()
            {
                return Err(format!(
                    "SUPPLY: coupon {cp:?}, but {} redemptions of {} applied",
                    used.count, used.amount
                ));
            }
            let t = tally.entry(c.id).or_default();
            t.0 += 1;
            t.1 += u64::from(cp.status == CouponStatus::Spent);
            t.2.count += used.count;
            t.2.amount += used.amount;
        }
        for (id, c) in &campaigns {
            let (records, spent, used) = tally.get(id).copied().unwrap_or_default();
            let issued = self.issued.get(id).copied().unwrap_or_default();
            let s = c.stats;
            if s.issued != issued || s.issued != records || s.issued > c.spec.max_supply {
                return Err(format!(
                    "SUPPLY: campaign {id:?} says {} issued (max {}); events {issued}, records {records}",
                    s.issued, c.spec.max_supply
                ));
            }
            if s.spent != spent || s.redemptions != used.count || s.redeemed_amount != used.amount {
                return Err(format!(
                    "SUPPLY: campaign {id:?} stats {s:?}; coupons: {spent} spent, {used:?}"
                ));
            }
        }
        Ok(())
    }

    /// What the run exercised; fails if a double redemption or a late one was applied.
    pub fn coverage(&self, client: &Client) -> Result<Coverage, String> {
        let mut c = Coverage {
            redemptions_applied: self.used.values().map(|u| u.count).sum(),
            ..Coverage::default()
        };
        for (a, b) in &client.pairs {
            if let (Some(x), Some(y)) = (self.outcomes.get(a), self.outcomes.get(b)) {
                if x.is_none() && y.is_none() {
                    return Err(format!("DOUBLE SPEND: both of {a:?} and {b:?} applied"));
                }
                c.doubles_both_included += 1;
            }
        }
        for t in &client.late {
            match self.outcomes.get(t) {
                Some(None) => return Err(format!("EXPIRY: late redemption {t:?} applied")),
                Some(Some(_)) => c.late_refused += 1,
                None => {}
            }
        }
        c.over_supply_refused = self
            .outcomes
            .values()
            .filter(|o| o.as_deref() == Some("over_supply"))
            .count() as u64;
        Ok(c)
    }
}

fn record(ledger: &Ledger, key: StateKey) -> Option<Record> {
    use couponchain_runtime::StateReader;
    let bytes = ledger.get(&key.hash()).ok().flatten()?;
    Record::decode(&bytes).ok()
}
