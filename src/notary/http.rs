//! HTTP access to one Notary repository (GUN): metadata by name, checksum or version, with size
//! caps, bounded retries of idempotent GETs, and Docker's token-auth flow.
//!
//! This is the transport only: it returns bytes and trusts none of them. The TUF core decides
//! what the bytes mean.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;
use zeroize::Zeroizing;

use super::error::NotaryError;
use crate::http::{self, HttpSettings, ReadError, parse_bearer_challenge, read_capped};
use crate::registry::credentials::{self, Credentials};
use crate::tuf::limits::Limits;

/// Attempts for one GET when the server answers 5xx or the connection breaks.
const GET_ATTEMPTS: u32 = 3;

/// Cap on error bodies and token answers: enough for any honest message.
const SMALL_BODY: u64 = 64 * 1024;

/// A client for `/v2/<gun>/_trust/tuf/` on one Notary server.
pub struct NotaryHttp {
    pub(crate) client: reqwest::Client,
    server: Url,
    gun: String,
    /// Bearer token from the token service, reused until the server refuses it; wiped on drop.
    token: Mutex<Option<Zeroizing<String>>>,
    credentials: Credentials,
    settings: HttpSettings,
    limits: Limits,
    /// When the current trust update must be over: set by `begin_update` (or by the first fetch
    /// of an update when no one called it), so retries and slow files cannot add up (scenario 1).
    update_ends: std::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for NotaryHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotaryHttp")
            .field("server", &self.server.as_str())
            .field("gun", &self.gun)
            .finish_non_exhaustive()
    }
}

