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
use crate::registry::reference::RepositoryRef;
use crate::tuf::envelope::SignedEnvelope;
use crate::tuf::limits::Limits;
use crate::tuf::names::RoleName;
use crate::tuf::trusted::{TrustedState, VersionFloors};
use crate::tuf::update::{Bootstrap, Cached, LazyFiles, LazyOpen, MetadataSource, Updater};

/// How long to wait for another manifesto working on the same repository.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How far the clock may go back behind the last successful update before nothing is trusted
/// (scenario 13). Notary metadata carries expiry dates but no signing time, so the cache keeps
/// its own last-seen clock (`clock.json`). A clock stepped back by days makes expired metadata
/// look fresh (a freeze attack needs only that); NTP corrections and VM resumes step by seconds
/// or minutes, and an hour is small next to the shortest Notary lifetime (timestamp, 14 days).
pub const CLOCK_STEP_BACK_TOLERANCE: Duration = Duration::from_secs(3600);

/// How stale `clock.json` may grow before a read that changed nothing rewrites it. A read that
/// verified nothing new writes nothing (no fsync on the warm path); the cost is that the recorded
/// clock may lag the last read by up to this much, which widens the step-back window of scenario
/// 13 from [`CLOCK_STEP_BACK_TOLERANCE`] to their sum. A read that persists new metadata always
/// records its clock.
pub const CLOCK_REFRESH: Duration = Duration::from_secs(600);

/// The `clock.json` bookkeeping: the latest `now` of an update this cache persisted.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct LastSeen {
    verified_at: DateTime<Utc>,
}

/// A verified, up-to-date view of one repository's trust data, fetched from `S` (the Notary
/// server by default; an in-memory source in unit tests).
pub struct TrustedRepository<S = NotaryHttp> {
    pub updater: Updater<S>,
    cache: TrustCache,
    lock: CacheLock,
    now: DateTime<Utc>,
    last_seen: Option<DateTime<Utc>>,
    /// `versions.json` as this run found it, so an unchanged one is not rewritten.
    floors_on_disk: Option<Vec<u8>>,
}

impl TrustedRepository {
    /// Verify the current trust data of `repo` on the configured Notary server.
    pub async fn open(
        settings: &Settings,
        repo: &RepositoryRef,
        now: DateTime<Utc>,
    ) -> Result<TrustedRepository, NotaryError> {
        let http = NotaryHttp::for_repository(settings, repo).await?;
        TrustedRepository::open_with(settings, &repo.gun(), http, now).await
    }
}

impl<S: MetadataSource> TrustedRepository<S> {
    /// Verify the current trust data of `gun` as `source` serves it, against the trust cache
    /// under `settings.trust_dir`.
    pub async fn open_with(
        settings: &Settings,
        gun: &str,
        source: S,
        now: DateTime<Utc>,
    ) -> Result<TrustedRepository<S>, NotaryError> {
        let gun = gun.to_owned();
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
        let last_seen = check_clock(&cache, &gun, now)?;
        let floors_on_disk = cache.read_state("versions")?;
        let cached = load_cached(&cache, &gun, &settings.limits)?;
        let bootstrap = Bootstrap {
            pinned_certs: settings.pinning.certs_for(&gun),
            allow_tofu: !settings.pinning.disable_tofu,
        };
        tracing::debug!(%gun, cached = cached.files.len(), "updating trust data");
        let updater =
            Updater::refresh(source, &gun, cached, bootstrap, &settings.limits, now).await?;
        log_trusted(&gun, &updater);
        Ok(TrustedRepository {
            updater,
            cache,
            lock,
            now,
            last_seen,
            floors_on_disk,
        })
    }

