//! Where manifesto keeps things: TUF target names, the per-image manifesto manifest, and the
//! `_manifesto` index tag. Pure functions of their inputs, so `put`, `delete` and `repair` build
//! byte-identical documents from the same signed targets.
//!
//! For image digest `D` and signing role `ρ`: target `<type>/D` signs each metadata blob and
//! `_manifesto/D` (in `ρ`'s targets file) signs `ρ`'s manifesto manifest of `D`, an OCI image
//! manifest whose layers are the blobs (so registry garbage collection keeps them) and whose
//! `subject` is the image. The `_manifesto` tag holds an OCI index of shard indexes, one per
//! digest label, each listing the manifesto manifests of that label's images; it is unsigned and
//! always rebuilt from the signed targets (docs/layout.md, "Scaling the index").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::MetadataType;
use crate::registry::client::media_types;
use crate::registry::reference::Digest;
use crate::tuf::metadata::{FileMeta, Snapshot, Targets};
use crate::tuf::names::RoleName;

pub const ARTIFACT_TYPE: &str = "application/vnd.manifesto.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.manifesto.config.v1+json";
/// The one extra tag per repository.
pub const INDEX_TAG: &str = "_manifesto";
/// Prefix of manifesto-manifest target names.
pub const MANIFESTO_PREFIX: &str = "_manifesto/";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_IMAGE: &str = "vnd.manifesto.image.digest";
pub const ANNOTATION_ROLE: &str = "vnd.manifesto.role";
/// On an entry of the `_manifesto` tag: the digest label of the shard index it names.
pub const ANNOTATION_SHARD: &str = "vnd.manifesto.shard";
/// On an entry of the `_manifesto` tag: the fingerprint of the signed bins the shard was built from.
pub const ANNOTATION_SHARD_FINGERPRINT: &str = "vnd.manifesto.shard.fingerprint";
/// On the `_manifesto` tag itself: the fingerprint of every signed file that is not a bin.
pub const ANNOTATION_REST_FINGERPRINT: &str = "vnd.manifesto.rest.fingerprint";

/// `<type>/<image digest>`.
pub fn metadata_target(ty: &MetadataType, image: &Digest) -> String {
    format!("{ty}/{image}")
}

/// `_manifesto/<image digest>`.
pub fn manifesto_target(image: &Digest) -> String {
    format!("{MANIFESTO_PREFIX}{image}")
}

/// Split a target name into `(type, image digest)`, for metadata targets only.
pub fn parse_metadata_target(name: &str) -> Option<(MetadataType, Digest)> {
    let (ty, digest) = name.split_once('/')?;
    Some((MetadataType::parse(ty).ok()?, Digest::parse(digest).ok()?))
}

/// The image digest of a `_manifesto/<digest>` target name.
pub fn parse_manifesto_target(name: &str) -> Option<Digest> {
    Digest::parse(name.strip_prefix(MANIFESTO_PREFIX)?).ok()
}

/// What a metadata target's `custom` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Custom {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Custom {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("strings serialise")
    }

    pub fn from_meta(meta: &FileMeta) -> Option<Custom> {
        serde_json::from_value(meta.custom.clone()?).ok()
    }
}

/// The registry digest of a signed blob: its signed sha256.
pub fn blob_digest(meta: &FileMeta) -> Option<Digest> {
    Digest::parse(&format!("sha256:{}", meta.sha256_hex()?)).ok()
}

/// One entry of a manifesto: a metadata blob of one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "type")]
    pub metadata_type: MetadataType,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// The entries `role` signs for `image`, from its targets file.
pub fn entries_for(targets: Option<&Targets>, image: &Digest) -> Vec<Entry> {
    match targets {
        Some(t) => entries_in(&t.targets, image),
        None => Vec::new(),
    }
}

/// The entries for `image` among `targets` (a role's signed targets by name).
pub fn entries_in(targets: &BTreeMap<String, FileMeta>, image: &Digest) -> Vec<Entry> {
    targets
        .iter()
        .filter_map(|(name, meta)| {
            let (ty, digest) = parse_metadata_target(name)?;
            if &digest != image {
                return None;
            }
            let custom = Custom::from_meta(meta)?;
            Some(Entry {
                metadata_type: ty,
                digest: blob_digest(meta)?,
                media_type: custom.media_type,
                size: meta.length,
                created_at: custom.created_at,
            })
        })
        .collect()
}

/// The manifesto config blob: `{image_digest, role, manifesto:[…]}`, sorted by type.
pub fn config_bytes(image: &Digest, role: &RoleName, entries: &[Entry]) -> Vec<u8> {
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| a.metadata_type.cmp(&b.metadata_type));
    serde_json::to_vec(&json!({
        "image_digest": image.to_string(),
        "role": role.to_string(),
        "manifesto": sorted,
    }))
    .expect("JSON values serialise")
}

