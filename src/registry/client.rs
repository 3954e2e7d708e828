//! The registry client: one repository's manifests and blobs, over oci-client.
//!
//! Everything read by digest is re-hashed here before it is handed on, so a registry (or anything
//! between us and it) that serves other bytes is caught even where oci-client would not check.
//! Blobs stream through bounded buffers in both directions, so a 1 GiB blob never sits in memory.

use std::path::Path;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use reqwest::StatusCode;
use ring::digest::{Context, SHA256};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

use super::credentials::{self, Credentials};
use super::error::RegistryError;
use super::reference::{Digest, ImageRef};
use crate::http::{self, HttpSettings, find_source};

/// OCI and Docker media types manifesto reads and writes.
pub mod media_types {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Everything an image reference may resolve to.
    pub const IMAGE_MANIFESTS: &[&str] = &[
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
    ];
}

/// Largest manifest or index accepted (the OCI distribution spec suggests 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Size of the pieces a streamed blob upload is read in.
const UPLOAD_PIECE: usize = 1024 * 1024;

/// An image reference resolved to the digest of its manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResolvedImage {
    /// The reference pinned to its digest (the tag, if any, kept for display).
    pub reference: ImageRef,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// A manifest as stored: its exact bytes and their digest.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Bytes,
    pub digest: Digest,
    pub media_type: String,
}

/// Client for one registry host.
///
/// Writes go through oci-client. Reads (manifests, indexes, blobs) go through our own reqwest
/// client with oci-client only supplying the token: oci-client reads a manifest whole before any
/// size check and follows redirects anywhere, where we need the body streamed under a cap and a
/// deadline (scenario 50, slow retrieval) and every redirect held to the plain-HTTP rule (53).
pub struct RegistryClient {
    oci: Client,
    http: reqwest::Client,
    settings: HttpSettings,
    auth: RegistryAuth,
    creds: Credentials,
    registry: String,
    plain_http: bool,
    /// Pull tokens from the registry's token service, per repository; wiped on drop.
    tokens: tokio::sync::Mutex<std::collections::HashMap<String, Zeroizing<String>>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.registry)
            .field("plain_http", &self.plain_http)
            .finish_non_exhaustive()
    }
}

/// sha256 digest of bytes in memory.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    digest_of(ring::digest::digest(&SHA256, bytes))
}

fn digest_of(d: ring::digest::Digest) -> Digest {
    Digest::parse(&format!("sha256:{}", hex::encode(d.as_ref())))
        .expect("a sha256 hex digest is always valid")
}

impl RegistryClient {
    /// Connect to `registry` (`host[:port]`), choosing TLS or plain HTTP and credentials.
    ///
    /// TLS is always tried first. Plain HTTP is used only when the host may use it (loopback, or
    /// listed as insecure) *and* it does not speak TLS, which is what the Docker daemon does for
    /// insecure registries. A TLS failure on any other host is an error, never a downgrade.
    pub async fn connect(
        settings: &HttpSettings,
        registry: &str,
    ) -> Result<RegistryClient, RegistryError> {
        let plain_http =
            settings.plain_http_allowed(registry) && !speaks_tls(settings, registry).await?;
        let creds = credentials::lookup(registry).await?;
        tracing::debug!(
            registry,
            plain_http,
            credentials = creds.describe(),
            "registry connection"
        );
        Self::with_credentials(settings, registry, plain_http, creds)
    }

