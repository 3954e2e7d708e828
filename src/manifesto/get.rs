//! `get`: verify, then hand over one piece of metadata.
//!
//! The full TUF update runs first; the target `<type>/<digest>` must be signed by a role allowed
//! to sign it (and by `--signed-by` when given); then the blob is streamed from the registry into
//! a temporary file while its length, sha256 and (on a second thread) sha512 are checked. Only
//! a file that passed every check is returned: callers never see unverified bytes.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::MetadataType;
use super::hints::{self, Hinted};
use super::layout::{self, Custom};
use super::remote::{Network, Remote, trust_now};
use super::requirement::Requirement;
use super::sha512_writer::Sha512Writer;
use super::shard;
use super::signed_tag;
use crate::config::Settings;
use crate::error::Error;
use crate::notary::{NotaryError, TrustedRepository};
use crate::registry::{Digest, ImageRef, Registry};
use crate::tuf::names::RoleName;
use crate::tuf::trusted::TrustedTarget;
use crate::tuf::update::{MetadataSource, Updater};

pub struct GetRequest<'a> {
    pub image: &'a ImageRef,
    pub metadata_type: &'a MetadataType,
    pub signed_by: Option<RoleName>,
    pub max_age: Option<Duration>,
    /// The policy's requirements for this repository and type (`--policy` or the
    /// configuration's `policy`), enforced as `verify` does: [`super::get_policy`].
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Serialize)]
pub struct GetReport {
    pub image: String,
    pub image_digest: String,
    #[serde(rename = "type")]
    pub metadata_type: String,
    pub role: String,
    pub blob_digest: String,
    pub size: u64,
    pub media_type: Option<String>,
    pub created_at: Option<String>,
    /// The signed annotations (`put --annotation K=V`, a copy's provenance); empty when none.
    pub annotations: BTreeMap<String, String>,
    /// Without `--signed-by`: the other roles that validly sign this type for the image but a
    /// different blob (the first role in delegation order was followed); empty when they agree.
    pub dissenting_roles: Vec<String>,
}

/// Fetch the blob a signed target names into a temporary file created in `temp_dir`: streamed
/// while its length (capped at the signed length), sha256 and sha512 are checked, then its exact
/// length and sha512 are compared with the signed ones. Returns the blob's digest and the file only when every
/// check passed, so callers never see unverified bytes. Shared by `get` and `verify --policy`.
pub(crate) async fn fetch_verified(
    registry: &impl Registry,
    repository: &str,
    target: &TrustedTarget,
    temp_dir: &Path,
) -> Result<(Digest, tempfile::NamedTempFile), Error> {
    let name = &target.name;
    let blob_digest = layout::blob_digest(&target.meta)
        .ok_or_else(|| Error::UnsignedSha256 { name: name.clone() })?;
    let temp = |source| Error::TempFile {
        dir: temp_dir.to_owned(),
        source,
    };
    let content = tempfile::NamedTempFile::new_in(temp_dir).map_err(temp)?;
    let (length, sha512) = {
        let file = tokio::fs::File::from_std(content.as_file().try_clone().map_err(temp)?);
        let mut out = Sha512Writer::new(file);
        registry
            .pull_blob_to(repository, &blob_digest, target.meta.length, &mut out)
            .await?;
        tokio::io::AsyncWriteExt::flush(&mut out)
            .await
            .map_err(temp)?;
        out.finish()
    };
    // The registry client checked sha256 and the cap; check the exact length and sha512 too
    // (hashed on its own thread as the bytes went by).
    if length != target.meta.length || target.meta.hashes.0.get("sha512") != Some(&sha512) {
        return Err(Error::BlobMismatch {
            digest: blob_digest,
            name: name.clone(),
        });
    }
    Ok((blob_digest, content))
}

/// Verified content, in a temporary file created in `temp_dir`.
pub struct Fetched {
    pub report: GetReport,
    pub content: tempfile::NamedTempFile,
}

