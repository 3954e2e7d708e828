//! The `_manifesto` index tag, always derived from the signed targets (docs/layout.md, "Scaling
//! the index").
//!
//! The tag is an OCI index of shard indexes, one per digest label, each annotated with the
//! fingerprint of the signed bins it was built from. A put rebuilds the shards of the labels it
//! touched plus any shard whose fingerprint no longer matches the verified snapshot, so it
//! rewrites a bounded part of the index whatever the repository's size. When a signed file that
//! is not a bin moved (the rest fingerprint), or the tag is missing or in the old single-index
//! format, the whole index is rebuilt from a walk over every signed target.
//!
//! Writers race on the tag (it is a plain registry tag), so whoever writes it rebuilds from the
//! signed state read *after* their own publish, and checks once more afterwards that the signed
//! state did not move and that the tag is still what they wrote; `manifesto repair` rebuilds
//! every shard on demand.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::layout::{self, IndexEntry, ShardRef, TopIndex};
use super::remote::{Remote, trust_now};
use super::shard;
use crate::config::Settings;
use crate::error::Error;
use crate::registry::RegistryWrite;
use crate::registry::client::{RawManifest, media_types, sha256_digest};
use crate::registry::error::RegistryError;
use crate::registry::reference::RepositoryRef;
use crate::tuf::metadata::{FileMeta, Snapshot};
use crate::tuf::names::RoleName;
use crate::tuf::trusted::TrustedTarget;
use crate::tuf::update::{MetadataSource, Updater};

/// Rounds of rebuild-and-check before a writer leaves the tag to the writer that moved it.
const ROUNDS: usize = 4;

/// Every (manifesto target, signing role) pair the verified state vouches for, across all roles,
/// one digest label at a time: the bins of a label are dropped from memory once read, so a walk
/// over a repository of any size holds one label's bins (plus what it returns).
pub async fn all_signed<S: MetadataSource>(
    updater: &mut Updater<S>,
) -> Result<Vec<TrustedTarget>, Error> {
    let mut all = Vec::new();
    for label in all_labels() {
        all.extend(
            shard::signed_with_label(updater, &label)
                .await
                .map_err(Error::Update)?,
        );
        updater.forget(|r| shard::bin_of(r).is_some_and(|(_, l)| l == label));
    }
    Ok(all)
}

/// The signers of each name (named by signing role), every name once.
async fn signers_of_all<S: MetadataSource>(
    updater: &mut Updater<S>,
    names: impl IntoIterator<Item = String>,
) -> Result<Vec<TrustedTarget>, Error> {
    let mut all = Vec::new();
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name.clone()) {
            continue;
        }
        all.extend(
            shard::signers_of(updater, &name)
                .await
                .map_err(Error::Update)?,
        );
    }
    Ok(all)
}

/// The fingerprint of label `label`: over every snapshot entry that is a bin with that label.
/// Without bins (the older layout) it is the fingerprint of the empty set for every label.
pub fn shard_fingerprint(snapshot: Option<&Snapshot>, label: &str) -> String {
    layout::fingerprint(snapshot_files(snapshot).filter(|(role, _)| {
        RoleName::parse(role)
            .ok()
            .is_some_and(|r| shard::bin_of(&r).is_some_and(|(_, l)| l == label))
    }))
}

/// Every label's fingerprint, the empty-set one for labels without bins (256 entries).
pub fn shard_fingerprints(snapshot: Option<&Snapshot>) -> BTreeMap<String, String> {
    let mut by_label: BTreeMap<String, Vec<(&str, &FileMeta)>> =
        all_labels().into_iter().map(|l| (l, Vec::new())).collect();
    for (role, meta) in snapshot_files(snapshot) {
        let Ok(name) = RoleName::parse(role) else {
            continue;
        };
        if let Some((_, label)) = shard::bin_of(&name)
            && let Some(files) = by_label.get_mut(label)
        {
            files.push((role, meta));
        }
    }
    by_label
        .into_iter()
        .map(|(label, files)| (label, layout::fingerprint(files)))
        .collect()
}

