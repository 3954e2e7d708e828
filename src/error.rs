//! The library's top-level error: every module error, each knowing its [`Failure`].
//!
//! Commands return this type; `Error::failure` is the single mapping from an error to the
//! documented exit code (via [`Failure::exit_code`]).

use crate::config::ConfigError;
use crate::failure::Failure;
use crate::http::HttpError;
use crate::keys::KeyStoreError;
use crate::manifesto::MetadataType;
use crate::manifesto::metadata_type::MetadataTypeError;
use crate::notary::NotaryError;
use crate::registry::Digest;
use crate::registry::RegistryError;
use crate::registry::reference::ReferenceError;
use crate::tuf::names::{NameError, RoleName};
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
    /// A role name on the command line that does not parse.
    #[error("not a role: use root, targets, snapshot, timestamp or targets/<name>")]
    BadRoleName {
        #[source]
        source: NameError,
    },
    #[error("{given:?} is not a key id")]
    BadKeyId {
        given: String,
        #[source]
        source: NameError,
    },
    #[error("{role} keys belong to one repository: pass --gun REPO")]
    KeyNeedsGun { role: RoleName },
    #[error("{flag} {value:?} would expire at once: use e.g. 90d or 3y")]
    LifetimeZero { flag: &'static str, value: String },
    #[error(
        "{role} is a delegation: its keys are listed by its parent role, replace one with 'manifesto delegate rotate REPO NAME --key NEW.pem' (or 'delegate add' / 'delegate remove --key'); key rotate handles root, targets, snapshot and timestamp"
    )]
    NotRotatable { role: RoleName },
    #[error("{flag} applies to {applies_to} only")]
    FlagNotApplicable {
        flag: &'static str,
        applies_to: &'static str,
    },
    #[error("no HOME: pass {flag} DIR")]
    NoHome { flag: &'static str },
    #[error(
        "verify needs at least one --require {} or a --policy FILE",
        crate::manifesto::requirement::SPEC_GRAMMAR
    )]
    NothingToVerify,
    #[error(
        "the registry answers {resolved} for tag {tag} of {repository}, but {role} signs the tag for {signed}: the tag was moved in the registry without the repository's keys; use {repository}@{signed}, or sign the tag again if the move was intended"
    )]
    TagMoved {
        repository: String,
        tag: String,
        resolved: String,
        role: String,
        signed: String,
    },
    #[error(
        "{role} signs tag {tag} of {repository} without a sha256 hash, so the registry's answer {resolved} cannot be checked against it"
    )]
    TagSignedWithoutSha256 {
        repository: String,
        tag: String,
        resolved: String,
        role: String,
    },
    #[error("{image}: the policy requirement {requirement} is not met ({status}): {reason}")]
    PolicyRefused {
        image: String,
        requirement: String,
        status: &'static str,
        reason: String,
        failure: Failure,
    },
    #[error(
        "{repository} has no tags to verify (the registry lists none besides manifesto's own); push and tag an image, or verify images by digest"
    )]
    NoTags { repository: String },
    #[error("{given:?} is not a duration: use e.g. 30m, 24h or 7d")]
    BadDuration {
        given: String,
        #[source]
        source: humantime::DurationError,
    },
    #[error(
        "--require {spec:?}: {why} (expected {}, e.g. 'approvals,role=qa,max-age=7d,min-signers=2')",
        crate::manifesto::requirement::SPEC_GRAMMAR
    )]
    BadRequirement { spec: String, why: String },
    #[error(
        "--require {spec:?}: {source} (expected {}, e.g. 'approvals,role=qa,max-age=7d,min-signers=2')",
        crate::manifesto::requirement::SPEC_GRAMMAR
    )]
    RequirementType {
        spec: String,
        #[source]
        source: MetadataTypeError,
    },
    /// A temporary file could not be made, written or read: the local environment (a full or
    /// unwritable temporary directory), not the user's input.
    #[error("cannot use a temporary file in {}", dir.display())]
    TempFile {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The signer's role may not sign this target name (its delegation lacks the path).
    #[error(
        "{role} may not sign {name:?}: its delegation does not include the path '{prefix}/' (see 'manifesto delegate list {gun}')"
    )]
    PathNotDelegated {
        role: RoleName,
        name: String,
        prefix: String,
        gun: String,
    },
    #[error(
        "{role} is not a role of {gun}: use --role targets, or a delegation from 'manifesto delegate list'"
    )]
    NotARole { role: RoleName, gun: String },
    /// A signed target without the sha256 its blob is fetched by.
    #[error("{name} is signed without a sha256 hash")]
    UnsignedSha256 { name: String },
    /// The registry served bytes other than the ones signed.
    #[error(
        "the registry served content for {digest} that does not match the signed length and sha512 of {name}"
    )]
    BlobMismatch { digest: Digest, name: String },
    /// `get --signed-by`: the metadata exists, signed by another role.
    #[error("{name} of {image} is signed by {signer}, not by {wanted}")]
    SignedByOther {
        /// The target name (`<type>/<image digest>`).
        name: String,
        image: String,
        signer: RoleName,
        wanted: RoleName,
    },
    #[error(
        "no {metadata_type} metadata for {image} ({digest}): store it with 'manifesto put {image} {metadata_type} FILE'"
    )]
    NoMetadata {
        metadata_type: MetadataType,
        image: String,
        digest: Digest,
    },
    #[error("no {metadata_type} metadata signed by {role} for {image} ({digest})")]
    NoMetadataSignedBy {
        metadata_type: MetadataType,
        role: RoleName,
        image: String,
        digest: Digest,
    },
    #[error("{name} carries no signed createdAt, so its age cannot be checked against --max-age")]
    NoCreatedAt { name: String },
    #[error(
        "{metadata_type} metadata of {image} was signed at {signed_at} ({} ago), older than --max-age {}",
        humantime::format_duration(*.age),
        humantime::format_duration(*.max_age)
    )]
    OlderThanMaxAge {
        metadata_type: MetadataType,
        image: String,
        signed_at: String,
        age: std::time::Duration,
        max_age: std::time::Duration,
    },
    /// A policy file refused when it was loaded (`verify --policy`).
    #[error(transparent)]
    Policy(#[from] crate::manifesto::policy_error::PolicyError),
    #[error(transparent)]
    Copy(#[from] crate::manifesto::copy::CopyError),
    #[error(transparent)]
    CopyImage(#[from] crate::manifesto::copy_image::CopyImageError),
    #[error(transparent)]
    Bundle(#[from] crate::notary::bundle::BundleError),
    #[error(transparent)]
    Offline(#[from] crate::manifesto::bundle::OfflineError),
    #[error(transparent)]
    PutInput(#[from] crate::manifesto::put::PutInputError),
    /// A `put --batch` file that cannot be read or has a bad line.
    #[error(transparent)]
    Batch(#[from] crate::manifesto::batch::BatchError),
    /// An entry of `put --batch` refused (nothing was published): which line, and why.
    #[error("line {line} of the batch")]
    BatchLine {
        line: usize,
        #[source]
        source: Box<Error>,
    },
    /// A mistake with a likely intended meaning, named in the message.
    #[error(transparent)]
    Hinted(Box<crate::manifesto::hints::Hinted>),
    #[error(transparent)]
    OutputFile(#[from] crate::manifesto::get::OutputFileError),
    #[error(transparent)]
    RootFile(#[from] crate::manifesto::offline_root::RootFileError),
    #[error("cannot write to standard output")]
    Output(#[source] std::io::Error),
    #[error("cannot write the man page {path}")]
    ManPages {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No server was configured, so Docker's default for the registry was tried (DESIGN §6):
    /// the user may not know a server was guessed, nor how to name the right one.
    #[error(
        "no Notary server is configured, so manifesto tried {server} (Docker's default for the registry {registry}); name the Notary server with --server URL, or set MANIFESTO_SERVER or DOCKER_CONTENT_TRUST_SERVER (or \"server\" in config.json)"
    )]
    DefaultServer {
        server: String,
        registry: String,
        #[source]
        source: Box<Error>,
    },
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
            | Error::PublicKeyFile { .. }
            | Error::BadRoleName { .. }
            | Error::BadKeyId { .. }
            | Error::KeyNeedsGun { .. }
            | Error::LifetimeZero { .. }
            | Error::NotRotatable { .. }
            | Error::FlagNotApplicable { .. }
            | Error::NoHome { .. }
            | Error::NothingToVerify
            | Error::BadDuration { .. }
            | Error::BadRequirement { .. }
            | Error::RequirementType { .. } => Failure::Usage,
            Error::TempFile { .. } => Failure::LocalState,
            Error::PathNotDelegated { .. }
            | Error::UnsignedSha256 { .. }
            | Error::BlobMismatch { .. }
            | Error::SignedByOther { .. }
            | Error::TagMoved { .. }
            | Error::TagSignedWithoutSha256 { .. } => Failure::Untrusted,
            Error::NoCreatedAt { .. } | Error::OlderThanMaxAge { .. } => Failure::Stale,
            Error::NothingToResign { .. }
            | Error::NoSuchDelegation { .. }
            | Error::NotARole { .. }
            | Error::NoMetadata { .. }
            | Error::NoMetadataSignedBy { .. }
            | Error::NoTags { .. } => Failure::NotFound,
            // The key would not sign: local key state, whatever the message it was given.
            Error::SignRole {
                source: SignError::Sign(_),
                ..
            } => Failure::LocalState,
            Error::SignRole { source, .. } => source.failure(),
            Error::Policy(e) => e.failure(),
            Error::OutputFile(e) => e.failure(),
            Error::RootFile(e) => e.failure(),
            Error::PutInput(e) => e.failure(),
            Error::Batch(e) => e.failure(),
            Error::BatchLine { source, .. } => source.failure(),
            Error::Hinted(e) => e.failure(),
            // stdout or a file is ours to write and it failed (a full disk, an I/O error): local.
            Error::Output(_) | Error::ManPages { .. } => Failure::LocalState,
            Error::DefaultServer { source, .. } => source.failure(),
            Error::Copy(e) => e.failure(),
            Error::CopyImage(e) => e.failure(),
            Error::Bundle(e) => e.failure(),
            Error::Offline(e) => e.failure(),
            Error::Denied { failure, .. } | Error::PolicyRefused { failure, .. } => *failure,
        }
    }
}
