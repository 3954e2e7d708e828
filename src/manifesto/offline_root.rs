//! Signing a new root with keys held in different trust dirs (offline root keys): the root is
//! written to a file instead of published (`key rotate REPO root --offline FILE`), each holder
//! adds the signatures of the root keys it holds (`key sign-root FILE`), and once the file
//! carries a threshold of the old root's keys and of its own, `key publish-root REPO FILE`
//! checks it exactly as every client will (the next version, both thresholds) and publishes it.

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;

use super::remote::{Network, Owner, Remote, trust_now};
use super::rotate::Lifetimes;
use crate::config::Settings;
use crate::error::Error;
use crate::keys::certificate::root_certificate_key;
use crate::keys::passphrase::Passphrases;
use crate::keys::signer::{KeyAlgorithm, SigningKey};
use crate::keys::signing::RoleSigner;
use crate::keys::store::KeyStore;
use crate::notary::publish::{UpdatePart, UpdateSink};
use crate::registry::reference::RepositoryRef;
use crate::tuf::build::{self, RootShape};
use crate::tuf::envelope::{EnvelopeError, SignedEnvelope};
use crate::tuf::metadata::{Metadata, Root};
use crate::tuf::names::{KeyId, RoleName};
use crate::tuf::sign::{Signer, sign_file};
use crate::tuf::trusted::TrustError;
use crate::tuf::verify::VerifyError;
use crate::tuf::write;

/// The largest root file read here (the same order as the trust cap on roots).
const ROOT_FILE_MAX: usize = 512 * 1024;

/// Why a root file could not be written, signed or published.
#[derive(Debug, thiserror::Error)]
pub enum RootFileError {
    #[error("cannot read the root file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the root file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a root file")]
    NotARoot {
        path: PathBuf,
        #[source]
        source: TrustError,
    },
    #[error(
        "none of the root keys {path} lists is in {dir} (or each has signed it already); sign it where the other root keys are"
    )]
    NoKeyHere { path: PathBuf, dir: PathBuf },
    #[error(
        "{path} is not the next root of {gun} yet; it needs a threshold of the current root keys and of its own ('manifesto key sign-root {path}' where the other keys are)"
    )]
    NotReady {
        path: PathBuf,
        gun: String,
        #[source]
        source: TrustError,
    },
}

impl RootFileError {
    pub fn failure(&self) -> crate::failure::Failure {
        use crate::failure::Failure;
        match self {
            RootFileError::Read { .. } | RootFileError::NotARoot { .. } => Failure::Usage,
            RootFileError::Write { .. } | RootFileError::NoKeyHere { .. } => Failure::LocalState,
            RootFileError::NotReady { source, .. } => source.failure(),
        }
    }
}

/// A root file and who has signed it.
#[derive(Debug, Serialize)]
pub struct RootFileReport {
    pub file: PathBuf,
    pub version: u64,
    /// How many of its own root keys must sign it (the previous root's threshold applies too).
    pub threshold: u32,
    /// Key ids whose signatures the file carries.
    pub signed_by: Vec<KeyId>,
    /// The signatures this run added.
    pub added: Vec<KeyId>,
    /// Whether it was published.
    pub published: bool,
}

fn report(file: &Path, env: &SignedEnvelope, added: Vec<KeyId>, published: bool) -> RootFileReport {
    let root = Root::from_signed(&env.signed).ok();
    RootFileReport {
        file: file.to_path_buf(),
        version: root.as_ref().map_or(0, |r| r.version.get()),
        threshold: root
            .as_ref()
            .and_then(|r| r.role(&RoleName::root()).map(|k| k.threshold))
            .unwrap_or(1),
        signed_by: env.signatures.iter().map(|s| s.keyid.clone()).collect(),
        added,
        published,
    }
}