pub async fn get(
    settings: &Settings,
    req: GetRequest<'_>,
    temp_dir: &Path,
) -> Result<Fetched, Error> {
    get_via(&Network, settings, req, temp_dir).await
}

/// `get` over any [`Remote`]; the trust data is opened only once the image digest is known.
pub(crate) async fn get_via(
    remote: &impl Remote,
    settings: &Settings,
    req: GetRequest<'_>,
    temp_dir: &Path,
) -> Result<Fetched, Error> {
    // The registry side (connecting, its TLS probe and credentials, resolving a tag) and the
    // trust update do not depend on each other: both at once. Errors keep their order: the
    // registry's first, as when they ran one after the other.
    let repo = req.image.repository_ref();
    let (registry, trusted) = tokio::join!(
        async {
            let registry = remote.registry(settings, req.image.registry()).await?;
            let resolved = match req.image.digest() {
                Some(_) => None,
                None => Some(registry.resolve(req.image).await?.digest),
            };
            Ok::<_, Error>((registry, resolved))
        },
        trust_now(remote, settings, &repo)
    );
    let (registry, resolved) = registry?;
    let open = async || trusted;
    get_resolved(&registry, resolved, open, req, temp_dir).await
}

/// `get` over any registry, with `open` verifying the trust data (called only once the image
/// digest is known: a tag is resolved first). The bundle reader uses it with its own source.
pub(crate) async fn get_from<S: MetadataSource>(
    registry: &impl Registry,
    open: impl AsyncFnOnce() -> Result<TrustedRepository<S>, NotaryError>,
    req: GetRequest<'_>,
    temp_dir: &Path,
) -> Result<Fetched, Error> {
    get_resolved(registry, None, open, req, temp_dir).await
}

