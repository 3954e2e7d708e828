//! The one HTTP configuration shared by the Notary client and the registry client.
//!
//! Both talk to servers the user names, so both follow the same rules: TLS by default with the
//! system roots plus any `--tls-ca`, plain HTTP only for loopback hosts or hosts the configuration
//! lists as insecure, and separate connect, read and total deadlines so a slow server cannot hang a
//! CI job.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::failure::Failure;

/// Connection settings, validated once from flags and configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// PEM bundles of extra trusted CAs (`--tls-ca`), already read and checked.
    pub extra_ca_pem: Vec<CaBundle>,
    /// `host[:port]` entries allowed to use plain HTTP besides loopback hosts.
    pub insecure_hosts: Vec<String>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub total_timeout: Duration,
    /// The fixed part of a registry download's deadline (`limits.file_base_deadline`).
    pub base_deadline: Duration,
    /// The slowest rate a registry download may arrive at (`limits.min_bytes_per_second`): a
    /// blob of `n` signed bytes gets `base_deadline + n / min_bytes_per_second` (scenario 1, slow
    /// retrieval).
    pub min_bytes_per_second: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            extra_ca_pem: Vec::new(),
            insecure_hosts: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(600),
            base_deadline: Duration::from_secs(10),
            min_bytes_per_second: 256 * 1024,
        }
    }
}

/// A CA bundle read from disk, with the path kept for error messages.
#[derive(Debug, Clone)]
pub struct CaBundle {
    pub path: PathBuf,
    pub pem: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot read the CA file {path}")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA file {path} holds no PEM certificate (expected '-----BEGIN CERTIFICATE-----')")]
    NotPem { path: PathBuf },
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    #[error("cannot set up TLS")]
    Tls(#[source] rustls::Error),
    #[error(
        "refusing plain HTTP to {host}: only loopback hosts or hosts listed in 'insecure_registries' of the configuration may use http://"
    )]
    PlainHttpRefused { host: String },
    /// A server redirected us to a URL the plain-HTTP rule forbids (SECURITY-TESTS 53): the
    /// server, not the user, chose the target, so it is refused as untrusted.
    #[error(
        "refusing the redirect from {from} to {to}: plain HTTP is allowed only to loopback hosts or hosts listed in 'insecure_registries'"
    )]
    RedirectRefused { from: String, to: String },
    #[error("refusing to follow more than {max} redirects from {from}")]
    TooManyRedirects { from: String, max: usize },
}

impl HttpError {
    pub fn failure(&self) -> Failure {
        match self {
            HttpError::ReadCa { .. }
            | HttpError::NotPem { .. }
            | HttpError::PlainHttpRefused { .. } => Failure::Usage,
            HttpError::RedirectRefused { .. } | HttpError::TooManyRedirects { .. } => {
                Failure::Untrusted
            }
            HttpError::Build(_) | HttpError::Tls(_) => Failure::Internal,
        }
    }
}

impl CaBundle {
    /// Read a PEM CA bundle, refusing files that hold no certificate at all.
    pub fn read(path: &Path) -> Result<CaBundle, HttpError> {
        let pem = std::fs::read(path).map_err(|source| HttpError::ReadCa {
            path: path.to_owned(),
            source,
        })?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(HttpError::NotPem {
                path: path.to_owned(),
            });
        }
        Ok(CaBundle {
            path: path.to_owned(),
            pem,
        })
    }
}

impl HttpSettings {
    /// Whether `host[:port]` may be spoken to over plain HTTP.
    pub fn plain_http_allowed(&self, host_port: &str) -> bool {
        is_loopback_host(host_port)
            || self.insecure_hosts.iter().any(|h| {
                h.eq_ignore_ascii_case(host_port) || h.eq_ignore_ascii_case(host_of(host_port))
            })
    }

