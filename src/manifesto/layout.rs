//! Where manifesto keeps things: TUF target names, the per-image manifesto manifest, and the
//! `_manifesto` index tag. Pure functions of their inputs, so `put`, `delete` and `repair` build
//! byte-identical documents from the same signed targets.
//!
//! For image digest `D` and signing role `ρ`: target `<type>/D` signs each metadata blob and
//! `_manifesto/D` (in `ρ`'s targets file) signs `ρ`'s manifesto manifest of `D`, an OCI image
//! manifest whose layers are the blobs (so registry garbage collection keeps them) and whose
//! `subject` is the image. The `_manifesto` tag holds an OCI index of every manifesto manifest;
//! it is unsigned and always rebuilt from the signed targets. Entries carry the image digest, so
//! the index can later be split into tags per digest prefix without changing any signed data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::MetadataType;
use crate::registry::client::media_types;
use crate::registry::reference::Digest;
use crate::tuf::metadata::{FileMeta, Targets};
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
}
