//! A small typed client over the RPC for end-to-end tests: builds and signs transactions
//! with the demo keys and submits them in binary, waiting for finality.

use couponchain_chain::tx::{
    Benefit, CampaignSpec, CouponKind, RedeemAuth, Redemption, SitePolicy, Terms, TxBody,
};
use couponchain_chain::{Hash, Keypair, SignedTransaction, Transaction};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn demo(role: &str) -> Keypair {
    Keypair::from_seed(&format!("couponchain-dev/{role}"))
}

static NONCE: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
pub struct Api {
    pub http: reqwest::Client,
    pub url: String,
    pub chain_id: String,
}

impl Api {
    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let r = self.http.get(format!("{}/metrics", self.url)).send().await;
        r.unwrap().text().await.unwrap()
    }

    pub async fn connect(url: &str) -> Api {
        let http = reqwest::Client::new();
        let status: Value = http
            .get(format!("{url}/v1/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            http,
            url: url.to_string(),
            chain_id: status["chain_id"].as_str().unwrap().to_string(),
        }
    }

    pub async fn chain_time(&self) -> u64 {
        let s: Value = self.get("/v1/status").await.1;
        s["head"]["time_ms"].as_u64().unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn tx(&self, signer: &Keypair, body: TxBody) -> SignedTransaction {
        let now = self.chain_time().await;
        Transaction {
            chain_id: self.chain_id.clone(),
            signer: signer.public(),
            nonce: NONCE.fetch_add(1, Ordering::Relaxed),
            valid_until_ms: now + 10 * 60_000,
            body,
        }
        .sign(signer)
    }

    /// A `CreateCampaign` by `issuer`, open from the chain's time now for an hour.
    pub async fn open_campaign(&self, issuer: &Keypair, name: &str) -> SignedTransaction {
        let now = self.chain_time().await;
        let body = TxBody::CreateCampaign(spec(name, now - 1, now + 3_600_000));
        self.tx(issuer, body).await
    }

    /// Submits one transaction in binary and waits for finality.
    pub async fn submit(&self, tx: &SignedTransaction) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/txs?wait=final&timeout_ms=10000", self.url))
            .header("content-type", "application/octet-stream")
            .body(tx.encode())
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap())
    }

    /// Submits and expects the transaction final and applied; returns the outcome.
    pub async fn applied(&self, tx: &SignedTransaction) -> Value {
        let (code, out) = self.submit(tx).await;
        assert_eq!(code, 200, "{out}");
        assert_eq!(out["status"], "final", "{out}");
        assert!(
            out["receipt"]["outcome"]["applied"].is_object(),
            "not applied: {out}"
        );
        out
    }

    /// Submits and expects it final but refused by the runtime with `code`.
    pub async fn refused_final(&self, tx: &SignedTransaction, code: &str) {
        let (http, out) = self.submit(tx).await;
        assert_eq!(http, 200, "{out}");
        assert_eq!(out["status"], "final", "{out}");
        assert_eq!(out["receipt"]["outcome"]["refused"]["code"], code, "{out}");
    }

    /// Submits and expects refusal at admission (HTTP 422) with `code`.
    pub async fn refused_admission(&self, tx: &SignedTransaction, code: &str) {
        let (http, out) = self.submit(tx).await;
        assert_eq!(http, 422, "{out}");
        assert_eq!(out["status"], "refused", "{out}");
        assert_eq!(out["error"]["code"], code, "{out}");
    }

    pub async fn redeem(
        &self,
        site: &Keypair,
        holder: &Keypair,
        coupon: Hash,
        amount: u64,
        seq: u32,
    ) -> SignedTransaction {
        let now = self.chain_time().await;
        let auth = RedeemAuth {
            chain_id: self.chain_id.clone(),
            coupon,
            site: site.public(),
            amount,
            seq,
            valid_until_ms: now + 60_000,
        };
        let r = Redemption {
            coupon,
            holder: holder.public(),
            amount,
            seq,
            auth_valid_until_ms: auth.valid_until_ms,
            holder_signature: auth.sign(holder),
        };
        self.tx(site, TxBody::Redeem(r)).await
    }
}

pub fn spec(name: &str, not_before_ms: u64, expires_at_ms: u64) -> CampaignSpec {
    CampaignSpec {
        name: name.into(),
        terms: Terms {
            benefit: Benefit::AmountOff { amount: 500 },
            currency: Some("EUR".into()),
            metadata: "e2e".into(),
        },
        not_before_ms,
        expires_at_ms,
        max_supply: 100,
        transferable: true,
        kind: CouponKind::SingleUse,
        redeem_at: SitePolicy::AnySiteOfIssuer,
        region_prefix: None,
        per_holder_limit: None,
    }
}
