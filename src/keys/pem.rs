//! PEM with the Go notary client's `key: value` headers (`role:`, `gun:`), read and written here.
//!
//! The `pem` and `pkcs8` crates either refuse such headers or refuse `:` in values (GUNs hold a
//! port), and neither wipes decoded bytes, which for `PRIVATE KEY` files are the secret itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::error::KeyFormatError;

/// One PEM block: its label, headers in file order, and the decoded body.
pub(crate) struct PemBlock {
    pub label: String,
    pub headers: Vec<(String, String)>,
    pub der: Zeroizing<Vec<u8>>,
}

impl PemBlock {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Every PEM block of `text`, in order. Text outside blocks is ignored, as OpenSSL does.
pub(crate) fn parse_all(text: &[u8]) -> Result<Vec<PemBlock>, KeyFormatError> {
    let text = std::str::from_utf8(text).map_err(|_| KeyFormatError::Pem("not UTF-8 text"))?;
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        // Base64 of the body, collected into a buffer sized to the whole text so it never grows
        // (for unencrypted keys it is the secret).
        let mut body = Zeroizing::new(String::with_capacity(text.len()));
        let mut closed = false;
        let mut in_headers = true;
        for line in lines.by_ref() {
            let line = line.trim();
            if line == end {
                closed = true;
                break;
            }
            if in_headers && let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
                continue;
            }
            in_headers = false;
            body.push_str(line);
        }
        if !closed {
            return Err(KeyFormatError::Pem("missing END line"));
        }
        let mut der = Zeroizing::new(Vec::with_capacity(body.len() / 4 * 3 + 3));
        STANDARD
            .decode_vec(body.as_bytes(), &mut der)
            .map_err(|_| KeyFormatError::Pem("body is not base64"))?;
        blocks.push(PemBlock {
            label: label.to_string(),
            headers,
            der,
        });
    }
    Ok(blocks)
}

/// The first PEM block of `text`.
pub(crate) fn parse_first(text: &[u8]) -> Result<PemBlock, KeyFormatError> {
    parse_all(text)?
        .into_iter()
        .next()
        .ok_or(KeyFormatError::Pem("no -----BEGIN line"))
}

/// PEM text with headers (sorted by name, as Go's `pem.Encode` writes them) and 64-column base64.
pub(crate) fn encode(label: &str, headers: &[(&str, &str)], der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 128);
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    let mut headers = headers.to_vec();
    headers.sort();
    for (k, v) in &headers {
        out.push_str(&format!("{k}: {v}\n"));
    }
    if !headers.is_empty() {
        out.push('\n');
    }
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_with_colons_in_values_round_trip() {
        let text = encode(
            "ENCRYPTED PRIVATE KEY",
            &[("role", "targets"), ("gun", "127.0.0.1:5000/myorg/app")],
            &[1, 2, 3, 4],
        );
        assert!(text.starts_with(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: 127.0.0.1:5000/myorg/app\nrole: targets\n\n"
        ));
        let block = parse_first(text.as_bytes()).unwrap();
        assert_eq!(block.label, "ENCRYPTED PRIVATE KEY");
        assert_eq!(block.header("gun"), Some("127.0.0.1:5000/myorg/app"));
        assert_eq!(block.header("role"), Some("targets"));
        assert_eq!(block.der.as_slice(), &[1, 2, 3, 4]);
    }

    #[test]
    fn unterminated_or_empty_input_is_refused() {
        let reason = |text: &[u8]| match parse_first(text) {
            Err(KeyFormatError::Pem(reason)) => reason,
            Err(other) => panic!("expected a PEM error, got {other:?}"),
            // A parsed block may hold key material: it is never printed.
            Ok(_) => panic!("expected a PEM error, the text parsed"),
        };
        assert_eq!(
            reason(b"-----BEGIN PRIVATE KEY-----\nAAAA\n"),
            "missing END line"
        );
        assert_eq!(reason(b"hello"), "no -----BEGIN line");
        assert_eq!(
            reason(b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"),
            "body is not base64"
        );
    }
}
