//! `copy`: promote an image's signed metadata from one repository to another.
//!
//! Every piece of metadata is first read and verified in the source exactly as `get` reads it
//! (full TUF update, signer authority, blob length and both hashes); only when all of it passed
//! does anything happen at the destination, so a source that fails verification copies nothing.
//! Each piece is then signed again by the destination's role with the destination's keys (a
//! `put` of the verified bytes), with its origin recorded in signed annotations
//! ([`ANNOTATION_SOURCE_GUN`], [`ANNOTATION_SOURCE_ROLE`], [`ANNOTATION_SOURCE_CREATED_AT`]).
//! With `--with-image` the image itself is copied first ([`super::copy_image`]), after the
//! metadata verified and before anything is signed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::MetadataType;
use super::copy_image::{ImageCopied, copy_image};
use super::get::{Fetched, GetRequest, get_via};
use super::list::listing_via;
use super::put::{PutRequest, put_via};
use super::remote::{Network, Remote};
use crate::config::Settings;
use crate::error::Error;
use crate::failure::Failure;
use crate::keys::passphrase::Passphrases;
use crate::registry::{Digest, ImageRef, Registry, RegistryError};
use crate::tuf::names::RoleName;

/// Signed annotation: the GUN the metadata was copied from.
pub const ANNOTATION_SOURCE_GUN: &str = "vnd.manifesto.copied-from.gun";
/// Signed annotation: the role that signed it there.
pub const ANNOTATION_SOURCE_ROLE: &str = "vnd.manifesto.copied-from.role";
/// Signed annotation: its signed `createdAt` there.
pub const ANNOTATION_SOURCE_CREATED_AT: &str = "vnd.manifesto.copied-from.created-at";

/// Why a copy cannot start.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "{given} names no digest: copy takes SRC@DIGEST and DST@DIGEST (find the digest with 'manifesto resolve {given}')"
    )]
    NeedsDigest { given: String },
    #[error(
        "the source digest {source_digest} and the destination digest {destination} differ: metadata is copied for the same image only"
    )]
    DigestsDiffer {
        source_digest: Digest,
        destination: Digest,
    },
    #[error("source and destination are the same repository {gun}")]
    SameRepository { gun: String },
    #[error(
        "the image {digest} is not in {repository}: copy the image there first (with any OCI tool, or 'manifesto copy --with-image')"
    )]
    ImageNotAtDestination {
        repository: String,
        digest: Digest,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("{image} has no signed metadata to copy")]
    NothingToCopy { image: String },
}

impl CopyError {
    pub fn failure(&self) -> Failure {
        match self {
            CopyError::NeedsDigest { .. }
            | CopyError::DigestsDiffer { .. }
            | CopyError::SameRepository { .. } => Failure::Usage,
            CopyError::ImageNotAtDestination { .. } | CopyError::NothingToCopy { .. } => {
                Failure::NotFound
            }
        }
    }
}

/// What to copy.
pub struct CopyRequest<'a> {
    pub source: &'a ImageRef,
    pub destination: &'a ImageRef,
    /// The types to copy; empty: every type signed for the image in the source.
    pub types: &'a [MetadataType],
    /// The destination role that signs the copies.
    pub role: RoleName,
    /// Copy the image itself too (manifest, config, layers; every child of an index).
    pub with_image: bool,
}

/// One copied piece of metadata.
#[derive(Debug, Serialize)]
pub struct Copied {
    #[serde(rename = "type")]
    pub metadata_type: String,
    pub blob_digest: String,
    pub size: u64,
    pub source_role: String,
    pub source_created_at: Option<String>,
    pub role: String,
    pub created_at: String,
    pub target: String,
}

#[derive(Debug, Serialize)]
pub struct CopyReport {
    pub source: String,
    pub destination: String,
    pub image_digest: String,
    /// What `--with-image` transferred (not `image`, which names an image reference in every
    /// JSON output, docs/json.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_copied: Option<ImageCopied>,
    pub copied: Vec<Copied>,
}

/// The image digest of a `copy` argument, which must name one.
pub fn digest_of(image: &ImageRef) -> Result<&Digest, CopyError> {
    image.digest().ok_or_else(|| CopyError::NeedsDigest {
        given: image.to_string(),
    })
}

