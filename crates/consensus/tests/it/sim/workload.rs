//! The clients: random coupon transactions submitted to validators' mempools.
//!
//! At the start a shop submits, in order, the creation of a long-lived campaign A and of a
//! campaign B that expires a few seconds into the run, and an issue of coupons of each;
//! later an over-supply issue of A. Each goes to two validators, and is re-submitted to
//! others later (the same signed transaction: replay protection keeps it single).
//! When a coupon's issue becomes final, its holder's redemptions are planned: for some
//! coupons two redemptions submitted at the same simulated instant to two different
//! validators (different sites or nonces, both authorized for the coupon's first use),
//! for others a second use after the first, and for B's coupons redemptions after B
//! expired. The runtime must apply at most one of each pair and none after expiry; the
//! plans are recorded so the run can report how often each case was really exercised.

use super::network::Rng;
use couponchain_chain::tx::{CampaignSpec, Recipient, SitePolicy, TxBody};
use couponchain_chain::{Hash, Keypair, SignedTransaction, TxId};
use couponchain_runtime::testkit::{redeem, sign, spec, Actors, T0};
use couponchain_runtime::{Event, Receipt};
use std::collections::BTreeMap;

/// Holders that receive coupons.
pub const HOLDERS: usize = 3;
/// Coupons campaign A may ever have (the late issue of 2 more goes over it).
const A_MAX_SUPPLY: u64 = 4;
/// A client re-submits a transaction to another validator after this long.
const RETRY_MS: u64 = 3_000;

/// A transaction to put in validator `to`'s mempool `delay_ms` from now.
#[derive(Debug)]
pub struct Submit {
    pub delay_ms: u64,
    pub to: usize,
    pub tx: SignedTransaction,
}

#[derive(Debug)]
struct Campaign {
    expires_at_ms: u64,
    /// Coupons of it seen issued so far.
    coupons: usize,
}

/// The clients of one run.
#[derive(Debug)]
pub struct Client {
    actors: Actors,
    n: usize,
    nonce: u64,
    campaigns: BTreeMap<Hash, Campaign>,
    /// Redemptions of one coupon's same use sent at one instant to two validators.
    pub pairs: Vec<(TxId, TxId)>,
    /// Redemptions submitted after their campaign expired.
    pub late: Vec<TxId>,
}

impl Client {
    /// The clients of a network of `n` validators, and their first submissions.
    pub fn new(rng: &mut Rng, n: usize) -> (Client, Vec<Submit>) {
        let mut c = Client {
            actors: Actors::new(n, HOLDERS),
            n,
            nonce: 0,
            campaigns: BTreeMap::new(),
            pairs: Vec::new(),
            late: Vec::new(),
        };
        let t0 = rng.below(300);
        let long = CampaignSpec {
            max_supply: A_MAX_SUPPLY,
            ..c.spec("A", T0 + 30 * 24 * 3_600_000)
        };
        let short = c.spec("B", T0 + rng.range(3_000, 7_000));
        let (create_a, a) = c.create(long, t0);
        let (create_b, b) = c.create(short, t0);
        let batch = vec![
            create_a,
            c.issue(a, HOLDERS, t0),
            create_b,
            c.issue(b, HOLDERS, t0),
        ];
        let mut subs = Vec::new();
        let (v1, v2) = rng.pair(n);
        for tx in batch {
            c.spread(rng, &mut subs, t0, &[v1, v2], tx);
        }
        let t1 = rng.range(1_000, 3_000);
        let over = c.issue(a, 2, t1);
        c.spread_one(rng, &mut subs, t1, over);
        (c, subs)
    }

    fn spec(&self, name: &str, expires_at_ms: u64) -> CampaignSpec {
        CampaignSpec {
            expires_at_ms,
            redeem_at: SitePolicy::AnySite,
            max_supply: 3,
            ..spec(name)
        }
    }

    fn next_nonce(&mut self) -> u64 {
        self.nonce += 1;
        self.nonce
    }

    fn create(&mut self, s: CampaignSpec, at: u64) -> (SignedTransaction, Hash) {
        let expires_at_ms = s.expires_at_ms;
        let nonce = self.next_nonce();
        let tx = sign(
            &self.actors.issuer,
            nonce,
            T0 + at,
            TxBody::CreateCampaign(s),
        );
        let id = couponchain_chain::tx::campaign_id(&tx.id());
        self.campaigns.insert(
            id,
            Campaign {
                expires_at_ms,
                coupons: 0,
            },
        );
        (tx, id)
    }

