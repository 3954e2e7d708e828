//! The update client: runs the trusted state machine over bytes from a [`MetadataSource`].
//!
//! It decides *what* to fetch (timestamp always; snapshot, targets and delegations by checksum,
//! and only when the cached copy no longer matches; roots by version when the snapshot names
//! another root) and leaves *how* to the source, so every flow runs in unit tests without a
//! network. Newly verified files are collected for the caller to persist after the whole update
//! succeeded: a refused update leaves the trust cache as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};

use super::limits::Limits;
use super::metadata::FileMeta;
use super::names::RoleName;
use super::remembered::SharedFile;
use super::trusted::{
    Lookup, RoleLoad, SkipReason, SkippedRole, TrustError, TrustedState, TrustedTarget,
    VersionFloors,
};
use crate::failure::Failure;

/// How many times one update may restart after following a root rotation.
const MAX_RESTARTS: u32 = 3;

/// A transport failure, classified by the transport.
#[derive(Debug, thiserror::Error)]
#[error("cannot fetch {file}")]
pub struct TransportError {
    pub file: String,
    pub failure: Failure,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Where metadata comes from: the Notary server in production, a map in tests.
pub trait MetadataSource {
    /// The bytes of `file` (`timestamp.json`, `snapshot.<sha256>.json`, `3.root.json`,
    /// `targets/qa.<sha256>.json`), at most `max_len` of them; `Ok(None)` when it does not exist.
    fn fetch(
        &self,
        file: &str,
        max_len: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, TransportError>> + Send;

    /// Called when an update starts, so a source that bounds one whole update in time (the
    /// Notary transport, `Limits::update_deadline`) can start its clock.
    fn begin_update(&self) {}

    /// Where the metadata comes from, for display (the Notary server's URL).
    fn location(&self) -> String {
        String::new()
    }
}

/// Why an update failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "the Notary repository {gun} does not exist (no {file} on the server): initialise it with 'manifesto init'"
    )]
    NotInitialised { gun: String, file: String },
    #[error("the server lost {file}, which the signed metadata lists")]
    Missing { file: String },
    #[error(
        "no trusted root for {gun}: trust on first use is disabled; pin its root certificate in trust_pinning.certs of the configuration"
    )]
    TofuRefused { gun: String },
    #[error("the root of {gun} is not signed by a pinned certificate (pinned: {pinned})")]
    PinMismatch { gun: String, pinned: String },
    #[error("the snapshot of {gun} names a root the server does not serve")]
    RootUnreachable { gun: String },
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl UpdateError {
    pub fn failure(&self) -> Failure {
        match self {
            UpdateError::NotInitialised { .. } => Failure::NotFound,
            UpdateError::Missing { .. } => Failure::Unavailable,
            UpdateError::TofuRefused { .. } => Failure::Usage,
            UpdateError::PinMismatch { .. } | UpdateError::RootUnreachable { .. } => {
                Failure::Untrusted
            }
            UpdateError::Trust(e) => e.failure(),
            UpdateError::Transport(e) => e.failure,
        }
    }
}

/// Warns about a stale role once per process: one command may open a repository several times
/// (a put verifies before uploading, then again in each publish attempt).
fn warn_once(gun: &str, s: &SkippedRole) {
    static WARNED: std::sync::Mutex<std::collections::BTreeSet<(String, String)>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let first = WARNED
        .lock()
        .map(|mut w| w.insert((gun.to_owned(), s.role.to_string())))
        .unwrap_or(true);
    if first {
        tracing::warn!(
            "{}: its targets are treated as absent: {}; {}",
            s.role,
            s.reason,
            next_step(s)
        );
    }
}