    /// Refuse an `http://` URL to a host that may not use plain HTTP.
    pub fn check_scheme(&self, url: &url::Url) -> Result<(), HttpError> {
        if url.scheme() == "http" {
            let host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                (None, _) => String::new(),
            };
            if !self.plain_http_allowed(&host) {
                return Err(HttpError::PlainHttpRefused { host });
            }
        }
        Ok(())
    }

    /// How long a download of at most `max_len` bytes from a registry may take.
    pub fn download_deadline(&self, max_len: u64) -> Duration {
        let rate = self.min_bytes_per_second.max(1);
        self.base_deadline + Duration::from_millis(max_len.saturating_mul(1000) / rate)
    }

    /// The redirect rule: every hop is checked against the same plain-HTTP rule as the URL the
    /// user gave (SECURITY-TESTS 53), so a loopback server cannot send us, or our credentials,
    /// in clear text to another host; https never downgrades to http.
    pub fn redirect_policy(&self) -> reqwest::redirect::Policy {
        const MAX_REDIRECTS: usize = 5;
        let rules = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            let from = attempt
                .previous()
                .last()
                .map(std::string::ToString::to_string)
                .unwrap_or_default();
            let downgrade = attempt.url().scheme() == "http"
                && attempt.previous().iter().any(|u| u.scheme() == "https");
            if downgrade || rules.check_scheme(attempt.url()).is_err() {
                let to = attempt.url().to_string();
                attempt.error(HttpError::RedirectRefused { from, to })
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(HttpError::TooManyRedirects {
                    from,
                    max: MAX_REDIRECTS,
                })
            } else {
                attempt.follow()
            }
        })
    }

    /// The reqwest client used for Notary and for registry probes.
    pub fn reqwest_client(&self) -> Result<reqwest::Client, HttpError> {
        ensure_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("manifesto/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .timeout(self.total_timeout)
            .https_only(false)
            .redirect(self.redirect_policy());
        let mut extra = Vec::new();
        for ca in &self.extra_ca_pem {
            use rustls::pki_types::pem::PemObject as _;
            let not_pem = || HttpError::NotPem {
                path: ca.path.clone(),
            };
            let parsed = rustls::pki_types::CertificateDer::pem_slice_iter(&ca.pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| not_pem())?;
            if parsed.is_empty() {
                return Err(not_pem());
            }
            extra.extend(parsed);
        }
        builder = builder.tls_backend_preconfigured(tls::client_config(extra)?);
        builder.build().map_err(HttpError::Build)
    }
}

/// TLS with the system roots loaded on the first handshake, not when a client is built: most
/// runs talk plain HTTP to loopback (a local stack, a CI service container) or nothing at all,
/// and reading the system store opens about 590 files.
mod tls {
    use std::sync::{Arc, OnceLock};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    use super::HttpError;

    /// A client configuration verifying servers as `rustls-platform-verifier` does (the system
    /// roots plus `extra`), with the roots read when the first certificate is verified.
    pub fn client_config(
        extra: Vec<CertificateDer<'static>>,
    ) -> Result<rustls::ClientConfig, HttpError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = LazyPlatformVerifier {
            extra,
            provider: provider.clone(),
            inner: OnceLock::new(),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(HttpError::Tls)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    #[derive(Debug)]
    struct LazyPlatformVerifier {
        extra: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
        inner: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
    }

    impl LazyPlatformVerifier {
        fn inner(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
            self.inner
                .get_or_init(|| {
                    rustls_platform_verifier::Verifier::new_with_extra_roots(
                        self.extra.iter().cloned(),
                        self.provider.clone(),
                    )
                })
                .as_ref()
                .map_err(Clone::clone)
        }
    }

    impl ServerCertVerifier for LazyPlatformVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            self.inner()?.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            )
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}

/// Why a bounded body read stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// More than the cap was claimed (`Content-Length`) or sent.
    TooLarge,
    Transport(reqwest::Error),
}

