//! Bundles: the trust data and metadata blobs of some images in one file, for verification in
//! an air gap (format: docs/bundle.md).
//!
//! `bundle create` runs the full online update for each repository, looks every wanted target
//! up, fetches and verifies its blobs, and writes exactly the files that update relied on (plus
//! the root chain, so a reader with an older root can follow rotations). Offline reads (`get
//! --bundle`, `verify --bundle`, `bundle verify`) run the unchanged update over
//! [`BundleSource`], anchored in the trust dir's cached or pinned root, and read blobs through
//! [`BundleRegistry`]: no network at all. Like any update, an offline read may advance the trust
//! cache and never rolls it back (an older bundle than the cache is a rollback, exit 5).

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::MetadataType;
use super::get::{Fetched, GetRequest, fetch_verified, get_from};
use super::layout::{self, Custom};
use super::list::listing_via;
use super::remote::{Network, Remote, trust_now};
use crate::config::Settings;
use crate::error::Error;
use crate::failure::Failure;
use crate::notary::TrustedRepository;
use crate::notary::bundle::{
    BLOBS, Bundle, BundleError, BundleSource, FORMAT, INDEX, INDEX_MAX_BYTES, REPOSITORIES,
    offline_settings,
};
use crate::registry::{Digest, ImageRef, Registry, RegistryError, ResolvedImage};
use crate::tuf::metadata::FileMeta;
use crate::tuf::trusted::{TrustedState, TrustedTarget};
use crate::tuf::update::{MetadataSource, Updater};

/// Why an offline request cannot run.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(
        "{given} names no digest: a bundle holds metadata by image digest and tags need the registry; resolve it online ('manifesto resolve {given}') and pass IMAGE@DIGEST"
    )]
    NeedsDigest { given: String },
    #[error(
        "the index of {path} lists {name} signed by {role}, which its trust data does not sign"
    )]
    NotSigned {
        path: std::path::PathBuf,
        name: String,
        role: String,
    },
    #[error("the index of {path} does not parse: {why}")]
    BadIndex {
        path: std::path::PathBuf,
        why: String,
    },
}

impl OfflineError {
    pub fn failure(&self) -> Failure {
        match self {
            OfflineError::NeedsDigest { .. } => Failure::Usage,
            OfflineError::NotSigned { .. } | OfflineError::BadIndex { .. } => Failure::Untrusted,
        }
    }
}

/// The digest of an image an offline command was given; a tag is a usage error.
pub fn require_digest(image: &ImageRef) -> Result<&Digest, OfflineError> {
    image.digest().ok_or_else(|| OfflineError::NeedsDigest {
        given: image.to_string(),
    })
}

