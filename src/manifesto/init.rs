//! Creating a repository's trust data on the Notary server, as the Go client's
//! `notary init -p` does: root (an x509 certificate over the root key, CN = GUN), an empty
//! targets role, and the timestamp *and snapshot* keys held by the server, so delegates can
//! publish without the snapshot key.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::hints::Hinted;
use super::remote::{Network, Remote};
use crate::config::Settings;
use crate::error::Error;
use crate::keys::certificate::root_certificate_key;
use crate::keys::passphrase::Passphrases;
use crate::keys::signer::{KeyAlgorithm, SigningKey};
use crate::keys::signing::RoleSigner;
use crate::keys::store::KeyStore;
use crate::notary::NotaryError;
use crate::notary::cache::TrustCache;
use crate::notary::publish::{PublishError, ServerKeys, UpdatePart, UpdateSink};
use crate::notary::repository::LOCK_TIMEOUT;
use crate::registry::RegistryWrite;
use crate::registry::reference::RepositoryRef;
use crate::tuf::build::{self, RootShape};
use crate::tuf::key::PublicKey;
use crate::tuf::metadata::{Root, Targets};
use crate::tuf::names::{KeyId, RoleName};
use crate::tuf::sign::{Signer, sign_file};
use crate::tuf::update::MetadataSource;

/// The keys a new repository is signed with.
pub struct NewRepositoryKeys<'a> {
    /// Signs root; its listed id is the certificate's.
    pub root: &'a dyn Signer,
    /// The root certificate (`ecdsa-x509`, CN = GUN).
    pub root_certificate: PublicKey,
    /// Further root keys and their certificates (a root with several keys), all signing.
    pub more_roots: Vec<(&'a dyn Signer, PublicKey)>,
    /// How many root keys must sign the next root.
    pub root_threshold: u32,
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
    require_registry_repository_via(&Network, settings, repo).await
}

