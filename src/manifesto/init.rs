//! Creating a repository's trust data on the Notary server, as the Go client's
//! `notary init -p` does: root (an x509 certificate over the root key, CN = GUN), an empty
//! targets role, and the timestamp *and snapshot* keys held by the server, so delegates can
//! publish without the snapshot key.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::hints::Hinted;
use crate::config::Settings;
use crate::error::Error;
use crate::keys::certificate::root_certificate_key;
use crate::keys::passphrase::Passphrases;
use crate::keys::signer::{KeyAlgorithm, SigningKey};
use crate::keys::signing::RoleSigner;
use crate::keys::store::KeyStore;
use crate::notary::NotaryError;
use crate::notary::cache::TrustCache;
use crate::notary::http::NotaryHttp;
use crate::notary::publish::{PublishError, UpdatePart};
use crate::notary::repository::{LOCK_TIMEOUT, TrustedRepository};
use crate::registry::RegistryClient;
use crate::registry::reference::RepositoryRef;
use crate::tuf::build;
use crate::tuf::key::PublicKey;
use crate::tuf::metadata::{Root, Targets};
use crate::tuf::names::{KeyId, RoleName};
use crate::tuf::sign::{Signer, sign_file};

/// The keys a new repository is signed with.
pub struct NewRepositoryKeys<'a> {
    /// Signs root; its listed id is the certificate's.
    pub root: &'a dyn Signer,
    /// The root certificate (`ecdsa-x509`, CN = GUN).
    pub root_certificate: PublicKey,
    pub targets: &'a dyn Signer,
    pub targets_public: PublicKey,
}

#[derive(Debug, Serialize)]
pub struct InitReport {
    pub gun: String,
    pub server: String,
    pub root_key_id: String,
    pub targets_key_id: String,
    pub snapshot_key_id: String,
    pub timestamp_key_id: String,
}

/// Refuse to initialise a repository the registry does not have (nobody pushed there): the
/// likely cause is a typo, which would otherwise become a new Notary repository. `init
/// --allow-new-repository` skips this check.
pub async fn require_registry_repository(
    settings: &Settings,
    repo: &RepositoryRef,
) -> Result<(), Error> {
    let registry = RegistryClient::connect(&settings.http, repo.registry()).await?;
    if registry.repository_exists(repo.repository()).await? {
        return Ok(());
    }
    Err(Hinted::NoSuchRepository {
        gun: repo.gun(),
        registry: repo.registry().to_owned(),
    }
    .into())
}

/// `manifesto init`: the keys first, then the repository. The root key is reused when the
/// store has one (as the Go client does), else generated (and `generated` told its id); a new
/// targets key is made for the repository. Both are stored encrypted before anything is sent.
pub async fn init(
    settings: &Settings,
    repo: &RepositoryRef,
    now: DateTime<Utc>,
    generated: impl FnOnce(&KeyId),
) -> Result<InitReport, Error> {
    let gun = repo.gun();
    let store = KeyStore::new(&settings.trust_dir);
    let mut passphrases = Passphrases::from_environment();
    let root_role = RoleName::root();
    let root_key = match store.find(&root_role, None)?.first() {
        Some(existing) => store.load(&existing.key_id, &mut passphrases)?,
        None => {
            let key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
            let pass = passphrases.for_new_key(&root_role, "the new root key")?;
            store.add(&key, &root_role, None, &pass)?;
            generated(key.key_id());
            key
        }
    };
    let targets_role = RoleName::targets();
    let targets_key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
    let pass = passphrases.for_new_key(&targets_role, &format!("the targets key of {gun}"))?;
    store.add(&targets_key, &targets_role, Some(&gun), &pass)?;
    let certificate = root_certificate_key(&root_key, &gun, now)?;
    let root_signer = RoleSigner {
        listed: certificate.key_id(),
        key: root_key,
    };
    let targets_public = targets_key.public_key().clone();
    let targets_signer = RoleSigner {
        listed: targets_key.key_id().clone(),
        key: targets_key,
    };
    initialise(
        settings,
        repo,
        NewRepositoryKeys {
            root: &root_signer,
            root_certificate: certificate,
            targets: &targets_signer,
            targets_public,
        },
        now,
    )
    .await
}