fn read_root_file(path: &Path) -> Result<(Vec<u8>, SignedEnvelope, Root), RootFileError> {
    let bytes = std::fs::read(path).map_err(|source| RootFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let not_a_root = |source: TrustError| RootFileError::NotARoot {
        path: path.to_path_buf(),
        source,
    };
    let env = SignedEnvelope::parse(&bytes, ROOT_FILE_MAX).map_err(|source: EnvelopeError| {
        not_a_root(TrustError::Envelope {
            role: RoleName::root(),
            source,
        })
    })?;
    let root = Root::from_signed(&env.signed).map_err(|source| {
        not_a_root(TrustError::Verify(VerifyError::Metadata {
            role: RoleName::root(),
            source,
        }))
    })?;
    Ok((bytes, env, root))
}

fn write_root_file(path: &Path, bytes: &[u8]) -> Result<(), RootFileError> {
    crate::fs::write_atomic(path, bytes, 0o644).map_err(|source| RootFileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Signers for every root certificate `keys` lists whose private key is in the store and whose
/// id is not among `done`: the current root's keys and the new ones alike (Notary keeps old
/// root certificates in `keys`).
fn held_root_signers(
    root: &Root,
    store: &KeyStore,
    passphrases: &mut Passphrases,
    done: &[KeyId],
) -> Result<Vec<RoleSigner>, Error> {
    let mut signers = Vec::new();
    for (id, public) in &root.keys {
        if done.contains(id) || !matches!(public.certificate(), Ok(Some(_))) {
            continue;
        }
        let Ok(bare) = public.public_key_id() else {
            continue;
        };
        if store.contains(&bare) {
            signers.push(RoleSigner {
                key: store.load_for(public, passphrases)?.into(),
                listed: id.clone(),
            });
        }
    }
    Ok(signers)
}

/// `key rotate REPO root --offline FILE`: the next root with `shape.keys` new root keys (made
/// and stored here), signed by them and by the current root keys held here, written to `out`.
pub async fn rotate_root_offline(
    settings: &Settings,
    repo: &RepositoryRef,
    lifetimes: Lifetimes,
    shape: RootShape,
    store: &KeyStore,
    passphrases: &mut Passphrases,
    out: &Path,
) -> Result<RootFileReport, Error> {
    let mut owner = Owner::on_network(settings, passphrases);
    rotate_root_offline_via(&mut owner, repo, lifetimes, shape, store, out).await
}

/// [`rotate_root_offline`] as `owner`.
pub(crate) async fn rotate_root_offline_via<R: Remote>(
    owner: &mut Owner<'_, R>,
    repo: &RepositoryRef,
    lifetimes: Lifetimes,
    shape: RootShape,
    store: &KeyStore,
    out: &Path,
) -> Result<RootFileReport, Error> {
    let passphrases = &mut *owner.passphrases;
    let shape = shape.check()?;
    let gun = repo.gun();
    let trusted = trust_now(owner.remote, owner.settings, repo).await?;
    let current = trusted.updater.state().root().get().clone();
    trusted.persist()?;
    drop(trusted);
    let now = Utc::now();
    let expires = lifetimes.root_expiry_for(now, &current.expires)?;
    let old = held_root_signers(&current, store, passphrases, &[])?;
    let pass = passphrases.for_new_key(&RoleName::root(), "the new root key")?;
    let mut new = Vec::new();
    let mut certificates = Vec::new();
    for _ in 0..shape.keys {
        let key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
        let certificate = root_certificate_key(&key, &gun, now)?;
        store.add(&key, &RoleName::root(), None, &pass)?;
        new.push(RoleSigner {
            listed: certificate.key_id(),
            key: key.into(),
        });
        certificates.push(certificate);
    }
    let next = build::next_root(&current, expires, |r| {
        build::replace_role_keys(r, &RoleName::root(), &certificates, shape.threshold);
    })?;
    let signers: Vec<&dyn Signer> = old.iter().chain(&new).map(|s| s as &dyn Signer).collect();
    let bytes = sign_file(&next, &signers)?;
    write_root_file(out, &bytes)?;
    let (_, env, _) = read_root_file(out)?;
    let added = env.signatures.iter().map(|s| s.keyid.clone()).collect();
    Ok(report(out, &env, added, false))
}

/// `key sign-root FILE`: adds the signature of every root key the file lists (its own and the
/// previous root's certificates) that this store holds and that has not signed yet.
pub fn sign_root_file(
    store: &KeyStore,
    passphrases: &mut Passphrases,
    path: &Path,
) -> Result<RootFileReport, Error> {
    let (_, mut env, root) = read_root_file(path)?;
    let done: Vec<KeyId> = env.signatures.iter().map(|s| s.keyid.clone()).collect();
    let signers = held_root_signers(&root, store, passphrases, &done)?;
    if signers.is_empty() {
        return Err(RootFileError::NoKeyHere {
            path: path.to_path_buf(),
            dir: store.private_dir(),
        }
        .into());
    }
    let message = write::signing_bytes(&env.signed).map_err(crate::tuf::sign::SignError::from)?;
    let mut added = Vec::new();
    for s in &signers {
        let signature = s.key.signature(s.listed.clone(), &message)?;
        added.push(signature.keyid.clone());
        env.signatures.push(signature);
    }
    let bytes = write::file_bytes(&env.signed, &env.signatures)
        .map_err(crate::tuf::sign::SignError::from)?;
    write_root_file(path, &bytes)?;
    Ok(report(path, &env, added, false))
}

/// `key publish-root REPO FILE`: the file must verify as the next root of `repo` (version + 1,
/// a threshold of the current root keys and of its own), then it is published and the trust
/// cache moves to it.
pub async fn publish_root_file(
    settings: &Settings,
    repo: &RepositoryRef,
    path: &Path,
) -> Result<RootFileReport, Error> {
    publish_root_file_via(&Network, settings, repo, path).await
}

/// [`publish_root_file`] over any [`Remote`].
pub(crate) async fn publish_root_file_via(
    remote: &impl Remote,
    settings: &Settings,
    repo: &RepositoryRef,
    path: &Path,
) -> Result<RootFileReport, Error> {
    let (bytes, env, _) = read_root_file(path)?;
    let trusted = trust_now(remote, settings, repo).await?;
    let mut state = trusted.updater.state().clone();
    trusted.persist()?;
    drop(trusted);
    state
        .update_root(&bytes)
        .map_err(|source| RootFileError::NotReady {
            path: path.to_path_buf(),
            gun: repo.gun(),
            source,
        })?;
    let server = remote.source(settings, repo).await?;
    server
        .publish(&[UpdatePart {
            role: RoleName::root(),
            bytes,
        }])
        .await?;
    let trusted = trust_now(remote, settings, repo).await?;
    trusted.persist()?;
    Ok(report(path, &env, Vec::new(), true))
}