/// A descriptor of the image the manifesto is about (its `subject`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// The manifesto manifest: an OCI image manifest with the config above and the blobs as layers.
pub fn manifest_bytes(subject: &Subject, config: &[u8], entries: &[Entry]) -> Vec<u8> {
    let config_digest = crate::registry::client::sha256_digest(config);
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| a.metadata_type.cmp(&b.metadata_type));
    let layers: Vec<Value> = sorted
        .iter()
        .map(|e| {
            json!({
                "mediaType": e.media_type,
                "digest": e.digest.to_string(),
                "size": e.size,
                "annotations": {ANNOTATION_TITLE: e.metadata_type.to_string()},
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers,
        "subject": {"mediaType": subject.media_type, "digest": subject.digest.to_string(), "size": subject.size},
    }))
    .expect("JSON values serialise")
}

/// One signed manifesto manifest, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexEntry {
    pub image: Digest,
    pub role: String,
    pub manifest: Digest,
    pub size: u64,
}

/// The `_manifesto` index: every current manifesto manifest, sorted by image then role.
pub fn index_bytes(entries: &[IndexEntry]) -> Vec<u8> {
    let mut sorted = entries.to_vec();
    sorted.sort();
    let manifests: Vec<Value> = sorted
        .iter()
        .map(|e| {
            json!({
                "mediaType": media_types::OCI_MANIFEST,
                "artifactType": ARTIFACT_TYPE,
                "digest": e.manifest.to_string(),
                "size": e.size,
                "annotations": {ANNOTATION_IMAGE: e.image.to_string(), ANNOTATION_ROLE: e.role},
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": manifests,
    }))
    .expect("JSON values serialise")
}

/// One shard index, as the `_manifesto` tag lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRef {
    pub label: String,
    /// What [`shard_fingerprint`] gave for the signed state the shard was built from.
    pub fingerprint: String,
    pub manifest: Digest,
    pub size: u64,
}

/// What the `_manifesto` tag holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopIndex {
    /// An index of shard indexes, by label, and the rest fingerprint it was built with.
    Sharded {
        shards: BTreeMap<String, ShardRef>,
        rest: String,
    },
    /// The single index of every manifesto manifest, written before the index was sharded.
    Flat(Vec<IndexEntry>),
}

/// The `_manifesto` tag: an OCI index of the shard indexes, sorted by label, annotated with
/// the label and fingerprint of each, and the rest fingerprint on the index itself.
pub fn top_index_bytes(shards: &[ShardRef], rest: &str) -> Vec<u8> {
    let mut sorted = shards.to_vec();
    sorted.sort_by(|a, b| a.label.cmp(&b.label));
    let manifests: Vec<Value> = sorted
        .iter()
        .map(|s| {
            json!({
                "mediaType": media_types::OCI_INDEX,
                "artifactType": ARTIFACT_TYPE,
                "digest": s.manifest.to_string(),
                "size": s.size,
                "annotations": {ANNOTATION_SHARD: s.label, ANNOTATION_SHARD_FINGERPRINT: s.fingerprint},
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": manifests,
        "annotations": {ANNOTATION_REST_FINGERPRINT: rest},
    }))
    .expect("JSON values serialise")
}

/// Read the `_manifesto` tag in either format; `None` when it is neither (garbled). An index
/// is sharded when it carries the rest fingerprint and every entry names a shard; otherwise its
/// entries must all be manifesto manifests.
pub fn parse_top_index(bytes: &[u8]) -> Option<TopIndex> {
    let v = serde_json::from_slice::<Value>(bytes).ok()?;
    let list = v["manifests"].as_array()?;
    let Some(rest) = v["annotations"][ANNOTATION_REST_FINGERPRINT].as_str() else {
        let flat = parse_index(bytes);
        return (flat.len() == list.len()).then_some(TopIndex::Flat(flat));
    };
    let mut shards = BTreeMap::new();
    for m in list {
        let label = m["annotations"][ANNOTATION_SHARD].as_str()?;
        if !super::shard::is_label(label) || m["mediaType"] != media_types::OCI_INDEX {
            return None;
        }
        let shard = ShardRef {
            label: label.to_owned(),
            fingerprint: m["annotations"][ANNOTATION_SHARD_FINGERPRINT]
                .as_str()?
                .to_owned(),
            manifest: Digest::parse(m["digest"].as_str()?).ok()?,
            size: m["size"].as_u64()?,
        };
        if shards.insert(shard.label.clone(), shard).is_some() {
            return None;
        }
    }
    Some(TopIndex::Sharded {
        shards,
        rest: rest.to_owned(),
    })
}

/// The fingerprint of a set of signed files: sha256 (hex) over their sorted
/// `role-name sha256-hex` lines, each ending in a newline.
pub fn fingerprint<'a>(files: impl IntoIterator<Item = (&'a str, &'a FileMeta)>) -> String {
    let mut lines: Vec<String> = files
        .into_iter()
        .map(|(role, meta)| {
            let hash = meta
                .sha256_hex()
                .unwrap_or_else(|| format!("length:{}", meta.length));
            format!("{role} {hash}\n")
        })
        .collect();
    lines.sort();
    crate::registry::client::sha256_digest(lines.concat().as_bytes())
        .hex()
        .to_owned()
}

