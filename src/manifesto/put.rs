//! `put`: sign and store one piece of metadata for an image.
//!
//! Order, so a crash never leaves a signed target pointing at nothing: the signer's authority is
//! checked first (nothing is uploaded for a type the role may not sign), then the blob is pushed,
//! then the role's manifesto manifest, then one Notary update signs `<type>/<digest>` and
//! `_manifesto/<digest>` together, and last the unsigned `_manifesto` index is reconciled from
//! the signed targets. A run killed anywhere can simply be run again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use super::MetadataType;
use super::batch::{PutItem, Seen};
use super::hints::{self, Hinted};
use super::index::reconcile_index;
use super::layout::{self, Custom, Entry, Subject};
use super::remote::{Network, Remote, trust_now};
use super::{shard, shard_write};
use crate::config::Settings;
use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::keys::signing::role_signers;
use crate::keys::store::KeyStore;
use crate::notary::publish::{Published, UpdatePart, publish_with_retry_on};
use crate::registry::client::media_types;
use crate::registry::{Digest, ImageRef, Registry, RegistryWrite};
use crate::tuf::metadata::{FileMeta, Hashes};
use crate::tuf::names::RoleName;
use crate::tuf::sign::{Signer, sign_file};
use crate::tuf::trusted::TrustedState;

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
    /// The entry's line in a `put --batch` file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// Length and one digest of a file, read in bounded memory.
pub(crate) fn digest_file(
    path: &Path,
    algorithm: &'static ring::digest::Algorithm,
) -> std::io::Result<(u64, Vec<u8>)> {
    let mut file = std::fs::File::open(path)?;
    let mut context = ring::digest::Context::new(algorithm);
    let mut buf = vec![0u8; 1 << 20];
    let mut length = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
        length += n as u64;
    }
    Ok((length, context.finish().as_ref().to_vec()))
}

/// Files from this size on are hashed on two threads, sha256 and sha512 side by side (each
/// reads the file; the second read comes from the page cache): the wall time of the slower
/// digest instead of both.
const HASH_IN_PARALLEL_FROM: u64 = 8 << 20;

/// A digest being computed on a thread of its own: the length read and the digest.
type Hashing = std::thread::JoinHandle<std::io::Result<(u64, Vec<u8>)>>;

/// Length, sha256 and sha512 of a file, in bounded memory.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, Hashes)> {
    let size = std::fs::metadata(path)?.len();
    let ((len256, sha256), (len512, sha512)) = if size >= HASH_IN_PARALLEL_FROM {
        std::thread::scope(|scope| {
            let sha512 = scope.spawn(|| digest_file(path, &ring::digest::SHA512));
            let sha256 = digest_file(path, &ring::digest::SHA256);
            let sha512 = sha512.join().expect("hashing does not panic");
            Ok::<_, std::io::Error>((sha256?, sha512?))
        })?
    } else {
        (
            digest_file(path, &ring::digest::SHA256)?,
            digest_file(path, &ring::digest::SHA512)?,
        )
    };
    // Two reads of a file that changed in between describe no one content.
    if len256 != len512 {
        return Err(std::io::Error::other(
            "the file changed while it was hashed",
        ));
    }
    let mut map = BTreeMap::new();
    map.insert("sha256".to_string(), sha256);
    map.insert("sha512".to_string(), sha512);
    Ok((len256, Hashes(map)))
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

/// Registry operations a put runs at once (resolves, blob uploads, manifest pushes).
pub const CONCURRENCY: usize = 8;

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

