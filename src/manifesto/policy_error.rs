//! Why a policy file (`verify --policy FILE`) was refused when it was loaded: always bad input
//! (exit 2), found before any network access. Each variant names where in the file the problem is
//! (`at`: `--policy gate.yaml: requirements[1]`) and keeps the parser's error as its source.

use std::path::PathBuf;

use crate::failure::Failure;

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("--policy {}: cannot read it", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--policy {origin}: not a valid policy file (JSON)")]
    Json {
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    #[cfg(feature = "policy")]
    #[error("--policy {origin}: not a valid policy file (YAML)")]
    Yaml {
        origin: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{at}: role {role:?} is not a role name (list several roles as a YAML/JSON list)")]
    RoleNotAName { at: String, role: String },
    #[error("{at}: type {metadata_type:?} is not a metadata type")]
    TypeNotAType { at: String, metadata_type: String },
    /// The entry, written as a `--require` SPEC, does not parse.
    #[error("{at}: not a valid requirement")]
    Requirement {
        at: String,
        #[source]
        source: Box<crate::error::Error>,
    },
    #[error(
        "{at}: repositories: {pattern:?} is not a repository pattern (e.g. \"registry.example.com/payments/*\")"
    )]
    RepositoryPattern { at: String, pattern: String },
    #[error("{at}: the policy names no requirements, repositories or rules")]
    Empty { at: String },
    /// regorus reports its parse and compile errors as text with line and column.
    #[error("{at}: the Rego rules do not parse: {reason}")]
    RegoParse { at: String, reason: String },
    #[error("{at}: the Rego rules must be in `package manifesto`, not `package {package}`")]
    RegoPackage { at: String, package: String },
    /// The rules compiled but failed when evaluated over an empty input.
    #[error("{at}: {reason}")]
    RegoEval { at: String, reason: String },
    #[error(
        "--policy {}: this build of manifesto has no policy support (it was built without the `policy` feature); use --require SPEC, or a build with default features",
        path.display()
    )]
    Unsupported { path: PathBuf },
}

impl PolicyError {
    pub fn failure(&self) -> Failure {
        Failure::Usage
    }
}