    /// Write what this update newly verified into the trust cache. Call only after every check
    /// the command needs has passed.
    ///
    /// Each file is replaced atomically, but a crash (SIGKILL, power loss) can stop between two
    /// files (scenario 34). The order keeps the floors on load never below any cached file's
    /// version: the root first (its own version is its floor), then `versions.json`, then the other
    /// roles, so every other cached file is at most as new as the floors beside it. A crash between
    /// the root and `versions.json` leaves floors older than the root; [`load_cached`] detects that
    /// and keeps only the floors the new root's keys still vouch for.
    ///
    /// A read that verified nothing new writes nothing: `versions.json` only when the floors
    /// moved, `clock.json` only with new metadata or every [`CLOCK_REFRESH`].
    pub fn persist(&self) -> Result<(), NotaryError> {
        let (fresh, floors) = self.updater.to_persist();
        if let Some(root) = fresh.get("root") {
            self.cache.write(&self.lock, "root", root)?;
        }
        let floors = serde_json::to_vec(floors).expect("version floors serialise");
        if self.floors_on_disk.as_deref() != Some(&floors[..]) {
            self.cache.write_state(&self.lock, "versions", &floors)?;
        }
        for (role, bytes) in fresh.iter().filter(|(role, _)| role.as_str() != "root") {
            self.cache.write(&self.lock, role, bytes)?;
        }
        // After the files they describe: a memo of bytes not (yet) cached is never used.
        for (role, memo) in self.updater.memos_to_persist() {
            self.cache.write_memo(&self.lock, role, memo)?;
        }
        let refresh = chrono::Duration::from_std(CLOCK_REFRESH).expect("the refresh fits");
        let record_clock = match self.last_seen {
            None => true,
            Some(last) => self.now > last && (!fresh.is_empty() || self.now - last > refresh),
        };
        if record_clock {
            let seen = LastSeen {
                verified_at: self.now,
            };
            let bytes = serde_json::to_vec(&seen).expect("the clock state serialises");
            self.cache.write_state(&self.lock, "clock", &bytes)?;
        }
        Ok(())
    }
}

/// `-v`: which versions this run trusts, and what the update cost.
fn log_trusted<S: MetadataSource>(gun: &str, updater: &Updater<S>) {
    use crate::tuf::metadata::Metadata;
    let state = updater.state();
    let version = |v: Option<crate::tuf::metadata::Version>| {
        v.map_or_else(|| "-".to_owned(), |v| format!("v{}", v.get()))
    };
    tracing::info!(
        "trusted {gun}: root {}, timestamp {}, snapshot {}, targets {} (Notary requests: {})",
        version(Some(state.root().get().version())),
        version(state.timestamp().map(|t| t.get().version())),
        version(state.snapshot().map(|s| s.get().version())),
        version(
            state
                .targets_role(&RoleName::targets())
                .map(|t| t.get().version())
        ),
        updater.fetches(),
    );
}

