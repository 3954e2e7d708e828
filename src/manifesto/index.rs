//! The `_manifesto` index tag, always derived from the signed targets.
//!
//! Writers race on the tag (it is a plain registry tag), so whoever writes it rebuilds it from
//! the signed state read *after* their own publish, and checks once more afterwards that the
//! signed state did not move meanwhile; `manifesto repair` does the same on demand.

use bytes::Bytes;

use super::layout::{self, IndexEntry};
use super::remote::{Remote, trust_now};
use crate::config::Settings;
use crate::error::Error;
use crate::registry::RegistryWrite;
use crate::registry::client::media_types;
use crate::registry::reference::RepositoryRef;
use crate::tuf::trusted::TrustedTarget;
use crate::tuf::update::{MetadataSource, Updater};

/// Every (target, role) pair the verified state vouches for, across all roles.
pub async fn all_signed<S: MetadataSource>(
    updater: &mut Updater<S>,
) -> Result<Vec<TrustedTarget>, Error> {
    let names: Vec<String> = updater
        .list_targets()
        .await
        .map_err(Error::Update)?
        .into_iter()
        .map(|t| t.name)
        .collect();
    let mut all = Vec::new();
    for name in names {
        all.extend(
            super::shard::signers_of(updater, &name)
                .await
                .map_err(Error::Update)?,
        );
    }
    Ok(all)
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

/// Rewrite the `_manifesto` tag from the signed targets; returns what it now lists.
pub(crate) async fn reconcile_index(
    settings: &Settings,
    remote: &impl Remote,
    registry: &impl RegistryWrite,
    repo: &RepositoryRef,
) -> Result<Vec<IndexEntry>, Error> {
    let mut entries = Vec::new();
    for _ in 0..3 {
        let (before, signed) = {
            let mut trusted = trust_now(remote, settings, repo).await?;
            let version = trusted.updater.state().snapshot().map(|s| s.version.get());
            let signed = all_signed(&mut trusted.updater).await?;
            trusted.persist()?;
            (version, signed)
        };
        entries = index_entries(&signed);
        registry
            .put_manifest(
                repo.repository(),
                Some(layout::INDEX_TAG),
                media_types::OCI_INDEX,
                Bytes::from(layout::index_bytes(&entries)),
            )
            .await?;
        // Another writer may have published between our read and our write: if the signed
        // state moved, rebuild from the newer one.
        let after = {
            let trusted = trust_now(remote, settings, repo).await?;
            trusted.persist()?;
            trusted.updater.state().snapshot().map(|s| s.version.get())
        };
        if after == before {
            break;
        }
    }
    Ok(entries)
}
