//! Batch updates of the tree and proof generation.

use super::{Chunk, ChunkPos, ChunkStore, Slot, StateProof, Terminal};
use crate::hash::Hash;
use crate::ChainError;

/// The result of applying one block's changes: the new root and every chunk to write
/// (`None`: delete). Each position appears at most once. Chunks are boxed: a decoded chunk
/// is ~1 KiB, and a 10,000-key update writes ~30,000 of them — inline, the growing vector
/// was copied and page-faulted afresh on every block.
#[derive(Debug, Default)]
pub struct TreeUpdate {
    pub root: Hash,
    pub writes: Vec<(ChunkPos, Option<Box<Chunk>>)>,
}

/// Applies `updates` (key → new value hash, or `None` to delete), which must be sorted by
/// key without duplicates, to the tree in `store`. Reads each affected chunk once and
/// returns each changed chunk once: O(changed keys × depth).
pub fn apply_updates(
    store: &impl ChunkStore,
    updates: &[(Hash, Option<Hash>)],
) -> Result<TreeUpdate, ChainError> {
    check_sorted(updates)?;
    let existing = store.get_chunk(&ChunkPos::ROOT)?;
    let mut out = TreeUpdate::default();
    if updates.is_empty() {
        out.root = existing.map(|c| c.hash()).unwrap_or(Hash::ZERO);
        return Ok(out);
    }
    let slot = update_chunk(store, ChunkPos::ROOT, existing, updates, &mut out.writes)?;
    out.root = slot.hash();
    Ok(out)
}

/// Below this many updates [`apply_updates_parallel`] does not start a second thread.
pub const PARALLEL_MIN_UPDATES: usize = 512;

/// [`apply_updates`] on two threads: the updates are cut at a first-nibble boundary near
/// their middle, and each half updates its own subtrees of the root chunk (they share no
/// chunk below it). The result — root and writes, in the same order — is exactly
/// `apply_updates`'s; only the wall time differs.
pub fn apply_updates_parallel<S: ChunkStore + Sync>(
    store: &S,
    updates: &[(Hash, Option<Hash>)],
) -> Result<TreeUpdate, ChainError> {
    if updates.len() < PARALLEL_MIN_UPDATES {
        return apply_updates(store, updates);
    }
    check_sorted(updates)?;
    let existing = store.get_chunk(&ChunkPos::ROOT)?;
    let existed = existing.is_some();
    let base = existing.unwrap_or_default();
    let cut_nibble = updates[updates.len() / 2].0.nibble(0);
    let cut = updates.partition_point(|u| u.0.nibble(0) < cut_nibble);
    let (left, right) = updates.split_at(cut);
    let half = |ups: &[(Hash, Option<Hash>)]| -> Result<(Chunk, Writes), ChainError> {
        let mut chunk = base.clone();
        let mut writes = Writes::new();
        update_groups(store, ChunkPos::ROOT, &mut chunk, ups, &mut writes)?;
        Ok((chunk, writes))
    };
    let (l, r) = std::thread::scope(|s| {
        let worker = s.spawn(|| half(left));
        let r = half(right);
        (worker.join(), r)
    });
    let (l_chunk, mut writes) =
        l.map_err(|_| ChainError::Store("state tree worker panicked".into()))??;
    let (r_chunk, r_writes) = r?;
    writes.extend(r_writes);
    let mut chunk = base;
    for (i, slot) in chunk.slots.iter_mut().enumerate() {
        *slot = if (i as u8) < cut_nibble {
            l_chunk.slots[i]
        } else {
            r_chunk.slots[i]
        };
    }
    let slot = finish_chunk(ChunkPos::ROOT, existed, chunk, &mut writes);
    Ok(TreeUpdate {
        root: slot.hash(),
        writes,
    })
}

fn check_sorted(updates: &[(Hash, Option<Hash>)]) -> Result<(), ChainError> {
    if updates.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(ChainError::Store(
            "state updates must be sorted by key without duplicates".into(),
        ));
    }
    Ok(())
}

type Writes = Vec<(ChunkPos, Option<Box<Chunk>>)>;

fn update_chunk(
    store: &impl ChunkStore,
    pos: ChunkPos,
    existing: Option<Chunk>,
    ups: &[(Hash, Option<Hash>)],
    writes: &mut Writes,
) -> Result<Slot, ChainError> {
    let existed = existing.is_some();
    let mut chunk = existing.unwrap_or_default();
    update_groups(store, pos, &mut chunk, ups, writes)?;
    Ok(finish_chunk(pos, existed, chunk, writes))
}

/// Updates the slots of `chunk` (at `pos`) that `ups` fall into, one nibble group at a time.
fn update_groups(
    store: &impl ChunkStore,
    pos: ChunkPos,
    chunk: &mut Chunk,
    ups: &[(Hash, Option<Hash>)],
    writes: &mut Writes,
) -> Result<(), ChainError> {
    let depth = pos.depth as usize;
    if depth >= 64 {
        return Err(ChainError::Store("state tree deeper than the key".into()));
    }
    let mut i = 0;
    while i < ups.len() {
        let n = ups[i].0.nibble(depth);
        let j = i + ups[i..]
            .iter()
            .position(|u| u.0.nibble(depth) != n)
            .unwrap_or(ups.len() - i);
        let slot = chunk.slots[n as usize];
        chunk.slots[n as usize] = update_slot(store, pos.child(n), slot, &ups[i..j], writes)?;
        i = j;
    }
    Ok(())
}

