//! The HTTP side of the client: a thin wrapper over reqwest for the node's `/v1` routes.
//! Transactions travel in their canonical binary encoding (`application/octet-stream`);
//! answers are JSON. Any non-success answer becomes an error carrying the node's
//! `{"code", "message"}` body, so the user sees the node's reason verbatim.

use anyhow::{anyhow, Context};
use couponchain_chain::{encoding, SignedTransaction};
use couponchain_rpc::views::BatchResults;
use couponchain_rpc::{ErrorBody, NodeStatus, SubmitOutcome};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A connection to one node's RPC.
#[derive(Debug, Clone)]
pub struct Rpc {
    base: String,
    http: reqwest::Client,
}

impl Rpc {
    /// `base` is the node's RPC address, e.g. `http://127.0.0.1:8545`. `timeout` bounds
    /// every request, so it must exceed the longest finality wait asked for.
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Rpc> {
        let base = base.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            anyhow::bail!("--rpc {base:?} must be an http:// URL");
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Rpc { base, http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GETs `path` and returns the JSON body; a non-2xx answer is an error.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        let url = self.url(path);
        let resp = self
            .http
            .get(&url)
            .query(query)
            .send()
            .await
            .map_err(|e| unreachable_node(&url, e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("reading the answer of GET {url}"))?;
        if !status.is_success() {
            return Err(node_error("GET", &url, status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("GET {url}: the node's answer is not JSON"))
    }

    /// GETs `path` and decodes the JSON body as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let v = self.get_json(path, &[]).await?;
        serde_json::from_value(v)
            .with_context(|| format!("GET {path}: unexpected answer from the node"))
    }

    pub async fn status(&self) -> anyhow::Result<NodeStatus> {
        self.get("/v1/status").await
    }

    /// Submits one transaction; with `wait_ms`, waits up to that long for finality.
    pub async fn submit(
        &self,
        tx: &SignedTransaction,
        wait_ms: Option<u64>,
    ) -> anyhow::Result<SubmitOutcome> {
        let url = self.url("/v1/txs");
        let bytes = self.post(&url, tx.encode(), wait_ms).await?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("POST {url}: unexpected answer from the node"))
    }

    /// Submits transactions in one request, in order.
    pub async fn submit_batch(
        &self,
        txs: &[SignedTransaction],
        wait_ms: Option<u64>,
    ) -> anyhow::Result<Vec<SubmitOutcome>> {
        let url = self.url("/v1/txs/batch");
        let owned: Vec<SignedTransaction> = txs.to_vec();
        let bytes = self.post(&url, encoding::encode(&owned), wait_ms).await?;
        let resp: BatchResults = serde_json::from_slice(&bytes)
            .with_context(|| format!("POST {url}: unexpected answer from the node"))?;
        if resp.results.len() != txs.len() {
            anyhow::bail!(
                "POST {url}: the node answered {} results for {} transactions",
                resp.results.len(),
                txs.len()
            );
        }
        Ok(resp.results)
    }

    /// POSTs an octet-stream body; 200 and 422 carry submit outcomes, anything else is an
    /// error body.
    async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        wait_ms: Option<u64>,
    ) -> anyhow::Result<Vec<u8>> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(ms) = wait_ms {
            query.push(("wait", "final".into()));
            query.push(("timeout_ms", ms.to_string()));
        }
        let resp = self
            .http
            .post(url)
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable_node(url, e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("reading the answer of POST {url}"))?;
        if status == 200 || status == 422 {
            Ok(bytes.to_vec())
        } else {
            Err(node_error("POST", url, status, &bytes))
        }
    }
}

fn unreachable_node(url: &str, e: reqwest::Error) -> anyhow::Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    anyhow::Error::new(e).context(format!(
        "request to {url} {what} (is the node running? set --rpc or COUPONCHAIN_RPC)"
    ))
}

/// An error built from a non-success answer, quoting the node's error body.
fn node_error(method: &str, url: &str, status: u16, body: &[u8]) -> anyhow::Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => anyhow!("{} ({method} {url} answered {status})", describe_error(&e)),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(300).collect();
            anyhow!("{method} {url} answered {status}: {}", text.trim())
        }
    }
}

/// `code: message`, the way the CLI shows every node error.
pub fn describe_error(e: &ErrorBody) -> String {
    format!("{}: {}", e.code, e.message)
}
