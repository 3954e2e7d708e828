//! New metadata for publishing: a repository's first root and targets, the next version of a
//! targets role with a change applied, and the next root after a key rotation. Pure: keys and
//! `now` come from the caller.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};

use super::key::{KeyError, KeyMaterial, PublicKey};
use super::metadata::{
    DelegatedRole, Delegations, Expires, RoleKeys, Root, Targets, TypeTag, Version,
};
use super::names::{KeyId, RoleName};

/// The Go client's default lifetimes: root 10 years, targets 3 years.
pub const ROOT_LIFETIME_MONTHS: u32 = 120;
pub const TARGETS_LIFETIME_MONTHS: u32 = 36;

pub fn expiry(now: DateTime<Utc>, months: u32) -> Expires {
    Expires::new(now.checked_add_months(Months::new(months)).unwrap_or(now))
}

/// An expiry `lifetime` after `now` (a user's `--expires`); `None` past the year 9999, which Go's
/// time encoding (and so the server and every client) cannot write.
pub fn expiry_after(now: DateTime<Utc>, lifetime: std::time::Duration) -> Option<Expires> {
    let lifetime = chrono::Duration::from_std(lifetime).ok()?;
    now.checked_add_signed(lifetime)
        .filter(|at| chrono::Datelike::year(at) <= 9999)
        .map(Expires::new)
}

/// Version 1 of a repository's root: one key per top-level role, threshold 1.
pub fn initial_root(
    root_cert: &PublicKey,
    targets: &PublicKey,
    snapshot: &PublicKey,
    timestamp: &PublicKey,
    now: DateTime<Utc>,
) -> Root {
    let mut keys = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for (role, key) in [
        ("root", root_cert),
        ("targets", targets),
        ("snapshot", snapshot),
        ("timestamp", timestamp),
    ] {
        let id = key.key_id();
        keys.insert(id.clone(), key.clone());
        roles.insert(
            role.to_string(),
            RoleKeys {
                keyids: vec![id],
                threshold: 1,
            },
        );
    }
    Root {
        type_tag: TypeTag::default(),
        consistent_snapshot: false,
        expires: expiry(now, ROOT_LIFETIME_MONTHS),
        keys,
        roles,
        version: Version::new(1).expect("1 is a valid version"),
    }
}

/// The next version of root: `edit` applied, version + 1 (the server accepts exactly + 1,
/// PROTOCOL.md §2.2), expiring at `expires`.
pub fn next_root(
    current: &Root,
    expires: Expires,
    edit: impl FnOnce(&mut Root),
) -> Result<Root, VersionCeiling> {
    let mut next = current.clone();
    edit(&mut next);
    next.version = next_version(current.version)?;
    next.expires = expires;
    Ok(next)
}

/// A role already at the highest version clients accept (2^53, the largest integer every JSON
/// reader holds exactly): no next version exists. Re-signing the same version would be refused
/// by the server as a conflict and retried in vain, so it is its own error.
#[derive(Debug, thiserror::Error)]
#[error(
    "the role is at version {version}, the highest a client accepts: no further version can be published (a version this high is the mark of a fast-forward attack or a broken writer; rotating the role's key lets readers recover, the repository owner must re-initialise it to write again)"
)]
pub struct VersionCeiling {
    pub version: u64,
}