    /// Build a client with explicit protocol and credentials (used by `connect` and tests).
    pub fn with_credentials(
        settings: &HttpSettings,
        registry: &str,
        plain_http: bool,
        creds: Credentials,
    ) -> Result<RegistryClient, RegistryError> {
        crate::http::ensure_crypto_provider();
        let config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            extra_root_certificates: settings
                .extra_ca_pem
                .iter()
                .map(|ca| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: ca.pem.clone(),
                })
                .collect(),
            read_timeout: Some(settings.read_timeout),
            connect_timeout: Some(settings.connect_timeout),
            user_agent: concat!("manifesto/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let oci = Client::try_from(config).map_err(|source| RegistryError::Protocol {
            registry: registry.into(),
            repository: String::new(),
            source,
        })?;
        Ok(RegistryClient {
            oci,
            http: settings.reqwest_client()?,
            settings: settings.clone(),
            auth: creds.to_oci(),
            creds,
            registry: registry.to_string(),
            plain_http,
            tokens: Default::default(),
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Whether this client speaks plain HTTP to the registry.
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }

    fn oci_ref(&self, repository: &str, reference: &str) -> Reference {
        if reference.contains(':') {
            Reference::with_digest(
                self.registry.clone(),
                repository.to_string(),
                reference.to_string(),
            )
        } else {
            Reference::with_tag(
                self.registry.clone(),
                repository.to_string(),
                reference.to_string(),
            )
        }
    }

    /// GET `/v2/<repository>/<path>`, answering the registry's challenge: a Bearer challenge
    /// through its token service (answer read bounded, like every registry body), a Basic one
    /// with our credentials. Credentials are sent only after a challenge, as Docker does.
    async fn authorized_get(
        &self,
        repository: &str,
        path: &str,
        accept: &[&str],
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let scheme = if self.plain_http { "http" } else { "https" };
        let host = self
            .oci_ref(repository, "latest")
            .resolve_registry()
            .to_string();
        let url = format!("{scheme}://{host}/v2/{repository}/{path}");
        let send = |auth: Auth| {
            let mut request = self.http.get(&url);
            if !accept.is_empty() {
                request = request.header(reqwest::header::ACCEPT, accept.join(", "));
            }
            let request = match auth {
                Auth::Bearer(token) => request.bearer_auth(token.as_str()),
                Auth::Basic => self.with_basic(request),
                Auth::None => request,
            };
            async move {
                request
                    .send()
                    .await
                    .map_err(|source| self.transport_error(source))
            }
        };
        let cached = self.tokens.lock().await.get(repository).cloned();
        let mut response = send(cached.map_or(Auth::None, Auth::Bearer)).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let challenge = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if let Some(params) = crate::http::parse_bearer_challenge(&challenge) {
                let token = self.fetch_token(repository, &params).await?;
                self.tokens
                    .lock()
                    .await
                    .insert(repository.to_string(), token.clone());
                response = send(Auth::Bearer(token)).await?;
            } else if !matches!(self.creds, Credentials::Anonymous) {
                response = send(Auth::Basic).await?;
            }
        }
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        Err(match status.as_u16() {
            404 => RegistryError::NotFound {
                registry: self.registry.clone(),
                repository: repository.into(),
                what: what.into(),
            },
            401 | 403 => RegistryError::Unauthorized {
                registry: self.registry.clone(),
                repository: repository.into(),
            },
            code => RegistryError::Status {
                registry: self.registry.clone(),
                repository: repository.into(),
                what: what.into(),
                status: code,
            },
        })
    }

    fn with_basic(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.creds {
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
            Credentials::IdentityToken(token) => request.basic_auth("<token>", Some(token)),
            Credentials::Anonymous => request,
        }
    }

    /// A pull token for `repository` from the realm of the registry's challenge. The realm is
    /// held to the plain-HTTP rule (it receives our password) and its answer is read bounded
    /// in size and time.
    async fn fetch_token(
        &self,
        repository: &str,
        params: &crate::http::BearerChallenge,
    ) -> Result<Zeroizing<String>, RegistryError> {
        let failed = |reason: &'static str| RegistryError::TokenService {
            registry: self.registry.clone(),
            realm: params.realm.clone(),
            reason,
        };
        let mut url =
            url::Url::parse(&params.realm).map_err(|_| failed("the realm is not a URL"))?;
        self.settings.check_scheme(&url)?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = &params.service {
                q.append_pair("service", service);
            }
            q.append_pair("scope", &format!("repository:{repository}:pull"));
            if let Credentials::Basic { username, .. } = &self.creds {
                q.append_pair("account", username);
            }
        }
        const MAX_TOKEN_ANSWER: u64 = 64 * 1024;
        let limit = self.settings.download_deadline(MAX_TOKEN_ANSWER);
        let ask = async {
            let response = self
                .with_basic(self.http.get(url))
                .send()
                .await
                .map_err(|source| self.transport_error(source))?;
            match response.status() {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(RegistryError::Unauthorized {
                        registry: self.registry.clone(),
                        repository: repository.into(),
                    });
                }
                s if !s.is_success() => return Err(failed("it answered an error status")),
                _ => {}
            }
            http::read_capped(response, MAX_TOKEN_ANSWER)
                .await
                .map(Zeroizing::new)
                .map_err(|_| failed("its answer is too large or broken"))
        };
        let body = tokio::time::timeout(limit, ask)
            .await
            .map_err(|_| failed("it did not answer in time"))??;
        #[derive(serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| failed("its answer is not JSON"))?;
        answer
            .token
            .as_ref()
            .or(answer.access_token.as_ref())
            .filter(|t| !t.is_empty())
            .map(|t| Zeroizing::new(t.clone()))
            .ok_or_else(|| failed("its answer holds no token"))
    }

    /// A failed request as the error it is (see [`RegistryError::tls_or_unreachable`]).
    fn transport_error(&self, source: reqwest::Error) -> RegistryError {
        if let Some(refusal) = http::redirect_refusal(&source) {
            return RegistryError::Http(refusal);
        }
        RegistryError::tls_or_unreachable(&self.registry, source)
    }

    fn err(
        &self,
        repository: &str,
        what: &str,
        e: oci_client::errors::OciDistributionError,
    ) -> RegistryError {
        RegistryError::from_oci(&self.registry, repository, what, e)
    }

    /// Resolve an image reference to the digest of its manifest (an image index stays an index:
    /// metadata is attached to what the reference names, not to one platform).
    pub async fn resolve(&self, image: &ImageRef) -> Result<ResolvedImage, RegistryError> {
        let reference = match (image.digest(), image.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let manifest = self
            .get_manifest(image.repository(), &reference, media_types::IMAGE_MANIFESTS)
            .await?;
        if let Some(pinned) = image.digest().filter(|pinned| **pinned != manifest.digest) {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                digest: pinned.to_string(),
            });
        }
        Ok(ResolvedImage {
            reference: image.with_digest(manifest.digest.clone()),
            size: manifest.bytes.len() as u64,
            digest: manifest.digest,
            media_type: manifest.media_type,
        })
    }

    /// Fetch a manifest or index by tag or digest. When fetched by digest, the bytes must hash
    /// to it; either way the returned digest is computed here from the bytes.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        accept: &[&str],
    ) -> Result<RawManifest, RegistryError> {
        let what = format!("manifest {reference}");
        // Request, headers and body all within the deadline a 4 MiB body gets; the body is
        // streamed under the cap, so an endless manifest is cut off there (scenario 50).
        let limit = self.settings.download_deadline(MAX_MANIFEST_BYTES);
        let read = async {
            let response = self
                .authorized_get(repository, &format!("manifests/{reference}"), accept, &what)
                .await?;
            http::read_capped(response, MAX_MANIFEST_BYTES)
                .await
                .map_err(|e| match e {
                    http::ReadError::TooLarge => RegistryError::ManifestTooLarge {
                        registry: self.registry.clone(),
                        repository: repository.into(),
                        reference: reference.into(),
                        limit: MAX_MANIFEST_BYTES,
                    },
                    http::ReadError::Transport(source) => self.transport_error(source),
                })
        };
        let bytes = Bytes::from(tokio::time::timeout(limit, read).await.map_err(|_| {
            RegistryError::Deadline {
                registry: self.registry.clone(),
                what: what.clone(),
                limit,
            }
        })??);
        let digest = sha256_digest(&bytes);
        if reference.contains(':') && digest.to_string() != reference {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                digest: reference.to_string(),
            });
        }
        let media_type =
            manifest_media_type(&bytes).map_err(|source| RegistryError::BadManifest {
                reference: format!("{}/{repository}:{reference}", self.registry),
                source,
            })?;
        Ok(RawManifest {
            bytes,
            digest,
            media_type,
        })
    }

    /// Store a manifest or index under a tag, or under its own digest when `tag` is `None`.
    /// Returns the digest of the bytes stored.
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, RegistryError> {
        let digest = sha256_digest(&bytes);
        let reference = tag
            .map(str::to_string)
            .unwrap_or_else(|| digest.to_string());
        let oci_ref = self.oci_ref(repository, &reference);
        self.authenticate(&oci_ref).await;
        let content_type = reqwest::header::HeaderValue::from_str(media_type).map_err(|_| {
            RegistryError::Protocol {
                registry: self.registry.clone(),
                repository: repository.into(),
                source: oci_client::errors::OciDistributionError::UnsupportedMediaTypeError(
                    media_type.into(),
                ),
            }
        })?;
        self.oci
            .push_manifest_raw(&oci_ref, bytes, content_type)
            .await
            .map_err(|e| self.err(repository, &format!("manifest {reference}"), e))?;
        Ok(digest)
    }

    /// Hand our credentials to oci-client. It authenticates lazily on the first request of each
    /// operation (the registry's challenge, then a token or basic auth) and caches the result,
    /// so no extra round trip is made here.
    async fn authenticate(&self, oci_ref: &Reference) {
        self.oci
            .store_auth_if_needed(oci_ref.resolve_registry(), &self.auth)
            .await;
    }

    /// Whether the repository holds a blob.
    pub async fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let oci_ref = self.oci_ref(repository, &digest.to_string());
        self.oci
            .store_auth_if_needed(oci_ref.resolve_registry(), &self.auth)
            .await;
        self.oci
            .blob_exists(&oci_ref, &digest.to_string())
            .await
            .map_err(|e| self.err(repository, &format!("blob {digest}"), e))
    }

    /// Whether the registry knows `repository`: `GET /v2/<repository>/tags/list` answers 404
    /// (`NAME_UNKNOWN`) for a repository nobody pushed to. Only the status is used; the body is
    /// never read, and the request runs under the deadline of a small download.
    pub async fn repository_exists(&self, repository: &str) -> Result<bool, RegistryError> {
        let what = "tag list";
        let limit = self.settings.download_deadline(64 << 10);
        let answer = tokio::time::timeout(
            limit,
            self.authorized_get(repository, "tags/list", &[], what),
        )
        .await
        .map_err(|_| RegistryError::Deadline {
            registry: self.registry.clone(),
            what: what.into(),
            limit,
        })?;
        match answer {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Push a small blob held in memory; skipped when the registry already has it.
    pub async fn push_blob_bytes(
        &self,
        repository: &str,
        data: Bytes,
    ) -> Result<Digest, RegistryError> {
        let digest = sha256_digest(&data);
        let oci_ref = self.oci_ref(repository, &digest.to_string());
        self.authenticate(&oci_ref).await;
        if self.blob_exists(repository, &digest).await? {
            return Ok(digest);
        }
        self.oci
            .push_blob(&oci_ref, data, &digest.to_string())
            .await
            .map_err(|e| self.err(repository, &format!("blob {digest}"), e))?;
        Ok(digest)
    }

    /// Push a file as a blob, streamed in chunks: the file is hashed first (so an existing blob
    /// is not uploaded again), then sent piece by piece. `progress` is called with bytes sent.
    pub async fn push_blob_file(
        &self,
        repository: &str,
        path: &Path,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<(Digest, u64), RegistryError> {
        let io_err = |source| RegistryError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(io_err)?;
        let mut ctx = Context::new(&SHA256);
        let mut size = 0u64;
        let mut buf = vec![0u8; UPLOAD_PIECE];
        loop {
            let n = file.read(&mut buf).await.map_err(io_err)?;
            if n == 0 {
                break;
            }
            ctx.update(&buf[..n]);
            size += n as u64;
        }
        let digest = digest_of(ctx.finish());
        let oci_ref = self.oci_ref(repository, &digest.to_string());
        self.authenticate(&oci_ref).await;
        if self.blob_exists(repository, &digest).await? {
            progress(size);
            return Ok((digest, size));
        }
        let file = tokio::fs::File::open(path).await.map_err(io_err)?;
        let stream = futures_util::stream::try_unfold(file, move |mut file| async move {
            let mut buf = vec![0u8; UPLOAD_PIECE];
            let n = file
                .read(&mut buf)
                .await
                .map_err(oci_client::errors::OciDistributionError::IoError)?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), file)))
        })
        .inspect_ok(move |chunk| progress(chunk.len() as u64));
        self.oci
            .push_blob_stream(&oci_ref, stream, &digest.to_string(), Some(size))
            .await
            .map_err(|e| self.err(repository, &format!("blob {digest}"), e))?;
        Ok((digest, size))
    }

    /// Stream a blob into `out`, refusing it when it exceeds `max_len` bytes or does not hash to
    /// `digest`. Bytes written to `out` are unverified until this returns `Ok`: callers write to
    /// a temporary place and publish it only then.
    pub async fn pull_blob_to<W: AsyncWrite + Unpin>(
        &self,
        repository: &str,
        digest: &Digest,
        max_len: u64,
        out: &mut W,
    ) -> Result<u64, RegistryError> {
        let what = format!("blob {digest}");
        // A blob gets the time its signed length needs at the slowest allowed rate, so a
        // registry dripping it byte by byte is cut off (slow retrieval).
        let limit = self.settings.download_deadline(max_len);
        let pull = self.pull_blob_within(repository, digest, max_len, out, &what);
        tokio::time::timeout(limit, pull)
            .await
            .map_err(|_| RegistryError::Deadline {
                registry: self.registry.clone(),
                what,
                limit,
            })?
    }

    async fn pull_blob_within<W: AsyncWrite + Unpin>(
        &self,
        repository: &str,
        digest: &Digest,
        max_len: u64,
        out: &mut W,
        what: &str,
    ) -> Result<u64, RegistryError> {
        let response = self
            .authorized_get(repository, &format!("blobs/{digest}"), &[], what)
            .await?;
        let too_large = || RegistryError::TooLarge {
            registry: self.registry.clone(),
            digest: digest.to_string(),
            limit: max_len,
        };
        if response.content_length().is_some_and(|l| l > max_len) {
            return Err(too_large());
        }
        let mut stream = response.bytes_stream();
        let mut ctx = Context::new(&SHA256);
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| self.transport_error(source))?;
            total += chunk.len() as u64;
            if total > max_len {
                return Err(too_large());
            }
            ctx.update(&chunk);
            out.write_all(&chunk)
                .await
                .map_err(|source| RegistryError::Io {
                    path: "blob output".into(),
                    source,
                })?;
        }
        if digest_of(ctx.finish()) != *digest {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                digest: digest.to_string(),
            });
        }
        out.flush().await.map_err(|source| RegistryError::Io {
            path: "blob output".into(),
            source,
        })?;
        Ok(total)
    }

    /// Read a small blob fully into memory, verified.
    pub async fn pull_blob_bytes(
        &self,
        repository: &str,
        digest: &Digest,
        max_len: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut out = Vec::new();
        self.pull_blob_to(repository, digest, max_len, &mut out)
            .await?;
        Ok(out)
    }
}

