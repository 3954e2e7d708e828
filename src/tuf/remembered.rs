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

/// What an earlier run verified about one delegation file, read from its memo file in pieces:
/// the header once, then for each lookup a window of the index and the hashes of the pieces it
/// reads. At 100,000 images a memo is about 31 KB, and a `verify` of 100 images opens 80 of them.
#[derive(Debug, Clone)]
pub struct Memo {
    role: String,
    sha256: String,
    authority: String,
    version: u64,
    expires: String,
    signed_by: Vec<String>,
    length: u64,
    source: SharedFile,
    /// The first [`HEAD`] bytes of the memo, read with its header: a small repository's memo
    /// is all here, and its lookups read nothing more.
    head: Vec<u8>,
    /// Where the piece hashes start: the sha256 of each [`CHUNK`]-byte piece of the file, hex,
    /// concatenated.
    chunks_at: u64,
    /// Where the index starts: [`RECORD`]s sorted by name key, where each entry sits in the file.
    index_at: u64,
    records: u64,
}

/// The first 8 bytes of a target name's sha256: the key the memo's index is sorted by.
fn name_key(name: &str) -> u64 {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    u64::from_be_bytes(digest.as_ref()[..8].try_into().expect("8 bytes"))
}

fn chunk_hashes(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len().div_ceil(CHUNK) * 64];
    for (c, hex) in bytes.chunks(CHUNK).zip(out.chunks_mut(64)) {
        hex::encode_to_slice(ring::digest::digest(&ring::digest::SHA256, c), hex)
            .expect("64 hex digits for 32 bytes");
    }
    String::from_utf8(out).expect("hex is ASCII")
}

/// How much of a memo's start is read for its header: the header lines up to the piece hashes.
const HEAD: usize = 4096;

/// The index records a lookup reads around where its key should be. Keys are hash prefixes, so
/// a record sits within a few dozen places of `key / 2^64 × records`; a key outside the window
/// reads the whole index.
const WINDOW: u64 = 64;

/// Whether `r` is a record as [`Memo::of`] writes it: `<16 hex> <8 hex> <8 hex>\n`, lowercase.
fn well_formed(r: &[u8]) -> bool {
    let hex = |b: &[u8]| b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    r.len() == RECORD
        && (r[16], r[25], r[34]) == (b' ', b' ', b'\n')
        && hex(&r[..16])
        && hex(&r[17..25])
        && hex(&r[26..34])
}

/// One record's key, start and end; `None` for a record that does not parse.
fn record(r: &[u8]) -> Option<(u64, usize, usize)> {
    let field = |range: std::ops::Range<usize>| std::str::from_utf8(r.get(range)?).ok();
    let key = u64::from_str_radix(field(0..16)?, 16).ok()?;
    let start = usize::from_str_radix(field(17..25)?, 16).ok()?;
    let end = usize::from_str_radix(field(26..34)?, 16).ok()?;
    (start <= end).then_some((key, start, end))
}

impl Memo {
    /// The memo file of `bytes`, just verified as `targets` by `authority`. `None` when the
    /// file is one a memo does not cover: a role that delegates further (its children's
    /// authority comes from it), a target name the file spells with escapes, two names with the
    /// same index key, or a file above 4 GiB.
    pub fn of(bytes: &[u8], targets: &Verified<Targets>, authority: &Authority) -> Option<Vec<u8>> {
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
        records.sort_unstable();
        if records.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        Some(Memo::encode(
            bytes,
            ring::digest::digest(&ring::digest::SHA256, bytes).as_ref(),
            authority,
            targets.version.get(),
            &targets.expires,
            targets.signed_by(),
            records,
        ))
    }