/// `manifesto-bundle.json`: what the writer put in (unsigned; readers verify every item).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleIndex {
    pub format: String,
    pub created_at: String,
    /// The earliest expiry of the trust data in the bundle when it was written.
    pub valid_until: String,
    pub repositories: Vec<RepositoryContents>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepositoryContents {
    pub gun: String,
    pub root_version: u64,
    /// The root versions the bundle carries (the chain a reader with an older root follows).
    pub roots: Vec<u64>,
    pub images: Vec<ImageContents>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageContents {
    pub digest: String,
    pub metadata: Vec<MetadataContents>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataContents {
    #[serde(rename = "type")]
    pub metadata_type: String,
    pub role: String,
    pub blob_digest: String,
    pub size: u64,
    pub created_at: Option<String>,
}

/// What `bundle create` wrote and `bundle verify` checked.
#[derive(Debug, Serialize)]
pub struct BundleReport {
    /// The bundle file (`path`, as every local file in a JSON output, docs/json.md).
    pub path: String,
    pub valid_until: String,
    #[serde(serialize_with = "report_repositories")]
    pub repositories: Vec<RepositoryContents>,
}

/// The repositories of a [`BundleReport`] in the vocabulary of the JSON outputs (docs/json.md):
/// an image's digest is `image_digest` there. The bundle's own index keeps `digest`
/// (docs/bundle.md): it is a file format, not an output.
fn report_repositories<S: serde::Serializer>(
    repositories: &[RepositoryContents],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Repository<'a> {
        gun: &'a str,
        root_version: u64,
        roots: &'a [u64],
        images: Vec<Image<'a>>,
    }
    #[derive(Serialize)]
    struct Image<'a> {
        image_digest: &'a str,
        metadata: &'a [MetadataContents],
    }
    serializer.collect_seq(repositories.iter().map(|r| {
        Repository {
            gun: &r.gun,
            root_version: r.root_version,
            roots: &r.roots,
            images: r
                .images
                .iter()
                .map(|i| Image {
                    image_digest: &i.digest,
                    metadata: &i.metadata,
                })
                .collect(),
        }
    }))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The bundle entry of a verified file of `role`, named as the Notary server names it.
fn trust_file_name(gun: &str, role: &str, bytes: &[u8]) -> String {
    let file = match role {
        "root" => "root.json".to_owned(),
        "timestamp" => "timestamp.json".to_owned(),
        _ => {
            let sha = FileMeta::of(bytes).sha256_hex().unwrap_or_default();
            format!("{role}.{sha}.json")
        }
    };
    format!("{REPOSITORIES}{gun}/{file}")
}

fn blob_entry(digest: &Digest) -> String {
    let text = digest.to_string();
    format!("{BLOBS}{}", text.strip_prefix("sha256:").unwrap_or(&text))
}

fn contents_of(ty: &str, target: &TrustedTarget) -> Option<MetadataContents> {
    let custom = Custom::from_meta(&target.meta);
    Some(MetadataContents {
        metadata_type: ty.to_owned(),
        role: target.role.to_string(),
        blob_digest: layout::blob_digest(&target.meta)?.to_string(),
        size: target.meta.length,
        created_at: custom.map(|c| c.created_at),
    })
}

/// Everything one repository contributes to a bundle.
struct RepositoryPart {
    contents: RepositoryContents,
    files: Vec<(String, Vec<u8>)>,
    blobs: Vec<(String, tempfile::NamedTempFile)>,
    valid_until: DateTime<Utc>,
}

/// `bundle create IMAGE@DIGEST… -O FILE [--type TYPE…]`.
pub async fn create(
    settings: &Settings,
    images: &[ImageRef],
    types: &[MetadataType],
    out: &Path,
) -> Result<BundleReport, Error> {
    create_via(&Network, settings, images, types, out).await
}

/// [`create`] over any [`Remote`].
pub(crate) async fn create_via(
    remote: &impl Remote,
    settings: &Settings,
    images: &[ImageRef],
    types: &[MetadataType],
    out: &Path,
) -> Result<BundleReport, Error> {
    let mut groups: Vec<(ImageRef, Vec<Digest>)> = Vec::new();
    for image in images {
        let digest = require_digest(image)?.clone();
        match groups.iter_mut().find(|(i, _)| i.gun() == image.gun()) {
            Some((_, digests)) if digests.contains(&digest) => {}
            Some((_, digests)) => digests.push(digest),
            None => groups.push((image.clone(), vec![digest])),
        }
    }
    let temp_dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ".".into());
    let mut parts = Vec::new();
    for (image, digests) in &groups {
        parts.push(create_part(remote, settings, image, digests, types, &temp_dir).await?);
    }
    let valid_until = parts
        .iter()
        .map(|p| p.valid_until)
        .min()
        .unwrap_or_else(Utc::now);
    let index = BundleIndex {
        format: FORMAT.into(),
        created_at: rfc3339(Utc::now()),
        valid_until: rfc3339(valid_until),
        repositories: parts.iter().map(|p| p.contents.clone()).collect(),
    };
    write_tar(out, &index, &parts, &temp_dir)?;
    Ok(BundleReport {
        path: out.display().to_string(),
        valid_until: index.valid_until,
        repositories: index.repositories,
    })
}

