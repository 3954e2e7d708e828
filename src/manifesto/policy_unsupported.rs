//! `verify --policy FILE` in a build without the `policy` feature (no `regorus`, no YAML parser).
//!
//! The same `Policy` API as `policy.rs`, so `verify` compiles unchanged, but no policy can be
//! built: [`Policy::load`] refuses every file as bad input (exit 2), before reading it or any
//! network access. `--require` does not need this module and works as in a full build.

use std::convert::Infallible;
use std::path::Path;

use super::policy_error::PolicyError;
use super::requirement::Requirement;

/// A policy, which this build cannot hold: the `Infallible` field makes it uninhabited.
#[derive(Debug)]
pub struct Policy {
    never: Infallible,
}

impl Policy {
    /// Always refused: this build has no policy support.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        Err(PolicyError::Unsupported {
            path: path.to_owned(),
        })
    }

    pub fn requirements_for(&self, _repository: &str) -> Vec<Requirement> {
        match self.never {}
    }

    pub fn has_rules(&self) -> bool {
        match self.never {}
    }

    pub fn deny(&self, _input: &serde_json::Value) -> Result<Vec<String>, String> {
        match self.never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_file_is_refused_as_usage_saying_the_build_lacks_policy_support() {
        let e = Policy::load(Path::new("gate.yaml")).unwrap_err();
        assert_eq!(e.failure().exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains("gate.yaml"), "{msg}");
        assert!(msg.contains("no policy support"), "{msg}");
        assert!(msg.contains("--require"), "{msg}");
    }
}