/// Parse and check a Notary server URL against the transport rules.
pub fn server_url(settings: &HttpSettings, url: &str) -> Result<Url, NotaryError> {
    let parsed = Url::parse(url).map_err(|_| NotaryError::BadServerUrl {
        url: url.into(),
        reason: "not a URL; use e.g. https://notary.example.com:4443",
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(NotaryError::BadServerUrl {
            url: url.into(),
            reason: "must be an http:// or https:// URL with a host",
        });
    }
    settings.check_scheme(&parsed)?;
    Ok(parsed)
}

/// The Notary server Docker Content Trust would use for images of `registry`.
pub fn default_server_for(registry: &str) -> String {
    if registry == "docker.io" {
        "https://notary.docker.io".into()
    } else {
        format!("https://{registry}")
    }
}

impl NotaryHttp {
    /// A client for the repository `repo` on the configured Notary server, or Docker's default
    /// server for its registry.
    pub async fn for_repository(
        settings: &crate::config::Settings,
        repo: &crate::registry::reference::RepositoryRef,
    ) -> Result<NotaryHttp, NotaryError> {
        let server = settings.server.clone().unwrap_or_else(|| {
            let server = default_server_for(repo.registry());
            tracing::info!(
                "no Notary server configured: using {server}, Docker's default for {}",
                repo.registry()
            );
            server
        });
        let url = server_url(&settings.http, &server)?;
        let same_host = host_and_port(&url) == repo.registry();
        let mut http = NotaryHttp::new(&settings.http, &settings.limits, url, &repo.gun()).await?;
        // Docker's rule: with no credentials of its own for the Notary host, the registry's
        // credentials log in to the token service the Notary server names (`docker login
        // <registry>` is enough for `docker trust`). They go only to that realm.
        if !same_host && matches!(http.credentials, Credentials::Anonymous) {
            http.credentials = credentials::lookup(repo.registry()).await?;
        }
        Ok(http)
    }

    /// A client for `gun` on `server`, bounded by `limits`. Credentials for the token service
    /// are looked up like registry credentials, for the server's host; a helper that fails or
    /// hangs is an error, not a silent anonymous session.
    pub async fn new(
        settings: &HttpSettings,
        limits: &Limits,
        server: Url,
        gun: &str,
    ) -> Result<NotaryHttp, NotaryError> {
        let host = match (server.host_str(), server.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        let credentials = credentials::lookup(&host).await?;
        Ok(NotaryHttp {
            client: settings.reqwest_client()?,
            server,
            gun: gun.to_string(),
            token: Mutex::new(None),
            credentials,
            settings: settings.clone(),
            limits: limits.clone(),
            update_ends: std::sync::Mutex::new(None),
        })
    }

    /// Start the clock of one trust update (`Limits::update_deadline`).
    pub(crate) fn start_update_clock(&self) {
        *self
            .update_ends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Instant::now() + self.limits.update_deadline);
    }

    /// Start the update clock unless an update is already running (an updater that never
    /// announced its start still gets one bounded update).
    fn ensure_update_clock(&self) {
        let mut ends = self
            .update_ends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ends.is_none() {
            *ends = Some(Instant::now() + self.limits.update_deadline);
        }
    }

    fn update_ends(&self) -> Option<Instant> {
        *self
            .update_ends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn server(&self) -> &Url {
        &self.server
    }

    pub fn gun(&self) -> &str {
        &self.gun
    }

    /// `…/v2/<gun>/_trust/tuf/<file>`. The GUN goes in as-is, slashes and port included, which
    /// is how notary-server routes it; it was validated by the reference parser.
    pub(crate) fn url(&self, file: &str) -> String {
        format!(
            "{}/v2/{}/_trust/tuf/{}",
            self.server.as_str().trim_end_matches('/'),
            self.gun,
            file
        )
    }

    /// GET one metadata file (`root.json`, `timestamp.json`, `snapshot.<sha256>.json`,
    /// `2.root.json`, `targets/qa.<sha256>.json`…), refusing bodies over `max_len` bytes.
    ///
    /// The whole GET, retries included, must end by the file's deadline (sized to its cap,
    /// `Limits::file_deadline`): a server dripping a correctly sized file byte by byte is cut
    /// off (scenario 1).
    pub async fn get(&self, file: &str, max_len: u64) -> Result<Vec<u8>, NotaryError> {
        self.get_within(file, max_len, None).await
    }

    /// [`NotaryHttp::get`] for the trust update: also bounded by the end of the running update
    /// (`Limits::update_deadline`), so neither retries nor many slow files add up past it.
    /// Other reads (a server key before a publish) are not, as a passphrase prompt may lie
    /// between the update and them.
    pub(crate) async fn get_for_update(
        &self,
        file: &str,
        max_len: u64,
    ) -> Result<Vec<u8>, NotaryError> {
        self.ensure_update_clock();
        self.get_within(file, max_len, self.update_ends()).await
    }

    async fn get_within(
        &self,
        file: &str,
        max_len: u64,
        update_ends: Option<Instant>,
    ) -> Result<Vec<u8>, NotaryError> {
        let file_limit = self.limits.file_deadline(max_len);
        let file_ends = Instant::now() + file_limit;
        let (ends, by_update) = match update_ends {
            Some(update_ends) if update_ends < file_ends => (update_ends, true),
            _ => (file_ends, false),
        };
        match tokio::time::timeout_at(ends, self.get_with_retries(file, max_len)).await {
            Ok(result) => result,
            Err(_) if by_update => Err(NotaryError::UpdateDeadline {
                server: self.server.to_string(),
                file: file.to_string(),
                limit: self.limits.update_deadline,
            }),
            Err(_) => Err(NotaryError::FileDeadline {
                server: self.server.to_string(),
                file: file.to_string(),
                limit: file_limit,
            }),
        }
    }

    async fn get_with_retries(&self, file: &str, max_len: u64) -> Result<Vec<u8>, NotaryError> {
        let url = self.url(file);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.get_once(&url, max_len).await {
                Err(
                    NotaryError::Unreachable { .. }
                    | NotaryError::Server {
                        status: 500..=599, ..
                    },
                ) if attempt < GET_ATTEMPTS => {
                    let wait = Duration::from_millis(100 * 4u64.pow(attempt - 1));
                    tracing::debug!(%url, attempt, ?wait, "retrying Notary GET");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn get_once(&self, url: &str, max_len: u64) -> Result<Vec<u8>, NotaryError> {
        let response = self.send(|| self.client.get(url)).await?;
        let status = response.status();
        tracing::info!("GET {url}: {}", status.as_u16());
        if status == StatusCode::NOT_FOUND {
            return Err(NotaryError::NotFound { url: url.into() });
        }
        if !status.is_success() {
            return Err(self.server_error(url, response).await);
        }
        // `read_capped` refuses a Content-Length above the cap before reading anything.
        match read_capped(response, max_len).await {
            Ok(body) => Ok(body),
            Err(ReadError::TooLarge) => Err(NotaryError::TooLarge {
                url: url.into(),
                limit: max_len,
            }),
            Err(ReadError::Transport(source)) => Err(self.transport_error(source)),
        }
    }

    /// A small body (an error message, a key, a token answer): at most 64 KiB, within the
    /// deadline such a body gets. `None` when it is larger, broken or late.
    pub(crate) async fn read_small(&self, response: reqwest::Response) -> Option<Vec<u8>> {
        let limit = self.limits.file_deadline(SMALL_BODY);
        match tokio::time::timeout(limit, read_capped(response, SMALL_BODY)).await {
            Ok(Ok(body)) => Some(body),
            _ => None,
        }
    }

    /// A non-success response as an error carrying the server's error body (bounded in size and
    /// time: an endless error body must not hang us either).
    pub(crate) async fn server_error(&self, url: &str, response: reqwest::Response) -> NotaryError {
        let status = response.status().as_u16();
        let body = self.read_small(response).await.unwrap_or_default();
        NotaryError::Server {
            url: url.into(),
            status,
            body: String::from_utf8_lossy(&body).trim().to_string(),
        }
    }

    /// A failed request as the error it is: a certificate that does not verify is untrusted
    /// (retrying will not fix it), a refused redirect is the transport rule, the rest is the
    /// network.
    fn transport_error(&self, source: reqwest::Error) -> NotaryError {
        if let Some(refusal) = http::redirect_refusal(&source) {
            return NotaryError::Http(refusal);
        }
        if http::is_invalid_certificate(&source) {
            return NotaryError::TlsUntrusted {
                server: self.server.to_string(),
                source,
            };
        }
        NotaryError::Unreachable {
            server: self.server.to_string(),
            source,
        }
    }

    /// Send a request, answering one bearer challenge through the token service. `make` builds
    /// the request afresh for the retry.
    pub(crate) async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, NotaryError> {
        let response = self.send_once(&make).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| self.unauthorized())?;
        let token = self.fetch_token(&challenge).await?;
        *self.token.lock().await = Some(token);
        let response = self.send_once(&make).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized());
        }
        Ok(response)
    }

    async fn send_once(
        &self,
        make: &impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, NotaryError> {
        let mut request = make();
        if let Some(token) = self.token.lock().await.as_ref() {
            request = request.bearer_auth(token.as_str());
        }
        request
            .send()
            .await
            .map_err(|source| self.transport_error(source))
    }

    fn unauthorized(&self) -> NotaryError {
        NotaryError::Unauthorized {
            server: host_and_port(&self.server),
        }
    }

    /// Docker's token flow: ask the realm named in the challenge for a bearer token for the
    /// challenge's service and scope, with Basic credentials when we have them.
    async fn fetch_token(&self, challenge: &str) -> Result<Zeroizing<String>, NotaryError> {
        let params = parse_bearer_challenge(challenge).ok_or_else(|| self.unauthorized())?;
        let realm = params.realm.clone();
        let token_err = |reason: String| NotaryError::TokenService {
            realm: realm.clone(),
            reason,
        };
        let mut url =
            Url::parse(&params.realm).map_err(|_| token_err("the realm is not a URL".into()))?;
        // The token service receives our password: it gets the same transport rules.
        if self.settings.check_scheme(&url).is_err() {
            return Err(token_err(
                "refusing to send credentials to a plain-HTTP token service".into(),
            ));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = &params.service {
                q.append_pair("service", service);
            }
            if let Some(scope) = &params.scope {
                q.append_pair("scope", scope);
            }
            if let Credentials::Basic { username, .. } = &self.credentials {
                q.append_pair("account", username);
            }
        }
        let mut request = self.client.get(url);
        match &self.credentials {
            Credentials::Basic { username, password } => {
                request = request.basic_auth(username, Some(password));
            }
            Credentials::IdentityToken(token) => {
                request = request.basic_auth("<token>", Some(token));
            }
            Credentials::Anonymous => {}
        }
        let response =
            request
                .send()
                .await
                .map_err(|source| match self.transport_error(source) {
                    NotaryError::Unreachable { source, .. } => {
                        NotaryError::TokenServiceUnreachable {
                            realm: realm.clone(),
                            source,
                        }
                    }
                    other => other,
                })?;
        if response.status() == StatusCode::UNAUTHORIZED
            || response.status() == StatusCode::FORBIDDEN
        {
            return Err(self.unauthorized());
        }
        if !response.status().is_success() {
            return Err(token_err(format!("answered {}", response.status())));
        }
        let body =
            Zeroizing::new(self.read_small(response).await.ok_or_else(|| {
                token_err("the token response is too large, broken or late".into())
            })?);
        #[derive(serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| token_err("the token response is not JSON".into()))?;
        parsed
            .token
            .as_ref()
            .or(parsed.access_token.as_ref())
            .filter(|t| !t.is_empty())
            .map(|t| Zeroizing::new(t.clone()))
            .ok_or_else(|| token_err("the token response holds no token".into()))
    }
}

/// `host[:port]` of a server URL (the port only when the URL names one), as credentials are
/// keyed and as `docker login` takes it.
fn host_and_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_images_use_docker_s_notary_server() {
        assert_eq!(default_server_for("docker.io"), "https://notary.docker.io");
        assert_eq!(
            default_server_for("registry.example.com:5000"),
            "https://registry.example.com:5000"
        );
    }

    #[test]
    fn plain_http_server_urls_are_refused_off_loopback() {
        let s = HttpSettings::default();
        assert!(server_url(&s, "http://127.0.0.1:4443").is_ok());
        assert!(matches!(
            server_url(&s, "http://notary.example.com"),
            Err(NotaryError::Http(
                crate::http::HttpError::PlainHttpRefused { .. }
            ))
        ));
        assert!(matches!(
            server_url(&s, "ftp://x"),
            Err(NotaryError::BadServerUrl { .. })
        ));
        assert!(matches!(
            server_url(&s, "not a url"),
            Err(NotaryError::BadServerUrl { .. })
        ));
    }
}
