//! The delegation flows behind `manifesto delegate add|remove|list`: who may sign which metadata
//! types.
//!
//! A delegation `targets/<name>` may sign the paths `<type>/` for each `--type`, plus
//! `_manifesto/` (the per-image manifesto its signers publish). The owner's targets key signs the
//! change; on a race with another writer it is rebuilt on the new state and signed again.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::MetadataType;
use super::layout::MANIFESTO_PREFIX;
use super::remote::{Network, Owner, Remote, as_owner, trust_now};
use crate::config::Settings;
use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::keys::signing::{RoleSigner, signer_among};
use crate::keys::store::KeyStore;
use crate::notary::TrustedRepository;
use crate::notary::publish::{Published, UpdatePart, publish_with_retry_on};
use crate::registry::reference::RepositoryRef;
use crate::tuf::build;
use crate::tuf::key::PublicKey;
use crate::tuf::names::RoleName;
use crate::tuf::sign::sign_file;
use crate::tuf::trusted::TrustedState;
use crate::tuf::update::MetadataSource;

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
        // manifesto's own bins live under `targets/_manifesto` (docs/layout.md)
        .filter(|r| !super::shard::is_reserved(r))
        .ok_or_else(|| Error::NotADelegationName {
            name: name.to_owned(),
        })
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
async fn change_targets<R: Remote>(
    owner: &mut Owner<'_, R>,
    repo: &RepositoryRef,
    edit: impl Fn(&mut crate::tuf::metadata::Targets) -> Result<bool, Error>,
) -> Result<Published, Error> {
    let Owner {
        remote,
        settings,
        passphrases,
    } = owner;
    let (remote, settings) = (*remote, *settings);
    let store = KeyStore::new(&settings.trust_dir);
    let mut signer: Option<RoleSigner> = None;
    publish_with_retry_on::<_, _, _, Error>(
        &repo.gun(),
        async || trust_now(remote, settings, repo).await,
        async |updater| {
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
            targets_signer(state, &store, passphrases, &mut signer)?;
            // The probe above ran the same edit on the same state, so it cannot fail here.
            let next = build::next_targets(current.as_ref(), Utc::now(), |t| {
                let _ = edit(t);
            })?;
            let signer = signer.as_ref().expect("loaded above");
            Ok(Some(vec![UpdatePart {
                role: RoleName::targets(),
                bytes: sign_file(&next, &[signer])?,
            }]))
        },
    )
    .await
}

/// What `delegate add` did.
#[derive(Debug)]
pub struct Added {
    pub published: Published,
    /// The delegation existed already: its keys (and paths) were extended, nothing replaced.
    pub extended: bool,
}

/// Add the delegation `role` with `keys`, allowed to sign `<type>/` for each of `types` plus
/// the manifesto prefix, and publish it. Onto an existing delegation the keys and paths are
/// added to what it has (a key is never replaced here: see [`rotate`] and [`remove_key`]).
pub async fn add(
    settings: &Settings,
    repo: &RepositoryRef,
    role: &RoleName,
    keys: &[PublicKey],
    types: &[MetadataType],
    threshold: Option<u32>,
) -> Result<Added, Error> {
    as_owner(settings, async |owner| {
        add_via(owner, repo, role, keys, types, threshold).await
    })
    .await
}

/// [`add`] as `owner`.
pub(crate) async fn add_via<R: Remote>(
    owner: &mut Owner<'_, R>,
    repo: &RepositoryRef,
    role: &RoleName,
    keys: &[PublicKey],
    types: &[MetadataType],
    threshold: Option<u32>,
) -> Result<Added, Error> {
    let mut paths: Vec<String> = types.iter().map(|t| format!("{t}/")).collect();
    paths.push(MANIFESTO_PREFIX.to_string());
    // Before any network use: one key given twice (in any form) is the user's input error, and
    // nothing is published. The threshold is checked against the delegation as the server has
    // it (an existing one keeps its threshold unless one is given).
    build::distinct_keys(role, keys, 1)?;
    if threshold == Some(0) {
        return Err(build::DelegationError::Threshold {
            role: role.clone(),
            threshold: 0,
            keys: keys.len(),
        }
        .into());
    }
    let extended = std::cell::Cell::new(false);
    let published = change_targets(owner, repo, |t| {
        extended.set(t.delegations.roles.iter().any(|d| &d.name == role));
        // Checked again against the delegation as the server has it: a key it already lists
        // under another id is refused too.
        Ok(build::add_delegation(t, role, keys, &paths, threshold)?)
    })
    .await?;
    Ok(Added {
        published,
        extended: extended.get(),
    })
}