/// The fingerprint of label `label`: over every snapshot entry that is a bin with that label.
/// Without bins (the older layout) it is the fingerprint of the empty set for every label.
pub fn shard_fingerprint(snapshot: Option<&Snapshot>, label: &str) -> String {
    fingerprint(snapshot_files(snapshot).filter(|(role, _)| {
        RoleName::parse(role)
            .ok()
            .is_some_and(|r| super::shard::bin_of(&r).is_some_and(|(_, l)| l == label))
    }))
}

/// Every label's fingerprint, the empty-set one for labels without bins (256 entries).
pub fn shard_fingerprints(snapshot: Option<&Snapshot>) -> BTreeMap<String, String> {
    let mut by_label: BTreeMap<String, Vec<(&str, &FileMeta)>> =
        all_labels().into_iter().map(|l| (l, Vec::new())).collect();
    for (role, meta) in snapshot_files(snapshot) {
        let Ok(name) = RoleName::parse(role) else {
            continue;
        };
        if let Some((_, label)) = super::shard::bin_of(&name) {
            if let Some(files) = by_label.get_mut(label) {
                files.push((role, meta));
            }
        }
    }
    by_label
        .into_iter()
        .map(|(label, files)| (label, fingerprint(files)))
        .collect()
}

/// The fingerprint of every snapshot entry that is not a bin (the roles' own files): when it
/// moves, a signed file other than a bin changed, and the whole index is rebuilt.
pub fn rest_fingerprint(snapshot: Option<&Snapshot>) -> String {
    fingerprint(snapshot_files(snapshot).filter(|(role, _)| {
        RoleName::parse(role)
            .map(|r| super::shard::bin_of(&r).is_none())
            .unwrap_or(true)
    }))
}

fn snapshot_files(snapshot: Option<&Snapshot>) -> impl Iterator<Item = (&str, &FileMeta)> {
    snapshot
        .into_iter()
        .flat_map(|s| s.meta.iter().map(|(role, meta)| (role.as_str(), meta)))
}

/// The 256 digest labels, `00` to `ff`.
pub fn all_labels() -> Vec<String> {
    (0..=255u8).map(|b| format!("{b:02x}")).collect()
}