/// The fingerprint of what the signed files other than bins say about the index: the manifesto
/// targets they hold themselves (an unsharded role) and every delegation that is not a bin (its
/// keys, threshold, paths, and whether it was skipped as stale). When it moves, the whole index is
/// rebuilt. A bin's own entry in its parent is left out: it is always delegated to its signing
/// role's current keys, so a new bin or a bin gaining a type (its paths grow) changes no shard
/// but its own, which its bin fingerprint already covers. Loads every role that is not a bin
/// (the signing roles and the owner's shard root: a handful of files).
pub async fn rest_fingerprint<S: MetadataSource>(
    updater: &mut Updater<S>,
) -> Result<String, Error> {
    let mut stack = vec![RoleName::targets()];
    let mut lines = Vec::new();
    while let Some(role) = stack.pop() {
        if updater.state().targets_role(&role).is_none() {
            if updater.state().expected_file(&role).is_none() {
                continue;
            }
            updater.load_chain(&role).await.map_err(Error::Update)?;
        }
        if let Some(skipped) = updater.state().skipped(&role) {
            lines.push(format!("skipped {role} {}", skipped.reason));
            continue;
        }
        let Some(file) = updater.state().targets_role(&role) else {
            continue;
        };
        lines.push(format!("role {role}"));
        for (name, meta) in &file.targets {
            if shard::is_manifesto_target(name) {
                lines.push(format!(
                    "target {name} {}",
                    meta.sha256_hex().unwrap_or_default()
                ));
            }
        }
        for d in &file.delegations.roles {
            if shard::bin_of(&d.name).is_some() {
                continue;
            }
            let ids: Vec<&str> = d
                .keyids
                .iter()
                .map(crate::tuf::names::KeyId::as_str)
                .collect();
            lines.push(format!(
                "delegates {} {} {} {}",
                d.name,
                ids.join(","),
                d.threshold,
                d.paths.join(",")
            ));
            stack.push(d.name.clone());
        }
    }
    lines.sort();
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    for line in &lines {
        hash.update(line.as_bytes());
        hash.update(b"\n");
    }
    Ok(hex::encode(hash.finish()))
}

fn snapshot_files(snapshot: Option<&Snapshot>) -> impl Iterator<Item = (&str, &FileMeta)> {
    snapshot
        .into_iter()
        .flat_map(|s| s.meta.iter().map(|(role, meta)| (role.as_str(), meta)))
}

/// The 256 digest labels, `00` to `ff`.
pub fn all_labels() -> Vec<String> {
    (0..=255u8).map(|b| format!("{b:02x}")).collect()
}

/// The index entries the signed state implies.
pub fn index_entries(signed: &[TrustedTarget]) -> Vec<IndexEntry> {
    signed
        .iter()
        .filter_map(|t| {
            Some(IndexEntry {
                image: layout::parse_manifesto_target(&t.name)?,
                role: t.role.to_string(),
                manifest: layout::blob_digest(&t.meta)?,
                size: t.meta.length,
            })
        })
        .collect()
}

/// The index entries of one label: only the delegations that may hold it are loaded.
async fn label_entries<S: MetadataSource>(
    updater: &mut Updater<S>,
    label: &str,
) -> Result<Vec<IndexEntry>, Error> {
    let names: Vec<String> = updater
        .list_targets_where(&|p| shard::path_may_hold_label(p, label), &|n| {
            layout::parse_manifesto_target(n).is_some()
                && shard::label_of_target(n).as_deref() == Some(label)
        })
        .await
        .map_err(Error::Update)?
        .into_iter()
        .map(|t| t.name)
        .collect();
    Ok(index_entries(&signers_of_all(updater, names).await?))
}

/// What one index update did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexOutcome {
    /// Shard indexes the `_manifesto` tag now lists.
    pub shards: usize,
    /// Shard indexes rebuilt in the last round (pushed when their bytes were new).
    pub shards_rebuilt: usize,
    /// Entries over all shards, when the last round rebuilt the whole index.
    pub entries: Option<usize>,
    /// Whether the last round rebuilt the whole index.
    pub full: bool,
}

/// Which shards a round rebuilds.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    /// The labels a writer changed, plus every shard the snapshot shows is stale.
    Touched(&'a BTreeSet<String>),
    /// Every shard (repair).
    All,
}

/// Bring the `_manifesto` tag up to date after a change to the images labelled `touched`.
pub(crate) async fn reconcile_index(
    settings: &Settings,
    remote: &impl Remote,
    registry: &impl RegistryWrite,
    repo: &RepositoryRef,
    touched: &BTreeSet<String>,
) -> Result<IndexOutcome, Error> {
    reconcile(settings, remote, registry, repo, Scope::Touched(touched)).await
}

/// Rebuild (and push) every shard and the `_manifesto` tag from a walk over every signed target.
pub(crate) async fn rebuild_index(
    settings: &Settings,
    remote: &impl Remote,
    registry: &impl RegistryWrite,
    repo: &RepositoryRef,
) -> Result<IndexOutcome, Error> {
    reconcile(settings, remote, registry, repo, Scope::All).await
}