async fn create_part(
    remote: &impl Remote,
    settings: &Settings,
    image: &ImageRef,
    digests: &[Digest],
    types: &[MetadataType],
    temp_dir: &Path,
) -> Result<RepositoryPart, Error> {
    let repo = image.repository_ref();
    let gun = repo.gun();
    let mut wanted: Vec<(Digest, Vec<String>)> = Vec::new();
    for d in digests {
        let types: Vec<String> = if types.is_empty() {
            let mut all: Vec<String> = Vec::new();
            for row in listing_via(remote, settings, &repo, Some(d)).await? {
                if !all.contains(&row.metadata_type) {
                    all.push(row.metadata_type);
                }
            }
            all
        } else {
            types.iter().map(ToString::to_string).collect()
        };
        wanted.push((d.clone(), types));
    }
    let registry = remote.registry(settings, repo.registry()).await?;
    let mut trusted = trust_now(remote, settings, &repo).await?;
    let mut images = Vec::new();
    let mut blobs: Vec<(String, tempfile::NamedTempFile)> = Vec::new();
    for (digest, types) in &wanted {
        let mut metadata = Vec::new();
        for ty in types {
            let metadata_type = MetadataType::parse(ty)?;
            let name = layout::metadata_target(&metadata_type, digest);
            let signers = super::shard::signers_of(&mut trusted.updater, &name)
                .await
                .map_err(Error::Update)?;
            if signers.is_empty() {
                return Err(Error::NoMetadata {
                    metadata_type,
                    image: repo.with_digest(digest.clone()).to_string(),
                    digest: digest.clone(),
                });
            }
            for target in &signers {
                let (blob, file) =
                    fetch_verified(&registry, repo.repository(), target, temp_dir).await?;
                let entry = blob_entry(&blob);
                if !blobs.iter().any(|(e, _)| e == &entry) {
                    blobs.push((entry, file));
                }
                metadata.extend(contents_of(ty, target));
            }
        }
        images.push(ImageContents {
            digest: digest.to_string(),
            metadata,
        });
    }
    let updater = &trusted.updater;
    let mut files: Vec<(String, Vec<u8>)> = updater
        .relied_on()
        .map_err(|e| Error::Update(e.into()))?
        .into_iter()
        .map(|(role, bytes)| (trust_file_name(&gun, &role, bytes), bytes.to_vec()))
        .collect();
    let root_version = updater.state().root().version.get();
    let mut roots = Vec::new();
    for v in 1..=root_version {
        let file = format!("{v}.root.json");
        let max_len = settings.limits.root_max_bytes;
        // A server that no longer has an old root leaves a gap; readers start above it.
        if let Some(bytes) = updater
            .source()
            .fetch(&file, max_len)
            .await
            .map_err(|e| Error::Update(e.into()))?
        {
            files.push((format!("{REPOSITORIES}{gun}/{file}"), bytes));
            roots.push(v);
        }
    }
    let valid_until = updater.valid_until();
    trusted.persist()?;
    Ok(RepositoryPart {
        contents: RepositoryContents {
            gun,
            root_version,
            roots,
            images,
        },
        files,
        blobs,
        valid_until,
    })
}

fn write_tar(
    out: &Path,
    index: &BundleIndex,
    parts: &[RepositoryPart],
    temp_dir: &Path,
) -> Result<(), Error> {
    let write = |source| BundleError::Write {
        path: out.to_owned(),
        source,
    };
    let temp = tempfile::NamedTempFile::new_in(temp_dir).map_err(|source| Error::TempFile {
        dir: temp_dir.to_owned(),
        source,
    })?;
    let mut builder = tar::Builder::new(temp.reopen().map_err(write)?);
    let mut append = |name: &str, size: u64, data: &mut dyn Read| {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, data)
    };
    let index_bytes = serde_json::to_vec_pretty(index).expect("the index serialises");
    append(INDEX, index_bytes.len() as u64, &mut &index_bytes[..]).map_err(write)?;
    let mut blobs_written: Vec<&str> = Vec::new();
    for part in parts {
        for (name, bytes) in &part.files {
            append(name, bytes.len() as u64, &mut &bytes[..]).map_err(write)?;
        }
        for (name, file) in &part.blobs {
            if blobs_written.contains(&name.as_str()) {
                continue;
            }
            blobs_written.push(name);
            let mut reader = file.reopen().map_err(write)?;
            let size = reader.metadata().map_err(write)?.len();
            append(name, size, &mut reader).map_err(write)?;
        }
    }
    builder
        .into_inner()
        .and_then(|f| f.sync_all())
        .map_err(write)?;
    temp.persist(out).map_err(|e| write(e.error))?;
    Ok(())
}

/// The metadata blobs of a bundle, as a registry that is never on the network.
pub struct BundleRegistry<'a> {
    pub bundle: &'a Bundle,
}

