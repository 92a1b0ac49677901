//! Recipient lists for `couponchain issue --file`: CSV with a header row naming an `owner`
//! column (public keys in hex) and optionally a `bearer` column (true/false, yes/no, 1/0,
//! empty = false); other columns are ignored, so a shop can pass its own export. Or JSON:
//! an array of `{"owner": "<hex>", "bearer": false}` objects (or plain hex strings).
//! Every error names the file and the line or entry at fault.

use anyhow::{anyhow, bail, Context};
use couponchain_chain::tx::Recipient;
use couponchain_chain::PublicKey;
use serde::Deserialize;
use std::path::Path;

/// Reads a recipient file, choosing the format by extension (`.csv`, `.json`) or, failing
/// that, by whether the content starts with `[`.
pub fn read_recipients(path: &Path) -> anyhow::Result<Vec<Recipient>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading recipients from {}", path.display()))?;
    let name = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let json = match ext.as_deref() {
        Some("json") => true,
        Some("csv") => false,
        _ => text.trim_start().starts_with('['),
    };
    let out = if json {
        parse_json(&text, &name)?
    } else {
        parse_csv(&text, &name)?
    };
    if out.is_empty() {
        bail!("{name}: no recipients");
    }
    Ok(out)
}

fn parse_key(s: &str) -> Result<PublicKey, String> {
    s.trim()
        .parse::<PublicKey>()
        .map_err(|e| format!("owner {s:?} is not a public key: {e}"))
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" | "n" => Ok(false),
        "true" | "yes" | "1" | "y" => Ok(true),
        other => Err(format!("bearer {other:?} is not true/false")),
    }
}

/// CSV with a header row; see the module documentation.
pub fn parse_csv(text: &str, name: &str) -> anyhow::Result<Vec<Recipient>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .with_context(|| format!("{name}: reading the header row"))?
        .clone();
    let col = |want: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(want));
    let Some(owner_col) = col("owner") else {
        bail!(
            "{name}: the header row must name an `owner` column (found: {})",
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let bearer_col = col("bearer");
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| anyhow!("{name}: {e}"))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let at = |msg: String| anyhow!("{name} line {line}: {msg}");
        let owner = parse_key(rec.get(owner_col).unwrap_or("")).map_err(at)?;
        let bearer = match bearer_col {
            Some(c) => parse_bool(rec.get(c).unwrap_or("")).map_err(at)?,
            None => false,
        };
        out.push(Recipient { owner, bearer });
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecipient {
    owner: String,
    #[serde(default)]
    bearer: bool,
}

/// A JSON array of `{"owner", "bearer"}` objects or hex strings.
pub fn parse_json(text: &str, name: &str) -> anyhow::Result<Vec<Recipient>> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| anyhow!("{name}: expected a JSON array of recipients: {e}"))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let at = |msg: String| anyhow!("{name} entry {} (of the array): {msg}", i + 1);
            let r = match v {
                serde_json::Value::String(s) => JsonRecipient {
                    owner: s,
                    bearer: false,
                },
                v @ serde_json::Value::Object(_) => serde_json::from_value(v).map_err(|e| {
                    at(format!(
                        "expected {{\"owner\": hex, \"bearer\": bool}}: {e}"
                    ))
                })?,
                other => return Err(at(format!("expected an object, got {other}"))),
            };
            Ok(Recipient {
                owner: parse_key(&r.owner).map_err(at)?,
                bearer: r.bearer,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponchain_chain::Keypair;

    fn pk(s: &str) -> PublicKey {
        Keypair::from_seed(s).public()
    }

    #[test]
    fn csv_with_and_without_bearer_column() {
        let (a, b) = (pk("a"), pk("b"));
        let text = format!("email,owner,bearer\nx@y,{a},true\n# comment\n\nz@w, {b} ,\n");
        let r = parse_csv(&text, "r.csv").unwrap();
        assert_eq!(
            r,
            vec![
                Recipient {
                    owner: a,
                    bearer: true
                },
                Recipient {
                    owner: b,
                    bearer: false
                }
            ]
        );
        let r = parse_csv(&format!("Owner\n{a}\n"), "r.csv").unwrap();
        assert_eq!(r.len(), 1);
        assert!(!r[0].bearer);
    }

    #[test]
    fn csv_errors_name_file_and_line() {
        let a = pk("a");
        let e = parse_csv(&format!("who\n{a}\n"), "r.csv").unwrap_err();
        assert!(e.to_string().contains("r.csv") && e.to_string().contains("`owner`"));
        let e = parse_csv(&format!("owner\n{a}\nnot-a-key\n"), "r.csv").unwrap_err();
        assert!(e.to_string().contains("r.csv line 3"), "{e}");
        let e = parse_csv(&format!("owner,bearer\n{a},maybe\n"), "r.csv").unwrap_err();
        assert!(
            e.to_string().contains("line 2") && e.to_string().contains("maybe"),
            "{e}"
        );
        let e = parse_csv(&format!("owner,bearer\n{a},true,extra\n"), "r.csv").unwrap_err();
        assert!(e.to_string().contains("r.csv"), "{e}");
    }

    #[test]
    fn json_objects_and_strings() {
        let (a, b) = (pk("a"), pk("b"));
        let text = format!(r#"[{{"owner": "{a}", "bearer": true}}, {{"owner": "{b}"}}, "{a}"]"#);
        let r = parse_json(&text, "r.json").unwrap();
        assert_eq!(r.len(), 3);
        assert!(r[0].bearer && !r[1].bearer && !r[2].bearer);
        assert_eq!((r[1].owner, r[2].owner), (b, a));
    }

    #[test]
    fn json_errors_name_the_entry() {
        let a = pk("a");
        let e = parse_json("{}", "r.json").unwrap_err();
        assert!(e.to_string().contains("JSON array"), "{e}");
        let e = parse_json(&format!(r#"["{a}", {{"owner": "xyz"}}]"#), "r.json").unwrap_err();
        assert!(e.to_string().contains("r.json entry 2"), "{e}");
        let e =
            parse_json(&format!(r#"[{{"owner": "{a}", "bearr": true}}]"#), "r.json").unwrap_err();
        assert!(
            e.to_string().contains("entry 1") && e.to_string().contains("bearr"),
            "{e}"
        );
        let e = parse_json("[42]", "r.json").unwrap_err();
        assert!(e.to_string().contains("entry 1"), "{e}");
    }

    #[test]
    fn reads_files_by_extension_and_refuses_empty_ones() {
        let dir = tempfile::tempdir().unwrap();
        let a = pk("a");
        let csv = dir.path().join("r.csv");
        std::fs::write(&csv, format!("owner\n{a}\n")).unwrap();
        assert_eq!(read_recipients(&csv).unwrap().len(), 1);
        let json = dir.path().join("r.txt");
        std::fs::write(&json, format!(r#"["{a}"]"#)).unwrap();
        assert_eq!(read_recipients(&json).unwrap().len(), 1);
        let empty = dir.path().join("e.csv");
        std::fs::write(&empty, "owner\n").unwrap();
        assert!(read_recipients(&empty)
            .unwrap_err()
            .to_string()
            .contains("no recipients"));
    }
}