/// [`get_from`], with the tag's digest already looked up (`resolved`) or not.
async fn get_resolved<S: MetadataSource>(
    registry: &impl Registry,
    resolved: Option<Digest>,
    open: impl AsyncFnOnce() -> Result<TrustedRepository<S>, NotaryError>,
    req: GetRequest<'_>,
    temp_dir: &Path,
) -> Result<Fetched, Error> {
    let repo = req.image.repository_ref();
    // A digest needs no resolving: the metadata is keyed by it and everything read is checked
    // against signed hashes. Only a tag costs a manifest request.
    let image_digest = match (req.image.digest(), resolved) {
        (Some(d), _) => d.clone(),
        (None, Some(digest)) => {
            tracing::info!("resolved {} to {digest}", req.image);
            digest
        }
        (None, None) => {
            let digest = registry.resolve(req.image).await?.digest;
            tracing::info!("resolved {} to {digest}", req.image);
            digest
        }
    };
    let name = layout::metadata_target(req.metadata_type, &image_digest);

    let mut trusted = open().await?;
    // Signed tags win: a tag the repository signs (Docker Content Trust) must resolve to it.
    if let (None, Some(tag)) = (req.image.digest(), req.image.tag())
        && let Some(signed) = signed_tag::signed_tag(&mut trusted.updater, tag)
            .await
            .map_err(Error::Update)?
    {
        signed_tag::check(&repo.gun(), tag, &image_digest, &signed)?;
        tracing::info!("tag {tag} is signed by {}: {image_digest}", signed.0);
    }
    let signers = shard::signers_of(&mut trusted.updater, &name)
        .await
        .map_err(Error::Update)?;
    let chosen = if req.requirements.is_empty() || signers.is_empty() {
        match &req.signed_by {
            None => signers.first().cloned(),
            Some(role) => signers.iter().find(|t| &t.role == role).cloned(),
        }
    } else {
        super::get_policy::choose(
            &req.image.to_string(),
            &req.requirements,
            &signers,
            req.signed_by.as_ref(),
            Utc::now(),
        )?
    };
    let roles: Vec<String> = signers.iter().map(|t| t.role.to_string()).collect();
    match &chosen {
        Some(t) => tracing::info!(
            "{name}: signed by {} (roles signing it: {}); reading the blob",
            t.role,
            roles.join(", ")
        ),
        None => tracing::info!("{name}: no target from the wanted role (signed by: {roles:?})"),
    }
    let Some(target) = chosen else {
        if let (Some(role), Some(other)) = (&req.signed_by, signers.first()) {
            return Err(Error::SignedByOther {
                name,
                image: req.image.to_string(),
                signer: other.role.clone(),
                wanted: role.clone(),
            });
        }
        if let Some(closest) =
            closest_type(&mut trusted.updater, req.metadata_type, &image_digest).await
        {
            return Err(Hinted::NoSuchType {
                metadata_type: req.metadata_type.clone(),
                image: req.image.to_string(),
                digest: image_digest,
                closest,
            }
            .into());
        }
        return Err(Error::NoMetadata {
            metadata_type: req.metadata_type.clone(),
            image: req.image.to_string(),
            digest: image_digest,
        });
    };
    // Roles that disagree (another blob): without --signed-by the first role in delegation
    // order wins, and the report names the others (the command says so on stderr).
    let dissenting_roles: Vec<String> = if req.signed_by.is_none() {
        let chosen_blob = layout::blob_digest(&target.meta);
        signers
            .iter()
            .filter(|t| layout::blob_digest(&t.meta) != chosen_blob)
            .map(|t| t.role.to_string())
            .collect()
    } else {
        Vec::new()
    };
    let custom = Custom::from_meta(&target.meta);
    if let Some(max_age) = req.max_age {
        let created = custom
            .as_ref()
            .and_then(|c| DateTime::parse_from_rfc3339(&c.created_at).ok())
            .map(|t| t.with_timezone(&Utc));
        let Some(created) = created else {
            return Err(Error::NoCreatedAt { name });
        };
        let age = (Utc::now() - created).to_std().unwrap_or_default();
        if age > max_age {
            return Err(Error::OlderThanMaxAge {
                metadata_type: req.metadata_type.clone(),
                image: req.image.to_string(),
                signed_at: created.to_rfc3339(),
                age: Duration::from_secs(age.as_secs()),
                max_age,
            });
        }
    }
    let (blob_digest, content) =
        fetch_verified(registry, repo.repository(), &target, temp_dir).await?;
    trusted.persist()?;
    Ok(Fetched {
        report: GetReport {
            image: req.image.to_string(),
            image_digest: image_digest.to_string(),
            metadata_type: req.metadata_type.to_string(),
            role: target.role.to_string(),
            blob_digest: blob_digest.to_string(),
            size: target.meta.length,
            media_type: custom.as_ref().map(|c| c.media_type.clone()),
            created_at: custom.as_ref().map(|c| c.created_at.clone()),
            annotations: custom.map(|c| c.annotations).unwrap_or_default(),
            dissenting_roles,
        },
        content,
    })
}

/// The type signed for `image` that `wanted` is probably a typo of. Only on the error path: it
/// walks every role (as `list` does); a failure to walk means no hint, never another error.
async fn closest_type<S: MetadataSource>(
    updater: &mut Updater<S>,
    wanted: &MetadataType,
    image: &Digest,
) -> Option<MetadataType> {
    let targets = shard::signed_for_image(updater, image).await.ok()?;
    let types: Vec<MetadataType> = targets
        .iter()
        .filter_map(|t| layout::parse_metadata_target(&t.name))
        .filter(|(_, d)| d == image)
        .map(|(ty, _)| ty)
        .collect();
    let best = hints::closest(wanted.as_str(), types.iter().map(MetadataType::as_str))?;
    MetadataType::parse(best).ok()
}

/// Where `get -O FILE` puts verified bytes. A regular file (or a new name) is replaced
/// atomically by a temporary file renamed over it, so readers see old or new content, never a
/// part. A FIFO or a character device (`/dev/null`, `/dev/stdout`, a process substitution) is
/// written into: renaming a regular file over it would silently replace the node, and as root
/// `-O /dev/null` would then break the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFile {
    Replace(PathBuf),
    Stream(PathBuf),
}

