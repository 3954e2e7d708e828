//! Content digests (`sha256:…`, `sha512:…`) as the OCI image spec registers them, accepted only in
//! their canonical lowercase spelling so that equal digests are equal strings. Used for image
//! references pinned by digest and for the blobs and manifests manifesto reads and writes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::reference_error::{ReferenceError, ReferenceErrorKind, quoted};

/// A digest algorithm registered by the OCI image spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    /// The name used before the `:` (`sha256`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }

    /// Number of hex characters in an encoded digest of this algorithm.
    pub const fn hex_len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 64,
            DigestAlgorithm::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(DigestAlgorithm::Sha256),
            "sha512" => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest, `sha256:` + 64 lowercase hex or `sha512:` + 128 lowercase hex.
///
/// Only the canonical lowercase spelling is accepted (as go-digest does), so two equal digests are
/// always equal strings and can be compared, hashed and used as keys directly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    /// The whole `algorithm:hex` string, kept so `as_str` and `Display` need no allocation.
    value: String,
}

impl Digest {
    /// Parse `algorithm:hex`.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        check_digest(s).map_err(|detail| {
            ReferenceError::new(ReferenceErrorKind::InvalidDigest, "digest", s, detail)
        })
    }

    /// Build a digest from an algorithm and its hex encoding (e.g. a freshly computed hash).
    pub fn from_hex(algorithm: DigestAlgorithm, hex: &str) -> Result<Digest, ReferenceError> {
        Digest::parse(&format!("{}:{hex}", algorithm.as_str()))
    }

    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The hex part, without the `algorithm:` prefix.
    pub fn hex(&self) -> &str {
        &self.value[self.algorithm.as_str().len() + 1..]
    }

    /// The full `algorithm:hex` string.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// Validates a digest; the error is the detail of a message (the caller adds what was parsed).
pub(super) fn check_digest(s: &str) -> Result<Digest, String> {
    const FORM: &str = "write a digest as 'sha256:' followed by 64 lowercase hex characters";
    if s.is_empty() {
        return Err(format!("the digest is empty; {FORM}"));
    }
    let Some((name, hex)) = s.split_once(':') else {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "the digest has no algorithm: try {}",
                quoted(&format!("sha256:{}", s.to_ascii_lowercase()))
            ));
        }
        return Err(format!("the digest has no ':'; {FORM}"));
    };
    let Some(algorithm) = DigestAlgorithm::from_name(name) else {
        if let Some(lower) = DigestAlgorithm::from_name(&name.to_ascii_lowercase()) {
            return Err(format!(
                "digest algorithms are lowercase: try {}",
                quoted(&format!("{}:{}", lower.as_str(), hex.to_ascii_lowercase()))
            ));
        }
        return Err(format!(
            "unsupported digest algorithm {}: use sha256 (or sha512)",
            quoted(name)
        ));
    };
    if let Some(bad) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "the digest contains {bad:?}; only hex characters 0-9 and a-f may follow '{name}:'"
        ));
    }
    if hex.len() != algorithm.hex_len() {
        return Err(format!(
            "{name} digests have {} hex characters after '{name}:', this one has {}",
            algorithm.hex_len(),
            hex.len()
        ));
    }
    if hex.bytes().any(|b| b.is_ascii_uppercase()) {
        // go-digest refuses uppercase hex; accepting it would make equal digests unequal strings.
        return Err(format!(
            "digest hex must be lowercase: try {}",
            quoted(&format!("{name}:{}", hex.to_ascii_lowercase()))
        ));
    }
    Ok(Digest {
        algorithm,
        value: s.to_string(),
    })
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

/// Serialised as `algorithm:hex`; deserialised through `parse`, so stored digests are validated
/// exactly like typed ones.
impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Failure;
    use ReferenceErrorKind as K;

    const HEX256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HEX512: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

    fn d256() -> String {
        format!("sha256:{HEX256}")
    }

    #[test]
    fn digest_accepts_sha256_and_sha512_only_in_canonical_form() {
        let d = Digest::parse(&d256()).unwrap();
        assert_eq!(d.algorithm(), DigestAlgorithm::Sha256);
        assert_eq!(d.hex(), HEX256);
        assert_eq!(d.to_string(), d256());
        let d = Digest::from_hex(DigestAlgorithm::Sha512, HEX512).unwrap();
        assert_eq!((d.algorithm().as_str(), d.hex()), ("sha512", HEX512));
        for bad in [
            "",
            "sha256",
            "sha256:",
            HEX256,
            &format!("SHA256:{HEX256}"),
            &format!("sha512:{HEX256}"),
            &format!("sha256:{HEX512}"),
            &format!("sha256:{HEX256}0"),
        ] {
            let e = Digest::parse(bad).unwrap_err();
            assert_eq!(
                (e.kind(), e.failure()),
                (K::InvalidDigest, Failure::Usage),
                "{bad:?}"
            );
        }
        assert!(
            Digest::parse(&format!("SHA256:{HEX256}"))
                .unwrap_err()
                .to_string()
                .contains("lowercase")
        );
    }
}
