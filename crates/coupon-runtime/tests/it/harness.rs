//! The test chain every module drives: committed state in a `BTreeMap`, the ids of every
//! included transaction (so a replay in a later block is detected for real, which the
//! plain map's `StateReader` impl cannot do), a height and a clock. Blocks go through the
//! public `execute_block` with full signature checks; a block the runtime rejects leaves
//! the chain exactly as it was.

use couponchain_chain::block::BlockContext;
use couponchain_chain::tx::{
    campaign_id, coupon_id, CampaignSpec, Recipient, RedeemAuth, Redemption, TxBody,
};
use couponchain_chain::{BearerCode, Hash, Keypair, PublicKey, SignedTransaction};
use couponchain_runtime::testkit;
use couponchain_runtime::{
    execute_block, Account, CampaignRecord, CouponRecord, Event, Executed, Genesis, Outcome,
    ProposalRecord, Receipt, Record, RuntimeError, SignatureCheck, StateKey, StateReader,
    StoreError, ValidatorsRecord,
};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

/// How far the clock moves from one block to the next unless a test moves it further.
pub const BLOCK_INTERVAL_MS: u64 = 1_000;

/// Committed state plus the ids of every transaction included so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    pub state: BTreeMap<Hash, Vec<u8>>,
    pub included: BTreeSet<Hash>,
}

impl StateReader for Ledger {
    fn get(&self, key: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state.get(key).cloned())
    }
    fn tx_included(&self, id: &Hash) -> Result<bool, StoreError> {
        Ok(self.included.contains(id))
    }
}

#[derive(Debug)]
pub struct Chain {
    pub ledger: Ledger,
    /// Height of the last executed block (0: genesis).
    pub height: u64,
    /// Chain time the next block will have.
    pub time_ms: u64,
    nonce: Cell<u64>,
}

impl Chain {
    pub fn new(genesis: &Genesis) -> Chain {
        Chain {
            ledger: Ledger {
                state: genesis.initial_state().unwrap(),
                included: BTreeSet::new(),
            },
            height: 0,
            time_ms: genesis.genesis_time_ms + BLOCK_INTERVAL_MS,
            nonce: Cell::new(0),
        }
    }

    /// Chain time of the next block.
    pub fn now(&self) -> u64 {
        self.time_ms
    }

    /// Moves the next block's time forward by `ms`.
    pub fn advance(&mut self, ms: u64) {
        self.time_ms += ms;
    }

    /// Sets the next block's time (never backwards: consensus time is monotonic).
    pub fn set_time(&mut self, time_ms: u64) {
        assert!(time_ms >= self.time_ms, "chain time never goes back");
        self.time_ms = time_ms;
    }

    pub fn ctx(&self) -> BlockContext {
        BlockContext {
            height: self.height + 1,
            time_ms: self.time_ms,
        }
    }

    /// A fresh nonce, so no two transactions a test builds are identical by accident.
    pub fn nonce(&self) -> u64 {
        let n = self.nonce.get();
        self.nonce.set(n + 1);
        n
    }

    /// A transaction valid for 30 minutes from the next block's time.
    pub fn tx(&self, signer: &Keypair, body: TxBody) -> SignedTransaction {
        testkit::sign(signer, self.nonce(), self.now(), body)
    }

    /// A redemption of `coupon`, authorized by `holder` for its `seq`-th use, submitted by `site`.
    pub fn redeem_tx(
        &self,
        site: &Keypair,
        holder: &Keypair,
        coupon: Hash,
        amount: u64,
        seq: u32,
    ) -> SignedTransaction {
        testkit::redeem(site, holder, coupon, amount, seq, self.nonce(), self.now())
    }

    /// Executes `txs` as the next block without committing it.
    pub fn execute(&self, txs: &[SignedTransaction]) -> Result<Executed, RuntimeError> {
        execute_block(&self.ledger, self.ctx(), txs, SignatureCheck::Verify)
    }

    /// Executes `txs` as the next block and, if the runtime accepts it, commits it.
    pub fn block_full(&mut self, txs: &[SignedTransaction]) -> Result<Executed, RuntimeError> {
        let ex = self.execute(txs)?;
        self.commit(txs, &ex);
        Ok(ex)
    }

    pub fn block(&mut self, txs: &[SignedTransaction]) -> Result<Vec<Receipt>, RuntimeError> {
        self.block_full(txs).map(|ex| ex.receipts)
    }

    fn commit(&mut self, txs: &[SignedTransaction], ex: &Executed) {
        let height = self.height + 1;
        assert_eq!(ex.receipts.len(), txs.len(), "one receipt per transaction");
        for (i, (r, tx)) in ex.receipts.iter().zip(txs).enumerate() {
            assert_eq!(r.tx, tx.id());
            assert_eq!(r.height, height);
            assert_eq!(r.index, i as u32);
        }
        assert!(
            ex.changes.windows(2).all(|w| w[0].0 < w[1].0),
            "changes sorted by key, no key twice"
        );
        for (k, v) in &ex.changes {
            match v {
                Some(v) => self.ledger.state.insert(*k, v.clone()),
                None => self.ledger.state.remove(k),
            };
        }
        self.ledger
            .included
            .extend(ex.receipts.iter().map(|r| r.tx));
        self.height = height;
        self.time_ms += BLOCK_INTERVAL_MS;
    }

