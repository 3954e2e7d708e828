//! Registry errors, each naming the registry, repository or digest involved.

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
    /// A 4xx answer other than 401, 403 and 404; `detail` is the registry's error code and
    /// message (`MANIFEST_INVALID: …`), when it sent one.
    #[error("registry {registry} refused {what} in {repository} ({status}): {detail}")]
    Refused {
        registry: String,
        repository: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("the manifest of {reference} is not valid JSON")]
    BadManifest {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("registry {registry} sent a tag list for {repository} that is not valid JSON")]
    BadTagList {
        registry: String,
        repository: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("registry {registry} lists {tag:?} as a tag of {repository}, which is not a valid tag")]
    BadTag {
        registry: String,
        repository: String,
        tag: String,
    },
    #[error(
        "registry {registry} lists more than {limit} tags for {repository}; manifesto reads at most that many"
    )]
    TooManyTags {
        registry: String,
        repository: String,
        limit: usize,
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
            | RegistryError::Refused { .. }
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
            | RegistryError::BadManifest { .. }
            | RegistryError::BadTagList { .. }
            | RegistryError::BadTag { .. } => Failure::Untrusted,
            RegistryError::TooManyTags { .. } => Failure::Usage,
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
}
