//! The registry operations the flows need, as two narrow traits: [`Registry`] reads (what `get`
//! and `verify` need, which a bundle file can also serve), [`RegistryWrite`] the rest (what `put`,
//! `delete` and `repair` need). [`RegistryClient`] implements both in production, an in-memory
//! double in unit tests (a registry that serves whatever bytes it likes).

use std::future::Future;
use std::path::Path;

use bytes::Bytes;
use tokio::io::AsyncWrite;

use super::client::{RawManifest, RegistryClient, ResolvedImage};
use super::error::RegistryError;
use super::reference::{Digest, ImageRef};

pub(crate) trait Registry: Sync {
    /// The digest (and size and type) of the manifest `image` names.
    fn resolve(
        &self,
        image: &ImageRef,
    ) -> impl Future<Output = Result<ResolvedImage, RegistryError>> + Send;

    /// Stream blob `digest` of `repository` into `out`, at most `max_len` bytes; the bytes are
    /// unverified until the caller checked them against signed hashes.
    fn pull_blob_to<W: AsyncWrite + Unpin + Send>(
        &self,
        repository: &str,
        digest: &Digest,
        max_len: u64,
        out: &mut W,
    ) -> impl Future<Output = Result<u64, RegistryError>> + Send;

    /// Every tag of `repository` (the registry's tag list, all its pages), in its order.
    fn tags(
        &self,
        repository: &str,
    ) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send;
}

/// The registry operations of the writing flows.
pub(crate) trait RegistryWrite: Registry {
    /// Whether anything was ever pushed to `repository` (its tag list exists).
    fn repository_exists(
        &self,
        repository: &str,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send;

    /// Whether the repository holds blob `digest`.
    fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send;

    /// The manifest `reference` (a tag or a digest) names, as stored.
    fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> impl Future<Output = Result<RawManifest, RegistryError>> + Send;

    /// Store a manifest under `tag`, or under its own digest when `tag` is `None`.
    fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        media_type: &str,
        bytes: Bytes,
    ) -> impl Future<Output = Result<Digest, RegistryError>> + Send;

    /// Store a small blob (skipped when the registry already has it).
    fn push_blob_bytes(
        &self,
        repository: &str,
        data: Bytes,
    ) -> impl Future<Output = Result<Digest, RegistryError>> + Send;

    /// Store a file as the blob `digest` of `size` bytes (hashed by the caller), streamed;
    /// `progress` is called with the bytes sent so far.
    fn push_blob_file(
        &self,
        repository: &str,
        path: &Path,
        digest: &Digest,
        size: u64,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;
}

impl Registry for RegistryClient {
    fn resolve(
        &self,
        image: &ImageRef,
    ) -> impl Future<Output = Result<ResolvedImage, RegistryError>> + Send {
        RegistryClient::resolve(self, image)
    }

    fn pull_blob_to<W: AsyncWrite + Unpin + Send>(
        &self,
        repository: &str,
        digest: &Digest,
        max_len: u64,
        out: &mut W,
    ) -> impl Future<Output = Result<u64, RegistryError>> + Send {
        RegistryClient::pull_blob_to(self, repository, digest, max_len, out)
    }

    fn tags(
        &self,
        repository: &str,
    ) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send {
        RegistryClient::tags(self, repository)
    }
}

impl RegistryWrite for RegistryClient {
    fn repository_exists(
        &self,
        repository: &str,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send {
        RegistryClient::repository_exists(self, repository)
    }

    fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send {
        RegistryClient::blob_exists(self, repository, digest)
    }

    fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> impl Future<Output = Result<RawManifest, RegistryError>> + Send {
        RegistryClient::get_manifest(self, repository, reference, accept)
    }

    fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        media_type: &str,
        bytes: Bytes,
    ) -> impl Future<Output = Result<Digest, RegistryError>> + Send {
        RegistryClient::put_manifest(self, repository, tag, media_type, bytes)
    }

    fn push_blob_bytes(
        &self,
        repository: &str,
        data: Bytes,
    ) -> impl Future<Output = Result<Digest, RegistryError>> + Send {
        RegistryClient::push_blob_bytes(self, repository, data)
    }

    fn push_blob_file(
        &self,
        repository: &str,
        path: &Path,
        digest: &Digest,
        size: u64,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send {
        RegistryClient::push_blob_file(self, repository, path, digest, size, progress)
    }
}

#[cfg(test)]
pub(crate) mod double {
    //! An in-memory registry for unit tests of the flows.

    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::registry::client::sha256_digest;

    /// What the double holds. Blobs are served as they are (no hash check: a hostile
    /// registry); manifests by `repository:reference`.
    #[derive(Default)]
    pub(crate) struct Contents {
        pub(crate) blobs: BTreeMap<String, Vec<u8>>,
        pub(crate) manifests: BTreeMap<String, RawManifest>,
        /// Every blob pulled, in order.
        pub(crate) pulls: Vec<String>,
        /// Every manifest stored, as `repository:reference`, in order.
        pub(crate) manifest_puts: Vec<String>,
        /// Every image resolved, in order.
        pub(crate) resolves: Vec<String>,
    }

