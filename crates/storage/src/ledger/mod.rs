//! Opening the ledger, executing blocks against it, and committing them atomically.
//! The write path is in [`write`]; the runtime's view of committed state in [`reader`].

mod checkpoint;
mod reader;
mod write;

use crate::error::StorageError;
use crate::tables::{self, height_key};
use crate::tip::{Staged, TipView};
use crate::tree::{CachedTree, ChunkCache, Overlay, WarmStats};
use checkpoint::{Checkpointer, TableFile};
use couponchain_chain::block::{tx_root, BlockContext, CommitCertificate, ValidatorSet};
use couponchain_chain::smt::{self, TreeUpdate};
use couponchain_chain::{encoding, Block, Hash, Header, PublicKey, SignedTransaction};
use couponchain_runtime::{execute_block, Executed, Genesis, Receipt, SignatureCheck, StateReader};
use rocksdb::{ColumnFamily, Options, WriteBatch, DB};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Tuning knobs; the defaults suit a validator with a few million coupons.
#[derive(Clone, Debug)]
pub struct LedgerOptions {
    /// RocksDB block cache shared by all column families.
    pub block_cache_bytes: usize,
    /// Memory for committed state-tree chunks (compact encoding, ~300 bytes each on average;
    /// a tree of a million keys has ~360,000 chunks).
    pub tree_cache_bytes: usize,
    /// All memtables together, at most (each column family's is at most half of it).
    pub write_buffer_bytes: usize,
    /// Upper bound on flush and compaction writes per second (0: unlimited).
    pub compaction_rate_bytes: u64,
    /// fsync the write-ahead log on every commit, so a committed block survives power loss
    /// and not only a process crash.
    pub sync_writes: bool,
    /// State-tree chunks changed by committed blocks are held in memory, with only the
    /// changed keys journalled per block, until they weigh this much; then a background
    /// checkpoint writes them all at once (chunks that several blocks rewrote, once). Twice
    /// this bounds the memory they take. 0: every block writes its chunks itself.
    pub tree_flush_bytes: u64,
    /// A checkpoint is also written once this many blocks are journalled, however little
    /// they changed, so an idle chain's journal (read at every start) stays short.
    pub tree_flush_blocks: u64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            block_cache_bytes: 256 << 20,
            tree_cache_bytes: 256 << 20,
            write_buffer_bytes: 256 << 20,
            compaction_rate_bytes: 0,
            sync_writes: true,
            tree_flush_bytes: 64 << 20,
            tree_flush_blocks: 2048,
        }
    }
}

/// The last committed block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub height: u64,
    pub hash: Hash,
    pub state_root: Hash,
    pub time_ms: u64,
}

/// A block executed against the current head and found consistent with its header: the
/// only thing [`Ledger::commit`] accepts.
#[derive(Debug)]
pub struct PreparedBlock {
    pub block: Block,
    pub executed: Executed,
    tree: TreeUpdate,
    parent: Hash,
}

impl PreparedBlock {
    pub fn receipts(&self) -> &[Receipt] {
        &self.executed.receipts
    }

    /// Roughly how many bytes the block's write batch will take, so that it is allocated once
    /// instead of doubling through a 10 MB block: over for redemptions, up to ~12 % under
    /// for a large issuance (then it doubles once).
    pub(crate) fn write_bytes_estimate(&self) -> usize {
        4096 + self.block.txs.len() * 900
            + self.executed.changes.len() * 320
            + self.tree.writes.len() * 420
    }

    pub(crate) fn tree_writes(
        &self,
    ) -> &[(couponchain_chain::smt::ChunkPos, Option<Box<smt::Chunk>>)] {
        &self.tree.writes
    }
}

/// A block that is the ledger's tip and is being made durable; see [`Ledger::stage`].
#[derive(Debug)]
pub struct StagedBlock {
    staged: Arc<Staged>,
    cert: Option<CommitCertificate>,
}

impl StagedBlock {
    pub fn header(&self) -> &Header {
        &self.staged.prepared.block.header
    }