/// Refuse a clock stepped back behind the last update this cache persisted (scenario 13), and
/// return that time. Only the cache's own bookkeeping is read: a damaged file is local state.
fn check_clock(
    cache: &TrustCache,
    gun: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, NotaryError> {
    let path = cache.state_path("clock");
    let Some(bytes) = cache.read_state("clock")? else {
        return Ok(None);
    };
    let last = serde_json::from_slice::<LastSeen>(&bytes)
        .map_err(|source| NotaryError::CorruptCacheState {
            path: path.clone(),
            dir: cache.gun_dir().to_owned(),
            source,
        })?
        .verified_at;
    let tolerance =
        chrono::Duration::from_std(CLOCK_STEP_BACK_TOLERANCE).expect("the tolerance fits");
    if now + tolerance < last {
        return Err(NotaryError::ClockBehind {
            gun: gun.to_owned(),
            now,
            last,
            minutes: (last - now).num_minutes(),
            path,
        });
    }
    Ok(Some(last))
}

/// Everything earlier runs verified: the role files and the version floors.
///
/// The floors are `versions.json` raised to the versions of the cached top-level files that
/// still verify with the cached root's keys, so a lost or older `versions.json` cannot lower them
/// (scenario 34). Only a root that cannot even be parsed is local state (exit 8, scenario 28); a
/// root that parses is checked by the update and any failure there is a trust failure. Other
/// damaged role files are simply not matched and get fetched again.
fn load_cached(cache: &TrustCache, gun: &str, limits: &Limits) -> Result<Cached, NotaryError> {
    // The top-level files now; delegations (thousands of bins in a sharded repository) only
    // when the update needs them.
    let mut files = BTreeMap::new();
    for role in ["root", "timestamp", "snapshot", "targets"] {
        if let Some(bytes) = cache.read(role)? {
            files.insert(role.to_owned(), bytes);
        }
    }
    let lazy = cache.clone();
    let more = LazyFiles(std::sync::Arc::new(move |role: &str| {
        lazy.read(role).ok().flatten()
    }));
    let lazy = cache.clone();
    let memos = LazyOpen(std::sync::Arc::new(move |role: &str| {
        lazy.open_memo(role).ok().flatten()
    }));
    let lazy = cache.clone();
    let opener = LazyOpen(std::sync::Arc::new(move |role: &str| {
        lazy.open_role(role).ok().flatten()
    }));
    if let Some(root) = files.get("root") {
        SignedEnvelope::parse(root, root.len()).map_err(|source| {
            NotaryError::CorruptCachedRoot {
                path: cache.dir().join("root.json"),
                dir: cache.gun_dir().to_owned(),
                source,
            }
        })?;
    }
    let mut floors = match cache.read_state("versions")? {
        Some(bytes) => serde_json::from_slice::<VersionFloors>(&bytes).map_err(|source| {
            NotaryError::CorruptCacheState {
                path: cache.state_path("versions"),
                dir: cache.gun_dir().to_owned(),
                source,
            }
        })?,
        None => VersionFloors::default(),
    };
    if let Some(state) = files
        .get("root")
        .and_then(|root| TrustedState::new(gun, root, limits).ok())
    {
        derive_floors(state, &files, &mut floors);
    }
    Ok(Cached {
        files,
        floors,
        more: Some(more),
        memos: None,
        open: Some(opener),
        open_memo: Some(memos),
    })
}

/// The `version` a metadata file claims, read without verifying anything; `None` when the file
/// does not parse that far (it is then verified).
fn claimed_version(bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct File {
        signed: Signed,
    }
    #[derive(serde::Deserialize)]
    struct Signed {
        version: u64,
    }
    serde_json::from_slice::<File>(bytes)
        .ok()
        .map(|f| f.signed.version)
}

/// Raise `floors` to the versions of the cached top-level files the cached root still vouches
/// for. When `versions.json` is older than the cached root (a crash between writing the two),
/// its floors may belong to keys that root replaced (a fast-forward reset, TUF 5.3.11), so a
/// role's floor is kept only if its cached file still verifies with the new keys.
fn derive_floors(
    mut state: TrustedState,
    files: &BTreeMap<String, Vec<u8>>,
    floors: &mut VersionFloors,
) {
    let predates_root = floors.root < state.root().version.get();
    let mut verifies = |role: RoleName, floor: u64| {
        files.get(role.as_str()).is_some_and(|bytes| {
            // A floor raised to a version it already has is unchanged: when the floors are the
            // root's own and the file claims no more, there is nothing to verify (every warm
            // read; the update verifies the same file anyway).
            if !predates_root && claimed_version(bytes).is_some_and(|v| v <= floor) {
                return true;
            }
            state.remember_cached(&role, bytes)
        })
    };
    let targets_floor = floors.targets.get("targets").copied().unwrap_or(0);
    let timestamp = verifies(RoleName::timestamp(), floors.timestamp);
    let snapshot = verifies(RoleName::snapshot(), floors.snapshot);
    let targets = verifies(RoleName::targets(), targets_floor);
    if predates_root {
        if !timestamp {
            floors.timestamp = 0;
        }
        if !snapshot {
            floors.snapshot = 0;
        }
        if !targets {
            floors.targets.clear();
        }
    }
    let derived = state.floors();
    floors.root = floors.root.max(derived.root);
    floors.timestamp = floors.timestamp.max(derived.timestamp);
    floors.snapshot = floors.snapshot.max(derived.snapshot);
    for (role, v) in &derived.targets {
        let e = floors.targets.entry(role.clone()).or_default();
        *e = (*e).max(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, TrustCache, CacheLock) {
        let dir = tempfile::tempdir().unwrap();
        let cache = TrustCache::open(dir.path(), "127.0.0.1:5000/team/app").unwrap();
        let lock = cache.lock(Duration::from_secs(1)).unwrap();
        (dir, cache, lock)
    }

    #[test]
    fn an_unparseable_cached_root_is_local_state_naming_the_file_and_the_gun_dir() {
        let (_dir, cache, lock) = cache();
        cache.write(&lock, "root", b"{\"signed\":{\"_ty").unwrap();
        let err = load_cached(&cache, "127.0.0.1:5000/team/app", &Limits::default()).unwrap_err();
        let NotaryError::CorruptCachedRoot { path, dir, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(path, &cache.dir().join("root.json"));
        assert_eq!(dir, cache.gun_dir());
        assert_eq!(err.failure().exit_code(), 8);
    }

    #[test]
    fn damaged_version_floors_are_local_state() {
        let (_dir, cache, lock) = cache();
        cache.write_state(&lock, "versions", b"{\"root\":").unwrap();
        let err = load_cached(&cache, "127.0.0.1:5000/team/app", &Limits::default()).unwrap_err();
        assert!(
            matches!(err, NotaryError::CorruptCacheState { .. }),
            "{err:?}"
        );
        assert_eq!(err.failure().exit_code(), 8);
    }

    #[test]
    fn cached_files_raise_lower_floors_only_with_a_verified_claim() {
        use crate::tuf::test_support::{self as ts, GUN};
        let repo = ts::Repo::new();
        let dir = tempfile::tempdir().unwrap();
        let cache = TrustCache::open(dir.path(), GUN).unwrap();
        let lock = cache.lock(Duration::from_secs(1)).unwrap();
        cache.write(&lock, "root", &repo.root).unwrap();
        cache.write(&lock, "snapshot", &repo.snapshot).unwrap();
        cache.write(&lock, "targets", repo.file("targets")).unwrap();
        // A timestamp claiming version 9 that nobody signed: its claim is above the floor, so
        // it is verified, and it does not verify.
        let forged = br#"{"signed":{"_type":"Timestamp","version":9},"signatures":[]}"#;
        cache.write(&lock, "timestamp", forged).unwrap();
        let floors = VersionFloors {
            root: 1,
            timestamp: 1,
            ..VersionFloors::default()
        };
        cache
            .write_state(&lock, "versions", &serde_json::to_vec(&floors).unwrap())
            .unwrap();
        let loaded = load_cached(&cache, GUN, &Limits::default()).unwrap();
        assert_eq!(
            loaded.floors.timestamp, 1,
            "an unverified claim raises nothing"
        );
        // The snapshot and targets (version 1, above their floors of 0) verify and raise them.
        assert_eq!(loaded.floors.snapshot, 1);
        assert_eq!(loaded.floors.targets.get("targets"), Some(&1));
        assert_eq!(claimed_version(forged), Some(9));
        assert_eq!(claimed_version(b"{\"signed\":{}}"), None);
    }

    #[test]
    fn a_clock_more_than_the_tolerance_behind_the_last_update_is_stale_exit_4() {
        let (_dir, cache, lock) = cache();
        let last = Utc::now();
        let seen = serde_json::to_vec(&LastSeen { verified_at: last }).unwrap();
        cache.write_state(&lock, "clock", &seen).unwrap();
        let gun = "127.0.0.1:5000/team/app";
        let err = check_clock(&cache, gun, last - chrono::Duration::hours(2)).unwrap_err();
        assert!(
            matches!(err, NotaryError::ClockBehind { minutes: 120, .. }),
            "{err:?}"
        );
        assert_eq!(err.failure().exit_code(), 4);
        let within = last - chrono::Duration::minutes(59);
        assert_eq!(check_clock(&cache, gun, within).unwrap(), Some(last));
        assert_eq!(
            check_clock(&cache, gun, last + chrono::Duration::days(1)).unwrap(),
            Some(last)
        );
    }

    mod warm_reads {
        //! What a read that found nothing new writes (nothing), over an in-memory server.
        use super::*;
        use crate::tuf::memory_source::MemorySource;
        use crate::tuf::test_support::{GUN, Repo};

        fn files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
            let mut out = BTreeMap::new();
            let mut dirs = vec![dir.to_owned()];
            while let Some(d) = dirs.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        dirs.push(p);
                    } else {
                        out.insert(p.display().to_string(), std::fs::read(&p).unwrap());
                    }
                }
            }
            out
        }

        async fn read_at(settings: &Settings, source: &MemorySource, now: DateTime<Utc>) {
            let trusted = TrustedRepository::open_with(settings, GUN, source, now)
                .await
                .unwrap();
            trusted.persist().unwrap();
        }

        fn modified(dir: &std::path::Path, name: &str) -> std::time::SystemTime {
            std::fs::metadata(dir.join("tuf").join(GUN).join(name))
                .unwrap()
                .modified()
                .unwrap()
        }

        #[tokio::test]
        async fn an_unchanged_repository_read_again_rewrites_no_file() {
            let dir = tempfile::tempdir().unwrap();
            let settings = Settings::for_tests(dir.path());
            let source = MemorySource::serving(&Repo::new());
            let t0 = crate::tuf::test_support::now();
            read_at(&settings, &source, t0).await;
            let before = files(dir.path());
            let versions = modified(dir.path(), "versions.json");
            let clock = modified(dir.path(), "clock.json");
            std::thread::sleep(Duration::from_millis(20));
            read_at(&settings, &source, t0 + chrono::Duration::minutes(5)).await;
            assert_eq!(files(dir.path()), before);
            assert_eq!(modified(dir.path(), "versions.json"), versions);
            assert_eq!(modified(dir.path(), "clock.json"), clock);
        }

        #[tokio::test]
        async fn the_clock_is_recorded_again_once_it_is_older_than_the_refresh_interval() {
            let dir = tempfile::tempdir().unwrap();
            let settings = Settings::for_tests(dir.path());
            let source = MemorySource::serving(&Repo::new());
            let t0 = crate::tuf::test_support::now();
            read_at(&settings, &source, t0).await;
            let later = t0
                + chrono::Duration::from_std(CLOCK_REFRESH).unwrap()
                + chrono::Duration::minutes(1);
            read_at(&settings, &source, later).await;
            let cache = TrustCache::open(dir.path(), GUN).unwrap();
            let bytes = cache.read_state("clock").unwrap().unwrap();
            let seen: LastSeen = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(seen.verified_at, later);
        }

        #[tokio::test]
        async fn a_read_that_verifies_a_new_timestamp_records_it_and_the_clock() {
            let dir = tempfile::tempdir().unwrap();
            let settings = Settings::for_tests(dir.path());
            let mut repo = Repo::new();
            let source = MemorySource::serving(&repo);
            let t0 = crate::tuf::test_support::now();
            read_at(&settings, &source, t0).await;
            repo.publish(2, 2);
            source.serve_repo(&repo);
            let t1 = t0 + chrono::Duration::minutes(1);
            read_at(&settings, &source, t1).await;
            let cache = TrustCache::open(dir.path(), GUN).unwrap();
            assert_eq!(cache.read("timestamp").unwrap().unwrap(), repo.timestamp);
            let seen: LastSeen =
                serde_json::from_slice(&cache.read_state("clock").unwrap().unwrap()).unwrap();
            assert_eq!(seen.verified_at, t1);
            let floors: VersionFloors =
                serde_json::from_slice(&cache.read_state("versions").unwrap().unwrap()).unwrap();
            assert_eq!(floors.timestamp, 2);
        }
    }
}
