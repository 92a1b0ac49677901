//! Node configuration in two layers. [`UserConfig`] is what an operator writes: every field
//! optional, read from TOML and then overridden by `COUPONCHAIN__SECTION__KEY=value`
//! environment variables. [`Config`] is what the node runs with: every field present and
//! checked, with defaults from [`defaults`]. Errors name the offending field.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every default in one place, each with its reason.
pub mod defaults {
    /// Loopback only unless the operator says otherwise.
    pub const RPC_ADDR: &str = "127.0.0.1:8545";
    /// A 10,000-coupon batch issue is ~350 KiB binary and ~1.5 MiB as JSON.
    pub const RPC_MAX_BODY_BYTES: usize = 8 << 20;
    /// Long enough for `wait=final` with its 30 s cap.
    pub const RPC_REQUEST_TIMEOUT_MS: u64 = 35_000;
    pub const RPC_MAX_WAIT_MS: u64 = 30_000;
    /// Five seconds of transactions at the target rate (25,000 tx/s).
    pub const MEMPOOL_MAX_TXS: usize = 125_000;
    /// ~300 bytes a redemption: about 37 MiB of transactions.
    pub const MEMPOOL_MAX_BYTES: usize = 128 << 20;
    /// One key may fill at most this share of the pool, so a flooding sender cannot shut
    /// others out; blocks take from senders round-robin as well.
    pub const MEMPOOL_MAX_PER_SENDER: usize = 60_000;
    /// 0: a block as soon as transactions wait.
    pub const BLOCK_MIN_INTERVAL_MS: u64 = 0;
    /// An empty block this often proves liveness and advances chain time.
    pub const BLOCK_HEARTBEAT_MS: u64 = 5_000;
    /// Caps a block's execution at a few hundred milliseconds on this hardware.
    pub const BLOCK_MAX_TXS: usize = 10_000;
    pub const BLOCK_MAX_BYTES: usize = 16 << 20;
    /// Both caches fill only as the state grows (a small chain uses little of them). At
    /// 2.7 M coupons, 512 / 768 MiB instead of 256 / 256 gave the localnet 2,946 instead of
    /// 2,593 tx/s (means of four alternating 90 s runs; faster in each adjacent pair;
    /// BENCHMARKS.md, session 9).
    pub const STORAGE_BLOCK_CACHE_MB: usize = 512;
    /// Encoded state-tree chunks, ~300 bytes each: ~2.6 million chunks, the deep levels of
    /// a tree of about 7 million coupons.
    pub const STORAGE_TREE_CACHE_MB: usize = 768;
    pub const STORAGE_SYNC_WRITES: bool = true;
    pub const STORAGE_WARM_TREE_CACHE: bool = true;
    pub const STORAGE_TREE_FLUSH_MB: u64 = 64;
    pub const STORAGE_TREE_FLUSH_BLOCKS: u64 = 2048;
    /// Large memtables mean fewer level-0 files and less compaction competing with block
    /// execution; a 10,000-transaction block writes ~10 MB.
    pub const STORAGE_WRITE_BUFFER_MB: usize = 256;
    /// Unlimited: a single node must flush as fast as it writes (a 64 MiB/s limit stalled a
    /// dev node at full speed). Nodes sharing one machine set a limit — `localnet init`
    /// writes 64, which took the 4-validator localnet's p99 at 3,000 tx/s from ~500 ms to
    /// ~160 ms (BENCHMARKS.md).
    pub const STORAGE_COMPACTION_RATE_MB: u64 = 0;
    /// A few minutes of blocks at full speed (~30 MB/s written), and room for RocksDB to
    /// finish a compaction.
    pub const STORAGE_MIN_FREE_MB: u64 = 1024;
    pub const LOG_LEVEL: &str = "info";
    /// Round timeouts (base + round × delta), sized for validators on one LAN or machine.
    pub const TIMEOUT_PROPOSE_MS: u64 = 3_000;
    pub const TIMEOUT_PROPOSE_DELTA_MS: u64 = 500;
    pub const TIMEOUT_VOTE_MS: u64 = 1_000;
    pub const TIMEOUT_VOTE_DELTA_MS: u64 = 500;
    /// A proposal's block time may differ from this node's clock by at most this much.
    pub const MAX_CLOCK_DRIFT_MS: u64 = 5_000;
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("config field `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// The operator's layer: everything optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub data_dir: Option<PathBuf>,
    /// Path of the genesis JSON document.
    pub genesis: Option<PathBuf>,
    /// Path of this node's key file: a validator's signing key, or a replica's identity
    /// (a key registered on the chain, e.g. a site's). `node_key` is the same field.
    #[serde(alias = "node_key")]
    pub validator_key: Option<PathBuf>,
    #[serde(default)]
    pub rpc: UserRpc,
    #[serde(default)]
    pub mempool: UserMempool,
    #[serde(default)]
    pub block: UserBlock,
    #[serde(default)]
    pub storage: UserStorage,
    #[serde(default)]
    pub log: UserLog,
    #[serde(default)]
    pub p2p: UserP2p,
    #[serde(default)]
    pub consensus: UserConsensus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserP2p {
    /// A libp2p address, e.g. "/ip4/127.0.0.1/tcp/26656". Absent: no networking (a sole
    /// validator without replicas).
    pub listen: Option<String>,
    /// Peers to keep connected to, each "/ip4/…/tcp/…/p2p/<peer id>"
    /// (`couponchain keys show` prints a key's peer id).
    pub peers: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConsensus {
    pub timeout_propose_ms: Option<u64>,
    pub timeout_propose_delta_ms: Option<u64>,
    pub timeout_vote_ms: Option<u64>,
    pub timeout_vote_delta_ms: Option<u64>,
    pub max_clock_drift_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRpc {
    pub addr: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub max_wait_ms: Option<u64>,
    pub cors_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserMempool {
    pub max_txs: Option<usize>,
    pub max_bytes: Option<usize>,
    pub max_per_sender: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBlock {
    pub min_interval_ms: Option<u64>,
    pub heartbeat_ms: Option<u64>,
    pub max_txs: Option<usize>,
    pub max_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserStorage {
    pub block_cache_mb: Option<usize>,
    pub tree_cache_mb: Option<usize>,
    /// All RocksDB memtables together.
    pub write_buffer_mb: Option<usize>,
    /// Flush and compaction writes per second at most, MiB (0: unlimited).
    pub compaction_rate_mb: Option<u64>,
    pub sync_writes: Option<bool>,
    /// Load the state tree into its cache at startup (top levels first, until the cache is
    /// nine-tenths full) instead of reading each chunk cold on first use.
    pub warm_tree_cache: Option<bool>,
    /// State-tree chunks changed by blocks are kept in memory (each block journals only its
    /// changed keys) and written in one background checkpoint once they weigh this many
    /// MiB; 0: every block writes its own chunks.
    pub tree_flush_mb: Option<u64>,
    /// ... and also once this many blocks are journalled (0 is read as 1), so an idle
    /// chain's journal, read at every start, stays short.
    pub tree_flush_blocks: Option<u64>,
    /// Free space to keep on the data directory's disk, MiB (0: no reserve).
    pub min_free_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLog {
    /// "human" or "json".
    pub format: Option<String>,
    /// A tracing filter, e.g. "info" or "couponchain=debug,info".
    pub level: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// The checked configuration the node runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub genesis: PathBuf,
    pub validator_key: Option<PathBuf>,
    pub rpc_addr: SocketAddr,
    pub rpc_max_body_bytes: usize,
    pub rpc_request_timeout: Duration,
    pub rpc_max_wait: Duration,
    pub rpc_cors_origins: Vec<String>,
    pub mempool_max_txs: usize,
    pub mempool_max_bytes: usize,
    pub mempool_max_per_sender: usize,
    pub block_min_interval: Duration,
    pub block_heartbeat: Duration,
    pub block_max_txs: usize,
    pub block_max_bytes: usize,
    pub storage_block_cache_bytes: usize,
    pub storage_tree_cache_bytes: usize,
    pub storage_write_buffer_bytes: usize,
    pub storage_compaction_rate_bytes: u64,
    pub storage_sync_writes: bool,
    pub storage_warm_tree_cache: bool,
    pub storage_tree_flush_bytes: u64,
    pub storage_tree_flush_blocks: u64,
    pub storage_min_free_bytes: u64,
    pub log_format: LogFormat,
    pub log_level: String,
    pub p2p_listen: Option<libp2p::Multiaddr>,
    pub p2p_peers: Vec<libp2p::Multiaddr>,
    pub timeouts: couponchain_consensus::TimeoutConfig,
    pub max_clock_drift_ms: u64,
}

const ENV_PREFIX: &str = "COUPONCHAIN__";

impl UserConfig {
    /// Reads a TOML file and applies environment overrides from `env`.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<UserConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, env)
    }

    /// Parses TOML text, applying `COUPONCHAIN__SECTION__KEY=value` overrides: the value is
    /// read as a TOML value if it parses as one (numbers, booleans, arrays), else as a string.
    pub fn parse(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<UserConfig, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_err(e.to_string()))?;
        for (var, value) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            let v = parse_env_value(&value);
            let mut t = &mut table;
            for (i, p) in parts.iter().enumerate() {
                if p.is_empty() {
                    return Err(ConfigError::Env {
                        var: var.clone(),
                        message: "empty path segment".into(),
                    });
                }
                if i + 1 == parts.len() {
                    t.insert(p.clone(), v.clone());
                } else {
                    let entry = t
                        .entry(p.clone())
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    t = entry.as_table_mut().ok_or_else(|| ConfigError::Env {
                        var: var.clone(),
                        message: format!("`{p}` is not a section"),
                    })?;
                }
            }
        }
        UserConfig::deserialize(toml::Value::Table(table)).map_err(|e| parse_err(e.to_string()))
    }

    /// Fills defaults and checks every field. Relative paths are taken relative to
    /// `base_dir` (the config file's folder).
    pub fn validate(self, base_dir: &Path) -> Result<Config, ConfigError> {
        let invalid =
            |field: &'static str, message: String| ConfigError::Invalid { field, message };
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base_dir.join(p) };
        let data_dir = resolve(
            self.data_dir
                .ok_or_else(|| invalid("data_dir", "is required".into()))?,
        );
        let genesis =
            resolve(self.genesis.ok_or_else(|| {
                invalid("genesis", "is required (path of the genesis JSON)".into())
            })?);
        let addr = self.rpc.addr.unwrap_or_else(|| defaults::RPC_ADDR.into());
        let rpc_addr: SocketAddr = addr
            .parse()
            .map_err(|e| invalid("rpc.addr", format!("{addr:?} is not host:port ({e})")))?;
        let positive = |field: &'static str, v: usize| {
            if v == 0 {
                Err(invalid(field, "must be at least 1".into()))
            } else {
                Ok(v)
            }
        };
        let mempool_max_txs = positive(
            "mempool.max_txs",
            self.mempool.max_txs.unwrap_or(defaults::MEMPOOL_MAX_TXS),
        )?;
        let mempool_max_per_sender = positive(
            "mempool.max_per_sender",
            self.mempool
                .max_per_sender
                .unwrap_or(defaults::MEMPOOL_MAX_PER_SENDER),
        )?;
        let block_max_txs = positive(
            "block.max_txs",
            self.block.max_txs.unwrap_or(defaults::BLOCK_MAX_TXS),
        )?;
        if block_max_txs > 100_000 {
            return Err(invalid("block.max_txs", "at most 100000".into()));
        }
        let heartbeat_ms = self
            .block
            .heartbeat_ms
            .unwrap_or(defaults::BLOCK_HEARTBEAT_MS);
        if heartbeat_ms == 0 {
            return Err(invalid("block.heartbeat_ms", "must be at least 1".into()));
        }
        let min_interval_ms = self
            .block
            .min_interval_ms
            .unwrap_or(defaults::BLOCK_MIN_INTERVAL_MS);
        if min_interval_ms > heartbeat_ms {
            return Err(invalid(
                "block.min_interval_ms",
                format!("{min_interval_ms} is more than block.heartbeat_ms ({heartbeat_ms})"),
            ));
        }
        let log_format = match self.log.format.as_deref().unwrap_or("human") {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("{other:?}: expected \"human\" or \"json\""),
                ))
            }
        };
        let request_timeout_ms = self
            .rpc
            .request_timeout_ms
            .unwrap_or(defaults::RPC_REQUEST_TIMEOUT_MS);
        let max_wait_ms = self.rpc.max_wait_ms.unwrap_or(defaults::RPC_MAX_WAIT_MS);
        if max_wait_ms >= request_timeout_ms {
            return Err(invalid(
                "rpc.max_wait_ms",
                format!(
                    "{max_wait_ms} must be below rpc.request_timeout_ms ({request_timeout_ms})"
                ),
            ));
        }
        let multiaddr = |field: &'static str, s: &str| -> Result<libp2p::Multiaddr, ConfigError> {
            s.parse()
                .map_err(|e| invalid(field, format!("{s:?} is not a libp2p address ({e})")))
        };
        let p2p_listen = match &self.p2p.listen {
            Some(s) => Some(multiaddr("p2p.listen", s)?),
            None => None,
        };
        let mut p2p_peers = Vec::new();
        for s in self.p2p.peers.unwrap_or_default() {
            let a = multiaddr("p2p.peers", &s)?;
            if !matches!(a.iter().last(), Some(libp2p::multiaddr::Protocol::P2p(_))) {
                return Err(invalid(
                    "p2p.peers",
                    format!("{s:?} must end with /p2p/<peer id>"),
                ));
            }
            p2p_peers.push(a);
        }
        if !p2p_peers.is_empty() && p2p_listen.is_none() {
            return Err(invalid(
                "p2p.listen",
                "is required when p2p.peers is set".into(),
            ));
        }
        let c = &self.consensus;
        let timeouts = couponchain_consensus::TimeoutConfig {
            propose_base_ms: c.timeout_propose_ms.unwrap_or(defaults::TIMEOUT_PROPOSE_MS),
            propose_delta_ms: c
                .timeout_propose_delta_ms
                .unwrap_or(defaults::TIMEOUT_PROPOSE_DELTA_MS),
            prevote_base_ms: c.timeout_vote_ms.unwrap_or(defaults::TIMEOUT_VOTE_MS),
            prevote_delta_ms: c
                .timeout_vote_delta_ms
                .unwrap_or(defaults::TIMEOUT_VOTE_DELTA_MS),
            precommit_base_ms: c.timeout_vote_ms.unwrap_or(defaults::TIMEOUT_VOTE_MS),
            precommit_delta_ms: c
                .timeout_vote_delta_ms
                .unwrap_or(defaults::TIMEOUT_VOTE_DELTA_MS),
        };
        if timeouts.propose_base_ms == 0 || timeouts.prevote_base_ms == 0 {
            return Err(invalid(
                "consensus.timeout_propose_ms",
                "timeouts must be at least 1 ms".into(),
            ));
        }
        let max_clock_drift_ms = c.max_clock_drift_ms.unwrap_or(defaults::MAX_CLOCK_DRIFT_MS);
        let block_max_bytes = positive(
            "block.max_bytes",
            self.block.max_bytes.unwrap_or(defaults::BLOCK_MAX_BYTES),
        )?;
        // A proposed block travels in one peer-to-peer frame, with room for its framing.
        let frame = crate::net::wire::MAX_REQUEST_BYTES - (1 << 20);
        if block_max_bytes > frame {
            return Err(invalid(
                "block.max_bytes",
                format!("{block_max_bytes} is more than a peer-to-peer frame allows ({frame})"),
            ));
        }
        Ok(Config {
            p2p_listen,
            p2p_peers,
            timeouts,
            max_clock_drift_ms,
            data_dir,
            genesis,
            validator_key: self.validator_key.map(resolve),
            rpc_addr,
            rpc_max_body_bytes: positive(
                "rpc.max_body_bytes",
                self.rpc
                    .max_body_bytes
                    .unwrap_or(defaults::RPC_MAX_BODY_BYTES),
            )?,
            rpc_request_timeout: Duration::from_millis(request_timeout_ms),
            rpc_max_wait: Duration::from_millis(max_wait_ms),
            rpc_cors_origins: self.rpc.cors_origins.unwrap_or_default(),
            mempool_max_txs,
            mempool_max_bytes: positive(
                "mempool.max_bytes",
                self.mempool
                    .max_bytes
                    .unwrap_or(defaults::MEMPOOL_MAX_BYTES),
            )?,
            mempool_max_per_sender,
            block_min_interval: Duration::from_millis(min_interval_ms),
            block_heartbeat: Duration::from_millis(heartbeat_ms),
            block_max_txs,
            block_max_bytes,
            storage_block_cache_bytes: self
                .storage
                .block_cache_mb
                .unwrap_or(defaults::STORAGE_BLOCK_CACHE_MB)
                << 20,
            storage_tree_cache_bytes: positive(
                "storage.tree_cache_mb",
                self.storage
                    .tree_cache_mb
                    .unwrap_or(defaults::STORAGE_TREE_CACHE_MB),
            )? << 20,
            storage_write_buffer_bytes: positive(
                "storage.write_buffer_mb",
                self.storage
                    .write_buffer_mb
                    .unwrap_or(defaults::STORAGE_WRITE_BUFFER_MB),
            )? << 20,
            storage_compaction_rate_bytes: self
                .storage
                .compaction_rate_mb
                .unwrap_or(defaults::STORAGE_COMPACTION_RATE_MB)
                .saturating_mul(1 << 20),
            storage_sync_writes: self
                .storage
                .sync_writes
                .unwrap_or(defaults::STORAGE_SYNC_WRITES),
            storage_warm_tree_cache: self
                .storage
                .warm_tree_cache
                .unwrap_or(defaults::STORAGE_WARM_TREE_CACHE),
            storage_tree_flush_bytes: self
                .storage
                .tree_flush_mb
                .unwrap_or(defaults::STORAGE_TREE_FLUSH_MB)
                .saturating_mul(1 << 20),
            storage_tree_flush_blocks: self
                .storage
                .tree_flush_blocks
                .unwrap_or(defaults::STORAGE_TREE_FLUSH_BLOCKS),
            storage_min_free_bytes: self
                .storage
                .min_free_mb
                .unwrap_or(defaults::STORAGE_MIN_FREE_MB)
                .saturating_mul(1 << 20),
            log_format,
            log_level: self.log.level.unwrap_or_else(|| defaults::LOG_LEVEL.into()),
        })
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match probe.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        UserConfig::parse(text, Path::new("/etc/cc/node.toml"), env)?.validate(Path::new("/etc/cc"))
    }

    #[test]
    fn defaults_fill_and_paths_resolve_against_the_config_folder() {
        let c = parse("data_dir = \"data\"\ngenesis = \"/g.json\"\n", &[]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/etc/cc/data"));
        assert_eq!(c.genesis, PathBuf::from("/g.json"));
        assert_eq!(c.rpc_addr.to_string(), defaults::RPC_ADDR);
        assert_eq!(c.block_max_txs, defaults::BLOCK_MAX_TXS);
        assert!(c.storage_sync_writes);
        assert_eq!(c.log_format, LogFormat::Human);
    }

    #[test]
    fn environment_overrides_win() {
        let c = parse(
            "data_dir = \"d\"\ngenesis = \"g\"\n[rpc]\naddr = \"127.0.0.1:1\"\n",
            &[
                ("COUPONCHAIN__RPC__ADDR", "127.0.0.1:9000"),
                ("COUPONCHAIN__BLOCK__MAX_TXS", "500"),
                ("COUPONCHAIN__STORAGE__SYNC_WRITES", "false"),
                ("COUPONCHAIN__LOG__FORMAT", "json"),
                ("COUPONCHAIN__RPC__CORS_ORIGINS", "[\"*\"]"),
                ("UNRELATED", "x"),
            ],
        )
        .unwrap();
        assert_eq!(c.rpc_addr.port(), 9000);
        assert_eq!(c.block_max_txs, 500);
        assert!(!c.storage_sync_writes);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.rpc_cors_origins, vec!["*".to_string()]);
    }

    #[test]
    fn the_commented_templates_are_valid() {
        for (name, text) in [
            ("node.toml", include_str!("../../../config/node.toml")),
            ("dev.toml", include_str!("../../../config/dev.toml")),
        ] {
            if let Err(e) = parse(text, &[]) {
                panic!("config/{name}: {e}");
            }
        }
        let mut text = include_str!("../../../config/node.toml").to_string();
        text = text.replace("# listen = ", "listen = ");
        let c = parse(&text, &[]).unwrap();
        assert_eq!(c.p2p_listen.unwrap().to_string(), "/ip4/0.0.0.0/tcp/26656");
        assert_eq!(c.timeouts.propose_base_ms, 3000);
        assert_eq!(c.max_clock_drift_ms, 5000);
    }

    #[test]
    fn errors_name_the_field() {
        /// (config text, environment, the field the error must name)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("genesis = \"g\"", &[], "data_dir"),
            ("data_dir = \"d\"", &[], "genesis"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[rpc]\naddr = \"nowhere\"", &[], "rpc.addr"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[block]\nmax_txs = 0", &[], "block.max_txs"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[log]\nformat = \"xml\"", &[], "log.format"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[block]\nmin_interval_ms = 10\nheartbeat_ms = 5", &[], "block.min_interval_ms"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[rpc]\nmax_wait_ms = 50000", &[], "rpc.max_wait_ms"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[mempool]\nmax_txs = \"many\"", &[], "max_txs"),
            ("data_dir = \"d\"\ngenesis = \"g\"\nbogus = 1", &[], "bogus"),
            ("data_dir = \"d\"\ngenesis = \"g\"", &[("COUPONCHAIN__BLOCK__MAX_TXS", "-3")], "max_txs"),
            ("data_dir = [", &[], "node.toml"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[p2p]\nlisten = \"tcp:1\"", &[], "p2p.listen"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[p2p]\nlisten = \"/ip4/127.0.0.1/tcp/1\"\npeers = [\"/ip4/127.0.0.1/tcp/2\"]", &[], "p2p.peers"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[p2p]\npeers = [\"/ip4/127.0.0.1/tcp/2/p2p/12D3KooWRqheLQmwPq8XQkCyN6EGtTQKCZsGN2bEjS68JnorPcEx\"]", &[], "p2p.listen"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[consensus]\ntimeout_propose_ms = 0", &[], "consensus.timeout_propose_ms"),
            ("data_dir = \"d\"\ngenesis = \"g\"\n[consensus]\ntimeout_pre = 1", &[], "timeout_pre"),
        ];
        for (text, env, field) in cases {
            let err = parse(text, env).unwrap_err().to_string();
            assert!(
                err.contains(field),
                "{text:?}: error {err:?} does not name {field}"
            );
        }
    }
}
