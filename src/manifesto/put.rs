//! `put`: sign and store one piece of metadata for an image.
//!
//! Order, so a crash never leaves a signed target pointing at nothing: the signer's authority is
//! checked first (nothing is uploaded for a type the role may not sign), then the blob is pushed,
//! then the role's manifesto manifest, then one Notary update signs `<type>/<digest>` and
//! `_manifesto/<digest>` together, and last the unsigned `_manifesto` index is reconciled from
//! the signed targets. A run killed anywhere can simply be run again.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use super::MetadataType;
use super::hints::{self, Hinted};
use super::index::reconcile_index;
use super::layout::{self, Custom, Entry, Subject};
use super::remote::{Network, Remote, trust_now};
use crate::config::Settings;
use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::keys::signing::role_signers;
use crate::keys::store::KeyStore;
use crate::notary::publish::{Published, UpdatePart, publish_with_retry_on};
use crate::registry::client::media_types;
use crate::registry::{Digest, ImageRef, Registry, RegistryWrite};
use crate::tuf::build;
use crate::tuf::metadata::{FileMeta, Hashes};
use crate::tuf::names::RoleName;
use crate::tuf::sign::{Signer, sign_file};

/// The largest content `put` stores: 2 GiB (2147483648 bytes). Metadata (SBOMs, scans,
/// attestations) is small; 1 GiB must still work (the benchmarks), and a cap keeps a mistaken
/// `put` of a disk image from uploading for hours (scenario 29). Checked before any upload; stdin
/// is spooled only up to the cap.
pub const MAX_CONTENT_BYTES: u64 = 2 << 30;

/// Content `put` refuses before touching the network.
#[derive(Debug, thiserror::Error)]
pub enum PutInputError {
    #[error(
        "{path} is {size} bytes, larger than the {limit} bytes manifesto stores; keep large artifacts in the registry and put a small document pointing at them"
    )]
    FileTooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error(
        "stdin holds more than the {limit} bytes manifesto stores; keep large artifacts in the registry and put a small document pointing at them"
    )]
    StdinTooLarge { limit: u64 },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a file")]
    NotAFile { path: PathBuf },
    #[error("--annotation {given:?} must be KEY=VALUE")]
    BadAnnotation { given: String },
    #[error("cannot read stdin")]
    Stdin(#[source] std::io::Error),
}

impl PutInputError {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Usage
    }
}

/// Refuse content larger than [`MAX_CONTENT_BYTES`].
fn check_size(path: &Path) -> Result<(), PutInputError> {
    let size = std::fs::metadata(path)
        .map_err(|source| PutInputError::Read {
            path: path.to_owned(),
            source,
        })?
        .len();
    if size > MAX_CONTENT_BYTES {
        return Err(PutInputError::FileTooLarge {
            path: path.to_owned(),
            size,
            limit: MAX_CONTENT_BYTES,
        });
    }
    Ok(())
}

/// What to store.
pub struct PutRequest<'a> {
    pub image: &'a ImageRef,
    pub metadata_type: &'a MetadataType,
    /// The content, already in a file (stdin is spooled to a temporary file first).
    pub file: &'a Path,
    pub role: RoleName,
    pub media_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct PutReport {
    pub image: String,
    pub image_digest: String,
    #[serde(rename = "type")]
    pub metadata_type: String,
    pub role: String,
    pub blob_digest: String,
    pub size: u64,
    pub media_type: String,
    pub created_at: String,
    /// The `--annotation K=V` pairs signed with the target.
    pub annotations: BTreeMap<String, String>,
    pub manifest_digest: String,
    pub target: String,
    /// Whether the index was rewritten (it is a convenience: `repair` can always rebuild it).
    pub index_updated: bool,
    pub attempts: u32,
}

/// Length, sha256 and sha512 of a file, read once in bounded memory.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, Hashes)> {
    let mut file = std::fs::File::open(path)?;
    let mut sha256 = ring::digest::Context::new(&ring::digest::SHA256);
    let mut sha512 = ring::digest::Context::new(&ring::digest::SHA512);
    let mut buf = vec![0u8; 1 << 20];
    let mut length = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        sha512.update(&buf[..n]);
        length += n as u64;
    }
    let mut map = BTreeMap::new();
    map.insert("sha256".to_string(), sha256.finish().as_ref().to_vec());
    map.insert("sha512".to_string(), sha512.finish().as_ref().to_vec());
    Ok((length, Hashes(map)))
}

/// `application/json` when the whole file is one JSON document, else `application/octet-stream`.
fn sniff_media_type(path: &Path) -> std::io::Result<String> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    // A JSON document starts with one of these after optional whitespace: anything else (an
    // image layer, a tarball) is decided on its first bytes, without reading the rest.
    let first = {
        use std::io::BufRead;
        let head = file.fill_buf()?;
        head.iter().copied().find(|b| !b.is_ascii_whitespace())
    };
    if !first.is_some_and(|b| b"{[\"-0123456789tfn".contains(&b)) {
        return Ok("application/octet-stream".to_string());
    }
    let is_json = serde_json::from_reader::<_, serde::de::IgnoredAny>(file).is_ok();
    Ok(if is_json {
        "application/json"
    } else {
        "application/octet-stream"
    }
    .to_string())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PutInputError + '_ {
    move |source| PutInputError::Read {
        path: path.to_owned(),
        source,
    }
}

