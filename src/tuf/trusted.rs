//! The trusted view of one Notary repository (GUN): a synchronous, I/O-free state machine.
//!
//! It follows the client update workflow (TUF client steps W1–W6; the Notary wire format's
//! "what a client must check"): a trusted root, the root chain walked one version at a time,
//! then timestamp → snapshot → targets → delegations, each checked against its parent's keys,
//! hashes, length, expiry and the persisted version floors. The caller does all fetching and
//! passes bytes plus one fixed `now` per run; lookups say which delegation they still need.
//!
//! ```text
//! state = TrustedState::new(gun, cached_or_pinned_or_tofu_root)?.with_floors(&persisted)
//! for N = root+1.. : fetch N.root.json (stop on 404); state.update_root(bytes)?
//! state.update_timestamp(timestamp.json, now)?            // → whether a new snapshot is needed
//! state.update_snapshot(snapshot.<expected_snapshot().sha256_hex()>.json, now)?
//! if state.snapshot_lists_other_root(): walk roots again, restart at the timestamp
//! state.update_targets(targets.<expected_file(targets).sha256_hex()>.json, now)?
//! loop state.lookup(name)? { NeedRole(r) => state.update_targets_role(r, fetched, now)?, … }
//! persist state.floors()
//! ```
//! Cached files may be passed instead of downloads: they are checked against the same hashes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::envelope::{EnvelopeError, SignedEnvelope};
use super::limits::Limits;
use super::metadata::{
    Delegations, FileMeta, Metadata, MetadataError, Root, Snapshot, Targets, Timestamp,
};
use super::names::RoleName;
use super::remembered::{Damaged, Leaf, Memo, Remembered, SharedFile};
use super::verify::{self, Authority, Verified, VerifyError};
use crate::failure::Failure;

/// Why an update or lookup was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{role}: not a metadata file")]
    Envelope {
        role: RoleName,
        #[source]
        source: EnvelopeError,
    },
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("{role} version {version} expired at {expires}")]
    Expired {
        role: RoleName,
        version: u64,
        expires: String,
    },
    #[error("{role} version {version} is older than the version {floor} already trusted")]
    Rollback {
        role: RoleName,
        version: u64,
        floor: u64,
    },
    #[error("{role} version {version} differs from the trusted file with the same version")]
    SameVersionDiffers { role: RoleName, version: u64 },
    #[error("root version {found} does not follow trusted root version {current}")]
    RootNotNext { current: u64, found: u64 },
    #[error("more than {limit} root rotations in one update")]
    TooManyRootRotations { limit: u32 },
    #[error("{role}: {length} bytes, but its parent lists {expected}")]
    LengthMismatch {
        role: RoleName,
        expected: u64,
        length: u64,
    },
    #[error("{role}: {algorithm} does not match the hash its parent lists")]
    HashMismatch { role: RoleName, algorithm: String },
    #[error("{role} is not listed in the trusted snapshot")]
    NotInSnapshot { role: RoleName },
    #[error("{role} is not delegated by its parent")]
    NotDelegated { role: RoleName },
    #[error("{role} has an invalid delegation: {reason}")]
    Delegation { role: RoleName, reason: String },
    #[error("lookup visited more than {limit} targets roles")]
    TooManyDelegations { limit: usize },
    /// The parent claims a length above the role's absolute cap. The server holds the snapshot
    /// and timestamp keys, so a claimed length alone is no reason to download that much
    /// (SECURITY-TESTS scenario 47): refused before any download.
    #[error(
        "{role}: its parent claims {claimed} bytes, above the cap of {cap} bytes; if the repository really is that large, raise limits.{field} in config.json"
    )]
    TooLarge {
        role: RoleName,
        claimed: u64,
        cap: u64,
        field: &'static str,
    },
    /// A role accepted on its memo: the piece of its cached file a lookup read is not what was
    /// verified (the file changed in place). The update answers it by loading the role afresh
    /// ([`super::update::Updater`]); it only reaches a caller that reads the state directly.
    #[error(
        "{role}: the trust cache's copy no longer matches what an earlier run verified; run the command again to fetch it afresh"
    )]
    CachedFileChanged { role: RoleName },
    /// The caller skipped a step of the workflow (a bug in the caller, not an attack).
    #[error("{role} cannot be checked before {needs}")]
    OutOfOrder { role: RoleName, needs: String },
}

impl TrustError {
    /// How this failure is reported: tampering is untrusted, expiry stale, older versions rollback.
    pub fn failure(&self) -> Failure {
        match self {
            TrustError::Envelope { source, .. } => source.failure(),
            TrustError::Verify(e) => e.failure(),
            TrustError::Expired { .. } => Failure::Stale,
            TrustError::Rollback { .. } => Failure::Rollback,
            TrustError::RootNotNext { current, found } if found <= current => Failure::Rollback,
            TrustError::OutOfOrder { .. } => Failure::Internal,
            TrustError::CachedFileChanged { .. } => Failure::LocalState,
            _ => Failure::Untrusted,
        }
    }
}

/// Highest versions ever trusted, persisted by the caller between runs so that a replayed older
/// file is refused even after a restart (rollback protection, TUF W4–W6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionFloors {
    pub root: u64,
    pub timestamp: u64,
    pub snapshot: u64,
    /// `targets` and every delegation, by role name.
    pub targets: BTreeMap<String, u64>,
}

