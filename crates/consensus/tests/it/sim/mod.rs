//! A deterministic simulation of a couponchain network in one process: 4 to 7 validators
//! (chosen per seed), each a real consensus core beside its own in-memory ledger that
//! executes real coupon transactions.
//!
//! Faults, all before a global stabilisation time (GST) chosen per seed: message loss,
//! duplication, delay and reordering; partitions into two groups that form and heal;
//! crash-restarts from the persisted `SigningState` (losing mempool and timers); and, in
//! one test, one Byzantine validator that equivocates. Always: clock skew — each
//! validator's wall clock is off by up to ±300 ms and its timers run ±10 % fast or slow.
//! Clients submit campaign creations, coupon issues and redemptions to validators'
//! mempools, including two redemptions of one coupon sent at the same instant to two
//! validators and redemptions after a campaign expired (`workload.rs`); proposers build
//! blocks from their own mempool, every validator checks a proposed block by executing
//! it, and applies a decided one to its own ledger (`app.rs`). Messages also spread by
//! gossip, and a validator that falls behind catches up with certified blocks, as the
//! node does (`relay.rs`).
//!
//! Checked throughout (`node.rs`, `checks.rs`): no two blocks final at one height, every
//! certificate verifies, no honest validator signs conflicting messages or sends before
//! persisting; at every final height every honest validator has the same state root and
//! receipts, block time never goes back, no coupon is redeemed beyond its uses (a
//! single-use coupon at most once), no redemption is applied at or after expiry, supply is
//! conserved; and liveness: after GST (or a later restart) a new height is final at
//! least every `HEIGHT_BOUND_MS`, and every honest validator applies enough further
//! heights for each validator to propose within `LIVENESS_BOUND_MS`.
//!
//! All randomness comes from the seed (splitmix64), time is simulated and every map is a
//! `BTreeMap`, so a seed replays exactly. A failure panics with its seed and the command
//! that replays it:
//!
//! - `SIM_SEED=<n> cargo test -p couponchain-consensus --test it <test>` runs seed `n` only
//!   (the failure message names `<test>`, e.g. `sim::sim_one_equivocating_validator`);
//! - `SIM_SEEDS=<count> cargo test -p couponchain-consensus --test it sim` runs seeds
//!   `0..count` in each simulation test (a soak). The defaults, 20 + 500 + 300 + 300 + 500 seeds,
//!   take about a minute in the debug profile on two cores;
//! - `SIM_TRACE=1` with `SIM_SEED` (and `-- --nocapture`) prints every input and output
//!   of every validator.

mod app;
mod byzantine;
mod checks;
mod faults;
mod network;
mod node;
mod relay;
mod workload;
mod world;

use checks::Coverage;
use world::Sim;

/// The kinds of fault a test enables; the seed picks the details.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// The test's path, for the replay command.
    pub test: &'static str,
    pub network: bool,
    pub partitions: bool,
    pub crashes: bool,
    pub byzantine: bool,
    /// Gossip on top of the node's relay (`relay.rs`).
    pub gossip: bool,
    /// Mixed into the seed so tests with the same seeds differ.
    pub salt: u64,
}

impl Profile {
    pub fn faulty(&self) -> bool {
        self.network || self.partitions || self.crashes || self.byzantine
    }
}

fn seeds(default: u64) -> Vec<u64> {
    if let Some(s) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![s];
    }
    let n = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    (0..n).collect()
}

/// Totals over the seeds of one test.
#[derive(Debug, Default)]
struct Totals {
    runs: u64,
    evidence: u64,
    caught_up: u64,
    max_round: u32,
    max_gap_ms: u64,
    coverage: Coverage,
}

/// Runs one seed; whatever panics (a failed check or the code under test), the seed and
/// its replay command are printed.
fn run_seed(seed: u64, profile: Profile) -> (Sim, Coverage) {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut sim = Sim::new(seed, profile);
        let c = sim.run();
        (sim, c)
    }));
    match run {
        Ok(done) => done,
        Err(panic) => {
            eprintln!(
                "sim seed {seed} failed; replay: SIM_SEED={seed} cargo test -p couponchain-consensus --test it {}",
                profile.test
            );
            std::panic::resume_unwind(panic)
        }
    }
}

