//! One strict JSON parser for everything that comes from a Notary server or the trust cache.
//!
//! serde_json quietly keeps the last of two duplicate object keys; a signer and a verifier that
//! disagree about which one counts is exactly the ambiguity behind the Cure53 TUF-01-001 finding.
//! This parser builds a `serde_json::Value` and refuses duplicate keys, trailing data and
//! anything bigger than the caller's cap.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why bytes were not accepted as JSON.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The document is larger than the limit for its role.
    #[error("document is {len} bytes, over the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    /// Not JSON, not UTF-8, trailing data, too deeply nested, or a duplicate key.
    #[error("malformed JSON")]
    Syntax(#[source] serde_json::Error),
}

impl JsonError {
    /// Bytes that are not acceptable JSON came from an untrusted party.
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

/// Parses `bytes` (at most `limit` of them) into a value, refusing duplicate keys.
pub fn parse(bytes: &[u8], limit: usize) -> Result<Value, JsonError> {
    if bytes.len() > limit {
        return Err(JsonError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    // serde_json's own recursion limit (128) bounds nesting depth.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue
        .deserialize(&mut de)
        .map_err(JsonError::Syntax)?;
    de.end().map_err(JsonError::Syntax)?;
    Ok(value)
}

/// A seed that deserializes any JSON value, refusing repeated object keys at every depth.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value without duplicate object keys")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key {key:?}"
                )));
            }
            let value = access.next_value_seed(StrictValue)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: usize = 1 << 20;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(matches!(
            parse(br#"{"a":1,"a":2}"#, BIG),
            Err(JsonError::Syntax(_))
        ));
        let err = parse(br#"{"signed":{"x":[{"k":1,"k":1}]}}"#, BIG).unwrap_err();
        assert!(format!("{err:?}").contains("duplicate key"), "{err:?}");
    }

    #[test]
    fn same_key_in_sibling_objects_is_fine() {
        let v = parse(br#"[{"a":1},{"a":2}]"#, BIG).unwrap();
        assert_eq!(v[1]["a"], 2);
    }

    #[test]
    fn oversized_documents_are_refused_before_parsing() {
        assert!(matches!(
            parse(b"[1,2,3]", 3),
            Err(JsonError::TooLarge { len: 7, limit: 3 })
        ));
    }

    #[test]
    fn trailing_data_and_bad_utf8_are_refused() {
        for bad in [&b"{} {}"[..], b"\"\xff\"", b"\"\\ud800\""] {
            assert!(
                matches!(parse(bad, BIG), Err(JsonError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse(deep.as_bytes(), BIG),
            Err(JsonError::Syntax(_))
        ));
    }

    #[test]
    fn numbers_keep_their_kind() {
        let v = parse(b"[1,-1,1.5,18446744073709551615]", BIG).unwrap();
        assert!(v[0].is_u64() && v[1].is_i64() && v[2].is_f64() && v[3].is_u64());
    }

    #[test]
    fn every_fixture_parses_strictly() {
        for (name, bytes) in crate::tuf::test_support::all_fixtures() {
            parse(bytes, BIG).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
}