/// Create `repo` on the server. A repository that already has trust data is reported, never
/// overwritten.
pub async fn initialise(
    settings: &Settings,
    repo: &RepositoryRef,
    keys: NewRepositoryKeys<'_>,
    now: DateTime<Utc>,
) -> Result<InitReport, Error> {
    let gun = repo.gun();
    let http = NotaryHttp::for_repository(settings, repo).await?;
    let server = http.server().to_string();
    match http.get("root.json", 1).await {
        Err(NotaryError::NotFound { .. }) => {}
        Ok(_) | Err(NotaryError::TooLarge { .. }) => {
            return Err(Error::AlreadyInitialised { gun, server });
        }
        Err(e) => return Err(e.into()),
    }
    let timestamp = http.server_key("timestamp").await?;
    let snapshot = http.server_key("snapshot").await?;
    let root = build::initial_root(
        &keys.root_certificate,
        &keys.targets_public,
        &snapshot,
        &timestamp,
        now,
    );
    let targets = build::empty_targets(1, now);
    let (root_file, targets_file) = sign_initial(&gun, &root, &targets, &keys)?;
    http.post_update(&[
        UpdatePart {
            role: RoleName::root(),
            bytes: root_file.clone(),
        },
        UpdatePart {
            role: RoleName::targets(),
            bytes: targets_file,
        },
    ])
    .await
    .map_err(|e| match e {
        PublishError::Stale { .. } => Error::CreatedMeanwhile { gun: gun.clone() },
        other => other.into(),
    })?;
    // We made this root: it is the anchor of our cache, no trust on first use needed.
    let cache = TrustCache::open(&settings.trust_dir, &gun)?;
    {
        let lock = cache.lock(LOCK_TIMEOUT)?;
        cache.write(&lock, "root", &root_file)?;
    }
    let trusted = TrustedRepository::open(settings, repo, now).await?;
    trusted.persist()?;
    Ok(InitReport {
        gun,
        server: http.server().to_string(),
        root_key_id: keys.root_certificate.key_id().to_string(),
        targets_key_id: keys.targets_public.key_id().to_string(),
        snapshot_key_id: snapshot.key_id().to_string(),
        timestamp_key_id: timestamp.key_id().to_string(),
    })
}

/// Sign the first root and targets with the new keys. A key that cannot sign is local key
/// state (exit 8), not the user's input.
fn sign_initial(
    gun: &str,
    root: &Root,
    targets: &Targets,
    keys: &NewRepositoryKeys<'_>,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let signing = |role: RoleName| {
        let gun = gun.to_owned();
        move |source| Error::SignRole { role, gun, source }
    };
    let root_file = sign_file(root, &[keys.root]).map_err(signing(RoleName::root()))?;
    let targets_file = sign_file(targets, &[keys.targets]).map_err(signing(RoleName::targets()))?;
    Ok((root_file, targets_file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::sign::SignFailed;

    /// A signer whose key refuses to sign (a broken or locked key).
    struct Broken(KeyId);

    impl Signer for Broken {
        fn listed_key_id(&self) -> KeyId {
            self.0.clone()
        }

        fn sign(&self, _: &[u8]) -> Result<(String, Vec<u8>), SignFailed> {
            Err(SignFailed {
                key_id: self.0.clone(),
            })
        }
    }

    #[test]
    fn a_root_key_that_cannot_sign_is_local_state_exit_8_not_usage() {
        let key = crate::keys::SigningKey::generate(crate::keys::KeyAlgorithm::Ecdsa).unwrap();
        let public = key.public_key().clone();
        let broken = Broken(public.key_id());
        let now = chrono::Utc::now();
        let root = build::initial_root(&public, &public, &public, &public, now);
        let targets = build::empty_targets(1, now);
        let keys = NewRepositoryKeys {
            root: &broken,
            root_certificate: public.clone(),
            targets: &broken,
            targets_public: public,
        };
        let err = sign_initial("127.0.0.1:5000/team/app", &root, &targets, &keys).unwrap_err();
        assert!(
            matches!(&err, Error::SignRole { role, .. } if *role == RoleName::root()),
            "{err:?}"
        );
        assert_eq!(err.failure().exit_code(), 8);
        assert_eq!(
            err.to_string(),
            "cannot sign root of 127.0.0.1:5000/team/app"
        );
    }
}
