//! The `list` flow: what is signed for an image (or a whole repository), verified first.

use std::collections::BTreeMap;

use serde::Serialize;

use super::index::all_signed;
use super::layout::{self, Custom};
use super::remote::{Network, Remote, trust_now};
use crate::config::Settings;
use crate::error::Error;
use crate::registry::reference::RepositoryRef;
use crate::registry::{Digest, ImageRef, Registry};

#[derive(Serialize)]
pub struct Listed {
    pub image_digest: String,
    #[serde(rename = "type")]
    pub metadata_type: String,
    pub role: String,
    pub blob_digest: String,
    pub size: u64,
    pub media_type: Option<String>,
    pub created_at: Option<String>,
    /// The signed `put --annotation K=V` pairs (empty when none were given).
    pub annotations: BTreeMap<String, String>,
}

/// The verified signed metadata of `repo`, of the image `only` when given, sorted by image,
/// type and role.
pub async fn listing(
    settings: &Settings,
    repo: &RepositoryRef,
    only: Option<&Digest>,
) -> Result<Vec<Listed>, Error> {
    listing_via(&Network, settings, repo, only).await
}

/// `listing` over any [`Remote`].
pub(crate) async fn listing_via(
    remote: &impl Remote,
    settings: &Settings,
    repo: &RepositoryRef,
    only: Option<&Digest>,
) -> Result<Vec<Listed>, Error> {
    let mut trusted = trust_now(remote, settings, repo).await?;
    // One image: only the bins its digest label names; the whole repository: every role.
    let signed = match only {
        Some(image) => super::shard::signed_for_image(&mut trusted.updater, image)
            .await
            .map_err(Error::Update)?,
        None => all_signed(&mut trusted.updater).await?,
    };
    trusted.persist()?;
    let mut rows: Vec<Listed> = signed
        .iter()
        .filter_map(|t| {
            let (ty, image) = layout::parse_metadata_target(&t.name)?;
            if only.is_some_and(|d| d != &image) {
                return None;
            }
            let custom = Custom::from_meta(&t.meta);
            Some(Listed {
                image_digest: image.to_string(),
                metadata_type: ty.to_string(),
                role: t.role.to_string(),
                blob_digest: layout::blob_digest(&t.meta)?.to_string(),
                size: t.meta.length,
                media_type: custom.as_ref().map(|c| c.media_type.clone()),
                created_at: custom.as_ref().map(|c| c.created_at.clone()),
                annotations: custom.map(|c| c.annotations).unwrap_or_default(),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.image_digest, &a.metadata_type, &a.role).cmp(&(
            &b.image_digest,
            &b.metadata_type,
            &b.role,
        ))
    });
    Ok(rows)
}

/// `list IMAGE`: the metadata of one image (a tag is resolved first).
pub async fn list_image(settings: &Settings, image: &ImageRef) -> Result<Vec<Listed>, Error> {
    list_image_via(&Network, settings, image).await
}

/// `list_image` over any [`Remote`]: a digest needs no registry request, a tag one.
pub(crate) async fn list_image_via(
    remote: &impl Remote,
    settings: &Settings,
    image: &ImageRef,
) -> Result<Vec<Listed>, Error> {
    let digest = match image.digest() {
        Some(d) => d.clone(),
        None => {
            let registry = remote.registry(settings, image.registry()).await?;
            registry.resolve(image).await?.digest
        }
    };
    listing_via(remote, settings, &image.repository_ref(), Some(&digest)).await
}