    fn issue(&mut self, campaign: Hash, count: usize, at: u64) -> SignedTransaction {
        let recipients = (0..count)
            .map(|i| Recipient {
                owner: self.actors.holders[i % HOLDERS].public(),
                bearer: false,
            })
            .collect();
        let body = TxBody::IssueCoupons {
            campaign,
            recipients,
        };
        let nonce = self.next_nonce();
        sign(&self.actors.issuer, nonce, T0 + at, body)
    }

    /// Submits `tx` at `at` to each of `to`, and once more to a random validator later.
    fn spread(
        &self,
        rng: &mut Rng,
        subs: &mut Vec<Submit>,
        at: u64,
        to: &[usize],
        tx: SignedTransaction,
    ) {
        for &v in to {
            subs.push(Submit {
                delay_ms: at,
                to: v,
                tx: tx.clone(),
            });
        }
        subs.push(Submit {
            delay_ms: at + RETRY_MS,
            to: rng.index(self.n),
            tx,
        });
    }

    /// [`Client::spread`] to one random validator.
    fn spread_one(&self, rng: &mut Rng, subs: &mut Vec<Submit>, at: u64, tx: SignedTransaction) {
        let v = rng.index(self.n);
        self.spread(rng, subs, at, &[v], tx);
    }

    fn redemption(
        &mut self,
        site: usize,
        holder: &Keypair,
        coupon: Hash,
        seq: u32,
        at: u64,
    ) -> SignedTransaction {
        let site = [&self.actors.site, &self.actors.site2, &self.actors.site3][site % 3].clone();
        let nonce = self.next_nonce();
        redeem(&site, holder, coupon, 1, seq, nonce, T0 + at)
    }

    /// Plans redemptions of the coupons whose issue just became final at simulated time
    /// `now`; returns the submissions (delays from `now`).
    pub fn on_final(&mut self, rng: &mut Rng, receipts: &[Receipt], now: u64) -> Vec<Submit> {
        let mut subs = Vec::new();
        for e in receipts.iter().flat_map(|r| r.events()) {
            let Event::CouponIssued {
                coupon,
                campaign,
                owner,
                ..
            } = e
            else {
                continue;
            };
            let Some(c) = self.campaigns.get_mut(campaign) else {
                continue;
            };
            let k = c.coupons;
            c.coupons += 1;
            let expires = c.expires_at_ms;
            let short = expires < T0 + 24 * 3_600_000;
            let Some(holder) = self
                .actors
                .holders
                .iter()
                .find(|h| h.public() == *owner)
                .cloned()
            else {
                continue;
            };
            // Late: when every clock (and so every later block time) is past expiry.
            let after_expiry = expires.saturating_sub(T0) + 400 + rng.below(1_000);
            let soon = now + rng.range(100, 1_500);
            match (short, k) {
                (_, 0) => {
                    self.pair(rng, &mut subs, now, soon, &holder, *coupon, (0, 1));
                }
                (false, 1) => {
                    self.pair(rng, &mut subs, now, soon, &holder, *coupon, (0, 0));
                }
                (false, _) => {
                    let first = self.redemption(2, &holder, *coupon, 0, soon);
                    let later = soon + rng.range(1_000, 2_000);
                    let second = self.redemption(2, &holder, *coupon, 1, later);
                    self.spread_one(rng, &mut subs, soon - now, first);
                    self.spread_one(rng, &mut subs, later - now, second);
                }
                (true, 1) => {
                    let at = after_expiry.max(now);
                    let tx = self.redemption(0, &holder, *coupon, 0, at);
                    self.late.push(tx.id());
                    self.spread_one(rng, &mut subs, at - now, tx);
                }
                (true, _) => {
                    let at = after_expiry.max(now);
                    let (a, b) = self.pair(rng, &mut subs, now, at, &holder, *coupon, (1, 2));
                    self.late.extend([a, b]);
                }
            }
        }
        subs
    }

    /// Two redemptions of `coupon`'s first use, at sites `sites`, submitted at the same
    /// instant `at` to two different validators.
    #[allow(clippy::too_many_arguments)]
    fn pair(
        &mut self,
        rng: &mut Rng,
        subs: &mut Vec<Submit>,
        now: u64,
        at: u64,
        holder: &Keypair,
        coupon: Hash,
        sites: (usize, usize),
    ) -> (TxId, TxId) {
        let r1 = self.redemption(sites.0, holder, coupon, 0, at);
        let r2 = self.redemption(sites.1, holder, coupon, 0, at);
        let ids = (r1.id(), r2.id());
        self.pairs.push(ids);
        let (v1, v2) = rng.pair(self.n);
        self.spread(rng, subs, at - now, &[v1], r1);
        self.spread(rng, subs, at - now, &[v2], r2);
        ids
    }
}