/// Why `-O FILE` cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputFileError {
    #[error(
        "cannot write to {path}: it is a {kind}; -O writes a regular file (replaced atomically), a FIFO or a character device"
    )]
    Unsupported { path: PathBuf, kind: &'static str },
    #[error("cannot inspect the output {path}")]
    Inspect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl OutputFileError {
    pub fn failure(&self) -> crate::failure::Failure {
        // The user chose the path; a different one fixes it.
        crate::failure::Failure::Usage
    }
}

impl OutputFile {
    /// Decide how to write `path` (following symlinks: a link to `/dev/null` is a device).
    /// Checked before anything is fetched, so a refused target costs no download.
    pub fn classify(path: &Path) -> Result<OutputFile, OutputFileError> {
        let meta = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(OutputFile::Replace(path.to_owned()));
            }
            Err(source) => {
                return Err(OutputFileError::Inspect {
                    path: path.to_owned(),
                    source,
                });
            }
            Ok(meta) => meta,
        };
        let kind = meta.file_type();
        if kind.is_file() {
            Ok(OutputFile::Replace(path.to_owned()))
        } else if kind.is_fifo() || kind.is_char_device() {
            Ok(OutputFile::Stream(path.to_owned()))
        } else {
            Err(OutputFileError::Unsupported {
                path: path.to_owned(),
                kind: kind_name(&kind),
            })
        }
    }

    /// Where the temporary file goes: next to a regular file so publishing it is an atomic
    /// rename; the system temp directory for a stream (never `/dev`).
    pub fn temp_dir(&self) -> PathBuf {
        match self {
            OutputFile::Replace(path) => path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
            OutputFile::Stream(_) => std::env::temp_dir(),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            OutputFile::Replace(p) | OutputFile::Stream(p) => p,
        }
    }

    /// Hand over verified `content`.
    pub fn write(&self, content: tempfile::NamedTempFile) -> Result<(), OutputFileError> {
        let write_err = |source| OutputFileError::Write {
            path: self.path().to_owned(),
            source,
        };
        match self {
            // On disk before it takes the name: a crash never leaves `path` renamed onto bytes
            // that were not written yet. (Content for stdout or a rule is never synced: it is
            // read once and removed.)
            OutputFile::Replace(path) => {
                content.as_file().sync_all().map_err(write_err)?;
                content
                    .persist(path)
                    .map(drop)
                    .map_err(|e| write_err(e.error))
            }
            OutputFile::Stream(path) => {
                // Opened without create or truncate: whatever `path` became since it was
                // classified, no new file appears and nothing existing is cut short.
                let mut out = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(write_err)?;
                let kind = out.metadata().map_err(write_err)?.file_type();
                if !(kind.is_fifo() || kind.is_char_device()) {
                    return Err(OutputFileError::Unsupported {
                        path: path.clone(),
                        kind: kind_name(&kind),
                    });
                }
                let mut input = content.reopen().map_err(write_err)?;
                std::io::copy(&mut input, &mut out).map_err(write_err)?;
                Ok(())
            }
        }
    }
}

