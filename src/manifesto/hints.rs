//! Hints for mistakes that can be guessed: a type or role name one or two keystrokes away from
//! one that exists, and the delegation whose key the store holds when the owner's is missing.
//! Pure functions over names and the verified state; the flows call them only on their error
//! paths, so a correct command pays nothing for them.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::failure::Failure;
use crate::keys::KeyStoreError;
use crate::keys::store::KeyStore;
use crate::manifesto::MetadataType;
use crate::registry::Digest;
use crate::tuf::names::{KeyId, RoleName};
use crate::tuf::trusted::TrustedState;

/// Errors that name what was probably meant. Each keeps the exit code of the error it refines.
#[derive(Debug, thiserror::Error)]
pub enum Hinted {
    /// `get` of a type the image does not have, one or two keystrokes from one it has.
    #[error(
        "no {metadata_type} metadata for {image} ({digest}); did you mean '{closest}'? ('manifesto get {image} {closest}'; 'manifesto list {image}' shows what is signed)"
    )]
    NoSuchType {
        metadata_type: MetadataType,
        image: String,
        digest: Digest,
        closest: MetadataType,
    },
    /// Signing as `targets` (no `--role`) without the owner's key, while the store holds a key
    /// of a delegation that may sign the target.
    #[error(
        "no private key for targets of {gun} in this store, but it holds a key of {}, which may sign {name}: pass --role {}",
        list(roles), role_flag(&roles[0])
    )]
    UseDelegationRole {
        gun: String,
        name: String,
        /// Never empty.
        roles: Vec<RoleName>,
        #[source]
        source: KeyStoreError,
    },
    /// `--role` names no role of the repository, but one close to it.
    #[error(
        "{role} is not a role of {gun}; did you mean --role {}? ('manifesto delegate list {gun}' lists the delegations)",
        role_flag(closest)
    )]
    NoSuchRole {
        role: RoleName,
        gun: String,
        closest: RoleName,
    },
    /// `init` of a repository nobody pushed to: probably a typo.
    #[error(
        "{gun} does not exist in the registry {registry}: nothing was pushed there, so initialising it would create trust data for a repository nobody uses (a typo?); check the name, push an image first, or pass --allow-new-repository to initialise it anyway"
    )]
    NoSuchRepository { gun: String, registry: String },
}

impl From<Hinted> for Error {
    fn from(h: Hinted) -> Error {
        // Boxed: the hints carry several names, and `Error` stays small.
        Error::Hinted(Box::new(h))
    }
}

impl Hinted {
    pub fn failure(&self) -> Failure {
        match self {
            Hinted::NoSuchType { .. }
            | Hinted::NoSuchRole { .. }
            | Hinted::NoSuchRepository { .. } => Failure::NotFound,
            Hinted::UseDelegationRole { source, .. } => source.failure(),
        }
    }
}

