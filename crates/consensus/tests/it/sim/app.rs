//! The application each simulated validator runs beside its consensus core: its own
//! in-memory ledger (records, replay index and sparse Merkle state tree), a mempool, and
//! the node's three duties towards consensus — build a block (getValue()), check one
//! (valid(v)), apply a decided one.
//!
//! A block is a real chain [`Header`] plus its transactions; the value consensus agrees on
//! is the header hash, which commits to the height, the block time, the ordered
//! transactions (`tx_root` over their ids, and `tx_count`), the parent and the state root
//! after execution. Checking re-executes the transactions with `execute_block` (every
//! signature verified) on the validator's own state and compares every header field, so a
//! validator whose state diverged would refuse an honest block; the simulation treats
//! that as a failure.

use couponchain_chain::block::{tx_root, Block, BlockContext, Header, ValidatorSet};
use couponchain_chain::smt::{self, Chunk, ChunkPos};
use couponchain_chain::{Hash, PublicKey, SignedTransaction, TxId};
use couponchain_runtime::testkit::{CHAIN_ID, T0};
use couponchain_runtime::{
    execute_block, Executed, Genesis, Receipt, RuntimeError, SignatureCheck, StateReader,
    StoreError,
};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many transactions per block: small blocks keep debug-build runs fast.
pub const MAX_TXS_PER_BLOCK: usize = 4;

/// A block body, stored by the simulation beside the messages that name its hash.
#[derive(Clone, Debug)]
pub struct SimBlock {
    pub header: Header,
    pub txs: Vec<SignedTransaction>,
    /// Built by an honest validator's `ProposeBlock` (simulation bookkeeping, not hashed).
    pub honest: bool,
}

impl SimBlock {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }
}

/// One validator's committed state: what the node keeps durably.
#[derive(Clone, Debug)]
pub struct Ledger {
    records: BTreeMap<Hash, Vec<u8>>,
    txs: BTreeSet<TxId>,
    tree: BTreeMap<ChunkPos, Chunk>,
    /// State root after the last committed block.
    pub root: Hash,
    pub height: u64,
    /// Hash of the last committed header (zero before block 1).
    pub head: Hash,
    pub time_ms: u64,
}

impl StateReader for Ledger {
    fn get(&self, key: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.records.get(key).cloned())
    }
    fn tx_included(&self, id: &Hash) -> Result<bool, StoreError> {
        Ok(self.txs.contains(id))
    }
}

/// A block executed against the ledger, ready to apply if it is decided.
#[derive(Debug)]
pub struct Prepared {
    executed: Executed,
    ids: Vec<TxId>,
    root: Hash,
    writes: Vec<(ChunkPos, Option<Box<Chunk>>)>,
}

impl Ledger {
    pub fn genesis(g: &Genesis) -> Ledger {
        let records = g.initial_state().expect("genesis");
        let updates: Vec<(Hash, Option<Hash>)> = records
            .iter()
            .map(|(k, v)| (*k, Some(smt::value_hash(v))))
            .collect();
        let tree_update = smt::apply_updates(&BTreeMap::new(), &updates).expect("genesis tree");
        let mut tree = BTreeMap::new();
        for (pos, chunk) in tree_update.writes {
            if let Some(c) = chunk {
                tree.insert(pos, *c);
            }
        }
        Ledger {
            records,
            txs: BTreeSet::new(),
            tree,
            root: tree_update.root,
            height: 0,
            head: Hash::ZERO,
            time_ms: T0,
        }
    }

    /// Every record, tree key → encoded record.
    pub fn records(&self) -> &BTreeMap<Hash, Vec<u8>> {
        &self.records
    }

    pub fn included(&self, id: &TxId) -> bool {
        self.txs.contains(id)
    }

    /// Executes `txs` as the next block at `time_ms` and computes the new state root.
    fn execute(&self, time_ms: u64, txs: &[SignedTransaction]) -> Result<Prepared, RuntimeError> {
        let ctx = BlockContext {
            height: self.height + 1,
            time_ms,
        };
        let executed = execute_block(self, ctx, txs, SignatureCheck::Verify)?;
        let updates: Vec<(Hash, Option<Hash>)> = executed
            .changes
            .iter()
            .map(|(k, v)| (*k, v.as_deref().map(smt::value_hash)))
            .collect();
        let up = smt::apply_updates(&self.tree, &updates)
            .map_err(|e| RuntimeError::Store(StoreError(e.to_string())))?;
        Ok(Prepared {
            ids: txs.iter().map(|t| t.id()).collect(),
            executed,
            root: up.root,
            writes: up.writes,
        })
    }

    /// The header of a block of `txs` on this ledger, for an executed `p`.
    fn header(
        &self,
        p: &Prepared,
        time_ms: u64,
        proposer: PublicKey,
        set: &ValidatorSet,
    ) -> Header {
        Header {
            chain_id: CHAIN_ID.into(),
            height: self.height + 1,
            parent: self.head,
            time_ms,
            proposer,
            tx_root: tx_root(&p.ids),
            tx_count: p.ids.len() as u32,
            state_root: p.root,
            validators_hash: set.hash(),
            next_validators_hash: p.executed.next_validators.hash(),
        }
    }