/// The `_manifesto` tag as stored, `None` when there is none.
async fn current_top(
    registry: &impl RegistryWrite,
    repo: &RepositoryRef,
) -> Result<Option<RawManifest>, Error> {
    match registry
        .get_manifest(
            repo.repository(),
            layout::INDEX_TAG,
            &[media_types::OCI_INDEX],
        )
        .await
    {
        Ok(m) => Ok(Some(m)),
        Err(RegistryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every entry the `_manifesto` tag lists, in either format, shards fetched by digest; `None`
/// when the tag, or a shard it names, is missing or garbled.
pub(crate) async fn read_index(
    registry: &impl RegistryWrite,
    repo: &RepositoryRef,
) -> Result<Option<Vec<IndexEntry>>, Error> {
    let Some(top) = current_top(registry, repo).await? else {
        return Ok(None);
    };
    let shards = match layout::parse_top_index(&top.bytes) {
        None => return Ok(None),
        Some(TopIndex::Flat(entries)) => return Ok(Some(entries)),
        Some(TopIndex::Sharded { shards, .. }) => shards,
    };
    let mut all = Vec::new();
    for s in shards.values() {
        let Ok(m) = registry
            .get_manifest(
                repo.repository(),
                &s.manifest.to_string(),
                &[media_types::OCI_INDEX],
            )
            .await
        else {
            return Ok(None);
        };
        if m.digest != s.manifest {
            return Ok(None);
        }
        let entries = layout::parse_index(&m.bytes);
        if entries
            .iter()
            .any(|e| shard::label(&e.image) != s.label.as_str())
        {
            return Ok(None);
        }
        all.extend(entries);
    }
    all.sort();
    Ok(Some(all))
}

/// The shard of `label` built from `entries` (which all carry that label).
fn shard_of(label: &str, fingerprint: &str, entries: &[IndexEntry]) -> (ShardRef, Vec<u8>) {
    let bytes = layout::index_bytes(entries);
    let shard = ShardRef {
        label: label.to_owned(),
        fingerprint: fingerprint.to_owned(),
        manifest: sha256_digest(&bytes),
        size: bytes.len() as u64,
    };
    (shard, bytes)
}

async fn reconcile(
    settings: &Settings,
    remote: &impl Remote,
    registry: &impl RegistryWrite,
    repo: &RepositoryRef,
    scope: Scope<'_>,
) -> Result<IndexOutcome, Error> {
    // The tag and the trust update do not depend on each other: both at once.
    let (mut current, first) = futures_util::try_join!(current_top(registry, repo), async {
        trust_now(remote, settings, repo).await.map_err(Error::from)
    })?;
    let mut first = Some(first);
    let mut outcome = IndexOutcome::default();
    for _ in 0..ROUNDS {
        let recorded = current
            .as_ref()
            .and_then(|m| layout::parse_top_index(&m.bytes));
        let mut trusted = match first.take() {
            Some(trusted) => trusted,
            None => trust_now(remote, settings, repo).await?,
        };
        let snapshot = trusted.updater.state().snapshot().map(|s| s.get().clone());
        let before = snapshot.as_ref().map(|s| s.version.get());
        let fingerprints = shard_fingerprints(snapshot.as_ref());
        let rest = rest_fingerprint(&mut trusted.updater).await?;

        // Which labels to rebuild, and the shards kept as they are.
        let (kept, rebuild): (BTreeMap<String, ShardRef>, Option<BTreeSet<String>>) =
            match (scope, recorded) {
                (Scope::Touched(touched), Some(TopIndex::Sharded { shards, rest: was }))
                    if was == rest =>
                {
                    let empty = layout::fingerprint([]);
                    let stale = fingerprints.iter().filter(|(label, fp)| {
                        shards.get(*label).map_or(&empty, |s| &s.fingerprint) != *fp
                    });
                    let labels: BTreeSet<String> = touched
                        .iter()
                        .filter(|l| shard::is_label(l))
                        .cloned()
                        .chain(stale.map(|(l, _)| l.clone()))
                        .collect();
                    let kept = shards
                        .into_iter()
                        .filter(|(l, _)| !labels.contains(l))
                        .collect();
                    (kept, Some(labels))
                }
                _ => (BTreeMap::new(), None),
            };
        let recorded_digests: BTreeMap<String, _> = current
            .as_ref()
            .and_then(|m| match layout::parse_top_index(&m.bytes) {
                Some(TopIndex::Sharded { shards, .. }) => Some(shards),
                _ => None,
            })
            .unwrap_or_default()
            .into_iter()
            .map(|(l, s)| (l, s.manifest))
            .collect();

        let mut by_label: BTreeMap<String, Vec<IndexEntry>> = BTreeMap::new();
        match &rebuild {
            Some(labels) => {
                for label in labels {
                    let entries = label_entries(&mut trusted.updater, label).await?;
                    by_label.insert(label.clone(), entries);
                }
            }
            None => {
                let signed = all_signed(&mut trusted.updater).await?;
                for e in index_entries(&signed) {
                    by_label
                        .entry(shard::label(&e.image).to_owned())
                        .or_default()
                        .push(e);
                }
            }
        }
        trusted.persist()?;
        drop(trusted);

        let mut shards = kept;
        outcome = IndexOutcome {
            shards_rebuilt: by_label.len(),
            entries: rebuild
                .is_none()
                .then(|| by_label.values().map(Vec::len).sum()),
            full: rebuild.is_none(),
            shards: 0,
        };
        for (label, entries) in &by_label {
            if entries.is_empty() {
                continue;
            }
            let fingerprint = fingerprints
                .get(label)
                .cloned()
                .unwrap_or_else(|| layout::fingerprint([]));
            let (shard, bytes) = shard_of(label, &fingerprint, entries);
            // Repair pushes every shard (the registry may have lost one the tag names).
            if matches!(scope, Scope::All) || recorded_digests.get(label) != Some(&shard.manifest) {
                registry
                    .put_manifest(
                        repo.repository(),
                        None,
                        media_types::OCI_INDEX,
                        Bytes::from(bytes),
                    )
                    .await?;
            }
            shards.insert(label.clone(), shard);
        }
        outcome.shards = shards.len();
        let top = layout::top_index_bytes(&shards.into_values().collect::<Vec<_>>(), &rest);
        let written = sha256_digest(&top);
        if current.as_ref().map(|m| &m.digest) != Some(&written) {
            registry
                .put_manifest(
                    repo.repository(),
                    Some(layout::INDEX_TAG),
                    media_types::OCI_INDEX,
                    Bytes::from(top),
                )
                .await?;
        }
        // Another writer may have published, or written the tag, between our read and our
        // write: if so, rebuild from what is there now.
        let (after, now_there) = futures_util::try_join!(
            async {
                let trusted = trust_now(remote, settings, repo).await?;
                trusted.persist()?;
                Ok::<_, Error>(trusted.updater.state().snapshot().map(|s| s.version.get()))
            },
            current_top(registry, repo)
        )?;
        current = now_there;
        if after == before && current.as_ref().map(|m| &m.digest) == Some(&written) {
            break;
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_fingerprint_moves_with_its_own_bins_only() {
        use crate::tuf::test_support as ts;
        let files = |bin_3f: &[u8], qa: &[u8]| {
            let mut f = BTreeMap::new();
            for (role, bytes) in [
                ("targets", b"t".as_slice()),
                ("targets/qa", qa),
                ("targets/qa/3f", bin_3f),
                ("targets/_manifesto", b"m".as_slice()),
                ("targets/_manifesto/3f", b"o3f".as_slice()),
                ("targets/_manifesto/a0", b"oa0".as_slice()),
            ] {
                f.insert(RoleName::parse(role).unwrap(), bytes.to_vec());
            }
            ts::snapshot_meta(3, ts::far(), &f)
        };
        let before = files(b"qa3f", b"qa");
        let bin_moved = files(b"qa3f, changed", b"qa");
        let role_moved = files(b"qa3f", b"qa, changed");
        let empty = layout::fingerprint([]);
        let fp = |s: &Snapshot, l: &str| shard_fingerprint(Some(s), l);
        assert_ne!(fp(&before, "3f"), fp(&bin_moved, "3f"));
        assert_eq!(fp(&before, "a0"), fp(&bin_moved, "a0"));
        assert_ne!(fp(&before, "a0"), empty);
        assert_eq!(fp(&before, "00"), empty, "a label without bins");
        assert_eq!(shard_fingerprint(None, "3f"), empty);
        assert_eq!(fp(&before, "3f"), fp(&role_moved, "3f"));
        let all = shard_fingerprints(Some(&before));
        assert_eq!(all.len(), 256);
        assert_eq!(all["3f"], fp(&before, "3f"));
        assert_eq!(all["00"], empty);
        // The documented definition: sorted `role sha256` lines.
        let lines = format!(
            "targets/_manifesto/3f {}\ntargets/qa/3f {}\n",
            before.meta["targets/_manifesto/3f"].sha256_hex().unwrap(),
            before.meta["targets/qa/3f"].sha256_hex().unwrap()
        );
        assert_eq!(
            fp(&before, "3f"),
            crate::registry::client::sha256_digest(lines.as_bytes()).hex()
        );
    }
}
