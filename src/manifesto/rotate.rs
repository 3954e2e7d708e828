//! Rotating a repository's top-level keys, as the Go client's `notary key rotate` does
//! (PROTOCOL.md §2.3): the new key goes into root version + 1, signed by the current root key.
//!
//! * `targets`: a new local key; the update carries root *and* targets re-signed with it (every
//!   target and delegation kept), so no reader ever sees targets signed by an unlisted key.
//! * `snapshot` / `timestamp`: the server makes the key (`POST <role>.key`); root lists it.
//! * `root`: a new key and its certificate (CN = GUN); the new root is signed by the old *and* the
//!   new root key, which the server and every client require (PROTOCOL.md §4.5, §6.2).
//!
//! New keys are made (and stored) or requested once; each publish attempt rebuilds root from the
//! state verified at that moment, so a concurrent change is never overwritten by a stale copy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::remote::{Owner, Remote, trust_now};
use crate::config::Settings;
use crate::error::Error;
use crate::keys::certificate::root_certificate_key;
use crate::keys::passphrase::Passphrases;
use crate::keys::signer::{KeyAlgorithm, SigningKey};
use crate::keys::signing::{RoleSigner, signers_among};
use crate::keys::store::KeyStore;
use crate::notary::publish::{
    PublishError, Published, ServerKeys, UpdatePart, publish_with_retry_on,
};
use crate::registry::reference::RepositoryRef;
use crate::tuf::build::{self, RootShape};
use crate::tuf::key::PublicKey;
use crate::tuf::metadata::{Expires, Root};
use crate::tuf::names::{KeyId, RoleName};
use crate::tuf::sign::{Signer, sign_file};

/// The roles `key rotate` handles. Delegation keys are managed by the delegating role
/// (`delegate add`), not by root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotatedRole {
    Root,
    Targets,
    Snapshot,
    Timestamp,
}

impl RotatedRole {
    pub fn parse(role: &str) -> Option<RotatedRole> {
        match role {
            "root" => Some(RotatedRole::Root),
            "targets" => Some(RotatedRole::Targets),
            "snapshot" => Some(RotatedRole::Snapshot),
            "timestamp" => Some(RotatedRole::Timestamp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RotatedRole::Root => "root",
            RotatedRole::Targets => "targets",
            RotatedRole::Snapshot => "snapshot",
            RotatedRole::Timestamp => "timestamp",
        }
    }

    fn role_name(self) -> RoleName {
        match self {
            RotatedRole::Root => RoleName::root(),
            RotatedRole::Targets => RoleName::targets(),
            RotatedRole::Snapshot => RoleName::snapshot(),
            RotatedRole::Timestamp => RoleName::timestamp(),
        }
    }
}

/// How long the re-signed files stay valid. `None` keeps the expiry the file has now: a
/// rotation never changes a lifetime the owner chose unless a flag says so for that role (with
/// no current file, the Go client's defaults: root 10 years, targets 3 years).
#[derive(Debug, Clone, Copy, Default)]
pub struct Lifetimes {
    pub root: Option<Duration>,
    pub targets: Option<Duration>,
}

impl Lifetimes {
    /// The new root's expiry: `--expires` from now, else the current root's.
    fn root_expiry(&self, now: DateTime<Utc>, current: Option<&Expires>) -> Result<Expires, Error> {
        match (self.root, current) {
            (None, Some(kept)) => Ok(kept.clone()),
            (None, None) => Ok(build::expiry(now, build::ROOT_LIFETIME_MONTHS)),
            (Some(d), _) => {
                build::expiry_after(now, d).ok_or(Error::LifetimeTooLong { flag: "--expires" })
            }
        }
    }

    /// The new root's expiry given the current one (for the offline root flow).
    pub(crate) fn root_expiry_for(
        &self,
        now: DateTime<Utc>,
        current: &Expires,
    ) -> Result<Expires, Error> {
        self.root_expiry(now, Some(current))
    }