/// Revoke one key of the delegation `role` (`key`: its id or a unique prefix) and publish.
/// Refused (exit 2) when the keys left could not meet the threshold. Returns the key id
/// removed. What the revoked key signed no longer verifies once its signature stops counting:
/// readers treat the role's targets as absent until a remaining key re-signs them.
pub async fn remove_key(
    settings: &Settings,
    repo: &RepositoryRef,
    role: &RoleName,
    key: &str,
) -> Result<(Published, String), Error> {
    as_owner(settings, async |owner| {
        remove_key_via(owner, repo, role, key).await
    })
    .await
}

/// [`remove_key`] as `owner`.
pub(crate) async fn remove_key_via<R: Remote>(
    owner: &mut Owner<'_, R>,
    repo: &RepositoryRef,
    role: &RoleName,
    key: &str,
) -> Result<(Published, String), Error> {
    let removed = std::cell::RefCell::new(None);
    let published = change_targets(owner, repo, |t| {
        match build::remove_delegation_key(t, role, key)? {
            Some(id) => {
                *removed.borrow_mut() = Some(id.to_string());
                Ok(true)
            }
            None => Err(Error::NoSuchDelegation {
                gun: repo.gun(),
                role: role.clone(),
            }),
        }
    })
    .await?;
    let removed = removed.into_inner().unwrap_or_else(|| key.to_owned());
    Ok((published, removed))
}

/// Replace one key of the delegation `role` by `new` in one signed update (paths and threshold
/// kept); `replace` names the key that goes, optional when the delegation has one key. Returns
/// the key id replaced. As with [`remove_key`], the old key's file stops verifying: its entries
/// are absent until the new key re-signs the role with its next put.
pub async fn rotate(
    settings: &Settings,
    repo: &RepositoryRef,
    role: &RoleName,
    new: &PublicKey,
    replace: Option<&str>,
) -> Result<(Published, String), Error> {
    as_owner(settings, async |owner| {
        rotate_via(owner, repo, role, new, replace).await
    })
    .await
}

/// [`rotate`] as `owner`.
pub(crate) async fn rotate_via<R: Remote>(
    owner: &mut Owner<'_, R>,
    repo: &RepositoryRef,
    role: &RoleName,
    new: &PublicKey,
    replace: Option<&str>,
) -> Result<(Published, String), Error> {
    build::distinct_keys(role, std::slice::from_ref(new), 1)?;
    let replaced = std::cell::RefCell::new(None);
    let published = change_targets(owner, repo, |t| {
        let before = t.delegations.clone();
        match build::rotate_delegation_key(t, role, new, replace)? {
            Some(id) => {
                *replaced.borrow_mut() = Some(id.to_string());
                Ok(t.delegations != before)
            }
            None => Err(Error::NoSuchDelegation {
                gun: repo.gun(),
                role: role.clone(),
            }),
        }
    })
    .await?;
    let replaced = replaced.into_inner().unwrap_or_default();
    Ok((published, replaced))
}

/// Remove the delegation `role` and publish; a delegation that does not exist is not found.
pub async fn remove(
    settings: &Settings,
    repo: &RepositoryRef,
    role: &RoleName,
) -> Result<Published, Error> {
    as_owner(settings, async |owner| remove_via(owner, repo, role).await).await
}

/// [`remove`] as `owner`.
pub(crate) async fn remove_via<R: Remote>(
    owner: &mut Owner<'_, R>,
    repo: &RepositoryRef,
    role: &RoleName,
) -> Result<Published, Error> {
    let trusted = trust_now(owner.remote, owner.settings, repo).await?;
    let exists = trusted
        .updater
        .state()
        .targets_role(&RoleName::targets())
        .is_some_and(|t| t.delegations.roles.iter().any(|d| &d.name == role));
    drop(trusted);
    if !exists {
        return Err(Error::NoSuchDelegation {
            gun: repo.gun(),
            role: role.clone(),
        });
    }
    change_targets(owner, repo, |t| Ok(build::remove_delegation(t, role))).await
}

/// One delegation of the top-level targets role, as `delegate list` shows it.
#[derive(Debug, Serialize)]
pub struct Delegation {
    pub role: String,
    pub threshold: u32,
    pub paths: Vec<String>,
    pub key_ids: Vec<String>,
    /// The metadata types among `paths` (the manifesto prefix left out).
    pub types: Vec<String>,
}

