//! The simulated environment outside the validators: the seeded random source, each
//! validator's clock, and the network between them.
//!
//! Every random choice of a run comes from one [`Rng`] seeded by the run's seed, and
//! everything else is a pure function of simulated time, so a seed replays exactly.
//! Before the global stabilisation time (GST) the network may lose, duplicate, delay (and
//! so reorder) messages, and a [`Partition`] may split the validators into two groups that
//! cannot reach each other until it heals; from GST on, every message arrives within
//! `SYNC_DELAY_MS`. A [`Clock`] gives each validator its own wall-clock offset (block
//! times, the block-time bound) and timer rate (timeouts fire early or late).

use couponchain_runtime::testkit::T0;

/// splitmix64: tiny, seedable, good enough to drive a simulation.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 for n = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A validator index in `0..n`.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Two different validator indexes in `0..n` (n ≥ 2).
    pub fn pair(&mut self, n: usize) -> (usize, usize) {
        let a = self.index(n);
        let b = (a + 1 + self.index(n - 1)) % n;
        (a, b)
    }
}

/// Largest wall-clock offset of a validator from true (simulated) time, either way.
pub const MAX_CLOCK_OFFSET_MS: u64 = 300;
/// Timer rates lie in `1000 ± MAX_RATE_SKEW_PERMILLE` per mille (±10 %).
pub const MAX_RATE_SKEW_PERMILLE: u64 = 100;

/// One validator's clock: its wall clock reads true time plus `offset_ms` (what an
/// NTP-disciplined clock does), and its timers run at `rate_permille`/1000 of true speed
/// (a timer of d local ms fires after d × 1000 / rate simulated ms).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub offset_ms: i64,
    pub rate_permille: u64,
}

impl Clock {
    pub fn random(rng: &mut Rng) -> Clock {
        let offset = rng.below(2 * MAX_CLOCK_OFFSET_MS + 1) as i64 - MAX_CLOCK_OFFSET_MS as i64;
        let rate = rng.range(1000 - MAX_RATE_SKEW_PERMILLE, 1000 + MAX_RATE_SKEW_PERMILLE);
        Clock {
            offset_ms: offset,
            rate_permille: rate,
        }
    }

    /// The wall-clock reading (ms since the Unix epoch) at simulated time `now`;
    /// simulated time 0 is the genesis time `T0`.
    pub fn read(&self, now: u64) -> u64 {
        (T0 + now).saturating_add_signed(self.offset_ms)
    }

    /// The simulated time it takes this validator's timer of `local_ms` to fire.
    pub fn timer(&self, local_ms: u64) -> u64 {
        (local_ms * 1000).div_ceil(self.rate_permille).max(1)
    }

    /// The simulated time until this clock reads at least `wall_ms` (0 if it already does).
    pub fn until(&self, now: u64, wall_ms: u64) -> u64 {
        wall_ms.saturating_sub(self.read(now))
    }
}

/// A split of the validators into two groups (`side[i]`) that cannot reach each other.
#[derive(Clone, Debug)]
pub struct Partition {
    pub side: Vec<bool>,
}

impl Partition {
    /// A random split with both groups non-empty.
    pub fn random(rng: &mut Rng, n: usize) -> Partition {
        let mut side: Vec<bool> = (0..n).map(|_| rng.chance(50)).collect();
        let (a, b) = rng.pair(n);
        side[a] = true;
        side[b] = false;
        Partition { side }
    }

    pub fn separates(&self, a: usize, b: usize) -> bool {
        self.side[a] != self.side[b]
    }
}

/// Delivery delay bound once the network is synchronous (after GST).
pub const SYNC_DELAY_MS: u64 = 40;
/// Delivery delay bound before GST on a faulty network.
pub const ASYNC_DELAY_MS: u64 = 800;

/// The network's state: whether it is still faulty (before GST) and any partition.
#[derive(Debug)]
pub struct Network {
    /// Loses, duplicates and delays messages (until GST).
    pub lossy: bool,
    pub partition: Option<Partition>,
}

impl Network {
    /// The delays after which the copies of one message from `from` to `to` arrive:
    /// none if it is lost, two if it is duplicated.
    pub fn delays(&self, rng: &mut Rng, from: usize, to: usize) -> Vec<u64> {
        if self
            .partition
            .as_ref()
            .is_some_and(|p| p.separates(from, to))
        {
            return Vec::new();
        }
        if !self.lossy {
            return vec![1 + rng.below(SYNC_DELAY_MS)];
        }
        if rng.chance(15) {
            return Vec::new();
        }
        let copies = if rng.chance(10) { 2 } else { 1 };
        (0..copies).map(|_| 1 + rng.below(ASYNC_DELAY_MS)).collect()
    }
}