    /// The re-signed targets' expiry: `--targets-expires` from now, else the current one's.
    fn targets_expiry(
        &self,
        now: DateTime<Utc>,
        current: Option<&Expires>,
    ) -> Result<Expires, Error> {
        match (self.targets, current) {
            (None, Some(kept)) => Ok(kept.clone()),
            (None, None) => Ok(build::expiry(now, build::TARGETS_LIFETIME_MONTHS)),
            (Some(d), _) => build::expiry_after(now, d).ok_or(Error::LifetimeTooLong {
                flag: "--targets-expires",
            }),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RotateReport {
    pub gun: String,
    pub role: &'static str,
    /// The ids the role listed before.
    pub old_key_ids: Vec<KeyId>,
    /// The id the role lists now (for root: the certificate's).
    pub new_key_id: KeyId,
    /// For root: the id of the bare key, which names its private-key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_public_key_id: Option<KeyId>,
    /// For a root with several keys: every new certificate id, and how many must sign.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_key_ids: Vec<KeyId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    pub root_version: u64,
    /// For targets: the version of the re-signed targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets_version: Option<u64>,
    /// Whether this run published (false: the server already listed the new key).
    pub published: bool,
}

/// The new key(s) and, for keys held here, their signers (a root may get several).
struct NewKey {
    public: PublicKey,
    signer: Option<RoleSigner>,
    /// For a root with several keys, the others (public key and signer).
    more: Vec<(PublicKey, RoleSigner)>,
}

impl NewKey {
    fn publics(&self) -> Vec<PublicKey> {
        std::iter::once(self.public.clone())
            .chain(self.more.iter().map(|(p, _)| p.clone()))
            .collect()
    }
}

/// Rotate `role`'s key of `repo` and publish root version + 1 (and targets, for `targets`).
pub async fn rotate(
    settings: &Settings,
    repo: &RepositoryRef,
    role: RotatedRole,
    lifetimes: Lifetimes,
    shape: RootShape,
    store: &KeyStore,
    passphrases: &mut Passphrases,
) -> Result<RotateReport, Error> {
    let mut owner = Owner::on_network(settings, passphrases);
    rotate_via(&mut owner, repo, role, lifetimes, shape, store).await
}

/// [`rotate`] as `owner`.
pub(crate) async fn rotate_via<R: Remote>(
    owner: &mut Owner<'_, R>,
    repo: &RepositoryRef,
    role: RotatedRole,
    lifetimes: Lifetimes,
    shape: RootShape,
    store: &KeyStore,
) -> Result<RotateReport, Error> {
    let (remote, settings) = (owner.remote, owner.settings);
    let passphrases = &mut *owner.passphrases;
    let gun = repo.gun();
    let shape = shape.check()?;
    let role_name = role.role_name();
    // A lifetime past what Go can write is refused before anything changes.
    lifetimes.root_expiry(Utc::now(), None)?;
    lifetimes.targets_expiry(Utc::now(), None)?;
    // Verify the repository and unlock the current root key before any key is made or the
    // server is asked to rotate: a missing root key leaves everything as it was.
    let mut root_signer: Vec<RoleSigner> = Vec::new();
    let mut old_key_ids;
    let new = {
        let trusted = trust_now(remote, settings, repo).await?;
        let root = trusted.updater.state().root().get();
        old_key_ids = role_key_ids(root, &role_name);
        load_root_signer(store, passphrases, root, &mut root_signer)?;
        if role == RotatedRole::Targets
            && trusted
                .updater
                .state()
                .targets_role(&RoleName::targets())
                .is_none()
        {
            return Err(Error::NothingToResign { gun });
        }
        let new = match role {
            RotatedRole::Snapshot | RotatedRole::Timestamp => NewKey {
                public: trusted
                    .updater
                    .source()
                    .rotate_server_key(role.as_str())
                    .await?,
                signer: None,
                more: Vec::new(),
            },
            RotatedRole::Targets => {
                let key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
                let pass =
                    passphrases.for_new_key(&role_name, &format!("the targets key of {gun}"))?;
                store.add(&key, &role_name, Some(&gun), &pass)?;
                NewKey {
                    public: key.public_key().clone(),
                    signer: Some(RoleSigner {
                        listed: key.key_id().clone(),
                        key: key.into(),
                    }),
                    more: Vec::new(),
                }
            }
            RotatedRole::Root => {
                // Root keys are not tied to one GUN (as in the Go client); the certificate is.
                let pass = passphrases.for_new_key(&role_name, "the new root key")?;
                let mut made = Vec::new();
                for _ in 0..shape.keys {
                    let key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
                    let certificate = root_certificate_key(&key, &gun, Utc::now())?;
                    store.add(&key, &role_name, None, &pass)?;
                    let signer = RoleSigner {
                        listed: certificate.key_id(),
                        key: key.into(),
                    };
                    made.push((certificate, signer));
                }
                let (public, signer) = made.remove(0);
                NewKey {
                    signer: Some(signer),
                    public,
                    more: made,
                }
            }
        };
        trusted.persist()?;
        new
    };
    let new_id = new.public.key_id();
    let new_publics = new.publics();
    let new_ids: Vec<KeyId> = new_publics.iter().map(PublicKey::key_id).collect();
    let new_threshold = if role == RotatedRole::Root {
        shape.threshold
    } else {
        1
    };

    // The root version our publish carried (the read-back below may already see a later one
    // from another writer).
    let mut published_root_version = None;
    let published = publish_with_retry_on::<_, _, _, Error>(
        &repo.gun(),
        async || trust_now(remote, settings, repo).await,
        async |updater| {
            if role == RotatedRole::Targets {
                super::shard_write::load_owner_bins(updater)
                    .await
                    .map_err(Error::Update)?;
            }
            let state = updater.state();
            let root = state.root().get();
            let listed = role_key_ids(root, &role_name);
            if listed == new_ids {
                return Ok(None);
            }
            old_key_ids = listed;
            load_root_signer(store, passphrases, root, &mut root_signer)?;
            let now = Utc::now();
            let next = build::next_root(
                root,
                lifetimes.root_expiry(now, Some(&root.expires))?,
                |r| {
                    build::replace_role_keys(r, &role_name, &new_publics, new_threshold);
                },
            )?;
            // A threshold of the current root keys, and for a new root every new key.
            let mut signers: Vec<&dyn Signer> =
                root_signer.iter().map(|s| s as &dyn Signer).collect();
            if role == RotatedRole::Root {
                signers.push(new.signer.as_ref().expect("a new root key signs"));
                signers.extend(new.more.iter().map(|(_, s)| s as &dyn Signer));
            }
            published_root_version = Some(next.version.get());
            let mut parts = vec![UpdatePart {
                role: RoleName::root(),
                bytes: sign_file(&next, &signers)?,
            }];
            if role == RotatedRole::Targets {
                let current = state
                    .targets_role(&RoleName::targets())
                    .map(|t| t.get().clone())
                    .ok_or_else(|| Error::NothingToResign { gun: gun.clone() })?;
                let mut targets = build::next_targets(Some(&current), now, |_| {})?;
                targets.expires = lifetimes.targets_expiry(now, Some(&current.expires))?;
                let signer = new.signer.as_ref().expect("a new targets key signs");
                // The owner's bins follow the key: re-signed by it, none left to the old one.
                let new_keys = new_publics
                    .iter()
                    .map(|k| (k.key_id(), k.clone()))
                    .collect();
                let bins = super::shard_write::rekey_owner(
                    state,
                    &mut targets,
                    &new_keys,
                    new_threshold,
                    now,
                )?;
                parts.push(UpdatePart {
                    role: RoleName::targets(),
                    bytes: sign_file(&targets, &[signer as &dyn Signer])?,
                });
                for (bin, next) in bins {
                    parts.push(UpdatePart {
                        role: bin,
                        bytes: sign_file(&next, &[signer as &dyn Signer])?,
                    });
                }
            }
            Ok(Some(parts))
        },
    )
    .await?;

    // Read back what was published: this verifies the rotation as every client will (the new
    // root through the old one) and leaves the trust cache on the new root.
    let trusted = trust_now(remote, settings, repo).await?;
    trusted.persist()?;
    let state = trusted.updater.state();
    let root = state.root().get();
    if role_key_ids(root, &role_name) != new_ids {
        // Another writer rotated the same role right after us: theirs stands.
        tracing::warn!(%gun, role = %role_name, %new_id, "the role no longer lists the new key");
        return Err(PublishError::Stale { gun }.into());
    }
    Ok(RotateReport {
        gun,
        role: role.as_str(),
        old_key_ids,
        new_public_key_id: (role == RotatedRole::Root)
            .then(|| new.public.public_key_id().ok())
            .flatten(),
        new_key_id: new_id,
        new_key_ids: if new_ids.len() > 1 {
            new_ids.clone()
        } else {
            Vec::new()
        },
        threshold: (new_ids.len() > 1).then_some(new_threshold),
        root_version: match published {
            Published::Now { .. } => published_root_version.unwrap_or(root.version.get()),
            Published::AlreadyThere => root.version.get(),
        },
        targets_version: (role == RotatedRole::Targets)
            .then(|| state.targets_role(&RoleName::targets()))
            .flatten()
            .map(|t| t.version.get()),
        published: matches!(published, Published::Now { .. }),
    })
}

fn role_key_ids(root: &Root, role: &RoleName) -> Vec<KeyId> {
    root.role(role)
        .map(|r| r.keyids.clone())
        .unwrap_or_default()
}

/// Signers of as many root keys as the current root's threshold, loaded once and again only
/// when root no longer lists them (another writer rotated root meanwhile). All must be in the
/// store; a missing one is exit 8 naming the keys wanted.
fn load_root_signer(
    store: &KeyStore,
    passphrases: &mut Passphrases,
    root: &Root,
    cached: &mut Vec<RoleSigner>,
) -> Result<(), Error> {
    let Some(role) = root.role(&RoleName::root()) else {
        return Ok(());
    };
    let listed = &role.keyids;
    if !cached.is_empty()
        && cached.len() >= role.threshold as usize
        && cached.iter().all(|s| listed.contains(&s.listed))
    {
        return Ok(());
    }
    let keys: Vec<_> = listed
        .iter()
        .filter_map(|id| root.keys.get(id).map(|k| (id, k)))
        .collect();
    *cached = signers_among(store, passphrases, "root", keys, role.threshold)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_four_top_level_roles_are_rotated_here() {
        for name in ["root", "targets", "snapshot", "timestamp"] {
            let role = RotatedRole::parse(name).unwrap();
            assert_eq!(role.as_str(), name);
            assert_eq!(role.role_name().as_str(), name);
        }
        assert_eq!(RotatedRole::parse("targets/qa"), None);
        assert_eq!(RotatedRole::parse("Root"), None);
    }

    #[test]
    fn lifetimes_default_to_the_go_clients_and_follow_the_flags() {
        let now = Utc::now();
        let defaults = Lifetimes::default();
        assert_eq!(
            defaults.root_expiry(now, None).unwrap(),
            build::expiry(now, build::ROOT_LIFETIME_MONTHS)
        );
        assert_eq!(
            defaults.targets_expiry(now, None).unwrap(),
            build::expiry(now, build::TARGETS_LIFETIME_MONTHS)
        );
        // Without a flag, the expiry the file has is kept.
        let chosen = build::expiry(now, 60);
        assert_eq!(defaults.root_expiry(now, Some(&chosen)).unwrap(), chosen);
        assert_eq!(defaults.targets_expiry(now, Some(&chosen)).unwrap(), chosen);
        let ninety_days = Duration::from_secs(90 * 86_400);
        let set = Lifetimes {
            root: Some(ninety_days),
            targets: Some(ninety_days),
        };
        assert_eq!(
            set.root_expiry(now, Some(&build::expiry(now, 60)))
                .unwrap()
                .at(),
            now + chrono::Duration::days(90)
        );
        assert!(
            Lifetimes {
                root: Some(Duration::from_secs(u64::MAX)),
                targets: None
            }
            .root_expiry(now, None)
            .is_err()
        );
    }
}
