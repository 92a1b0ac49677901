//! BFT Proof-of-Authority consensus as a deterministic, sans-IO state machine: inputs
//! (proposals, votes, timeouts, checked blocks) in, actions (broadcast, schedule a timeout,
//! commit, persist) out. No clock, sockets, tokio or storage inside.
//!
//! This crate is still the seam only: the Tendermint-style core arrives with the
//! many-validators issue. What exists now is the quorum arithmetic every later part uses.

use couponchain_chain::block::ValidatorSet;

/// The consensus crate's one error type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsensusError {
    #[error("empty validator set")]
    EmptyValidatorSet,
}

/// How many faulty validators a set of `n` tolerates: the largest f with n ≥ 3f + 1.
pub fn max_faulty(set: &ValidatorSet) -> Result<usize, ConsensusError> {
    if set.is_empty() {
        return Err(ConsensusError::EmptyValidatorSet);
    }
    Ok((set.len() - 1) / 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponchain_chain::PublicKey;

    #[test]
    fn quorum_and_faults_match_bft_bounds() {
        for n in 1..=10u8 {
            let set = ValidatorSet::new((0..n).map(|i| PublicKey([i; 32])));
            let f = max_faulty(&set).unwrap_or(usize::MAX);
            assert!(set.len() > 3 * f, "n={n} f={f}"); // n >= 3f + 1
                                                       // Two quorums always share an honest validator: 2q - n > f.
            assert!(2 * set.quorum() > set.len() + f, "n={n}");
        }
        assert_eq!(
            max_faulty(&ValidatorSet::default()),
            Err(ConsensusError::EmptyValidatorSet)
        );
    }
}
