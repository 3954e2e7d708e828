//! Remembered verifications: a delegation file verified once is not verified again while it
//! is byte-identical and its delegation is unchanged.
//!
//! A sharded repository's reads touch one bin per image, and a bin grows with the repository
//! (about 290 KB at 100,000 images). Verifying one means a strict parse, the canonical form and
//! an ECDSA check, all in proportion to its size, on every run. When this client verifies a bin
//! it therefore writes a [`Memo`] into the trust cache beside it: the file's sha256, a
//! fingerprint of the authority it verified under (role, threshold, key ids), its version,
//! expiry and signers, and where each target's entry sits in the file. A later run that finds
//!
//! - the cached file listed in the trusted snapshot (length and sha256, hashed this run),
//! - a memo naming that same sha256, and
//! - the parent's current delegation with the same fingerprint (so a re-keyed or re-thresholded
//!   delegation is verified afresh, the "cached role is verified against its current delegator"
//!   rule),
//!
//! accepts the file as verified and reads only the entries a lookup asks for. Expiry and the
//! version floor are checked from the memo every time; anything that does not fit (an expired
//! or rolled-back file, a memo that does not parse, a role that delegates further) falls back
//! to full verification. Memos live in the trust cache and are written only after a full
//! verification, so they carry the same trust as the cached root itself: whoever can write the
//! cache can already replace the root.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::SignedEnvelope;
use super::metadata::{Delegations, Expires, FileMeta, Metadata, Targets};
use super::names::KeyId;
use super::verify::{Authority, Verified};

const MAGIC: &str = "manifesto-verified-targets 1";

/// What an earlier run verified about one delegation file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memo {
    role: String,
    sha256: String,
    authority: String,
    version: u64,
    expires: String,
    signed_by: Vec<String>,
    /// `start end name` lines, sorted by name: where each target's entry sits in the file.
    index: String,
}

impl Memo {
    /// The memo of `bytes`, just verified as `targets` by `authority`. `None` when the file is
    /// one a memo does not cover: a role that delegates further (its children's authority comes
    /// from it), or a target name with whitespace (the index is line-based).
    pub fn of(bytes: &[u8], targets: &Verified<Targets>, authority: &Authority) -> Option<Memo> {
        if !targets.delegations.roles.is_empty() {
            return None;
        }
        #[derive(Deserialize)]
        struct File<'a> {
            #[serde(borrow)]
            signed: Signed<'a>,
        }
        #[derive(Deserialize)]
        struct Signed<'a> {
            #[serde(borrow)]
            targets: BTreeMap<std::borrow::Cow<'a, str>, &'a RawValue>,
        }
        let file: File = serde_json::from_slice(bytes).ok()?;
        let raw = &file.signed.targets;
        if raw.len() != targets.targets.len() {
            return None;
        }
        let base = bytes.as_ptr() as usize;
        let mut index = String::new();
        for name in targets.targets.keys() {
            if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return None;
            }
            let value = raw.get(name.as_str())?.get();
            let start = value.as_ptr() as usize - base;
            // Lookups find an entry by its place, right after its own name; a name the file
            // spells with escapes (Go writes `<` as `\u003c`) is not covered.
            if !entry_follows_key(bytes, start, name) {
                return None;
            }
            index.push_str(&format!("{start} {} {name}\n", start + value.len()));
        }
        Some(Memo {
            role: authority.role().to_string(),
            sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes)),
            authority: authority.fingerprint(),
            version: targets.version.get(),
            expires: targets.expires.raw().to_owned(),
            signed_by: targets
                .signed_by()
                .iter()
                .map(ToString::to_string)
                .collect(),
            index,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "{MAGIC}\nrole {}\nsha256 {}\nauthority {}\nversion {}\nexpires {}\nsigned-by {}\n",
            self.role,
            self.sha256,
            self.authority,
            self.version,
            self.expires,
            self.signed_by.join(",")
        );
        out.push_str(&self.index);
        out.into_bytes()
    }

    /// A memo as [`encode`](Memo::encode) wrote it; `None` for anything else (the file is then
    /// verified in full, and a new memo replaces this one).
    pub fn parse(bytes: &[u8]) -> Option<Memo> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.splitn(8, '\n');
        if lines.next()? != MAGIC {
            return None;
        }
        let mut field = |key: &str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(' '))
                .map(str::to_owned)
        };
        let role = field("role")?;
        let sha256 = field("sha256")?;
        let authority = field("authority")?;
        let version = field("version")?.parse().ok()?;
        let expires = field("expires")?;
        let signed_by = field("signed-by")?;
        let index = lines.next().unwrap_or_default().to_owned();
        if !index.is_empty() && !index.ends_with('\n') {
            return None;
        }
        Some(Memo {
            role,
            sha256,
            authority,
            version,
            expires,
            signed_by: signed_by
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            index,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }
}

