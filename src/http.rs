//! The one HTTP configuration shared by the Notary client and the registry client.
//!
//! Both talk to servers the user names, so both follow the same rules: TLS by default with the
//! system roots plus any `--tls-ca`, plain HTTP only for loopback hosts or hosts the configuration
//! lists as insecure, and separate connect, read and total deadlines so a slow server cannot hang a
//! CI job.

use std::net::IpAddr;
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
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            extra_ca_pem: Vec::new(),
            insecure_hosts: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(600),
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
    #[error(
        "refusing plain HTTP to {host}: only loopback hosts or hosts listed in 'insecure_registries' of the configuration may use http://"
    )]
    PlainHttpRefused { host: String },
}

impl HttpError {
    pub fn failure(&self) -> Failure {
        match self {
            HttpError::ReadCa { .. }
            | HttpError::NotPem { .. }
            | HttpError::PlainHttpRefused { .. } => Failure::Usage,
            HttpError::Build(_) => Failure::Internal,
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

    /// The reqwest client used for Notary and for registry probes.
    pub fn reqwest_client(&self) -> Result<reqwest::Client, HttpError> {
        ensure_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("manifesto/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .timeout(self.total_timeout)
            // Never follow a redirect from https to http.
            .https_only(false)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let downgrade = attempt.url().scheme() == "http"
                    && attempt.previous().iter().any(|u| u.scheme() == "https");
                if downgrade || attempt.previous().len() > 5 {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }));
        let mut certs = Vec::new();
        for ca in &self.extra_ca_pem {
            let parsed =
                reqwest::Certificate::from_pem_bundle(&ca.pem).map_err(|_| HttpError::NotPem {
                    path: ca.path.clone(),
                })?;
            certs.extend(parsed);
        }
        if !certs.is_empty() {
            builder = builder.tls_certs_merge(certs);
        }
        builder.build().map_err(HttpError::Build)
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

/// Loopback: `localhost`, 127.0.0.0/8 and ::1, with any port.
pub fn is_loopback_host(host_port: &str) -> bool {
    let host = host_of(host_port);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised_with_and_without_ports() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.3.4.5:80",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "127.0.0.1.example.com",
            "[2001:db8::1]:443",
            "localhostx",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
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
