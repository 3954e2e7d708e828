//! `repair`: make the registry match the signed targets again.
//!
//! Every signed `_manifesto/<digest>` names a manifest by hash. If the registry lost it (or its
//! config), it is rebuilt from the role's signed entries — the same bytes `put` made, since the
//! layout is a pure function of them — and pushed only if it hashes to the signed digest. Then
//! the `_manifesto` index is rebuilt from the signed state: every shard index pushed again and
//! the tag rewritten, whatever format it was in.

use bytes::Bytes;
use serde::Serialize;

use super::index::{all_signed, read_index, rebuild_index};
use super::layout::{self, Subject};
use super::remote::{Network, Remote, trust_now};
use crate::config::Settings;
use crate::error::Error;
use crate::registry::client::{media_types, sha256_digest};
use crate::registry::reference::RepositoryRef;
use crate::registry::{Registry, RegistryWrite};

#[derive(Debug, Default, Serialize)]
pub struct RepairReport {
    pub repository: String,
    pub manifests_checked: usize,
    /// Manifests that were missing and were pushed again.
    pub manifests_restored: Vec<String>,
    /// Signed manifests that could not be rebuilt (their entries or image are gone).
    pub manifests_unrecoverable: Vec<String>,
    pub index_entries: usize,
    /// Shard indexes (one per digest label in use) rebuilt and pushed.
    pub index_shards: usize,
    pub index_was_current: bool,
    /// Delegations whose file is stale (a retired key, expired): their entries are absent from
    /// the rebuilt index until re-signed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_roles: Vec<StaleRole>,
}

#[derive(Debug, Serialize)]
pub struct StaleRole {
    pub role: String,
    pub reason: String,
    pub next_step: String,
}

pub async fn repair(settings: &Settings, repo: &RepositoryRef) -> Result<RepairReport, Error> {
    repair_via(&Network, settings, repo).await
}

/// `repair` over any [`Remote`].
pub(crate) async fn repair_via(
    remote: &impl Remote,
    settings: &Settings,
    repo: &RepositoryRef,
) -> Result<RepairReport, Error> {
    let registry = remote.registry(settings, repo.registry()).await?;
    let mut trusted = trust_now(remote, settings, repo).await?;
    let signed = all_signed(&mut trusted.updater).await?;
    let mut report = RepairReport {
        repository: repo.gun(),
        ..RepairReport::default()
    };
    for t in signed
        .iter()
        .filter(|t| t.name.starts_with(layout::MANIFESTO_PREFIX))
    {
        let (Some(image), Some(manifest_digest)) = (
            layout::parse_manifesto_target(&t.name),
            layout::blob_digest(&t.meta),
        ) else {
            continue;
        };
        report.manifests_checked += 1;
        let present = registry
            .get_manifest(
                repo.repository(),
                &manifest_digest.to_string(),
                &[media_types::OCI_MANIFEST],
            )
            .await
            .is_ok();
        if present {
            continue;
        }
        // The walk above let go of the bins it read; reload the one this manifest comes from.
        trusted
            .updater
            .load_chain(&super::shard::bin_for(&t.role, &image))
            .await
            .map_err(Error::Update)?;
        let signed_about =
            super::shard_write::signed_about(trusted.updater.state(), &t.role, &image);
        let entries = layout::entries_in(&signed_about, &image);
        let resolved = registry.resolve(&repo.with_digest(image.clone())).await;
        let rebuilt = resolved.ok().map(|r| {
            let subject = Subject {
                media_type: r.media_type,
                digest: image.clone(),
                size: r.size,
            };
            let config = layout::config_bytes(&image, &t.role, &entries);
            let manifest = layout::manifest_bytes(&subject, &config, &entries);
            (config, manifest)
        });
        match rebuilt {
            Some((config, manifest)) if sha256_digest(&manifest) == manifest_digest => {
                registry
                    .push_blob_bytes(repo.repository(), Bytes::from(config))
                    .await?;
                registry
                    .put_manifest(
                        repo.repository(),
                        None,
                        media_types::OCI_MANIFEST,
                        Bytes::from(manifest),
                    )
                    .await?;
                report.manifests_restored.push(manifest_digest.to_string());
            }
            _ => report
                .manifests_unrecoverable
                .push(format!("{} ({})", manifest_digest, t.role)),
        }
    }
    report.stale_roles = trusted
        .updater
        .state()
        .skipped_roles()
        .map(|s| StaleRole {
            role: s.role.to_string(),
            reason: s.reason.to_string(),
            next_step: crate::tuf::update::next_step(s),
        })
        .collect();
    trusted.persist()?;
    drop(trusted);
    let before = read_index(&registry, repo).await.ok().flatten();
    let was_sharded = registry
        .get_manifest(
            repo.repository(),
            layout::INDEX_TAG,
            &[media_types::OCI_INDEX],
        )
        .await
        .ok()
        .and_then(|m| layout::parse_top_index(&m.bytes))
        .is_some_and(|t| matches!(t, layout::TopIndex::Sharded { .. }));
    let outcome = rebuild_index(settings, remote, &registry, repo).await?;
    let after = read_index(&registry, repo).await?.unwrap_or_default();
    report.index_entries = outcome.entries.unwrap_or(after.len());
    report.index_shards = outcome.shards;
    report.index_was_current = was_sharded && before.is_some_and(|b| b == after);
    Ok(report)
}
