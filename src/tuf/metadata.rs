//! Typed Notary metadata: root, targets (and delegation files), snapshot and timestamp.
//!
//! The field sets are exactly Go notary's structs, so serializing a value here and passing it
//! through the writer gives the bytes the Go client would upload. Parsing validates what the
//! trusted state relies on: the exact `_type`, versions ≥ 1, thresholds within the listed keys,
//! RFC 3339 expiry dates, and hash sizes.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::key::PublicKey;
use super::names::{KeyId, RoleName};

/// Highest version accepted. Versions beyond 2^53 cannot be an honest history and are the
/// "fast-forward to i32::MAX/overflow" attacks of the audits; every +1 stays far from u64 overflow.
pub const MAX_VERSION: u64 = 1 << 53;

/// Why a `signed` object is not acceptable metadata of the expected kind.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("expected _type {expected:?}, found {found:?}")]
    WrongType {
        expected: &'static str,
        found: Option<String>,
    },
    #[error("{kind} metadata does not match the Notary schema")]
    Schema {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{kind} metadata is invalid: {reason}")]
    Invalid { kind: &'static str, reason: String },
}

impl MetadataError {
    /// Malformed metadata from a server is untrusted.
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

/// A metadata version: an integer in `1..=MAX_VERSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Version(u64);

impl Version {
    pub fn new(v: u64) -> Option<Self> {
        (1..=MAX_VERSION).contains(&v).then_some(Version(v))
    }
    pub fn get(self) -> u64 {
        self.0
    }
    /// The next version, for writers.
    pub fn next(self) -> Option<Self> {
        Version::new(self.0 + 1)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // u64 refuses negatives and non-integers such as `1.0`, as Go's int field does.
        let v = u64::deserialize(d)?;
        Version::new(v)
            .ok_or_else(|| serde::de::Error::custom(format_args!("version {v} is out of range")))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An expiry date: the parsed instant plus the string as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expires {
    at: DateTime<Utc>,
    raw: String,
}

impl Expires {
    /// An expiry written the way Go writes it.
    pub fn new(at: DateTime<Utc>) -> Self {
        Expires {
            at,
            raw: go_time(at),
        }
    }
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }
    pub fn raw(&self) -> &str {
        &self.raw
    }
    /// Notary 0.7 allows no clock skew: an `expires` before now means expired.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.at < now
    }
}

/// Go's `time.Time` JSON form for a UTC time (RFC 3339 with up to nine fractional digits,
/// trailing zeros removed, `Z`). Any other spelling makes the server's re-encoding differ from
/// the uploaded bytes (the Notary wire format's "Go-identical files" rule).
pub fn go_time(at: DateTime<Utc>) -> String {
    let s = at.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // `…:SS.fffffffffZ`: drop trailing zeros of the fraction, and the dot if nothing is left.
    let (body, _z) = s.split_at(s.len() - 1);
    match body.split_once('.') {
        Some((secs, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{secs}Z")
            } else {
                format!("{secs}.{frac}Z")
            }
        }
        None => s,
    }
}

impl Serialize for Expires {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&go_time(self.at))
    }
}

impl<'de> Deserialize<'de> for Expires {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let at = DateTime::parse_from_rfc3339(&raw)
            .map_err(|e| {
                serde::de::Error::custom(format_args!("expires {raw:?} is not RFC 3339: {e}"))
            })?
            .with_timezone(&Utc);
        // Go's time encoding only knows years 0000-9999 and no leap seconds: anything else
        // could not be written back (found by the roundtrip_writer fuzz target: an offset can
        // push 9999-12-31 into year 10000).
        if !(0..=9999).contains(&chrono::Datelike::year(&at))
            || chrono::Timelike::nanosecond(&at) >= 1_000_000_000
        {
            return Err(serde::de::Error::custom(format_args!(
                "expires {raw:?} is outside the years 0000-9999 in UTC, or a leap second"
            )));
        }
        Ok(Expires { at, raw })
    }
}

/// Digest sizes for the hash algorithms Notary writes.
const KNOWN_HASHES: [(&str, usize); 2] = [("sha256", 32), ("sha512", 64)];

/// `hashes`: algorithm name → raw digest (base64 on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hashes(pub BTreeMap<String, Vec<u8>>);