    /// A registry in memory; clones share the same contents. Every image resolves to its own
    /// digest (the double answers digest references only).
    #[derive(Default, Clone)]
    pub(crate) struct MemoryRegistry {
        contents: Arc<Mutex<Contents>>,
    }

    impl MemoryRegistry {
        pub(crate) fn serve(&self, digest: &Digest, bytes: &[u8]) {
            self.contents
                .lock()
                .unwrap()
                .blobs
                .insert(digest.to_string(), bytes.to_vec());
        }

        /// Read (or change) what the registry holds.
        pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Contents) -> T) -> T {
            f(&mut self.contents.lock().unwrap())
        }

        fn key(repository: &str, reference: &str) -> String {
            format!("{repository}:{reference}")
        }
    }

    impl Registry for MemoryRegistry {
        async fn resolve(&self, image: &ImageRef) -> Result<ResolvedImage, RegistryError> {
            self.with(|c| c.resolves.push(image.to_string()));
            let digest = image
                .digest()
                .cloned()
                .expect("the double resolves digests only");
            Ok(ResolvedImage {
                reference: image.clone(),
                size: 0,
                digest,
                media_type: String::new(),
            })
        }

        async fn pull_blob_to<W: AsyncWrite + Unpin + Send>(
            &self,
            _repository: &str,
            digest: &Digest,
            max_len: u64,
            out: &mut W,
        ) -> Result<u64, RegistryError> {
            let bytes = self.with(|c| {
                c.pulls.push(digest.to_string());
                c.blobs.get(&digest.to_string()).cloned()
            });
            let bytes = bytes.expect("the test serves every blob it pulls");
            let n = bytes
                .len()
                .min(usize::try_from(max_len).unwrap_or(usize::MAX));
            out.write_all(&bytes[..n]).await.unwrap();
            out.flush().await.unwrap();
            Ok(n as u64)
        }

        async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
            let prefix = format!("{repository}:");
            Ok(self.with(|c| {
                c.manifests
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .filter(|r| !r.contains(':'))
                    .map(str::to_string)
                    .collect()
            }))
        }
    }

    impl RegistryWrite for MemoryRegistry {
        async fn repository_exists(&self, repository: &str) -> Result<bool, RegistryError> {
            let prefix = format!("{repository}:");
            Ok(self.with(|c| c.manifests.keys().any(|k| k.starts_with(&prefix))))
        }

        async fn blob_exists(
            &self,
            _repository: &str,
            digest: &Digest,
        ) -> Result<bool, RegistryError> {
            Ok(self.with(|c| c.blobs.contains_key(&digest.to_string())))
        }

        async fn get_manifest(
            &self,
            repository: &str,
            reference: &str,
            _accept: &[&str],
        ) -> Result<RawManifest, RegistryError> {
            self.with(|c| c.manifests.get(&Self::key(repository, reference)).cloned())
                .ok_or_else(|| RegistryError::NotFound {
                    registry: "memory".into(),
                    repository: repository.into(),
                    what: format!("manifest {reference}"),
                })
        }

        async fn put_manifest(
            &self,
            repository: &str,
            tag: Option<&str>,
            media_type: &str,
            bytes: Bytes,
        ) -> Result<Digest, RegistryError> {
            let digest = sha256_digest(&bytes);
            let manifest = RawManifest {
                bytes,
                digest: digest.clone(),
                media_type: media_type.into(),
            };
            self.with(|c| {
                let by_digest = Self::key(repository, &digest.to_string());
                c.manifests.insert(by_digest.clone(), manifest.clone());
                let key = tag.map_or(by_digest, |t| Self::key(repository, t));
                c.manifests.insert(key.clone(), manifest);
                c.manifest_puts.push(key);
            });
            Ok(digest)
        }

        async fn push_blob_bytes(
            &self,
            _repository: &str,
            data: Bytes,
        ) -> Result<Digest, RegistryError> {
            let digest = sha256_digest(&data);
            self.serve(&digest, &data);
            Ok(digest)
        }

        async fn push_blob_file(
            &self,
            _repository: &str,
            path: &Path,
            digest: &Digest,
            size: u64,
            progress: impl Fn(u64) + Send + Sync + 'static,
        ) -> Result<(), RegistryError> {
            let data = std::fs::read(path).expect("the test's blob file is readable");
            // As a registry does: the bytes must be those the client named.
            assert_eq!(&sha256_digest(&data), digest, "the blob matches its digest");
            assert_eq!(data.len() as u64, size);
            self.serve(digest, &data);
            progress(size);
            Ok(())
        }
    }
}