/// What to authorise a read with.
enum Auth {
    None,
    Basic,
    Bearer(Zeroizing<String>),
}

/// The media type a manifest declares; OCI allows it to be absent for image manifests.
fn manifest_media_type(bytes: &[u8]) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(bytes)?;
    Ok(head.media_type.unwrap_or_else(|| {
        if head.manifests.is_some() {
            media_types::OCI_INDEX.to_string()
        } else {
            media_types::OCI_MANIFEST.to_string()
        }
    }))
}

/// Whether `registry` answers TLS on `/v2/`. A connection refused is an error (nothing listens);
/// a TLS handshake that fails on the certificate means "TLS, but not trusted", which must surface
/// as a TLS error later rather than silently downgrade; any other handshake failure means the
/// server speaks plain HTTP.
async fn speaks_tls(settings: &HttpSettings, registry: &str) -> Result<bool, RegistryError> {
    let client = settings.reqwest_client()?;
    match client.get(format!("https://{registry}/v2/")).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if find_source::<std::io::Error>(&e)
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) =>
        {
            Err(RegistryError::Unreachable {
                registry: registry.into(),
                source: e,
            })
        }
        Err(e) if e.is_timeout() => Err(RegistryError::Unreachable {
            registry: registry.into(),
            source: e,
        }),
        Err(e) => Ok(matches!(
            find_source::<rustls::Error>(&e),
            Some(rustls::Error::InvalidCertificate(_))
        )),
    }
}
