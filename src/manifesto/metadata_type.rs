//! `TYPE`, the kind of a piece of metadata (`approvals`, `scan`, `seccomp`…).
//!
//! It becomes the first segment of a TUF target name (`<type>/<image-digest>`) and of delegation
//! paths (`<type>/`), so its grammar is strict: `[a-z0-9][a-z0-9._-]{0,63}`. Anything else could
//! escape a delegation's path prefix or collide with `_manifesto/`.

use std::fmt;
use std::str::FromStr;

use crate::failure::Failure;

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub struct MetadataType(String);

impl From<MetadataType> for String {
    fn from(t: MetadataType) -> String {
        t.0
    }
}

impl TryFrom<String> for MetadataType {
    type Error = MetadataTypeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        MetadataType::parse(&s)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid metadata type {given:?}: use 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit (e.g. 'approvals', 'scan-report')"
)]
pub struct MetadataTypeError {
    pub given: String,
}

impl MetadataTypeError {
    pub fn failure(&self) -> Failure {
        Failure::Usage
    }
}

impl MetadataType {
    pub fn parse(s: &str) -> Result<MetadataType, MetadataTypeError> {
        let bytes = s.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        if first_ok && rest_ok && bytes.len() <= 64 {
            Ok(MetadataType(s.to_string()))
        } else {
            Err(MetadataTypeError {
                given: s.to_string(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MetadataType {
    type Err = MetadataTypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetadataType::parse(s)
    }
}

impl fmt::Display for MetadataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_types_follow_the_documented_grammar() {
        for ok in [
            "approvals",
            "scan",
            "seccomp",
            "a",
            "0",
            "in-production",
            "safe_to.prune",
            &"a".repeat(64),
        ] {
            assert!(MetadataType::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Approvals",
            "-x",
            ".x",
            "_x",
            "a/b",
            "../x",
            "a b",
            "ü",
            "_manifesto",
            &"a".repeat(65),
        ] {
            let err = MetadataType::parse(bad).expect_err(bad);
            assert_eq!(err.failure(), crate::failure::Failure::Usage, "{bad}");
        }
    }
}
