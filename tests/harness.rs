//! Shared helpers for the end-to-end tests: a deterministic workload that drives a real
//! ledger block by block.

use couponchain_chain::tx::{coupon_id, Recipient, TxBody};
use couponchain_chain::{Hash, SignedTransaction};
use couponchain_runtime::testkit::{self, Actors, T0};
use couponchain_runtime::SignatureCheck;
use couponchain_storage::{Ledger, StorageError};

/// Produces block after block of issues and redemptions, deterministically: block `h` has
/// the same transactions every time, so a second ledger fed the same workload must reach
/// the same roots.
#[derive(Debug)]
pub struct Workload {
    pub actors: Actors,
    campaign: Option<Hash>,
    unredeemed: Vec<(Hash, usize)>,
    nonce: u64,
}

/// Milliseconds of chain time between workload blocks.
pub const BLOCK_MS: u64 = 1000;

impl Workload {
    pub fn new() -> Workload {
        Workload {
            actors: Actors::new(1, 8),
            campaign: None,
            unredeemed: Vec::new(),
            nonce: 0,
        }
    }

    fn next_nonce(&mut self) -> u64 {
        self.nonce += 1;
        self.nonce
    }

    /// The transactions of the block after `height`.
    pub fn txs_for(&mut self, height: u64) -> Vec<SignedTransaction> {
        let now = T0 + (height + 1) * BLOCK_MS;
        let a = self.actors.clone();
        let Some(campaign) = self.campaign else {
            let tx = testkit::sign(
                &a.issuer,
                self.next_nonce(),
                now,
                TxBody::CreateCampaign(testkit::spec("workload")),
            );
            self.campaign = Some(couponchain_chain::tx::campaign_id(&tx.id()));
            return vec![tx];
        };
        let mut txs = Vec::new();
        // Redeem up to 20 coupons issued earlier.
        let take = self.unredeemed.len().min(20);
        for (coupon, holder) in self.unredeemed.drain(..take).collect::<Vec<_>>() {
            let n = self.next_nonce();
            txs.push(testkit::redeem(
                &a.site,
                &a.holders[holder],
                coupon,
                1,
                0,
                n,
                now,
            ));
        }
        // Issue 40 new ones.
        let recipients: Vec<Recipient> = (0..40)
            .map(|i| Recipient {
                owner: a.holders[i % a.holders.len()].public(),
                bearer: false,
            })
            .collect();
        let issue = testkit::sign(
            &a.issuer,
            self.next_nonce(),
            now,
            TxBody::IssueCoupons {
                campaign,
                recipients,
            },
        );
        let id = issue.id();
        self.unredeemed
            .extend((0..40).map(|i| (coupon_id(&id, i as u32), i % a.holders.len())));
        txs.push(issue);
        txs
    }

    /// Prepares and commits the next block on `ledger`.
    pub fn step(&mut self, ledger: &Ledger) -> Result<(), StorageError> {
        let head = ledger.head();
        let txs = self.txs_for(head.height);
        let prepared = ledger.prepare_proposal(
            txs,
            T0 + (head.height + 1) * BLOCK_MS,
            self.actors.validators[0].public(),
            SignatureCheck::Verify,
        )?;
        if let Some(bad) = prepared.receipts().iter().find(|r| !r.is_applied()) {
            return Err(StorageError::Corrupt(format!(
                "workload tx refused: {:?}",
                bad.outcome
            )));
        }
        ledger.commit(prepared, None)?;
        Ok(())
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload::new()
    }
}