/// A delegation file accepted on the strength of its memo. It answers lookups from the memo's
/// index, parsing one entry at a time, and is parsed whole only if something asks for all of it.
#[derive(Debug, Clone)]
pub struct Remembered {
    bytes: Vec<u8>,
    memo: Memo,
    expires: Expires,
    signed_by: BTreeSet<KeyId>,
    delegations: Delegations,
    full: OnceLock<Verified<Targets>>,
    /// The index as sorted `(name, start, end)`, parsed when a walk asks for every name (many
    /// lookups follow); `None` inside when the index is not sorted and unique.
    entries: OnceLock<Option<Vec<IndexEntry>>>,
}

type IndexEntry = (String, usize, usize);

/// Why a memo was not used (the file is then verified in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRecalled {
    /// The memo is of other bytes, another role, or another authority.
    Different,
    /// The memo does not parse as a memo should.
    Malformed,
}

impl Remembered {
    /// `bytes` as `memo` remembers them, if the memo is of exactly these bytes (`sha256`, the
    /// hash the caller checked against the trusted snapshot) under exactly `authority`.
    /// On refusal the bytes come back with the reason.
    pub fn recall(
        bytes: Vec<u8>,
        sha256: &[u8],
        memo: Memo,
        authority: &Authority,
    ) -> Result<Remembered, (NotRecalled, Vec<u8>)> {
        if memo.sha256 != hex::encode(sha256)
            || memo.role != authority.role().as_str()
            || memo.authority != authority.fingerprint()
        {
            return Err((NotRecalled::Different, bytes));
        }
        let expires =
            serde_json::from_value::<Expires>(serde_json::Value::String(memo.expires.clone()));
        let signed_by = memo
            .signed_by
            .iter()
            .map(|k| KeyId::parse(k))
            .collect::<Result<BTreeSet<_>, _>>();
        let (Ok(expires), Ok(signed_by)) = (expires, signed_by) else {
            return Err((NotRecalled::Malformed, bytes));
        };
        if signed_by.is_empty() {
            return Err((NotRecalled::Malformed, bytes));
        }
        Ok(Remembered {
            bytes,
            memo,
            expires,
            signed_by,
            delegations: Delegations::default(),
            full: OnceLock::new(),
            entries: OnceLock::new(),
        })
    }

    pub fn version(&self) -> u64 {
        self.memo.version
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    pub fn expires(&self) -> &Expires {
        &self.expires
    }
    /// Always empty: a memo is only made for a role that delegates nothing.
    pub fn delegations(&self) -> &Delegations {
        &self.delegations
    }

    /// The entry of `name`: parsed from its place in the file, or, should the memo's index not
    /// fit the file, looked up in the whole parsed file.
    pub fn target(&self, name: &str) -> Option<FileMeta> {
        if let Some(full) = self.full.get() {
            return full.targets.get(name).cloned();
        }
        let found = match self.entries.get() {
            Some(Some(entries)) => entries
                .binary_search_by(|e| e.0.as_str().cmp(name))
                .ok()
                .map(|i| (entries[i].1, entries[i].2)),
            Some(None) => return self.full().targets.get(name).cloned(),
            None => match self.scan_for(name) {
                Scan::Absent => None,
                Scan::At(start, end) => Some((start, end)),
                Scan::Unusable => return self.full().targets.get(name).cloned(),
            },
        };
        let (start, end) = found?;
        self.bytes
            .get(start..end)
            .filter(|_| entry_follows_key(&self.bytes, start, name))
            .and_then(|entry| serde_json::from_slice(entry).ok())
            .or_else(|| self.full().targets.get(name).cloned())
    }

    /// Every target name the file holds, in order.
    pub fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self.entries.get_or_init(|| parse_index(&self.memo.index)) {
            Some(entries) => Box::new(entries.iter().map(|e| e.0.as_str())),
            None => Box::new(self.full().targets.keys().map(String::as_str)),
        }
    }