impl VersionCeiling {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

fn next_version(current: Version) -> Result<Version, VersionCeiling> {
    current.next().ok_or(VersionCeiling {
        version: current.get(),
    })
}

/// Make `key` the only key of the top-level `role` (threshold 1), as the Go client's
/// `key rotate` does. Keys this removed that no other role lists leave `keys`, except root
/// certificates: the Go client keeps those (PROTOCOL.md §4.2, "after root rotation the old root
/// certificate stays in `keys`").
pub fn replace_role_key(root: &mut Root, role: &RoleName, key: &PublicKey) {
    replace_role_keys(root, role, std::slice::from_ref(key), 1);
}

/// Make `keys` the keys of the top-level `role`, `threshold` of them required (a root with
/// several keys); otherwise as [`replace_role_key`]. The caller checks `1 <= threshold <=
/// keys.len()`.
pub fn replace_role_keys(root: &mut Root, role: &RoleName, keys: &[PublicKey], threshold: u32) {
    let ids: Vec<KeyId> = keys.iter().map(PublicKey::key_id).collect();
    let removed = root
        .roles
        .insert(
            role.to_string(),
            RoleKeys {
                keyids: ids.clone(),
                threshold,
            },
        )
        .map(|old| old.keyids)
        .unwrap_or_default();
    for (id, key) in ids.into_iter().zip(keys) {
        root.keys.insert(id, key.clone());
    }
    if *role == RoleName::root() {
        return;
    }
    for old in removed {
        let still_used = root.roles.values().any(|r| r.keyids.contains(&old));
        if !still_used {
            root.keys.remove(&old);
        }
    }
}

/// An empty targets role at `version` (a new repository, or a delegate's first file).
pub fn empty_targets(version: u64, now: DateTime<Utc>) -> Targets {
    Targets {
        type_tag: TypeTag::default(),
        delegations: Delegations::default(),
        expires: expiry(now, TARGETS_LIFETIME_MONTHS),
        targets: BTreeMap::new(),
        version: Version::new(version.max(1)).expect("positive version"),
    }
}

/// The next version of a targets role: `edit` applied, version + 1, expiry renewed.
pub fn next_targets(
    current: Option<&Targets>,
    now: DateTime<Utc>,
    edit: impl FnOnce(&mut Targets),
) -> Result<Targets, VersionCeiling> {
    let mut next = match current {
        Some(t) => t.clone(),
        None => empty_targets(1, now),
    };
    edit(&mut next);
    if let Some(t) = current {
        next.version = next_version(t.version)?;
    }
    next.expires = expiry(now, TARGETS_LIFETIME_MONTHS);
    Ok(next)
}

/// [`next_targets`] for a role whose current file may not be loaded: a delegation whose stale
/// file was skipped (retired key, expired) starts over from an empty file, at a version above
/// `in_use` (its floor or the stale file's version), since the server keeps versions increasing
/// and readers refuse a lower one as a rollback.
pub fn next_targets_above(
    current: Option<&Targets>,
    in_use: u64,
    now: DateTime<Utc>,
    edit: impl FnOnce(&mut Targets),
) -> Result<Targets, VersionCeiling> {
    let mut next = next_targets(current, now, edit)?;
    if current.is_none() && in_use > 0 {
        let stale = Version::new(in_use).expect("positive version");
        next.version = next_version(stale)?;
    }
    Ok(next)
}

/// How many keys a root lists and how many of them must sign (`init` and `key rotate REPO root`
/// with `--root-keys N --root-threshold T`); the default is one key.
#[derive(Debug, Clone, Copy)]
pub struct RootShape {
    pub keys: u32,
    pub threshold: u32,
}

impl Default for RootShape {
    fn default() -> Self {
        RootShape {
            keys: 1,
            threshold: 1,
        }
    }
}

impl RootShape {
    /// `1 <= threshold <= keys`, refused as the user's input otherwise.
    pub fn check(self) -> Result<RootShape, DelegationError> {
        if self.threshold == 0 || self.threshold > self.keys {
            return Err(DelegationError::Threshold {
                role: RoleName::root(),
                threshold: self.threshold,
                keys: usize::try_from(self.keys).unwrap_or(usize::MAX),
            });
        }
        Ok(self)
    }
}

/// Why a delegation change was refused before anything was signed.
#[derive(Debug, thiserror::Error)]
pub enum DelegationError {
    /// One public key given twice (bare and as a certificate, or the same file twice), or again
    /// under another id than the delegation already lists it: thresholds count distinct keys, so
    /// a second listing would only make a threshold look met by one key (SECURITY-TESTS
    /// scenario 46).
    #[error(
        "{role}: key {key_id} is the same public key as {same_as}{where_}; give each key once, in one form",
        where_ = if *already_listed { ", which the delegation already lists" } else { "" }
    )]
    DuplicateKey {
        role: RoleName,
        key_id: KeyId,
        same_as: KeyId,
        already_listed: bool,
    },
    #[error("{role}: key {key_id} cannot be used")]
    UnusableKey {
        role: RoleName,
        key_id: KeyId,
        #[source]
        source: Box<KeyError>,
    },
    #[error("{role}: threshold {threshold} needs between 1 and {keys} distinct keys")]
    Threshold {
        role: RoleName,
        threshold: u32,
        keys: usize,
    },
    /// `delegate remove --key` of the key that would leave fewer keys than signatures needed.
    #[error(
        "{role}: removing key {key_id} leaves {left} key(s), below its threshold of {threshold}; add the replacement first ('delegate add REPO NAME --key NEW.pem') or replace it in one step ('delegate rotate REPO NAME --key NEW.pem --replace {key_id}')"
    )]
    ThresholdUnmet {
        role: RoleName,
        key_id: KeyId,
        left: usize,
        threshold: u32,
    },
    /// A key id (or prefix) the delegation does not list.
    #[error("{role} lists no key {given}; it lists {listed} ('delegate list REPO' shows them)")]
    KeyNotListed {
        role: RoleName,
        given: String,
        listed: String,
    },
    /// A key id prefix that matches several of the delegation's keys.
    #[error("{role}: key id prefix {given} matches {matches}; give more of the id")]
    AmbiguousKey {
        role: RoleName,
        given: String,
        matches: String,
    },
    /// `delegate rotate` on a delegation with several keys, without saying which one goes.
    #[error(
        "{role} has {keys} keys ({listed}); say which one the new key replaces with --replace KEYID"
    )]
    WhichKey {
        role: RoleName,
        keys: usize,
        listed: String,
    },
}