    pub fn receipts(&self) -> &[Receipt] {
        &self.staged.prepared.executed.receipts
    }
}

#[derive(Debug)]
pub struct Ledger {
    /// Declared first so that it is dropped first: dropping it waits for the checkpoint in
    /// flight, which holds the database.
    checkpointer: Option<Checkpointer>,
    db: Arc<DB>,
    /// The last durable block.
    head: RwLock<Head>,
    /// The block being made durable, if any (the tip when present).
    staged: RwLock<Option<Arc<Staged>>>,
    tree_cache: Arc<ChunkCache>,
    /// Chunks of committed blocks not yet checkpointed to the tree column family.
    overlay: Arc<Overlay>,
    genesis: Genesis,
    opts: LedgerOptions,
}

const HEAD_KEY: &[u8] = b"head";
const GENESIS_KEY: &[u8] = b"genesis";

impl Ledger {
    /// Opens the ledger at `path`, creating it from `genesis` if it is empty. An existing
    /// ledger must have been created from the same genesis.
    pub fn open(
        path: &Path,
        genesis: &Genesis,
        opts: LedgerOptions,
    ) -> Result<Ledger, StorageError> {
        let cache = rocksdb::Cache::new_lru_cache(opts.block_cache_bytes);
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_open_files(512);
        // All column families' memtables together stay under this, whatever each may grow to.
        db_opts.set_db_write_buffer_size(opts.write_buffer_bytes);
        if opts.compaction_rate_bytes > 0 {
            // Flushes and compactions write at most this fast: their CPU arrives spread out
            // instead of in bursts that stall block execution. A fixed rate, not RocksDB's
            // auto-tuned one: that one sinks to a twentieth of the rate while writes are
            // quiet, and the first flushes after a quiet minute then crawled — a state-tree
            // flush took 54 s for 0.5 s of CPU, writes stopped behind three full memtables
            // and two validators' blocks with them: no block final for 47 s.
            let rate = i64::try_from(opts.compaction_rate_bytes).unwrap_or(i64::MAX);
            db_opts.set_ratelimiter(rate, 100_000, 10);
        }
        // Flushes and compactions ask the kernel to write their files out every MiB as they
        // go, instead of leaving it gigabytes of dirty pages to write in one burst when the
        // file is synced — a burst every other fsync on the disk (block commits, the signing
        // state, the other nodes of a localnet) would queue behind. RocksDB's own advice;
        // under the localnet's half-rate load its effect was within the run-to-run noise.
        db_opts.set_bytes_per_sync(1 << 20);
        // Likewise the log: a tree checkpoint appends tens of MB to it without syncing, and
        // the next block's fsync would otherwise write them all out before it returns.
        db_opts.set_wal_bytes_per_sync(1 << 20);
        let tree_buffer = opts.write_buffer_bytes / 2;
        let table_file = || TableFile {
            path: path.join("tree-checkpoint.partial"),
            opts: tables::options(&tables::TREE, &cache, tree_buffer),
        };
        let db = DB::open_cf_descriptors(
            &db_opts,
            path,
            tables::descriptors(&cache, opts.write_buffer_bytes / 2),
        )?;
        let mut ledger = Ledger {
            checkpointer: None,
            db: Arc::new(db),
            head: RwLock::new(Head {
                height: 0,
                hash: Hash::ZERO,
                state_root: Hash::ZERO,
                time_ms: 0,
            }),
            staged: RwLock::new(None),
            tree_cache: Arc::new(crate::tree::new_cache(opts.tree_cache_bytes)),
            overlay: Arc::new(Overlay::new(0)),
            genesis: genesis.clone(),
            opts,
        };
        let stored_genesis = ledger.db.get_cf(ledger.cf(tables::META)?, GENESIS_KEY)?;
        match stored_genesis {
            None => ledger.init_genesis()?,
            Some(bytes) => {
                let found: Genesis = decode_genesis(&bytes)?;
                if found.chain_id != genesis.chain_id {
                    return Err(StorageError::WrongChain {
                        expected: genesis.chain_id.clone(),
                        found: found.chain_id,
                    });
                }
                if &found != genesis {
                    return Err(StorageError::GenesisMismatch {
                        expected: genesis_hash(genesis),
                        found: genesis_hash(&found),
                    });
                }
                let head = ledger
                    .db
                    .get_cf(ledger.cf(tables::META)?, HEAD_KEY)?
                    .ok_or_else(|| StorageError::Corrupt("genesis present but no head".into()))?;
                *ledger.head_mut() = encoding::decode(&head)?;
                ledger.recover_tree(&table_file())?;
            }
        }
        if ledger.opts.tree_flush_bytes > 0 {
            ledger.checkpointer = Some(Checkpointer::start(
                ledger.db.clone(),
                table_file(),
                ledger.tree_cache.clone(),
                ledger.overlay.clone(),
            )?);
        }
        Ok(ledger)
    }