/// The verified delegations of `repo`'s targets role on its Notary server, by role name.
pub async fn list(settings: &Settings, repo: &RepositoryRef) -> Result<Vec<Delegation>, Error> {
    list_via(&Network, settings, repo).await
}

/// [`list`] over any [`Remote`].
pub(crate) async fn list_via(
    remote: &impl Remote,
    settings: &Settings,
    repo: &RepositoryRef,
) -> Result<Vec<Delegation>, Error> {
    let trusted = trust_now(remote, settings, repo).await?;
    trusted.persist()?;
    Ok(delegations_of(trusted.updater.state()))
}

/// The verified delegations of `gun`'s targets role as `source` serves them.
pub async fn list_from<S: MetadataSource>(
    settings: &Settings,
    gun: &str,
    source: S,
    now: DateTime<Utc>,
) -> Result<Vec<Delegation>, Error> {
    let trusted = TrustedRepository::open_with(settings, gun, source, now).await?;
    trusted.persist()?;
    Ok(delegations_of(trusted.updater.state()))
}

/// The delegations of a verified state's targets role, by role name.
fn delegations_of(state: &TrustedState) -> Vec<Delegation> {
    let mut out: BTreeMap<String, Delegation> = BTreeMap::new();
    if let Some(t) = state.targets_role(&RoleName::targets()) {
        for d in &t.delegations.roles {
            out.insert(
                d.name.to_string(),
                Delegation {
                    role: d.name.to_string(),
                    threshold: d.threshold,
                    paths: d.paths.clone(),
                    key_ids: d
                        .keyids
                        .iter()
                        .map(std::string::ToString::to_string)
                        .collect(),
                    types: d
                        .paths
                        .iter()
                        .filter(|p| p.as_str() != MANIFESTO_PREFIX)
                        .filter_map(|p| p.strip_suffix('/'))
                        .filter(|p| MetadataType::parse(p).is_ok())
                        .map(str::to_string)
                        .collect(),
                },
            );
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::memory_source::MemorySource;
    use crate::tuf::test_support::{self as ts, GUN, Repo, TestKey};

    fn settings(dir: &std::path::Path) -> Settings {
        Settings::for_tests(dir)
    }

    #[tokio::test]
    async fn list_shows_the_verified_delegations_with_their_types_and_caches_the_trust_data() {
        let mut repo = Repo::new();
        let qa = TestKey::ecdsa();
        let mut targets = ts::targets_meta(2, ts::far(), &[]);
        ts::delegate(
            &mut targets,
            "targets/qa",
            &["approvals/", MANIFESTO_PREFIX],
            &[&qa],
            1,
        );
        repo.set("targets", ts::sign(&targets, &[&repo.tg_key]));
        repo.publish(2, 2);
        let source = MemorySource::serving(&repo);
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());

        let listed = list_from(&settings, GUN, &source, ts::now()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].role, "targets/qa");
        assert_eq!(listed[0].threshold, 1);
        assert_eq!(listed[0].paths, ["approvals/", MANIFESTO_PREFIX]);
        assert_eq!(listed[0].types, ["approvals"]);
        assert_eq!(listed[0].key_ids, [qa.id.to_string()]);
        // The verified files were persisted: the trust cache holds the root now.
        let cached = dir
            .path()
            .join("tuf")
            .join(GUN)
            .join("metadata")
            .join("root.json");
        assert_eq!(std::fs::read(cached).unwrap(), repo.root);
    }

    #[tokio::test]
    async fn list_refuses_a_targets_file_signed_by_the_wrong_key_and_caches_nothing_of_it() {
        let mut repo = Repo::new();
        let mallory = TestKey::ecdsa();
        let targets = ts::targets_meta(2, ts::far(), &[]);
        repo.set("targets", ts::sign(&targets, &[&mallory]));
        repo.publish(2, 2);
        let source = MemorySource::serving(&repo);
        let dir = tempfile::tempdir().unwrap();

        let err = list_from(&settings(dir.path()), GUN, &source, ts::now())
            .await
            .unwrap_err();
        assert_eq!(err.failure().exit_code(), 3, "{err}");
        let cached = dir
            .path()
            .join("tuf")
            .join(GUN)
            .join("metadata")
            .join("targets.json");
        assert!(!cached.exists());
    }
}
