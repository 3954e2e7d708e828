//! The registry client: one repository's manifests and blobs, over the OCI distribution API.
//!
//! Everything read by digest is re-hashed here before it is handed on, so a registry (or anything
//! between us and it) that serves other bytes is caught. Blobs stream through bounded buffers in
//! both directions, so a 1 GiB blob never sits in memory. Every request answers the registry's
//! challenge once per repository and scope (a Bearer token from its token service, or Basic), the
//! token is reused for the rest of the run, every body the registry sends is read under a cap and
//! a deadline, and every redirect is held to the plain-HTTP rule.

use std::path::Path;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
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

/// Blobs up to this size are uploaded without a `HEAD` first: uploading costs two requests
/// whether or not the registry already has them, so asking would only add a third.
const ASK_BEFORE_UPLOAD: u64 = 64 * 1024;

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
/// Reads and writes go through one reqwest client (see `crate::http`): bodies streamed under a
/// cap and a deadline (scenario 50, slow retrieval), redirects held to the plain-HTTP rule (53).
pub struct RegistryClient {
    http: reqwest::Client,
    settings: HttpSettings,
    creds: Credentials,
    registry: String,
    plain_http: bool,
    /// How each repository and scope was last authorised (a token from the registry's token
    /// service, or Basic), so one challenge is answered once per run; tokens are wiped on drop.
    auth: tokio::sync::Mutex<std::collections::HashMap<(String, Scope), Auth>>,
}

/// What a request needs the registry to grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    Pull,
    /// Push includes pull (a token for `pull,push`).
    Push,
}

