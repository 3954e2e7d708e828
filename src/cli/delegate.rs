//! `manifesto delegate add|remove|list`: who may sign which metadata types.
//!
//! A delegation `targets/<name>` may sign the paths `<type>/` for each `--type`, plus
//! `_manifesto/` (the per-image manifesto its signers publish). The owner's targets key signs the
//! change; on a race with another writer it is rebuilt on the new state and signed again.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::keys::store::KeyStore;
use crate::manifesto::MetadataType;
use crate::keys::signing::{RoleSigner, signer_among};
use crate::notary::TrustedRepository;
use crate::notary::publish::{Published, UpdatePart, publish_with_retry};
use crate::registry::reference::RepositoryRef;
use crate::tuf::build;
use crate::tuf::key::PublicKey;
use crate::tuf::key_pem::public_key_from_pem;
use crate::tuf::names::RoleName;
use crate::tuf::sign::sign_file;
use crate::tuf::trusted::TrustedState;

/// The path prefix of a delegate's per-image manifesto targets.
pub const MANIFESTO_PATH: &str = "_manifesto/";

/// `targets/<name>` from a delegation name given with or without the `targets/` prefix.
pub fn delegation_role(name: &str) -> Result<RoleName, Error> {
    let full = if name.starts_with("targets/") {
        name.to_string()
    } else {
        format!("targets/{name}")
    };
    RoleName::parse(&full)
        .ok()
        .filter(|r| r.is_delegation() && r.parent() == Some(RoleName::targets()))
        .ok_or_else(|| Error::Usage(format!("{name:?} is not a delegation name: use lowercase letters, digits, '-' or '_' (e.g. 'qa')")))
}

#[derive(Serialize)]
struct Changed {
    repository: String,
    role: String,
    change: &'static str,
    published: bool,
}

/// The owner's targets signer, loaded once (a passphrase prompt at most once per command).
fn targets_signer(
    state: &TrustedState,
    store: &KeyStore,
    passphrases: &mut Passphrases,
    cached: &mut Option<RoleSigner>,
) -> Result<(), Error> {
    if cached.is_none() {
        let root = state.root();
        let listed = root
            .role(&RoleName::targets())
            .map(|r| r.keyids.clone())
            .unwrap_or_default();
        let keys: Vec<_> = listed
            .iter()
            .filter_map(|id| root.keys.get(id).map(|k| (id, k)))
            .collect();
        *cached = Some(signer_among(store, passphrases, "targets", keys)?);
    }
    Ok(())
}

/// Publish a change to the top-level targets role, rebuilt on whatever state is current.
async fn change_targets(
    ctx: &Context,
    repo: &RepositoryRef,
    edit: impl Fn(&mut crate::tuf::metadata::Targets) -> Result<bool, Error>,
) -> Result<Published, Error> {
    let store = KeyStore::new(&ctx.settings.trust_dir);
    let mut passphrases = Passphrases::from_environment();
    let mut signer: Option<RoleSigner> = None;
    publish_with_retry::<_, Error>(&ctx.settings, repo, async |updater| {
        let state = updater.state();
        let current = state
            .targets_role(&RoleName::targets())
            .map(|t| t.get().clone());
        let mut probe = current
            .clone()
            .unwrap_or_else(|| build::empty_targets(1, Utc::now()));
        if !edit(&mut probe)? {
            return Ok(None);
        }
        targets_signer(state, &store, &mut passphrases, &mut signer)?;
        // The probe above ran the same edit on the same state, so it cannot fail here.
        let next = build::next_targets(current.as_ref(), Utc::now(), |t| {
            let _ = edit(t);
        })?;
        let signer = signer.as_ref().expect("loaded above");
        Ok(Some(vec![UpdatePart {
            role: RoleName::targets(),
            bytes: sign_file(&next, &[signer])?,
        }]))
    })
    .await
}