impl VersionFloors {
    fn merge(&mut self, other: &VersionFloors) {
        self.root = self.root.max(other.root);
        self.timestamp = self.timestamp.max(other.timestamp);
        self.snapshot = self.snapshot.max(other.snapshot);
        for (role, v) in &other.targets {
            let e = self.targets.entry(role.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
}

/// A target that checked out, and the role whose signatures vouch for it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedTarget {
    pub name: String,
    /// Length, hashes and custom data the content must match.
    pub meta: FileMeta,
    pub role: RoleName,
}

/// Result of a lookup over the delegation tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(TrustedTarget),
    /// No reachable role signs this name (within its paths).
    NotFound,
    /// This role may hold the answer: fetch it (by the snapshot hash) and call
    /// [`TrustedState::update_targets_role`], then look up again.
    NeedRole(RoleName),
}

/// Why a delegated role's targets are treated as absent (see [`SkippedRole`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Signed by keys its delegation no longer lists (a retired or replaced key): `valid`
    /// signatures from the keys it lists now, `threshold` needed, `unlisted` signing keys no
    /// longer trusted for the role.
    RetiredKeys {
        valid: usize,
        threshold: u32,
        unlisted: usize,
    },
    /// Its file expired at `expires` (the role's own lifetime; its signers must re-sign it).
    Expired { expires: String },
    /// Its parent no longer delegates it (the delegation was removed); the server still lists
    /// the old file.
    NotDelegated,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::RetiredKeys {
                valid,
                threshold,
                unlisted,
            } => write!(
                f,
                "signed by {unlisted} key(s) its delegation no longer lists; {valid} valid signature(s) from the keys it lists now, threshold is {threshold}"
            ),
            SkipReason::Expired { expires } => write!(f, "its file expired at {expires}"),
            SkipReason::NotDelegated => write!(f, "its parent no longer delegates it"),
        }
    }
}

/// A delegated role whose file matches the trusted snapshot but no longer verifies for a
/// reason a key or delegation change explains (TUF W6 on a stale role). Its targets, and its
/// whole subtree, are treated as absent; the rest of the repository keeps working. Never built
/// for `targets` or for bytes that differ from the snapshot, a malformed file, a rollback or
/// forged signatures: those stay [`TrustError`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRole {
    pub role: RoleName,
    pub reason: SkipReason,
    /// The version the stale file claims (unverified): the role's next file must be above it,
    /// since the server keeps versions increasing.
    pub claimed_version: u64,
}

/// A skipped role as the state keeps it: the file the snapshot listed when it was skipped, and
/// for an expired role whose signatures verify, its content (only for re-signing it:
/// [`TrustedState::renewable`]; never looked up).
#[derive(Debug, Clone)]
struct StaleEntry {
    file: FileMeta,
    skipped: SkippedRole,
    renewable: Option<Verified<Targets>>,
}

/// What loading a targets role produced.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleLoad {
    Loaded,
    Skipped(SkippedRole),
}

/// A verified targets role plus the path prefixes it may actually sign, already narrowed by every
/// ancestor (a child's paths are kept only where they fall within its parent's).
#[derive(Debug, Clone)]
struct TargetsRole {
    body: RoleBody,
    paths: Vec<String>,
}

/// A loaded role: verified this run, or accepted on the memo of an earlier run's verification
/// (see [`super::remembered`]), whose entries are parsed only when asked for.
#[derive(Debug, Clone)]
enum RoleBody {
    Verified(Verified<Targets>),
    Remembered(Box<Remembered>),
}

impl TargetsRole {
    fn may_sign(&self, name: &str) -> bool {
        allowed(&self.paths, name)
    }
    /// The whole file; for a remembered role it is read and parsed now.
    fn full(&self) -> Result<&Verified<Targets>, Damaged> {
        match &self.body {
            RoleBody::Verified(v) => Ok(v),
            RoleBody::Remembered(r) => r.full(),
        }
    }
    /// The whole file of a role that delegates; `None` for a remembered one, which delegates
    /// nothing (see [`Memo::of`]).
    fn delegator(&self) -> Option<&Verified<Targets>> {
        match &self.body {
            RoleBody::Verified(v) => Some(v),
            RoleBody::Remembered(_) => None,
        }
    }
    fn version(&self) -> u64 {
        match &self.body {
            RoleBody::Verified(v) => v.version.get(),
            RoleBody::Remembered(r) => r.version(),
        }
    }
    fn delegations(&self) -> &Delegations {
        match &self.body {
            RoleBody::Verified(v) => &v.delegations,
            RoleBody::Remembered(r) => r.delegations(),
        }
    }
    fn target(&self, name: &str) -> Result<Option<FileMeta>, Damaged> {
        match &self.body {
            RoleBody::Verified(v) => Ok(v.targets.get(name).cloned()),
            RoleBody::Remembered(r) => r.target(name),
        }
    }
    fn names(&self) -> Result<Box<dyn Iterator<Item = &str> + '_>, Damaged> {
        match &self.body {
            RoleBody::Verified(v) => Ok(Box::new(v.targets.keys().map(String::as_str))),
            RoleBody::Remembered(r) => r.names(),
        }
    }
}

fn changed(role: &RoleName) -> TrustError {
    TrustError::CachedFileChanged { role: role.clone() }
}

/// Notary's `paths` are plain string prefixes; `""` matches everything.
fn allowed(paths: &[String], name: &str) -> bool {
    paths.iter().any(|p| is_prefix(p, name))
}

/// `name.starts_with(prefix)`, the last byte compared first: a sharded role's 256 bins have paths
/// that differ only in their last two characters, and a lookup tests every one of them.
fn is_prefix(prefix: &str, name: &str) -> bool {
    let (p, n) = (prefix.as_bytes(), name.as_bytes());
    match p.last() {
        None => true,
        Some(last) => n.get(p.len() - 1) == Some(last) && n.starts_with(p),
    }
}

/// A child's prefixes that lie inside one of the parent's prefixes (the Go client's
/// `RestrictDelegationPathPrefixes`).
fn restrict(child: &[String], parent: &[String]) -> Vec<String> {
    child
        .iter()
        .filter(|c| allowed(parent, c))
        .cloned()
        .collect()
}

fn check_file(role: &RoleName, expected: &FileMeta, bytes: &[u8]) -> Result<(), TrustError> {
    if expected.length != bytes.len() as u64 {
        return Err(TrustError::LengthMismatch {
            role: role.clone(),
            expected: expected.length,
            length: bytes.len() as u64,
        });
    }
    // Every hash we know must match; the model guarantees at least one known one is listed.
    let actual = FileMeta::of(bytes);
    for (alg, digest) in &expected.hashes.0 {
        if let Some(mine) = actual.hashes.0.get(alg)
            && mine != digest
        {
            return Err(TrustError::HashMismatch {
                role: role.clone(),
                algorithm: alg.clone(),
            });
        }
    }
    Ok(())
}

