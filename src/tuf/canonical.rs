//! Canonical JSON exactly as Notary computes it before signing or verifying.
//!
//! The server and the Go client parse `signed` into a generic value and re-encode it (the Notary
//! wire format, "canonical JSON" rules): object members sorted by raw UTF-8 bytes, no whitespace,
//! only `"` and `\` escaped, numbers as integers. Signatures cover these bytes, never the file
//! bytes, so this is the one encoder every signature check and every signer uses.

use serde_json::{Map, Number, Value};

/// 2^63: Go converts integral float64 values to int64, so anything at or beyond this overflows.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// 2^53: the largest magnitude below which every integer survives the server's float64 round trip.
pub const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// A value that has no canonical form.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CanonicalError {
    /// Notary's canonical form only has integers; `1.5` is refused by the server as well.
    #[error("number {0} is not an integer; canonical JSON has integers only")]
    NonIntegral(String),
    /// Go would overflow converting this to int64.
    #[error("number {0} is outside the 64-bit signed integer range")]
    OutOfRange(String),
    /// Writers only: the server's float64 round trip would change this integer.
    #[error("integer {0} is larger than 2^53 and would change value on the server")]
    Inexact(String),
}

impl CanonicalError {
    /// Malformed metadata from a server is untrusted; a local writer reports it separately.
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

/// Canonical bytes of `value`.
pub fn encode(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

/// Refuses integers that the server's float64 round trip would alter (more than 2^53 in
/// magnitude). Verification mirrors Go and rounds them; a writer must not produce them at all,
/// because the uploaded bytes and the bytes the server re-creates would then differ.
pub fn check_exact_integers(value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Number(n) => {
            let exact = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u <= MAX_EXACT_INTEGER,
                (None, Some(i)) => i.unsigned_abs() <= MAX_EXACT_INTEGER,
                (None, None) => true, // floats are judged by `encode`
            };
            if exact {
                Ok(())
            } else {
                Err(CanonicalError::Inexact(n.to_string()))
            }
        }
        Value::Array(items) => items.iter().try_for_each(check_exact_integers),
        Value::Object(map) => map.values().try_for_each(check_exact_integers),
        _ => Ok(()),
    }
}

/// How deep [`is_canonical`] follows nesting: well inside the parser's own limit (128), so a
/// document it accepts is one the strict parser reads too.
const MAX_CANONICAL_DEPTH: usize = 64;

/// Whether `text` is exactly one JSON value already in canonical form, so that
/// `encode(parse(text)) == text` and the signatures over `text` are the signatures over its
/// canonical form: no whitespace; object members in strictly increasing byte order (so no
/// duplicate keys); strings escaping only `"` and `\`; integers written as Go prints them, at
/// most 2^53 in magnitude. A `false` only means "not proven": the caller parses and re-encodes
/// as usual. Keys holding an escape are not proven either (their decoded order differs from
/// their written one), nor is nesting deeper than 64.
pub fn is_canonical(text: &str) -> bool {
    let mut at = 0;
    canonical_value(text.as_bytes(), &mut at, 0) && at == text.len()
}

fn canonical_value(b: &[u8], at: &mut usize, depth: usize) -> bool {
    match b.get(*at) {
        Some(b'{') if depth < MAX_CANONICAL_DEPTH => canonical_object(b, at, depth + 1),
        Some(b'[') if depth < MAX_CANONICAL_DEPTH => canonical_array(b, at, depth + 1),
        Some(b'"') => canonical_string(b, at).is_some(),
        Some(b'-' | b'0'..=b'9') => canonical_integer(b, at),
        Some(b't') => literal(b, at, b"true"),
        Some(b'f') => literal(b, at, b"false"),
        Some(b'n') => literal(b, at, b"null"),
        _ => false,
    }
}

fn literal(b: &[u8], at: &mut usize, word: &[u8]) -> bool {
    let found = b[*at..].starts_with(word);
    *at += word.len();
    found
}