/// Store every item, signed by `role`: per repository, every entry is resolved and authorised
/// before anything is uploaded, the blobs go up concurrently, and the whole change is one Notary
/// publish. `progress` receives the bytes uploaded so far.
pub async fn put_many(
    settings: &Settings,
    role: &RoleName,
    items: Vec<PutItem>,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<Vec<PutReport>, Error> {
    put_many_via(
        &Network,
        settings,
        role,
        items,
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
    let item = PutItem {
        image: req.image.clone(),
        metadata_type: req.metadata_type.clone(),
        file: req.file.to_owned(),
        media_type: req.media_type.clone(),
        annotations: req.annotations.clone(),
        line: None,
    };
    let mut reports = put_many_via(
        remote,
        settings,
        &req.role,
        vec![item],
        passphrases,
        progress,
    )
    .await?;
    Ok(reports.pop().expect("one report per item"))
}

/// [`put_many`] over any [`Remote`].
pub(crate) async fn put_many_via(
    remote: &impl Remote,
    settings: &Settings,
    role: &RoleName,
    items: Vec<PutItem>,
    passphrases: &mut Passphrases,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<Vec<PutReport>, Error> {
    // Before any request: an oversized put costs nothing (scenario 29).
    for item in &items {
        check_size(&item.file).map_err(|e| item.at(e))?;
    }
    let mut by_repository: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        by_repository
            .entry(item.image.repository_ref().gun())
            .or_default()
            .push(i);
    }
    let progress: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(progress);
    let mut reports = Vec::with_capacity(items.len());
    for indexes in by_repository.into_values() {
        let group: Vec<&PutItem> = indexes.iter().map(|&i| &items[i]).collect();
        let done = put_repository(
            remote,
            settings,
            role,
            &group,
            passphrases,
            progress.clone(),
        )
        .await?;
        reports.extend(indexes.into_iter().zip(done));
    }
    reports.sort_by_key(|(i, _)| *i);
    Ok(reports.into_iter().map(|(_, r)| r).collect())
}

/// One entry, resolved, hashed and uploaded: ready to be signed.
struct Prepared<'a> {
    item: &'a PutItem,
    subject: Subject,
    meta_name: String,
    blob_meta: FileMeta,
    blob_digest: Digest,
    media_type: String,
}

/// Refuse `name` unless `role` may sign it, with the closest role as a hint.
fn authorise(state: &TrustedState, role: &RoleName, name: &str, gun: &str) -> Result<(), Error> {
    match state.role_may_sign(role, name) {
        Some(true) => Ok(()),
        Some(false) => Err(Error::PathNotDelegated {
            role: role.clone(),
            name: name.to_owned(),
            prefix: name.split('/').next().unwrap_or_default().to_owned(),
            gun: gun.to_owned(),
        }),
        None => match hints::closest_role(state, role) {
            Some(closest) => Err(Hinted::NoSuchRole {
                role: role.clone(),
                gun: gun.to_owned(),
                closest,
            }
            .into()),
            None => Err(Error::NotARole {
                role: role.clone(),
                gun: gun.to_owned(),
            }),
        },
    }
}

/// The most blob bytes a put uploads while keeping the trust cache locked between its
/// authority check and its publish (which then needs no second update): a few milliseconds of
/// uploading. Bigger uploads release the lock and update again before publishing.
const KEEP_LOCK_ACROSS_UPLOAD: u64 = 4 << 20;
/// And the most entries (a batch uploads many blobs and manifests before it publishes).
const KEEP_LOCK_ENTRIES: usize = 16;

/// The items of one repository: one signed update.
async fn put_repository(
    remote: &impl Remote,
    settings: &Settings,
    role: &RoleName,
    items: &[&PutItem],
    passphrases: &mut Passphrases,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<Vec<PutReport>, Error> {
    let first = items[0];
    let repo = first.image.repository_ref();
    let gun = repo.gun();

    // 1. Every image, and the signer's authority over every entry, before any upload.
    let registry = remote.registry(settings, first.image.registry()).await?;
    // The images and the trust data do not depend on each other: fetched at once.
    let resolving = stream::iter(items.iter().map(|item| {
        let registry = &registry;
        async move { registry.resolve(&item.image).await.map_err(|e| item.at(e)) }
    }))
    .buffered(CONCURRENCY)
    .try_collect::<Vec<_>>();
    let (resolved, mut trusted) = futures_util::try_join!(resolving, async {
        trust_now(remote, settings, &repo)
            .await
            .map_err(Error::from)
    })?;
    // Two references (a tag and a digest) may name one image.
    let mut seen = Seen::default();
    for (item, r) in items.iter().zip(&resolved) {
        tracing::info!("resolved {} to {}", item.image, r.digest);
        seen.check(r.digest.to_string(), &item.metadata_type, item.line)?;
    }
    let store = KeyStore::new(&settings.trust_dir);
    let signer = {
        trusted
            .updater
            .load_chain(role)
            .await
            .map_err(Error::Update)?;
        let state = trusted.updater.state();
        for (item, r) in items.iter().zip(&resolved) {
            for name in [
                layout::metadata_target(&item.metadata_type, &r.digest),
                layout::manifesto_target(&r.digest),
            ] {
                authorise(state, role, &name, &gun).map_err(|e| item.at(e))?;
            }
        }
        let any = layout::metadata_target(&first.metadata_type, &resolved[0].digest);
        let signer = role_signers(state, role, &store, passphrases)
            .map_err(|e| hints::missing_key(state, role, &store, &any, e))?;
        match items {
            [_] => tracing::info!(
                "{role} may sign {any}; signing with {} of its keys from the key store",
                signer.len()
            ),
            _ => tracing::info!(
                "{role} may sign all {} entries; signing with {} of its keys from the key store",
                items.len(),
                signer.len()
            ),
        }
        trusted.persist()?;
        signer
    };

    // The first attempt builds on the state just verified (if another writer published since,
    // the server says so and the next attempt starts from a fresh update). The state holds the
    // trust cache's lock, so it is kept only when the uploads in between take a moment.
    let upload_bytes: u64 = items
        .iter()
        .map(|item| std::fs::metadata(&item.file).map_or(u64::MAX, |m| m.len()))
        .fold(0, u64::saturating_add);
    let quick = items.len() <= KEEP_LOCK_ENTRIES && upload_bytes <= KEEP_LOCK_ACROSS_UPLOAD;
    let mut verified = quick.then_some(trusted);

    // 2. The blobs: hashed once each, each distinct one uploaded once, concurrently. The blob
    // of a single big put gets its sha512 on a thread of its own while it uploads (the upload
    // needs only its sha256): the time of the upload, not of the upload plus sha512.
    let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut prepared = Vec::with_capacity(items.len());
    let mut sha512_beside: Option<Hashing> = None;
    for (item, r) in items.iter().zip(resolved) {
        let beside = items.len() == 1 && upload_bytes >= HASH_IN_PARALLEL_FROM;
        let (length, hashes) = if beside {
            let (length, sha256) = digest_file(&item.file, &ring::digest::SHA256)
                .map_err(|e| item.at(io(&item.file)(e)))?;
            let path = item.file.clone();
            sha512_beside = Some(std::thread::spawn(move || {
                digest_file(&path, &ring::digest::SHA512)
            }));
            (
                length,
                Hashes(BTreeMap::from([("sha256".to_string(), sha256)])),
            )
        } else {
            hash_file(&item.file).map_err(|e| item.at(io(&item.file)(e)))?
        };
        let media_type = match &item.media_type {
            Some(mt) => mt.clone(),
            None => sniff_media_type(&item.file).map_err(|e| item.at(io(&item.file)(e)))?,
        };
        let blob_digest = Digest::parse(&format!(
            "sha256:{}",
            hex::encode(hashes.sha256().expect("hash_file computes sha256"))
        ))
        .expect("a sha256 hex digest is a valid digest");
        let blob_meta = FileMeta {
            custom: Some(
                Custom {
                    media_type: media_type.clone(),
                    created_at: created_at.clone(),
                    annotations: item.annotations.clone(),
                }
                .to_value(),
            ),
            hashes,
            length,
        };
        prepared.push(Prepared {
            item,
            meta_name: layout::metadata_target(&item.metadata_type, &r.digest),
            subject: Subject {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size,
            },
            blob_meta,
            blob_digest,
            media_type,
        });
    }
    let mut uploads: BTreeMap<&Digest, &Prepared> = BTreeMap::new();
    for p in &prepared {
        uploads.entry(&p.blob_digest).or_insert(p);
    }
    let repository = repo.repository();
    stream::iter(uploads.into_values().map(|p| {
        let registry = &registry;
        let progress = progress.clone();
        async move {
            registry
                .push_blob_file(
                    repository,
                    &p.item.file,
                    &p.blob_digest,
                    p.blob_meta.length,
                    move |n| progress(n),
                )
                .await
                .map_err(|e| p.item.at(e))?;
            tracing::info!(
                "pushed the blob {} ({} bytes) to the registry",
                p.blob_digest,
                p.blob_meta.length
            );
            Ok::<_, Error>(())
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await?;
    if let Some(sha512) = sha512_beside {
        let p = &mut prepared[0];
        let file = &p.item.file;
        let (length, sha512) = sha512
            .join()
            .expect("hashing does not panic")
            .map_err(|e| p.item.at(io(file)(e)))?;
        // Two reads of a file that changed in between describe no one content.
        if length != p.blob_meta.length {
            return Err(p.item.at(io(file)(std::io::Error::other(
                "the file changed while it was uploaded",
            ))));
        }
        p.blob_meta.hashes.0.insert("sha512".to_string(), sha512);
    }

    // 3 + 4. Per image, the role's manifesto manifest; then one signed update of the bins, all
    // rebuilt on whatever state is current when a publish attempt starts.
    let mut images: BTreeMap<&Digest, Vec<&Prepared>> = BTreeMap::new();
    for p in &prepared {
        images.entry(&p.subject.digest).or_default().push(p);
    }
    let labels: BTreeSet<String> = images.keys().map(|d| shard::label(d).to_owned()).collect();
    let mut manifests: BTreeMap<Digest, Digest> = BTreeMap::new();
    let outcome = publish_with_retry_on::<_, _, _, Error>(
        &gun,
        async || match verified.take() {
            Some(trusted) => Ok(trusted),
            None => trust_now(remote, settings, &repo).await,
        },
        async |updater| {
            let claimed = shard_write::load_for_write(updater, role, &labels)
                .await
                .map_err(Error::Update)?;
            let state = updater.state();
            let signed: BTreeMap<&Digest, BTreeMap<String, FileMeta>> = images
                .keys()
                .map(|d| (*d, shard_write::signed_about(state, role, d)))
                .collect();
            // Every entry (same bytes, same createdAt) already signed: an earlier attempt
            // landed even though its answer was lost.
            if prepared
                .iter()
                .all(|p| signed[&p.subject.digest].get(&p.meta_name) == Some(&p.blob_meta))
            {
                return Ok(None);
            }
            let documents: Vec<(&Digest, Vec<u8>, Vec<u8>)> = images
                .iter()
                .map(|(digest, new)| {
                    let mut entries: Vec<Entry> = layout::entries_in(&signed[digest], digest)
                        .into_iter()
                        .filter(|e| !new.iter().any(|p| p.item.metadata_type == e.metadata_type))
                        .collect();
                    entries.extend(new.iter().map(|p| Entry {
                        metadata_type: p.item.metadata_type.clone(),
                        digest: p.blob_digest.clone(),
                        media_type: p.media_type.clone(),
                        size: p.blob_meta.length,
                        created_at: created_at.clone(),
                    }));
                    let config = layout::config_bytes(digest, role, &entries);
                    let manifest = layout::manifest_bytes(&new[0].subject, &config, &entries);
                    (*digest, config, manifest)
                })
                .collect();
            let pushed: Vec<(Digest, Digest, FileMeta)> =
                stream::iter(documents.into_iter().map(|(image, config, manifest)| {
                    let registry = &registry;
                    let created_at = &created_at;
                    async move {
                        registry
                            .push_blob_bytes(repository, Bytes::from(config))
                            .await?;
                        let mut meta = FileMeta::of(&manifest);
                        let digest = registry
                            .put_manifest(
                                repository,
                                None,
                                media_types::OCI_MANIFEST,
                                Bytes::from(manifest),
                            )
                            .await?;
                        tracing::info!("pushed the manifesto manifest {digest} of {image}");
                        meta.custom = Some(
                            Custom {
                                media_type: media_types::OCI_MANIFEST.into(),
                                created_at: created_at.clone(),
                                annotations: BTreeMap::new(),
                            }
                            .to_value(),
                        );
                        Ok::<_, Error>((image.clone(), digest, meta))
                    }
                }))
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await?;
            let mut edits = shard_write::Edits::new();
            for p in &prepared {
                edits.insert(p.meta_name.clone(), Some(p.blob_meta.clone()));
            }
            for (image, manifest, meta) in pushed {
                edits.insert(layout::manifesto_target(&image), Some(meta));
                manifests.insert(image, manifest);
            }
            let files = shard_write::plan(updater.state(), role, &edits, &claimed, Utc::now())?;
            if files.is_empty() {
                return Ok(None);
            }
            let signers: Vec<&dyn Signer> = signer.iter().map(|s| s as &dyn Signer).collect();
            let mut parts = Vec::with_capacity(files.len());
            for (file_role, next) in files {
                parts.push(UpdatePart {
                    bytes: sign_file(&next, &signers)?,
                    role: file_role,
                });
            }
            Ok(Some(parts))
        },
    )
    .await?;
    let attempts = match outcome {
        Published::Now { attempts } => attempts,
        Published::AlreadyThere => 0,
    };
    match attempts {
        0 => tracing::info!("{role} had already signed these entries: nothing to publish"),
        n => tracing::info!("published {role} to the Notary server (attempts: {n})"),
    }

    // 5. The index, from the signed targets (a failure here loses nothing: repair rebuilds it).
    // The shards of the labels this change touched (stale ones are found by fingerprint).
    let touched = labels;
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
    Ok(prepared
        .into_iter()
        .map(|p| PutReport {
            image: p.item.image.to_string(),
            image_digest: p.subject.digest.to_string(),
            metadata_type: p.item.metadata_type.to_string(),
            role: role.to_string(),
            blob_digest: p.blob_digest.to_string(),
            size: p.blob_meta.length,
            media_type: p.media_type,
            created_at: created_at.clone(),
            annotations: p.item.annotations.clone(),
            manifest_digest: manifests
                .get(&p.subject.digest)
                .map(ToString::to_string)
                .unwrap_or_default(),
            target: p.meta_name,
            index_updated,
            attempts,
            line: p.item.line,
        })
        .collect())
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
    fn a_file_hashed_on_two_threads_has_the_digests_of_one_pass_over_its_bytes() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let bytes: Vec<u8> = (0..HASH_IN_PARALLEL_FROM + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        std::io::Write::write_all(&mut tmp, &bytes).unwrap();
        let (length, hashes) = hash_file(tmp.path()).unwrap();
        assert_eq!(length, bytes.len() as u64);
        assert_eq!(
            hashes.0["sha256"],
            ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref()
        );
        assert_eq!(
            hashes.0["sha512"],
            ring::digest::digest(&ring::digest::SHA512, &bytes).as_ref()
        );
    }

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
