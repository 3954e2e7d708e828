//! The `trust inspect` flow: the verified trust data of a repository — roles, keys,
//! thresholds, delegation paths, versions, expiries and targets — as a view to print.

use std::collections::BTreeMap;

use serde::Serialize;

use super::layout::Custom;
use super::remote::{Network, Remote, trust_now};
use crate::config::Settings;
use crate::error::Error;
use crate::registry::reference::RepositoryRef;
use crate::tuf::key::PublicKey;
use crate::tuf::metadata::RoleKeys;
use crate::tuf::names::{KeyId, RoleName};
use crate::tuf::update::MetadataSource;

#[derive(Serialize)]
pub struct Inspection {
    pub gun: String,
    pub server: String,
    pub roles: Vec<RoleView>,
    pub delegations: Vec<DelegationView>,
    pub targets: Vec<TargetView>,
}

#[derive(Serialize)]
pub struct RoleView {
    pub role: String,
    pub version: Option<u64>,
    pub expires: Option<String>,
    pub threshold: u32,
    pub keys: Vec<KeyView>,
}

#[derive(Serialize)]
pub struct KeyView {
    /// The id used in the metadata (for certificates: the certificate id).
    pub key_id: String,
    /// The id of the bare public key (differs from `key_id` for certificates).
    pub public_key_id: Option<String>,
    /// The TUF key type (`ecdsa`, `ecdsa-x509`, `ed25519`).
    pub key_type: String,
    /// For certificates: the end of their validity.
    pub certificate_expires: Option<String>,
}

#[derive(Serialize)]
pub struct DelegationView {
    pub role: String,
    pub threshold: u32,
    pub paths: Vec<String>,
    pub keys: Vec<KeyView>,
    /// The version and expiry of the delegation's own file, when it has published one.
    pub version: Option<u64>,
    pub expires: Option<String>,
    /// Set when the role's file is stale (signed by keys the delegation no longer lists, or
    /// expired): its targets are treated as absent until it is re-signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<StaleView>,
}

#[derive(Serialize)]
pub struct StaleView {
    /// Why the role's file does not count.
    pub reason: String,
    /// What to do about it.
    pub next_step: String,
}

#[derive(Serialize)]
pub struct TargetView {
    pub name: String,
    pub role: String,
    /// The signed length in bytes.
    pub size: u64,
    pub sha256: Option<String>,
    pub sha512: Option<String>,
    /// The signed `custom` of a manifesto target; `None` for targets other clients wrote.
    pub media_type: Option<String>,
    pub created_at: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

fn key_view(id: &KeyId, keys: &BTreeMap<KeyId, PublicKey>) -> KeyView {
    let key = keys.get(id);
    let cert = key.and_then(|k| k.certificate().ok().flatten());
    KeyView {
        key_id: id.to_string(),
        public_key_id: key
            .and_then(|k| k.public_key_id().ok())
            .map(|k| k.to_string()),
        key_type: key
            .map(|k| k.keytype.as_str().to_string())
            .unwrap_or_else(|| "unknown".into()),
        certificate_expires: cert.map(|c| c.not_after.to_rfc3339()),
    }
}

fn role_keys(keys: &RoleKeys, all: &BTreeMap<KeyId, PublicKey>) -> Vec<KeyView> {
    keys.keyids.iter().map(|id| key_view(id, all)).collect()
}

/// Verify `repo` and describe its trust data.
pub async fn inspect(settings: &Settings, repo: &RepositoryRef) -> Result<Inspection, Error> {
    inspect_via(&Network, settings, repo).await
}

/// [`inspect`] over any [`Remote`].
pub(crate) async fn inspect_via(
    remote: &impl Remote,
    settings: &Settings,
    repo: &RepositoryRef,
) -> Result<Inspection, Error> {
    let mut trusted = trust_now(remote, settings, repo).await?;
    let targets = trusted
        .updater
        .list_targets()
        .await
        .map_err(Error::Update)?;
    trusted.persist()?;
    let state = trusted.updater.state();
    let root = state.root();
    let mut roles = Vec::new();
    for name in [
        RoleName::root(),
        RoleName::targets(),
        RoleName::snapshot(),
        RoleName::timestamp(),
    ] {
        let Some(keys) = root.role(&name) else {
            continue;
        };
        let (version, expires) = match name.as_str() {
            "root" => (
                Some(root.version.get()),
                Some(root.expires.raw().to_string()),
            ),
            "timestamp" => state
                .timestamp()
                .map(|t| (Some(t.version.get()), Some(t.expires.raw().to_string())))
                .unwrap_or((None, None)),
            "snapshot" => state
                .snapshot()
                .map(|t| (Some(t.version.get()), Some(t.expires.raw().to_string())))
                .unwrap_or((None, None)),
            _ => state
                .targets_role(&name)
                .map(|t| (Some(t.version.get()), Some(t.expires.raw().to_string())))
                .unwrap_or((None, None)),
        };
        roles.push(RoleView {
            role: name.to_string(),
            version,
            expires,
            threshold: keys.threshold,
            keys: role_keys(keys, &root.keys),
        });
    }
    // Delegations as declared by every loaded targets role, parents first.
    let mut delegations = Vec::new();
    let mut parents = vec![RoleName::targets()];
    while let Some(parent) = parents.pop() {
        let Some(parent_meta) = state.targets_role(&parent) else {
            continue;
        };
        for d in &parent_meta.delegations.roles {
            // Bins are manifesto's storage, not delegations anyone made: their targets show
            // under their signing role.
            if super::shard::is_reserved(&d.name) {
                parents.push(d.name.clone());
                continue;
            }
            let own = state.targets_role(&d.name);
            delegations.push(DelegationView {
                role: d.name.to_string(),
                threshold: d.threshold,
                paths: d.paths.clone(),
                keys: d
                    .keyids
                    .iter()
                    .map(|id| key_view(id, &parent_meta.delegations.keys))
                    .collect(),
                version: own.map(|t| t.version.get()),
                expires: own.map(|t| t.expires.raw().to_string()),
                stale: state.skipped(&d.name).map(|s| StaleView {
                    reason: s.reason.to_string(),
                    next_step: crate::tuf::update::next_step(s),
                }),
            });
            parents.push(d.name.clone());
        }
    }
    delegations.sort_by(|a, b| a.role.cmp(&b.role));
    let targets = targets
        .into_iter()
        .map(|t| {
            let custom = Custom::from_meta(&t.meta);
            TargetView {
                sha256: t.meta.sha256_hex(),
                sha512: t.meta.hashes.0.get("sha512").map(hex::encode),
                size: t.meta.length,
                role: super::shard::signer_of(&t.role).to_string(),
                media_type: custom.as_ref().map(|c| c.media_type.clone()),
                created_at: custom.as_ref().map(|c| c.created_at.clone()),
                annotations: custom.map(|c| c.annotations).unwrap_or_default(),
                name: t.name,
            }
        })
        .collect();
    Ok(Inspection {
        gun: repo.gun(),
        server: trusted.updater.source().location(),
        roles,
        delegations,
        targets,
    })
}