fn canonical_object(b: &[u8], at: &mut usize, depth: usize) -> bool {
    let mut last: Option<&[u8]> = None;
    items(b, at, b'}', |b, at| {
        let start = *at + 1;
        // Escapes only `"` and `\`, and none in a key: its bytes are its decoded bytes.
        if canonical_string(b, at) != Some(false) {
            return false;
        }
        let key = &b[start..*at - 1];
        if last.is_some_and(|l| l >= key) || b.get(*at) != Some(&b':') {
            return false;
        }
        last = Some(key);
        *at += 1;
        canonical_value(b, at, depth)
    })
}

fn canonical_array(b: &[u8], at: &mut usize, depth: usize) -> bool {
    items(b, at, b']', |b, at| canonical_value(b, at, depth))
}

/// The items of the object or array opening at `at`, each read by `item`, separated by `,`
/// and closed by `close`: empty, or one item after another, nothing else.
fn items<'b>(
    b: &'b [u8],
    at: &mut usize,
    close: u8,
    mut item: impl FnMut(&'b [u8], &mut usize) -> bool,
) -> bool {
    *at += 1; // `{` or `[`
    if b.get(*at) == Some(&close) {
        *at += 1;
        return true;
    }
    loop {
        if !item(b, at) {
            return false;
        }
        match b.get(*at) {
            Some(b',') => *at += 1,
            Some(&c) if c == close => {
                *at += 1;
                return true;
            }
            _ => return false,
        }
    }
}

/// A string as the canonical encoder writes it: `Some(escaped)` when it is one, where
/// `escaped` says whether it holds an escape (`\"` or `\\`, the only two allowed). Control
/// characters must be escaped in JSON but are written raw in canonical form, so a string
/// holding one is never proven canonical.
fn canonical_string(b: &[u8], at: &mut usize) -> Option<bool> {
    if b.get(*at) != Some(&b'"') {
        return None;
    }
    *at += 1;
    let mut escaped = false;
    loop {
        // Skip the plain run at once: names and digests are long and have nothing to escape.
        *at += b
            .get(*at..)?
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        match *b.get(*at)? {
            b'"' => {
                *at += 1;
                return Some(escaped);
            }
            b'\\' => {
                if !matches!(b.get(*at + 1), Some(b'"' | b'\\')) {
                    return None;
                }
                escaped = true;
                *at += 2;
            }
            0x00..=0x1f => return None,
            _ => *at += 1,
        }
    }
}

/// An integer as Go prints it after its float64 round trip: no leading zeros, no `-0`, no
/// fraction or exponent, and at most 2^53 in magnitude (where the round trip is exact).
fn canonical_integer(b: &[u8], at: &mut usize) -> bool {
    let negative = b[*at] == b'-';
    if negative {
        *at += 1;
    }
    let digits = *at;
    while b.get(*at).is_some_and(u8::is_ascii_digit) {
        *at += 1;
    }
    let text = &b[digits..*at];
    let well_formed = match text {
        [] => false,
        [b'0'] => !negative,
        [b'0', ..] => false,
        _ => text.len() <= 16,
    };
    if !well_formed || matches!(b.get(*at), Some(b'.' | b'e' | b'E')) {
        return false;
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .is_some_and(|v| v <= MAX_EXACT_INTEGER)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out)?,
    }
    Ok(())
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    // Sorted explicitly by raw bytes: serde_json's map order depends on a cargo feature
    // (`preserve_order`) that another crate in the tree could switch on.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_value(value, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// Only `"` and `\` are escaped; control characters, `<>&` and U+2028 are written raw, as Go's
