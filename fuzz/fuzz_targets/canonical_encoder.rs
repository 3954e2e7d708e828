//! Canonical JSON (the bytes every signature covers) must be a fixed point: encoding the parse of
//! an encoding gives the same bytes again. Otherwise a signer and a verifier that re-encode at
//! different stages would disagree.
//!
//! One legitimate exception: the canonical form writes control characters in strings raw (as Go's
//! canonical encoder does), so an encoding containing a string with a character below U+0020 is not
//! valid JSON and cannot be parsed again. Those inputs only have to not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifesto::tuf::canonical;
use manifesto::tuf::strict_json;
use serde_json::Value;

const LIMIT: usize = 1 << 20;

fn has_control_chars(v: &Value) -> bool {
    let bad = |s: &str| s.chars().any(|c| (c as u32) < 0x20);
    match v {
        Value::String(s) => bad(s),
        Value::Array(items) => items.iter().any(has_control_chars),
        Value::Object(map) => map.iter().any(|(k, v)| bad(k) || has_control_chars(v)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = strict_json::parse(data, LIMIT) else {
        return;
    };
    let _ = canonical::check_exact_integers(&value);
    let Ok(once) = canonical::encode(&value) else {
        return;
    };
    let reparsed = match strict_json::parse(&once, usize::MAX) {
        Ok(v) => v,
        Err(e) => {
            assert!(
                has_control_chars(&value),
                "canonical output is not parseable JSON: {e:?}\noutput: {}",
                String::from_utf8_lossy(&once)
            );
            return;
        }
    };
    let twice = canonical::encode(&reparsed).unwrap_or_else(|e| {
        panic!(
            "canonical output does not encode again: {e:?}\noutput: {}",
            String::from_utf8_lossy(&once)
        )
    });
    assert!(
        twice == once,
        "canonical encoding is not idempotent\nonce:  {}\ntwice: {}",
        String::from_utf8_lossy(&once),
        String::from_utf8_lossy(&twice)
    );
});
