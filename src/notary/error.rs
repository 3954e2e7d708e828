//! Errors talking to a Notary server or using the local trust cache.

use std::path::PathBuf;
use std::time::Duration;

use crate::failure::Failure;
use crate::http::HttpError;
use crate::registry::credentials::CredentialError;

#[derive(Debug, thiserror::Error)]
pub enum NotaryError {
    #[error(
        "{url} does not exist on the Notary server (has the repository been initialised with 'manifesto init'?)"
    )]
    NotFound { url: String },
    #[error(
        "{url} is larger than the {limit} bytes allowed; refusing endless data from the server"
    )]
    TooLarge { url: String, limit: u64 },
    #[error("the Notary server at {server} is unreachable")]
    Unreachable {
        server: String,
        #[source]
        source: reqwest::Error,
    },
    /// Slow retrieval (TUF 5.x "endless data" and "slow retrieval" attacks): a file did not
    /// arrive within the time its cap allows.
    #[error(
        "the Notary server at {server} did not deliver {file} within {limit:?} (limits.file_base_deadline + cap / limits.min_bytes_per_second)"
    )]
    FileDeadline {
        server: String,
        file: String,
        limit: Duration,
    },
    /// One whole trust update is bounded too, so many slow files cannot add up (scenario 1).
    #[error(
        "the trust update from the Notary server at {server} did not finish within {limit:?} (limits.update_deadline); it was waiting for {file}"
    )]
    UpdateDeadline {
        server: String,
        file: String,
        limit: Duration,
    },
    /// The server's certificate did not verify: its identity is unknown, which retrying later
    /// will not change.
    #[error(
        "the TLS certificate of the Notary server at {server} could not be verified; if it is signed by a private CA, pass that CA with --tls-ca <file>"
    )]
    TlsUntrusted {
        server: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the Notary server answered {status} for {url}: {body}")]
    Server {
        url: String,
        status: u16,
        body: String,
    },
    #[error(
        "the Notary server at {server} refused access: log in with 'docker login {server}' or set REGISTRY_USERNAME and REGISTRY_PASSWORD"
    )]
    Unauthorized { server: String },
    #[error("the Notary token service at {realm} is unreachable")]
    TokenServiceUnreachable {
        realm: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the Notary token service at {realm} failed: {reason}")]
    TokenService { realm: String, reason: String },
    #[error("invalid Notary server URL {url:?}: {reason}")]
    BadServerUrl { url: String, reason: &'static str },
    #[error("trust cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
    #[error("trust cache {path}")]
    CacheIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The cached root cannot even be parsed: local damage (a truncated write by another tool, a
    /// bad disk, an edit), not something a server did, so it is local state, not an attack.
    #[error(
        "the cached root {path} is damaged and cannot be read; remove {dir} to trust the server's root again (on first use, or by the certificate pinned in trust_pinning), or restore the file"
    )]
    CorruptCachedRoot {
        path: PathBuf,
        dir: PathBuf,
        #[source]
        source: crate::tuf::envelope::EnvelopeError,
    },
    #[error(
        "the trust cache bookkeeping {path} is damaged; remove {dir} to start over from the server's root"
    )]
    CorruptCacheState {
        path: PathBuf,
        dir: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The clock went back behind the last verified update (scenario 13): expired metadata
    /// could look fresh again, so this is treated like expiry.
    #[error(
        "the clock ({now}) is {minutes} minutes behind the last time the trust data of {gun} was verified here ({last}); with a clock stepped back, expired metadata would look fresh. Fix the clock; if that earlier time was wrong, remove {path}"
    )]
    ClockBehind {
        gun: String,
        now: chrono::DateTime<chrono::Utc>,
        last: chrono::DateTime<chrono::Utc>,
        minutes: i64,
        path: PathBuf,
    },
    #[error("another manifesto holds the lock on {path}; gave up after {seconds} s")]
    LockTimeout { path: PathBuf, seconds: u64 },
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The trust data did not verify (or could not be fetched).
    #[error(transparent)]
    Update(#[from] crate::tuf::update::UpdateError),
    /// Credentials for the token service could not be read (a helper failed or hung).
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

impl NotaryError {
    pub fn failure(&self) -> Failure {
        match self {
            NotaryError::NotFound { .. } => Failure::NotFound,
            // A server that sends more than any honest file could be is attacking us.
            NotaryError::TooLarge { .. } => Failure::Untrusted,
            NotaryError::TlsUntrusted { .. } => Failure::Untrusted,
            NotaryError::Unreachable { .. }
            | NotaryError::FileDeadline { .. }
            | NotaryError::UpdateDeadline { .. }
            | NotaryError::Server { .. }
            | NotaryError::TokenServiceUnreachable { .. }
            | NotaryError::TokenService { .. } => Failure::Unavailable,
            NotaryError::Unauthorized { .. } => Failure::LocalState,
            NotaryError::BadServerUrl { .. } => Failure::Usage,
            NotaryError::Cache { .. }
            | NotaryError::CacheIo { .. }
            | NotaryError::CorruptCachedRoot { .. }
            | NotaryError::CorruptCacheState { .. }
            | NotaryError::LockTimeout { .. } => Failure::LocalState,
            NotaryError::ClockBehind { .. } => Failure::Stale,
            NotaryError::Http(e) => e.failure(),
            NotaryError::Credentials(e) => e.failure(),
            NotaryError::Update(e) => e.failure(),
        }
    }
}