fn same_file(a: &FileMeta, b: &FileMeta) -> bool {
    a.length == b.length && a.hashes == b.hashes
}

fn check_expiry<T: Metadata>(
    role: &RoleName,
    meta: &T,
    now: DateTime<Utc>,
) -> Result<(), TrustError> {
    if meta.expires().is_expired(now) {
        return Err(TrustError::Expired {
            role: role.clone(),
            version: meta.version().get(),
            expires: meta.expires().raw().to_owned(),
        });
    }
    Ok(())
}

fn check_floor(role: &RoleName, version: u64, floor: u64) -> Result<(), TrustError> {
    if version < floor {
        return Err(TrustError::Rollback {
            role: role.clone(),
            version,
            floor,
        });
    }
    Ok(())
}

/// A configured cap as a length in memory (saturating on 32-bit targets).
fn cap_usize(cap: u64) -> usize {
    usize::try_from(cap).unwrap_or(usize::MAX)
}

fn envelope(role: &RoleName, bytes: &[u8], limit: usize) -> Result<SignedEnvelope, TrustError> {
    SignedEnvelope::parse(bytes, limit).map_err(|source| TrustError::Envelope {
        role: role.clone(),
        source,
    })
}

fn unverified<T: Metadata>(role: &RoleName, env: &SignedEnvelope) -> Result<T, TrustError> {
    T::from_signed(&env.signed).map_err(|source: MetadataError| {
        VerifyError::Metadata {
            role: role.clone(),
            source,
        }
        .into()
    })
}

/// The trusted state of one GUN.
#[derive(Debug, Clone)]
pub struct TrustedState {
    gun: String,
    root: Verified<Root>,
    root_env: SignedEnvelope,
    root_file: FileMeta,
    rotations: u32,
    timestamp: Option<Verified<Timestamp>>,
    snapshot: Option<Verified<Snapshot>>,
    targets: BTreeMap<RoleName, TargetsRole>,
    /// Delegations whose current file is stale, with the file the snapshot listed for them
    /// when they were skipped (a new snapshot listing another file re-checks them).
    skipped: BTreeMap<RoleName, StaleEntry>,
    floors: VersionFloors,
    limits: Limits,
    /// The memos of the bins verified in this run as [`Leaf`]s, for [`memo_of`].
    ///
    /// [`memo_of`]: TrustedState::memo_of
    fresh_memos: BTreeMap<RoleName, Vec<u8>>,
}

impl TrustedState {
    /// Starts from root bytes the caller trusts: the cached root, a pinned one, or (trust on first
    /// use) the one just fetched. The root must be signed by its own root keys, which must be
    /// certificates with CN = `gun`. Expiry and certificate lifetimes are checked on the final
    /// root before it is used ([`check_root`]), so an expired cached root can still be rotated.
    ///
    /// [`check_root`]: TrustedState::check_root
    pub fn new(gun: &str, root_bytes: &[u8], limits: &Limits) -> Result<Self, TrustError> {
        let role = RoleName::root();
        let env = envelope(&role, root_bytes, cap_usize(limits.root_max_bytes))?;
        let claimed: Root = unverified(&role, &env)?;
        let authority = Authority::root_keys(&claimed, gun, None);
        let root = verify::verify::<Root>(&env, &authority)?;
        let floors = VersionFloors {
            root: root.version.get(),
            ..VersionFloors::default()
        };
        Ok(TrustedState {
            gun: gun.to_owned(),
            root,
            root_env: env,
            root_file: FileMeta::of(root_bytes),
            rotations: 0,
            timestamp: None,
            snapshot: None,
            targets: BTreeMap::new(),
            skipped: BTreeMap::new(),
            floors,
            limits: limits.clone(),
            fresh_memos: BTreeMap::new(),
        })
    }

    /// The caps and bounds this state enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The absolute cap on `role`'s file, and the `limits.<field>` that sets it.
    pub fn cap_for(&self, role: &RoleName) -> (u64, &'static str) {
        let l = &self.limits;
        match role.as_str() {
            "root" => (l.root_max_bytes, "root_max_bytes"),
            "timestamp" => (l.timestamp_max_bytes, "timestamp_max_bytes"),
            "snapshot" => (l.snapshot_max_bytes, "snapshot_max_bytes"),
            _ => (l.targets_max_bytes, "targets_max_bytes"),
        }
    }

    /// How many bytes to fetch at most for a file whose parent claims `expected`: the claim, if
    /// it is within the role's cap; a claim above the cap is refused here, before any download.
    pub fn max_fetch_len(&self, role: &RoleName, expected: &FileMeta) -> Result<u64, TrustError> {
        let (cap, field) = self.cap_for(role);
        if expected.length > cap {
            return Err(TrustError::TooLarge {
                role: role.clone(),
                claimed: expected.length,
                cap,
                field,
            });
        }
        Ok(expected.length)
    }

    /// Raises the version floors to what the caller persisted from earlier runs.
    pub fn with_floors(mut self, floors: &VersionFloors) -> Self {
        self.floors.merge(floors);
        self
    }

    /// The floors to persist after a successful update.
    pub fn floors(&self) -> &VersionFloors {
        &self.floors
    }

    pub fn gun(&self) -> &str {
        &self.gun
    }
    pub fn root(&self) -> &Verified<Root> {
        &self.root
    }
    pub fn timestamp(&self) -> Option<&Verified<Timestamp>> {
        self.timestamp.as_ref()
    }
    pub fn snapshot(&self) -> Option<&Verified<Snapshot>> {
        self.snapshot.as_ref()
    }
    /// A loaded targets role (`targets` or a delegation). `None` also for a role accepted on
    /// its memo whose cached file no longer holds what was verified: loading it again (as
    /// [`super::update::Updater::load_chain`] does for a role that is not loaded) fetches it
    /// afresh.
    pub fn targets_role(&self, role: &RoleName) -> Option<&Verified<Targets>> {
        self.targets.get(role).and_then(|t| t.full().ok())
    }

    /// Whether `role` is loaded on the strength of its memo.
    pub fn is_remembered(&self, role: &RoleName) -> bool {
        self.targets
            .get(role)
            .is_some_and(|t| matches!(&t.body, RoleBody::Remembered(r) if !r.is_fresh()))
    }