/// What to do about a skipped role, for the warning and for `trust inspect`.
pub fn next_step(s: &SkippedRole) -> String {
    let name = s
        .role
        .as_str()
        .strip_prefix("targets/")
        .unwrap_or(s.role.as_str());
    match s.reason {
        SkipReason::RetiredKeys { .. } => format!(
            "a current key of the delegation re-signs it with the next 'put --role {name}' (what only the retired keys signed is dropped)"
        ),
        SkipReason::Expired { .. } => {
            format!("its signers renew it with the next 'put --role {name}' (its entries are kept)")
        }
        SkipReason::NotDelegated => {
            format!("'delegate add … {name} --key …' delegates it again")
        }
    }
}

/// What earlier runs trusted, as the caller's cache holds it.
#[derive(Debug, Clone, Default)]
pub struct Cached {
    /// Verified files by role name (`root`, `timestamp`, `snapshot`, `targets`, `targets/qa`).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Highest versions ever trusted.
    pub floors: VersionFloors,
    /// Files not in `files`, read only when the update needs that role: a sharded repository's
    /// cache holds thousands of bins, and a read uses a handful.
    pub more: Option<LazyFiles>,
    /// Memos of earlier verifications by role (see [`super::remembered`]), read when the role
    /// is needed.
    pub memos: Option<LazyFiles>,
    /// Opens a cached role file to be read in pieces, for a role accepted on its memo; without
    /// it such a role is read whole through `more`.
    pub open: Option<LazyOpen>,
    /// Opens the memo of a role to be read in pieces; without it the memo comes whole from
    /// `memos`.
    pub open_memo: Option<LazyOpen>,
}

/// Opens one cached role file by name (`None` when the cache has none).
pub type OpenCachedFile = dyn Fn(&str) -> Option<SharedFile> + Send + Sync;

/// An opener of cached role files by name.
#[derive(Clone)]
pub struct LazyOpen(pub std::sync::Arc<OpenCachedFile>);

impl std::fmt::Debug for LazyOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyOpen")
    }
}

/// Reads one cached role file by name (`None` when the cache has none).
pub type ReadCachedFile = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

/// A reader of cached role files by name (`None` when the cache has none).
#[derive(Clone)]
pub struct LazyFiles(pub std::sync::Arc<ReadCachedFile>);

impl std::fmt::Debug for LazyFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyFiles")
    }
}

/// How the first root is trusted when nothing is cached.
#[derive(Debug, Clone, Copy)]
pub struct Bootstrap<'a> {
    /// Root certificate key ids pinned for this GUN: the root role must list one of them.
    pub pinned_certs: Option<&'a [String]>,
    /// Trust on first use is allowed when nothing is pinned and nothing is cached.
    pub allow_tofu: bool,
}

/// An update in progress or done: the trusted state plus what is new since the cache.
pub struct Updater<S> {
    source: S,
    state: TrustedState,
    cached: Cached,
    now: DateTime<Utc>,
    /// Newly verified file bytes by role, to persist once the caller is satisfied.
    fresh: BTreeMap<String, Vec<u8>>,
    /// Memos of the delegations verified in full by this update, to persist with them.
    memos: BTreeMap<String, Vec<u8>>,
    /// Roles whose files this update accepted (what a verdict relies on, besides the root).
    used: BTreeSet<String>,
    /// Roles whose memo is not to be used again in this update: one was, and the cached file
    /// no longer held what it verified.
    unremembered: BTreeSet<RoleName>,
    fetches: u32,
}

/// Whether cached `bytes` are the file `expected` lists: length, then sha256 (the only hash
/// compared here, so the only one computed; the full check runs when the file is verified).
fn matches(expected: &FileMeta, bytes: &[u8]) -> bool {
    let Some(want) = expected.hashes.sha256() else {
        return false;
    };
    bytes.len() as u64 == expected.length
        && ring::digest::digest(&ring::digest::SHA256, bytes).as_ref() == want
}