impl Hashes {
    /// sha256 and sha512 of `bytes`, as `notary add` and the server write them.
    pub fn of(bytes: &[u8]) -> Self {
        let mut map = BTreeMap::new();
        map.insert(
            "sha256".into(),
            ring::digest::digest(&ring::digest::SHA256, bytes)
                .as_ref()
                .to_vec(),
        );
        map.insert(
            "sha512".into(),
            ring::digest::digest(&ring::digest::SHA512, bytes)
                .as_ref()
                .to_vec(),
        );
        Hashes(map)
    }

    pub fn sha256(&self) -> Option<&[u8]> {
        self.0.get("sha256").map(Vec::as_slice)
    }

    fn validate(&self) -> Result<(), String> {
        for (alg, len) in KNOWN_HASHES {
            if let Some(d) = self.0.get(alg)
                && d.len() != len
            {
                return Err(format!("{alg} digest is {} bytes, expected {len}", d.len()));
            }
        }
        if !KNOWN_HASHES
            .iter()
            .any(|(alg, _)| self.0.contains_key(*alg))
        {
            return Err("no sha256 or sha512 hash".into());
        }
        Ok(())
    }
}

impl Serialize for Hashes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, STANDARD.encode(v))))
    }
}

impl<'de> Deserialize<'de> for Hashes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HashesVisitor)
    }
}

/// Decodes each digest as it is read (a snapshot holds hundreds of entries, two digests each).
struct HashesVisitor;

impl<'de> serde::de::Visitor<'de> for HashesVisitor {
    type Value = Hashes;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map of hash names to base64 digests")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Hashes, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((alg, b64)) = access.next_entry::<String, std::borrow::Cow<'de, str>>()? {
            let digest = STANDARD.decode(b64.as_bytes()).map_err(|e| {
                serde::de::Error::custom(format_args!("hash {alg} is not base64: {e}"))
            })?;
            // A repeated name: the parsers refuse duplicate keys before this runs; the
            // last one would count, as a map deserialized from JSON keeps it.
            map.insert(alg, digest);
        }
        Ok(Hashes(map))
    }
}

/// A target entry, or a snapshot/timestamp `meta` entry: length, hashes and optional custom data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMeta {
    /// Go's `*json.RawMessage` with `omitempty`: absent and `null` both mean "none".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
    pub hashes: Hashes,
    pub length: u64,
}

impl FileMeta {
    /// Length and sha256+sha512 of `bytes`, with no custom data.
    pub fn of(bytes: &[u8]) -> Self {
        FileMeta {
            custom: None,
            hashes: Hashes::of(bytes),
            length: bytes.len() as u64,
        }
    }

    /// Lowercase hex sha256, as used in checksum URLs (`<role>.<sha256 hex>.json`).
    pub fn sha256_hex(&self) -> Option<String> {
        self.hashes.sha256().map(hex::encode)
    }

    fn validate(&self) -> Result<(), String> {
        if self.length > i64::MAX as u64 {
            return Err(format!("length {} does not fit Go's int64", self.length));
        }
        self.hashes.validate()
    }
}

/// `keyids` + `threshold` of a top-level role in root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleKeys {
    pub keyids: Vec<KeyId>,
    pub threshold: u32,
}

fn check_threshold(role: &str, keyids: &[KeyId], threshold: u32) -> Result<(), String> {
    let distinct = keyids.iter().collect::<BTreeSet<_>>().len();
    if threshold == 0 || threshold as usize > distinct {
        return Err(format!(
            "role {role} has threshold {threshold} with {distinct} distinct key ids"
        ));
    }
    Ok(())
}

/// Marks a metadata kind; serializes as its `_type` and refuses any other on read.
pub struct TypeTag<T>(PhantomData<T>);

impl<T> Default for TypeTag<T> {
    fn default() -> Self {
        TypeTag(PhantomData)
    }
}
impl<T> Clone for TypeTag<T> {
    fn clone(&self) -> Self {
        TypeTag(PhantomData)
    }
}
impl<T> PartialEq for TypeTag<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T: Metadata> std::fmt::Debug for TypeTag<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(T::TYPE)
    }
}
impl<T: Metadata> Serialize for TypeTag<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(T::TYPE)
    }
}
impl<'de, T: Metadata> Deserialize<'de> for TypeTag<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == T::TYPE {
            Ok(TypeTag::default())
        } else {
            Err(serde::de::Error::custom("wrong _type"))
        }
    }
}

/// What every metadata kind shares.
pub trait Metadata: Serialize + DeserializeOwned + Clone {
    /// The exact `_type`, capitalised as Notary writes it.
    const TYPE: &'static str;
    fn version(&self) -> Version;
    fn expires(&self) -> &Expires;
    /// Checks beyond the schema; the reason is reported as [`MetadataError::Invalid`].
    fn check(&self) -> Result<(), String>;

