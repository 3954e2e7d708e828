//! The signed envelope every Notary metadata file shares: `{"signed": …, "signatures": […]}`.
//!
//! `signed` is kept as a raw JSON value because signatures cover its canonical re-encoding, not
//! the file bytes (the Notary wire format's canonical JSON rule). Unknown members next to
//! `signed` are ignored on read, as the Go client does, and never written back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::names::{KeyId, NameError};
use super::strict_json::{self, JsonError};

/// One entry of `signatures`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub keyid: KeyId,
    /// As written; compared case-insensitively by the verifier.
    pub method: String,
    /// Raw signature bytes (the file holds standard base64 with padding).
    pub sig: Vec<u8>,
}

/// A parsed but unverified metadata file.
#[derive(Debug, Clone)]
pub struct SignedEnvelope {
    pub signed: Value,
    pub signatures: Vec<Signature>,
}

/// Why bytes are not a signed envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Json(#[from] JsonError),
    #[error("`{0}` is missing or has the wrong JSON type")]
    Shape(&'static str),
    #[error("signature {index} has a bad key id")]
    KeyId {
        index: usize,
        #[source]
        source: NameError,
    },
    #[error("signature {index} is not valid base64")]
    Base64 {
        index: usize,
        #[source]
        source: base64::DecodeError,
    },
    /// Notary answers "tuf: data has no signatures" for this.
    #[error("metadata has no signatures")]
    NoSignatures,
}

impl EnvelopeError {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

impl SignedEnvelope {
    /// Parses a metadata file of at most `limit` bytes.
    pub fn parse(bytes: &[u8], limit: usize) -> Result<Self, EnvelopeError> {
        let value = strict_json::parse(bytes, limit)?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Self, EnvelopeError> {
        let Value::Object(mut top) = value else {
            return Err(EnvelopeError::Shape("file"));
        };
        let signed = top
            .remove("signed")
            .filter(Value::is_object)
            .ok_or(EnvelopeError::Shape("signed"))?;
        let Some(Value::Array(raw_sigs)) = top.remove("signatures") else {
            return Err(EnvelopeError::Shape("signatures"));
        };
        if raw_sigs.is_empty() {
            return Err(EnvelopeError::NoSignatures);
        }
        let mut signatures = Vec::with_capacity(raw_sigs.len());
        for (index, raw) in raw_sigs.iter().enumerate() {
            let field = |name: &'static str| {
                raw.get(name)
                    .and_then(Value::as_str)
                    .ok_or(EnvelopeError::Shape(name))
            };
            let keyid = KeyId::parse(field("keyid")?)
                .map_err(|source| EnvelopeError::KeyId { index, source })?;
            let method = field("method")?.to_owned();
            let sig = STANDARD
                .decode(field("sig")?)
                .map_err(|source| EnvelopeError::Base64 { index, source })?;
            signatures.push(Signature { keyid, method, sig });
        }
        Ok(SignedEnvelope { signed, signatures })
    }

    /// The `_type` member of `signed`, if it is a string.
    pub fn type_name(&self) -> Option<&str> {
        self.signed.get("_type").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metadata_fixture_is_an_envelope() {
        for (name, bytes) in crate::tuf::test_support::all_fixtures() {
            if name.ends_with(".key.json") {
                continue;
            }
            let env =
                SignedEnvelope::parse(bytes, 1 << 20).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(!env.signatures.is_empty());
        }
    }

    proptest::proptest! {
        /// Hostile bytes give an error, never a panic, at every parsing layer.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(env) = SignedEnvelope::parse(&bytes, 1 << 20) {
                let _ = <crate::tuf::metadata::Root as crate::tuf::metadata::Metadata>::from_signed(&env.signed);
            }
        }

        /// Mutating one byte of a real file never panics the parsers.
        #[test]
        fn mutated_fixture_never_panics(pos in 0usize..5593, byte in proptest::prelude::any::<u8>()) {
            let mut bytes = crate::tuf::test_support::fixture("deleg2/targets.json").to_vec();
            bytes[pos % 5593] = byte;
            if let Ok(env) = SignedEnvelope::parse(&bytes, 1 << 20) {
                let _ = <crate::tuf::metadata::Targets as crate::tuf::metadata::Metadata>::from_signed(&env.signed);
            }
        }
    }

    #[test]
    fn empty_signatures_are_refused() {
        let err = SignedEnvelope::parse(br#"{"signed":{},"signatures":[]}"#, 1024).unwrap_err();
        assert!(matches!(err, EnvelopeError::NoSignatures));
    }

    #[test]
    fn unsigned_extra_member_is_ignored() {
        let k = "a".repeat(64);
        let doc = format!(
            r#"{{"abc":1,"signed":{{"_type":"Targets"}},"signatures":[{{"keyid":"{k}","method":"ecdsa","sig":"AAAA"}}]}}"#
        );
        let env = SignedEnvelope::parse(doc.as_bytes(), 1024).unwrap();
        assert_eq!(env.type_name(), Some("Targets"));
        assert_eq!(env.signatures[0].sig, vec![0, 0, 0]);
    }

    #[test]
    fn bad_signature_entries_are_refused() {
        let k = "a".repeat(64);
        let bad_id = r#"{"keyid":"ABC","method":"ecdsa","sig":"AAAA"}"#.to_string();
        let bad_base64 = format!(r#"{{"keyid":"{k}","method":"ecdsa","sig":"not base64!"}}"#);
        let no_method = format!(r#"{{"keyid":"{k}","sig":"AAAA"}}"#);
        let parse = |sig: &str| {
            let doc = format!(r#"{{"signed":{{}},"signatures":[{sig}]}}"#);
            SignedEnvelope::parse(doc.as_bytes(), 1024)
        };
        assert!(matches!(
            parse(&bad_id),
            Err(EnvelopeError::KeyId { index: 0, .. })
        ));
        assert!(matches!(
            parse(&bad_base64),
            Err(EnvelopeError::Base64 { index: 0, .. })
        ));
        let err = parse(&no_method).unwrap_err();
        assert!(matches!(err, EnvelopeError::Shape(_)), "{err:?}");
    }
}
