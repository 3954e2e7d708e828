//! Registry errors, each naming the registry, repository or digest involved.

use oci_client::errors::{OciDistributionError, OciErrorCode};

use super::credentials::CredentialError;
use crate::failure::Failure;
use crate::http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {registry} is unreachable")]
    Unreachable {
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    /// The registry's certificate did not verify: its identity is unknown, which retrying will
    /// not change.
    #[error(
        "the TLS certificate of registry {registry} could not be verified; if it is signed by a private CA, pass that CA with --tls-ca <file>"
    )]
    TlsUntrusted {
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "registry {registry} did not deliver {what} within {limit:?} (limits.file_base_deadline + size / limits.min_bytes_per_second)"
    )]
    Deadline {
        registry: String,
        what: String,
        limit: std::time::Duration,
    },
    #[error("registry {registry} answered {status} for {what} in {repository}")]
    Status {
        registry: String,
        repository: String,
        what: String,
        status: u16,
    },
    #[error(
        "the manifest {reference} in {registry}/{repository} is larger than the {limit} bytes allowed; refusing endless data from the registry"
    )]
    ManifestTooLarge {
        registry: String,
        repository: String,
        reference: String,
        limit: u64,
    },
    #[error("the token service {realm} of registry {registry} failed: {reason}")]
    TokenService {
        registry: String,
        realm: String,
        reason: &'static str,
    },
    #[error("{what} not found in {registry}/{repository}")]
    NotFound {
        registry: String,
        repository: String,
        what: String,
    },
    #[error(
        "registry {registry} refused the credentials for {repository}: log in with 'docker login {registry}' or set REGISTRY_USERNAME and REGISTRY_PASSWORD"
    )]
    Unauthorized {
        registry: String,
        repository: String,
    },
    #[error("registry {registry} served content for {digest} that does not match that digest")]
    DigestMismatch { registry: String, digest: String },
    #[error("blob {digest} from {registry} is larger than the {limit} bytes allowed")]
    TooLarge {
        registry: String,
        digest: String,
        limit: u64,
    },
    #[error("registry {registry} returned an error for {repository}")]
    Protocol {
        registry: String,
        repository: String,
        #[source]
        source: OciDistributionError,
    },
    #[error("registry {registry} answered with a server error for {repository}")]
    Server {
        registry: String,
        repository: String,
        #[source]
        source: OciDistributionError,
    },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("the manifest of {reference} is not valid JSON")]
    BadManifest {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("local I/O failed on {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl RegistryError {
    pub fn failure(&self) -> Failure {
        match self {
            RegistryError::Unreachable { .. }
            | RegistryError::Server { .. }
            | RegistryError::Deadline { .. }
            | RegistryError::TokenService { .. }
            | RegistryError::Status { .. } => Failure::Unavailable,
            RegistryError::TlsUntrusted { .. } | RegistryError::ManifestTooLarge { .. } => {
                Failure::Untrusted
            }
            RegistryError::NotFound { .. } => Failure::NotFound,
            RegistryError::Unauthorized { .. } => Failure::LocalState,
            RegistryError::Credentials(e) => e.failure(),
            RegistryError::DigestMismatch { .. }
            | RegistryError::TooLarge { .. }
            | RegistryError::BadManifest { .. } => Failure::Untrusted,
            RegistryError::Protocol { .. } => Failure::Unavailable,
            RegistryError::Io { .. } => Failure::LocalState,
            RegistryError::Http(e) => e.failure(),
        }
    }

    /// A failed request: a certificate that does not verify is untrusted, the rest is the
    /// network being unavailable.
    pub(crate) fn tls_or_unreachable(registry: &str, source: reqwest::Error) -> RegistryError {
        if crate::http::is_invalid_certificate(&source) {
            RegistryError::TlsUntrusted {
                registry: registry.into(),
                source,
            }
        } else {
            RegistryError::Unreachable {
                registry: registry.into(),
                source,
            }
        }
    }

    /// Classify an oci-client error for `registry`/`repository`; `what` names the object asked for
    /// (used when the registry says it does not exist).
    pub(crate) fn from_oci(
        registry: &str,
        repository: &str,
        what: &str,
        err: OciDistributionError,
    ) -> RegistryError {
        let registry = registry.to_string();
        let repository = repository.to_string();
        match err {
            OciDistributionError::RequestError(source) => {
                RegistryError::tls_or_unreachable(&registry, source)
            }
            OciDistributionError::DigestError(_) => RegistryError::DigestMismatch {
                registry,
                digest: what.to_string(),
            },
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => RegistryError::Unauthorized {
                registry,
                repository,
            },
            OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::NotFound {
                registry,
                repository,
                what: what.to_string(),
            },
            OciDistributionError::RegistryError { ref envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    RegistryError::NotFound {
                        registry,
                        repository,
                        what: what.to_string(),
                    }
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    RegistryError::Unauthorized {
                        registry,
                        repository,
                    }
                } else {
                    RegistryError::Protocol {
                        registry,
                        repository,
                        source: err,
                    }
                }
            }
            OciDistributionError::ServerError { code: 404, .. } => RegistryError::NotFound {
                registry,
                repository,
                what: what.to_string(),
            },
            OciDistributionError::ServerError { code, .. } if code == 401 || code == 403 => {
                RegistryError::Unauthorized {
                    registry,
                    repository,
                }
            }
            OciDistributionError::ServerError { code, .. } if code >= 500 => {
                RegistryError::Server {
                    registry,
                    repository,
                    source: err,
                }
            }
            other => RegistryError::Protocol {
                registry,
                repository,
                source: other,
            },
        }
    }
}
