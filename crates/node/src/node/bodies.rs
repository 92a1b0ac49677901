//! Block bodies of the height being decided and the next one, shared by the consensus
//! driver (which fills and prunes them) and the network responder, which serves one to a
//! validator that holds a proposal but missed its body (`Request::GetBody`). Bodies are
//! sent once, before their proposal; this is how a validator that lost one, or came back
//! during a stalled height, still gets it, without proposers re-sending megabytes of
//! bodies to everyone while a height stalls.

use couponchain_chain::{Block, Hash};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
pub struct Bodies {
    map: Mutex<HashMap<Hash, Arc<Block>>>,
}

impl Bodies {
    fn lock(&self) -> MutexGuard<'_, HashMap<Hash, Arc<Block>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, hash: &Hash) -> Option<Arc<Block>> {
        self.lock().get(hash).cloned()
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.lock().contains_key(hash)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Keeps `block` under `hash` (its header's hash) unless a body is already there.
    pub fn insert(&self, hash: Hash, block: Arc<Block>) {
        self.lock().entry(hash).or_insert(block);
    }

    /// Drops the bodies of heights below `height`.
    pub fn retain_from(&self, height: u64) {
        self.lock().retain(|_, b| b.header.height >= height);
    }
}