impl<S: MetadataSource> Updater<S> {
    /// Establish the root and bring timestamp, snapshot and top-level targets up to date.
    /// Every fetch is bounded by `limits`: at most what the parent claims, and a claim above
    /// the role's cap is refused before anything is downloaded.
    pub async fn refresh(
        source: S,
        gun: &str,
        cached: Cached,
        bootstrap: Bootstrap<'_>,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<Updater<S>, UpdateError> {
        // The transport's per-update deadline starts here, before the first request.
        source.begin_update();
        let mut fetches = 0;
        let mut fresh = BTreeMap::new();
        let state = match cached.files.get("root") {
            Some(root) => TrustedState::new(gun, root, limits)?.with_floors(&cached.floors),
            None => {
                if bootstrap.pinned_certs.is_none() && !bootstrap.allow_tofu {
                    return Err(UpdateError::TofuRefused { gun: gun.into() });
                }
                fetches += 1;
                let root = source
                    .fetch("root.json", limits.root_max_bytes)
                    .await?
                    .ok_or_else(|| UpdateError::NotInitialised {
                        gun: gun.into(),
                        file: "root.json".into(),
                    })?;
                let state = TrustedState::new(gun, &root, limits)?.with_floors(&cached.floors);
                fresh.insert("root".to_string(), root);
                state
            }
        };
        let mut updater = Updater {
            source,
            state,
            cached,
            now,
            fresh,
            memos: BTreeMap::new(),
            used: BTreeSet::new(),
            unremembered: BTreeSet::new(),
            fetches,
        };
        updater.check_pins(gun, bootstrap.pinned_certs)?;
        let mut restarts = 0;
        loop {
            let root_before = updater.state.root().version.get();
            match updater.update_top_level().await {
                Ok(()) if !updater.state.snapshot_lists_other_root() => break,
                // The snapshot names another root: follow the chain, then start again.
                Ok(()) => updater.walk_roots().await?,
                // Metadata signed by keys the cached root does not know is what a key rotation
                // looks like from an old root: look for newer roots once, then retry. If there
                // are none, the failure stands (NCC 2015: every verification error takes the
                // same "update root, retry" path, so a rotation can repair a locked-out client).
                Err(UpdateError::Trust(e)) if restarts == 0 => {
                    updater.walk_roots().await?;
                    if updater.state.root().version.get() == root_before {
                        return Err(UpdateError::Trust(e));
                    }
                }
                Err(e) => return Err(e),
            }
            updater.check_pins(gun, bootstrap.pinned_certs)?;
            restarts += 1;
            if restarts > MAX_RESTARTS {
                return Err(UpdateError::RootUnreachable { gun: gun.into() });
            }
        }
        Ok(updater)
    }

    fn check_pins(&self, gun: &str, pinned: Option<&[String]>) -> Result<(), UpdateError> {
        let Some(pinned) = pinned else { return Ok(()) };
        let root_keys = self.state.root().role(&RoleName::root());
        let listed = root_keys.is_some_and(|r| {
            r.keyids
                .iter()
                .any(|id| pinned.iter().any(|p| p == id.as_str()))
        });
        if listed {
            Ok(())
        } else {
            Err(UpdateError::PinMismatch {
                gun: gun.into(),
                pinned: pinned.join(", "),
            })
        }
    }

    /// Follow root rotations: fetch `N+1.root.json` until the server has no newer root, each
    /// version signed by the previous root's keys and threshold and by its own.
    async fn walk_roots(&mut self) -> Result<(), UpdateError> {
        loop {
            let next = self.state.root().version.get() + 1;
            let file = format!("{next}.root.json");
            self.fetches += 1;
            let max_len = self.state.limits().root_max_bytes;
            let Some(bytes) = self.source.fetch(&file, max_len).await? else {
                return Ok(());
            };
            self.state.update_root(&bytes)?;
            self.fresh.insert("root".into(), bytes);
        }
    }