    /// Typed metadata from a `signed` value: `_type` first, then the schema, then [`check`].
    ///
    /// [`check`]: Metadata::check
    fn from_signed(signed: &Value) -> Result<Self, MetadataError> {
        let found = signed.get("_type").and_then(Value::as_str);
        if found != Some(Self::TYPE) {
            return Err(MetadataError::WrongType {
                expected: Self::TYPE,
                found: found.map(str::to_owned),
            });
        }
        // Deserialized from the borrowed tree: a sharded repository's snapshot and shard root
        // are tens of KB, and a copy of the tree first cost as much as the parse.
        let parsed = Self::deserialize(signed).map_err(|source| MetadataError::Schema {
            kind: Self::TYPE,
            source,
        })?;
        parsed.check().map_err(|reason| MetadataError::Invalid {
            kind: Self::TYPE,
            reason,
        })?;
        Ok(parsed)
    }
}

/// `root.json`'s `signed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    #[serde(rename = "_type")]
    pub type_tag: TypeTag<Root>,
    #[serde(default)]
    pub consistent_snapshot: bool,
    pub expires: Expires,
    pub keys: BTreeMap<KeyId, PublicKey>,
    pub roles: BTreeMap<String, RoleKeys>,
    pub version: Version,
}

/// The four roles root must name, and the only ones it may name.
pub const TOP_LEVEL_ROLES: [&str; 4] = ["root", "snapshot", "targets", "timestamp"];

impl Root {
    /// The keys and threshold root assigns to a top-level role.
    pub fn role(&self, role: &RoleName) -> Option<&RoleKeys> {
        self.roles.get(role.as_str())
    }
}

impl Metadata for Root {
    const TYPE: &'static str = "Root";
    fn version(&self) -> Version {
        self.version
    }
    fn expires(&self) -> &Expires {
        &self.expires
    }
    fn check(&self) -> Result<(), String> {
        let names: Vec<&str> = self.roles.keys().map(String::as_str).collect();
        if names != TOP_LEVEL_ROLES {
            return Err(format!(
                "roles are {names:?}, expected exactly {TOP_LEVEL_ROLES:?}"
            ));
        }
        for (name, role) in &self.roles {
            check_threshold(name, &role.keyids, role.threshold)?;
        }
        Ok(())
    }
}

/// One delegation entry in a targets file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegatedRole {
    pub keyids: Vec<KeyId>,
    pub name: RoleName,
    /// Plain string prefixes of the target names this role may sign; omitted when empty (Go's
    /// `omitempty`), and then the role can sign nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    pub threshold: u32,
}

/// `delegations` of a targets file: always present in Go's output, `{"keys":{},"roles":[]}` when empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegations {
    pub keys: BTreeMap<KeyId, PublicKey>,
    pub roles: Vec<DelegatedRole>,
}

/// `targets.json` or a delegation file's `signed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(rename = "_type")]
    pub type_tag: TypeTag<Targets>,
    #[serde(default)]
    pub delegations: Delegations,
    pub expires: Expires,
    pub targets: BTreeMap<String, FileMeta>,
    pub version: Version,
}

impl Targets {
    /// Validation that needs to know which role this file is: delegated names must be direct
    /// children of it (`targets/a` under `targets`, `targets/a/b` under `targets/a`).
    pub fn check_delegation_names(&self, role: &RoleName) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for d in &self.delegations.roles {
            if d.name.parent().as_ref() != Some(role) {
                return Err(format!(
                    "{role} delegates to {}, which is not its direct child",
                    d.name
                ));
            }
            if !seen.insert(&d.name) {
                return Err(format!("{role} delegates to {} twice", d.name));
            }
        }
        Ok(())
    }
}

impl Metadata for Targets {
    const TYPE: &'static str = "Targets";
    fn version(&self) -> Version {
        self.version
    }
    fn expires(&self) -> &Expires {
        &self.expires
    }
    fn check(&self) -> Result<(), String> {
        for d in &self.delegations.roles {
            check_threshold(d.name.as_str(), &d.keyids, d.threshold)?;
        }
        for (name, meta) in &self.targets {
            meta.validate()
                .map_err(|e| format!("target {name:?}: {e}"))?;
        }
        Ok(())
    }
}