    /// Applies root version N+1 (TUF W3). It must be signed by a threshold of the current root's
    /// keys *and* of its own keys (all certificates with CN = GUN). Expiry is not checked here:
    /// intermediate roots may have expired; the final one is checked by [`check_root`].
    /// When the timestamp, snapshot or targets keys change, their version floors are reset so a
    /// fast-forward attack with the old keys cannot lock the client out.
    ///
    /// [`check_root`]: TrustedState::check_root
    pub fn update_root(&mut self, bytes: &[u8]) -> Result<(), TrustError> {
        let role = RoleName::root();
        if self.rotations >= self.limits.max_root_rotations {
            return Err(TrustError::TooManyRootRotations {
                limit: self.limits.max_root_rotations,
            });
        }
        let env = envelope(&role, bytes, cap_usize(self.limits.root_max_bytes))?;
        let claimed: Root = unverified(&role, &env)?;
        let current = self.root.version.get();
        if claimed.version.get() != current + 1 {
            return Err(TrustError::RootNotNext {
                current,
                found: claimed.version.get(),
            });
        }
        let old_keys = Authority::root_keys(&self.root, &self.gun, None);
        let new_keys = Authority::root_keys(&claimed, &self.gun, None);
        let new_root = verify::verify_by_all::<Root>(&env, &[&old_keys, &new_keys])?;

        let keys_changed = |r: &RoleName| self.root.role(r) != new_root.role(r);
        if keys_changed(&RoleName::timestamp()) {
            self.floors.timestamp = 0;
            self.timestamp = None;
        }
        if keys_changed(&RoleName::snapshot()) {
            self.floors.snapshot = 0;
            self.snapshot = None;
        }
        if keys_changed(&RoleName::targets()) {
            self.floors.targets.clear();
            self.targets.clear();
            self.skipped.clear();
        }
        self.rotations += 1;
        self.floors.root = new_root.version.get();
        self.root = new_root;
        self.root_env = env;
        self.root_file = FileMeta::of(bytes);
        Ok(())
    }

    /// The trusted root is usable at `now`: unexpired (no clock skew allowed, like Notary 0.7) and
    /// still signed by a threshold of root certificates valid at `now`.
    pub fn check_root(&self, now: DateTime<Utc>) -> Result<(), TrustError> {
        let role = RoleName::root();
        check_expiry(&role, self.root.get(), now)?;
        let authority = Authority::root_keys(&self.root, &self.gun, Some(now));
        verify::verify::<Root>(&self.root_env, &authority)?;
        Ok(())
    }

    /// Whether the trusted snapshot lists a root file other than the trusted one: the caller should
    /// then fetch newer roots, apply them with [`update_root`], and restart at the timestamp.
    ///
    /// [`update_root`]: TrustedState::update_root
    pub fn snapshot_lists_other_root(&self) -> bool {
        self.snapshot
            .as_ref()
            .and_then(|s| s.meta_for(&RoleName::root()))
            .is_some_and(|listed| !same_file(listed, &self.root_file))
    }

