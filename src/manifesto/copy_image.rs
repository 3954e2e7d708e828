//! `copy --with-image`: the image itself, copied between repositories (and registries) by digest:
//! for a manifest its config and layers, for an index every child manifest first, then the
//! manifest itself, so the destination never holds a manifest whose parts are missing.
//!
//! Everything read is checked against its digest (the registry client checks manifests and
//! blobs while streaming, each blob capped at the size its descriptor declares), so the copy is
//! byte-identical and keeps its digest. Blobs the destination already has are not transferred.

use serde::Deserialize;

use crate::error::Error;
use crate::registry::client::{MAX_MANIFEST_BYTES, media_types};
use crate::registry::{Digest, RegistryWrite};

/// Nesting accepted below the image: an index of manifests (an index of indexes is unusual but
/// valid OCI; deeper is refused).
const MAX_DEPTH: u32 = 2;
/// Child manifests of one index accepted.
const MAX_CHILDREN: usize = 1024;

/// Why an image cannot be copied.
#[derive(Debug, thiserror::Error)]
pub enum CopyImageError {
    #[error("the manifest {digest} does not parse as an OCI or Docker manifest or index")]
    BadManifest {
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("the manifest {digest} names {what} {given:?}, which is not a digest")]
    BadDescriptor {
        digest: Digest,
        what: &'static str,
        given: String,
    },
    #[error(
        "the image {digest} nests indexes deeper than {MAX_DEPTH} levels or lists more than {MAX_CHILDREN} manifests"
    )]
    TooDeep { digest: Digest },
    #[error("the destination stored {stored} for the manifest {digest}")]
    DigestChanged { digest: Digest, stored: Digest },
}

impl CopyImageError {
    pub fn failure(&self) -> crate::failure::Failure {
        // The source registry served a manifest we cannot copy faithfully.
        crate::failure::Failure::Untrusted
    }
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct ManifestParts {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// What one copy transferred.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ImageCopied {
    pub manifests: u32,
    pub blobs_copied: u32,
    pub blobs_present: u32,
}

/// Copy the manifest `digest` of `src_repo` (on `src`) to `dst_repo` (on `dst`).
pub(crate) async fn copy_image(
    src: &impl RegistryWrite,
    src_repo: &str,
    dst: &impl RegistryWrite,
    dst_repo: &str,
    digest: &Digest,
    temp_dir: &std::path::Path,
) -> Result<ImageCopied, Error> {
    let mut copied = ImageCopied::default();
    copy_manifest(
        src,
        src_repo,
        dst,
        dst_repo,
        digest,
        temp_dir,
        0,
        &mut copied,
    )
    .await?;
    Ok(copied)
}

fn parse_digest(manifest: &Digest, what: &'static str, given: &str) -> Result<Digest, Error> {
    Digest::parse(given).map_err(|_| {
        CopyImageError::BadDescriptor {
            digest: manifest.clone(),
            what,
            given: given.to_owned(),
        }
        .into()
    })
}

#[allow(clippy::too_many_arguments)]
async fn copy_manifest(
    src: &impl RegistryWrite,
    src_repo: &str,
    dst: &impl RegistryWrite,
    dst_repo: &str,
    digest: &Digest,
    temp_dir: &std::path::Path,
    depth: u32,
    copied: &mut ImageCopied,
) -> Result<(), Error> {
    let manifest = src
        .get_manifest(src_repo, &digest.to_string(), media_types::IMAGE_MANIFESTS)
        .await?;
    let parts: ManifestParts =
        serde_json::from_slice(&manifest.bytes).map_err(|source| CopyImageError::BadManifest {
            digest: digest.clone(),
            source,
        })?;
    if let Some(children) = &parts.manifests {
        if depth >= MAX_DEPTH || children.len() > MAX_CHILDREN {
            return Err(CopyImageError::TooDeep {
                digest: digest.clone(),
            }
            .into());
        }
        for child in children {
            let child_digest = parse_digest(digest, "a manifest", &child.digest)?;
            if child.size > MAX_MANIFEST_BYTES {
                return Err(CopyImageError::TooDeep {
                    digest: digest.clone(),
                }
                .into());
            }
            Box::pin(copy_manifest(
                src,
                src_repo,
                dst,
                dst_repo,
                &child_digest,
                temp_dir,
                depth + 1,
                copied,
            ))
            .await?;
        }
    }
    for blob in parts.config.iter().chain(&parts.layers) {
        let blob_digest = parse_digest(digest, "a blob", &blob.digest)?;
        if dst.blob_exists(dst_repo, &blob_digest).await? {
            copied.blobs_present += 1;
            continue;
        }
        let temp = |source| Error::TempFile {
            dir: temp_dir.to_owned(),
            source,
        };
        let file = tempfile::NamedTempFile::new_in(temp_dir).map_err(temp)?;
        let size = {
            let mut out = tokio::fs::File::from_std(file.as_file().try_clone().map_err(temp)?);
            // Capped at the declared size and checked against the digest while streaming.
            src.pull_blob_to(src_repo, &blob_digest, blob.size, &mut out)
                .await?
        };
        // The registry checks the bytes against the digest they were verified to have.
        dst.push_blob_file(dst_repo, file.path(), &blob_digest, size, |_| {})
            .await?;
        copied.blobs_copied += 1;
    }
    let stored = dst
        .put_manifest(dst_repo, None, &manifest.media_type, manifest.bytes.clone())
        .await?;
    if &stored != digest {
        return Err(CopyImageError::DigestChanged {
            digest: digest.clone(),
            stored,
        }
        .into());
    }
    copied.manifests += 1;
    Ok(())
}