impl DelegationError {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Usage
    }
}

/// Checks that `keys` are pairwise distinct public keys (by key material, however wrapped) and
/// that `threshold` is within 1..=their number. Returns each key's material.
pub fn distinct_keys(
    role: &RoleName,
    keys: &[PublicKey],
    threshold: u32,
) -> Result<Vec<KeyMaterial>, DelegationError> {
    let mut seen: Vec<(KeyMaterial, KeyId)> = Vec::new();
    for key in keys {
        let key_id = key.key_id();
        let material = key
            .material()
            .map_err(|source| DelegationError::UnusableKey {
                role: role.clone(),
                key_id: key_id.clone(),
                source: Box::new(source),
            })?;
        if let Some((_, same_as)) = seen.iter().find(|(m, _)| m == &material) {
            return Err(DelegationError::DuplicateKey {
                role: role.clone(),
                key_id,
                same_as: same_as.clone(),
                already_listed: false,
            });
        }
        seen.push((material, key_id));
    }
    if threshold == 0 || threshold as usize > seen.len() {
        return Err(DelegationError::Threshold {
            role: role.clone(),
            threshold,
            keys: seen.len(),
        });
    }
    Ok(seen.into_iter().map(|(m, _)| m).collect())
}

/// Create or extend the delegation `role` in `targets`: its keys and paths are added to what it
/// had, and its threshold set to `threshold` (`None`: an existing delegation keeps its own, a new
/// one gets 1; adding a key must never quietly lower a threshold). The threshold is checked
/// against the delegation's keys after the change. Returns whether anything changed. A key the delegation already
/// lists under the same id is no change (a retried `delegate add` is idempotent); the same
/// public key under another id is refused, as are duplicates among `keys` ([`distinct_keys`]).
pub fn add_delegation(
    targets: &mut Targets,
    role: &RoleName,
    keys: &[PublicKey],
    paths: &[String],
    threshold: Option<u32>,
) -> Result<bool, DelegationError> {
    // Duplicates among the given keys; the threshold is checked on the result below.
    let materials = distinct_keys(role, keys, 1)?;
    if let Some(entry) = targets.delegations.roles.iter().find(|d| &d.name == role) {
        for (key, material) in keys.iter().zip(&materials) {
            let key_id = key.key_id();
            let listed_as = entry.keyids.iter().find(|id| {
                **id != key_id
                    && targets
                        .delegations
                        .keys
                        .get(*id)
                        .and_then(|k| k.material().ok())
                        .is_some_and(|m| &m == material)
            });
            if let Some(same_as) = listed_as {
                return Err(DelegationError::DuplicateKey {
                    role: role.clone(),
                    key_id,
                    same_as: same_as.clone(),
                    already_listed: true,
                });
            }
        }
    }
    let before = targets.delegations.clone();
    let ids: Vec<_> = keys.iter().map(PublicKey::key_id).collect();
    for key in keys {
        targets.delegations.keys.insert(key.key_id(), key.clone());
    }
    match targets
        .delegations
        .roles
        .iter_mut()
        .find(|d| &d.name == role)
    {
        Some(entry) => {
            for id in ids {
                if !entry.keyids.contains(&id) {
                    entry.keyids.push(id);
                }
            }
            for p in paths {
                if !entry.paths.contains(p) {
                    entry.paths.push(p.clone());
                }
            }
            if let Some(threshold) = threshold {
                entry.threshold = threshold;
            }
        }
        None => targets.delegations.roles.push(DelegatedRole {
            keyids: ids,
            name: role.clone(),
            paths: paths.to_vec(),
            threshold: threshold.unwrap_or(1),
        }),
    }
    let entry = targets
        .delegations
        .roles
        .iter()
        .find(|d| &d.name == role)
        .expect("added above");
    if entry.threshold == 0 || entry.threshold as usize > entry.keyids.len() {
        let err = DelegationError::Threshold {
            role: role.clone(),
            threshold: entry.threshold,
            keys: entry.keyids.len(),
        };
        targets.delegations = before;
        return Err(err);
    }
    Ok(targets.delegations != before)
}

