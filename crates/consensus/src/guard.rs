//! The signing guard: the only place a validator's consensus key signs anything.
//!
//! It keeps the last (height, round, step) signed, what was signed at that height and
//! round, and the lock and valid value of that height — the [`SigningState`] the node
//! must persist (fsync) *before* it sends the message the signature belongs to. Asked to
//! sign something that conflicts with that record (two different proposals or two
//! different votes of one kind at one height and round) or that goes back in
//! (height, round, step) order, it refuses; asked to sign the same thing again it returns
//! the identical signature without changing its state. With the state restored after a
//! crash, a validator therefore never double-signs (aptos-core's safety rules, in small).

use crate::io::Step;
use crate::messages::Proposal;
use crate::ConsensusError;
use couponchain_chain::block::{VoteData, VoteKind};
use couponchain_chain::{Hash, Keypair, Signature};
use serde::{Deserialize, Serialize};

/// One message signed at the guard's current (height, round).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    pub step: Step,
    /// The block of a proposal, or the block (None = nil) of a vote.
    pub block: Option<Hash>,
    /// A proposal's valid round; `None` for votes.
    pub valid_round: Option<u32>,
    pub signature: Signature,
}

/// What must survive a crash: persisted by the node before the signature leaves it.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SigningState {
    pub height: u64,
    pub round: u32,
    /// What was signed at (`height`, `round`), ordered by step; at most one per step.
    pub signed: Vec<SignedRecord>,
    /// lockedRound/lockedValue of `height` (Algorithm 1), so a restarted validator keeps
    /// its lock; `None` stands for −1/nil.
    pub locked: Option<(u32, Hash)>,
    /// validRound/validValue of `height`.
    pub valid: Option<(u32, Hash)>,
}

impl SigningState {
    /// A state that refuses to sign anything at or below `height` (every round below the
    /// last): for a validator whose persisted state was lost. Whatever it may have signed
    /// for the height it was deciding stays the only thing it ever signed there; it takes
    /// part again from `height + 1`.
    pub fn abstaining_through(height: u64) -> SigningState {
        SigningState {
            height,
            round: u32::MAX,
            ..SigningState::default()
        }
    }

    /// The last (height, round, step) signed, if anything was signed at `height`/`round`.
    pub fn last_signed(&self) -> Option<(u64, u32, Step)> {
        self.signed
            .last()
            .map(|r| (self.height, self.round, r.step))
    }
}

/// A signature, and whether it is new (the state changed and must be persisted first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardedSignature {
    pub signature: Signature,
    pub fresh: bool,
}

/// Signs proposals and votes for one key, never conflicting with its [`SigningState`].
#[derive(Debug)]
pub struct SigningGuard {
    key: Keypair,
    state: SigningState,
    /// Why this guard signs nothing more, once it has seen proof that another process
    /// signs with its key.
    halted: Option<String>,
}

impl SigningGuard {
    /// A guard resuming from the last persisted state (`SigningState::default()` for a
    /// validator that never signed).
    pub fn new(key: Keypair, state: SigningState) -> SigningGuard {
        SigningGuard {
            key,
            state,
            halted: None,
        }
    }

    /// Signs nothing more, for `reason` (kept from the first call).
    pub fn halt(&mut self, reason: String) {
        self.halted.get_or_insert(reason);
    }

    /// Why signing stopped, if it did.
    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    /// Whether a message with this key's valid `signature` at (`height`, `round`, `step`)
    /// can be one this guard signed. Since the state is persisted before a signature
    /// leaves, anything past the state's (height, round), or at it without the identical
    /// record (signatures are deterministic), was signed by another process holding the
    /// key. Earlier rounds are not recorded and pass.
    pub fn could_have_signed(
        &self,
        height: u64,
        round: u32,
        step: Step,
        signature: &Signature,
    ) -> bool {
        let st = &self.state;
        match (height, round).cmp(&(st.height, st.round)) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => st
                .signed
                .iter()
                .any(|r| r.step == step && r.signature == *signature),
        }
    }

    pub fn state(&self) -> &SigningState {
        &self.state
    }

    pub fn public(&self) -> couponchain_chain::PublicKey {
        self.key.public()
    }

    /// Signs a proposal unless it conflicts with what was already signed.
    pub fn sign_proposal(&mut self, p: &Proposal) -> Result<GuardedSignature, ConsensusError> {
        let bytes = p.signing_bytes();
        self.sign(
            p.height,
            p.round,
            Step::Propose,
            Some(p.block),
            p.valid_round,
            &bytes,
        )
    }

    /// Signs a vote unless it conflicts with what was already signed.
    pub fn sign_vote(&mut self, v: &VoteData) -> Result<GuardedSignature, ConsensusError> {
        let step = match v.kind {
            VoteKind::Prevote => Step::Prevote,
            VoteKind::Precommit => Step::Precommit,
        };
        let bytes = v.signing_bytes();
        self.sign(v.height, v.round, step, v.block, None, &bytes)
    }

    /// Records the lock and valid value of `height` (persisted with the next `Persist`).
    /// Returns whether anything changed. Ignored for a height the guard has left.
    pub fn record_locks(
        &mut self,
        height: u64,
        locked: Option<(u32, Hash)>,
        valid: Option<(u32, Hash)>,
    ) -> bool {
        if height < self.state.height {
            return false;
        }
        if height > self.state.height {
            self.state = SigningState {
                height,
                ..SigningState::default()
            };
        }
        let changed = self.state.locked != locked || self.state.valid != valid;
        self.state.locked = locked;
        self.state.valid = valid;
        changed
    }

    fn sign(
        &mut self,
        height: u64,
        round: u32,
        step: Step,
        block: Option<Hash>,
        valid_round: Option<u32>,
        bytes: &[u8],
    ) -> Result<GuardedSignature, ConsensusError> {
        if let Some(reason) = &self.halted {
            return Err(ConsensusError::SigningHalted(reason.clone()));
        }
        let st = &mut self.state;
        let behind = || ConsensusError::SignBehind {
            requested: (height, round, step),
            last: (st.height, st.round, st.signed.last().map(|r| r.step)),
        };
        if (height, round) < (st.height, st.round) {
            return Err(behind());
        }
        if (height, round) == (st.height, st.round) {
            if let Some(rec) = st.signed.iter().find(|r| r.step == step) {
                if rec.block == block && rec.valid_round == valid_round {
                    // Asked again for the very same message: the very same signature.
                    return Ok(GuardedSignature {
                        signature: rec.signature,
                        fresh: false,
                    });
                }
                return Err(ConsensusError::SignConflict {
                    height,
                    round,
                    step,
                });
            }
            if st.signed.last().is_some_and(|r| r.step > step) {
                return Err(behind());
            }
        } else {
            // A later round keeps the height's lock; a later height starts afresh.
            if height > st.height {
                st.locked = None;
                st.valid = None;
            }
            st.height = height;
            st.round = round;
            st.signed.clear();
        }
        let signature = self.key.sign(bytes);
        self.state.signed.push(SignedRecord {
            step,
            block,
            valid_round,
            signature,
        });
        Ok(GuardedSignature {
            signature,
            fresh: true,
        })
    }
}
