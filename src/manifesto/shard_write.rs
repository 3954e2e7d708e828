//! The signed side of a write (put, put --batch, delete): a set of target edits by one signing
//! role turned into the new versions of the files that change: the role's bins, their parent
//! when a bin is new or gains a path, and (for the owner) `targets` when it first delegates to
//! its shard root (docs/layout.md, "Sharded targets").
//!
//! A role whose own file still holds manifesto targets (the older, unsharded layout) has them
//! all moved into bins by the same update, so one signed change migrates it and nothing is lost.
//! Only targets shaped like manifesto's ([`shard::is_manifesto_target`]) move: another client's
//! (a Docker Content Trust tag) stays in place.
//!
//! [`plan`] is pure over the verified state; [`load_for_write`] fetches what it needs first.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::shard;
use crate::error::Error;
use crate::registry::reference::Digest;
use crate::tuf::build;
use crate::tuf::key::PublicKey;
use crate::tuf::metadata::{DelegatedRole, FileMeta, Targets, Version};
use crate::tuf::names::{KeyId, RoleName};
use crate::tuf::trusted::TrustedState;
use crate::tuf::update::{MetadataSource, UpdateError, Updater};

/// Target edits by one signing role: `Some(meta)` signs `name`, `None` removes it.
pub type Edits = BTreeMap<String, Option<FileMeta>>;

/// Versions claimed by files that exist on the server but cannot be verified now (a bin whose
/// parent no longer delegates it, or one under a stale parent): the next file must be above.
pub type Claimed = BTreeMap<RoleName, u64>;

/// Fetch what [`plan`] needs to rewrite `signer`'s bins with `labels`: the chain to `signer`,
/// its shard root, those bins, and the bins its own file's unsharded targets move into.
pub async fn load_for_write<S: MetadataSource>(
    updater: &mut Updater<S>,
    signer: &RoleName,
    labels: &BTreeSet<String>,
) -> Result<Claimed, UpdateError> {
    updater.load_chain(signer).await?;
    let root = shard::shard_root(signer);
    if &root != signer {
        updater.load_chain(&root).await?;
    }
    let mut wanted = labels.clone();
    wanted.extend(
        legacy(updater.state(), signer)
            .keys()
            .filter_map(|n| shard::label_of_target(n)),
    );
    let mut claimed = Claimed::new();
    for label in wanted {
        let bin = shard::bin_labelled(signer, &label);
        if updater.state().expected_file(&bin).is_none() {
            continue; // never published
        }
        let parent_delegates = updater
            .state()
            .targets_role(&root)
            .is_some_and(|t| t.delegations.roles.iter().any(|d| d.name == bin));
        if parent_delegates {
            updater.load_chain(&bin).await?;
        }
        if updater.state().targets_role(&bin).is_none() {
            claimed.insert(bin.clone(), updater.version_claimed(&bin).await?);
        }
    }
    Ok(claimed)
}

