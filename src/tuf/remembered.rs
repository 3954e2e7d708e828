//! Remembered verifications: a delegation file verified once is not verified again while it
//! is the file the trusted snapshot lists and its delegation is unchanged.
//!
//! A sharded repository's reads touch one bin per image, and a bin grows with the repository
//! (about 290 KB at 100,000 images). Verifying one means a strict parse, the canonical form and
//! an ECDSA check, all in proportion to its size; even hashing and reading the whole file on
//! every run costs more than the rest of a `verify` of 100 images. When this client verifies a
//! bin it therefore writes a [`Memo`] into the trust cache beside it: the file's length and
//! sha256, a fingerprint of the authority it verified under (role, threshold, key ids), its
//! version, expiry and signers, the sha256 of each [`CHUNK`]-byte piece of the file, and where
//! each target's entry sits in it. A later run that finds
//!
//! - a memo naming the length and sha256 the trusted snapshot lists for the role now, and
//! - the parent's current delegation with the same fingerprint (so a re-keyed or re-thresholded
//!   delegation is verified afresh, the "cached role is verified against its current delegator"
//!   rule),
//!
//! accepts the role as verified and reads from the cached file only the pieces holding the
//! entries a lookup asks for, each checked against the piece's sha256 before it is used. Every
//! byte an answer comes from is therefore hashed on every read, as before, but not the bytes
//! it does not use. Expiry and the version floor are checked from the memo every time; a piece
//! that does not match (the cached file changed since it was verified) is
//! [`Damaged`], which the update answers by loading the role afresh; anything else that does
//! not fit (an expired or rolled-back file, a memo that does not parse, a role that delegates
//! further) falls back to full verification. Memos live in the trust cache and are written only
//! after a full verification, so they carry the same trust as the cached root itself: whoever
//! can write the cache can already replace the root. docs/decisions.md ("Cached bins") has the
//! measurements behind this.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::SignedEnvelope;
use super::metadata::{Delegations, Expires, FileMeta, Metadata, Targets};
use super::names::KeyId;
use super::verify::{Authority, Verified};

const MAGIC: &str = "manifesto-verified-targets 2";

/// The size of the pieces a memo hashes one by one: an entry (≈370 B with its name) spans at
/// most two, so a lookup hashes at most 8 KiB of its file.
pub const CHUNK: usize = 4096;

/// One index record: `<name hash, 16 hex> <start, 8 hex> <end, 8 hex>\n`, fixed width so a
/// lookup binary-searches the memo text without parsing it.
const RECORD: usize = 16 + 1 + 8 + 1 + 8 + 1;

/// A cached file read in pieces (the trust cache's file at the edge, bytes in memory in tests).
pub trait CachedFile: Send + Sync {
    /// The file's length in bytes.
    fn size(&self) -> u64;
    /// `len` bytes from `offset`; `None` on a read error or a short read.
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>>;
}

impl CachedFile for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        self.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
    }
}

impl std::fmt::Debug for dyn CachedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CachedFile({} bytes)", self.size())
    }
}

/// A cached file shared by the state that reads it.
pub type SharedFile = Arc<dyn CachedFile>;

/// The cached file of a remembered role no longer holds the bytes its memo verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged;

/// What an earlier run verified about one delegation file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memo {
    role: String,
    sha256: String,
    authority: String,
    version: u64,
    expires: String,
    signed_by: Vec<String>,
    length: u64,
    /// The sha256 of each [`CHUNK`]-byte piece of the file, hex, concatenated.
    chunks: String,
    /// [`RECORD`]s sorted by name hash: where each target's entry sits in the file.
    index: String,
}

/// The first 8 bytes of a target name's sha256: the key the memo's index is sorted by.
fn name_key(name: &str) -> String {
    hex::encode(&ring::digest::digest(&ring::digest::SHA256, name.as_bytes()).as_ref()[..8])
}

fn chunk_hashes(bytes: &[u8]) -> String {
    bytes
        .chunks(CHUNK)
        .map(|c| hex::encode(ring::digest::digest(&ring::digest::SHA256, c)))
        .collect()
}

