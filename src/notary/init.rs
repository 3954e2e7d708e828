//! Creating a repository's trust data on the Notary server, as the Go client's
//! `notary init -p` does: root (an x509 certificate over the root key, CN = GUN), an empty
//! targets role, and the timestamp *and snapshot* keys held by the server, so delegates can
//! publish without the snapshot key.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::cache::TrustCache;
use super::error::NotaryError;
use super::http::NotaryHttp;
use super::publish::{PublishError, UpdatePart};
use super::repository::{LOCK_TIMEOUT, TrustedRepository};
use crate::config::Settings;
use crate::error::Error;
use crate::registry::reference::RepositoryRef;
use crate::tuf::build;
use crate::tuf::key::PublicKey;
use crate::tuf::names::RoleName;
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
            return Err(Error::Usage(format!(
                "{gun} already has trust data on {server}; it is left as it is (inspect it with 'manifesto trust inspect {gun}')"
            )));
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
    let root_file = sign_file(&root, &[keys.root])
        .map_err(|e| Error::Usage(format!("cannot sign root: {e}")))?;
    let targets_file = sign_file(&targets, &[keys.targets])
        .map_err(|e| Error::Usage(format!("cannot sign targets: {e}")))?;
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
        PublishError::Stale { .. } => {
            Error::Usage(format!("{gun} was created by someone else meanwhile"))
        }
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