    async fn update_top_level(&mut self) -> Result<(), UpdateError> {
        self.fetches += 1;
        let max_len = self.state.limits().timestamp_max_bytes;
        let ts = self
            .source
            .fetch("timestamp.json", max_len)
            .await?
            .ok_or_else(|| UpdateError::NotInitialised {
                gun: self.state.gun().into(),
                file: "timestamp.json".into(),
            })?;
        self.state.update_timestamp(&ts, self.now)?;
        self.used.insert("timestamp".into());
        if self.cached.files.get("timestamp") != Some(&ts) {
            self.fresh.insert("timestamp".into(), ts);
        }
        let expected = self
            .state
            .expected_snapshot()
            .cloned()
            .expect("a verified timestamp lists the snapshot");
        let snapshot = self.bytes_for(&RoleName::snapshot(), &expected).await?;
        self.state.update_snapshot(&snapshot, self.now)?;
        self.keep(&RoleName::snapshot(), snapshot);
        self.load_role(&RoleName::targets()).await
    }

    /// The bytes of `role` matching `expected`: the cached copy when it still matches, else
    /// fetched by checksum (which also defeats mix-and-match from a caching proxy).
    async fn bytes_for(
        &mut self,
        role: &RoleName,
        expected: &FileMeta,
    ) -> Result<Vec<u8>, UpdateError> {
        // The claim is checked against the cap first, even when a cached copy matches it.
        let max_len = self.state.max_fetch_len(role, expected)?;
        if !self.cached.files.contains_key(role.as_str())
            && let Some(bytes) = self.cached.more.as_ref().and_then(|m| (m.0)(role.as_str()))
        {
            self.cached.files.insert(role.to_string(), bytes);
        }
        // A file verified earlier in this update (before a restart) or in an earlier run is
        // reused when it still matches; it is verified again against the current root anyway.
        if let Some(known) = [&self.fresh, &self.cached.files]
            .into_iter()
            .filter_map(|files| files.get(role.as_str()))
            .find(|b| matches(expected, b))
        {
            return Ok(known.clone());
        }
        let sha = expected.sha256_hex().ok_or_else(|| UpdateError::Missing {
            file: format!("{role} (no sha256 listed)"),
        })?;
        let file = format!("{role}.{sha}.json");
        self.fetches += 1;
        self.source
            .fetch(&file, max_len)
            .await?
            .ok_or(UpdateError::Missing { file })
    }

    fn keep(&mut self, role: &RoleName, bytes: Vec<u8>) {
        self.used.insert(role.to_string());
        if self.cached.files.get(role.as_str()) != Some(&bytes) {
            self.fresh.insert(role.to_string(), bytes);
        }
    }

    /// Verify a targets role (top-level or delegation) against the trusted snapshot.
    async fn load_role(&mut self, role: &RoleName) -> Result<(), UpdateError> {
        if self.state.skipped(role).is_some() {
            return Ok(()); // already found stale in this update
        }
        let expected = self
            .state
            .expected_file(role)
            .cloned()
            .ok_or(TrustError::NotInSnapshot { role: role.clone() })?;
        if self.recall(role)? {
            return Ok(());
        }
        let bytes = self.bytes_for(role, &expected).await?;
        match self.state.load_or_skip_role(role, &bytes, self.now)? {
            RoleLoad::Loaded => {
                if let Some(memo) = self.state.memo_of(role, &bytes) {
                    self.memos.insert(role.to_string(), memo);
                }
                self.keep(role, bytes);
            }
            // Not persisted: the stale file is checked again on the next run, so a re-signed
            // file or restored key is picked up, and the cache holds only what verified.
            RoleLoad::Skipped(s) => warn_once(self.state.gun(), &s),
        }
        Ok(())
    }