impl Memo {
    /// The memo of `bytes`, just verified as `targets` by `authority`. `None` when the file is
    /// one a memo does not cover: a role that delegates further (its children's authority comes
    /// from it), a target name the file spells with escapes, or a file above 4 GiB.
    pub fn of(bytes: &[u8], targets: &Verified<Targets>, authority: &Authority) -> Option<Memo> {
        if !targets.delegations.roles.is_empty() || u32::try_from(bytes.len()).is_err() {
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
        let mut records = Vec::with_capacity(raw.len());
        for name in targets.targets.keys() {
            let value = raw.get(name.as_str())?.get();
            let start = value.as_ptr() as usize - base;
            // Lookups find an entry by its place, right after its own name; a name the file
            // spells with escapes (Go writes `<` as `\u003c`) is not covered.
            if !entry_follows_key(bytes, start, name) {
                return None;
            }
            records.push((name_key(name), start, start + value.len()));
        }
        records.sort();
        // Two names with the same key would make a lookup find either: no memo then.
        if records.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        let mut index = String::with_capacity(records.len() * RECORD);
        for (key, start, end) in records {
            index.push_str(&format!("{key} {start:08x} {end:08x}\n"));
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
            length: bytes.len() as u64,
            chunks: chunk_hashes(bytes),
            index,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "{MAGIC}\nrole {}\nsha256 {}\nauthority {}\nversion {}\nexpires {}\nsigned-by {}\nlength {}\nchunks {}\n",
            self.role,
            self.sha256,
            self.authority,
            self.version,
            self.expires,
            self.signed_by.join(","),
            self.length,
            self.chunks,
        );
        out.push_str(&self.index);
        out.into_bytes()
    }

    /// A memo as [`encode`](Memo::encode) wrote it; `None` for anything else, an older format
    /// included (the file is then verified in full, and a new memo replaces this one).
    pub fn parse(bytes: &[u8]) -> Option<Memo> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.splitn(10, '\n');
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
        let length: u64 = field("length")?.parse().ok()?;
        let chunks = field("chunks")?;
        let index = lines.next().unwrap_or_default().to_owned();
        let pieces = usize::try_from(length).ok()?.div_ceil(CHUNK);
        if index.len() % RECORD != 0 {
            return None;
        }
        // Sorted and unique, or a binary search could miss a name the file holds.
        let mut previous = None;
        for record in index.as_bytes().chunks_exact(RECORD) {
            let key = u128::from_be_bytes(record[..16].try_into().expect("16 bytes"));
            if previous.is_some_and(|p| p >= key) {
                return None;
            }
            previous = Some(key);
        }
        // Not checked for hex digits: a piece hash that is not one matches no piece, and the
        // role is then loaded afresh.
        if chunks.len() != pieces * 64 {
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
            length,
            chunks,
            index,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Where the entry of the name with index key `key` sits: `Ok(None)` when the index has no
    /// such record, `Err(())` when a record does not parse.
    fn find(&self, key: &str) -> Result<Option<(usize, usize)>, ()> {
        let index = self.index.as_bytes();
        let records = index.len() / RECORD;
        let record = |i: usize| &index[i * RECORD..(i + 1) * RECORD];
        let number = |field: &[u8]| {
            std::str::from_utf8(field)
                .ok()
                .and_then(|f| usize::from_str_radix(f, 16).ok())
                .ok_or(())
        };
        let (mut lo, mut hi) = (0, records);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let r = record(mid);
            match r[..16].cmp(key.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let start = number(&r[17..25])?;
                    let end = number(&r[26..34])?;
                    return if start <= end {
                        Ok(Some((start, end)))
                    } else {
                        Err(())
                    };
                }
            }
        }
        Ok(None)
    }

    /// The recorded sha256 of piece `i`, hex.
    fn chunk(&self, i: usize) -> Option<&str> {
        self.chunks.get(i * 64..(i + 1) * 64)
    }
}