pub async fn put(
    settings: &Settings,
    req: PutRequest<'_>,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<PutReport, Error> {
    put_via(
        &Network,
        settings,
        req,
        &mut Passphrases::from_environment(),
        progress,
    )
    .await
}

/// `put` over any [`Remote`].
pub(crate) async fn put_via(
    remote: &impl Remote,
    settings: &Settings,
    req: PutRequest<'_>,
    passphrases: &mut Passphrases,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<PutReport, Error> {
    // Before any request: an oversized put costs nothing (scenario 29).
    check_size(req.file)?;
    let repo = req.image.repository_ref();
    let meta_name_of =
        |image: &crate::registry::Digest| layout::metadata_target(req.metadata_type, image);

    // 1. The image and the signer's authority, before any upload.
    let registry = remote.registry(settings, req.image.registry()).await?;
    let resolved = registry.resolve(req.image).await?;
    let image_digest = resolved.digest.clone();
    tracing::info!("resolved {} to {image_digest}", req.image);
    let meta_name = meta_name_of(&image_digest);
    let manifesto_name = layout::manifesto_target(&image_digest);
    let store = KeyStore::new(&settings.trust_dir);
    let signer = {
        let mut trusted = trust_now(remote, settings, &repo).await?;
        trusted
            .updater
            .load_chain(&req.role)
            .await
            .map_err(Error::Update)?;
        let state = trusted.updater.state();
        for name in [&meta_name, &manifesto_name] {
            match state.role_may_sign(&req.role, name) {
                Some(true) => {}
                Some(false) => {
                    return Err(Error::PathNotDelegated {
                        role: req.role.clone(),
                        name: name.clone(),
                        prefix: name.split('/').next().unwrap_or_default().to_owned(),
                        gun: repo.gun(),
                    });
                }
                None => {
                    if let Some(closest) = hints::closest_role(state, &req.role) {
                        return Err(Hinted::NoSuchRole {
                            role: req.role.clone(),
                            gun: repo.gun(),
                            closest,
                        }
                        .into());
                    }
                    return Err(Error::NotARole {
                        role: req.role.clone(),
                        gun: repo.gun(),
                    });
                }
            }
        }
        let signer = role_signers(state, &req.role, &store, passphrases)
            .map_err(|e| hints::missing_key(state, &req.role, &store, &meta_name, e))?;
        tracing::info!(
            "{} may sign {meta_name}; signing with {} of its keys from the key store",
            req.role,
            signer.len()
        );
        trusted.persist()?;
        signer
    };

    // 2. The blob.
    let (length, hashes) = hash_file(req.file).map_err(io(req.file))?;
    let media_type = match req.media_type {
        Some(mt) => mt,
        None => sniff_media_type(req.file).map_err(io(req.file))?,
    };
    let blob_digest = Digest::parse(&format!(
        "sha256:{}",
        hex::encode(hashes.sha256().expect("hash_file computes sha256"))
    ))
    .expect("a sha256 hex digest is a valid digest");
    registry
        .push_blob_file(repo.repository(), req.file, &blob_digest, length, progress)
        .await?;
    tracing::info!("pushed the blob {blob_digest} ({length} bytes) to the registry");
    let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let blob_meta = FileMeta {
        custom: Some(
            Custom {
                media_type: media_type.clone(),
                created_at: created_at.clone(),
                annotations: req.annotations.clone(),
            }
            .to_value(),
        ),
        hashes,
        length,
    };
    let subject = Subject {
        media_type: resolved.media_type.clone(),
        digest: image_digest.clone(),
        size: resolved.size,
    };

    // 3 + 4. The manifesto manifest and the signed targets, rebuilt on whatever state is current.
    let mut manifest_digest = None;
    let outcome = publish_with_retry_on::<_, _, _, Error>(
        &repo.gun(),
        async || trust_now(remote, settings, &repo).await,
        async |updater| {
            updater.load_chain(&req.role).await.map_err(Error::Update)?;
            // An expired role whose signatures still verify is renewed with its entries kept.
            let current = updater
                .state()
                .targets_role(&req.role)
                .or_else(|| updater.state().renewable(&req.role))
                .map(|t| t.get().clone());
            // Our exact entry (same bytes, same createdAt) is already signed: an earlier attempt
            // landed even though its answer was lost.
            if current.as_ref().and_then(|t| t.targets.get(&meta_name)) == Some(&blob_meta) {
                return Ok(None);
            }
            let mut entries: Vec<Entry> = layout::entries_for(current.as_ref(), &image_digest)
                .into_iter()
                .filter(|e| &e.metadata_type != req.metadata_type)
                .collect();
            entries.push(Entry {
                metadata_type: req.metadata_type.clone(),
                digest: blob_digest.clone(),
                media_type: media_type.clone(),
                size: length,
                created_at: created_at.clone(),
            });
            let config = layout::config_bytes(&image_digest, &req.role, &entries);
            registry
                .push_blob_bytes(repo.repository(), Bytes::from(config.clone()))
                .await?;
            let manifest = layout::manifest_bytes(&subject, &config, &entries);
            let digest = registry
                .put_manifest(
                    repo.repository(),
                    None,
                    media_types::OCI_MANIFEST,
                    Bytes::from(manifest.clone()),
                )
                .await?;
            tracing::info!("pushed the manifesto manifest {digest}");
            manifest_digest = Some(digest);
            let mut manifest_meta = FileMeta::of(&manifest);
            manifest_meta.custom = Some(
                Custom {
                    media_type: media_types::OCI_MANIFEST.into(),
                    created_at: created_at.clone(),
                    annotations: BTreeMap::new(),
                }
                .to_value(),
            );
            let in_use = updater.state().version_in_use(&req.role);
            let next = build::next_targets_above(current.as_ref(), in_use, Utc::now(), |t| {
                t.targets.insert(meta_name.clone(), blob_meta.clone());
                t.targets
                    .insert(manifesto_name.clone(), manifest_meta.clone());
            })?;
            Ok(Some(vec![UpdatePart {
                role: req.role.clone(),
                bytes: sign_file(
                    &next,
                    &signer.iter().map(|s| s as &dyn Signer).collect::<Vec<_>>(),
                )?,
            }]))
        },
    )
    .await?;
    let attempts = match outcome {
        Published::Now { attempts } => attempts,
        Published::AlreadyThere => 0,
    };
    match attempts {
        0 => tracing::info!(
            "{} had already signed this entry: nothing to publish",
            req.role
        ),
        n => tracing::info!(
            "published {} to the Notary server (attempts: {n})",
            req.role
        ),
    }

    // 5. The index, from the signed targets (a failure here loses nothing: repair rebuilds it).
    let touched = std::collections::BTreeSet::from([super::shard::label(&image_digest).to_owned()]);
    let index_updated = match reconcile_index(settings, remote, &registry, &repo, &touched).await {
        Ok(_) => {
            tracing::info!("updated the _manifesto index");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not update the _manifesto index; 'manifesto repair' rebuilds it");
            false
        }
    };
    Ok(PutReport {
        image: req.image.to_string(),
        image_digest: image_digest.to_string(),
        metadata_type: req.metadata_type.to_string(),
        role: req.role.to_string(),
        blob_digest: blob_digest.to_string(),
        size: length,
        media_type,
        created_at,
        annotations: req.annotations,
        manifest_digest: manifest_digest.map(|d| d.to_string()).unwrap_or_default(),
        target: meta_name,
        index_updated,
        attempts,
    })
}

/// Spool stdin to a temporary file (bounded memory; the file is removed when dropped).
pub fn spool_stdin() -> Result<tempfile::NamedTempFile, Error> {
    let tmp = tempfile::NamedTempFile::new().map_err(|source| Error::TempFile {
        dir: std::env::temp_dir(),
        source,
    })?;
    spool(std::io::stdin().lock(), tmp, MAX_CONTENT_BYTES)
}

/// Copy at most `limit` bytes of `input` into `tmp`; more is [`PutInputError::StdinTooLarge`],
/// found after reading one byte past the cap, so the disk use stays bounded too.
fn spool(
    input: impl Read,
    mut tmp: tempfile::NamedTempFile,
    limit: u64,
) -> Result<tempfile::NamedTempFile, Error> {
    let copied =
        std::io::copy(&mut input.take(limit + 1), &mut tmp).map_err(PutInputError::Stdin)?;
    if copied > limit {
        return Err(PutInputError::StdinTooLarge { limit }.into());
    }
    Ok(tmp)
}

/// The input path of `put`: a file, or stdin spooled.
pub enum Input {
    File(PathBuf),
    Stdin(tempfile::NamedTempFile),
}

impl Input {
    pub fn path(&self) -> &Path {
        match self {
            Input::File(p) => p,
            Input::Stdin(t) => t.path(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_beyond_the_cap_is_refused_with_exit_2_after_reading_one_byte_past_it() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let err = spool(std::io::repeat(b'x'), tmp, 1000).err().unwrap();
        assert!(matches!(
            err,
            Error::PutInput(PutInputError::StdinTooLarge { limit: 1000 })
        ));
        assert_eq!(err.failure().exit_code(), 2);
    }

    #[test]
    fn stdin_exactly_at_the_cap_is_kept_whole() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let kept = spool(&[7u8; 1000][..], tmp, 1000).unwrap();
        assert_eq!(std::fs::read(kept.path()).unwrap(), vec![7u8; 1000]);
    }
}