    /// Loads the delegation `role` from its cached file on the strength of its memo, if both are
    /// cached and the memo still settles it (see [`TrustedState::recall_role`]). The file is
    /// opened, not read: the trusted state reads the pieces its lookups need.
    ///
    /// A role asked for again while it is loaded on its memo is one whose whole file did not
    /// hold what was verified (`targets_role` then reports it not loaded): it is loaded afresh.
    fn recall(&mut self, role: &RoleName) -> Result<bool, UpdateError> {
        if !role.is_delegation() || self.fresh.contains_key(role.as_str()) {
            return Ok(false);
        }
        if self.state.is_remembered(role) {
            self.state.forget(role);
            self.unremembered.insert(role.clone());
        }
        if self.unremembered.contains(role) {
            return Ok(false);
        }
        let memo: Option<SharedFile> = match &self.cached.open_memo {
            Some(open) => (open.0)(role.as_str()),
            None => self
                .cached
                .memos
                .as_ref()
                .and_then(|m| (m.0)(role.as_str()))
                .map(|bytes| std::sync::Arc::new(bytes) as SharedFile),
        };
        let Some(memo) = memo else {
            return Ok(false);
        };
        let file: SharedFile = if let Some(bytes) = self.cached.files.get(role.as_str()) {
            std::sync::Arc::new(bytes.clone())
        } else if let Some(file) = self.cached.open.as_ref().and_then(|o| (o.0)(role.as_str())) {
            file
        } else {
            match self.cached.more.as_ref().and_then(|m| (m.0)(role.as_str())) {
                Some(bytes) => std::sync::Arc::new(bytes),
                None => return Ok(false),
            }
        };
        if self.state.recall_role(role, file, memo, self.now)? {
            self.used.insert(role.to_string());
            return Ok(true);
        }
        Ok(false)
    }

    /// A lookup found that a role accepted on its memo no longer has the verified bytes in its
    /// cached file (changed in place since): load that role afresh, from the server if need be,
    /// once per update. Any other error is the caller's.
    async fn reload_changed(&mut self, err: TrustError) -> Result<(), UpdateError> {
        match err {
            TrustError::CachedFileChanged { role } if !self.unremembered.contains(&role) => {
                self.state.forget(&role);
                self.unremembered.insert(role.clone());
                self.used.remove(role.as_str());
                self.load_role(&role).await
            }
            err => Err(err.into()),
        }
    }

    /// The target `name`, searched through the delegations its path allows.
    pub async fn lookup(&mut self, name: &str) -> Result<Option<TrustedTarget>, UpdateError> {
        loop {
            match self.state.lookup(name) {
                Err(e) => self.reload_changed(e).await?,
                Ok(Lookup::Found(t)) => return Ok(Some(t)),
                Ok(Lookup::NotFound) => return Ok(None),
                Ok(Lookup::NeedRole(role)) => self.load_role(&role).await?,
            }
        }
    }

    /// Every target of every reachable role (within its paths).
    pub async fn list_targets(&mut self) -> Result<Vec<TrustedTarget>, UpdateError> {
        loop {
            match self.state.list_targets() {
                Err(e) => self.reload_changed(e).await?,
                Ok(Ok(all)) => return Ok(all),
                Ok(Err(role)) => {
                    // Load every role this level of the walk is missing, not one per walk.
                    let mut missing = self.state.unloaded_roles()?;
                    if missing.is_empty() {
                        missing.push(role); // the lookup phase needs one the walk did not
                    }
                    for r in missing {
                        self.load_role(&r).await?;
                    }
                }
            }
        }
    }