/// `snapshot.json`'s `signed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    #[serde(rename = "_type")]
    pub type_tag: TypeTag<Snapshot>,
    pub expires: Expires,
    pub meta: BTreeMap<String, FileMeta>,
    pub version: Version,
}

impl Snapshot {
    /// The hashes and length snapshot lists for a role's file.
    pub fn meta_for(&self, role: &RoleName) -> Option<&FileMeta> {
        self.meta.get(role.as_str())
    }
}

impl Metadata for Snapshot {
    const TYPE: &'static str = "Snapshot";
    fn version(&self) -> Version {
        self.version
    }
    fn expires(&self) -> &Expires {
        &self.expires
    }
    fn check(&self) -> Result<(), String> {
        for (name, meta) in &self.meta {
            let role = RoleName::parse(name).map_err(|e| e.to_string())?;
            if role == RoleName::snapshot() || role == RoleName::timestamp() {
                return Err(format!("snapshot lists {role}"));
            }
            meta.validate().map_err(|e| format!("meta {name}: {e}"))?;
        }
        if !self.meta.contains_key("targets") {
            return Err("snapshot does not list targets".into());
        }
        Ok(())
    }
}

/// `timestamp.json`'s `signed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timestamp {
    #[serde(rename = "_type")]
    pub type_tag: TypeTag<Timestamp>,
    pub expires: Expires,
    pub meta: BTreeMap<String, FileMeta>,
    pub version: Version,
}

impl Timestamp {
    /// The hashes and length of the current snapshot file.
    pub fn snapshot_meta(&self) -> &FileMeta {
        self.meta.get("snapshot").expect("checked on parse")
    }
}

