//! Why a key could not be made, stored, read or used. No variant carries a passphrase or key
//! bytes; paths, roles and key ids are what the user needs to fix the problem.

use std::path::PathBuf;

use crate::failure::Failure;
use crate::tuf::names::{NameError, RoleName};

/// A key structure that does not parse (independent of where it came from).
#[derive(Debug, thiserror::Error)]
pub enum KeyFormatError {
    #[error("not a PEM file: {0}")]
    Pem(&'static str),
    #[error("malformed key structure: {0}")]
    Der(&'static str),
    #[error(
        "unsupported PEM block {0:?} (expected PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY or ENCRYPTED PRIVATE KEY)"
    )]
    Label(String),
    #[error("unsupported key algorithm: {0}")]
    Algorithm(&'static str),
    #[error("the private and public halves of the key do not match")]
    Inconsistent,
    #[error("unsupported key encryption")]
    Encryption(#[source] pkcs8::pkcs5::Error),
    #[error("key encryption parameters are out of bounds: {0}")]
    KdfBounds(&'static str),
}

/// Everything the key store can fail at.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("cannot access {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SECURITY-TESTS §4: a key file readable by others is refused, not silently used.
    #[error(
        "key file {path} is accessible by other users (mode {mode:03o}): run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{path} is not a usable key file")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: KeyFormatError,
    },
    #[error("{path} cannot be imported")]
    BadImport {
        path: PathBuf,
        #[source]
        source: KeyFormatError,
    },
    #[error("{path} holds key {actual}, not the key its name says")]
    IdMismatch { path: PathBuf, actual: String },
    #[error("no private key {id} in {dir}")]
    NotFound { id: String, dir: PathBuf },
    #[error("{path} has no role: pass --role (root, targets, snapshot or targets/<name>)")]
    MissingRole { path: PathBuf },
    #[error("{path}: {role} keys need a repository: pass --gun REPO")]
    MissingGun { path: PathBuf, role: String },
    #[error("invalid role")]
    Role(#[source] NameError),
    #[error("no passphrase for the {class} key: set {variable} (there is no terminal to ask on)")]
    NoPassphrase {
        class: &'static str,
        variable: &'static str,
    },
    #[error("wrong passphrase for {path} (from {source_name}); the key file is unchanged")]
    WrongPassphrase { path: PathBuf, source_name: String },
    #[error("the passphrase from {source_name} is too short: at least {min} characters")]
    PassphraseTooShort { source_name: String, min: usize },
    #[error("the passphrases did not match")]
    PassphraseMismatch,
    #[error("cannot read the passphrase from the terminal")]
    Prompt(#[source] std::io::Error),
    #[error("cannot encrypt the key")]
    Encrypt(#[source] pkcs8::Error),
    #[error("cannot generate a key: the system random generator failed")]
    Random,
    #[error("root keys must be ECDSA P-256 keys (Notary's root certificates are ecdsa-x509)")]
    RootKeyAlgorithm,
    #[error(
        "manifesto does not generate RSA keys: make one elsewhere (e.g. 'openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072') and 'manifesto key import' it"
    )]
    RsaGeneration,
    #[error("signing failed")]
    Sign,
    /// No key the store holds is listed for the role (or not enough for its threshold).
    #[error(
        "no private key for {role} in {dir} (looked for key ids {wanted}); import it with 'manifesto key import'"
    )]
    MissingKey {
        role: String,
        wanted: String,
        dir: PathBuf,
    },
    /// The role to sign as is not delegated in the verified repository.
    #[error("{role} is not delegated in {gun}: add it with 'manifesto delegate add'")]
    NotDelegated { role: RoleName, gun: String },
    #[error(transparent)]
    Agent(#[from] super::agent::AgentError),
    #[error("cannot build the root certificate for {gun}")]
    Certificate {
        gun: String,
        #[source]
        source: rcgen::Error,
    },
}

impl KeyStoreError {
    pub fn failure(&self) -> Failure {
        match self {
            KeyStoreError::Agent(e) => e.failure(),
            KeyStoreError::Io { .. }
            | KeyStoreError::Permissions { .. }
            | KeyStoreError::Corrupt { .. }
            | KeyStoreError::IdMismatch { .. }
            | KeyStoreError::NotFound { .. }
            | KeyStoreError::NoPassphrase { .. }
            | KeyStoreError::WrongPassphrase { .. }
            | KeyStoreError::Prompt(_)
            | KeyStoreError::MissingKey { .. } => Failure::LocalState,
            KeyStoreError::NotDelegated { .. } => Failure::NotFound,
            KeyStoreError::BadImport { .. }
            | KeyStoreError::MissingRole { .. }
            | KeyStoreError::MissingGun { .. }
            | KeyStoreError::Role(_)
            | KeyStoreError::PassphraseTooShort { .. }
            | KeyStoreError::PassphraseMismatch
            | KeyStoreError::RootKeyAlgorithm
            | KeyStoreError::RsaGeneration => Failure::Usage,
            KeyStoreError::Encrypt(_)
            | KeyStoreError::Random
            | KeyStoreError::Sign
            | KeyStoreError::Certificate { .. } => Failure::Internal,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> KeyStoreError {
        let path = path.into();
        move |source| KeyStoreError::Io { path, source }
    }
}