    /// Brings the tree column family up to the head if the process stopped before the last
    /// blocks' chunks were checkpointed: their journalled keys are set to the values the
    /// state column family holds, the root is checked against the head's, and the chunks
    /// are written (synced) as one checkpoint.
    fn recover_tree(&mut self, file: &TableFile) -> Result<(), StorageError> {
        let head = self.head();
        let persisted = checkpoint::persisted_tree(&self.db, head.height)?;
        if persisted < head.height {
            let started = std::time::Instant::now();
            let keys = checkpoint::journalled_keys(&self.db, persisted + 1, head.height)?;
            let values = self.get_many(&keys)?;
            let updates = hashed_updates(keys.iter().zip(values.iter().map(|v| v.as_deref())));
            // Read without filling the cache: the chunks read are the ones replaced.
            let tree = smt::apply_updates_parallel(&self.tree_for_queries(), &updates)?;
            if tree.root != head.state_root {
                return Err(StorageError::Corrupt(format!(
                    "the state tree recomputed for blocks {}..={} has root {}, the head's is {}",
                    persisted + 1,
                    head.height,
                    tree.root,
                    head.state_root
                )));
            }
            let mut layer = crate::tree::Layer {
                height: head.height,
                root: head.state_root,
                ..Default::default()
            };
            for (pos, chunk) in &tree.writes {
                layer.put(*pos, chunk.as_ref().map(|c| c.encode()));
            }
            checkpoint::write_layer(&self.db, file, &layer, true)?;
            tracing::info!(
                blocks = head.height - persisted,
                keys = keys.len(),
                chunks = layer.chunks.len(),
                ms = started.elapsed().as_millis() as u64,
                "state tree brought up to the head from the journal"
            );
        }
        self.overlay = Arc::new(Overlay::new(head.height));
        Ok(())
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn chain_id(&self) -> &str {
        &self.genesis.chain_id
    }

    /// The last block that is durable (final): what queries see.
    pub fn head(&self) -> Head {
        match self.head.read() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn staged(&self) -> Option<Arc<Staged>> {
        match self.staged.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_staged(&self, value: Option<Arc<Staged>>) {
        match self.staged.write() {
            Ok(mut s) => *s = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    /// The block the next one builds on: the staged block if one is being written, else
    /// the durable head.
    pub fn tip(&self) -> Head {
        match self.staged() {
            Some(s) => s.head.clone(),
            None => self.head(),
        }
    }

    fn tip_view(&self) -> (Head, TipView<'_>) {
        let staged = self.staged();
        let head = match &staged {
            Some(s) => s.head.clone(),
            None => self.head(),
        };
        (
            head,
            TipView {
                ledger: self,
                staged,
            },
        )
    }

    fn head_mut(&self) -> std::sync::RwLockWriteGuard<'_, Head> {
        match self.head.write() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub(crate) fn db(&self) -> &DB {
        &self.db
    }

    /// Whether writes wait for the disk (every block's does, unless configured off).
    pub(crate) fn syncs_writes(&self) -> bool {
        self.opts.sync_writes
    }

    pub(crate) fn cf(&self, t: tables::Table) -> Result<&ColumnFamily, StorageError> {
        self.db
            .cf_handle(t.name)
            .ok_or_else(|| StorageError::Corrupt(format!("column family {} missing", t.name)))
    }

    /// Loads the committed state tree into the chunk cache, top levels first, until the cache
    /// is nine-tenths full: after a restart, blocks then find their chunks in memory
    /// instead of reading each one cold through RocksDB. Call it right after
    /// [`Ledger::open`], before any block is committed (it reads the tree as committed at
    /// that moment). One sequential read of the tree column family: at 2.7 M coupons, 1.04 M
    /// chunks (210 MB) in 1.9–4.9 s with five nodes starting at once on the 2-core
    /// development machine.
    pub fn warm_tree_cache(&self) -> Result<WarmStats, StorageError> {
        Ok(crate::tree::warm(&self.db, &self.tree_cache, 0.9)?)
    }

    pub(crate) fn tree_cache(&self) -> &ChunkCache {
        &self.tree_cache
    }

    /// The committed tree as block execution reads it: chunks read from RocksDB are
    /// remembered in the cache.
    pub(crate) fn tree(&self) -> CachedTree<'_> {
        CachedTree {
            db: &self.db,
            cache: &self.tree_cache,
            overlay: &self.overlay,
            remember: true,
        }
    }

    /// The committed tree for queries, which run beside commits: they read through the
    /// overlay and the cache but put nothing in the cache (a chunk read just before a
    /// checkpoint lands could otherwise replace the newer one there).
    pub(crate) fn tree_for_queries(&self) -> CachedTree<'_> {
        CachedTree {
            remember: false,
            ..self.tree()
        }
    }

    pub(crate) fn overlay(&self) -> &Overlay {
        &self.overlay
    }

    pub(crate) fn checkpointer(&self) -> Option<&Checkpointer> {
        self.checkpointer.as_ref()
    }

    fn init_genesis(&mut self) -> Result<(), StorageError> {
        let state = self.genesis.initial_state()?;
        let updates = hashed_updates(state.iter().map(|(k, v)| (k, Some(v.as_slice()))));
        let tree = smt::apply_updates(&self.tree(), &updates)?;
        let set = self.genesis.validator_set();
        let header = Header {
            chain_id: self.genesis.chain_id.clone(),
            height: 0,
            parent: Hash::ZERO,
            time_ms: self.genesis.genesis_time_ms,
            proposer: PublicKey([0u8; 32]),
            tx_root: Hash::ZERO,
            tx_count: 0,
            state_root: tree.root,
            validators_hash: set.hash(),
            next_validators_hash: set.hash(),
        };
        let block = Block {
            header,
            txs: Vec::new(),
        };
        let executed = Executed {
            receipts: Vec::new(),
            changes: state.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            validators: set.clone(),
            next_validators: set,
        };
        let prepared = PreparedBlock {
            block,
            executed,
            tree,
            parent: Hash::ZERO,
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(tables::META)?,
            GENESIS_KEY,
            encoding::encode(&GenesisRecord::from(&self.genesis)),
        );
        self.write_block(batch, &prepared, None)?;
        tracing::info!(chain_id = %self.genesis.chain_id, root = %self.head().state_root, "initialised ledger from genesis");
        Ok(())
    }

    /// The context of the next block at `time_ms`.
    fn next_context(&self, head: &Head, time_ms: u64) -> BlockContext {
        BlockContext {
            height: head.height + 1,
            time_ms,
        }
    }

    /// Executes `txs` as the next block (a proposer's view): builds the header. The caller
    /// must have removed transactions that cannot be included; the error names the first
    /// such one ([`couponchain_runtime::RuntimeError::InvalidBlockTx`]).
    pub fn prepare_proposal(
        &self,
        txs: Vec<SignedTransaction>,
        time_ms: u64,
        proposer: PublicKey,
        sigs: SignatureCheck<'_>,
    ) -> Result<PreparedBlock, StorageError> {
        let (head, view) = self.tip_view();
        let time_ms = time_ms.max(head.time_ms);
        let ctx = self.next_context(&head, time_ms);
        let executed = execute_block(&view, ctx, &txs, sigs)?;
        let tree = tree_update(&view, &executed)?;
        // The receipts carry the ids execution computed: no need to hash every tx again.
        let ids: Vec<Hash> = executed.receipts.iter().map(|r| r.tx).collect();
        let header = Header {
            chain_id: self.genesis.chain_id.clone(),
            height: ctx.height,
            parent: head.hash,
            time_ms,
            proposer,
            tx_root: tx_root(&ids),
            tx_count: txs.len() as u32,
            state_root: tree.root,
            validators_hash: executed.validators.hash(),
            next_validators_hash: executed.next_validators.hash(),
        };
        Ok(PreparedBlock {
            block: Block { header, txs },
            executed,
            tree,
            parent: head.hash,
        })
    }

    /// Checks a block received from elsewhere against the head and by executing it.
    pub fn prepare_block(
        &self,
        block: Block,
        sigs: SignatureCheck<'_>,
    ) -> Result<PreparedBlock, StorageError> {
        let (head, view) = self.tip_view();
        let h = &block.header;
        if h.chain_id != self.genesis.chain_id {
            return Err(StorageError::WrongChain {
                expected: self.genesis.chain_id.clone(),
                found: h.chain_id.clone(),
            });
        }
        if h.height != head.height + 1 {
            return Err(StorageError::NotNext {
                head: head.height,
                got: h.height,
            });
        }
        if h.parent != head.hash {
            return Err(StorageError::WrongParent {
                expected: head.hash,
                got: h.parent,
            });
        }
        if h.time_ms < head.time_ms {
            return Err(StorageError::TimeWentBack {
                parent: head.time_ms,
                got: h.time_ms,
            });
        }
        block.check_tx_root()?;
        let executed = execute_block(&view, h.context(), &block.txs, sigs)?;
        let tree = tree_update(&view, &executed)?;
        let check = |field: &'static str, header: Hash, computed: Hash| {
            if header == computed {
                Ok(())
            } else {
                Err(StorageError::HeaderMismatch {
                    field,
                    header: header.to_hex(),
                    computed: computed.to_hex(),
                })
            }
        };
        check("state_root", h.state_root, tree.root)?;
        check(
            "validators_hash",
            h.validators_hash,
            executed.validators.hash(),
        )?;
        check(
            "next_validators_hash",
            h.next_validators_hash,
            executed.next_validators.hash(),
        )?;
        Ok(PreparedBlock {
            block,
            executed,
            tree,
            parent: head.hash,
        })
    }

    /// Commits a prepared block (and the certificate that made it final, if known) in one
    /// atomic batch. Returns once the batch is durable. Equivalent to [`Ledger::stage`]
    /// followed by [`Ledger::write_staged`].
    pub fn commit(
        &self,
        prepared: PreparedBlock,
        cert: Option<&CommitCertificate>,
    ) -> Result<Vec<Receipt>, StorageError> {
        let staged = self.stage(prepared, cert.cloned())?;
        self.write_staged(staged)
    }

    /// Makes a prepared block the tip: the next `prepare_*` builds on it at once. It is not
    /// durable — not final, not visible to queries — until [`Ledger::write_staged`] returns.
    /// Refused while another block is staged, or if the block does not follow the tip.
    pub fn stage(
        &self,
        prepared: PreparedBlock,
        cert: Option<CommitCertificate>,
    ) -> Result<StagedBlock, StorageError> {
        let mut slot = match self.staged.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(busy) = slot.as_ref() {
            return Err(StorageError::PipelineBusy {
                height: busy.head.height,
            });
        }
        let head = self.head();
        if prepared.parent != head.hash {
            return Err(StorageError::StalePrepared {
                prepared_on: prepared.parent,
                head: head.hash,
            });
        }
        let new_head = Head {
            height: prepared.block.header.height,
            hash: prepared.block.hash(),
            state_root: prepared.tree.root,
            time_ms: prepared.block.header.time_ms,
        };
        let staged = Arc::new(Staged::new(prepared, new_head));
        *slot = Some(staged.clone());
        Ok(StagedBlock { staged, cert })
    }

    /// Writes the staged block durably (one fsync'd batch), then makes it the head.
    /// On failure the staged block is dropped: the tip falls back to the durable head.
    pub fn write_staged(&self, block: StagedBlock) -> Result<Vec<Receipt>, StorageError> {
        let result = self.write_block(
            WriteBatch::with_capacity_bytes(block.staged.prepared.write_bytes_estimate()),
            &block.staged.prepared,
            block.cert.as_ref(),
        );
        self.set_staged(None);
        result?;
        Ok(block.staged.prepared.executed.receipts.clone())
    }

    /// Stores a certificate for an already committed block (e.g. one that arrives later).
    pub fn store_certificate(&self, cert: &CommitCertificate) -> Result<(), StorageError> {
        self.db.put_cf(
            self.cf(tables::CERTS)?,
            height_key(cert.height),
            encoding::encode(cert),
        )?;
        Ok(())
    }

    /// The validator set that certifies block `height + 1` as of the head.
    pub fn next_validator_set(&self) -> Result<ValidatorSet, StorageError> {
        let head = self.head();
        validators_at(
            self.record(couponchain_runtime::StateKey::Validators)?,
            head.height + 1,
        )
    }

    /// The set that certifies the block after the tip (the staged block when one is being
    /// written): what a block built now must be certified by.
    pub fn validator_set_after_tip(&self) -> Result<ValidatorSet, StorageError> {
        let (head, view) = self.tip_view();
        let key = couponchain_runtime::StateKey::Validators.hash();
        let record = match view.get(&key).map_err(StorageError::from)? {
            None => None,
            Some(v) => Some(
                couponchain_runtime::Record::decode(&v)
                    .map_err(|e| StorageError::Corrupt(format!("validator record: {e}")))?,
            ),
        };
        validators_at(record, head.height + 1)
    }
}

fn validators_at(
    record: Option<couponchain_runtime::Record>,
    height: u64,
) -> Result<ValidatorSet, StorageError> {
    match record {
        Some(couponchain_runtime::Record::Validators(v)) => Ok(v.set_at(height).clone()),
        Some(_) => Err(StorageError::Corrupt(
            "validator record of the wrong kind".into(),
        )),
        None => Err(StorageError::Corrupt("validator set missing".into())),
    }
}

/// The genesis as stored: its canonical encoding (JSON is for people; the stored copy must
/// compare exactly).
#[derive(Serialize, Deserialize)]
struct GenesisRecord(Genesis);

impl From<&Genesis> for GenesisRecord {
    fn from(g: &Genesis) -> Self {
        GenesisRecord(g.clone())
    }
}

fn decode_genesis(bytes: &[u8]) -> Result<Genesis, StorageError> {
    let r: GenesisRecord = encoding::decode(bytes)?;
    Ok(r.0)
}

/// A stable hash of a genesis document, for error messages and the RPC.
pub fn genesis_hash(g: &Genesis) -> Hash {
    couponchain_chain::hash::hash_parts(b"couponchain/genesis/v1", &[&encoding::encode(g)])
}

fn tree_update(view: &TipView<'_>, executed: &Executed) -> Result<TreeUpdate, StorageError> {
    let updates = hashed_updates(executed.changes.iter().map(|(k, v)| (k, v.as_deref())));
    Ok(smt::apply_updates_parallel(view, &updates)?)
}

/// State changes (key → new value, or `None` for a deletion) as the tree's updates (key →
/// value hash), in the same order.
fn hashed_updates<'a>(
    changes: impl Iterator<Item = (&'a Hash, Option<&'a [u8]>)>,
) -> Vec<(Hash, Option<Hash>)> {
    changes.map(|(k, v)| (*k, v.map(smt::value_hash))).collect()
}