/// [`require_registry_repository`] over any [`Remote`].
pub(crate) async fn require_registry_repository_via(
    remote: &impl Remote,
    settings: &Settings,
    repo: &RepositoryRef,
) -> Result<(), Error> {
    let registry = remote.registry(settings, repo.registry()).await?;
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
/// targets key is made for the repository. Keys are made and their passphrases asked before
/// any network use, but stored only once the server answered that the repository can be
/// created; they are stored (encrypted) before the repository is sent, and removed again when
/// the server refused it, so a failed `init` leaves no key behind. When the answer was lost
/// (the repository may exist now), the keys are kept and a warning names them.
pub async fn init(
    settings: &Settings,
    repo: &RepositoryRef,
    now: DateTime<Utc>,
    shape: RootShape,
    generated: impl FnOnce(&KeyId),
) -> Result<InitReport, Error> {
    init_via(&Network, settings, repo, now, shape, generated).await
}

/// [`init`] over any [`Remote`].
pub(crate) async fn init_via<R: Remote>(
    remote: &R,
    settings: &Settings,
    repo: &RepositoryRef,
    now: DateTime<Utc>,
    shape: RootShape,
    generated: impl FnOnce(&KeyId),
) -> Result<InitReport, Error> {
    let gun = repo.gun();
    let shape = shape.check()?;
    let store = KeyStore::new(&settings.trust_dir);
    let mut passphrases = Passphrases::from_environment();
    let root_role = RoleName::root();
    let (root_key, new_root_pass) = match store.find(&root_role, None)?.first() {
        Some(existing) => (store.load(&existing.key_id, &mut passphrases)?, None),
        None => {
            let key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
            let pass = passphrases.for_new_key(&root_role, "the new root key")?;
            (key, Some(pass))
        }
    };
    let targets_role = RoleName::targets();
    let targets_key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
    let targets_pass =
        passphrases.for_new_key(&targets_role, &format!("the targets key of {gun}"))?;
    let certificate = root_certificate_key(&root_key, &gun, now)?;
    // A root with several keys: the others are always new.
    let mut more_roots = Vec::new();
    // Their passphrase: the new root key's, or asked once when the store's root key is reused.
    let mut extra_pass = None;
    for _ in 1..shape.keys {
        let key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
        let cert = root_certificate_key(&key, &gun, now)?;
        if new_root_pass.is_none() && extra_pass.is_none() {
            extra_pass = Some(passphrases.for_new_key(&root_role, "the new root keys")?);
        }
        more_roots.push((key, cert));
    }

    // The server first: unreachable, or already initialised, and nothing was stored.
    let prepared = prepare(remote, settings, repo).await?;

    let root_id = root_key.key_id().clone();
    let targets_id = targets_key.key_id().clone();
    let mut stored: Vec<KeyId> = Vec::new();
    let not_stored = |e: crate::keys::KeyStoreError| PublishFailure {
        error: e.into(),
        may_have_landed: false,
    };
    let outcome = async {
        if let Some(pass) = &new_root_pass {
            store
                .add(&root_key, &root_role, None, pass)
                .map_err(not_stored)?;
            stored.push(root_id.clone());
        }
        store
            .add(&targets_key, &targets_role, Some(&gun), &targets_pass)
            .map_err(not_stored)?;
        stored.push(targets_id.clone());
        let mut more_signers = Vec::new();
        for (key, cert) in more_roots {
            let pass = new_root_pass
                .as_ref()
                .or(extra_pass.as_ref())
                .expect("asked above when there are more keys");
            store
                .add(&key, &root_role, None, pass)
                .map_err(not_stored)?;
            stored.push(key.key_id().clone());
            more_signers.push((
                RoleSigner {
                    listed: cert.key_id(),
                    key: key.into(),
                },
                cert,
            ));
        }
        let root_signer = RoleSigner {
            listed: certificate.key_id(),
            key: root_key.into(),
        };
        let targets_public = targets_key.public_key().clone();
        let targets_signer = RoleSigner {
            listed: targets_id.clone(),
            key: targets_key.into(),
        };
        publish(
            remote,
            settings,
            repo,
            prepared,
            NewRepositoryKeys {
                root: &root_signer,
                root_certificate: certificate.clone(),
                more_roots: more_signers
                    .iter()
                    .map(|(s, c)| (s as &dyn Signer, c.clone()))
                    .collect(),
                root_threshold: shape.threshold,
                targets: &targets_signer,
                targets_public,
            },
            now,
        )
        .await
    }
    .await;
    match outcome {
        Ok(report) => {
            if new_root_pass.is_some() {
                generated(&root_id);
            }
            Ok(report)
        }
        Err(PublishFailure {
            error,
            may_have_landed: true,
        }) => {
            let kept: Vec<String> = stored.iter().map(ToString::to_string).collect();
            tracing::warn!(
                "kept the new key(s) {}: the server may have received {gun} before the answer was lost; 'manifesto trust inspect {gun}' shows whether it exists",
                kept.join(", ")
            );
            Err(error)
        }
        Err(PublishFailure { error, .. }) => {
            for id in &stored {
                if let Err(discard) = store.discard_new(id) {
                    tracing::warn!(key_id = %id, error = %discard, "could not remove the key made for the failed init");
                }
            }
            Err(error)
        }
    }
}

/// A failed publish of a new repository, and whether the server may have taken it anyway.
pub struct PublishFailure {
    pub error: Error,
    /// The request went out and no answer came back (or the repository exists now): the keys
    /// it was signed with must be kept.
    pub may_have_landed: bool,
}

/// What the server said before a repository is created: it can be, and with which keys.
pub struct Prepared<S> {
    server: S,
    timestamp: PublicKey,
    snapshot: PublicKey,
}

/// Ask the server whether `repo` can be created (a repository that already has trust data is
/// reported, never overwritten) and for its timestamp and snapshot keys.
pub(crate) async fn prepare<R: Remote>(
    remote: &R,
    settings: &Settings,
    repo: &RepositoryRef,
) -> Result<Prepared<R::Source>, Error> {
    let gun = repo.gun();
    let server = remote.source(settings, repo).await?;
    // One byte is enough to know the root exists: any answer but "not found" means it does.
    match server.fetch("root.json", 1).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(Error::AlreadyInitialised {
                gun,
                server: server.location(),
            });
        }
        Err(e)
            if e.source
                .downcast_ref::<NotaryError>()
                .is_some_and(|n| matches!(n, NotaryError::TooLarge { .. })) =>
        {
            return Err(Error::AlreadyInitialised {
                gun,
                server: server.location(),
            });
        }
        Err(e) => return Err(Error::Update(e.into())),
    }
    let timestamp = server.server_key("timestamp").await?;
    let snapshot = server.server_key("snapshot").await?;
    Ok(Prepared {
        server,
        timestamp,
        snapshot,
    })
}

