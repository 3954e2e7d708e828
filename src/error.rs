//! The library's top-level error: every module error, each knowing its [`Failure`].
//!
//! Commands return this type; `Error::failure` is the single mapping from an error to the
//! documented exit code (via [`Failure::exit_code`]).

use crate::config::ConfigError;
use crate::failure::Failure;
use crate::http::HttpError;
use crate::keys::KeyStoreError;
use crate::manifesto::metadata_type::MetadataTypeError;
use crate::notary::NotaryError;
use crate::registry::RegistryError;
use crate::registry::reference::ReferenceError;
use crate::tuf::names::RoleName;
use crate::tuf::sign::SignError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    MetadataType(#[from] MetadataTypeError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Notary(#[from] NotaryError),
    #[error(transparent)]
    Publish(#[from] crate::notary::publish::PublishError),
    #[error(transparent)]
    Sign(#[from] crate::tuf::sign::SignError),
    #[error(transparent)]
    VersionCeiling(#[from] crate::tuf::build::VersionCeiling),
    #[error(transparent)]
    KeyPem(#[from] crate::tuf::key_pem::KeyPemError),
    #[error(transparent)]
    Delegation(#[from] crate::tuf::build::DelegationError),
    /// The trust data did not verify (or could not be fetched).
    #[error(transparent)]
    Update(crate::tuf::update::UpdateError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A signing key could not be made, stored, read or used.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// `init` of a repository that already has trust data: it is left as it is.
    #[error(
        "{gun} already has trust data on {server}; it is left as it is (inspect it with 'manifesto trust inspect {gun}')"
    )]
    AlreadyInitialised { gun: String, server: String },
    /// `init` lost the race: another client created the repository between our check and POST.
    #[error("{gun} was created by someone else meanwhile")]
    CreatedMeanwhile { gun: String },
    /// A local key could not sign `role`'s metadata.
    #[error("cannot sign {role} of {gun}")]
    SignRole {
        role: RoleName,
        gun: String,
        #[source]
        source: SignError,
    },
    /// A lifetime flag past what the Go client can write (the year 9999).
    #[error("{flag} reaches past the year 9999")]
    LifetimeTooLong { flag: &'static str },
    /// `key rotate REPO targets` on a repository without targets metadata.
    #[error("{gun} has no targets metadata to re-sign")]
    NothingToResign { gun: String },
    #[error(
        "{name:?} is not a delegation name: use lowercase letters, digits, '-' or '_' (e.g. 'qa')"
    )]
    NotADelegationName { name: String },
    #[error("{gun} has no delegation {role}")]
    NoSuchDelegation { gun: String, role: RoleName },
    /// A file the user named cannot be read.
    #[error("cannot read {path}")]
    InputFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file the user named is not a public key.
    #[error("{path} is not a usable public key")]
    PublicKeyFile {
        path: PathBuf,
        #[source]
        source: crate::tuf::key_pem::KeyPemError,
    },
    /// A signer without authority for what it tried to sign.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed metadata older than the caller accepts.
    #[error("{0}")]
    TooOld(String),
    /// Something the user named does not exist.
    #[error("{0}")]
    NotFoundMessage(String),
    /// Bad input caught by a command (a malformed flag value, an unusable file).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    PutInput(#[from] crate::manifesto::put::PutInputError),
    #[error(transparent)]
    OutputFile(#[from] crate::manifesto::get::OutputFileError),
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
    /// A gate (`verify`) printed its verdict and did not pass: the most severe failure found.
    #[error("{message}")]
    Denied { failure: Failure, message: String },
}

impl Error {
    pub fn failure(&self) -> Failure {
        match self {
            Error::Reference(e) => e.failure(),
            Error::MetadataType(e) => e.failure(),
            Error::Registry(e) => e.failure(),
            Error::Notary(e) => e.failure(),
            Error::Update(e) => e.failure(),
            Error::Publish(e) => e.failure(),
            Error::Sign(e) => e.failure(),
            Error::VersionCeiling(e) => e.failure(),
            Error::KeyPem(e) => e.failure(),
            Error::Delegation(e) => e.failure(),
            Error::Config(e) => e.failure(),
            Error::Http(e) => e.failure(),
            Error::Keys(e) => e.failure(),
            Error::AlreadyInitialised { .. }
            | Error::CreatedMeanwhile { .. }
            | Error::LifetimeTooLong { .. }
            | Error::NotADelegationName { .. }
            | Error::InputFile { .. }
            | Error::PublicKeyFile { .. } => Failure::Usage,
            Error::NothingToResign { .. } | Error::NoSuchDelegation { .. } => Failure::NotFound,
            // The key would not sign: local key state, whatever the message it was given.
            Error::SignRole {
                source: SignError::Sign(_),
                ..
            } => Failure::LocalState,
            Error::SignRole { source, .. } => source.failure(),
            Error::Usage(_) => Failure::Usage,
            Error::NotFoundMessage(_) => Failure::NotFound,
            Error::Unauthorized(_) => Failure::Untrusted,
            Error::TooOld(_) => Failure::Stale,
            Error::OutputFile(e) => e.failure(),
            Error::PutInput(e) => e.failure(),
            Error::Output(_) => Failure::Internal,
            Error::Denied { failure, .. } => *failure,
        }
    }
}