/// Read a body of at most `max_len` bytes. A `Content-Length` above the cap is refused before
/// anything is read, a body that runs past it (chunked, or lying about its length) is cut off at
/// the chunk that crosses it, and the buffer never holds more than `max_len` bytes whatever the
/// server claims (scenario 50: memory bounded by the cap). Callers put a deadline around it.
pub(crate) async fn read_capped(
    response: reqwest::Response,
    max_len: u64,
) -> Result<Vec<u8>, ReadError> {
    use futures_util::StreamExt;
    let claimed = response.content_length();
    if claimed.is_some_and(|l| l > max_len) {
        return Err(ReadError::TooLarge);
    }
    let cap = usize::try_from(max_len).unwrap_or(usize::MAX);
    // Reserve what was claimed (at most the cap), never more: a claim is not a promise.
    let mut body = Vec::with_capacity(
        claimed
            .map_or(0, |l| usize::try_from(l).unwrap_or(usize::MAX))
            .min(cap)
            .min(1 << 20),
    );
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ReadError::Transport)?;
        if chunk.len() > cap - body.len() {
            return Err(ReadError::TooLarge);
        }
        grow_within(&mut body, chunk.len(), cap);
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Make room for `extra` more bytes without letting the capacity pass `cap` (Vec's own doubling
/// could allocate up to twice the cap).
fn grow_within(body: &mut Vec<u8>, extra: usize, cap: usize) {
    let needed = body.len() + extra;
    if needed > body.capacity() {
        let target = (body.capacity().saturating_mul(2)).max(needed).min(cap);
        body.reserve_exact(target - body.len());
    }
}

/// The first error of type `T` in `e`'s source chain, looking inside `io::Error`s too.
pub(crate) fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(found) = s.downcast_ref::<T>() {
            return Some(found);
        }
        // `io::Error::source` skips the error it wraps, so look inside explicitly.
        if let Some(found) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| find_source::<T>(inner))
        {
            return Some(found);
        }
        source = s.source();
    }
    None
}

/// Whether a request failed because the server's certificate did not verify (unknown issuer,
/// wrong name, expired…), as opposed to the network failing.
pub(crate) fn is_invalid_certificate(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        find_source::<rustls::Error>(e),
        Some(rustls::Error::InvalidCertificate(_))
    )
}

/// The redirect refusal inside a failed request, re-created so the caller can report it typed.
pub(crate) fn redirect_refusal(e: &(dyn std::error::Error + 'static)) -> Option<HttpError> {
    match find_source::<HttpError>(e)? {
        HttpError::RedirectRefused { from, to } => Some(HttpError::RedirectRefused {
            from: from.clone(),
            to: to.clone(),
        }),
        HttpError::TooManyRedirects { from, max } => Some(HttpError::TooManyRedirects {
            from: from.clone(),
            max: *max,
        }),
        _ => None,
    }
}

/// Make rustls use ring (no OpenSSL, no aws-lc). Idempotent; every client constructor calls it,
/// so library users need no setup of their own.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `host` of `host[:port]`, handling bracketed IPv6.
pub fn host_of(host_port: &str) -> &str {
    if host_port.parse::<IpAddr>().is_ok() {
        return host_port;
    }
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host_port,
    }
}