/// Writes (or deletes) an updated chunk and returns the slot its parent holds for it: a
/// chunk left with one leaf (or none) below the root collapses into its parent's slot.
fn finish_chunk(pos: ChunkPos, existed: bool, chunk: Chunk, writes: &mut Writes) -> Slot {
    if pos.depth > 0 {
        let mut occupied = chunk.slots.iter().filter(|s| !s.is_empty());
        let only = match (occupied.next(), occupied.next()) {
            (None, _) => Some(Slot::Empty),
            (Some(leaf @ Slot::Leaf { .. }), None) => Some(*leaf),
            _ => None,
        };
        if let Some(moved_up) = only {
            if existed {
                writes.push((pos, None));
            }
            return moved_up;
        }
    }
    let hash = chunk.hash();
    writes.push((pos, Some(Box::new(chunk))));
    if pos.depth == 0 || !hash.is_zero() {
        Slot::Child { hash }
    } else {
        Slot::Empty
    }
}

fn update_slot(
    store: &impl ChunkStore,
    pos: ChunkPos,
    slot: Slot,
    ups: &[(Hash, Option<Hash>)],
    writes: &mut Writes,
) -> Result<Slot, ChainError> {
    match slot {
        Slot::Empty => build(store, pos, ups.to_vec(), writes),
        Slot::Leaf { key, value_hash } => {
            let mut merged = ups.to_vec();
            if let Err(at) = merged.binary_search_by(|u| u.0.cmp(&key)) {
                merged.insert(at, (key, Some(value_hash)));
            }
            build(store, pos, merged, writes)
        }
        Slot::Child { .. } => {
            let existing = store
                .get_chunk(&pos)?
                .ok_or_else(|| ChainError::MissingNode(hex::encode(pos.storage_key())))?;
            update_chunk(store, pos, Some(existing), ups, writes)
        }
    }
}

/// A subtree from nothing but `ups`.
fn build(
    store: &impl ChunkStore,
    pos: ChunkPos,
    mut ups: Vec<(Hash, Option<Hash>)>,
    writes: &mut Writes,
) -> Result<Slot, ChainError> {
    ups.retain(|u| u.1.is_some());
    match ups.as_slice() {
        [] => Ok(Slot::Empty),
        [(key, Some(value_hash))] => Ok(Slot::Leaf {
            key: *key,
            value_hash: *value_hash,
        }),
        _ => update_chunk(store, pos, None, &ups, writes),
    }
}

/// Proves the presence (with its value hash) or the absence of `key`.
pub fn prove(store: &impl ChunkStore, key: &Hash) -> Result<StateProof, ChainError> {
    let mut siblings = Vec::new();
    let mut zero_mask = Vec::new();
    let mut depth_bits: u16 = 0;
    let mut pos = ChunkPos::ROOT;
    let Some(mut chunk) = store.get_chunk(&pos)? else {
        return Ok(StateProof::new(0, Vec::new(), Vec::new(), Terminal::Empty));
    };
    loop {
        if pos.depth >= 64 {
            // Only a corrupt store can claim a chunk below the last nibble of the key.
            return Err(ChainError::Store("state tree deeper than the key".into()));
        }
        let tree = chunk.tree();
        let n = key.nibble(pos.depth as usize);
        // Walk the chunk's 4 binary levels: heap index of the node on the path.
        let mut idx = 0usize;
        for level in 0..4 {
            let bit = (n >> (3 - level)) & 1;
            let (on_path, sibling) = if bit == 0 {
                (2 * idx + 1, 2 * idx + 2)
            } else {
                (2 * idx + 2, 2 * idx + 1)
            };
            let s = tree[sibling];
            let k = depth_bits as usize;
            if k / 8 >= zero_mask.len() {
                zero_mask.push(0u8);
            }
            if s.is_zero() {
                zero_mask[k / 8] |= 1 << (k % 8);
            } else {
                siblings.push(s);
            }
            depth_bits += 1;
            idx = on_path;
        }
        match chunk.slots[n as usize] {
            Slot::Empty => {
                return Ok(StateProof::new(
                    depth_bits,
                    zero_mask,
                    siblings,
                    Terminal::Empty,
                ))
            }
            Slot::Leaf { key, value_hash } => {
                return Ok(StateProof::new(
                    depth_bits,
                    zero_mask,
                    siblings,
                    Terminal::Leaf { key, value_hash },
                ))
            }
            Slot::Child { .. } => {
                pos = pos.child(n);
                chunk = store
                    .get_chunk(&pos)?
                    .ok_or_else(|| ChainError::MissingNode(hex::encode(pos.storage_key())))?;
            }
        }
    }
}