impl Metadata for Timestamp {
    const TYPE: &'static str = "Timestamp";
    fn version(&self) -> Version {
        self.version
    }
    fn expires(&self) -> &Expires {
        &self.expires
    }
    fn check(&self) -> Result<(), String> {
        let names: Vec<&str> = self.meta.keys().map(String::as_str).collect();
        if names != ["snapshot"] {
            return Err(format!(
                "timestamp meta lists {names:?}, expected only snapshot"
            ));
        }
        self.snapshot_meta().validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::envelope::SignedEnvelope;

    fn signed_of(bytes: &[u8]) -> Value {
        SignedEnvelope::parse(bytes, 1 << 20).unwrap().signed
    }

    #[test]
    fn every_fixture_parses_as_its_type() {
        for (name, bytes) in crate::tuf::test_support::all_fixtures() {
            if name.ends_with(".key.json") {
                continue;
            }
            let signed = signed_of(bytes);
            let ok = match signed["_type"].as_str().unwrap() {
                "Root" => Root::from_signed(&signed).map(|_| ()),
                "Targets" => Targets::from_signed(&signed).map(|_| ()),
                "Snapshot" => Snapshot::from_signed(&signed).map(|_| ()),
                "Timestamp" => Timestamp::from_signed(&signed).map(|_| ()),
                other => panic!("{name}: {other}"),
            };
            ok.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }

    #[test]
    fn wrong_type_is_refused() {
        let signed = signed_of(include_bytes!("../../fixtures/notary/snapshot.json"));
        assert!(matches!(
            Targets::from_signed(&signed),
            Err(MetadataError::WrongType {
                expected: "Targets",
                ..
            })
        ));
        let mut lower = signed_of(include_bytes!("../../fixtures/notary/targets.json"));
        lower["_type"] = "targets".into();
        assert!(matches!(
            Targets::from_signed(&lower),
            Err(MetadataError::WrongType { .. })
        ));
    }

    fn targets_with(edit: impl FnOnce(&mut Value)) -> Result<Targets, MetadataError> {
        let mut signed = signed_of(include_bytes!("../../fixtures/notary/targets.json"));
        edit(&mut signed);
        Targets::from_signed(&signed)
    }

    #[test]
    fn bad_versions_are_refused() {
        for v in [
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(1.0),
            serde_json::json!("1"),
            serde_json::json!(MAX_VERSION + 1),
        ] {
            let err = targets_with(|s| s["version"] = v.clone()).unwrap_err();
            assert!(matches!(err, MetadataError::Schema { .. }), "{v}: {err:?}");
        }
        assert_eq!(
            targets_with(|s| s["version"] = MAX_VERSION.into())
                .unwrap()
                .version
                .get(),
            MAX_VERSION
        );
    }

    #[test]
    fn threshold_above_key_count_or_zero_is_refused() {
        for threshold in [3, 0] {
            let err =
                targets_with(|s| s["delegations"]["roles"][0]["threshold"] = threshold.into())
                    .unwrap_err();
            assert!(
                matches!(err, MetadataError::Invalid { .. }),
                "{threshold}: {err:?}"
            );
        }
        assert!(targets_with(|s| s["delegations"]["roles"][0]["threshold"] = 2.into()).is_ok());
    }

    #[test]
    fn bad_expiry_and_hash_sizes_are_refused() {
        // Shapes serde refuses: a non-RFC 3339 expiry, a bad role name, an unknown field.
        for (i, result) in [
            targets_with(|s| s["expires"] = "2029-11-26 21:21:32".into()),
            targets_with(|s| s["delegations"]["roles"][0]["name"] = "targets/../x".into()),
            targets_with(|s| {
                s["delegations"]["roles"][0]["path_hash_prefixes"] = serde_json::json!([]);
            }),
        ]
        .into_iter()
        .enumerate()
        {
            let err = result.unwrap_err();
            assert!(
                matches!(err, MetadataError::Schema { .. }),
                "case {i}: {err:?}"
            );
        }
        // Well-formed but invalid: a sha256 of the wrong size, no known hash at all.
        for (i, result) in [
            targets_with(|s| s["targets"]["v1"]["hashes"]["sha256"] = "AAAA".into()),
            targets_with(|s| s["targets"]["v1"]["hashes"] = serde_json::json!({})),
        ]
        .into_iter()
        .enumerate()
        {
            let err = result.unwrap_err();
            assert!(
                matches!(err, MetadataError::Invalid { .. }),
                "case {i}: {err:?}"
            );
        }
    }

    #[test]
    fn file_meta_of_bytes_matches_what_the_server_lists() {
        let ts = Timestamp::from_signed(&signed_of(include_bytes!(
            "../../fixtures/notary/timestamp.json"
        )))
        .unwrap();
        let snapshot = include_bytes!("../../fixtures/notary/snapshot.json");
        assert_eq!(&FileMeta::of(snapshot), ts.snapshot_meta());
        let hex = ts.snapshot_meta().sha256_hex().unwrap();
        assert!(hex.starts_with("ebfeaca7") && hex.len() == 64, "{hex}");
    }

    #[test]
    fn expiry_equal_to_now_is_not_yet_expired() {
        let e = Expires::new(
            DateTime::parse_from_rfc3339("2029-01-01T00:00:00Z")
                .unwrap()
                .to_utc(),
        );
        assert!(!e.is_expired(e.at()));
        assert!(e.is_expired(e.at() + chrono::Duration::nanoseconds(1)));
    }

    #[test]
    fn go_time_trims_fraction_like_go() {
        let t = |s: &str| go_time(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
        assert_eq!(
            t("2029-11-26T21:25:29.529058000Z"),
            "2029-11-26T21:25:29.529058Z"
        );
        assert_eq!(t("2029-11-26T21:25:29.000000000Z"), "2029-11-26T21:25:29Z");
        assert_eq!(
            t("2029-11-26T21:25:29.543862707Z"),
            "2029-11-26T21:25:29.543862707Z"
        );
        assert_eq!(t("2029-11-26T23:25:29.5+02:00"), "2029-11-26T21:25:29.5Z");
    }

    #[test]
    fn delegation_names_must_be_direct_children() {
        let t = targets_with(|_| {}).unwrap();
        t.check_delegation_names(&RoleName::targets()).unwrap();
        let reason = t
            .check_delegation_names(&RoleName::parse("targets/qa").unwrap())
            .unwrap_err();
        assert!(reason.contains("not its direct child"), "{reason}");
    }
}

#[cfg(test)]
mod expires_tests {
    use super::*;

    #[test]
    fn expiry_dates_go_cannot_write_are_refused_on_read() {
        for raw in [
            "9999-12-31T23:59:59-23:59",
            "0000-01-01T00:00:00+01:00",
            "2030-06-30T23:59:60Z",
        ] {
            let parsed: Result<Expires, _> = serde_json::from_value(serde_json::json!(raw));
            assert!(
                parsed.as_ref().is_err_and(serde_json::Error::is_data),
                "{raw} must be refused"
            );
        }
        let ok: Expires =
            serde_json::from_value(serde_json::json!("2036-11-24T21:20:28.5438627Z")).unwrap();
        assert_eq!(go_time(ok.at()), "2036-11-24T21:20:28.5438627Z");
    }
}
