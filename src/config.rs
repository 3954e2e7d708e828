//! User configuration: `<trust-dir>/config.json`, merged with flags and environment.
//!
//! Flags win over environment variables, which win over the file. The result is validated once
//! into [`Settings`] before any command runs, so commands never see raw strings.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::failure::Failure;
use crate::http::{CaBundle, HttpError, HttpSettings};
use crate::tuf::limits::Limits;

/// The configuration file, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Notary server URL used when neither `--server` nor the environment names one.
    pub server: Option<String>,
    /// `host[:port]` of registries and Notary servers that may be reached over plain HTTP.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Extra CA bundle trusted for TLS, like `--tls-ca`.
    pub tls_ca: Option<PathBuf>,
    /// Root pins per repository; with a pin, trust on first use is off for that repository.
    #[serde(default)]
    pub trust_pinning: TrustPinning,
    /// Caps and deadlines on trust data downloads (`tuf::limits::Limits`, every field optional).
    #[serde(default)]
    pub limits: Limits,
    /// A policy file (docs/verdict.md, "Policy files") that `get` enforces for the types it
    /// names, and `verify` applies when no `--require`/`--policy` is given; relative to the
    /// trust directory.
    pub policy: Option<PathBuf>,
}

/// Pinned roots of trust, in the shape of the Go notary client's `trust_pinning`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPinning {
    /// GUN → root certificate key ids; the repository's root role must list one of them.
    #[serde(default)]
    pub certs: std::collections::BTreeMap<String, Vec<String>>,
    /// Refuse trust on first use for every repository that has no cached root.
    #[serde(default)]
    pub disable_tofu: bool,
}

impl TrustPinning {
    /// The certificate ids pinned for `gun`, if any.
    pub fn certs_for(&self, gun: &str) -> Option<&[String]> {
        self.certs
            .get(gun)
            .map(Vec::as_slice)
            .filter(|ids| !ids.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the configuration file {path} is not valid (expected JSON with 'server', 'insecure_registries', 'tls_ca', 'trust_pinning', 'limits', 'policy')"
    )]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no trust directory: set --trust-dir or MANIFESTO_TRUST_DIR, or HOME")]
    NoTrustDir,
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl ConfigError {
    pub fn failure(&self) -> Failure {
        match self {
            ConfigError::Read { .. } | ConfigError::Parse { .. } | ConfigError::NoTrustDir => {
                Failure::LocalState
            }
            ConfigError::Http(e) => e.failure(),
        }
    }
}

impl ConfigFile {
    /// Load `<trust_dir>/config.json`; a missing file is an empty configuration.
    pub fn load(trust_dir: &Path) -> Result<ConfigFile, ConfigError> {
        let path = trust_dir.join("config.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| ConfigError::Parse { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }
}

/// Validated global settings every command starts from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub trust_dir: PathBuf,
    /// Explicit Notary server URL (flag, environment or file), if any.
    pub server: Option<String>,
    pub http: HttpSettings,
    pub pinning: TrustPinning,
    /// Caps and deadlines for trust data.
    pub limits: Limits,
    /// The configured policy file (`policy` in config.json, made absolute), if any.
    pub policy: Option<PathBuf>,
}

impl Settings {
    /// Defaults with the trust cache and keys under `trust_dir`, for unit tests of the flows.
    #[cfg(test)]
    pub(crate) fn for_tests(trust_dir: &Path) -> Settings {
        Settings {
            trust_dir: trust_dir.to_owned(),
            server: None,
            http: HttpSettings::default(),
            pinning: TrustPinning::default(),
            limits: Limits::default(),
            policy: None,
        }
    }

    /// Merge flags (already merged with their environment variables by the CLI parser) with the
    /// configuration file. `server` falls back to `DOCKER_CONTENT_TRUST_SERVER`, then the file.
    pub fn resolve(
        trust_dir: Option<PathBuf>,
        server: Option<String>,
        tls_ca: Option<PathBuf>,
    ) -> Result<Settings, ConfigError> {
        let trust_dir = match trust_dir {
            Some(d) => d,
            None => std::env::home_dir()
                .filter(|h| !h.as_os_str().is_empty())
                .map(|h| h.join(".manifesto"))
                .ok_or(ConfigError::NoTrustDir)?,
        };
        let file = ConfigFile::load(&trust_dir)?;
        let server = server
            .or_else(|| {
                std::env::var("DOCKER_CONTENT_TRUST_SERVER")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .or(file.server);
        // Registry downloads get deadlines from the same limits as Notary files.
        let mut http = HttpSettings {
            insecure_hosts: file.insecure_registries,
            base_deadline: file.limits.file_base_deadline,
            min_bytes_per_second: file.limits.min_bytes_per_second,
            ..HttpSettings::default()
        };
        for ca in tls_ca.iter().chain(file.tls_ca.iter()) {
            http.extra_ca_pem.push(CaBundle::read(ca)?);
        }
        let policy = file.policy.map(|p| trust_dir.join(p));
        Ok(Settings {
            trust_dir,
            server,
            http,
            pinning: file.trust_pinning,
            limits: file.limits,
            policy,
        })
    }
}