/// A delegation file accepted on the strength of its memo. It answers lookups from the pieces
/// of the cached file that hold the entry asked for, and reads (and hashes) the whole file only
/// if something asks for all of it.
#[derive(Debug, Clone)]
pub struct Remembered {
    file: SharedFile,
    memo: Memo,
    expires: Expires,
    signed_by: BTreeSet<KeyId>,
    delegations: Delegations,
    /// The whole file, once read: `None` inside when it no longer hashes to the memo's sha256.
    bytes: OnceLock<Option<Vec<u8>>>,
    full: OnceLock<Option<Verified<Targets>>>,
}

/// Why a memo was not used (the file is then verified in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRecalled {
    /// The memo is of another file, another role, or another authority.
    Different,
    /// The memo does not parse as a memo should.
    Malformed,
}

impl Remembered {
    /// The cached `file` as `memo` remembers it, if the memo is of the file the trusted snapshot
    /// lists now (`length` and `sha256`) under exactly `authority`. Nothing of the file is read
    /// here: each piece is checked against the memo when a lookup reads it.
    pub fn recall(
        file: SharedFile,
        length: u64,
        sha256: &[u8],
        memo: Memo,
        authority: &Authority,
    ) -> Result<Remembered, NotRecalled> {
        if memo.sha256 != hex::encode(sha256)
            || memo.length != length
            || file.size() != length
            || memo.role != authority.role().as_str()
            || memo.authority != authority.fingerprint()
        {
            return Err(NotRecalled::Different);
        }
        let expires =
            serde_json::from_value::<Expires>(serde_json::Value::String(memo.expires.clone()));
        let signed_by = memo
            .signed_by
            .iter()
            .map(|k| KeyId::parse(k))
            .collect::<Result<BTreeSet<_>, _>>();
        let (Ok(expires), Ok(signed_by)) = (expires, signed_by) else {
            return Err(NotRecalled::Malformed);
        };
        if signed_by.is_empty() {
            return Err(NotRecalled::Malformed);
        }
        Ok(Remembered {
            file,
            memo,
            expires,
            signed_by,
            delegations: Delegations::default(),
            bytes: OnceLock::new(),
            full: OnceLock::new(),
        })
    }

    pub fn version(&self) -> u64 {
        self.memo.version
    }
    pub fn expires(&self) -> &Expires {
        &self.expires
    }
    /// Always empty: a memo is only made for a role that delegates nothing.
    pub fn delegations(&self) -> &Delegations {
        &self.delegations
    }

    /// The whole file, read and checked against the memo's sha256 the first time it is asked
    /// for (a bundle carries it).
    pub fn bytes(&self) -> Result<&[u8], Damaged> {
        self.bytes
            .get_or_init(|| {
                let len = usize::try_from(self.memo.length).ok()?;
                let bytes = self.file.read_at(0, len)?;
                let sha256 = ring::digest::digest(&ring::digest::SHA256, &bytes);
                (hex::encode(sha256) == self.memo.sha256).then_some(bytes)
            })
            .as_deref()
            .ok_or(Damaged)
    }

    /// The entry of `name`: parsed from the pieces of the file that hold it, or, should the
    /// memo's index not fit the file, looked up in the whole parsed file.
    pub fn target(&self, name: &str) -> Result<Option<FileMeta>, Damaged> {
        if let Some(Some(full)) = self.full.get() {
            return Ok(full.targets.get(name).cloned());
        }
        match self.memo.find(&name_key(name)) {
            Ok(None) => Ok(None),
            Ok(Some((start, end))) => match self.read_entry(name, start, end)? {
                Some(meta) => Ok(Some(meta)),
                None => Ok(self.full()?.targets.get(name).cloned()),
            },
            Err(()) => Ok(self.full()?.targets.get(name).cloned()),
        }
    }

