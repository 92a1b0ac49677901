//! Key files: a JSON object `{"public_key": "<hex>", "secret_key": "<hex>"}` holding one
//! ed25519 key. Files are created with mode 0600 and never overwritten unless asked; reading
//! one checks that the public key belongs to the secret and warns when the file is readable
//! by others. Command-line arguments that name a public key accept either the key in hex or
//! the path of a key file (a file with only `public_key` is enough for that).

use anyhow::{bail, Context};
use couponchain_chain::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The on-disk form. `secret_key` is optional so that a file holding only someone else's
/// public key can stand in for that key on the command line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    public_key: PublicKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
}

/// Writes `kp` to `path` with mode 0600. Refuses to replace an existing file unless `force`.
pub fn write_key_file(path: &Path, kp: &Keypair, force: bool) -> anyhow::Result<()> {
    let file = KeyFile {
        public_key: kp.public(),
        secret_key: Some(hex::encode(kp.secret_bytes())),
    };
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    write_new_file(path, text.as_bytes(), 0o600, force, "key file")
}

/// Writes `bytes` to a new file with `mode` (tightening the mode of a file it replaces),
/// and syncs it. Refuses to replace an existing file unless `force`; `what` names the file
/// in errors.
pub fn write_new_file(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    force: bool,
    what: &str,
) -> anyhow::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).mode(mode);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{what} {} already exists; pass --force to overwrite it",
                path.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("creating {what} {}", path.display()))
        }
    })?;
    if force {
        // An existing file keeps its old mode when truncated; set it.
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting mode {mode:o} on {}", path.display()))?;
    }
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {what} {}", path.display()))?;
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<KeyFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "key file {} is not a JSON object {{\"public_key\": hex, \"secret_key\": hex}}",
            path.display()
        )
    })
}

/// Reads a key file with its secret, checking that the public key matches the secret.
pub fn read_key_file(path: &Path) -> anyhow::Result<Keypair> {
    warn_if_loose(path);
    let file = load(path)?;
    let Some(secret) = file.secret_key else {
        bail!(
            "key file {} holds only a public key; signing needs the secret key",
            path.display()
        );
    };
    let secret: [u8; 32] = couponchain_chain::bytes::parse_hex::<32>(secret.trim())
        .map_err(|e| anyhow::anyhow!("key file {}: secret_key: {e}", path.display()))?;
    let kp = Keypair::from_secret(&secret);
    if kp.public() != file.public_key {
        bail!(
            "key file {}: public_key {} does not belong to the secret key (which gives {})",
            path.display(),
            file.public_key,
            kp.public()
        );
    }
    Ok(kp)
}

/// Reads only the public key of a key file (the secret, if present, must match it).
pub fn read_public_key_file(path: &Path) -> anyhow::Result<PublicKey> {
    let file = load(path)?;
    if file.secret_key.is_some() {
        return Ok(read_key_file(path)?.public());
    }
    Ok(file.public_key)
}

/// A public key given on the command line: 64 hex digits (optionally `0x`-prefixed), or
/// the path of a key file.
pub fn resolve_public_key(arg: &str) -> anyhow::Result<PublicKey> {
    let t = arg.trim();
    let digits = t.strip_prefix("0x").unwrap_or(t);
    if digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return t
            .parse::<PublicKey>()
            .map_err(|e| anyhow::anyhow!("{t:?} is not a public key: {e}"));
    }
    let path = Path::new(t);
    if path.is_file() {
        return read_public_key_file(path);
    }
    bail!("{arg:?} is neither a public key (64 hex digits) nor a key file")
}

/// Warns (tracing) when a key file can be read or written by its group or others.
fn warn_if_loose(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "key file {} has mode {:o}; it should be 0600 (chmod 600 {})",
                path.display(),
                mode,
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let kp = Keypair::from_seed("alice");
        write_key_file(&path, &kp, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = read_key_file(&path).unwrap();
        assert_eq!(back.public(), kp.public());
        assert_eq!(back.secret_bytes(), kp.secret_bytes());
        assert_eq!(read_public_key_file(&path).unwrap(), kp.public());
        assert_eq!(
            resolve_public_key(path.to_str().unwrap()).unwrap(),
            kp.public()
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["public_key"], kp.public().to_hex());
    }

    #[test]
    fn refuses_to_overwrite_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let a = Keypair::from_seed("a");
        let b = Keypair::from_seed("b");
        write_key_file(&path, &a, false).unwrap();
        let err = write_key_file(&path, &b, false).unwrap_err().to_string();
        assert!(
            err.contains("already exists") && err.contains("--force"),
            "{err}"
        );
        assert_eq!(read_key_file(&path).unwrap().public(), a.public());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_key_file(&path, &b, true).unwrap();
        assert_eq!(read_key_file(&path).unwrap().public(), b.public());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn mismatched_or_malformed_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        let a = Keypair::from_seed("a");
        let b = Keypair::from_seed("b");
        let text = format!(
            r#"{{"public_key": "{}", "secret_key": "{}"}}"#,
            a.public(),
            hex::encode(b.secret_bytes())
        );
        std::fs::write(&path, text).unwrap();
        let err = read_key_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("bad.json") && err.contains("does not belong"),
            "{err}"
        );

        std::fs::write(&path, "not json").unwrap();
        let err = format!("{:#}", read_key_file(&path).unwrap_err());
        assert!(err.contains("bad.json"), "{err}");

        let missing = dir.path().join("missing.json");
        let err = format!("{:#}", read_key_file(&missing).unwrap_err());
        assert!(err.contains("missing.json"), "{err}");
    }

    #[test]
    fn public_only_files_resolve_but_cannot_sign() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pub.json");
        let a = Keypair::from_seed("a");
        std::fs::write(&path, format!(r#"{{"public_key": "{}"}}"#, a.public())).unwrap();
        assert_eq!(
            resolve_public_key(path.to_str().unwrap()).unwrap(),
            a.public()
        );
        assert!(read_key_file(&path)
            .unwrap_err()
            .to_string()
            .contains("only a public key"));
    }

    #[test]
    fn resolves_hex_keys_and_rejects_garbage() {
        let a = Keypair::from_seed("a").public();
        assert_eq!(resolve_public_key(&a.to_hex()).unwrap(), a);
        assert_eq!(resolve_public_key(&format!("0x{a}")).unwrap(), a);
        let err = resolve_public_key("nope").unwrap_err().to_string();
        assert!(err.contains("neither"), "{err}");
    }
}