    /// The memo text of `bytes` (whose sha256 is `sha256`), verified by `authority` as
    /// `version`, expiring at `expires`, signed by `signed_by`, its entries at `records`
    /// (name key, start, end; sorted by key, no key twice).
    fn encode(
        bytes: &[u8],
        sha256: &[u8],
        authority: &Authority,
        version: u64,
        expires: &Expires,
        signed_by: &BTreeSet<KeyId>,
        records: Vec<(u64, usize, usize)>,
    ) -> Vec<u8> {
        let signed_by: Vec<String> = signed_by.iter().map(ToString::to_string).collect();
        let mut out = format!(
            "{MAGIC}\nrole {}\nsha256 {}\nauthority {}\nversion {}\nexpires {}\nsigned-by {}\nlength {}\nchunks {}\n",
            authority.role(),
            hex::encode(sha256),
            authority.fingerprint(),
            version,
            expires.raw(),
            signed_by.join(","),
            bytes.len(),
            chunk_hashes(bytes),
        );
        out.reserve(records.len() * RECORD);
        for (key, start, end) in records {
            use std::fmt::Write as _;
            let _ = writeln!(out, "{key:016x} {start:08x} {end:08x}");
        }
        out.into_bytes()
    }

    /// The memo in `source`, as [`of`](Memo::of) wrote it, its header read now; `None` for
    /// anything else, an older format included (the file is then verified in full, and a new
    /// memo replaces this one).
    pub fn read(source: SharedFile) -> Option<Memo> {
        let size = source.size();
        let head = source.read_at(0, usize::try_from(size).ok()?.min(HEAD))?;
        let at = head.windows(8).position(|w| w == b"\nchunks ")?;
        let text = std::str::from_utf8(&head[..at]).ok()?;
        let mut lines = text.split('\n');
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
        if lines.next().is_some() {
            return None;
        }
        let chunks_at = at as u64 + 8;
        let pieces = length.div_ceil(CHUNK as u64);
        let index_at = chunks_at.checked_add(pieces.checked_mul(64)?)? + 1;
        let index_len = size.checked_sub(index_at)?;
        let newline = match usize::try_from(index_at - 1).ok().and_then(|i| head.get(i)) {
            Some(b) => *b,
            None => *source.read_at(index_at - 1, 1)?.first()?,
        };
        if index_len % RECORD as u64 != 0 || newline != b'\n' {
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
            source,
            head,
            chunks_at,
            index_at,
            records: index_len / RECORD as u64,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// `len` bytes of the memo from `offset`: from the head when they lie in it.
    fn bytes_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        match self.head.get(start..start.checked_add(len)?) {
            Some(bytes) => Some(bytes.to_vec()),
            None => self.source.read_at(offset, len),
        }
    }

    /// Records `from..to` of the index as written; `None` when they cannot be read, one is not
    /// well formed, or their keys are not strictly sorted (a search could then miss a name the
    /// file holds). Keys are fixed-width lowercase hex, so their byte order is their order.
    fn records(&self, from: u64, to: u64) -> Option<Vec<u8>> {
        let len = usize::try_from((to - from) * RECORD as u64).ok()?;
        let bytes = self.bytes_at(self.index_at + from * RECORD as u64, len)?;
        let mut previous: Option<&[u8]> = None;
        for r in bytes.chunks_exact(RECORD) {
            if !well_formed(r) || previous.is_some_and(|p| p >= &r[..16]) {
                return None;
            }
            previous = Some(&r[..16]);
        }
        Some(bytes)
    }

    /// Where the entry of the name with index key `key` sits: `Ok(None)` when the index has no
    /// such record, `Err(())` when the index cannot be read or does not parse.
    fn find(&self, key: u64) -> Result<Option<(usize, usize)>, ()> {
        let n = self.records;
        if n == 0 {
            return Ok(None);
        }
        let expected = u64::try_from((u128::from(key) * u128::from(n)) >> 64).map_err(|_| ())?;
        let (from, to) = (
            expected.saturating_sub(WINDOW),
            (expected + WINDOW + 1).min(n),
        );
        let mut hex = [0u8; 16];
        hex::encode_to_slice(key.to_be_bytes(), &mut hex).map_err(|_| ())?;
        let key = hex.as_slice();
        let mut window = self.records(from, to).ok_or(())?;
        let last_at = window.len().saturating_sub(RECORD);
        let below = from > 0 && window.get(..16).is_none_or(|first| key < first);
        let above = to < n
            && window
                .get(last_at..last_at + 16)
                .is_none_or(|last| key > last);
        if below || above {
            window = self.records(0, n).ok_or(())?;
        }
        let records: Vec<&[u8]> = window.chunks_exact(RECORD).collect();
        match records.binary_search_by(|r| r[..16].cmp(key)) {
            Ok(i) => record(records[i])
                .map(|(_, start, end)| Some((start, end)))
                .ok_or(()),
            Err(_) => Ok(None),
        }
    }

    /// The recorded sha256 of pieces `first..first + count`, hex, concatenated.
    fn chunks(&self, first: usize, count: usize) -> Option<Vec<u8>> {
        self.bytes_at(self.chunks_at + first as u64 * 64, count * 64)
    }
}

/// How a leaf bin's signed text starts in canonical form: `_type`, then no delegations.
const LEAF_HEAD: &str = "{\"_type\":\"Targets\",\"delegations\":{\"keys\":{},\"roles\":[]},";

/// A delegation file that delegates nothing (a bin), read from its canonical signed text
/// without building its targets: every entry validated as the typed parse validates it, and
/// where each sits in the file. A fresh bin is then held as [`Remembered`] from memory, so a
/// lookup parses only its own entry.
#[derive(Debug)]
pub struct Leaf {
    version: u64,
    expires: Expires,
    names: Vec<String>,
    records: Vec<(u64, usize, usize)>,
}

/// One entry, validated as [`FileMeta`] is (schema, digest sizes, length range) and dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read only to be validated
struct EntryCheck {
    #[serde(default)]
    custom: Option<serde::de::IgnoredAny>,
    hashes: HashesCheck,
    length: u64,
}

/// `hashes` checked as [`super::metadata::Hashes`] checks it, without keeping the digests.
struct HashesCheck;

impl<'de> Deserialize<'de> for HashesCheck {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HashesCheck)
    }
}