    /// A block of one transaction; the block must be valid.
    pub fn submit(&mut self, tx: SignedTransaction) -> Receipt {
        let mut receipts = self.block(&[tx]).unwrap();
        receipts.pop().unwrap()
    }

    pub fn send(&mut self, signer: &Keypair, body: TxBody) -> Receipt {
        let tx = self.tx(signer, body);
        self.submit(tx)
    }

    /// Sends a transaction that must be applied; returns its events.
    pub fn apply(&mut self, signer: &Keypair, body: TxBody) -> Vec<Event> {
        let r = self.send(signer, body);
        applied(&r).to_vec()
    }

    /// Executes `tx` alone as the next block without committing it; the block must be valid.
    pub fn dry_run(&self, tx: SignedTransaction) -> Receipt {
        self.execute(&[tx]).unwrap().receipts.pop().unwrap()
    }

    /// Submits `tx` alone in a block; it must be refused with `code`, and the block must
    /// change nothing an empty block would not.
    pub fn refuse_tx(&mut self, tx: SignedTransaction, code: &str) -> String {
        let empty = self.execute(&[]).unwrap().changes;
        let ex = self.block_full(&[tx]).unwrap();
        assert_refused(&ex.receipts[0], code);
        assert_eq!(ex.changes, empty, "a refused transaction changed state");
        match &ex.receipts[0].outcome {
            Outcome::Refused { message, .. } => message.clone(),
            Outcome::Applied { .. } => unreachable!(),
        }
    }

    /// Like [`Chain::refuse_tx`], and the refusal must be exactly `error` (code and values).
    pub fn refuse_tx_exactly(&mut self, tx: SignedTransaction, error: RuntimeError) {
        let message = self.refuse_tx(tx, error.code());
        assert_eq!(message, error.to_string());
    }

    pub fn refuse_exactly(&mut self, signer: &Keypair, body: TxBody, error: RuntimeError) {
        let tx = self.tx(signer, body);
        self.refuse_tx_exactly(tx, error);
    }

    pub fn refuse(&mut self, signer: &Keypair, body: TxBody, code: &str) {
        let tx = self.tx(signer, body);
        self.refuse_tx(tx, code);
    }

    /// A redemption whose authorization is signed by `auth_signer` on behalf of `holder`
    /// and void after `auth_valid_until_ms`.
    #[allow(clippy::too_many_arguments)]
    pub fn redeem_tx_custom(
        &self,
        site: &Keypair,
        auth_signer: &Keypair,
        holder: PublicKey,
        coupon: Hash,
        amount: u64,
        seq: u32,
        auth_valid_until_ms: u64,
    ) -> SignedTransaction {
        let auth = RedeemAuth {
            chain_id: testkit::CHAIN_ID.into(),
            coupon,
            site: site.public(),
            amount,
            seq,
            valid_until_ms: auth_valid_until_ms,
        };
        let r = Redemption {
            coupon,
            holder,
            amount,
            seq,
            auth_valid_until_ms,
            holder_signature: auth.sign(auth_signer),
        };
        self.tx(site, TxBody::Redeem(r))
    }

    /// Executes `txs`, which must make the block invalid; the chain stays as it was.
    pub fn reject(&mut self, txs: &[SignedTransaction]) -> (u32, RuntimeError) {
        let before = self.ledger.clone();
        let height = self.height;
        let out = self.block(txs);
        assert_eq!(self.ledger, before);
        assert_eq!(self.height, height);
        match out {
            Err(RuntimeError::InvalidBlockTx { index, error }) => (index, *error),
            other => panic!("expected an invalid block, got {other:?}"),
        }
    }

    pub fn record(&self, key: StateKey) -> Option<Record> {
        self.ledger
            .state
            .get(&key.hash())
            .map(|b| Record::decode(b).unwrap())
    }

    pub fn coupon(&self, id: Hash) -> CouponRecord {
        match self.record(StateKey::Coupon(id)) {
            Some(Record::Coupon(c)) => c,
            other => panic!("no coupon {id}: {other:?}"),
        }
    }

    pub fn campaign(&self, id: Hash) -> CampaignRecord {
        match self.record(StateKey::Campaign(id)) {
            Some(Record::Campaign(c)) => c,
            other => panic!("no campaign {id}: {other:?}"),
        }
    }

    pub fn account(&self, key: PublicKey) -> Option<Account> {
        match self.record(StateKey::Account(key)) {
            None => None,
            Some(Record::Account(a)) => Some(a),
            other => panic!("not an account: {other:?}"),
        }
    }

