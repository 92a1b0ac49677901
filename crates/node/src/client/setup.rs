//! Shared plumbing for the client commands: the command context, argument parsers for keys
//! and bearer codes, the transaction envelope (chain id and validity from the node's status,
//! a random nonce), and submission with reporting.

use super::http::Rpc;
use super::output::{describe, finish, Verdict};
use super::SubmitOpts;
use anyhow::{anyhow, Context};
use couponchain_chain::{BearerCode, Keypair, PublicKey, SignedTransaction, Transaction, TxBody};
use couponchain_rpc::SubmitOutcome;
use std::path::Path;

/// What every command runs with.
#[derive(Debug)]
pub struct Ctx {
    pub rpc: Rpc,
    pub json: bool,
}

impl Ctx {
    /// Prints `v` as pretty JSON on stdout.
    pub fn print_json(&self, v: &impl serde::Serialize) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }
}

/// Milliseconds since the Unix epoch by this machine's clock.
pub fn now_ms() -> anyhow::Result<u64> {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| anyhow!("the system clock is before 1970"))?;
    Ok(d.as_millis() as u64)
}

/// clap parser: a public key in hex or a key file.
pub fn key_arg(s: &str) -> Result<PublicKey, String> {
    crate::keyfile::resolve_public_key(s).map_err(|e| format!("{e:#}"))
}

/// clap parser: a bearer code.
pub fn code_arg(s: &str) -> Result<BearerCode, String> {
    BearerCode::parse(s).map_err(|e| format!("not a bearer code: {e}"))
}

pub fn load_key(path: &Path) -> anyhow::Result<Keypair> {
    crate::keyfile::read_key_file(path)
}

/// The chain facts a transaction's envelope needs.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub chain_id: String,
    /// The head block's time: the chain's "now".
    pub head_time_ms: u64,
    /// Where validity windows start: the later of chain time and this machine's clock, so
    /// a transaction sent to an idle chain (old head) does not expire at once.
    pub base_ms: u64,
    pub valid_until_ms: u64,
}

impl Envelope {
    pub async fn fetch(rpc: &Rpc, valid_for_ms: u64) -> anyhow::Result<Envelope> {
        let status = rpc
            .status()
            .await
            .context("asking the node for its status")?;
        let base_ms = status.head.time_ms.max(now_ms()?);
        Ok(Envelope {
            chain_id: status.chain_id,
            head_time_ms: status.head.time_ms,
            base_ms,
            valid_until_ms: base_ms.saturating_add(valid_for_ms),
        })
    }

    /// Signs `body` with `key`, with a fresh random nonce.
    pub fn sign(&self, key: &Keypair, body: TxBody) -> anyhow::Result<SignedTransaction> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| anyhow!("no randomness for a nonce: {e}"))?;
        Ok(Transaction {
            chain_id: self.chain_id.clone(),
            signer: key.public(),
            // 53 random bits: JSON numbers above 2^53 lose precision in JavaScript and jq,
            // which would change the signed bytes for clients that re-post the JSON form.
            nonce: u64::from_le_bytes(nonce) & ((1 << 53) - 1),
            valid_until_ms: self.valid_until_ms,
            body,
        }
        .sign(key))
    }
}

/// Largest batch request the client sends (the node's default body limit is 8 MiB).
const MAX_BATCH_BYTES: usize = 6 << 20;
const MAX_BATCH_TXS: usize = 1000;

/// Submits `txs` in order: one alone through `/v1/txs`, several through as few
/// `/v1/txs/batch` requests as the size limits allow.
pub async fn submit_all(
    ctx: &Ctx,
    txs: &[SignedTransaction],
    opts: &SubmitOpts,
) -> anyhow::Result<Vec<SubmitOutcome>> {
    let wait = opts.wait_ms();
    if let [one] = txs {
        return Ok(vec![ctx.rpc.submit(one, wait).await?]);
    }
    let mut out = Vec::with_capacity(txs.len());
    let mut start = 0;
    while start < txs.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < txs.len() && end - start < MAX_BATCH_TXS {
            let len = txs[end].encode().len();
            if end > start && bytes + len > MAX_BATCH_BYTES {
                break;
            }
            bytes += len;
            end += 1;
        }
        out.extend(ctx.rpc.submit_batch(&txs[start..end], wait).await?);
        start = end;
    }
    Ok(out)
}

/// Prints one summary line per outcome (numbered when there are several) to stdout, or to
/// stderr when stdout is reserved for ids, and returns the verdicts.
pub fn report_lines(
    outcomes: &[SubmitOutcome],
    opts: &SubmitOpts,
    to_stderr: bool,
) -> Vec<Verdict> {
    let n = outcomes.len();
    outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (line, verdict) = describe(o, opts.wait_ms());
            let line = if n > 1 {
                format!("tx {}/{n}: {line}", i + 1)
            } else {
                line
            };
            if to_stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            verdict
        })
        .collect()
}

/// Submits one transaction and reports it: the outcome's JSON or its summary line.
pub async fn submit_one(ctx: &Ctx, tx: SignedTransaction, opts: &SubmitOpts) -> anyhow::Result<()> {
    let outcomes = submit_all(ctx, std::slice::from_ref(&tx), opts).await?;
    if ctx.json {
        ctx.print_json(&outcomes[0])?;
        return finish(&verdicts(&outcomes, opts));
    }
    finish(&report_lines(&outcomes, opts, false))
}

/// The verdicts of `outcomes` without printing anything.
pub fn verdicts(outcomes: &[SubmitOutcome], opts: &SubmitOpts) -> Vec<Verdict> {
    outcomes
        .iter()
        .map(|o| describe(o, opts.wait_ms()).1)
        .collect()
}

/// The outcome's JSON with extra top-level fields (e.g. the campaign id it created).
pub fn outcome_with(
    o: &SubmitOutcome,
    extra: &[(&str, serde_json::Value)],
) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(o)?;
    if let Some(m) = v.as_object_mut() {
        for (k, x) in extra {
            m.insert((*k).to_string(), x.clone());
        }
    }
    Ok(v)
}
