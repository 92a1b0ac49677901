//! Redemption authorization codes: what a holder hands a site (as text or a QR code) so the
//! site can redeem one coupon once. The holder signs a [`RedeemAuth`] naming the chain, the
//! coupon, the site, the amount, the coupon's current redemption count and a deadline; the
//! code carries everything the site needs to rebuild it except the chain id and the site key,
//! which the site knows. Text form: `cpn1:` followed by the unpadded base64url of the
//! canonical encoding of [`AuthorizationCode`] (148 bytes, 198 characters).

use anyhow::{anyhow, bail};
use base64::Engine;
use couponchain_chain::tx::{RedeemAuth, Redemption};
use couponchain_chain::{encoding, Hash, Keypair, PublicKey, Signature};
use serde::{Deserialize, Serialize};

/// The text prefix; the digit versions the layout.
pub const PREFIX: &str = "cpn1:";

/// A holder's signed permission for one redemption, minus what the site already knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub coupon: Hash,
    pub holder: PublicKey,
    pub amount: u64,
    /// The coupon's redemption count when the holder signed; the authorization works once.
    pub seq: u32,
    /// Chain time after which the authorization is void.
    pub valid_until_ms: u64,
    pub holder_signature: Signature,
}

/// Everything an authorization is about.
#[derive(Clone, Debug)]
pub struct AuthTerms {
    pub chain_id: String,
    pub coupon: Hash,
    pub site: PublicKey,
    pub amount: u64,
    pub seq: u32,
    pub valid_until_ms: u64,
}

impl AuthorizationCode {
    /// The holder signs `terms`.
    pub fn sign(holder: &Keypair, terms: &AuthTerms) -> AuthorizationCode {
        let auth = RedeemAuth {
            chain_id: terms.chain_id.clone(),
            coupon: terms.coupon,
            site: terms.site,
            amount: terms.amount,
            seq: terms.seq,
            valid_until_ms: terms.valid_until_ms,
        };
        AuthorizationCode {
            coupon: terms.coupon,
            holder: holder.public(),
            amount: terms.amount,
            seq: terms.seq,
            valid_until_ms: terms.valid_until_ms,
            holder_signature: auth.sign(holder),
        }
    }

    pub fn to_text(&self) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(encoding::encode(self));
        format!("{PREFIX}{b64}")
    }

    /// Parses the text form, ignoring surrounding whitespace and `=` padding.
    pub fn parse(text: &str) -> anyhow::Result<AuthorizationCode> {
        let t = text.trim();
        let Some(body) = t
            .get(..PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(PREFIX))
            .map(|_| &t[PREFIX.len()..])
        else {
            bail!("not a redemption authorization: it must start with {PREFIX:?}");
        };
        let body = body.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| anyhow!("redemption authorization is not valid base64url: {e}"))?;
        encoding::decode(&bytes)
            .map_err(|e| anyhow!("redemption authorization is damaged or incomplete: {e}"))
    }

    /// The redemption a site submits with this authorization.
    pub fn redemption(&self) -> Redemption {
        Redemption {
            coupon: self.coupon,
            holder: self.holder,
            amount: self.amount,
            seq: self.seq,
            auth_valid_until_ms: self.valid_until_ms,
            holder_signature: self.holder_signature,
        }
    }

    /// Checks the holder's signature as the chain will, for this chain and this site.
    pub fn verify_for(&self, chain_id: &str, site: PublicKey) -> anyhow::Result<()> {
        let auth = RedeemAuth::of(chain_id, site, &self.redemption());
        self.holder
            .verify(&auth.signing_bytes(), &self.holder_signature)
            .map_err(|_| {
                anyhow!(
                    "the authorization's signature does not check for site {site} on chain \
                     {chain_id:?}: it was made for another site or chain, or altered"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(site: PublicKey) -> AuthTerms {
        AuthTerms {
            chain_id: "test-1".into(),
            coupon: Hash([7; 32]),
            site,
            amount: 2,
            seq: 3,
            valid_until_ms: 1_700_000_600_000,
        }
    }

    #[test]
    fn round_trips_and_verifies_for_the_right_site_only() {
        let holder = Keypair::from_seed("holder");
        let site = Keypair::from_seed("site").public();
        let code = AuthorizationCode::sign(&holder, &terms(site));
        let text = code.to_text();
        assert!(text.starts_with(PREFIX));
        assert_eq!(text.len(), PREFIX.len() + 198);
        assert!(text[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let back = AuthorizationCode::parse(&format!("  {text}\n")).unwrap();
        assert_eq!(back, code);
        back.verify_for("test-1", site).unwrap();
        assert!(back
            .verify_for("test-1", Keypair::from_seed("other").public())
            .is_err());
        assert!(back.verify_for("test-2", site).is_err());
        let r = back.redemption();
        assert_eq!(
            (r.coupon, r.holder, r.amount, r.seq, r.auth_valid_until_ms),
            (Hash([7; 32]), holder.public(), 2, 3, 1_700_000_600_000)
        );
    }

    #[test]
    fn rejects_garbage() {
        let holder = Keypair::from_seed("holder");
        let site = Keypair::from_seed("site").public();
        let text = AuthorizationCode::sign(&holder, &terms(site)).to_text();
        for bad in [
            "",
            "cpn1:",
            "hello",
            "cpn2:AAAA",
            "cpn1:!!!!",
            &text[..text.len() - 4],
            &format!("{text}AAAA"),
        ] {
            assert!(AuthorizationCode::parse(bad).is_err(), "{bad:?} parsed");
        }
        // A flipped bit still decodes but no longer verifies.
        let mut code = AuthorizationCode::parse(&text).unwrap();
        code.amount += 1;
        let tampered = AuthorizationCode::parse(&code.to_text()).unwrap();
        assert!(tampered.verify_for("test-1", site).is_err());
    }
}