    /// The targets of the delegations with a path `descend` accepts (and of `targets` itself),
    /// loading only those delegations: one digest label's bins instead of the whole tree.
    pub async fn list_targets_where(
        &mut self,
        descend: &(dyn Fn(&str) -> bool + Sync),
        keep: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<TrustedTarget>, UpdateError> {
        loop {
            match self.state.list_targets_where(descend, keep) {
                Err(e) => self.reload_changed(e).await?,
                Ok(Ok(found)) => return Ok(found),
                Ok(Err(missing)) => {
                    for r in missing {
                        self.load_role(&r).await?;
                    }
                }
            }
        }
    }

    /// Every role that validly signs `name`, loading the delegations that may hold it.
    pub async fn signers_of(&mut self, name: &str) -> Result<Vec<TrustedTarget>, UpdateError> {
        loop {
            match self.state.signers_of(name) {
                Err(e) => self.reload_changed(e).await?,
                Ok(Ok(all)) => return Ok(all),
                Ok(Err(role)) => self.load_role(&role).await?,
            }
        }
    }

    /// Load `role` and its ancestors if the snapshot lists them (a role that never published
    /// has no file: that is not an error here).
    pub async fn load_chain(&mut self, role: &RoleName) -> Result<(), UpdateError> {
        let mut chain = vec![role.clone()];
        while let Some(parent) = chain.last().and_then(RoleName::parent) {
            chain.push(parent);
        }
        for r in chain.into_iter().rev() {
            if self.state.targets_role(&r).is_none() && self.state.expected_file(&r).is_some() {
                self.load_role(&r).await?;
            }
        }
        Ok(())
    }

    /// The version `role`'s file on the server claims, unverified: for a writer that must publish
    /// above a file it cannot verify (a bin its parent no longer delegates). 0 when the snapshot
    /// does not list it or the file does not parse.
    pub async fn version_claimed(&mut self, role: &RoleName) -> Result<u64, UpdateError> {
        let Some(expected) = self.state.expected_file(role).cloned() else {
            return Ok(0);
        };
        let bytes = self.bytes_for(role, &expected).await?;
        Ok(super::envelope::SignedEnvelope::parse(&bytes, bytes.len())
            .ok()
            .and_then(|env| {
                env.signed
                    .get("version")
                    .and_then(serde_json::Value::as_u64)
            })
            .unwrap_or(0))
    }

    /// Drop the verified delegations `which` selects from memory, and their cached bytes (files
    /// this update fetched stay until persisted). Floors are kept, so a reload is still checked
    /// against them.
    pub fn forget(&mut self, which: impl Fn(&RoleName) -> bool) {
        let loaded: Vec<RoleName> = self
            .state
            .loaded_delegations()
            .filter(|r| which(r))
            .cloned()
            .collect();
        for role in loaded {
            self.state.forget(&role);
            self.cached.files.remove(role.as_str());
        }
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    pub fn state(&self) -> &TrustedState {
        &self.state
    }

    /// The verified bytes of every file this update relied on, by role (`root`, `timestamp`,
    /// `snapshot`, `targets` and each delegation it loaded): what a reader needs to reach the
    /// same conclusions (a bundle).
    pub fn relied_on(&self) -> Result<BTreeMap<String, &[u8]>, TrustError> {
        let mut out = BTreeMap::new();
        for role in std::iter::once("root").chain(self.used.iter().map(String::as_str)) {
            // A role accepted on its memo: its whole file, checked against the memo's sha256.
            let bytes = match self.state.remembered_bytes(role) {
                Some(bytes) => bytes?,
                None => match self.fresh.get(role).or_else(|| self.cached.files.get(role)) {
                    Some(bytes) => bytes.as_slice(),
                    None => continue,
                },
            };
            out.insert(role.to_string(), bytes);
        }
        Ok(out)
    }

    /// The earliest expiry of everything this update relied on (root, timestamp, snapshot, and
    /// every targets role it loaded): until then the same files verify again, offline too.
    pub fn valid_until(&self) -> DateTime<Utc> {
        let state = &self.state;
        let mut earliest = state.root().expires.at();
        let mut consider = |at: DateTime<Utc>| earliest = earliest.min(at);
        if let Some(t) = state.timestamp() {
            consider(t.expires.at());
        }
        if let Some(s) = state.snapshot() {
            consider(s.expires.at());
        }
        for role in &self.used {
            if let Ok(name) = RoleName::parse(role)
                && let Some(at) = state.expiry_of(&name)
            {
                consider(at);
            }
        }
        earliest
    }

    /// HTTP requests this update made so far.
    pub fn fetches(&self) -> u32 {
        self.fetches
    }

    /// Newly verified files (role → bytes) and the version floors to persist.
    pub fn to_persist(&self) -> (&BTreeMap<String, Vec<u8>>, &VersionFloors) {
        (&self.fresh, self.state.floors())
    }

    /// Memos of the delegations this update verified in full (role → memo), to persist after
    /// the files of [`to_persist`](Self::to_persist).
    pub fn memos_to_persist(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.memos
    }
}