    pub fn proposal(&self, id: Hash) -> ProposalRecord {
        match self.record(StateKey::Proposal(id)) {
            Some(Record::Proposal(p)) => p,
            other => panic!("no proposal {id}: {other:?}"),
        }
    }

    pub fn validators(&self) -> ValidatorsRecord {
        match self.record(StateKey::Validators) {
            Some(Record::Validators(v)) => v,
            other => panic!("no validator record: {other:?}"),
        }
    }

    pub fn received(&self, campaign: Hash, holder: PublicKey) -> u32 {
        match self.record(StateKey::Received { campaign, holder }) {
            None => 0,
            Some(Record::Received(n)) => n,
            other => panic!("not a received count: {other:?}"),
        }
    }

    /// Creates a campaign that must be accepted; returns its id.
    pub fn create_campaign(&mut self, issuer: &Keypair, spec: CampaignSpec) -> Hash {
        let tx = self.tx(issuer, TxBody::CreateCampaign(spec));
        let id = campaign_id(&tx.id());
        let r = self.submit(tx);
        assert_eq!(
            applied(&r),
            &[Event::CampaignCreated {
                campaign: id,
                issuer: issuer.public(),
            }]
        );
        id
    }

    /// Issues coupons that must be accepted; returns their ids in recipient order.
    pub fn issue_to(
        &mut self,
        issuer: &Keypair,
        campaign: Hash,
        recipients: Vec<Recipient>,
    ) -> Vec<Hash> {
        let tx = self.tx(
            issuer,
            TxBody::IssueCoupons {
                campaign,
                recipients: recipients.clone(),
            },
        );
        let txid = tx.id();
        let r = self.submit(tx);
        let ids: Vec<Hash> = (0..recipients.len() as u32)
            .map(|i| coupon_id(&txid, i))
            .collect();
        let expected: Vec<Event> = ids
            .iter()
            .zip(&recipients)
            .map(|(id, r)| Event::CouponIssued {
                coupon: *id,
                campaign,
                owner: r.owner,
                bearer: r.bearer,
            })
            .collect();
        assert_eq!(applied(&r), expected.as_slice());
        ids
    }

    /// Issues one coupon per wallet key.
    pub fn issue(&mut self, issuer: &Keypair, campaign: Hash, owners: &[&Keypair]) -> Vec<Hash> {
        self.issue_to(issuer, campaign, owners.iter().map(|k| to(k)).collect())
    }

    pub fn redeem(
        &mut self,
        site: &Keypair,
        holder: &Keypair,
        coupon: Hash,
        amount: u64,
        seq: u32,
    ) -> Receipt {
        let tx = self.redeem_tx(site, holder, coupon, amount, seq);
        self.submit(tx)
    }

    /// A redemption that must succeed; checks its event and returns what remains.
    pub fn redeem_ok(
        &mut self,
        site: &Keypair,
        holder: &Keypair,
        coupon: Hash,
        amount: u64,
        seq: u32,
    ) -> u64 {
        let campaign = self.coupon(coupon).campaign;
        let r = self.redeem(site, holder, coupon, amount, seq);
        let remaining = self.coupon(coupon).remaining;
        assert_eq!(
            applied(&r),
            &[Event::CouponRedeemed {
                coupon,
                campaign,
                holder: holder.public(),
                site: site.public(),
                amount,
                remaining,
            }]
        );
        remaining
    }

    pub fn refuse_redeem(
        &mut self,
        site: &Keypair,
        holder: &Keypair,
        coupon: Hash,
        amount: u64,
        seq: u32,
        code: &str,
    ) {
        let tx = self.redeem_tx(site, holder, coupon, amount, seq);
        self.refuse_tx(tx, code);
    }
}

/// A wallet recipient.
pub fn to(k: &Keypair) -> Recipient {
    Recipient {
        owner: k.public(),
        bearer: false,
    }
}

/// A bearer-code recipient: only the key derived from the code goes on chain.
pub fn bearer(code: &BearerCode) -> Recipient {
    Recipient {
        owner: code.keypair().public(),
        bearer: true,
    }
}

/// The events of an applied receipt; fails the test on a refusal.
pub fn applied(r: &Receipt) -> &[Event] {
    match &r.outcome {
        Outcome::Applied { events } => events,
        Outcome::Refused { code, message } => panic!("refused: {code}: {message}"),
    }
}

pub fn assert_refused(r: &Receipt, expected: &str) {
    match &r.outcome {
        Outcome::Refused { code, .. } => assert_eq!(code, expected, "{:?}", r.outcome),
        Outcome::Applied { events } => panic!("applied, expected {expected}: {events:?}"),
    }
}

/// A hash no record has.
pub fn nowhere(seed: u8) -> Hash {
    Hash([seed; 32])
}