/// The key id of `role`'s entry that `given` names: the whole id or a unique prefix of it (as
/// `delegate list` shortens them).
fn listed_key(entry: &DelegatedRole, given: &str) -> Result<KeyId, DelegationError> {
    let listed = |ids: &[&KeyId]| {
        ids.iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let matches: Vec<&KeyId> = entry
        .keyids
        .iter()
        .filter(|id| !given.is_empty() && id.as_str().starts_with(given))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(DelegationError::KeyNotListed {
            role: entry.name.clone(),
            given: given.to_owned(),
            listed: listed(&entry.keyids.iter().collect::<Vec<_>>()),
        }),
        many => Err(DelegationError::AmbiguousKey {
            role: entry.name.clone(),
            given: given.to_owned(),
            matches: listed(many),
        }),
    }
}

/// Drops from `delegations.keys` every key no delegation lists any more.
fn drop_unused_keys(targets: &mut Targets) {
    let used: std::collections::BTreeSet<_> = targets
        .delegations
        .roles
        .iter()
        .flat_map(|d| d.keyids.iter().cloned())
        .collect();
    targets.delegations.keys.retain(|id, _| used.contains(id));
}

/// Revoke one key of the delegation `role` (`given`: its id or a unique prefix). Refused when
/// the keys left could not meet the threshold. Returns the key id removed, or `None` when the
/// delegation does not exist (the caller's "no such delegation").
pub fn remove_delegation_key(
    targets: &mut Targets,
    role: &RoleName,
    given: &str,
) -> Result<Option<KeyId>, DelegationError> {
    let Some(entry) = targets
        .delegations
        .roles
        .iter_mut()
        .find(|d| &d.name == role)
    else {
        return Ok(None);
    };
    let key_id = listed_key(entry, given)?;
    let left = entry.keyids.len() - 1;
    if left < entry.threshold as usize {
        return Err(DelegationError::ThresholdUnmet {
            role: role.clone(),
            key_id,
            left,
            threshold: entry.threshold,
        });
    }
    entry.keyids.retain(|id| id != &key_id);
    drop_unused_keys(targets);
    Ok(Some(key_id))
}