/// Create `repo` on the server with `keys`, as [`prepare`] found it.
pub(crate) async fn publish<R: Remote>(
    remote: &R,
    settings: &Settings,
    repo: &RepositoryRef,
    prepared: Prepared<R::Source>,
    keys: NewRepositoryKeys<'_>,
    now: DateTime<Utc>,
) -> Result<InitReport, PublishFailure> {
    let gun = repo.gun();
    let Prepared {
        server,
        timestamp,
        snapshot,
    } = prepared;
    let refused = |error: Error| PublishFailure {
        error,
        may_have_landed: false,
    };
    let mut root = build::initial_root(
        &keys.root_certificate,
        &keys.targets_public,
        &snapshot,
        &timestamp,
        now,
    );
    if !keys.more_roots.is_empty() {
        let certs: Vec<PublicKey> = std::iter::once(keys.root_certificate.clone())
            .chain(keys.more_roots.iter().map(|(_, c)| c.clone()))
            .collect();
        build::replace_role_keys(&mut root, &RoleName::root(), &certs, keys.root_threshold);
    }
    let targets = build::empty_targets(1, now);
    let (root_file, targets_file) = sign_initial(&gun, &root, &targets, &keys).map_err(refused)?;
    server
        .publish(&[
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
            PublishError::Stale { .. } => refused(Error::CreatedMeanwhile { gun: gun.clone() }),
            // No answer: the server may have stored the repository.
            PublishError::Notary(e) if e.failure() == crate::failure::Failure::Unavailable => {
                PublishFailure {
                    error: PublishError::Notary(e).into(),
                    may_have_landed: true,
                }
            }
            other => refused(other.into()),
        })?;
    // From here the repository exists: whatever fails, its keys stay.
    let landed = |error: Error| PublishFailure {
        error,
        may_have_landed: true,
    };
    // We made this root: it is the anchor of our cache, no trust on first use needed.
    let cache = TrustCache::open(&settings.trust_dir, &gun).map_err(|e| landed(e.into()))?;
    {
        let lock = cache.lock(LOCK_TIMEOUT).map_err(|e| landed(e.into()))?;
        cache
            .write(&lock, "root", &root_file)
            .map_err(|e| landed(e.into()))?;
    }
    let trusted = remote
        .trust(settings, repo, now)
        .await
        .map_err(|e| landed(e.into()))?;
    trusted.persist().map_err(|e| landed(e.into()))?;
    Ok(InitReport {
        gun,
        server: server.location(),
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
    let root_signers: Vec<&dyn Signer> = std::iter::once(keys.root)
        .chain(keys.more_roots.iter().map(|(s, _)| *s))
        .collect();
    let root_file = sign_file(root, &root_signers).map_err(signing(RoleName::root()))?;
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
                reason: "a broken key".into(),
                failure: crate::failure::Failure::Internal,
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
            more_roots: Vec::new(),
            root_threshold: 1,
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