    /// Checks a freshly fetched `timestamp.json` (TUF W4): size cap, threshold of root's timestamp
    /// keys, version not below the floor, unexpired. Returns whether it names a snapshot other
    /// than the trusted one (then [`update_snapshot`] is needed).
    ///
    /// [`update_snapshot`]: TrustedState::update_snapshot
    pub fn update_timestamp(
        &mut self,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, TrustError> {
        let role = RoleName::timestamp();
        self.check_root(now)?;
        let env = envelope(&role, bytes, cap_usize(self.limits.timestamp_max_bytes))?;
        let authority = Authority::top_level(&self.root, &role).expect("root names timestamp");
        let ts = verify::verify::<Timestamp>(&env, &authority)?;
        let version = ts.version.get();
        check_floor(&role, version, self.floors.timestamp)?;
        check_expiry(&role, ts.get(), now)?;
        let new_snapshot = match &self.timestamp {
            Some(old) if old.version.get() == version => {
                if old.get() != ts.get() {
                    return Err(TrustError::SameVersionDiffers { role, version });
                }
                false
            }
            Some(old) => !same_file(old.snapshot_meta(), ts.snapshot_meta()),
            None => true,
        };
        if new_snapshot {
            self.snapshot = None;
            self.targets.clear();
            self.skipped.clear();
        }
        self.floors.timestamp = version;
        self.timestamp = Some(ts);
        Ok(self.snapshot.is_none())
    }

    /// The snapshot file the trusted timestamp names (fetch it as `snapshot.<sha256 hex>.json`).
    pub fn expected_snapshot(&self) -> Option<&FileMeta> {
        self.timestamp.as_ref().map(|t| t.snapshot_meta())
    }

    /// Checks `snapshot.json` (TUF W5): length and every hash as the timestamp lists them (no
    /// mix-and-match), threshold of root's snapshot keys, version floor, unexpired.
    pub fn update_snapshot(&mut self, bytes: &[u8], now: DateTime<Utc>) -> Result<(), TrustError> {
        let role = RoleName::snapshot();
        let expected = self.expected_snapshot().ok_or(TrustError::OutOfOrder {
            role: role.clone(),
            needs: "timestamp".into(),
        })?;
        self.max_fetch_len(&role, expected)?;
        check_file(&role, expected, bytes)?;
        let authority = Authority::top_level(&self.root, &role).expect("root names snapshot");
        let snapshot = match verify::verify_canonical::<Snapshot>(bytes, bytes.len(), &[&authority])
        {
            Some(verified) => verified,
            None => verify::verify::<Snapshot>(&envelope(&role, bytes, bytes.len())?, &authority)?,
        };
        check_floor(&role, snapshot.version.get(), self.floors.snapshot)?;
        check_expiry(&role, snapshot.get(), now)?;
        // Keep only targets roles whose file is unchanged in the new snapshot.
        let previous = self.snapshot.as_ref();
        self.targets.retain(|name, _| {
            match (
                snapshot.meta_for(name),
                previous.and_then(|s| s.meta_for(name)),
            ) {
                (Some(new), Some(old)) => same_file(new, old),
                _ => false,
            }
        });
        self.skipped.retain(|name, e| {
            snapshot
                .meta_for(name)
                .is_some_and(|new| same_file(new, &e.file))
        });
        self.floors.snapshot = snapshot.version.get();
        self.snapshot = Some(snapshot);
        Ok(())
    }

    /// The file the trusted snapshot lists for `role` (fetch it as `<role>.<sha256 hex>.json`).
    pub fn expected_file(&self, role: &RoleName) -> Option<&FileMeta> {
        self.snapshot.as_ref()?.meta_for(role)
    }

    /// Checks `targets.json`; shorthand for [`update_targets_role`] with `targets`.
    ///
    /// [`update_targets_role`]: TrustedState::update_targets_role
    pub fn update_targets(&mut self, bytes: &[u8], now: DateTime<Utc>) -> Result<(), TrustError> {
        self.update_targets_role(&RoleName::targets(), bytes, now)
    }

    /// Checks `targets.json` or a delegation file (TUF W6): length and hashes as the snapshot lists
    /// them; for `targets` a threshold of root's targets keys, for `targets/x` a threshold of the
    /// keys its (already loaded) parent delegates to it; version floor; unexpired; delegated names
    /// are direct children. Reloading a role forgets its descendants, whose authority came from it.
    pub fn update_targets_role(
        &mut self,
        role: &RoleName,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), TrustError> {
        let snapshot = self.snapshot.as_ref().ok_or(TrustError::OutOfOrder {
            role: role.clone(),
            needs: "snapshot".into(),
        })?;
        let expected = snapshot
            .meta_for(role)
            .ok_or(TrustError::NotInSnapshot { role: role.clone() })?;
        self.max_fetch_len(role, expected)?;
        check_file(role, expected, bytes)?;
        if role.is_delegation()
            && let Some(sha256) = expected.hashes.sha256().map(<[u8]>::to_vec)
            && let Ok((authority, paths)) = self.authority_of(role)
            && let Some(leaf) = verify::verify_canonical_with(
                bytes,
                bytes.len(),
                Targets::TYPE,
                &[&authority],
                |text| Leaf::read(text, bytes),
            )
        {
            let floor = self.floors.targets.get(role.as_str()).copied().unwrap_or(0);
            check_floor(role, leaf.version(), floor)?;
            if leaf.expires().is_expired(now) {
                return Err(TrustError::Expired {
                    role: role.clone(),
                    version: leaf.version(),
                    expires: leaf.expires().raw().to_owned(),
                });
            }
            if let Some((remembered, memo)) =
                Remembered::fresh(bytes.to_vec(), &sha256, leaf, &authority)
            {
                self.accept(role, RoleBody::Remembered(Box::new(remembered)), paths);
                self.fresh_memos.insert(role.clone(), memo);
                return Ok(());
            }
        }
        let fast = self.authority_of(role).ok().and_then(|(authority, paths)| {
            verify::verify_canonical::<Targets>(bytes, bytes.len(), &[&authority])
                .map(|targets| (targets, paths))
        });
        // The full path, in its order (a malformed file is reported before a missing authority).
        let (targets, paths) = match fast {
            Some(done) => done,
            None => {
                let env = envelope(role, bytes, bytes.len())?;
                let (authority, paths) = self.authority_of(role)?;
                (verify::verify::<Targets>(&env, &authority)?, paths)
            }
        };
        targets
            .check_delegation_names(role)
            .map_err(|reason| TrustError::Delegation {
                role: role.clone(),
                reason,
            })?;
        let floor = self.floors.targets.get(role.as_str()).copied().unwrap_or(0);
        check_floor(role, targets.version.get(), floor)?;
        check_expiry(role, targets.get(), now)?;
        self.accept(role, RoleBody::Verified(targets), paths);
        Ok(())
    }

    /// The keys and threshold that may sign `role`, and the paths it may sign (its own,
    /// narrowed by its parent's).
    fn authority_of(&self, role: &RoleName) -> Result<(Authority, Vec<String>), TrustError> {
        match role.parent() {
            None if role == &RoleName::targets() => Ok((
                Authority::top_level(&self.root, role).expect("root names targets"),
                vec![String::new()],
            )),
            None => Err(TrustError::NotDelegated { role: role.clone() }),
            Some(parent_name) => {
                let parent = self
                    .targets
                    .get(&parent_name)
                    .ok_or(TrustError::OutOfOrder {
                        role: role.clone(),
                        needs: parent_name.to_string(),
                    })?;
                let entry = parent
                    .delegations()
                    .roles
                    .iter()
                    .find(|d| &d.name == role)
                    .ok_or(TrustError::NotDelegated { role: role.clone() })?;
                let authority = parent
                    .delegator()
                    .and_then(|p| Authority::delegated(p, role))
                    .expect("the entry exists, so the parent delegates");
                Ok((authority, restrict(&entry.paths, &parent.paths)))
            }
        }
    }

    /// Records `role` as loaded, replacing what was loaded or skipped below it.
    fn accept(&mut self, role: &RoleName, body: RoleBody, paths: Vec<String>) {
        let prefix = format!("{role}/");
        self.fresh_memos
            .retain(|name, _| name != role && !name.as_str().starts_with(&prefix));
        self.targets
            .retain(|name, _| !name.as_str().starts_with(&prefix));
        self.skipped
            .retain(|name, _| name != role && !name.as_str().starts_with(&prefix));
        let version = match &body {
            RoleBody::Verified(v) => v.version.get(),
            RoleBody::Remembered(r) => r.version(),
        };
        self.floors.targets.insert(role.to_string(), version);
        self.targets
            .insert(role.clone(), TargetsRole { body, paths });
    }

    /// Loads the delegation `role` from its cached `file` on the strength of `memo`, an earlier
    /// run's record of verifying it (see [`super::remembered`]). `Ok(false)`, changing nothing,
    /// whenever the memo does not settle it: the memo is not of the file the snapshot lists now
    /// (length and sha256), is of another authority, or the remembered file is now expired or
    /// below the version floor. The caller then loads the role the full way, which reports any
    /// of those as it always has. The file itself is not read here: each lookup checks the
    /// pieces it reads against the memo.
    pub fn recall_role(
        &mut self,
        role: &RoleName,
        file: SharedFile,
        memo: SharedFile,
        now: DateTime<Utc>,
    ) -> Result<bool, TrustError> {
        if !role.is_delegation() || self.skipped.contains_key(role) {
            return Ok(false);
        }
        let Some(expected) = self.expected_file(role).cloned() else {
            return Ok(false);
        };
        self.max_fetch_len(role, &expected)?;
        let Some(sha256) = expected.hashes.sha256() else {
            return Ok(false);
        };
        let (Some(memo), Ok((authority, paths))) = (Memo::read(memo), self.authority_of(role))
        else {
            return Ok(false);
        };
        let floor = self.floors.targets.get(role.as_str()).copied().unwrap_or(0);
        if memo.version() < floor {
            return Ok(false);
        }
        match Remembered::recall(file, expected.length, sha256, memo, &authority) {
            Ok(r) if !r.expires().is_expired(now) => {
                self.accept(role, RoleBody::Remembered(Box::new(r)), paths);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The file bytes of a role loaded from its memo (other loaded roles' bytes are the
    /// caller's).
    /// `None` for any other role; `Some(Err)` when the cached file no longer holds what was
    /// verified.
    pub fn remembered_bytes(&self, role: &str) -> Option<Result<&[u8], TrustError>> {
        let name = RoleName::parse(role).ok()?;
        let loaded = self.targets.get(&name)?;
        match &loaded.body {
            RoleBody::Remembered(r) => Some(
                r.bytes()
                    .map_err(|Damaged| TrustError::CachedFileChanged { role: name }),
            ),
            RoleBody::Verified(_) => None,
        }
    }

    /// The loaded roles accepted on an earlier run's memo rather than verified this run.
    pub fn remembered_roles(&self) -> impl Iterator<Item = &RoleName> {
        self.targets
            .iter()
            .filter(|(_, t)| matches!(&t.body, RoleBody::Remembered(r) if !r.is_fresh()))
            .map(|(name, _)| name)
    }

    /// When the loaded targets role `role` expires.
    pub fn expiry_of(&self, role: &RoleName) -> Option<DateTime<Utc>> {
        let loaded = self.targets.get(role)?;
        Some(match &loaded.body {
            RoleBody::Verified(v) => v.expires.at(),
            RoleBody::Remembered(r) => r.expires().at(),
        })
    }

    /// The memo of the delegation `role`, just verified in full from `bytes`, for the trust
    /// cache: `None` for a role a memo does not cover (see [`Memo::of`]).
    pub fn memo_of(&self, role: &RoleName, bytes: &[u8]) -> Option<Vec<u8>> {
        if let Some(memo) = self.fresh_memos.get(role) {
            return Some(memo.clone());
        }
        let loaded = self.targets.get(role).filter(|_| role.is_delegation())?;
        let RoleBody::Verified(verified) = &loaded.body else {
            return None;
        };
        let (authority, _) = self.authority_of(role).ok()?;
        Memo::of(bytes, verified, &authority)
    }

    /// Loads `role` like [`update_targets_role`], except that a *delegation* whose file matches
    /// the snapshot but is stale — signed only by keys its delegation no longer lists (plus
    /// valid signatures from listed ones), expired, or no longer delegated — is recorded as a
    /// [`SkippedRole`] instead of failing the whole update: its targets are then absent. Every
    /// other failure (`targets` itself, a length or hash mismatch, a malformed file, a
    /// rollback, a listed key's signature that does not verify, one key counted twice) stays
    /// an error. A server that wanted to hide a delegation could already drop it from the
    /// snapshot, so a skip grants it nothing new; it is never a reason to accept a target.
    ///
    /// [`update_targets_role`]: TrustedState::update_targets_role
    pub fn load_or_skip_role(
        &mut self,
        role: &RoleName,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<RoleLoad, TrustError> {
        let err = match self.update_targets_role(role, bytes, now) {
            Ok(()) => return Ok(RoleLoad::Loaded),
            Err(e) => e,
        };
        let Some(reason) = self.stale_reason(role, bytes, &err) else {
            return Err(err);
        };
        let file = self
            .expected_file(role)
            .cloned()
            .expect("a skippable failure comes after the snapshot check");
        let claimed_version = SignedEnvelope::parse(bytes, bytes.len())
            .ok()
            .and_then(|env| {
                env.signed
                    .get("version")
                    .and_then(serde_json::Value::as_u64)
            })
            .unwrap_or(0);
        // Expired but validly signed by the keys its delegation lists now: its signers may
        // renew it (the same checks as a load, expiry aside, which is what failed).
        let renewable = match reason {
            SkipReason::Expired { .. } => role
                .parent()
                .and_then(|p| self.targets.get(&p))
                .and_then(|p| Authority::delegated(p.delegator()?, role))
                .and_then(|authority| {
                    let env = SignedEnvelope::parse(bytes, bytes.len()).ok()?;
                    verify::verify::<Targets>(&env, &authority).ok()
                }),
            _ => None,
        };
        let skipped = SkippedRole {
            role: role.clone(),
            reason,
            claimed_version,
        };
        let prefix = format!("{role}/");
        self.targets
            .retain(|name, _| !name.as_str().starts_with(&prefix));
        self.skipped.insert(
            role.clone(),
            StaleEntry {
                file,
                skipped: skipped.clone(),
                renewable,
            },
        );
        Ok(RoleLoad::Skipped(skipped))
    }

    /// Whether `err`, raised while loading the delegation `role` from `bytes`, is one a key or
    /// delegation change explains, and how.
    fn stale_reason(&self, role: &RoleName, bytes: &[u8], err: &TrustError) -> Option<SkipReason> {
        let parent_name = role.parent()?; // `targets` itself never skips
        match err {
            TrustError::Expired {
                role: r, expires, ..
            } if r == role => Some(SkipReason::Expired {
                expires: expires.clone(),
            }),
            TrustError::NotDelegated { role: r } if r == role => Some(SkipReason::NotDelegated),
            TrustError::Verify(VerifyError::Threshold {
                role: r,
                valid,
                threshold,
            }) if r == role => {
                let parent = self.targets.get(&parent_name)?;
                let authority = Authority::delegated(parent.delegator()?, role)?;
                let env = SignedEnvelope::parse(bytes, bytes.len()).ok()?;
                let census = verify::census(&env, &authority);
                (census.unlisted > 0 && census.invalid == 0).then_some(SkipReason::RetiredKeys {
                    valid: *valid,
                    threshold: *threshold,
                    unlisted: census.unlisted,
                })
            }
            _ => None,
        }
    }

    /// The delegations skipped so far in this update (see [`SkippedRole`]), by role name.
    pub fn skipped_roles(&self) -> impl Iterator<Item = &SkippedRole> {
        self.skipped.values().map(|e| &e.skipped)
    }

    /// Why `role` was skipped, if it was.
    pub fn skipped(&self, role: &RoleName) -> Option<&SkippedRole> {
        self.skipped.get(role).map(|e| &e.skipped)
    }

    /// The skipped roles that could have signed `name` (within the paths their parent grants):
    /// the reason a lookup of `name` may have come back empty.
    pub fn skipped_for(&self, name: &str) -> Vec<&SkippedRole> {
        self.skipped_roles()
            .filter(|s| self.role_may_sign(&s.role, name) == Some(true))
            .collect()
    }

    /// The content of an *expired* delegation whose signatures still verify, for its signers to
    /// re-sign (a `put` renews the role with its entries kept). Lookups never see it.
    pub fn renewable(&self, role: &RoleName) -> Option<&Verified<Targets>> {
        self.skipped.get(role)?.renewable.as_ref()
    }

    /// The highest version `role` is known to have used: its floor, or the version its stale
    /// file claims. A role's next file must be above it.
    pub fn version_in_use(&self, role: &RoleName) -> u64 {
        let floor = self.floors.targets.get(role.as_str()).copied().unwrap_or(0);
        let loaded = self.targets.get(role).map_or(0, TargetsRole::version);
        let stale = self.skipped(role).map_or(0, |s| s.claimed_version);
        floor.max(loaded).max(stale)
    }

    /// The delegations loaded (verified) so far.
    pub fn loaded_delegations(&self) -> impl Iterator<Item = &RoleName> {
        self.targets.keys().filter(|r| r.is_delegation())
    }

    /// Drops a loaded delegation from memory (its floor stays): a walk over a large repository
    /// keeps only the part it is reading. A later lookup that needs it loads it again.
    pub fn forget(&mut self, role: &RoleName) {
        if role.is_delegation() {
            self.targets.remove(role);
            self.fresh_memos.remove(role);
        }
    }

    /// Raises a version floor from a cached file that still verifies with the currently trusted
    /// keys (signatures only: expiry and hashes do not matter for a floor). Returns `false`, and
    /// leaves the floor alone, when the cached file no longer verifies, e.g. after a key rotation.
    /// Only top-level roles; delegation floors come from [`VersionFloors`].
    pub fn remember_cached(&mut self, role: &RoleName, bytes: &[u8]) -> bool {
        let Ok(env) = SignedEnvelope::parse(bytes, bytes.len()) else {
            return false;
        };
        let Some(authority) = Authority::top_level(&self.root, role) else {
            return false;
        };
        let floor = match role.as_str() {
            "timestamp" => verify::verify::<Timestamp>(&env, &authority)
                .ok()
                .map(|m| m.version.get()),
            "snapshot" => verify::verify::<Snapshot>(&env, &authority)
                .ok()
                .map(|m| m.version.get()),
            "targets" => verify::verify::<Targets>(&env, &authority)
                .ok()
                .map(|m| m.version.get()),
            _ => None,
        };
        let Some(v) = floor else { return false };
        let slot = match role.as_str() {
            "timestamp" => &mut self.floors.timestamp,
            "snapshot" => &mut self.floors.snapshot,
            _ => self.floors.targets.entry(role.to_string()).or_default(),
        };
        *slot = (*slot).max(v);
        true
    }

    /// Finds `name` by a pre-order walk of the delegation tree (Notary's order: a role's own
    /// targets first, then its delegations in listed order, the first match wins). A role only
    /// counts for names within its (narrowed) paths; targets outside them are ignored.
    pub fn lookup(&self, name: &str) -> Result<Lookup, TrustError> {
        let mut visits = 0;
        self.walk(name, &RoleName::targets(), &mut visits)
    }

    fn walk(&self, name: &str, role: &RoleName, visits: &mut usize) -> Result<Lookup, TrustError> {
        self.snapshot.as_ref().ok_or(TrustError::OutOfOrder {
            role: role.clone(),
            needs: "snapshot".into(),
        })?;
        *visits += 1;
        let limit = self.limits.max_delegation_visits;
        if *visits > limit {
            return Err(TrustError::TooManyDelegations { limit });
        }
        let Some(current) = self.targets.get(role) else {
            if self.skipped.contains_key(role) {
                return Ok(Lookup::NotFound); // stale: its targets are absent
            }
            return Ok(Lookup::NeedRole(role.clone()));
        };
        if current.may_sign(name)
            && let Some(meta) = current.target(name).map_err(|Damaged| changed(role))?
        {
            return Ok(Lookup::Found(TrustedTarget {
                name: name.to_owned(),
                meta,
                role: role.clone(),
            }));
        }
        for d in &current.delegations().roles {
            // The cheap test first: a sharded role lists 256 delegations, one of which can hold
            // the name (the narrowed paths are a subset of the delegation's own).
            if !allowed(&d.paths, name) {
                continue;
            }
            // Declared but never published: nothing to find there.
            if self.expected_file(&d.name).is_none() {
                continue;
            }
            if !allowed(&restrict(&d.paths, &current.paths), name) {
                continue;
            }
            match self.walk(name, &d.name, visits)? {
                Lookup::NotFound => continue,
                found_or_needed => return Ok(found_or_needed),
            }
        }
        Ok(Lookup::NotFound)
    }

    /// Every role that validly signs `name` (inside its paths, narrowed by its ancestors), in
    /// delegation order. `Ok(Err(role))` when `role` may sign it but is not loaded yet: fetch it
    /// and ask again. Used where several signers matter (a gate's sign-off count, `--signed-by`).
    pub fn signers_of(
        &self,
        name: &str,
    ) -> Result<Result<Vec<TrustedTarget>, RoleName>, TrustError> {
        let mut found = Vec::new();
        let mut stack = vec![RoleName::targets()];
        let mut visits = 0;
        let limit = self.limits.max_delegation_visits;
        while let Some(role) = stack.pop() {
            visits += 1;
            if visits > limit {
                return Err(TrustError::TooManyDelegations { limit });
            }
            let Some(current) = self.targets.get(&role) else {
                if self.skipped.contains_key(&role) {
                    continue; // stale: its targets are absent
                }
                return Ok(Err(role));
            };
            if current.may_sign(name)
                && let Some(meta) = current.target(name).map_err(|Damaged| changed(&role))?
            {
                found.push(TrustedTarget {
                    name: name.to_owned(),
                    meta,
                    role: role.clone(),
                });
            }
            for d in current.delegations().roles.iter().rev() {
                if allowed(&d.paths, name)
                    && self.expected_file(&d.name).is_some()
                    && allowed(&restrict(&d.paths, &current.paths), name)
                {
                    stack.push(d.name.clone());
                }
            }
        }
        Ok(Ok(found))
    }

    /// Whether `role` may sign `name`: `targets` may sign anything; a delegation only inside its
    /// paths as its parent grants them. `None` when the parent is not loaded or does not delegate
    /// `role` at all.
    pub fn role_may_sign(&self, role: &RoleName, name: &str) -> Option<bool> {
        let Some(parent_name) = role.parent() else {
            return (role == &RoleName::targets()).then_some(true);
        };
        let parent = self.targets.get(&parent_name)?;
        let entry = parent
            .delegations()
            .roles
            .iter()
            .find(|d| &d.name == role)?;
        Some(allowed(&restrict(&entry.paths, &parent.paths), name))
    }

    /// The bound on a walk over every role. A sharded repository legitimately has thousands of
    /// roles, so the per-lookup bound (`max_delegation_visits`) does not fit. Each role has one
    /// parent and no parent lists a child twice (both checked when a role loads), so a full walk
    /// visits each role the snapshot lists at most once; the snapshot's own count bounds it.
    fn full_walk_limit(&self) -> usize {
        let listed = self.snapshot.as_ref().map_or(0, |s| s.meta.len());
        listed.max(self.limits.max_delegation_visits)
    }

    /// Walks every loaded role reachable from `targets`: the target names they may sign, and the
    /// reachable roles that are listed in the snapshot but not loaded yet (not descended into).
    fn full_walk(&self) -> Result<(BTreeSet<String>, Vec<RoleName>), TrustError> {
        self.walk_where(&|_| true)
    }

    /// [`full_walk`](Self::full_walk) restricted to delegations with at least one (narrowed) path
    /// `descend` accepts: a walk over the part of the tree that can hold some names only (the
    /// bins of one digest label).
    fn walk_where(
        &self,
        descend: &dyn Fn(&str) -> bool,
    ) -> Result<(BTreeSet<String>, Vec<RoleName>), TrustError> {
        let mut names = BTreeSet::new();
        let mut unloaded = Vec::new();
        let mut stack = vec![RoleName::targets()];
        let mut visits = 0;
        let limit = self.full_walk_limit();
        while let Some(role) = stack.pop() {
            visits += 1;
            if visits > limit {
                return Err(TrustError::TooManyDelegations { limit });
            }
            let Some(current) = self.targets.get(&role) else {
                if !self.skipped.contains_key(&role) {
                    unloaded.push(role);
                }
                continue;
            };
            names.extend(
                current
                    .names()
                    .map_err(|Damaged| changed(&role))?
                    .filter(|n| current.may_sign(n))
                    .map(str::to_owned),
            );
            for d in current.delegations().roles.iter().rev() {
                if self.expected_file(&d.name).is_some()
                    && restrict(&d.paths, &current.paths)
                        .iter()
                        .any(|p| descend(p))
                {
                    stack.push(d.name.clone());
                }
            }
        }
        Ok((names, unloaded))
    }

    /// Every reachable role a full listing still needs, in walk order: fetching them all before
    /// walking again takes one walk per delegation level instead of one per role.
    pub fn unloaded_roles(&self) -> Result<Vec<RoleName>, TrustError> {
        Ok(self.full_walk()?.1)
    }

    /// Like [`unloaded_roles`](Self::unloaded_roles) and [`list_targets`](Self::list_targets)
    /// at once, over the delegations with a path `descend` accepts only: the trusted targets
    /// found there whose names `keep` accepts (each resolved as [`lookup`](Self::lookup)
    /// would), or the roles still to fetch.
    pub fn list_targets_where(
        &self,
        descend: &dyn Fn(&str) -> bool,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Result<Vec<TrustedTarget>, Vec<RoleName>>, TrustError> {
        let (names, unloaded) = self.walk_where(descend)?;
        if !unloaded.is_empty() {
            return Ok(Err(unloaded));
        }
        let mut out = Vec::new();
        for name in names.into_iter().filter(|n| keep(n)) {
            match self.lookup(&name)? {
                Lookup::Found(t) => out.push(t),
                Lookup::NeedRole(r) => return Ok(Err(vec![r])),
                Lookup::NotFound => {}
            }
        }
        Ok(Ok(out))
    }

    /// Every trusted target reachable from `targets`, each name resolved as [`lookup`] would.
    /// Returns the first role that still has to be fetched, if any, instead of a partial list.
    ///
    /// [`lookup`]: TrustedState::lookup
    pub fn list_targets(&self) -> Result<Result<Vec<TrustedTarget>, RoleName>, TrustError> {
        let (names, unloaded) = self.full_walk()?;
        if let Some(first) = unloaded.into_iter().next() {
            return Ok(Err(first));
        }
        let mut out = Vec::new();
        for name in names {
            match self.lookup(&name)? {
                Lookup::Found(t) => out.push(t),
                Lookup::NeedRole(r) => return Ok(Err(r)),
                Lookup::NotFound => {}
            }
        }
        Ok(Ok(out))
    }
}