/// The manifesto targets `signer` signs in its own file (the unsharded layout), which a write
/// moves into bins.
fn legacy(state: &TrustedState, signer: &RoleName) -> BTreeMap<String, FileMeta> {
    current(state, signer)
        .map(|t| {
            t.targets
                .iter()
                .filter(|(name, _)| shard::is_manifesto_target(name))
                .map(|(n, m)| (n.clone(), m.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// A role's current content: verified, or expired but validly signed (renewed by a write).
fn current<'a>(state: &'a TrustedState, role: &RoleName) -> Option<&'a Targets> {
    state
        .targets_role(role)
        .or_else(|| state.renewable(role))
        .map(crate::tuf::verify::Verified::get)
}

/// Every target `signer` signs about `image` (a bin's, or its own file's in the older layout),
/// by name.
pub fn signed_about(
    state: &TrustedState,
    signer: &RoleName,
    image: &Digest,
) -> BTreeMap<String, FileMeta> {
    let about = |name: &str| {
        name.split_once('/')
            .is_some_and(|(_, d)| d == image.as_str())
    };
    let mut out: BTreeMap<String, FileMeta> = legacy(state, signer)
        .into_iter()
        .filter(|(n, _)| about(n))
        .collect();
    if let Some(bin) = current(state, &shard::bin_for(signer, image)) {
        for (n, m) in &bin.targets {
            if about(n) {
                out.insert(n.clone(), m.clone());
            }
        }
    }
    out
}

/// The keys and threshold `signer` signs with: root's for `targets`, its parent's delegation
/// entry for a delegate. Bins are delegated to exactly these.
fn authority(
    state: &TrustedState,
    signer: &RoleName,
) -> Option<(Vec<KeyId>, BTreeMap<KeyId, PublicKey>, u32)> {
    match signer.parent() {
        None => {
            let root = state.root();
            let keys = root.role(signer)?;
            let pubs = keys
                .keyids
                .iter()
                .filter_map(|id| root.keys.get(id).map(|k| (id.clone(), k.clone())))
                .collect();
            Some((keys.keyids.clone(), pubs, keys.threshold))
        }
        Some(parent) => {
            let parent = state.targets_role(&parent)?.get();
            let entry = parent
                .delegations
                .roles
                .iter()
                .find(|d| &d.name == signer)?;
            let pubs = entry
                .keyids
                .iter()
                .filter_map(|id| {
                    parent
                        .delegations
                        .keys
                        .get(id)
                        .map(|k| (id.clone(), k.clone()))
                })
                .collect();
            Some((entry.keyids.clone(), pubs, entry.threshold))
        }
    }
}

/// The new files of `signer`'s write of `edits`, parents first, each at a version above any it
/// or the server has used. Empty when nothing changes.
pub fn plan(
    state: &TrustedState,
    signer: &RoleName,
    edits: &Edits,
    claimed: &Claimed,
    now: DateTime<Utc>,
) -> Result<Vec<(RoleName, Targets)>, Error> {
    let (keyids, keys, threshold) = authority(state, signer).ok_or_else(|| Error::NotARole {
        role: signer.clone(),
        gun: state.gun().to_owned(),
    })?;
    let root_name = shard::shard_root(signer);
    let owner = &root_name != signer;
    let moved = legacy(state, signer);

    // Each touched bin: its current content, the targets moving out of the role's own file, then
    // the edits (the bin's own entry wins over an older unsharded copy).
    let mut bins: BTreeMap<String, BTreeMap<String, FileMeta>> = BTreeMap::new();
    let labels: BTreeSet<String> = edits
        .keys()
        .chain(moved.keys())
        .filter_map(|n| shard::label_of_target(n))
        .collect();
    for label in &labels {
        let bin = shard::bin_labelled(signer, label);
        let mut content: BTreeMap<String, FileMeta> = moved
            .iter()
            .filter(|(n, _)| shard::label_of_target(n).as_deref() == Some(label))
            .map(|(n, m)| (n.clone(), m.clone()))
            .collect();
        if let Some(t) = current(state, &bin) {
            content.extend(t.targets.clone());
        }
        for (name, edit) in edits {
            if shard::label_of_target(name).as_deref() != Some(label) {
                continue;
            }
            match edit {
                Some(meta) => content.insert(name.clone(), meta.clone()),
                None => content.remove(name),
            };
        }
        bins.insert(label.clone(), content);
    }

    // The shard root: one delegation entry per bin, all to the signer's current keys.
    let root_current = current(state, &root_name);
    let mut root_next = root_current
        .cloned()
        .unwrap_or_else(|| build::empty_targets(1, now));
    if !owner {
        root_next
            .targets
            .retain(|n, _| !shard::is_manifesto_target(n));
    }
    for (label, content) in &bins {
        let bin = shard::bin_labelled(signer, label);
        let mut paths: BTreeSet<String> = root_next
            .delegations
            .roles
            .iter()
            .find(|d| d.name == bin)
            .map(|d| d.paths.iter().cloned().collect())
            .unwrap_or_default();
        paths.extend(content.keys().filter_map(|n| shard::bin_path(n)));
        let entry = DelegatedRole {
            keyids: keyids.clone(),
            name: bin.clone(),
            paths: paths.into_iter().collect(),
            threshold,
        };
        match root_next
            .delegations
            .roles
            .iter_mut()
            .find(|d| d.name == bin)
        {
            Some(d) => *d = entry,
            None => root_next.delegations.roles.push(entry),
        }
    }
    // A retired key keeps no authority over any bin (the bins it alone signed stop verifying,
    // as the role's own file does after a key change).
    for d in root_next
        .delegations
        .roles
        .iter_mut()
        .filter(|d| shard::bin_of(&d.name).is_some())
    {
        d.keyids = keyids.clone();
        d.threshold = threshold;
    }
    root_next
        .delegations
        .roles
        .sort_by(|a, b| a.name.cmp(&b.name));
    keep_used_keys(&mut root_next, &keys);

    let mut files = Vec::new();
    if owner {
        // `targets` delegates the shard root to its own keys, first, so the owner's word keeps the
        // precedence its own entries had.
        let targets_current = current(state, signer);
        let mut targets_next = targets_current
            .cloned()
            .unwrap_or_else(|| build::empty_targets(1, now));
        targets_next
            .targets
            .retain(|n, _| !shard::is_manifesto_target(n));
        let entry = DelegatedRole {
            keyids: keyids.clone(),
            name: root_name.clone(),
            paths: vec![String::new()],
            threshold,
        };
        targets_next
            .delegations
            .roles
            .retain(|d| d.name != root_name);
        targets_next.delegations.roles.insert(0, entry);
        keep_used_keys(&mut targets_next, &keys);
        push_if_changed(
            &mut files,
            state,
            signer,
            targets_current,
            targets_next,
            claimed,
            now,
        )?;
    }
    push_if_changed(
        &mut files,
        state,
        &root_name,
        root_current,
        root_next,
        claimed,
        now,
    )?;
    for (label, content) in bins {
        let bin = shard::bin_labelled(signer, &label);
        let bin_current = current(state, &bin);
        let mut next = bin_current
            .cloned()
            .unwrap_or_else(|| build::empty_targets(1, now));
        next.targets = content;
        next.delegations = Default::default();
        push_if_changed(&mut files, state, &bin, bin_current, next, claimed, now)?;
    }
    Ok(files)
}

/// `delegations.keys` holding exactly the keys its roles list (the signer's added).
fn keep_used_keys(t: &mut Targets, signer_keys: &BTreeMap<KeyId, PublicKey>) {
    let used: BTreeSet<&KeyId> = t.delegations.roles.iter().flat_map(|d| &d.keyids).collect();
    let mut keys = std::mem::take(&mut t.delegations.keys);
    keys.extend(signer_keys.iter().map(|(k, v)| (k.clone(), v.clone())));
    keys.retain(|id, _| used.contains(id));
    t.delegations.keys = keys;
}

/// The version after `in_use` (1 for a role never published).
fn version_above(in_use: u64) -> Result<Version, build::VersionCeiling> {
    let next = match in_use {
        0 => Version::new(1),
        n => Version::new(n).and_then(Version::next),
    };
    next.ok_or(build::VersionCeiling { version: in_use })
}

fn push_if_changed(
    files: &mut Vec<(RoleName, Targets)>,
    state: &TrustedState,
    role: &RoleName,
    current: Option<&Targets>,
    mut next: Targets,
    claimed: &Claimed,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let same = current.is_some_and(|c| {
        c.targets == next.targets
            && c.delegations == next.delegations
            && state.targets_role(role).is_some()
    });
    if same {
        return Ok(());
    }
    let in_use = state
        .version_in_use(role)
        .max(claimed.get(role).copied().unwrap_or(0))
        .max(current.map_or(0, |c| c.version.get()));
    next.version = version_above(in_use)?;
    next.expires = build::expiry(now, build::TARGETS_LIFETIME_MONTHS);
    files.push((role.clone(), next));
    Ok(())
}

/// Load the owner's shard root and every bin under it: what [`rekey_owner`] re-signs.
pub async fn load_owner_bins<S: MetadataSource>(
    updater: &mut Updater<S>,
) -> Result<(), UpdateError> {
    let root = shard::shard_root(&RoleName::targets());
    updater.load_chain(&root).await?;
    let bins: Vec<RoleName> = updater
        .state()
        .targets_role(&root)
        .map(|t| t.delegations.roles.iter().map(|d| d.name.clone()).collect())
        .unwrap_or_default();
    for bin in bins {
        if updater.state().expected_file(&bin).is_some() {
            updater.load_chain(&bin).await?;
        }
    }
    Ok(())
}

/// A rotation of the targets key: `targets` (the next version the caller built) delegates the
/// owner's shard root to the new keys, and the shard root and every bin under it are re-signed
/// as new versions with their content kept, so the retired key keeps no authority over any of
/// the owner's entries and nothing the owner signed is lost. Returns the re-versioned files
/// (sign them with the new key); `targets` is edited in place.
pub fn rekey_owner(
    state: &TrustedState,
    targets: &mut Targets,
    keys: &BTreeMap<KeyId, PublicKey>,
    threshold: u32,
    now: DateTime<Utc>,
) -> Result<Vec<(RoleName, Targets)>, Error> {
    let root_name = shard::shard_root(&RoleName::targets());
    let ids: Vec<KeyId> = keys.keys().cloned().collect();
    let Some(entry) = targets
        .delegations
        .roles
        .iter_mut()
        .find(|d| d.name == root_name)
    else {
        return Ok(Vec::new()); // the owner never wrote a bin
    };
    entry.keyids = ids.clone();
    entry.threshold = threshold;
    keep_used_keys(targets, keys);
    let mut files = Vec::new();
    let Some(root_current) = current(state, &root_name) else {
        return Ok(files);
    };
    let mut root_next = root_current.clone();
    for d in &mut root_next.delegations.roles {
        d.keyids = ids.clone();
        d.threshold = threshold;
    }
    keep_used_keys(&mut root_next, keys);
    let bins: Vec<RoleName> = root_next
        .delegations
        .roles
        .iter()
        .map(|d| d.name.clone())
        .collect();
    // Forced new versions: the content is the same, the signature is not.
    let mut forced = |role: &RoleName, next: Targets| -> Result<(), Error> {
        let mut next = next;
        next.version = version_above(state.version_in_use(role))?;
        next.expires = build::expiry(now, build::TARGETS_LIFETIME_MONTHS);
        files.push((role.clone(), next));
        Ok(())
    };
    forced(&root_name, root_next)?;
    for bin in bins {
        if let Some(t) = current(state, &bin) {
            forced(&bin, t.clone())?;
        }
    }
    Ok(files)
}
