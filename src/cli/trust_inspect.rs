//! `manifesto trust inspect REPO`: the verified trust data of a repository — roles, keys,
//! thresholds, delegation paths, versions, expiries and targets.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::notary::TrustedRepository;
use crate::registry::reference::RepositoryRef;
use crate::tuf::key::PublicKey;
use crate::tuf::metadata::RoleKeys;
use crate::tuf::names::{KeyId, RoleName};

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
    pub id: String,
    /// The id of the bare public key (differs from `id` for certificates).
    pub public_key_id: Option<String>,
    #[serde(rename = "type")]
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
}

#[derive(Serialize)]
pub struct TargetView {
    pub name: String,
    pub role: String,
    pub length: u64,
    pub sha256: Option<String>,
}

fn key_view(id: &KeyId, keys: &BTreeMap<KeyId, PublicKey>) -> KeyView {
    let key = keys.get(id);
    let cert = key.and_then(|k| k.certificate().ok().flatten());
    KeyView {
        id: id.to_string(),
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

pub async fn inspect(ctx: &Context, repo: &str) -> Result<Inspection, Error> {
    let repo = RepositoryRef::parse(repo)?;
    let mut trusted = TrustedRepository::open(&ctx.settings, &repo, chrono::Utc::now()).await?;
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
            });
            parents.push(d.name.clone());
        }
    }
    delegations.sort_by(|a, b| a.role.cmp(&b.role));
    let targets = targets
        .into_iter()
        .map(|t| TargetView {
            sha256: t.meta.sha256_hex(),
            length: t.meta.length,
            role: t.role.to_string(),
            name: t.name,
        })
        .collect();
    Ok(Inspection {
        gun: repo.gun(),
        server: trusted.updater.source().server().to_string(),
        roles,
        delegations,
        targets,
    })
}

pub async fn run(ctx: &Context, repo: &str) -> Result<(), Error> {
    let report = inspect(ctx, repo).await?;
    ctx.output.emit(&report, |w| render(w, &report))
}

fn render(w: &mut dyn Write, r: &Inspection) -> std::io::Result<()> {
    writeln!(w, "{}  (server {})", r.gun, r.server)?;
    writeln!(w)?;
    writeln!(
        w,
        "{:<22} {:>7} {:>9}  {:<32} KEYS",
        "ROLE", "VERSION", "THRESHOLD", "EXPIRES"
    )?;
    let dash = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    for role in &r.roles {
        writeln!(
            w,
            "{:<22} {:>7} {:>9}  {:<32} {}",
            role.role,
            dash(role.version.map(|v| v.to_string())),
            role.threshold,
            dash(role.expires.clone()),
            keys_text(&role.keys)
        )?;
    }
    for d in &r.delegations {
        writeln!(
            w,
            "{:<22} {:>7} {:>9}  {:<32} {}  paths: {}",
            d.role,
            dash(d.version.map(|v| v.to_string())),
            d.threshold,
            dash(d.expires.clone()),
            keys_text(&d.keys),
            if d.paths.is_empty() {
                "(none)".into()
            } else {
                d.paths.join(", ")
            }
        )?;
    }
    writeln!(w)?;
    if r.targets.is_empty() {
        writeln!(w, "no targets")?;
    } else {
        writeln!(
            w,
            "{:<60} {:<16} {:>10}  SHA256",
            "TARGET", "ROLE", "LENGTH"
        )?;
        for t in &r.targets {
            writeln!(
                w,
                "{:<60} {:<16} {:>10}  {}",
                t.name,
                t.role,
                t.length,
                t.sha256.as_deref().unwrap_or("-")
            )?;
        }
    }
    Ok(())
}

fn keys_text(keys: &[KeyView]) -> String {
    keys.iter()
        .map(|k| format!("{} {}", k.key_type, &k.id[..k.id.len().min(12)]))
        .collect::<Vec<_>>()
        .join(", ")
}
