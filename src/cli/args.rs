//! The command line, as clap parses it. Values stay raw strings here; `cli::run` validates them
//! into typed values before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 internal error, 2 usage or bad input, 3 untrusted, 4 stale, 5 rollback or \
freeze, 6 unavailable, 7 conflict, 8 local state, 9 not found, 10 policy denied.

IMAGE follows Docker's reference grammar: 'alpine' means docker.io/library/alpine:latest.";

/// Signed, verified metadata for container images, stored in the image's own registry.
#[derive(Debug, Parser)]
#[command(name = "manifesto", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Notary server URL [default: Docker's: notary.docker.io for Docker Hub, else https://<registry host>]
    #[arg(long, global = true, env = "MANIFESTO_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Where keys, the trust cache and config.json live
    #[arg(long, global = true, env = "MANIFESTO_TRUST_DIR", value_name = "DIR")]
    pub trust_dir: Option<PathBuf>,
    /// Extra CA bundle (PEM) to trust for TLS to the registry and the Notary server
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More logging on stderr (-v info, -vv debug, -vvv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign and store a piece of metadata for an image
    Put(PutArgs),
    /// Verify, then print or write a piece of metadata
    Get(GetArgs),
    /// List the metadata of an image, or every image of a repository with --all
    List(ListArgs),
    /// Remove a piece of metadata (a signed removal)
    Delete(DeleteArgs),
    /// Gate: check that images meet requirements (CI and deploy)
    Verify(VerifyArgs),
    /// Create the Notary repository (trust data) of an image repository
    Init(InitArgs),
    /// Inspect trust data
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Rebuild the _manifesto index and missing manifesto manifests from the signed targets
    Repair(RepoArg),
    /// Manage delegations: who may sign which metadata types
    #[command(subcommand)]
    Delegate(DelegateCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Key(KeyCommand),
    /// Key agent: hold decrypted signing keys for a bounded time, so puts need no passphrase
    #[command(subcommand)]
    Agent(super::agent::AgentCommand),
    /// Resolve an image reference to its manifest digest
    Resolve(ResolveArgs),
    /// Promote an image's signed metadata to another repository, signed again there
    Copy(super::copy::CopyArgs),
    /// Bundles: trust data and metadata in one file, for verification in an air gap
    #[command(subcommand)]
    Bundle(super::bundle::BundleCommand),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Print the version, git commit, build date, TLS backend and features
    Version,
    /// Write the man pages into DIR (used by scripts/install and scripts/release)
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory for manifesto.1 and one manifesto-<command>.1 per subcommand
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// Image reference (tag or digest)
    #[arg(required_unless_present = "batch")]
    pub image: Option<String>,
    /// Metadata type, e.g. approvals, scan, seccomp
    #[arg(value_name = "TYPE", required_unless_present = "batch")]
    pub metadata_type: Option<String>,
    /// File to store; '-' or absent reads stdin
    pub file: Option<PathBuf>,
    /// Store many entries in one signed update per repository: a JSON Lines FILE ('-' is stdin),
    /// one {"image", "type", "file"[, "media_type", "annotations"]} per line
    #[arg(long, value_name = "FILE", conflicts_with_all = ["image", "metadata_type", "file", "media_type", "annotations"])]
    pub batch: Option<PathBuf>,
    /// Delegation role to sign with (e.g. targets/qa) [default: targets]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Media type of the blob [default: application/json when the bytes parse as JSON]
    #[arg(long, value_name = "MT")]
    pub media_type: Option<String>,
    /// Annotation stored in the signed target (repeatable)
    #[arg(long = "annotation", value_name = "K=V")]
    pub annotations: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Image reference (tag or digest)
    pub image: String,
    /// Metadata type
    #[arg(value_name = "TYPE")]
    pub metadata_type: String,
    /// Write to FILE instead of stdout (only after every check passed); - is stdout
    #[arg(short = 'O', long = "output-file", value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Refuse metadata signed longer ago than DUR (e.g. 24h, 7d)
    #[arg(long, value_name = "DUR")]
    pub max_age: Option<String>,
    /// Accept only metadata signed by ROLE
    #[arg(long, value_name = "ROLE")]
    pub signed_by: Option<String>,
    /// Read offline from a bundle ('bundle create'): no network; IMAGE must be by digest
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Enforce this policy file's requirements for TYPE (role, max-age, min-signers), as verify
    /// does [default: the configuration's 'policy']
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Image reference, or a repository with --all
    pub target: String,
    /// List every image of the repository that has metadata
    #[arg(long)]
    pub all: bool,
    /// Only metadata of this type (e.g. every image with a signed safe-to-prune flag)
    #[arg(long = "type", value_name = "TYPE")]
    pub metadata_type: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Image reference
    pub image: String,
    /// Metadata type
    #[arg(value_name = "TYPE")]
    pub metadata_type: String,
    /// Role whose signed entry is removed (e.g. targets/qa) [default: targets]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
SPEC is TYPE[,role=R][,max-age=DUR][,min-signers=N]. role= accepts 'targets' (the owner) or a \
delegation name (qa means targets/qa); alternatives as role=qa|security or by repeating role=. \
min-signers=N counts distinct delegation roles (not the owner's targets role) signing the same \
blob. Exit 0 only when every image meets every requirement, else the most severe failure's code; \
-o json prints the verdict (docs/verdict.md) on pass and fail alike.")]
pub struct VerifyArgs {
    /// Images to check (repositories with --all-tags)
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Requirement: TYPE[,role=R][,max-age=DUR][,min-signers=N] (repeatable)
    #[arg(long = "require", value_name = "SPEC")]
    pub requirements: Vec<String>,
    /// Policy file (JSON or YAML): requirements, per-repository requirements, Rego content rules
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Verify offline from a bundle ('bundle create'): no network; images must be by digest
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Each argument is a repository: verify every tag of it (the registry's tag list)
    #[arg(long, conflicts_with = "bundle")]
    pub all_tags: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Repository, e.g. registry.example.com/team/app (it must exist in the registry)
    pub repo: String,
    /// Initialise even when the registry has no such repository yet (nothing pushed there)
    #[arg(long)]
    pub allow_new_repository: bool,
    /// How many root keys the root lists (the store's root key, if any, is the first) [default: 1]
    #[arg(long, value_name = "N")]
    pub root_keys: Option<u32>,
    /// How many of them must sign the next root [default: 1]
    #[arg(long, value_name = "T")]
    pub root_threshold: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RepoArg {
    /// Repository, e.g. registry.example.com/team/app
    pub repo: String,
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Show roles, keys, thresholds, delegation paths, versions and expiries
    Inspect(RepoArg),
}

#[derive(Debug, Subcommand)]
pub enum DelegateCommand {
    /// Allow the holders of KEYs to sign the given metadata TYPEs
    Add(DelegateAddArgs),
    /// Remove a delegation, or with --key revoke one of its keys
    Remove(DelegateRemoveArgs),
    /// Replace one key of a delegation by a new one, in one signed update
    Rotate(DelegateRotateArgs),
    /// List delegations
    List(RepoArg),
}

#[derive(Debug, Args)]
pub struct DelegateAddArgs {
    pub repo: String,
    /// Delegation name (e.g. qa, becomes targets/qa)
    pub name: String,
    /// Public key or certificate PEM of a signer (repeatable)
    #[arg(long = "key", value_name = "PUB.pem", required = true)]
    pub keys: Vec<PathBuf>,
    /// Metadata type the delegation may sign (repeatable)
    #[arg(long = "type", value_name = "TYPE", required = true)]
    pub types: Vec<String>,
    /// Signatures required [default: 1 for a new delegation; an existing one keeps its own]
    #[arg(long)]
    pub threshold: Option<u32>,
}

#[derive(Debug, Args)]
pub struct DelegateRemoveArgs {
    pub repo: String,
    /// Delegation name (e.g. qa, becomes targets/qa)
    pub name: String,
    /// Revoke only this key (its id, or a unique prefix as 'delegate list' shows it)
    #[arg(long, value_name = "KEYID")]
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct DelegateRotateArgs {
    pub repo: String,
    /// Delegation name (e.g. qa, becomes targets/qa)
    pub name: String,
    /// Public key or certificate PEM of the new signer
    #[arg(long = "key", value_name = "NEW.pem")]
    pub key: PathBuf,
    /// The key the new one replaces (id or unique prefix); needed when the delegation has several
    #[arg(long, value_name = "KEYID")]
    pub replace: Option<String>,
}

#[derive(Debug, Args)]
pub struct DelegateNameArgs {
    pub repo: String,
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a signing key, stored encrypted under <trust-dir>/private
    Generate(KeyGenerateArgs),
    /// List keys: role, repository, key id, type
    List,
    /// Import keys from PEM/PKCS#8 files, or from a Docker trust directory
    Import(KeyImportArgs),
    /// Write a key's public half as a PEM 'PUBLIC KEY' (for 'delegate add --key')
    ExportPublic(KeyExportPublicArgs),
    /// Replace the key of root, targets, snapshot or timestamp and publish the new root
    Rotate(KeyRotateArgs),
    /// Add the signatures of the root keys held here to a root file ('key rotate … --offline')
    SignRoot(KeySignRootArgs),
    /// Publish a root file once it carries enough root signatures
    PublishRoot(KeyPublishRootArgs),
}

#[derive(Debug, Args)]
pub struct KeySignRootArgs {
    /// The root file written by 'key rotate REPO root --offline FILE'
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct KeyPublishRootArgs {
    /// Repository, e.g. registry.example.com/team/app
    pub repo: String,
    /// The signed root file
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct KeyGenerateArgs {
    /// Key algorithm
    #[arg(long = "type", value_enum, default_value_t = KeyAlgorithm::Ecdsa)]
    pub algorithm: KeyAlgorithm,
    /// Role the key is for: root, targets, snapshot, or a delegation such as targets/qa
    /// (Docker's signers use targets/releases)
    #[arg(long, default_value = "targets/releases")]
    pub role: String,
    /// Repository the key belongs to (required for targets and snapshot keys)
    #[arg(long, value_name = "REPO")]
    pub gun: Option<String>,
    /// Also write the public key as PEM to FILE
    #[arg(long, value_name = "FILE")]
    pub public_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithm {
    Ecdsa,
    Ed25519,
}

#[derive(Debug, Args)]
pub struct KeyImportArgs {
    /// Key files (PEM, PKCS#8, encrypted or not)
    #[arg(required_unless_present = "docker_trust")]
    pub files: Vec<PathBuf>,
    /// Import the Go notary / Docker trust keys from DIR [default: ~/.docker/trust]
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "~/.docker/trust")]
    pub docker_trust: Option<PathBuf>,
    /// Role of the imported keys (overrides the files' 'role:' header)
    #[arg(long)]
    pub role: Option<String>,
    /// Repository of the imported keys (overrides the files' 'gun:' header)
    #[arg(long, value_name = "REPO")]
    pub gun: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeyExportPublicArgs {
    /// Key id (64 hex digits, as 'key list' shows it)
    pub key_id: String,
    /// Write to FILE instead of stdout
    #[arg(short = 'O', long = "output-file", value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
targets: a new targets key (stored encrypted) signs targets again, with every target and \
delegation kept; root lists the new key. snapshot, timestamp: the Notary server makes the new key \
and keeps it. root: a new root key and certificate (CN = REPO); the new root is signed by the old \
and the new root key. Every rotation publishes root version + 1, signed by the current root key, \
which must be in the key store; readers with older trust data follow it.")]
pub struct KeyRotateArgs {
    /// Repository, e.g. registry.example.com/team/app
    pub repo: String,
    /// The role whose key to replace: root, targets, snapshot or timestamp
    pub role: String,
    /// How long the new root is valid, e.g. 10y, 3y, 90d [default: the current root's expiry]
    #[arg(long, value_name = "DUR")]
    pub expires: Option<String>,
    /// ROLE targets only: how long the re-signed targets are valid [default: their current expiry]
    #[arg(long, value_name = "DUR")]
    pub targets_expires: Option<String>,
    /// ROLE root only: how many new root keys the root lists [default: 1]
    #[arg(long, value_name = "N")]
    pub root_keys: Option<u32>,
    /// ROLE root only: how many of them must sign the next root [default: 1]
    #[arg(long, value_name = "T")]
    pub root_threshold: Option<u32>,
    /// ROLE root only: write the new root, signed by the root keys held here, to FILE instead of
    /// publishing it (other holders then run 'key sign-root FILE'; then 'key publish-root')
    #[arg(long, value_name = "FILE")]
    pub offline: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Image reference (tag or digest)
    pub image: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