pub async fn add(
    ctx: &Context,
    repo: &str,
    name: &str,
    key_files: &[std::path::PathBuf],
    types: &[String],
    threshold: u32,
) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let role = delegation_role(name)?;
    let mut paths = Vec::new();
    for t in types {
        paths.push(format!("{}/", MetadataType::parse(t)?));
    }
    paths.push(MANIFESTO_PATH.to_string());
    let mut keys: Vec<PublicKey> = Vec::new();
    for file in key_files {
        let bytes = std::fs::read(file)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", file.display())))?;
        keys.push(
            public_key_from_pem(&bytes)
                .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?,
        );
    }
    // Before any network use: one key given twice (in any form) or a threshold the distinct
    // keys cannot meet is the user's input error, and nothing is published.
    build::distinct_keys(&role, &keys, threshold)?;
    let published = change_targets(ctx, &repo, |t| {
        // Checked again against the delegation as the server has it: a key it already lists
        // under another id is refused too.
        Ok(build::add_delegation(t, &role, &keys, &paths, threshold)?)
    })
    .await?;
    report(ctx, &repo, &role, "added", published)
}

pub async fn remove(ctx: &Context, repo: &str, name: &str) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let role = delegation_role(name)?;
    let trusted = TrustedRepository::open(&ctx.settings, &repo, Utc::now()).await?;
    let exists = trusted
        .updater
        .state()
        .targets_role(&RoleName::targets())
        .is_some_and(|t| t.delegations.roles.iter().any(|d| d.name == role));
    drop(trusted);
    if !exists {
        return Err(Error::NotFoundMessage(format!(
            "{} has no delegation {role}",
            repo.gun()
        )));
    }
    let published = change_targets(ctx, &repo, |t| Ok(build::remove_delegation(t, &role))).await?;
    report(ctx, &repo, &role, "removed", published)
}

fn report(
    ctx: &Context,
    repo: &RepositoryRef,
    role: &RoleName,
    change: &'static str,
    published: Published,
) -> Result<(), Error> {
    let out = Changed {
        repository: repo.gun(),
        role: role.to_string(),
        change,
        published: matches!(published, Published::Now { .. }),
    };
    ctx.output.emit(&out, |w| match published {
        Published::Now { .. } => writeln!(w, "{change} delegation {role} of {}", out.repository),
        Published::AlreadyThere => writeln!(
            w,
            "delegation {role} of {} was already {change}; nothing to publish",
            out.repository
        ),
    })
}

#[derive(Serialize)]
struct Listed {
    role: String,
    threshold: u32,
    paths: Vec<String>,
    key_ids: Vec<String>,
    types: Vec<String>,
}

pub async fn list(ctx: &Context, repo: &str) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let trusted = TrustedRepository::open(&ctx.settings, &repo, Utc::now()).await?;
    trusted.persist()?;
    let mut out: BTreeMap<String, Listed> = BTreeMap::new();
    if let Some(t) = trusted.updater.state().targets_role(&RoleName::targets()) {
        for d in &t.delegations.roles {
            out.insert(
                d.name.to_string(),
                Listed {
                    role: d.name.to_string(),
                    threshold: d.threshold,
                    paths: d.paths.clone(),
                    key_ids: d.keyids.iter().map(|k| k.to_string()).collect(),
                    types: d
                        .paths
                        .iter()
                        .filter(|p| p.as_str() != MANIFESTO_PATH)
                        .filter_map(|p| p.strip_suffix('/'))
                        .filter(|p| MetadataType::parse(p).is_ok())
                        .map(str::to_string)
                        .collect(),
                },
            );
        }
    }
    let rows: Vec<Listed> = out.into_values().collect();
    ctx.output.emit(&rows, |w| {
        if rows.is_empty() {
            return writeln!(w, "no delegations");
        }
        writeln!(w, "{:<24} {:>9}  {:<40} KEYS", "ROLE", "THRESHOLD", "PATHS")?;
        for r in &rows {
            writeln!(
                w,
                "{:<24} {:>9}  {:<40} {}",
                r.role,
                r.threshold,
                r.paths.join(", "),
                r.key_ids
                    .iter()
                    .map(|k| &k[..12])
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        Ok(())
    })
}
