//! The mempool: transactions admitted (signatures checked, envelope valid) and waiting for
//! a block. Bounded in count, in bytes and per sender; blocks take from senders in turn, so
//! one key flooding the node cannot starve the others. Every refusal has a stable code.

use couponchain_chain::{PublicKey, Signature, SignedTransaction, TxId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("the mempool is full ({txs} transactions, {bytes} bytes); retry later")]
    Full { txs: usize, bytes: usize },
    #[error(
        "sender {sender} already has {pending} transactions waiting (limit {limit}); retry later"
    )]
    SenderQuota {
        sender: PublicKey,
        pending: usize,
        limit: usize,
    },
}

impl MempoolError {
    pub fn code(&self) -> &'static str {
        match self {
            MempoolError::Full { .. } => "mempool_full",
            MempoolError::SenderQuota { .. } => "sender_quota",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct MempoolLimits {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_per_sender: usize,
}

#[derive(Debug)]
struct Entry {
    id: TxId,
    /// Matches `Live::seq` while the entry is live; a removed entry stays in its queue
    /// until a block or a pruning pass reaches it (removal by id is O(1)).
    seq: u64,
    tx: SignedTransaction,
    bytes: usize,
    admitted: Instant,
}

/// What the pool knows of a live transaction without walking its sender's queue.
#[derive(Debug, Clone, Copy)]
struct Live {
    sender: PublicKey,
    /// The envelope signature (the only signed part the id does not cover).
    signature: Signature,
    seq: u64,
    bytes: usize,
}

/// A transaction leaving the pool for a block.
#[derive(Debug)]
pub struct Taken {
    pub id: TxId,
    pub tx: SignedTransaction,
    /// Its encoded size.
    pub bytes: usize,
    /// When it was admitted (for the finality-latency metric).
    pub admitted: Instant,
}

#[derive(Debug)]
pub struct Mempool {
    limits: MempoolLimits,
    /// FIFO per sender. A BTreeMap so iteration (pruning) is deterministic.
    queues: BTreeMap<PublicKey, VecDeque<Entry>>,
    /// Senders with waiting transactions, in the order blocks serve them.
    turn: VecDeque<PublicKey>,
    /// Live transactions (looked up, never iterated).
    ids: HashMap<TxId, Live>,
    /// Live transactions per sender (the queues may also hold removed entries).
    per_sender: HashMap<PublicKey, usize>,
    bytes: usize,
    next_seq: u64,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Mempool {
        Mempool {
            limits,
            queues: BTreeMap::new(),
            turn: VecDeque::new(),
            ids: HashMap::new(),
            per_sender: HashMap::new(),
            bytes: 0,
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.ids.contains_key(id)
    }

    /// True if exactly this signed transaction (id and envelope signature) is waiting:
    /// its signatures were checked on admission.
    pub fn contains_signed(&self, id: &TxId, tx: &SignedTransaction) -> bool {
        self.ids
            .get(id)
            .is_some_and(|l| l.signature == tx.signature && l.sender == tx.tx.signer)
    }

    /// Admits a transaction already checked by the caller. A transaction already waiting is
    /// accepted again without a second copy.
    pub fn insert(
        &mut self,
        id: TxId,
        tx: SignedTransaction,
        bytes: usize,
        admitted: Instant,
    ) -> Result<(), MempoolError> {
        if self.ids.contains_key(&id) {
            return Ok(());
        }
        if self.ids.len() >= self.limits.max_txs || self.bytes + bytes > self.limits.max_bytes {
            return Err(MempoolError::Full {
                txs: self.ids.len(),
                bytes: self.bytes,
            });
        }
        let sender = tx.tx.signer;
        let pending = self.per_sender.get(&sender).copied().unwrap_or(0);
        if pending >= self.limits.max_per_sender {
            return Err(MempoolError::SenderQuota {
                sender,
                pending,
                limit: self.limits.max_per_sender,
            });
        }
        let queue = self.queues.entry(sender).or_default();
        if queue.is_empty() {
            self.turn.push_back(sender);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let signature = tx.signature;
        queue.push_back(Entry {
            id,
            seq,
            tx,
            bytes,
            admitted,
        });
        self.ids.insert(
            id,
            Live {
                sender,
                signature,
                seq,
                bytes,
            },
        );
        *self.per_sender.entry(sender).or_default() += 1;
        self.bytes += bytes;
        Ok(())
    }

    fn is_live(&self, e: &Entry) -> bool {
        self.ids.get(&e.id).is_some_and(|l| l.seq == e.seq)
    }

    fn forget(&mut self, id: &TxId) -> Option<Live> {
        let live = self.ids.remove(id)?;
        self.bytes -= live.bytes;
        if let Some(n) = self.per_sender.get_mut(&live.sender) {
            *n -= 1;
            if *n == 0 {
                self.per_sender.remove(&live.sender);
            }
        }
        Some(live)
    }

    /// Removes transactions that another node's block included (or that are otherwise
    /// settled); returns how many were waiting here.
    pub fn remove_all<'a>(&mut self, ids: impl IntoIterator<Item = &'a TxId>) -> usize {
        ids.into_iter()
            .filter(|id| self.forget(id).is_some())
            .count()
    }

    /// Removes and returns up to `max_txs` transactions (and about `max_bytes`), taking one
    /// from each sender in turn, each sender's in submission order.
    pub fn take_batch(&mut self, max_txs: usize, max_bytes: usize) -> Vec<Taken> {
        let mut out = Vec::new();
        let mut taken_bytes = 0;
        while out.len() < max_txs {
            let Some(sender) = self.turn.pop_front() else {
                break;
            };
            let Some(mut queue) = self.queues.remove(&sender) else {
                continue;
            };
            while queue.front().is_some_and(|e| !self.is_live(e)) {
                queue.pop_front();
            }
            let Some(next) = queue.front() else {
                continue;
            };
            if !out.is_empty() && taken_bytes + next.bytes > max_bytes {
                self.queues.insert(sender, queue);
                self.turn.push_front(sender);
                break;
            }
            if let Some(e) = queue.pop_front() {
                taken_bytes += e.bytes;
                self.forget(&e.id);
                out.push(Taken {
                    id: e.id,
                    tx: e.tx,
                    bytes: e.bytes,
                    admitted: e.admitted,
                });
            }
            if !queue.is_empty() {
                self.queues.insert(sender, queue);
                self.turn.push_back(sender);
            }
        }
        out
    }

    /// Drops transactions whose validity window has closed at chain time `now_ms` (and the
    /// entries of removed ones); returns the ids of the expired.
    pub fn prune_expired(&mut self, now_ms: u64) -> Vec<TxId> {
        let mut dropped = Vec::new();
        let ids = &self.ids;
        for queue in self.queues.values_mut() {
            queue.retain(|e| {
                if ids.get(&e.id).is_none_or(|l| l.seq != e.seq) {
                    false
                } else if e.tx.tx.valid_until_ms < now_ms {
                    dropped.push(e.id);
                    false
                } else {
                    true
                }
            });
        }
        for id in &dropped {
            self.forget(id);
        }
        self.queues.retain(|_, q| !q.is_empty());
        let queues = &self.queues;
        self.turn.retain(|s| queues.contains_key(s));
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponchain_chain::tx::TxBody;
    use couponchain_chain::{Hash, Keypair, Transaction};

    fn tx(k: &Keypair, nonce: u64, valid_until_ms: u64) -> (TxId, SignedTransaction) {
        let t = Transaction {
            chain_id: "c".into(),
            signer: k.public(),
            nonce,
            valid_until_ms,
            body: TxBody::RevokeCoupon {
                coupon: Hash([1; 32]),
            },
        }
        .sign(k);
        (t.id(), t)
    }

    fn pool(max_txs: usize, max_bytes: usize, max_per_sender: usize) -> Mempool {
        Mempool::new(MempoolLimits {
            max_txs,
            max_bytes,
            max_per_sender,
        })
    }

    #[test]
    fn blocks_take_senders_in_turn_and_each_in_order() {
        let (a, b) = (Keypair::from_seed("a"), Keypair::from_seed("b"));
        let mut m = pool(100, 1 << 20, 100);
        for n in 0..5 {
            let (id, t) = tx(&a, n, 10);
            m.insert(id, t, 100, Instant::now()).unwrap();
        }
        let (id, t) = tx(&b, 0, 10);
        m.insert(id, t, 100, Instant::now()).unwrap();
        let batch = m.take_batch(3, 1 << 20);
        let who: Vec<(PublicKey, u64)> = batch
            .iter()
            .map(|t| (t.tx.tx.signer, t.tx.tx.nonce))
            .collect();
        assert_eq!(who, vec![(a.public(), 0), (b.public(), 0), (a.public(), 1)]);
        assert_eq!(m.len(), 3);
        assert_eq!(m.bytes(), 300);
        let rest = m.take_batch(10, 1 << 20);
        assert_eq!(
            rest.iter().map(|t| t.tx.tx.nonce).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert!(m.is_empty());
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn bounds_refuse_with_reasons() {
        let (a, b) = (Keypair::from_seed("a"), Keypair::from_seed("b"));
        let mut m = pool(3, 1 << 20, 2);
        for n in 0..2 {
            let (id, t) = tx(&a, n, 10);
            m.insert(id, t, 10, Instant::now()).unwrap();
        }
        let (id, t) = tx(&a, 2, 10);
        assert_eq!(
            m.insert(id, t, 10, Instant::now()).unwrap_err().code(),
            "sender_quota"
        );
        let (id, t) = tx(&b, 0, 10);
        m.insert(id, t, 10, Instant::now()).unwrap();
        let (id, t) = tx(&b, 1, 10);
        assert_eq!(
            m.insert(id, t, 10, Instant::now()).unwrap_err().code(),
            "mempool_full"
        );
        // Byte bound.
        let mut m = pool(100, 250, 100);
        let (id, t) = tx(&a, 0, 10);
        m.insert(id, t, 200, Instant::now()).unwrap();
        let (id, t) = tx(&a, 1, 10);
        assert!(matches!(
            m.insert(id, t, 100, Instant::now()),
            Err(MempoolError::Full { .. })
        ));
        // Re-inserting a waiting transaction is a no-op.
        let (id, t) = tx(&a, 0, 10);
        m.insert(id, t, 200, Instant::now()).unwrap();
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn batches_respect_the_byte_budget_and_pruning_drops_expired() {
        let a = Keypair::from_seed("a");
        let mut m = pool(100, 1 << 20, 100);
        for n in 0..6 {
            let (id, t) = tx(&a, n, if n % 2 == 0 { 5 } else { 50 });
            m.insert(id, t, 100, Instant::now()).unwrap();
        }
        assert_eq!(m.take_batch(10, 250).len(), 2);
        let dropped = m.prune_expired(10);
        assert_eq!(dropped.len(), 2); // nonces 2 and 4
        assert_eq!(m.len(), 2);
        assert_eq!(m.bytes(), 200);
        assert_eq!(m.take_batch(10, 1 << 20).len(), 2);
    }

    #[test]
    fn removed_transactions_leave_no_trace() {
        let (a, b) = (Keypair::from_seed("a"), Keypair::from_seed("b"));
        let mut m = pool(100, 1 << 20, 3);
        let mut ids = Vec::new();
        for n in 0..3 {
            let (id, t) = tx(&a, n, 10);
            assert!(!m.contains_signed(&id, &t));
            m.insert(id, t.clone(), 100, Instant::now()).unwrap();
            assert!(m.contains_signed(&id, &t));
            let mut forged = t.clone();
            forged.signature.0[0] ^= 1;
            assert!(!m.contains_signed(&id, &forged));
            ids.push(id);
        }
        let (idb, tb) = tx(&b, 0, 10);
        m.insert(idb, tb, 100, Instant::now()).unwrap();
        assert_eq!(m.remove_all(&[ids[0], ids[2], TxId::default()]), 2);
        assert_eq!((m.len(), m.bytes()), (2, 200));
        // The sender's quota counts live transactions only.
        let (id3, t3) = tx(&a, 3, 10);
        m.insert(id3, t3, 100, Instant::now()).unwrap();
        let batch = m.take_batch(10, 1 << 20);
        let nonces: Vec<(PublicKey, u64)> = batch
            .iter()
            .map(|t| (t.tx.tx.signer, t.tx.tx.nonce))
            .collect();
        assert_eq!(
            nonces,
            vec![(a.public(), 1), (b.public(), 0), (a.public(), 3)]
        );
        assert!(m.is_empty());
        assert_eq!(m.bytes(), 0);
        assert!(m.prune_expired(0).is_empty());
    }
}