    /// valid(v): the block extends this ledger, keeps time monotonic, and every header
    /// field matches what executing its transactions here gives.
    fn check(&self, b: &SimBlock, set: &ValidatorSet) -> Result<Prepared, String> {
        let h = &b.header;
        if h.chain_id != CHAIN_ID || h.height != self.height + 1 || h.parent != self.head {
            return Err(format!(
                "does not extend height {} {:?}",
                self.height, self.head
            ));
        }
        if h.time_ms < self.time_ms {
            return Err(format!(
                "time {} before the parent's {}",
                h.time_ms, self.time_ms
            ));
        }
        if !set.contains(&h.proposer) || h.validators_hash != set.hash() {
            return Err("wrong proposer or validator set".into());
        }
        let block = Block {
            header: h.clone(),
            txs: b.txs.clone(),
        };
        block.check_tx_root().map_err(|e| e.to_string())?;
        let p = self.execute(h.time_ms, &b.txs).map_err(|e| e.to_string())?;
        if self.header(&p, h.time_ms, h.proposer, set) != *h {
            return Err(format!(
                "header mismatch: state root {:?}, ours {:?}",
                h.state_root, p.root
            ));
        }
        Ok(p)
    }

    fn apply(&mut self, header: &Header, p: Prepared) -> Vec<Receipt> {
        for (k, v) in p.executed.changes {
            match v {
                Some(v) => self.records.insert(k, v),
                None => self.records.remove(&k),
            };
        }
        self.txs.extend(p.ids);
        for (pos, chunk) in p.writes {
            match chunk {
                Some(c) => self.tree.insert(pos, *c),
                None => self.tree.remove(&pos),
            };
        }
        self.root = p.root;
        self.height = header.height;
        self.head = header.hash();
        self.time_ms = header.time_ms;
        p.executed.receipts
    }
}

/// A validator's application: the durable ledger, plus what a crash loses.
#[derive(Debug)]
pub struct App {
    pub ledger: Ledger,
    /// Waiting transactions, in arrival order.
    mempool: Vec<(TxId, SignedTransaction)>,
    /// Blocks of the next height already executed (checked or built), by hash.
    prepared: BTreeMap<Hash, Prepared>,
}

impl App {
    pub fn new(ledger: Ledger) -> App {
        App {
            ledger,
            mempool: Vec::new(),
            prepared: BTreeMap::new(),
        }
    }

    /// Admission: a transaction already final or already waiting is ignored.
    pub fn submit(&mut self, tx: SignedTransaction) {
        let id = tx.id();
        if !self.ledger.included(&id) && !self.mempool.iter().any(|(i, _)| *i == id) {
            self.mempool.push((id, tx));
        }
    }

    /// The node lost its memory: the mempool and the executed-block cache.
    pub fn crash(&mut self) {
        self.mempool.clear();
        self.prepared.clear();
    }

    /// getValue(): a block of waiting transactions at `time_ms`, leaving out (and
    /// dropping) those that may not be included, as the node's producer does.
    pub fn build(&mut self, set: &ValidatorSet, proposer: PublicKey, time_ms: u64) -> SimBlock {
        let ledger = &self.ledger;
        self.mempool
            .retain(|(id, tx)| !ledger.included(id) && tx.tx.valid_until_ms >= time_ms);
        let mut txs: Vec<SignedTransaction> = self
            .mempool
            .iter()
            .take(MAX_TXS_PER_BLOCK)
            .map(|(_, t)| t.clone())
            .collect();
        loop {
            match self.ledger.execute(time_ms, &txs) {
                Ok(p) => {
                    let header = self.ledger.header(&p, time_ms, proposer, set);
                    let block = SimBlock {
                        header,
                        txs,
                        honest: true,
                    };
                    self.prepared.insert(block.hash(), p);
                    return block;
                }
                Err(RuntimeError::InvalidBlockTx { index, .. }) => {
                    let bad = txs.remove(index as usize).id();
                    self.mempool.retain(|(id, _)| *id != bad);
                }
                Err(e) => panic!("building a block failed: {e}"),
            }
        }
    }

    /// A block of exactly `txs` at `time_ms`, if they execute (a Byzantine proposer's
    /// alternative block).
    pub fn make(
        &mut self,
        set: &ValidatorSet,
        proposer: PublicKey,
        time_ms: u64,
        txs: Vec<SignedTransaction>,
    ) -> Option<SimBlock> {
        let p = self.ledger.execute(time_ms, &txs).ok()?;
        let header = self.ledger.header(&p, time_ms, proposer, set);
        Some(SimBlock {
            header,
            txs,
            honest: false,
        })
    }

    /// valid(v), remembering the execution for the commit.
    pub fn check(&mut self, b: &SimBlock, set: &ValidatorSet) -> Result<(), String> {
        let hash = b.hash();
        if self.prepared.contains_key(&hash) {
            return Ok(());
        }
        let p = self.ledger.check(b, set)?;
        self.prepared.insert(hash, p);
        Ok(())
    }

    /// Applies a decided block; returns its receipts.
    pub fn commit(&mut self, b: &SimBlock, set: &ValidatorSet) -> Result<Vec<Receipt>, String> {
        let p = match self.prepared.remove(&b.hash()) {
            Some(p) => p,
            None => self.ledger.check(b, set)?,
        };
        self.prepared.clear();
        let receipts = self.ledger.apply(&b.header, p);
        let ledger = &self.ledger;
        self.mempool
            .retain(|(id, tx)| !ledger.included(id) && tx.tx.valid_until_ms >= ledger.time_ms);
        Ok(receipts)
    }
}