/// The entries of an index document (for reading what a registry holds).
pub fn parse_index(bytes: &[u8]) -> Vec<IndexEntry> {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    v["manifests"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| {
                    Some(IndexEntry {
                        image: Digest::parse(m["annotations"][ANNOTATION_IMAGE].as_str()?).ok()?,
                        role: m["annotations"][ANNOTATION_ROLE].as_str()?.to_string(),
                        manifest: Digest::parse(m["digest"].as_str()?).ok()?,
                        size: m["size"].as_u64()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn target_names_round_trip_and_refuse_other_shapes() {
        let ty = MetadataType::parse("approvals").unwrap();
        let name = metadata_target(&ty, &d('a'));
        assert_eq!(name, format!("approvals/sha256:{}", "a".repeat(64)));
        assert_eq!(parse_metadata_target(&name), Some((ty, d('a'))));
        assert_eq!(
            parse_manifesto_target(&manifesto_target(&d('b'))),
            Some(d('b'))
        );
        assert_eq!(parse_metadata_target("v1"), None);
        assert_eq!(parse_metadata_target("Approvals/sha256:x"), None);
        assert_eq!(parse_manifesto_target("approvals/sha256:x"), None);
    }

    #[test]
    fn the_same_entries_give_byte_identical_documents_in_any_order() {
        let e = |t: &str, c| Entry {
            metadata_type: MetadataType::parse(t).unwrap(),
            digest: d(c),
            media_type: "application/json".into(),
            size: 3,
            created_at: "2026-11-27T22:00:00Z".into(),
        };
        let role = RoleName::targets();
        let a = config_bytes(&d('f'), &role, &[e("scan", 'b'), e("approvals", 'c')]);
        let b = config_bytes(&d('f'), &role, &[e("approvals", 'c'), e("scan", 'b')]);
        assert_eq!(a, b);
        let subject = Subject {
            media_type: media_types::OCI_MANIFEST.into(),
            digest: d('f'),
            size: 400,
        };
        let m: Value =
            serde_json::from_slice(&manifest_bytes(&subject, &a, &[e("scan", 'b')])).unwrap();
        assert_eq!(m["subject"]["digest"], d('f').to_string());
        assert_eq!(m["layers"][0]["annotations"][ANNOTATION_TITLE], "scan");
        let index = [
            IndexEntry {
                image: d('2'),
                role: "targets".into(),
                manifest: d('3'),
                size: 9,
            },
            IndexEntry {
                image: d('1'),
                role: "targets/qa".into(),
                manifest: d('4'),
                size: 8,
            },
        ];
        let bytes = index_bytes(&index);
        let mut expected = index.to_vec();
        expected.sort();
        assert_eq!(parse_index(&bytes), expected);
    }

    #[test]
    fn a_label_fingerprint_moves_with_its_own_bins_only() {
        use crate::tuf::test_support as ts;
        let files = |bin_3f: &[u8], qa: &[u8]| {
            let mut f = BTreeMap::new();
            for (role, bytes) in [
                ("targets", b"t".as_slice()),
                ("targets/qa", qa),
                ("targets/qa/3f", bin_3f),
                ("targets/_manifesto", b"m".as_slice()),
                ("targets/_manifesto/3f", b"o3f".as_slice()),
                ("targets/_manifesto/a0", b"oa0".as_slice()),
            ] {
                f.insert(RoleName::parse(role).unwrap(), bytes.to_vec());
            }
            ts::snapshot_meta(3, ts::far(), &f)
        };
        let before = files(b"qa3f", b"qa");
        let bin_moved = files(b"qa3f, changed", b"qa");
        let role_moved = files(b"qa3f", b"qa, changed");
        let empty = fingerprint([]);
        let fp = |s: &Snapshot, l: &str| shard_fingerprint(Some(s), l);
        assert_ne!(fp(&before, "3f"), fp(&bin_moved, "3f"));
        assert_eq!(fp(&before, "a0"), fp(&bin_moved, "a0"));
        assert_ne!(fp(&before, "a0"), empty);
        assert_eq!(fp(&before, "00"), empty, "a label without bins");
        assert_eq!(shard_fingerprint(None, "3f"), empty);
        assert_eq!(
            rest_fingerprint(Some(&before)),
            rest_fingerprint(Some(&bin_moved))
        );
        assert_ne!(
            rest_fingerprint(Some(&before)),
            rest_fingerprint(Some(&role_moved))
        );
        assert_eq!(fp(&before, "3f"), fp(&role_moved, "3f"));
        let all = shard_fingerprints(Some(&before));
        assert_eq!(all.len(), 256);
        assert_eq!(all["3f"], fp(&before, "3f"));
        assert_eq!(all["00"], empty);
        // The documented definition: sorted `role sha256` lines.
        let lines = format!(
            "targets/_manifesto/3f {}\ntargets/qa/3f {}\n",
            before.meta["targets/_manifesto/3f"].sha256_hex().unwrap(),
            before.meta["targets/qa/3f"].sha256_hex().unwrap()
        );
        assert_eq!(
            fp(&before, "3f"),
            crate::registry::client::sha256_digest(lines.as_bytes()).hex()
        );
    }

    #[test]
    fn the_top_index_round_trips_and_the_old_format_reads_as_flat() {
        let shards = [ShardRef {
            label: "3f".into(),
            fingerprint: "ab".repeat(32),
            manifest: d('3'),
            size: 120,
        }];
        let top = top_index_bytes(&shards, "rest");
        let Some(TopIndex::Sharded { shards: read, rest }) = parse_top_index(&top) else {
            panic!("sharded");
        };
        assert_eq!(rest, "rest");
        assert_eq!(read.into_values().collect::<Vec<_>>(), shards.to_vec());
        let flat = [IndexEntry {
            image: d('2'),
            role: "targets".into(),
            manifest: d('3'),
            size: 9,
        }];
        assert_eq!(
            parse_top_index(&index_bytes(&flat)),
            Some(TopIndex::Flat(flat.to_vec()))
        );
        assert_eq!(parse_top_index(b"{}"), None);
        assert_eq!(
            parse_top_index(&index_bytes(&[])),
            Some(TopIndex::Flat(vec![]))
        );
    }
}