fn run_many(profile: Profile, default_seeds: u64) -> Totals {
    let mut t = Totals::default();
    for seed in seeds(default_seeds) {
        let (sim, c) = run_seed(seed, profile);
        t.coverage.add(c);
        t.evidence += sim.evidence;
        t.caught_up += sim.caught_up;
        t.max_round = t.max_round.max(sim.max_round);
        t.max_gap_ms = t.max_gap_ms.max(sim.max_gap_ms);
        t.runs += 1;
    }
    eprintln!("{}: {t:?}", profile.test);
    t
}

/// The coupon workload really ran into the cases it is there for.
fn assert_exercised(t: &Totals) {
    if t.runs < 100 {
        return;
    }
    let c = t.coverage;
    assert!(c.redemptions_applied > 0, "no redemption applied: {t:?}");
    assert!(
        c.doubles_both_included > 0,
        "no double redemption ever had both included: {t:?}"
    );
    assert!(
        c.late_refused > 0,
        "no redemption after expiry was ever included: {t:?}"
    );
    assert!(
        c.over_supply_refused > 0,
        "no issue over max supply was ever included: {t:?}"
    );
}

#[test]
fn sim_without_faults_commits_every_height_in_round_0() {
    let profile = Profile {
        test: "sim::sim_without_faults_commits_every_height_in_round_0",
        network: false,
        partitions: false,
        crashes: false,
        byzantine: false,
        gossip: true,
        salt: 0,
    };
    for seed in seeds(20) {
        let (sim, _) = run_seed(seed, profile);
        if sim.max_round != 0 {
            sim.fail(format!("reached round {} without faults", sim.max_round));
        }
    }
}

#[test]
fn sim_faulty_network_partitions_and_crash_restarts() {
    let t = run_many(
        Profile {
            test: "sim::sim_faulty_network_partitions_and_crash_restarts",
            network: true,
            partitions: true,
            crashes: true,
            byzantine: false,
            gossip: true,
            salt: 0x0fa1_7000,
        },
        500,
    );
    assert_exercised(&t);
}

/// Lossy, partitioned networks without crashes, and nothing re-sent but what the node
/// relays while a height stalls: every validator keeps what it received, so the relay
/// alone must get every correct validator what Algorithm 1's liveness needs.
#[test]
fn sim_faulty_network_and_partitions_with_the_nodes_relay_alone() {
    let t = run_many(
        Profile {
            test: "sim::sim_faulty_network_and_partitions_with_the_nodes_relay_alone",
            network: true,
            partitions: true,
            crashes: false,
            byzantine: false,
            gossip: false,
            salt: 0x4e1a_7000,
        },
        300,
    );
    assert_exercised(&t);
}

/// The same with crashes: a restarted validator has only its signing state and the kept
/// proof of its valid value, and nothing but the node's relay re-sends.
#[test]
fn sim_crash_restarts_with_the_nodes_relay_alone() {
    let t = run_many(
        Profile {
            test: "sim::sim_crash_restarts_with_the_nodes_relay_alone",
            network: true,
            partitions: true,
            crashes: true,
            byzantine: false,
            gossip: false,
            salt: 0xc4a5_7000,
        },
        300,
    );
    assert_exercised(&t);
}

#[test]
fn sim_one_equivocating_validator() {
    let t = run_many(
        Profile {
            test: "sim::sim_one_equivocating_validator",
            network: true,
            partitions: true,
            crashes: true,
            byzantine: true,
            gossip: true,
            salt: 0x5eed_0000,
        },
        500,
    );
    assert_exercised(&t);
    assert!(
        t.runs < 10 || t.evidence > 0,
        "the equivocator was never caught"
    );
}