/// Whether `host[:port]` is this machine, the one rule for every caller (plain HTTP to the
/// registry or the Notary server, and `is_loopback_registry` of image references):
/// `localhost` in any case, a dotted-quad IPv4 address in 127.0.0.0/8, or the IPv6 loopback `::1`
/// in brackets (`[::1]`, `[::1]:5000`) or bare without a port. Docker treats 127.0.0.0/8 (and so
/// `localhost`) as an insecure registry by default; `::1` is its IPv6 counterpart. Nothing is
/// resolved, so look-alikes that resolve elsewhere (`localhost.example.com`, `127.0.0.1.nip.io`)
/// do not count, and neither does anything malformed (an unclosed bracket, text after it, a port
/// that is not a number).
pub fn is_loopback_host(host_port: &str) -> bool {
    let is_port = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = host_port.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok && inner.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    if let Ok(ip) = host_port.parse::<Ipv6Addr>() {
        return ip.is_loopback();
    }
    let host = match host_port.split_once(':') {
        Some((host, port)) if is_port(port) => host,
        Some(_) => return false,
        None => host_port,
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The parameters of `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BearerChallenge {
    pub(crate) realm: String,
    pub(crate) service: Option<String>,
    pub(crate) scope: Option<String>,
}

/// Parse a `WWW-Authenticate` header of the Bearer scheme (Notary and registries use one form).
pub(crate) fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let rest = header.trim();
    let rest = rest
        .strip_prefix("Bearer ")
        .or_else(|| rest.strip_prefix("bearer "))?;
    let mut realm = None;
    let mut service = None;
    let mut scope = None;
    let bytes = rest;
    let mut start = 0;
    // key="value" pairs separated by commas; values may contain commas inside quotes.
    while start < bytes.len() {
        let eq = bytes[start..].find('=')? + start;
        let key = bytes[start..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = &bytes[eq + 1..];
        let (value, consumed) = if let Some(stripped) = after.strip_prefix('"') {
            let end = stripped.find('"')?;
            (stripped[..end].to_string(), end + 2)
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), end)
        };
        match key.as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            "scope" => scope = Some(value),
            _ => {}
        }
        start = eq + 1 + consumed;
        while start < bytes.len()
            && (bytes.as_bytes()[start] == b',' || bytes.as_bytes()[start] == b' ')
        {
            start += 1;
        }
    }
    Some(BearerChallenge {
        realm: realm?,
        service,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one loopback rule, as a table: `localhost`, 127.0.0.0/8, `::1`, with or without a port.
    #[test]
    fn bearer_challenge_with_a_comma_inside_the_scope_is_parsed() {
        let c = parse_bearer_challenge(
            r#"Bearer realm="http://127.0.0.1:4446/token",service="notary-server",scope="repository:127.0.0.1:5000/myorg/app:push,pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "http://127.0.0.1:4446/token");
        assert_eq!(c.service.as_deref(), Some("notary-server"));
        assert_eq!(
            c.scope.as_deref(),
            Some("repository:127.0.0.1:5000/myorg/app:push,pull")
        );
    }

    #[test]
    fn a_challenge_without_a_realm_or_not_bearer_is_refused() {
        assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_none());
        assert!(parse_bearer_challenge(r#"Bearer service="x""#).is_none());
    }

    #[test]
    fn loopback_hosts_are_recognised_with_and_without_ports() {
        let cases: &[(&str, bool)] = &[
            ("localhost", true),
            ("LocalHost", true),
            ("localhost:5000", true),
            ("127.0.0.1", true),
            ("127.0.0.1:5000", true),
            ("127.3.4.5:80", true),
            ("127.255.255.255", true),
            ("[::1]", true),
            ("[::1]:5000", true),
            ("[0:0:0:0:0:0:0:1]:5000", true),
            ("::1", true),
            ("0:0:0:0:0:0:0:1", true),
            // Look-alikes resolve elsewhere.
            ("localhostx", false),
            ("localhost.example.com", false),
            ("127.0.0.1.example.com", false),
            ("127.0.0.1.nip.io:5000", false),
            // Other addresses.
            ("example.com", false),
            ("10.0.0.1:5000", false),
            ("128.0.0.1", false),
            ("0.0.0.0", false),
            ("[::]:5000", false),
            ("[::2]:5000", false),
            ("[2001:db8::1]:443", false),
            ("[::ffff:127.0.0.1]", false),
            // Not the canonical spelling of an address.
            ("127.0.0.01", false),
            ("127.1", false),
            ("2130706433", false),
            ("127.0.0.1:http", false),
            ("", false),
            // Malformed: these four were loopback for the old `host_of`-based rule.
            ("localhost:", false),
            ("[::1", false),
            ("[::1]x", false),
            ("[::1]:", false),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter(|&&(h, expected)| is_loopback_host(h) != expected)
            .map(|(h, expected)| format!("{h:?}: expected {expected}"))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_growing_body_never_reserves_more_than_its_cap() {
        let cap = 1000;
        let mut body = Vec::new();
        for chunk in [1usize, 7, 300, 2, 500, 190] {
            grow_within(&mut body, chunk, cap);
            body.extend(std::iter::repeat_n(0u8, chunk));
            assert!(body.capacity() <= cap, "capacity {} > cap", body.capacity());
        }
        assert_eq!(body.len(), cap);
    }

    #[test]
    fn a_download_deadline_grows_with_the_signed_length() {
        let s = HttpSettings::default();
        assert_eq!(s.download_deadline(0), Duration::from_secs(10));
        assert_eq!(
            s.download_deadline(256 * 1024 * 10),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn plain_http_is_refused_for_a_non_loopback_host_unless_listed_insecure() {
        let mut s = HttpSettings::default();
        let url = url::Url::parse("http://notary.example.com:4443").unwrap();
        assert!(matches!(
            s.check_scheme(&url),
            Err(HttpError::PlainHttpRefused { .. })
        ));
        s.insecure_hosts.push("notary.example.com:4443".into());
        assert!(s.check_scheme(&url).is_ok());
        let tls = url::Url::parse("https://notary.example.com").unwrap();
        assert!(HttpSettings::default().check_scheme(&tls).is_ok());
        let local = url::Url::parse("http://127.0.0.1:4443").unwrap();
        assert!(HttpSettings::default().check_scheme(&local).is_ok());
    }
}
