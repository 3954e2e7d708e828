//! New metadata for publishing: a repository's first root and targets, and the next version of
//! a targets role with a change applied. Pure: keys and `now` come from the caller.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};

use super::key::PublicKey;
use super::metadata::{
    DelegatedRole, Delegations, Expires, RoleKeys, Root, Targets, TypeTag, Version,
};
use super::names::RoleName;

/// The Go client's default lifetimes: root 10 years, targets 3 years.
pub const ROOT_LIFETIME_MONTHS: u32 = 120;
pub const TARGETS_LIFETIME_MONTHS: u32 = 36;

pub fn expiry(now: DateTime<Utc>, months: u32) -> Expires {
    Expires::new(now.checked_add_months(Months::new(months)).unwrap_or(now))
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
) -> Targets {
    let mut next = match current {
        Some(t) => t.clone(),
        None => empty_targets(1, now),
    };
    edit(&mut next);
    if let Some(t) = current {
        next.version = t.version.next().unwrap_or(t.version);
    }
    next.expires = expiry(now, TARGETS_LIFETIME_MONTHS);
    next
}

/// Create or extend the delegation `role` in `targets`: its keys and paths are added to what it
/// had, and its threshold set. Returns whether anything changed.
pub fn add_delegation(
    targets: &mut Targets,
    role: &RoleName,
    keys: &[PublicKey],
    paths: &[String],
    threshold: u32,
) -> bool {
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
            entry.threshold = threshold;
        }
        None => targets.delegations.roles.push(DelegatedRole {
            keyids: ids,
            name: role.clone(),
            paths: paths.to_vec(),
            threshold,
        }),
    }
    targets.delegations != before
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
        });
        assert_eq!(next.version.get(), 5);
        assert_eq!(next.targets.len(), 2);
        assert!(next.check().is_ok());
        let fresh = next_targets(None, now, |_| {});
        assert_eq!(fresh.version.get(), 1);
    }

    #[test]
    fn adding_a_delegation_twice_changes_nothing_the_second_time_and_removal_drops_its_keys() {
        let now = Utc::now();
        let mut t = empty_targets(1, now);
        let qa = RoleName::parse("targets/qa").unwrap();
        let key = PublicKey::new(KeyType::Ed25519, vec![7; 32]);
        let paths = vec!["approvals/".to_string(), "_manifesto/".to_string()];
        assert!(add_delegation(
            &mut t,
            &qa,
            std::slice::from_ref(&key),
            &paths,
            1
        ));
        assert!(!add_delegation(
            &mut t,
            &qa,
            std::slice::from_ref(&key),
            &paths,
            1
        ));
        assert!(t.check().is_ok());
        assert_eq!(t.delegations.roles[0].paths, paths);
        assert!(remove_delegation(&mut t, &qa));
        assert!(t.delegations.keys.is_empty());
        assert!(!remove_delegation(&mut t, &qa));
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