impl Registry for BundleRegistry<'_> {
    async fn resolve(&self, image: &ImageRef) -> Result<ResolvedImage, RegistryError> {
        // Offline commands refuse tags before they get here; a digest needs no resolving.
        let digest = image
            .digest()
            .cloned()
            .ok_or_else(|| RegistryError::NotFound {
                registry: self.bundle.path().display().to_string(),
                repository: image.repository().to_owned(),
                what: format!("the tag of {image} (a bundle cannot resolve tags)"),
            })?;
        Ok(ResolvedImage {
            reference: image.clone(),
            digest,
            media_type: String::new(),
            size: 0,
        })
    }

    async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        // A bundle holds images by digest only.
        Err(RegistryError::NotFound {
            registry: self.bundle.path().display().to_string(),
            repository: repository.to_owned(),
            what: "the tag list (a bundle holds images by digest, not tags)".into(),
        })
    }

    async fn pull_blob_to<W: AsyncWrite + Unpin + Send>(
        &self,
        repository: &str,
        digest: &Digest,
        max_len: u64,
        out: &mut W,
    ) -> Result<u64, RegistryError> {
        let registry = self.bundle.path().display().to_string();
        let io = |source| RegistryError::Io {
            path: registry.clone(),
            source,
        };
        let entry = blob_entry(digest);
        let Some((mut reader, size)) = self
            .bundle
            .entry_reader(&entry)
            .map_err(|e| io(std::io::Error::other(e)))?
        else {
            return Err(RegistryError::NotFound {
                registry: registry.clone(),
                repository: repository.to_owned(),
                what: format!("blob {digest}"),
            });
        };
        if size > max_len {
            return Err(RegistryError::TooLarge {
                registry,
                digest: digest.to_string(),
                limit: max_len,
            });
        }
        let mut sha256 = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 1 << 16];
        let mut written = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            sha256.update(&buf[..n]);
            out.write_all(&buf[..n]).await.map_err(io)?;
            written += n as u64;
        }
        out.flush().await.map_err(io)?;
        let hex = hex::encode(sha256.finish().as_ref());
        if format!("sha256:{hex}") != digest.to_string() {
            return Err(RegistryError::DigestMismatch {
                registry,
                digest: digest.to_string(),
            });
        }
        Ok(written)
    }
}

/// `get IMAGE@DIGEST TYPE --bundle FILE`: `get` with the bundle as server and registry.
pub async fn get_offline(
    settings: &Settings,
    bundle_path: &Path,
    req: GetRequest<'_>,
    temp_dir: &Path,
) -> Result<Fetched, Error> {
    require_digest(req.image)?;
    let bundle = Bundle::open(bundle_path)?;
    let gun = req.image.gun();
    let offline = offline_settings(settings, &gun)?;
    let source = bundle.source(&gun)?;
    let registry = BundleRegistry { bundle: &bundle };
    let open = async || TrustedRepository::open_with(&offline, &gun, source, Utc::now()).await;
    get_from(&registry, open, req, temp_dir).await
}

/// Open `gun`'s trust data from `bundle`, offline, anchored in the trust dir.
pub async fn open_offline<'a>(
    settings: &Settings,
    bundle: &'a Bundle,
    gun: &str,
    now: DateTime<Utc>,
) -> Result<TrustedRepository<BundleSource<'a>>, Error> {
    let offline = offline_settings(settings, gun)?;
    let source = bundle.source(gun)?;
    Ok(TrustedRepository::open_with(&offline, gun, source, now).await?)
}

/// Every consecutive pair of roots the bundle carries must chain: `N+1` signed by `N`'s keys
/// and threshold and by its own.
async fn check_root_chain(
    bundle: &Bundle,
    settings: &Settings,
    contents: &RepositoryContents,
) -> Result<(), Error> {
    let source = bundle.source(&contents.gun)?;
    let max_len = settings.limits.root_max_bytes;
    let mut previous: Option<Vec<u8>> = None;
    for v in &contents.roots {
        let file = format!("{v}.root.json");
        let bytes = source
            .fetch(&file, max_len)
            .await
            .map_err(|e| Error::Update(e.into()))?
            .ok_or_else(|| BundleError::Malformed {
                path: bundle.path().to_owned(),
                why: format!("its index lists {file} of {}, which it lacks", contents.gun),
            })?;
        if let Some(prev) = previous.take() {
            let mut state = TrustedState::new(&contents.gun, &prev, &settings.limits)
                .map_err(|e| Error::Update(e.into()))?;
            state
                .update_root(&bytes)
                .map_err(|e| Error::Update(e.into()))?;
        }
        previous = Some(bytes);
    }
    Ok(())
}

