//! Writes metadata files byte-identical to Go's `encoding/json` output.
//!
//! notary-server re-serialises every uploaded file with Go's typed encoder and hashes *that* for
//! the snapshot and timestamp it generates; any other byte layout is accepted but leaves the
//! repository unreadable (the Notary wire format's "Go-identical files" rule). Go's output equals
//! the canonical form with `<`, `>`, `&`, U+2028 and U+2029 escaped, which is what this builds.

use serde_json::{Value, json};

use super::canonical::{self, CanonicalError};
use super::envelope::Signature;
use super::metadata::Metadata;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why metadata could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("metadata cannot be encoded canonically")]
    Canonical(#[source] CanonicalError),
    /// Go would escape it and the canonical form would keep it raw, so the two could never match;
    /// the server also refuses raw control bytes.
    #[error("string {0:?} contains a control character")]
    ControlCharacter(String),
    #[error("metadata cannot be converted to JSON")]
    Serialize(#[source] serde_json::Error),
}

impl WriteError {
    /// Writers only see locally built metadata: a bad value is the user's input.
    pub fn failure(&self) -> crate::failure::Failure {
        match self {
            WriteError::Serialize(_) => crate::failure::Failure::Internal,
            _ => crate::failure::Failure::Usage,
        }
    }
}

/// The `signed` value of typed metadata, with exactly Go's field set.
pub fn signed_value<T: Metadata>(meta: &T) -> Result<Value, WriteError> {
    serde_json::to_value(meta).map_err(WriteError::Serialize)
}

/// The bytes a signer signs: canonical JSON of `signed`, after the checks that keep the uploaded
/// file and the server's re-encoding identical.
pub fn signing_bytes(signed: &Value) -> Result<Vec<u8>, WriteError> {
    check_strings(signed)?;
    canonical::check_exact_integers(signed).map_err(WriteError::Canonical)?;
    canonical::encode(signed).map_err(WriteError::Canonical)
}

/// The complete file: `{"signed":…,"signatures":[…]}` as Go writes it.
pub fn file_bytes(signed: &Value, signatures: &[Signature]) -> Result<Vec<u8>, WriteError> {
    let message = signing_bytes(signed)?;
    let sigs: Vec<Value> = signatures
        .iter()
        .map(|s| json!({"keyid": s.keyid.as_str(), "method": s.method, "sig": STANDARD.encode(&s.sig)}))
        .collect();
    let sigs = Value::Array(sigs);
    check_strings(&sigs)?;
    let sigs = canonical::encode(&sigs).map_err(WriteError::Canonical)?;
    let mut out = Vec::with_capacity(message.len() + sigs.len() + 32);
    out.extend_from_slice(b"{\"signed\":");
    out.extend_from_slice(&html_escape(&message));
    out.extend_from_slice(b",\"signatures\":");
    out.extend_from_slice(&html_escape(&sigs));
    out.push(b'}');
    Ok(out)
}

/// Typed metadata straight to file bytes.
pub fn metadata_file<T: Metadata>(
    meta: &T,
    signatures: &[Signature],
) -> Result<Vec<u8>, WriteError> {
    file_bytes(&signed_value(meta)?, signatures)
}

/// Go's HTML-safe escaping applied to canonical output. In canonical JSON these characters can
/// only occur inside strings (structural characters are ASCII punctuation other than `<>&`), so a
/// plain byte substitution is exact.
pub fn html_escape(canonical: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical.len() + 16);
    let mut i = 0;
    while i < canonical.len() {
        match canonical[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if canonical.get(i + 1) == Some(&0x80)
                && matches!(canonical.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                out.extend_from_slice(if canonical[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn check_strings(value: &Value) -> Result<(), WriteError> {
    let bad = |s: &str| s.chars().any(|c| (c as u32) < 0x20);
    match value {
        Value::String(s) if bad(s) => Err(WriteError::ControlCharacter(s.clone())),
        Value::Array(items) => items.iter().try_for_each(check_strings),
        Value::Object(map) => {
            if let Some(k) = map.keys().find(|k| bad(k)) {
                return Err(WriteError::ControlCharacter(k.clone()));
            }
            map.values().try_for_each(check_strings)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::envelope::SignedEnvelope;
    use crate::tuf::metadata::{Root, Snapshot, Targets, Timestamp};

    fn rewrite_typed(bytes: &[u8]) -> Vec<u8> {
        let env = SignedEnvelope::parse(bytes, 1 << 20).unwrap();
        match env.type_name().unwrap() {
            "Root" => metadata_file(&Root::from_signed(&env.signed).unwrap(), &env.signatures),
            "Targets" => {
                metadata_file(&Targets::from_signed(&env.signed).unwrap(), &env.signatures)
            }
            "Snapshot" => metadata_file(
                &Snapshot::from_signed(&env.signed).unwrap(),
                &env.signatures,
            ),
            "Timestamp" => metadata_file(
                &Timestamp::from_signed(&env.signed).unwrap(),
                &env.signatures,
            ),
            other => panic!("{other}"),
        }
        .unwrap()
    }

    /// Every metadata sample was written by the Go client or server (deleg2's delegation files by
    /// the Python signer that follows the same recipe); none has a trailing newline. Re-writing each
    /// one from its typed content reproduces the served bytes exactly.
    #[test]
    fn every_served_sample_is_rewritten_byte_for_byte() {
        for (name, bytes) in crate::tuf::test_support::all_fixtures() {
            if name.ends_with(".key.json") {
                continue;
            }
            let again = rewrite_typed(bytes);
            assert!(
                again == bytes,
                "{name}:\n{}\n{}",
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn written_file_with_html_chars_parses_and_verifies_over_canonical() {
        use crate::tuf::names::RoleName;
        use crate::tuf::test_support::{TestKey, far, message, targets_meta};
        use crate::tuf::verify::{self, Authority};
        let key = TestKey::ecdsa();
        let mut t = targets_meta(1, far(), &[("a&b<c>", b"x"), ("\u{1F600}", b"y")]);
        t.targets.get_mut("a&b<c>").unwrap().custom =
            Some(json!({"note": "x<y & \u{2028}", "n": [1, {"b": 2, "a": 1}]}));
        let sig = key.sign(&message(&t));
        let file = metadata_file(&t, &[sig]).unwrap();
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(
            text.contains("a\\u0026b\\u003cc\\u003e") && text.contains("\\u2028"),
            "{text}"
        );
        assert!(!text.contains('<') && !text.contains('&'));
        let env = SignedEnvelope::parse(&file, 1 << 20).unwrap();
        let mut keys = std::collections::BTreeMap::new();
        keys.insert(key.id.clone(), key.public.clone());
        let a = Authority::new(RoleName::targets(), &keys, std::slice::from_ref(&key.id), 1);
        let verified = verify::verify::<Targets>(&env, &a).unwrap();
        assert_eq!(verified.get(), &t);
        // Writing what was read gives the same bytes again.
        assert_eq!(
            metadata_file(verified.get(), &env.signatures).unwrap(),
            file
        );
    }

    #[test]
    fn html_chars_and_line_separators_are_escaped_inside_strings() {
        let v = json!({"a<b": "x>&\u{2028}\u{2029}ü"});
        let canon = canonical::encode(&v).unwrap();
        assert_eq!(
            String::from_utf8(html_escape(&canon)).unwrap(),
            r#"{"a\u003cb":"x\u003e\u0026\u2028\u2029ü"}"#
        );
    }

    #[test]
    fn control_characters_and_inexact_integers_are_refused() {
        assert!(matches!(
            signing_bytes(&json!({"a": "tab\there"})),
            Err(WriteError::ControlCharacter(_))
        ));
        assert!(matches!(
            signing_bytes(&json!({"new\nline": 1})),
            Err(WriteError::ControlCharacter(_))
        ));
        assert!(matches!(
            signing_bytes(&json!({"a": 9007199254740993u64})),
            Err(WriteError::Canonical(_))
        ));
        assert!(matches!(
            signing_bytes(&json!({"a": 1.5})),
            Err(WriteError::Canonical(_))
        ));
    }
}
