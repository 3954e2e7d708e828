//! A Notary repository (GUN) brought up to date and verified: the network, the trust cache and
//! the TUF update client joined.
//!
//! Opening one takes the per-GUN cache lock, loads what earlier runs verified, runs the update
//! against the server, and keeps the lock until the caller persists (or drops) the result, so
//! concurrent runs never interleave their cache writes.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::cache::{CacheLock, TrustCache};
use super::error::NotaryError;
use super::http::NotaryHttp;
use crate::config::Settings;
use crate::error::Error;
use crate::registry::reference::RepositoryRef;
use crate::tuf::trusted::VersionFloors;
use crate::tuf::update::{Bootstrap, Cached, Updater};

/// How long to wait for another manifesto working on the same repository.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// A verified, up-to-date view of one repository's trust data.
pub struct TrustedRepository {
    pub updater: Updater<NotaryHttp>,
    cache: TrustCache,
    lock: CacheLock,
}

impl TrustedRepository {
    /// Verify the current trust data of `repo` on the configured Notary server.
    pub async fn open(
        settings: &Settings,
        repo: &RepositoryRef,
        now: DateTime<Utc>,
    ) -> Result<TrustedRepository, Error> {
        let gun = repo.gun();
        let http = NotaryHttp::for_repository(settings, repo).await?;
        let cache = TrustCache::open(&settings.trust_dir, &gun)?;
        let lock = {
            let cache = cache.clone();
            tokio::task::spawn_blocking(move || cache.lock(LOCK_TIMEOUT))
                .await
                .map_err(|_| NotaryError::Cache {
                    path: settings.trust_dir.clone(),
                    reason: "the lock task failed".into(),
                })??
        };
        let cached = load_cached(&cache)?;
        let bootstrap = Bootstrap {
            pinned_certs: settings.pinning.certs_for(&gun),
            allow_tofu: !settings.pinning.disable_tofu,
        };
        tracing::debug!(%gun, cached = cached.files.len(), "updating trust data");
        let updater = Updater::refresh(http, &gun, cached, bootstrap, &settings.limits, now)
            .await
            .map_err(Error::Update)?;
        Ok(TrustedRepository {
            updater,
            cache,
            lock,
        })
    }

    /// Write what this update newly verified into the trust cache. Call only after every check
    /// the command needs has passed.
    pub fn persist(&self) -> Result<(), NotaryError> {
        let (fresh, floors) = self.updater.to_persist();
        for (role, bytes) in fresh {
            self.cache.write(&self.lock, role, bytes)?;
        }
        let floors = serde_json::to_vec(floors).expect("version floors serialise");
        self.cache.write_state(&self.lock, "versions", &floors)
    }
}

/// Everything earlier runs verified: the role files and the version floors.
fn load_cached(cache: &TrustCache) -> Result<Cached, NotaryError> {
    let mut files = BTreeMap::new();
    for role in cache.cached_roles()? {
        if let Some(bytes) = cache.read(&role)? {
            files.insert(role, bytes);
        }
    }
    let floors = match cache.read_state("versions")? {
        Some(bytes) => serde_json::from_slice::<VersionFloors>(&bytes).map_err(|e| NotaryError::Cache {
            path: cache.dir().to_owned(),
            reason: format!("versions.json is corrupt ({e}); remove the repository's trust cache to start over"),
        })?,
        None => VersionFloors::default(),
    };
    Ok(Cached { files, floors })
}