    /// The entry at `start..end`, read with the name before it from the pieces that hold them,
    /// each checked against the memo. `Ok(None)` when the bytes there are not `name`'s entry
    /// (the index does not fit the file); `Err` when a piece is not what was verified.
    fn read_entry(
        &self,
        name: &str,
        start: usize,
        end: usize,
    ) -> Result<Option<FileMeta>, Damaged> {
        let Ok(key) = serde_json::to_string(name) else {
            return Ok(None);
        };
        let len = usize::try_from(self.memo.length).map_err(|_| Damaged)?;
        let Some(from) = start.checked_sub(key.len() + 1) else {
            return Ok(None);
        };
        if end > len || start > end {
            return Ok(None);
        }
        let (first, last) = (from / CHUNK, end.saturating_sub(1).max(from) / CHUNK);
        let offset = first * CHUNK;
        let upto = ((last + 1) * CHUNK).min(len);
        let piece = self
            .file
            .read_at(offset as u64, upto - offset)
            .ok_or(Damaged)?;
        for (i, chunk) in piece.chunks(CHUNK).enumerate() {
            let sha256 = ring::digest::digest(&ring::digest::SHA256, chunk);
            if self.memo.chunk(first + i) != Some(hex::encode(sha256).as_str()) {
                return Err(Damaged);
            }
        }
        let (start, end) = (start - offset, end - offset);
        if !entry_follows_key(&piece, start, name) {
            return Ok(None);
        }
        Ok(serde_json::from_slice(&piece[start..end]).ok())
    }

    /// Every target name the file holds, in order (the whole file is read and parsed).
    pub fn names(&self) -> Result<Box<dyn Iterator<Item = &str> + '_>, Damaged> {
        Ok(Box::new(self.full()?.targets.keys().map(String::as_str)))
    }

    /// The whole file as verified metadata, parsed the first time it is asked for. Its bytes
    /// hash to the ones fully verified when the memo was written, so they parse the same.
    pub fn full(&self) -> Result<&Verified<Targets>, Damaged> {
        self.full
            .get_or_init(|| {
                let bytes = self.bytes().ok()?;
                let env = SignedEnvelope::parse(bytes, bytes.len()).ok()?;
                let targets = Targets::from_signed(&env.signed).ok()?;
                Some(Verified::recalled(targets, self.signed_by.clone()))
            })
            .as_ref()
            .ok_or(Damaged)
    }
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

    fn memo() -> Memo {
        Memo {
            role: "targets/_manifesto/ab".into(),
            sha256: "00".repeat(32),
            authority: "11".repeat(32),
            version: 7,
            expires: "2030-01-01T00:00:00Z".into(),
            signed_by: vec!["aa".repeat(32)],
            length: 5000,
            chunks: "22".repeat(64),
            index: format!(
                "{} 0000000a 00000014\n{} 0000001e 00000028\n",
                "0".repeat(16),
                "f".repeat(16)
            ),
        }
    }

    #[test]
    fn a_memo_survives_its_encoding() {
        assert_eq!(Memo::parse(&memo().encode()), Some(memo()));
    }

    #[test]
    fn anything_but_a_memo_is_not_one() {
        assert_eq!(Memo::parse(b""), None);
        assert_eq!(Memo::parse(b"manifesto-verified-targets 1\nrole x\n"), None);
        assert_eq!(Memo::parse(b"manifesto-verified-targets 2\nrole x\n"), None);
        assert_eq!(Memo::parse(&[0xff, 0xfe]), None);
        // One piece hash short of the length, and an index cut mid-record.
        let short = Memo {
            chunks: "22".repeat(32),
            ..memo()
        };
        assert_eq!(Memo::parse(&short.encode()), None);
        let mut cut = memo().encode();
        cut.pop();
        assert_eq!(Memo::parse(&cut), None);
    }

    #[test]
    fn the_index_is_searched_by_name_key() {
        let m = memo();
        assert_eq!(m.find(&"0".repeat(16)), Ok(Some((10, 20))));
        assert_eq!(m.find(&"f".repeat(16)), Ok(Some((30, 40))));
        assert_eq!(m.find(&"7".repeat(16)), Ok(None));
    }
}