fn kind_name(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "directory"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    //! `get` end to end over an in-memory registry and metadata source.

    use super::*;
    use crate::manifesto::remote::memory::MemoryRemote;
    use crate::notary::memory::MemoryNotary;
    use crate::registry::MemoryRegistry;
    use crate::registry::client::sha256_digest;
    use crate::tuf::metadata::Hashes;
    use crate::tuf::test_support::{self as ts, GUN, Repo};

    const CONTENT: &[u8] = b"{\"approved\":true}";

    struct Scene {
        notary: MemoryNotary,
        image: ImageRef,
        metadata_type: MetadataType,
        blob: Digest,
        dir: tempfile::TempDir,
    }

    /// A repository whose targets sign `approvals/<image>` as `signed` (length, hashes).
    fn scene(signed: &[u8]) -> Scene {
        let image_digest = sha256_digest(b"an image manifest");
        let image = ImageRef::parse(&format!("{GUN}@{image_digest}")).unwrap();
        let metadata_type = MetadataType::parse("approvals").unwrap();
        let name = layout::metadata_target(&metadata_type, &image_digest);
        let mut repo = Repo::new();
        let targets = ts::targets_meta(2, ts::far(), &[(&name, signed)]);
        repo.set("targets", ts::sign(&targets, &[&repo.tg_key]));
        repo.publish(2, 2);
        Scene {
            notary: MemoryNotary::serving(repo),
            image,
            metadata_type,
            blob: sha256_digest(signed),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    impl Scene {
        fn settings(&self) -> Settings {
            Settings::for_tests(&self.dir.path().join("trust"))
        }

        /// Where a `get` persists the verified metadata of [`GUN`].
        fn cached_metadata(&self) -> std::path::PathBuf {
            self.settings()
                .trust_dir
                .join("tuf")
                .join(GUN)
                .join("metadata")
        }

        async fn get(&self, registry: &MemoryRegistry, temp_dir: &Path) -> Result<Fetched, Error> {
            let remote = MemoryRemote {
                notary: self.notary.clone(),
                registry: registry.clone(),
            };
            let req = GetRequest {
                image: &self.image,
                metadata_type: &self.metadata_type,
                signed_by: None,
                max_age: None,
                requirements: Vec::new(),
            };
            get_via(&remote, &self.settings(), req, temp_dir).await
        }
    }

    #[tokio::test]
    async fn get_returns_the_signed_blob_it_fetched() {
        let sc = scene(CONTENT);
        let registry = MemoryRegistry::default();
        registry.serve(&sc.blob, CONTENT);
        let fetched = sc.get(&registry, sc.dir.path()).await.unwrap();
        assert_eq!(std::fs::read(fetched.content.path()).unwrap(), CONTENT);
        assert_eq!(fetched.report.blob_digest, sc.blob.to_string());
        assert_eq!(fetched.report.role, "targets");
        let cached = sc.cached_metadata();
        assert!(cached.join("targets.json").exists());
    }

    #[tokio::test]
    async fn get_refuses_a_blob_whose_bytes_do_not_match_the_signed_sha512_exit_3() {
        // Same length and sha256 as signed (what the registry client checks while streaming),
        // but the signed sha512 is of other bytes.
        let sc = scene(CONTENT);
        let image_digest = sc.image.digest().unwrap().clone();
        let name = layout::metadata_target(&sc.metadata_type, &image_digest);
        let mut targets = ts::targets_meta(3, ts::far(), &[(&name, CONTENT)]);
        let meta = targets.targets.get_mut(&name).unwrap();
        let other = Hashes::of(b"{\"approved\":false}");
        meta.hashes
            .0
            .insert("sha512".into(), other.0["sha512"].clone());
        sc.notary.change(|repo| {
            repo.set("targets", ts::sign(&targets, &[&repo.tg_key]));
        });
        let registry = MemoryRegistry::default();
        registry.serve(&sc.blob, CONTENT);
        let err = sc.get(&registry, sc.dir.path()).await.err().unwrap();
        assert!(matches!(err, Error::BlobMismatch { .. }), "{err:?}");
        assert_eq!(err.failure().exit_code(), 3);
        assert_eq!(registry.with(|c| c.pulls.len()), 1);
        // Nothing this run verified was persisted: no cached targets.
        let cached = sc.cached_metadata();
        assert!(!cached.join("targets.json").exists());
    }

    #[tokio::test]
    async fn an_unusable_temporary_directory_is_local_state_exit_8_not_usage() {
        let sc = scene(CONTENT);
        let registry = MemoryRegistry::default();
        registry.serve(&sc.blob, CONTENT);
        let missing = sc.dir.path().join("no-such-dir");
        let err = sc.get(&registry, &missing).await.err().unwrap();
        assert!(
            matches!(&err, Error::TempFile { dir, .. } if *dir == missing),
            "{err:?}"
        );
        assert_eq!(err.failure().exit_code(), 8);
        // Refused before any download.
        assert!(registry.with(|c| c.pulls.is_empty()));
    }
}