/// Replace one key of the delegation `role` by `new` in one change, keeping its paths and
/// threshold: `replace` names the key that goes (its id or a unique prefix), optional when the
/// delegation has one key. Returns the key id replaced, or `None` when the delegation does not
/// exist. Replacing a key by itself is no change (`Ok(Some(id))` with `targets` untouched: the
/// caller sees that nothing changed by comparing).
pub fn rotate_delegation_key(
    targets: &mut Targets,
    role: &RoleName,
    new: &PublicKey,
    replace: Option<&str>,
) -> Result<Option<KeyId>, DelegationError> {
    let new_material = distinct_keys(role, std::slice::from_ref(new), 1)?
        .pop()
        .expect("one key");
    let new_id = new.key_id();
    let Some(entry) = targets.delegations.roles.iter().find(|d| &d.name == role) else {
        return Ok(None);
    };
    let old_id = match replace {
        Some(given) => listed_key(entry, given)?,
        None => match entry.keyids.as_slice() {
            [one] => one.clone(),
            many => {
                return Err(DelegationError::WhichKey {
                    role: role.clone(),
                    keys: many.len(),
                    listed: many
                        .iter()
                        .map(KeyId::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        },
    };
    if old_id == new_id {
        return Ok(Some(old_id));
    }
    // The new key must not already be listed for the role under any id (it would count twice).
    let already = entry.keyids.iter().filter(|id| **id != old_id).find(|id| {
        **id == new_id
            || targets
                .delegations
                .keys
                .get(*id)
                .and_then(|k| k.material().ok())
                .is_some_and(|m| m == new_material)
    });
    if let Some(same_as) = already {
        return Err(DelegationError::DuplicateKey {
            role: role.clone(),
            key_id: new_id,
            same_as: same_as.clone(),
            already_listed: true,
        });
    }
    targets.delegations.keys.insert(new_id.clone(), new.clone());
    let entry = targets
        .delegations
        .roles
        .iter_mut()
        .find(|d| &d.name == role)
        .expect("found above");
    for id in &mut entry.keyids {
        if *id == old_id {
            *id = new_id.clone();
        }
    }
    drop_unused_keys(targets);
    Ok(Some(old_id))
}

/// Remove the delegation `role`, and the keys no remaining delegation uses. Returns whether it
/// existed.
pub fn remove_delegation(targets: &mut Targets, role: &RoleName) -> bool {
    let before = targets.delegations.roles.len();
    targets.delegations.roles.retain(|d| &d.name != role);
    let used: std::collections::BTreeSet<_> = targets
        .delegations
        .roles
        .iter()
        .flat_map(|d| d.keyids.iter().cloned())
        .collect();
    targets.delegations.keys.retain(|id, _| used.contains(id));
    targets.delegations.roles.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::key::KeyType;
    use crate::tuf::metadata::Metadata;

    #[test]
    fn next_targets_bumps_the_version_and_keeps_other_targets() {
        let now = Utc::now();
        let mut first = empty_targets(4, now);
        first
            .targets
            .insert("a".into(), crate::tuf::metadata::FileMeta::of(b"a"));
        let next = next_targets(Some(&first), now, |t| {
            t.targets
                .insert("b".into(), crate::tuf::metadata::FileMeta::of(b"b"));
        })
        .unwrap();
        assert_eq!(next.version.get(), 5);
        assert_eq!(next.targets.len(), 2);
        assert!(next.check().is_ok());
        let fresh = next_targets(None, now, |_| {}).unwrap();
        assert_eq!(fresh.version.get(), 1);
    }

    #[test]
    fn a_role_at_the_highest_version_has_no_next_one_and_is_never_re_signed_at_the_same() {
        let now = Utc::now();
        let mut top = empty_targets(1, now);
        top.version = Version::new(1 << 53).expect("2^53 is the highest version");
        let err = next_targets(Some(&top), now, |_| {}).unwrap_err();
        assert_eq!(err.version, 1 << 53);
        assert_eq!(err.failure(), crate::failure::Failure::Untrusted);
    }

    #[test]
    fn adding_a_delegation_twice_changes_nothing_the_second_time_and_removal_drops_its_keys() {
        let now = Utc::now();
        let mut t = empty_targets(1, now);
        let qa = RoleName::parse("targets/qa").unwrap();
        let key = PublicKey::new(KeyType::Ed25519, vec![7; 32]);
        let paths = vec!["approvals/".to_string(), "_manifesto/".to_string()];
        assert!(add_delegation(&mut t, &qa, std::slice::from_ref(&key), &paths, Some(1)).unwrap());
        assert!(!add_delegation(&mut t, &qa, std::slice::from_ref(&key), &paths, Some(1)).unwrap());
        assert!(t.check().is_ok());
        assert_eq!(t.delegations.roles[0].paths, paths);
        assert!(remove_delegation(&mut t, &qa));
        assert!(t.delegations.keys.is_empty());
        assert!(!remove_delegation(&mut t, &qa));
    }

    #[test]
    fn adding_a_key_to_a_threshold_2_delegation_keeps_its_threshold_unless_one_is_given() {
        let (a, b, c) = (ed_key(1), ed_key(2), ed_key(3));
        let (mut t, qa) = qa_with(&[a, b], 2);
        let paths = vec!["approvals/".to_string(), "_manifesto/".to_string()];
        assert!(add_delegation(&mut t, &qa, std::slice::from_ref(&c), &paths, None).unwrap());
        assert_eq!(t.delegations.roles[0].threshold, 2);
        assert_eq!(t.delegations.roles[0].keyids.len(), 3);
        // An explicit threshold is set, checked against the keys the delegation then has.
        let d = ed_key(4);
        assert!(add_delegation(&mut t, &qa, std::slice::from_ref(&d), &paths, Some(4)).unwrap());
        assert_eq!(t.delegations.roles[0].threshold, 4);
        let before = t.delegations.clone();
        let e = ed_key(5);
        let err =
            add_delegation(&mut t, &qa, std::slice::from_ref(&e), &paths, Some(6)).unwrap_err();
        assert!(
            matches!(
                err,
                DelegationError::Threshold {
                    threshold: 6,
                    keys: 5,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            t.delegations, before,
            "a refused change leaves the delegation as it was"
        );
    }

    fn ed_key(byte: u8) -> PublicKey {
        PublicKey::new(KeyType::Ed25519, vec![byte; 32])
    }

    fn qa_with(keys: &[PublicKey], threshold: u32) -> (Targets, RoleName) {
        let mut t = empty_targets(1, Utc::now());
        let qa = RoleName::parse("targets/qa").unwrap();
        let paths = vec!["approvals/".to_string(), "_manifesto/".to_string()];
        add_delegation(&mut t, &qa, keys, &paths, Some(threshold)).unwrap();
        (t, qa)
    }

    #[test]
    fn revoking_one_key_by_id_prefix_keeps_the_others_and_drops_the_unused_key() {
        let (a, b) = (ed_key(1), ed_key(2));
        let (mut t, qa) = qa_with(&[a.clone(), b.clone()], 1);
        let id = a.key_id();
        let prefix = &id.as_str()[..12];
        let removed = remove_delegation_key(&mut t, &qa, prefix).unwrap();
        assert_eq!(removed, Some(a.key_id()));
        assert_eq!(t.delegations.roles[0].keyids, [b.key_id()]);
        assert!(!t.delegations.keys.contains_key(&a.key_id()));
        assert!(t.check().is_ok());
    }

    #[test]
    fn revoking_a_key_below_the_threshold_is_refused_as_usage_and_changes_nothing() {
        let (a, b) = (ed_key(1), ed_key(2));
        let (mut t, qa) = qa_with(&[a.clone(), b], 2);
        let before = t.clone();
        let err = remove_delegation_key(&mut t, &qa, a.key_id().as_str()).unwrap_err();
        assert!(
            matches!(
                err,
                DelegationError::ThresholdUnmet {
                    left: 1,
                    threshold: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.failure(), crate::failure::Failure::Usage);
        assert!(err.to_string().contains("delegate rotate"), "{err}");
        assert_eq!(t.delegations, before.delegations);
        let (mut single, qa) = qa_with(&[ed_key(3)], 1);
        let only = single.delegations.roles[0].keyids[0].clone();
        assert!(remove_delegation_key(&mut single, &qa, only.as_str()).is_err());
    }

    #[test]
    fn revoking_an_unlisted_key_or_on_a_missing_delegation_says_so() {
        let (mut t, qa) = qa_with(&[ed_key(1)], 1);
        let err = remove_delegation_key(&mut t, &qa, "ffff").unwrap_err();
        assert!(
            matches!(err, DelegationError::KeyNotListed { .. }),
            "{err:?}"
        );
        let err = remove_delegation_key(&mut t, &qa, "").unwrap_err();
        assert!(
            matches!(err, DelegationError::KeyNotListed { .. }),
            "{err:?}"
        );
        let dev = RoleName::parse("targets/dev").unwrap();
        assert_eq!(remove_delegation_key(&mut t, &dev, "ab").unwrap(), None);
    }

    #[test]
    fn rotating_a_delegation_key_swaps_it_in_place_keeping_paths_and_threshold() {
        let (old, new) = (ed_key(1), ed_key(2));
        let (mut t, qa) = qa_with(std::slice::from_ref(&old), 1);
        let paths = t.delegations.roles[0].paths.clone();
        let replaced = rotate_delegation_key(&mut t, &qa, &new, None).unwrap();
        assert_eq!(replaced, Some(old.key_id()));
        assert_eq!(t.delegations.roles[0].keyids, [new.key_id()]);
        assert_eq!(t.delegations.roles[0].paths, paths);
        assert_eq!(t.delegations.roles[0].threshold, 1);
        assert!(!t.delegations.keys.contains_key(&old.key_id()));
        // Again with the same key: no change.
        let before = t.clone();
        rotate_delegation_key(&mut t, &qa, &new, None).unwrap();
        assert_eq!(t.delegations, before.delegations);
    }

    #[test]
    fn rotating_one_of_several_keys_needs_replace_and_never_lists_a_key_twice() {
        let (a, b, c) = (ed_key(1), ed_key(2), ed_key(3));
        let (mut t, qa) = qa_with(&[a.clone(), b.clone()], 2);
        let err = rotate_delegation_key(&mut t, &qa, &c, None).unwrap_err();
        assert!(
            matches!(err, DelegationError::WhichKey { keys: 2, .. }),
            "{err:?}"
        );
        let err = rotate_delegation_key(&mut t, &qa, &b, Some(a.key_id().as_str())).unwrap_err();
        assert!(
            matches!(err, DelegationError::DuplicateKey { .. }),
            "{err:?}"
        );
        rotate_delegation_key(&mut t, &qa, &c, Some(a.key_id().as_str())).unwrap();
        assert_eq!(t.delegations.roles[0].keyids, [c.key_id(), b.key_id()]);
        assert_eq!(t.delegations.roles[0].threshold, 2);
    }

    /// A P-256 public key as a bare SPKI and as a certificate of the same key (two key ids).
    fn bare_and_certificate() -> (PublicKey, PublicKey) {
        let key = crate::tuf::test_support::TestKey::ecdsa();
        let (_, cert) = key.certificate_twin("example.com/org/app");
        (key.public, cert)
    }

    #[test]
    fn one_key_given_bare_and_as_certificate_is_refused_as_a_delegation_of_threshold_2() {
        let mut t = empty_targets(1, Utc::now());
        let qa = RoleName::parse("targets/qa").unwrap();
        let (bare, cert) = bare_and_certificate();
        assert_ne!(bare.key_id(), cert.key_id());
        let paths = vec!["_manifesto/".to_string()];
        for keys in [
            vec![bare.clone(), cert.clone()],
            vec![bare.clone(), bare.clone()],
        ] {
            let err = add_delegation(&mut t, &qa, &keys, &paths, Some(2)).unwrap_err();
            assert!(
                matches!(&err, DelegationError::DuplicateKey { key_id, same_as, already_listed: false, .. }
                    if key_id == &keys[1].key_id() && same_as == &bare.key_id()),
                "{err:?}"
            );
            assert_eq!(err.failure(), crate::failure::Failure::Usage);
        }
        assert!(t.delegations.roles.is_empty(), "nothing changed");
        // Already in the delegation in one form, then given in the other.
        assert!(add_delegation(&mut t, &qa, std::slice::from_ref(&bare), &paths, Some(1)).unwrap());
        let before = t.clone();
        let err =
            add_delegation(&mut t, &qa, std::slice::from_ref(&cert), &paths, Some(1)).unwrap_err();
        assert!(
            matches!(
                &err,
                DelegationError::DuplicateKey {
                    already_listed: true,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(t, before);
        // Threshold 0 and a threshold above the number of distinct keys.
        for threshold in [0, 2] {
            assert!(matches!(
                add_delegation(
                    &mut t,
                    &qa,
                    std::slice::from_ref(&bare),
                    &paths,
                    Some(threshold),
                ),
                Err(DelegationError::Threshold { keys: 1, .. })
            ));
        }
    }

    #[test]
    fn next_root_is_exactly_one_version_up_with_the_new_expiry() {
        let key = |b: u8| PublicKey::new(KeyType::Ed25519, vec![b; 32]);
        let now = Utc::now();
        let v1 = initial_root(&key(1), &key(2), &key(3), &key(4), now);
        let expires = expiry_after(now, std::time::Duration::from_secs(90 * 86400)).unwrap();
        let v2 = next_root(&v1, expires.clone(), |r| {
            replace_role_key(r, &RoleName::timestamp(), &key(5));
        })
        .unwrap();
        assert_eq!(v2.version.get(), 2);
        assert_eq!(v2.expires, expires);
        assert_eq!(v2.roles["timestamp"].keyids, vec![key(5).key_id()]);
        assert!(v2.check().is_ok());
        assert!(expiry_after(now, std::time::Duration::from_secs(u64::MAX)).is_none());
        let ten_thousand_years = std::time::Duration::from_secs(10_000 * 366 * 86_400);
        assert!(
            expiry_after(now, ten_thousand_years).is_none(),
            "Go cannot write it"
        );
    }

    #[test]
    fn a_replaced_key_leaves_root_unless_another_role_uses_it_or_it_is_a_root_key() {
        let key = |b: u8| PublicKey::new(KeyType::Ed25519, vec![b; 32]);
        let now = Utc::now();
        // targets and snapshot share key 2.
        let mut root = initial_root(&key(1), &key(2), &key(2), &key(4), now);
        replace_role_key(&mut root, &RoleName::targets(), &key(5));
        assert!(
            root.keys.contains_key(&key(2).key_id()),
            "snapshot still uses it"
        );
        replace_role_key(&mut root, &RoleName::snapshot(), &key(6));
        assert!(
            !root.keys.contains_key(&key(2).key_id()),
            "no role uses it any more"
        );
        replace_role_key(&mut root, &RoleName::root(), &key(7));
        assert_eq!(root.roles["root"].keyids, vec![key(7).key_id()]);
        assert!(
            root.keys.contains_key(&key(1).key_id()),
            "old root keys stay"
        );
        assert_eq!(root.roles["root"].threshold, 1);
        assert!(root.check().is_ok());
    }

    #[test]
    fn initial_root_lists_each_key_for_its_role_with_threshold_1() {
        let key = |b: u8| PublicKey::new(KeyType::Ed25519, vec![b; 32]);
        let root = initial_root(&key(1), &key(2), &key(3), &key(4), Utc::now());
        assert_eq!(root.version.get(), 1);
        assert_eq!(root.keys.len(), 4);
        assert_eq!(root.roles["targets"].keyids, vec![key(2).key_id()]);
        assert!(root.expires.at() > Utc::now() + chrono::Duration::days(3640));
    }
}
