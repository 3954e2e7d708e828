//! Validated names used in metadata: role names and key ids.
//!
//! Role names end up in URLs and cache paths, so they are checked once here (Notary's own
//! delegation-name rule `^[-a-z0-9_/]+$`, at most 255 characters, path-clean) and carried as a
//! newtype afterwards. Key ids are always 64 lowercase hex digits in the Notary wire format.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A name or key id that failed validation.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NameError {
    #[error("invalid role name {0:?}")]
    Role(String),
    #[error("invalid key id {0:?}: expected 64 lowercase hex digits")]
    KeyId(String),
}

impl NameError {
    /// A bad name inside server metadata is untrusted input.
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

const MAX_ROLE_NAME: usize = 255;

/// `root`, `targets`, `snapshot`, `timestamp`, or a delegation `targets/<seg>(/<seg>)*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(String);

impl RoleName {
    pub fn root() -> Self {
        RoleName("root".into())
    }
    pub fn targets() -> Self {
        RoleName("targets".into())
    }
    pub fn snapshot() -> Self {
        RoleName("snapshot".into())
    }
    pub fn timestamp() -> Self {
        RoleName("timestamp".into())
    }

    pub fn parse(name: &str) -> Result<Self, NameError> {
        let bad = || NameError::Role(name.to_owned());
        if matches!(name, "root" | "targets" | "snapshot" | "timestamp") {
            return Ok(RoleName(name.to_owned()));
        }
        let rest = name.strip_prefix("targets/").ok_or_else(bad)?;
        if name.len() > MAX_ROLE_NAME {
            return Err(bad());
        }
        // Path-clean: no empty segment (`a//b`, trailing `/`); `.` is outside the alphabet, so
        // `..` cannot occur.
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        if rest.split('/').all(segment_ok) {
            Ok(RoleName(name.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `targets/a/b` and deeper are delegations; `targets` itself is not.
    pub fn is_delegation(&self) -> bool {
        self.0.starts_with("targets/")
    }

    /// The role that delegates to this one: `targets/a/b` → `targets/a`, `targets/a` → `targets`.
    pub fn parent(&self) -> Option<RoleName> {
        if !self.is_delegation() {
            return None;
        }
        let cut = self.0.rfind('/').expect("delegations contain a slash");
        Some(RoleName(self.0[..cut].to_owned()))
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RoleName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoleName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A key id: lowercase hex of a sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(id: &str) -> Result<Self, NameError> {
        if id.len() == 64
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(KeyId(id.to_owned()))
        } else {
            Err(NameError::KeyId(id.to_owned()))
        }
    }

    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        KeyId(hex::encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_and_nested_delegation_names_are_accepted() {
        for ok in [
            "root",
            "targets",
            "snapshot",
            "timestamp",
            "targets/qa",
            "targets/a/b-c_9",
        ] {
            RoleName::parse(ok).unwrap();
        }
    }

    #[test]
    fn hostile_role_names_are_refused() {
        let long = format!("targets/{}", "a".repeat(250));
        for bad in [
            "",
            "Targets",
            "targets/",
            "targets//a",
            "targets/../x",
            "targets/a/",
            "targets/Q",
            "targets/a?b",
            "targets/a#b",
            "/x",
            "../x",
            "x",
            "targets/a b",
            "targets/a\0",
            "targets/é",
            long.as_str(),
        ] {
            assert!(
                matches!(RoleName::parse(bad), Err(NameError::Role(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn parent_of_nested_delegation() {
        let r = RoleName::parse("targets/a/b").unwrap();
        assert_eq!(r.parent().unwrap().as_str(), "targets/a");
        assert_eq!(r.parent().unwrap().parent().unwrap(), RoleName::targets());
        assert_eq!(RoleName::targets().parent(), None);
    }

    #[test]
    fn key_ids_must_be_64_lowercase_hex() {
        KeyId::parse(&"ab".repeat(32)).unwrap();
        for bad in ["AB".repeat(32), "ab".repeat(31), "zz".repeat(32)] {
            assert!(
                matches!(KeyId::parse(&bad), Err(NameError::KeyId(_))),
                "{bad}"
            );
        }
    }
}