    /// One pass over the index text for `name` (a single lookup needs no parsed index).
    fn scan_for(&self, name: &str) -> Scan {
        let index = &self.memo.index;
        let needle = format!(" {name}\n");
        let Some(at) = index.find(&needle) else {
            return Scan::Absent;
        };
        let line_start = index[..at].rfind('\n').map_or(0, |i| i + 1);
        match parse_range(&index[line_start..at]) {
            Some((start, end)) => Scan::At(start, end),
            None => Scan::Unusable,
        }
    }

    /// The whole file as verified metadata, parsed the first time it is asked for. Its bytes are
    /// the ones fully verified when the memo was written (same sha256), so they parse the same.
    pub fn full(&self) -> &Verified<Targets> {
        self.full.get_or_init(|| {
            let targets = SignedEnvelope::parse(&self.bytes, self.bytes.len())
                .ok()
                .and_then(|env| Targets::from_signed(&env.signed).ok())
                .expect("a remembered file parsed when it was verified");
            Verified::recalled(targets, self.signed_by.clone())
        })
    }
}

enum Scan {
    Absent,
    At(usize, usize),
    Unusable,
}

/// `start end` as an index line writes them.
fn parse_range(text: &str) -> Option<(usize, usize)> {
    let (start, end) = text.split_once(' ')?;
    let (start, end): (usize, usize) = (start.parse().ok()?, end.parse().ok()?);
    (start <= end).then_some((start, end))
}

/// The index lines as sorted entries; `None` when a line is malformed or the names are not
/// strictly increasing (a binary search would then miss).
fn parse_index(index: &str) -> Option<Vec<IndexEntry>> {
    let mut entries: Vec<IndexEntry> = Vec::new();
    for line in index.lines() {
        let (range, name) = line.rsplit_once(' ')?;
        let (start, end) = parse_range(range)?;
        if entries.last().is_some_and(|last| last.0.as_str() >= name) {
            return None;
        }
        entries.push((name.to_owned(), start, end));
    }
    Some(entries)
}

/// Whether the JSON value at `start` in `bytes` is preceded by the member name `"name":`.
fn entry_follows_key(bytes: &[u8], start: usize, name: &str) -> bool {
    let Ok(key) = serde_json::to_string(name) else {
        return false;
    };
    bytes
        .get(..start)
        .and_then(|b| b.strip_suffix(b":"))
        .is_some_and(|b| b.ends_with(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_survives_its_encoding() {
        let memo = Memo {
            role: "targets/_manifesto/ab".into(),
            sha256: "00".repeat(32),
            authority: "11".repeat(32),
            version: 7,
            expires: "2030-01-01T00:00:00Z".into(),
            signed_by: vec!["aa".repeat(32)],
            index: "10 20 approvals/sha256:ab\n30 40 _manifesto/sha256:ab\n".into(),
        };
        assert_eq!(Memo::parse(&memo.encode()), Some(memo));
    }

    #[test]
    fn anything_but_a_memo_is_not_one() {
        assert_eq!(Memo::parse(b""), None);
        assert_eq!(Memo::parse(b"manifesto-verified-targets 2\nrole x\n"), None);
        assert_eq!(Memo::parse(b"manifesto-verified-targets 1\nrole x\n"), None);
        assert_eq!(Memo::parse(&[0xff, 0xfe]), None);
    }
}