fn list(roles: &[RoleName]) -> String {
    roles
        .iter()
        .map(RoleName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The optimal-string-alignment edit distance: insertions, deletions, substitutions and swaps of
/// two neighbours (`aprovals` → `approvals` is 1, `sacn` → `scan` is 1).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `given`, when it is close enough to be a likely typo: at most one
/// edit per three characters of `given` (and at least one), never `given` itself. On a tie, the
/// first in the candidates' order.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (given.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != given)
        .map(|c| (edit_distance(given, c), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// How `--role` names a role: `qa` for `targets/qa`, the full name for nested delegations.
pub fn role_flag(role: &RoleName) -> String {
    match role.as_str().strip_prefix("targets/") {
        Some(short) if !short.contains('/') => short.to_string(),
        _ => role.to_string(),
    }
}

/// Every delegation the loaded state declares, parents first.
pub fn delegations(state: &TrustedState) -> Vec<RoleName> {
    let mut out = Vec::new();
    let mut pending = vec![RoleName::targets()];
    while let Some(parent) = pending.pop() {
        let Some(meta) = state.targets_role(&parent) else {
            continue;
        };
        for d in &meta.delegations.roles {
            out.push(d.name.clone());
            pending.push(d.name.clone());
        }
    }
    out
}

/// The closest existing role to a `--role` that is not one (compared as `--role` spells them).
pub fn closest_role(state: &TrustedState, role: &RoleName) -> Option<RoleName> {
    let known = delegations(state);
    let given = role_flag(role);
    let flags: Vec<String> = known.iter().map(role_flag).collect();
    let best = closest(&given, flags.iter().map(String::as_str))?;
    known.into_iter().find(|r| role_flag(r) == best)
}

/// The delegations allowed to sign `name` that list a key whose id is in `held` (the key ids of
/// the local store), in delegation order.
pub fn delegations_holding(
    state: &TrustedState,
    held: &BTreeSet<KeyId>,
    name: &str,
) -> Vec<RoleName> {
    let mut out = Vec::new();
    let mut pending = vec![RoleName::targets()];
    while let Some(parent) = pending.pop() {
        let Some(meta) = state.targets_role(&parent) else {
            continue;
        };
        for d in &meta.delegations.roles {
            pending.push(d.name.clone());
            let may_sign = state.role_may_sign(&d.name, name).unwrap_or(false);
            if may_sign && d.keyids.iter().any(|id| held.contains(id)) {
                out.push(d.name.clone());
            }
        }
    }
    out
}

/// Refine a failure to find the signing keys of `role`: signing as `targets` without the
/// owner's key, while `store` holds a key of a delegation that may sign `name`, names that
/// delegation's `--role`. Anything else is returned as it was.
pub fn missing_key(
    state: &TrustedState,
    role: &RoleName,
    store: &KeyStore,
    name: &str,
    err: KeyStoreError,
) -> Error {
    if *role != RoleName::targets() || !matches!(err, KeyStoreError::MissingKey { .. }) {
        return err.into();
    }
    let Ok(stored) = store.list() else {
        return err.into();
    };
    let held: BTreeSet<KeyId> = stored.into_iter().map(|k| k.key_id).collect();
    let roles = delegations_holding(state, &held, name);
    if roles.is_empty() {
        return err.into();
    }
    Hinted::UseDelegationRole {
        gun: state.gun().to_owned(),
        name: name.to_owned(),
        roles,
        source: err,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_substitutions_and_swaps_as_one() {
        assert_eq!(edit_distance("approvals", "approvals"), 0);
        assert_eq!(edit_distance("aprovals", "approvals"), 1);
        assert_eq!(edit_distance("approvalz", "approvals"), 1);
        assert_eq!(edit_distance("approvalss", "approvals"), 1);
        assert_eq!(edit_distance("sacn", "scan"), 1);
        assert_eq!(edit_distance("", "qa"), 2);
        assert_eq!(edit_distance("seccomp", "scan"), 5);
    }

    #[test]
    fn only_a_close_candidate_is_suggested_and_the_closest_wins() {
        let types = ["approvals", "scan", "seccomp"];
        assert_eq!(closest("aprovals", types), Some("approvals"));
        assert_eq!(closest("sacn", types), Some("scan"));
        assert_eq!(closest("secomp", types), Some("seccomp"));
        // Far from everything, or the name itself: no hint.
        assert_eq!(closest("sbom", types), None);
        assert_eq!(closest("approvals", types), None);
        assert_eq!(closest("x", ["qa"]), None);
        assert_eq!(closest("qaa", ["qa", "ops"]), Some("qa"));
        assert_eq!(closest("aprovals", std::iter::empty()), None);
    }

    #[test]
    fn role_flags_are_short_for_first_level_delegations() {
        let qa = RoleName::parse("targets/qa").unwrap();
        let nested = RoleName::parse("targets/qa/alice").unwrap();
        assert_eq!(role_flag(&qa), "qa");
        assert_eq!(role_flag(&nested), "targets/qa/alice");
        assert_eq!(role_flag(&RoleName::targets()), "targets");
    }
}