/// canonical encoder does.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Every number passes through float64 on the Go side (generic decode), and integral floats are
/// printed as int64. Doing the same here makes `1.0`, `1e3` and big integers encode as Go does.
fn write_number(n: &Number, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    let f = if let Some(i) = n.as_i64() {
        i as f64
    } else if let Some(u) = n.as_u64() {
        u as f64
    } else {
        match n.as_f64() {
            Some(f) if f.is_finite() => f,
            _ => return Err(CanonicalError::NonIntegral(n.to_string())),
        }
    };
    if f.fract() != 0.0 {
        return Err(CanonicalError::NonIntegral(n.to_string()));
    }
    if !(-TWO_POW_63..TWO_POW_63).contains(&f) {
        return Err(CanonicalError::OutOfRange(n.to_string()));
    }
    // In range (checked above) and integral: the conversion is exact.
    #[allow(clippy::cast_possible_truncation)]
    let integral = f as i64;
    out.extend_from_slice(integral.to_string().as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn enc(v: &Value) -> String {
        String::from_utf8(encode(v).unwrap()).unwrap()
    }

    #[test]
    fn members_are_sorted_and_whitespace_dropped() {
        assert_eq!(
            enc(&json!({"b": [1, 2], "a": {"d": null, "c": true}})),
            r#"{"a":{"c":true,"d":null},"b":[1,2]}"#
        );
    }

    #[test]
    fn keys_sort_by_utf8_bytes_not_utf16() {
        // U+FF01 (EF BC 81) sorts before U+1F600 (F0 9F 98 80) bytewise; UTF-16 order is the opposite.
        let v = json!({"\u{1F600}": 1, "\u{FF01}": 2, "a": 3});
        assert_eq!(enc(&v), "{\"a\":3,\"\u{FF01}\":2,\"\u{1F600}\":1}");
    }

    #[test]
    fn keys_with_low_bytes_sort_unescaped() {
        let v = json!({"a!": 1, "a": 2, "a b": 3});
        assert_eq!(enc(&v), r#"{"a":2,"a b":3,"a!":1}"#);
    }

    #[test]
    fn only_quote_and_backslash_are_escaped() {
        let v = json!({"s": "<>&\u{2028}/\t\"\\ü"});
        assert_eq!(enc(&v), "{\"s\":\"<>&\u{2028}/\t\\\"\\\\ü\"}");
    }

    #[test]
    fn integral_floats_print_as_integers() {
        let v: Value = serde_json::from_str(r#"[1.0, 1e3, -0.0, -5, 2.5e1]"#).unwrap();
        assert_eq!(enc(&v), "[1,1000,0,-5,25]");
    }

    #[test]
    fn non_integral_and_huge_numbers_are_refused() {
        let v: Value = serde_json::from_str("1.5").unwrap();
        assert!(matches!(encode(&v), Err(CanonicalError::NonIntegral(_))));
        let v: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert!(matches!(encode(&v), Err(CanonicalError::OutOfRange(_))));
        let v: Value = serde_json::from_str("1e300").unwrap();
        assert!(matches!(encode(&v), Err(CanonicalError::OutOfRange(_))));
    }

    #[test]
    fn big_integers_round_like_go_and_writers_refuse_them() {
        let v: Value = serde_json::from_str("9007199254740993").unwrap();
        assert_eq!(enc(&v), "9007199254740992");
        assert!(matches!(
            check_exact_integers(&v),
            Err(CanonicalError::Inexact(_))
        ));
        assert!(check_exact_integers(&json!({"a": [9007199254740992u64]})).is_ok());
    }

    #[test]
    fn unicode_sort_sample_signed_part_is_canonical() {
        check_sample_is_canonical(include_bytes!(
            "../../fixtures/notary/targets.unicode-sort.json"
        ));
        check_sample_is_canonical(include_bytes!("../../fixtures/notary/targets.json"));
        check_sample_is_canonical(include_bytes!("../../fixtures/notary/deleg2/targets.json"));
    }

    #[test]
    fn html_chars_sample_canonical_form_has_raw_chars() {
        let file = include_bytes!("../../fixtures/notary/targets.name-with-html-chars.json");
        let v: Value = serde_json::from_slice(file).unwrap();
        let canon = enc(&v["signed"]);
        assert!(canon.contains('<') && canon.contains('&'), "{canon}");
        assert!(!canon.contains("\\u0026"));
    }

    /// For Go-written files the `signed` text in the file is the canonical form, HTML-escaped.
    fn check_sample_is_canonical(file: &[u8]) {
        let text = std::str::from_utf8(file).unwrap();
        let start = text.find("{\"signed\":").unwrap() + "{\"signed\":".len();
        let end = text.rfind(",\"signatures\":").unwrap();
        // Go's file writer HTML-escapes `<>&`; the canonical form has them raw.
        let unescaped = text[start..end]
            .replace("\\u003c", "<")
            .replace("\\u003e", ">")
            .replace("\\u0026", "&");
        let v: Value = serde_json::from_slice(file).unwrap();
        assert_eq!(enc(&v["signed"]), unescaped);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53)..(1i64 << 53)).prop_map(|i| json!(i)),
            "[^\\x00-\\x1f]*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[^\\x00-\\x1f]*", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn only_text_in_canonical_form_is_proven_canonical() {
        for yes in [
            r#"{}"#,
            r#"[]"#,
            r#"{"a":1,"b":[true,false,null],"c":{"d":"x\"y\\z"}}"#,
            r#"{"A":0,"_type":"Targets","a":-5}"#,
            "{\"a\":\"<>&\u{2028}\u{1F600}\"}",
            "[9007199254740992,-9007199254740992]",
        ] {
            assert!(is_canonical(yes), "{yes}");
            let parsed: Value = serde_json::from_str(yes).unwrap();
            assert_eq!(enc(&parsed), yes);
        }
        for no in [
            "",
            " {}",
            "{} ",
            r#"{"a": 1}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            "-0",
            "01",
            "1.0",
            "1e3",
            "9007199254740993",
            "-9007199254740993",
            "123456789012345678",
            r#""\u0041""#,
            r#""\/""#,
            r#""\n""#,
            "\"tab\there\"",
            r#"{"a\"b":1}"#,
            r#"{"a":1}{"#,
            r#"{[":null}"#,
            r#"{"a":1,[":2}"#,
            "tru",
            "nul",
            r#"{"a""#,
            r#"{"a":"#,
            r#"""#,
        ] {
            assert!(!is_canonical(no), "{no:?}");
        }
        let deep = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(is_canonical(&deep));
        let deeper = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(!is_canonical(&deeper), "beyond the depth it follows");
    }

    /// A key without `"` or `\\` is written as it is, so its order is its written order.
    fn plain_keys(v: &Value) -> bool {
        match v {
            Value::Array(items) => items.iter().all(plain_keys),
            Value::Object(map) => map
                .iter()
                .all(|(k, v)| !k.contains(['"', '\\']) && plain_keys(v)),
            _ => true,
        }
    }

    proptest! {
        // Cheap cases, and the soundness of the verifier's fast path rests on them.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_encoders_output_is_proven_canonical_unless_a_key_holds_an_escape(v in arb_json()) {
            let text = String::from_utf8(encode(&v).unwrap()).unwrap();
            prop_assert_eq!(is_canonical(&text), plain_keys(&v), "{}", text);
        }

        #[test]
        fn text_proven_canonical_is_exactly_its_own_canonical_form(
            v in arb_json(),
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"{}[]\",:\\ -0123456789.eEatrufnl".to_vec()),
            pretty in any::<bool>(),
        ) {
            let mut bytes = if pretty {
                serde_json::to_vec_pretty(&v).unwrap()
            } else {
                encode(&v).unwrap()
            };
            let i = at.index(bytes.len());
            bytes[i] = byte;
            if let Ok(text) = std::str::from_utf8(&bytes)
                && is_canonical(text)
            {
                let parsed = crate::tuf::strict_json::parse(text.as_bytes(), usize::MAX)
                    .expect("proven canonical text parses strictly");
                prop_assert_eq!(encode(&parsed).unwrap(), text.as_bytes());
            }
        }

        #[test]
        fn encoding_is_stable(v in arb_json()) {
            let once = encode(&v).unwrap();
            let reparsed: Value = serde_json::from_slice(&once).unwrap();
            prop_assert_eq!(encode(&reparsed).unwrap(), once);
        }
    }
}
