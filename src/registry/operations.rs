//! The registry operations the flows need, as a narrow trait: [`RegistryClient`] in production,
//! an in-memory double in unit tests (a registry that serves whatever bytes it likes).

use std::future::Future;

use tokio::io::AsyncWrite;

use super::client::{RegistryClient, ResolvedImage};
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
}

#[cfg(test)]
pub(crate) mod double {
    //! An in-memory registry for unit tests of the flows.

    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Blobs by digest, served as they are (no hash check: a hostile registry), and the
    /// manifest digest every image resolves to.
    #[derive(Default)]
    pub(crate) struct MemoryRegistry {
        pub(crate) blobs: Mutex<BTreeMap<String, Vec<u8>>>,
        pub(crate) pulls: Mutex<Vec<String>>,
    }

    impl MemoryRegistry {
        pub(crate) fn serve(&self, digest: &Digest, bytes: &[u8]) {
            self.blobs
                .lock()
                .unwrap()
                .insert(digest.to_string(), bytes.to_vec());
        }
    }

    impl Registry for MemoryRegistry {
        async fn resolve(&self, image: &ImageRef) -> Result<ResolvedImage, RegistryError> {
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
            self.pulls.lock().unwrap().push(digest.to_string());
            let bytes = self.blobs.lock().unwrap().get(&digest.to_string()).cloned();
            let bytes = bytes.expect("the test serves every blob it pulls");
            let n = bytes
                .len()
                .min(usize::try_from(max_len).unwrap_or(usize::MAX));
            out.write_all(&bytes[..n]).await.unwrap();
            out.flush().await.unwrap();
            Ok(n as u64)
        }
    }
}