impl<'de> serde::de::Visitor<'de> for HashesCheck {
    type Value = HashesCheck;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map of hash names to base64 digests")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        use base64::Engine as _;
        let mut known = false;
        while let Some((alg, b64)) =
            map.next_entry::<std::borrow::Cow<'de, str>, std::borrow::Cow<'de, str>>()?
        {
            let mut digest = [0u8; 128];
            let len = base64::engine::general_purpose::STANDARD
                .decode_slice(b64.as_bytes(), &mut digest)
                .map_err(|_| serde::de::Error::custom("not a digest this check reads"))?;
            let expected = match alg.as_ref() {
                "sha256" => Some(32),
                "sha512" => Some(64),
                _ => None,
            };
            if expected.is_some_and(|e| e != len) {
                return Err(serde::de::Error::custom("digest of the wrong size"));
            }
            known |= expected.is_some();
        }
        if known {
            Ok(HashesCheck)
        } else {
            Err(serde::de::Error::custom("no sha256 or sha512 hash"))
        }
    }
}

impl Leaf {
    /// `text`, the canonical signed text of a targets file inside `file`, read as a leaf;
    /// `None` for anything else (it delegates, an entry the typed parse would refuse, a name
    /// spelled with escapes, two names with one index key): the caller then parses it in full.
    pub fn read(text: &str, file: &[u8]) -> Option<Leaf> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Shape<'a> {
            #[serde(rename = "_type")]
            type_tag: serde::de::IgnoredAny,
            delegations: serde::de::IgnoredAny,
            expires: Expires,
            #[serde(borrow)]
            targets: BTreeMap<std::borrow::Cow<'a, str>, &'a RawValue>,
            version: super::metadata::Version,
        }
        if !text.starts_with(LEAF_HEAD) {
            return None;
        }
        let shape: Shape = serde_json::from_str(text).ok()?;
        let base = file.as_ptr() as usize;
        let mut records = Vec::with_capacity(shape.targets.len());
        let mut names = Vec::with_capacity(shape.targets.len());
        for (name, value) in &shape.targets {
            let entry: EntryCheck = serde_json::from_str(value.get()).ok()?;
            if entry.length > i64::MAX as u64 {
                return None;
            }
            let start = (value.get().as_ptr() as usize).checked_sub(base)?;
            let end = start + value.get().len();
            if end > file.len() || !entry_follows_key(file, start, name) {
                return None;
            }
            records.push((name_key(name), start, end));
            names.push(name.to_string());
        }
        records.sort_unstable();
        if records.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        Some(Leaf {
            version: shape.version.get(),
            expires: shape.expires,
            names,
            records,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn expires(&self) -> &Expires {
        &self.expires
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
    /// Every target name, in order: known from the start for a bin just verified as a
    /// [`Leaf`], else from the parsed file.
    names: OnceLock<Vec<String>>,
    /// Verified in full by this run (from [`Remembered::fresh`]), not recalled from a memo.
    fresh: bool,
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
            names: OnceLock::new(),
            fresh: false,
        })
    }

    /// A bin just verified as `leaf` from `bytes` (sha256 `sha256`, as the snapshot lists it)
    /// by `authority`, held in memory like a remembered one, and its memo for the trust cache.
    pub fn fresh(
        bytes: Vec<u8>,
        sha256: &[u8],
        leaf: Verified<Leaf>,
        authority: &Authority,
    ) -> Option<(Remembered, Vec<u8>)> {
        let memo = Memo::encode(
            &bytes,
            sha256,
            authority,
            leaf.version,
            &leaf.expires,
            leaf.signed_by(),
            leaf.records.clone(),
        );
        let length = bytes.len() as u64;
        let read = Memo::read(Arc::new(memo.clone()))?;
        let mut remembered =
            Remembered::recall(Arc::new(bytes), length, sha256, read, authority).ok()?;
        remembered.fresh = true;
        let _ = remembered.names.set(leaf.get().names.clone());
        Some((remembered, memo))
    }

    /// Whether this run verified the file in full (rather than recalling an earlier run's memo).
    pub fn is_fresh(&self) -> bool {
        self.fresh
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
        match self.memo.find(name_key(name)) {
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
        let recorded = self.memo.chunks(first, last + 1 - first).ok_or(Damaged)?;
        for (chunk, recorded) in piece.chunks(CHUNK).zip(recorded.chunks(64)) {
            let sha256 = ring::digest::digest(&ring::digest::SHA256, chunk);
            let mut hex = [0u8; 64];
            hex::encode_to_slice(sha256, &mut hex).map_err(|_| Damaged)?;
            if hex.as_slice() != recorded {
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
        if let Some(names) = self.names.get() {
            return Ok(Box::new(names.iter().map(String::as_str)));
        }
        Ok(Box::new(self.full()?.targets.keys().map(String::as_str)))
    }

    /// The whole file as verified metadata, parsed the first time it is asked for. Its bytes
    /// hash to the ones fully verified when the memo was written, so they parse the same.
    pub fn full(&self) -> Result<&Verified<Targets>, Damaged> {
        self.full
            .get_or_init(|| {
                let bytes = self.bytes().ok()?;
                let targets = match typed_from_canonical_text(bytes) {
                    Some(targets) => targets,
                    None => {
                        let env = SignedEnvelope::parse(bytes, bytes.len()).ok()?;
                        Targets::from_signed(&env.signed).ok()?
                    }
                };
                Some(Verified::recalled(targets, self.signed_by.clone()))
            })
            .as_ref()
            .ok_or(Damaged)
    }
}

/// The targets of already-verified file `bytes` read straight from its `signed` text when that
/// text is canonical (no duplicate keys, so the strict parse would read the same); `None`
/// otherwise, and the caller parses it the full way.
fn typed_from_canonical_text(bytes: &[u8]) -> Option<Targets> {
    #[derive(Deserialize)]
    struct File<'a> {
        #[serde(borrow)]
        signed: &'a RawValue,
    }
    let file: File = serde_json::from_slice(bytes).ok()?;
    let text = file.signed.get();
    if !super::canonical::is_canonical(text) {
        return None;
    }
    let targets: Targets = serde_json::from_str(text).ok()?;
    targets.check().ok()?;
    Some(targets)
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

    /// A memo's text: the header, `pieces` piece hashes, and one record per key.
    fn memo_text(pieces: usize, keys: &[u64]) -> Vec<u8> {
        let mut text = format!(
            "{MAGIC}\nrole targets/_manifesto/ab\nsha256 {}\nauthority {}\nversion 7\nexpires 2030-01-01T00:00:00Z\nsigned-by {}\nlength {}\nchunks {}\n",
            "00".repeat(32),
            "11".repeat(32),
            "aa".repeat(32),
            pieces * CHUNK,
            "22".repeat(32 * pieces),
        );
        for (i, key) in keys.iter().enumerate() {
            text.push_str(&format!(
                "{key:016x} {:08x} {:08x}\n",
                10 * i + 10,
                10 * i + 15
            ));
        }
        text.into_bytes()
    }

    fn read(bytes: Vec<u8>) -> Option<Memo> {
        Memo::read(Arc::new(bytes))
    }

    #[test]
    fn a_memo_reads_back_its_header_and_records() {
        let m = read(memo_text(2, &[1, u64::MAX])).unwrap();
        assert_eq!(
            (m.role.as_str(), m.version, m.length),
            ("targets/_manifesto/ab", 7, 8192)
        );
        assert_eq!(m.signed_by, ["aa".repeat(32)]);
        assert_eq!(m.records, 2);
        assert_eq!(m.chunks(1, 1).unwrap(), "22".repeat(32).as_bytes());
    }

    #[test]
    fn anything_but_a_memo_is_not_one() {
        assert!(read(Vec::new()).is_none());
        assert!(read(b"manifesto-verified-targets 1\nrole x\n".to_vec()).is_none());
        assert!(read(b"manifesto-verified-targets 2\nrole x\n".to_vec()).is_none());
        assert!(read(vec![0xff, 0xfe]).is_none());
        // One piece hash short of the length, and an index cut mid-record.
        let mut short = memo_text(2, &[1, 2]);
        let at = short.windows(8).position(|w| w == b"\nchunks ").unwrap() + 8;
        short.drain(at..at + 64);
        assert!(read(short).is_none());
        let mut cut = memo_text(2, &[1, 2]);
        cut.pop();
        assert!(read(cut).is_none());
    }

    #[test]
    fn the_index_is_searched_by_name_key_near_where_the_key_should_be_and_beyond() {
        // Evenly spread keys, as hash prefixes are, and a crowd at the low end that pushes a
        // high key far from its expected place.
        let spread: Vec<u64> = (0..1000u64).map(|i| i * (u64::MAX / 1000)).collect();
        let m = read(memo_text(1, &spread)).unwrap();
        assert_eq!(m.find(spread[0]), Ok(Some((10, 15))));
        assert_eq!(m.find(spread[617]), Ok(Some((6180, 6185))));
        assert_eq!(m.find(spread[617] + 1), Ok(None));
        let mut crowded: Vec<u64> = (1..=500).collect();
        crowded.push(u64::MAX / 2);
        let m = read(memo_text(1, &crowded)).unwrap();
        assert_eq!(m.find(u64::MAX / 2), Ok(Some((5010, 5015))));
        assert_eq!(m.find(250), Ok(Some((2500, 2505))));
        assert_eq!(m.find(u64::MAX), Ok(None));
    }

    /// A leaf's signed text with these entries (`name` → entry JSON), canonical.
    fn leaf_text(entries: &[(&str, &str)]) -> String {
        let body: Vec<String> = entries
            .iter()
            .map(|(name, entry)| format!("\"{name}\":{entry}"))
            .collect();
        format!(
            "{LEAF_HEAD}\"expires\":\"2030-01-01T00:00:00Z\",\"targets\":{{{}}},\"version\":3}}",
            body.join(",")
        )
    }

    /// What the typed parse says of the same text: accepted, checks included.
    fn typed_accepts(text: &str) -> bool {
        serde_json::from_str::<Targets>(text).is_ok_and(|t| t.check().is_ok())
    }

    #[test]
    fn a_leaf_accepts_exactly_the_entries_the_typed_parse_accepts() {
        let sha256 = format!("\"{}\"", "A".repeat(43) + "=");
        let sha512 = format!("\"{}\"", "A".repeat(86) + "==");
        let good =
            format!("{{\"hashes\":{{\"sha256\":{sha256},\"sha512\":{sha512}}},\"length\":5}}");
        let cases = [
            (good.clone(), true),
            (
                format!(
                    "{{\"custom\":{{\"a\":[1]}},\"hashes\":{{\"sha256\":{sha256}}},\"length\":0}}"
                ),
                true,
            ),
            (
                format!(
                    "{{\"custom\":null,\"hashes\":{{\"md5\":\"AAAA\",\"sha512\":{sha512}}},\"length\":1}}"
                ),
                true,
            ),
            (
                format!("{{\"hashes\":{{\"sha256\":{sha512}}},\"length\":5}}"),
                false,
            ),
            (r#"{"hashes":{"md5":"AAAA"},"length":5}"#.to_string(), false),
            (
                r#"{"hashes":{"sha256":"not base64!"},"length":5}"#.to_string(),
                false,
            ),
            (
                format!("{{\"hashes\":{{\"sha256\":{sha256}}},\"length\":-1}}"),
                false,
            ),
            (
                format!("{{\"hashes\":{{\"sha256\":{sha256}}},\"length\":9223372036854775808}}"),
                false,
            ),
            (
                format!("{{\"hashes\":{{\"sha256\":{sha256}}},\"length\":5,\"other\":1}}"),
                false,
            ),
            (format!("{{\"hashes\":{{\"sha256\":{sha256}}}}}"), false),
            ("[]".to_string(), false),
        ];
        for (entry, accepted) in cases {
            let text = leaf_text(&[("app/1", &entry)]);
            assert_eq!(typed_accepts(&text), accepted, "typed parse of {text}");
            let leaf = Leaf::read(&text, text.as_bytes());
            assert_eq!(leaf.is_some(), accepted, "leaf read of {text}");
            if let Some(leaf) = leaf {
                assert_eq!(
                    (leaf.version(), leaf.names.as_slice()),
                    (3, ["app/1".to_string()].as_slice())
                );
                let (_, start, end) = leaf.records[0];
                assert_eq!(&text[start..end], entry);
            }
        }
    }

    #[test]
    fn a_leaf_is_only_a_file_that_delegates_nothing_and_spells_its_names_plainly() {
        let entry = format!(
            "{{\"hashes\":{{\"sha256\":\"{}=\"}},\"length\":5}}",
            "A".repeat(43)
        );
        let plain = leaf_text(&[("a", &entry), ("b", &entry)]);
        assert!(Leaf::read(&plain, plain.as_bytes()).is_some());
        let delegating = plain.replacen("\"roles\":[]", "\"roles\":[{}]", 1);
        assert!(Leaf::read(&delegating, delegating.as_bytes()).is_none());
        // `<` as Go's file writer spells it: a lookup finds names by their plain spelling.
        let escaped = leaf_text(&[("a\\u003cb", &entry)]);
        assert!(typed_accepts(&escaped));
        assert!(
            Leaf::read(&escaped, escaped.as_bytes()).is_none(),
            "{escaped}"
        );
        let quoted = leaf_text(&[("a\\\"b", &entry)]);
        assert!(
            Leaf::read(&quoted, quoted.as_bytes()).is_some(),
            "spelled as JSON spells it"
        );
        let extra = plain.replacen("\"version\":3", "\"version\":3,\"x\":1", 1);
        assert!(!typed_accepts(&extra) && Leaf::read(&extra, extra.as_bytes()).is_none());
    }

    #[test]
    fn an_index_out_of_order_where_a_lookup_reads_it_is_not_searched() {
        let m = read(memo_text(1, &[5, 3, 9])).unwrap();
        assert_eq!(m.find(9), Err(()));
    }

    #[test]
    fn an_index_with_a_record_not_as_written_where_a_lookup_reads_it_is_not_searched() {
        // Upper-case hex would sort before lower-case bytewise and mislead the search; a
        // record whose start lies past its end points at nothing.
        let text = memo_text(1, &[0xa0, 0xb0, 0xc0]);
        let upper = String::from_utf8(text.clone()).unwrap().replacen(
            "00000000000000b0",
            "00000000000000B0",
            1,
        );
        assert_eq!(read(upper.into_bytes()).unwrap().find(0xc0), Err(()));
        let backwards = String::from_utf8(text).unwrap().replacen(
            "00000000000000b0 00000014 00000019",
            "00000000000000b0 00000019 00000014",
            1,
        );
        let m = read(backwards.into_bytes()).unwrap();
        assert_eq!(m.find(0xb0), Err(()));
        assert_eq!(m.find(0xc0), Ok(Some((30, 35))));
    }
}
