//! `delete`: the signed removal of one piece of metadata.
//!
//! The role publishes its targets without `<type>/<digest>`, with the image's manifesto manifest
//! rebuilt without that entry (or `_manifesto/<digest>` removed when nothing is left). The blob
//! stays in the registry until garbage collection: once no signed manifesto references it, the
//! registry may collect it.

use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;

use super::MetadataType;
use super::index::reconcile_index;
use super::layout::{self, Subject};
use super::remote::{Network, Remote, trust_now};
use super::{shard, shard_write};
use crate::config::Settings;
use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::keys::signing::role_signers;
use crate::keys::store::KeyStore;
use crate::notary::publish::{Published, UpdatePart, publish_with_retry_on};
use crate::registry::client::media_types;
use crate::registry::{ImageRef, Registry, RegistryWrite};
use crate::tuf::metadata::FileMeta;
use crate::tuf::names::RoleName;
use crate::tuf::sign::{Signer, sign_file};

#[derive(Debug, Serialize)]
pub struct DeleteReport {
    pub image: String,
    pub image_digest: String,
    #[serde(rename = "type")]
    pub metadata_type: String,
    pub role: String,
    pub removed: bool,
}

pub async fn delete(
    settings: &Settings,
    image: &ImageRef,
    metadata_type: &MetadataType,
    role: RoleName,
) -> Result<DeleteReport, Error> {
    delete_via(
        &Network,
        settings,
        image,
        metadata_type,
        role,
        &mut Passphrases::from_environment(),
    )
    .await
}

/// `delete` over any [`Remote`].
pub(crate) async fn delete_via(
    remote: &impl Remote,
    settings: &Settings,
    image: &ImageRef,
    metadata_type: &MetadataType,
    role: RoleName,
    passphrases: &mut Passphrases,
) -> Result<DeleteReport, Error> {
    let repo = image.repository_ref();
    let registry = remote.registry(settings, image.registry()).await?;
    let resolved = registry.resolve(image).await?;
    let image_digest = resolved.digest.clone();
    let name = layout::metadata_target(metadata_type, &image_digest);
    let manifesto_name = layout::manifesto_target(&image_digest);
    let subject = Subject {
        media_type: resolved.media_type.clone(),
        digest: image_digest.clone(),
        size: resolved.size,
    };
    let store = KeyStore::new(&settings.trust_dir);
    let mut signer = None;
    let mut attempted = false;
    let outcome = publish_with_retry_on::<_, _, _, Error>(
        &repo.gun(),
        async || trust_now(remote, settings, &repo).await,
        async |updater| {
            let labels = std::iter::once(shard::label(&image_digest).to_owned()).collect();
            let claimed = shard_write::load_for_write(updater, &role, &labels)
                .await
                .map_err(Error::Update)?;
            let state = updater.state();
            let current = shard_write::signed_about(state, &role, &image_digest);
            if !current.contains_key(&name) {
                return Ok(None);
            }
            if signer.is_none() {
                signer = Some(
                    role_signers(state, &role, &store, passphrases)
                        .map_err(|e| super::hints::missing_key(state, &role, &store, &name, e))?,
                );
            }
            let entries: Vec<_> = layout::entries_in(&current, &image_digest)
                .into_iter()
                .filter(|e| &e.metadata_type != metadata_type)
                .collect();
            let manifest_meta = if entries.is_empty() {
                None
            } else {
                let config = layout::config_bytes(&image_digest, &role, &entries);
                registry
                    .push_blob_bytes(repo.repository(), Bytes::from(config.clone()))
                    .await?;
                let manifest = layout::manifest_bytes(&subject, &config, &entries);
                registry
                    .put_manifest(
                        repo.repository(),
                        None,
                        media_types::OCI_MANIFEST,
                        Bytes::from(manifest.clone()),
                    )
                    .await?;
                let mut meta = FileMeta::of(&manifest);
                meta.custom = current.get(&manifesto_name).and_then(|m| m.custom.clone());
                Some(meta)
            };
            let mut edits = shard_write::Edits::new();
            edits.insert(name.clone(), None);
            edits.insert(manifesto_name.clone(), manifest_meta);
            let files = shard_write::plan(updater.state(), &role, &edits, &claimed, Utc::now())?;
            let signers: Vec<&dyn Signer> = signer
                .as_ref()
                .expect("loaded above")
                .iter()
                .map(|s| s as &dyn Signer)
                .collect();
            let mut parts = Vec::with_capacity(files.len());
            for (file_role, next) in files {
                parts.push(UpdatePart {
                    bytes: sign_file(&next, &signers)?,
                    role: file_role,
                });
            }
            attempted = true;
            Ok(Some(parts))
        },
    )
    .await?;
    // Gone without our publish landing means it was never there; gone after an attempt whose
    // answer was lost means our removal landed.
    if outcome == Published::AlreadyThere && !attempted {
        return Err(Error::NoMetadataSignedBy {
            metadata_type: metadata_type.clone(),
            role: role.clone(),
            image: image.to_string(),
            digest: image_digest.clone(),
        });
    }
    let touched = std::collections::BTreeSet::from([super::shard::label(&image_digest).to_owned()]);
    if let Err(e) = reconcile_index(settings, remote, &registry, &repo, &touched).await {
        tracing::warn!(error = %e, "could not update the _manifesto index; 'manifesto repair' rebuilds it");
    }
    Ok(DeleteReport {
        image: image.to_string(),
        image_digest: image_digest.to_string(),
        metadata_type: metadata_type.to_string(),
        role: role.to_string(),
        removed: true,
    })
}