/// `bundle verify FILE`: every repository's trust data verified offline against the trust dir,
/// every listed target looked up and its blob checked. Returns what it holds and its horizon.
pub async fn verify_bundle(
    settings: &Settings,
    path: &Path,
    temp_dir: &Path,
) -> Result<BundleReport, Error> {
    let bundle = Bundle::open(path)?;
    let bad_index = |why: String| OfflineError::BadIndex {
        path: path.to_owned(),
        why,
    };
    let index_bytes = bundle
        .read(INDEX, INDEX_MAX_BYTES)?
        .ok_or_else(|| bad_index("missing".into()))?;
    let index: BundleIndex =
        serde_json::from_slice(&index_bytes).map_err(|e| bad_index(e.to_string()))?;
    if index.format != FORMAT {
        return Err(bad_index(format!("format {:?}, expected {FORMAT:?}", index.format)).into());
    }
    let held = bundle.repositories()?;
    if let Some(extra) = held
        .iter()
        .find(|g| !index.repositories.iter().any(|r| &r.gun == *g))
    {
        return Err(bad_index(format!(
            "it holds trust data of {extra} that it does not list"
        ))
        .into());
    }
    let registry = BundleRegistry { bundle: &bundle };
    let now = Utc::now();
    let mut valid_until: Option<DateTime<Utc>> = None;
    let mut repositories = Vec::new();
    for listed in &index.repositories {
        check_root_chain(&bundle, settings, listed).await?;
        let mut trusted = open_offline(settings, &bundle, &listed.gun, now).await?;
        let repo = crate::registry::reference::RepositoryRef::parse(&listed.gun)?;
        let mut images = Vec::new();
        for image in &listed.images {
            let digest = Digest::parse(&image.digest)
                .map_err(|e| bad_index(format!("{:?}: {e}", image.digest)))?;
            let mut metadata = Vec::new();
            for item in &image.metadata {
                let ty = MetadataType::parse(&item.metadata_type)?;
                let name = layout::metadata_target(&ty, &digest);
                let signers = verified_signers(&mut trusted.updater, &name).await?;
                let target = signers
                    .iter()
                    .find(|t| {
                        t.role.as_str() == item.role
                            && layout::blob_digest(&t.meta).map(|d| d.to_string())
                                == Some(item.blob_digest.clone())
                    })
                    .ok_or_else(|| OfflineError::NotSigned {
                        path: path.to_owned(),
                        name: name.clone(),
                        role: item.role.clone(),
                    })?;
                fetch_verified(&registry, repo.repository(), target, temp_dir).await?;
                metadata.extend(contents_of(&item.metadata_type, target));
            }
            images.push(ImageContents {
                digest: image.digest.clone(),
                metadata,
            });
        }
        let until = trusted.updater.valid_until();
        valid_until = Some(valid_until.map_or(until, |v| v.min(until)));
        let root_version = trusted.updater.state().root().version.get();
        trusted.persist()?;
        repositories.push(RepositoryContents {
            gun: listed.gun.clone(),
            root_version,
            roots: listed.roots.clone(),
            images,
        });
    }
    Ok(BundleReport {
        path: path.display().to_string(),
        valid_until: rfc3339(valid_until.unwrap_or(now)),
        repositories,
    })
}

async fn verified_signers<S: MetadataSource>(
    updater: &mut Updater<S>,
    name: &str,
) -> Result<Vec<TrustedTarget>, Error> {
    super::shard::signers_of(updater, name)
        .await
        .map_err(Error::Update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::client::sha256_digest;

    fn bundle_with(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut builder = tar::Builder::new(file.reopen().unwrap());
        for (name, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, *bytes).unwrap();
        }
        builder.finish().unwrap();
        file
    }

    async fn pull(
        bundle: &Bundle,
        digest: &Digest,
        max_len: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut out = Vec::new();
        BundleRegistry { bundle }
            .pull_blob_to("team/app", digest, max_len, &mut out)
            .await?;
        Ok(out)
    }

    #[tokio::test]
    async fn the_bundle_registry_serves_a_blob_only_when_it_matches_its_name_and_cap() {
        let good = b"{\"approved\":true}";
        let digest = sha256_digest(good);
        let forged = sha256_digest(b"something else");
        let file = bundle_with(&[
            (INDEX, b"{}"),
            (&blob_entry(&digest), good),
            (&blob_entry(&forged), good),
        ]);
        let bundle = Bundle::open(file.path()).unwrap();
        assert_eq!(pull(&bundle, &digest, 100).await.unwrap(), good);
        let err = pull(&bundle, &forged, 100).await.unwrap_err();
        assert!(
            matches!(err, RegistryError::DigestMismatch { .. }),
            "{err:?}"
        );
        assert_eq!(err.failure().exit_code(), 3);
        let err = pull(&bundle, &digest, 5).await.unwrap_err();
        assert!(matches!(err, RegistryError::TooLarge { .. }), "{err:?}");
        let missing = sha256_digest(b"not in the bundle");
        let err = pull(&bundle, &missing, 100).await.unwrap_err();
        assert_eq!(err.failure().exit_code(), 9);
    }

    #[test]
    fn a_tag_offline_is_a_usage_error_with_the_hint() {
        let image = ImageRef::parse("registry.example.com/team/app:v1").unwrap();
        let err = require_digest(&image).unwrap_err();
        assert_eq!(err.failure().exit_code(), 2);
        assert!(err.to_string().contains("tags need the registry"), "{err}");
    }
}