/// The annotations a copy signs: the source's own, then where it came from.
fn provenance(source_gun: &str, fetched: &Fetched) -> BTreeMap<String, String> {
    let mut annotations = fetched.report.annotations.clone();
    annotations.insert(ANNOTATION_SOURCE_GUN.into(), source_gun.into());
    annotations.insert(ANNOTATION_SOURCE_ROLE.into(), fetched.report.role.clone());
    match &fetched.report.created_at {
        Some(created) => annotations.insert(ANNOTATION_SOURCE_CREATED_AT.into(), created.clone()),
        None => annotations.remove(ANNOTATION_SOURCE_CREATED_AT),
    };
    annotations
}

pub async fn copy(
    settings: &Settings,
    req: CopyRequest<'_>,
    temp_dir: &Path,
) -> Result<CopyReport, Error> {
    copy_via(
        &Network,
        settings,
        req,
        temp_dir,
        &mut Passphrases::from_environment(),
    )
    .await
}

/// [`copy`] over any [`Remote`], signing with keys unlocked by `passphrases`.
pub(crate) async fn copy_via(
    remote: &impl Remote,
    settings: &Settings,
    req: CopyRequest<'_>,
    temp_dir: &Path,
    passphrases: &mut Passphrases,
) -> Result<CopyReport, Error> {
    let digest = digest_of(req.source)?;
    let destination_digest = digest_of(req.destination)?;
    if digest != destination_digest {
        return Err(CopyError::DigestsDiffer {
            source_digest: digest.clone(),
            destination: destination_digest.clone(),
        }
        .into());
    }
    let source_gun = req.source.gun();
    if source_gun == req.destination.gun() {
        return Err(CopyError::SameRepository { gun: source_gun }.into());
    }
    let types: Vec<MetadataType> = if req.types.is_empty() {
        let mut types: Vec<MetadataType> = Vec::new();
        for row in listing_via(remote, settings, &req.source.repository_ref(), Some(digest)).await?
        {
            let ty = MetadataType::parse(&row.metadata_type)?;
            if !types.contains(&ty) {
                types.push(ty);
            }
        }
        types
    } else {
        req.types.to_vec()
    };
    if types.is_empty() {
        return Err(CopyError::NothingToCopy {
            image: req.source.to_string(),
        }
        .into());
    }

    // 1. Everything verified in the source before anything is written anywhere.
    let mut verified = Vec::with_capacity(types.len());
    for ty in &types {
        let fetched = get_via(
            remote,
            settings,
            GetRequest {
                image: req.source,
                metadata_type: ty,
                signed_by: None,
                max_age: None,
                requirements: Vec::new(),
            },
            temp_dir,
        )
        .await?;
        verified.push((ty, fetched));
    }

    // 2. The image must be at the destination: its metadata is keyed by the image digest.
    let registry = remote
        .registry(settings, req.destination.registry())
        .await?;
    let image = if req.with_image {
        let source = remote.registry(settings, req.source.registry()).await?;
        Some(
            copy_image(
                &source,
                req.source.repository(),
                &registry,
                req.destination.repository(),
                digest,
                temp_dir,
            )
            .await?,
        )
    } else {
        None
    };
    if let Err(e) = registry.resolve(req.destination).await {
        return Err(match e {
            RegistryError::NotFound { .. } => CopyError::ImageNotAtDestination {
                repository: req.destination.repository_ref().gun(),
                digest: digest.clone(),
                source: Box::new(e),
            }
            .into(),
            other => other.into(),
        });
    }

    // 3. Signed again at the destination, one verified blob at a time.
    let mut copied = Vec::with_capacity(verified.len());
    for (ty, fetched) in verified {
        let report = put_via(
            remote,
            settings,
            PutRequest {
                image: req.destination,
                metadata_type: ty,
                file: fetched.content.path(),
                role: req.role.clone(),
                media_type: fetched.report.media_type.clone(),
                annotations: provenance(&source_gun, &fetched),
            },
            passphrases,
            |_| {},
        )
        .await?;
        copied.push(Copied {
            metadata_type: ty.to_string(),
            blob_digest: report.blob_digest,
            size: report.size,
            source_role: fetched.report.role,
            source_created_at: fetched.report.created_at,
            role: report.role,
            created_at: report.created_at,
            target: report.target,
        });
    }
    Ok(CopyReport {
        source: req.source.to_string(),
        destination: req.destination.to_string(),
        image_digest: digest.to_string(),
        image_copied: image,
        copied,
    })
}