impl Scope {
    fn actions(self) -> &'static str {
        match self {
            Scope::Pull => "pull",
            Scope::Push => "pull,push",
        }
    }
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
        Ok(RegistryClient {
            http: settings.reqwest_client()?,
            settings: settings.clone(),
            creds,
            registry: registry.to_string(),
            plain_http,
            auth: Default::default(),
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Whether this client speaks plain HTTP to the registry.
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }

    /// `scheme://host` of the registry's API (Docker Hub's API host for `docker.io`).
    fn base_url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        let host = match self.registry.as_str() {
            "docker.io" => "index.docker.io",
            other => other,
        };
        format!("{scheme}://{host}")
    }

    /// GET `/v2/<repository>/<path>` with pull rights.
    async fn authorized_get(
        &self,
        repository: &str,
        path: &str,
        accept: &[&str],
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = format!("{}/v2/{repository}/{path}", self.base_url());
        let accept = accept.join(", ");
        self.authorized(repository, Scope::Pull, what, || {
            let request = self.http.get(&url);
            if accept.is_empty() {
                request
            } else {
                request.header(reqwest::header::ACCEPT, &accept)
            }
        })
        .await
    }

    /// Send the request `build` makes, answering the registry's challenge: a Bearer challenge
    /// through its token service (answer read bounded, like every registry body), a Basic one
    /// with our credentials. Credentials are sent only after a challenge, as Docker does, and
    /// the way that worked is reused for the repository and scope. `build` is called again for
    /// the retry, so its body must be re-creatable (streamed uploads go out after an
    /// authorised request of the same scope: [`Self::known_auth`]).
    async fn authorized(
        &self,
        repository: &str,
        scope: Scope,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let key = (repository.to_string(), scope);
        let known = self.auth.lock().await.get(&key).cloned();
        let mut response = self.send(self.apply(build(), known.as_ref())).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let challenge = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let answer = if let Some(params) = crate::http::parse_bearer_challenge(&challenge) {
                Some(Auth::Bearer(
                    self.fetch_token(repository, scope, &params).await?,
                ))
            } else if !matches!(self.creds, Credentials::Anonymous) {
                Some(Auth::Basic)
            } else {
                None
            };
            if let Some(auth) = answer {
                response = self.send(self.apply(build(), Some(&auth))).await?;
                if response.status() != StatusCode::UNAUTHORIZED {
                    self.auth.lock().await.insert(key, auth);
                }
            }
        }
        self.check_status(response, repository, what).await
    }

    /// How `repository` was last authorised for `scope`, if it was.
    async fn known_auth(&self, repository: &str, scope: Scope) -> Option<Auth> {
        self.auth
            .lock()
            .await
            .get(&(repository.to_string(), scope))
            .cloned()
    }

    fn apply(
        &self,
        request: reqwest::RequestBuilder,
        auth: Option<&Auth>,
    ) -> reqwest::RequestBuilder {
        match auth {
            Some(Auth::Bearer(token)) => request.bearer_auth(token.as_str()),
            Some(Auth::Basic) => self.with_basic(request),
            None => request,
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        request
            .send()
            .await
            .map_err(|source| self.transport_error(source))
    }

    /// A success passes; an error status becomes the error it means. The registry's error
    /// body (`{"errors":[{"code","message"}]}`) is read under a small cap for the message.
    async fn check_status(
        &self,
        response: reqwest::Response,
        repository: &str,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
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
            code @ 400..500 => {
                let body = tokio::time::timeout(
                    self.settings.download_deadline(MAX_ERROR_BODY),
                    http::read_capped(response, MAX_ERROR_BODY),
                )
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
                let (code_name, message) = registry_error_of(&body);
                RegistryError::Refused {
                    registry: self.registry.clone(),
                    repository: repository.into(),
                    what: what.into(),
                    status: code,
                    detail: if code_name.is_empty() {
                        message
                    } else {
                        format!("{code_name}: {message}")
                    },
                }
            }
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

    /// A token for `repository` and `scope` from the realm of the registry's challenge. The realm is
    /// held to the plain-HTTP rule (it receives our password) and its answer is read bounded
    /// in size and time.
    async fn fetch_token(
        &self,
        repository: &str,
        scope: Scope,
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
            q.append_pair(
                "scope",
                &format!("repository:{repository}:{}", scope.actions()),
            );
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
        let what = format!("manifest {reference}");
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base_url());
        let limit = self.settings.download_deadline(bytes.len() as u64);
        let put = self.authorized(repository, Scope::Push, &what, || {
            self.http
                .put(&url)
                .header(reqwest::header::CONTENT_TYPE, media_type)
                .body(bytes.clone())
        });
        self.within(limit, &what, put).await?;
        Ok(digest)
    }

    /// Whether the repository holds a blob (asked with push rights: it is asked before an
    /// upload, whose token this request fetches).
    pub async fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let what = format!("blob {digest}");
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base_url());
        let head = self.authorized(repository, Scope::Push, &what, || self.http.head(&url));
        match self
            .within(self.settings.download_deadline(0), &what, head)
            .await
        {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
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

    /// Every tag of `repository`, in the registry's order: `GET /v2/<repository>/tags/list`
    /// page by page. Each page asks for [`TAG_PAGE`] tags; while the registry answers with a
    /// `Link: <…>; rel="next"` header, the next page is asked with `n` and `last` (the last tag
    /// received), as the distribution spec describes: the link's own URL is never followed, so
    /// a registry cannot send us (or our credentials) elsewhere. Every page is read under a cap
    /// and a deadline; every tag must be a valid tag, and at most [`MAX_TAGS`] are read.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let what = "tag list";
        let mut tags: Vec<String> = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            let path = match tags.last() {
                None => format!("tags/list?n={TAG_PAGE}"),
                Some(last) => format!("tags/list?n={TAG_PAGE}&last={last}"),
            };
            let limit = self.settings.download_deadline(MAX_TAG_PAGE_BYTES);
            let read = async {
                let response = self.authorized_get(repository, &path, &[], what).await?;
                let next = response
                    .headers()
                    .get_all(reqwest::header::LINK)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .any(|v| v.contains("rel=\"next\""));
                let body = http::read_capped(response, MAX_TAG_PAGE_BYTES)
                    .await
                    .map_err(|e| match e {
                        http::ReadError::TooLarge => RegistryError::TooLarge {
                            registry: self.registry.clone(),
                            digest: format!("{repository} tag list"),
                            limit: MAX_TAG_PAGE_BYTES,
                        },
                        http::ReadError::Transport(source) => self.transport_error(source),
                    })?;
                Ok::<_, RegistryError>((next, body))
            };
            let (next, body) = tokio::time::timeout(limit, read).await.map_err(|_| {
                RegistryError::Deadline {
                    registry: self.registry.clone(),
                    what: what.into(),
                    limit,
                }
            })??;
            let page: Page =
                serde_json::from_slice(&body).map_err(|source| RegistryError::BadTagList {
                    registry: self.registry.clone(),
                    repository: repository.into(),
                    source,
                })?;
            let page = page.tags.unwrap_or_default();
            if let Some(t) = page.iter().find(|t| !super::reference::is_tag(t)) {
                return Err(RegistryError::BadTag {
                    registry: self.registry.clone(),
                    repository: repository.into(),
                    tag: t.clone(),
                });
            }
            let before = tags.len();
            for tag in page {
                if seen.insert(tag.clone()) {
                    tags.push(tag);
                }
            }
            if tags.len() > MAX_TAGS {
                return Err(RegistryError::TooManyTags {
                    registry: self.registry.clone(),
                    repository: repository.into(),
                    limit: MAX_TAGS,
                });
            }
            // A next page that adds nothing would loop forever: stop there.
            if !next || tags.len() == before {
                return Ok(tags);
            }
        }
    }

    /// Push a blob held in memory; above [`ASK_BEFORE_UPLOAD`] skipped when the registry has it.
    pub async fn push_blob_bytes(
        &self,
        repository: &str,
        data: Bytes,
    ) -> Result<Digest, RegistryError> {
        let digest = sha256_digest(&data);
        let size = data.len() as u64;
        // A small blob is sent without asking first: the upload is two requests either way,
        // and asking is a third.
        if size > ASK_BEFORE_UPLOAD && self.blob_exists(repository, &digest).await? {
            return Ok(digest);
        }
        self.upload(repository, &digest, size, move || {
            reqwest::Body::from(data.clone())
        })
        .await?;
        Ok(digest)
    }

    /// Push a file as a blob whose sha256 `digest` and `size` the caller computed (it hashes
    /// the file anyway, to sign it): above [`ASK_BEFORE_UPLOAD`] skipped when the registry has
    /// it, else streamed in one request. The registry checks the bytes it receives against `digest`, so a file that
    /// changed since it was hashed is refused rather than stored under the signed digest.
    /// `progress` is called with the bytes sent.
    pub async fn push_blob_file(
        &self,
        repository: &str,
        path: &Path,
        digest: &Digest,
        size: u64,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<(), RegistryError> {
        let io_err = |source| RegistryError::Io {
            path: path.display().to_string(),
            source,
        };
        if size > ASK_BEFORE_UPLOAD && self.blob_exists(repository, digest).await? {
            progress(size);
            return Ok(());
        }
        // The body is built once: the upload's token (or Basic) is known from the request
        // that opened the session, so it is never re-sent after a challenge.
        let file = tokio::fs::File::open(path).await.map_err(io_err)?;
        let progress = std::sync::Arc::new(progress);
        let body = std::sync::Mutex::new(Some(file));
        self.upload(repository, digest, size, move || {
            let file = body.lock().expect("the upload body lock").take();
            let progress = progress.clone();
            let stream = futures_util::stream::try_unfold(file, |file| async move {
                let Some(mut file) = file else {
                    return Ok::<_, std::io::Error>(None);
                };
                let mut buf = vec![0u8; UPLOAD_PIECE];
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some((Bytes::from(buf), Some(file))))
            })
            .inspect_ok(move |chunk| progress(chunk.len() as u64));
            reqwest::Body::wrap_stream(stream)
        })
        .await
    }

    /// One blob upload: open a session (`POST …/blobs/uploads/`, authorised for push), then
    /// send the whole blob with its digest in one `PUT` to the session's location (a monolithic
    /// upload: no chunking, so no per-chunk round trips).
    async fn upload(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: impl Fn() -> reqwest::Body,
    ) -> Result<(), RegistryError> {
        let what = format!("blob {digest}");
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base_url());
        let opened = self.authorized(repository, Scope::Push, &what, || {
            self.http
                .post(&start)
                .header(reqwest::header::CONTENT_LENGTH, 0)
        });
        let opened = self
            .within(self.settings.download_deadline(0), &what, opened)
            .await?;
        let location = opened
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Refused {
                registry: self.registry.clone(),
                repository: repository.into(),
                what: what.clone(),
                status: opened.status().as_u16(),
                detail: "the upload session has no Location".into(),
            })?;
        let base = url::Url::parse(&self.base_url()).expect("the registry's base URL parses");
        let mut url = base.join(location).map_err(|_| RegistryError::Refused {
            registry: self.registry.clone(),
            repository: repository.into(),
            what: what.clone(),
            status: opened.status().as_u16(),
            detail: "the upload session's Location is not a URL".into(),
        })?;
        self.settings.check_scheme(&url)?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        // Credentials go only to the registry itself, never to another host its Location names.
        let same_host = url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default();
        let auth = if same_host {
            self.known_auth(repository, Scope::Push).await
        } else {
            None
        };
        let request = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body());
        let limit = self.settings.download_deadline(size);
        let sent = async {
            let response = self.send(self.apply(request, auth.as_ref())).await?;
            self.check_status(response, repository, &what).await
        };
        self.within(limit, &what, sent).await?;
        Ok(())
    }

    /// `request` within `limit`, or a deadline error naming `what`.
    async fn within<T>(
        &self,
        limit: std::time::Duration,
        what: &str,
        request: impl std::future::Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        tokio::time::timeout(limit, request)
            .await
            .map_err(|_| RegistryError::Deadline {
                registry: self.registry.clone(),
                what: what.into(),
                limit,
            })?
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

/// How a request is authorised after a challenge.
#[derive(Clone)]
enum Auth {
    Basic,
    Bearer(Zeroizing<String>),
}

/// Tags asked for per page of a tag list.
pub const TAG_PAGE: usize = 1000;
/// Largest page of a tag list accepted (1,000 tags of the longest valid name, and JSON).
const MAX_TAG_PAGE_BYTES: u64 = 256 * 1024;
/// Most tags read from one repository.
pub const MAX_TAGS: usize = 1_000_000;

/// Largest error body read from the registry (for its message).
const MAX_ERROR_BODY: u64 = 16 * 1024;

/// The first `{code, message}` of a registry error body, or empty strings.
fn registry_error_of(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    serde_json::from_slice::<Body>(body)
        .ok()
        .and_then(|b| b.errors.into_iter().next())
        .map(|e| (e.code, e.message))
        .unwrap_or_default()
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
