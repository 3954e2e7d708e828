//! `--require SPEC`: what a gate demands of one metadata type, parsed into a validated value.
//!
//! `SPEC` is `TYPE[,role=R][,max-age=DUR][,min-signers=N]`:
//! - `TYPE` follows the metadata type grammar (`approvals`, `scan`).
//! - `role=R` names the roles whose signature counts: `targets` (the repository owner) or a
//!   delegation (`qa` means `targets/qa`; nested `targets/a/b` is written in full). Alternatives
//!   are written `role=qa|security`; repeating `role=` adds alternatives too
//!   (`role=qa,role=security` is the same requirement). Without `role=`, any role allowed to sign
//!   the type counts.
//! - `max-age=DUR` (`30m`, `24h`, `7d`): the signed `createdAt` is no older than DUR.
//! - `min-signers=N` (N ≥ 1): at least N distinct delegation roles sign the same blob.
//!
//! Every key at most once except `role`; anything else is bad input (exit 2) with a message that
//! names the SPEC.

use std::fmt;
use std::time::Duration;

use super::MetadataType;
use crate::error::Error;
use crate::tuf::names::RoleName;

/// One validated requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub metadata_type: MetadataType,
    /// Roles whose signature counts; empty means any role allowed to sign the type.
    pub roles: Vec<RoleName>,
    pub max_age: Option<Duration>,
    pub min_signers: Option<u32>,
    /// The SPEC as given, for reports.
    spec: String,
}

/// The `--require` grammar, for messages.
pub const SPEC_GRAMMAR: &str = "TYPE[,role=R[|R2…]][,max-age=DUR][,min-signers=N]";

fn bad(spec: &str, why: impl fmt::Display) -> Error {
    Error::BadRequirement {
        spec: spec.to_owned(),
        why: why.to_string(),
    }
}

/// `targets`, `qa` (→ `targets/qa`) or `targets/qa/x`.
fn parse_role(spec: &str, name: &str) -> Result<RoleName, Error> {
    if name == "targets" {
        return Ok(RoleName::targets());
    }
    let full = if name.starts_with("targets/") {
        name.to_string()
    } else {
        format!("targets/{name}")
    };
    RoleName::parse(&full)
        .ok()
        .filter(RoleName::is_delegation)
        .ok_or_else(|| {
            bad(
                spec,
                format!("{name:?} is not a role: use 'targets' or a delegation name such as 'qa'"),
            )
        })
}

impl Requirement {
    pub fn parse(spec: &str) -> Result<Requirement, Error> {
        let mut parts = spec.split(',');
        let ty = parts.next().unwrap_or_default().trim();
        if ty.is_empty() {
            return Err(bad(spec, "the metadata TYPE comes first"));
        }
        if ty.contains('=') {
            return Err(bad(
                spec,
                format!("{ty:?} is an option, but TYPE comes first"),
            ));
        }
        let metadata_type = MetadataType::parse(ty).map_err(|source| Error::RequirementType {
            spec: spec.to_owned(),
            source,
        })?;
        let mut req = Requirement {
            metadata_type,
            roles: Vec::new(),
            max_age: None,
            min_signers: None,
            spec: spec.to_string(),
        };
        for part in parts {
            let part = part.trim();
            let Some((key, value)) = part.split_once('=') else {
                return Err(bad(
                    spec,
                    format!("{part:?} is not KEY=VALUE (keys: role, max-age, min-signers)"),
                ));
            };
            let value = value.trim();
            match key.trim() {
                "role" => {
                    for name in value.split('|') {
                        let role = parse_role(spec, name.trim())?;
                        if !req.roles.contains(&role) {
                            req.roles.push(role);
                        }
                    }
                }
                "max-age" => {
                    if req.max_age.is_some() {
                        return Err(bad(spec, "max-age is given twice"));
                    }
                    let d = humantime::parse_duration(value).map_err(|_| {
                        bad(
                            spec,
                            format!("max-age {value:?} is not a duration: use e.g. 30m, 24h or 7d"),
                        )
                    })?;
                    if d.is_zero() {
                        return Err(bad(spec, "max-age must be longer than 0"));
                    }
                    req.max_age = Some(d);
                }
                "min-signers" => {
                    if req.min_signers.is_some() {
                        return Err(bad(spec, "min-signers is given twice"));
                    }
                    let n = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            bad(
                                spec,
                                format!("min-signers {value:?} is not a number from 1 to 1000"),
                            )
                        })?;
                    req.min_signers = Some(n);
                }
                other => {
                    return Err(bad(
                        spec,
                        format!("unknown key {other:?} (keys: role, max-age, min-signers)"),
                    ));
                }
            }
        }
        Ok(req)
    }

    /// The SPEC as the user wrote it.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Whether a signature by `role` counts for this requirement.
    pub fn accepts(&self, role: &RoleName) -> bool {
        self.roles.is_empty() || self.roles.contains(role)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(s: &str) -> RoleName {
        RoleName::parse(s).unwrap()
    }

    fn usage(spec: &str) -> String {
        match Requirement::parse(spec) {
            Err(e @ (Error::BadRequirement { .. } | Error::RequirementType { .. })) => {
                assert_eq!(e.failure().exit_code(), 2);
                e.to_string()
            }
            other => panic!("{spec:?} should be a usage error, got {other:?}"),
        }
    }

    #[test]
    fn a_bare_type_is_a_presence_requirement() {
        let r = Requirement::parse("approvals").unwrap();
        assert_eq!(r.metadata_type.as_str(), "approvals");
        assert!(r.roles.is_empty());
        assert_eq!(r.max_age, None);
        assert_eq!(r.min_signers, None);
        assert!(r.accepts(&RoleName::targets()));
        assert_eq!(r.to_string(), "approvals");
    }

    #[test]
    fn every_option_parses() {
        let r = Requirement::parse("scan,role=qa,max-age=24h,min-signers=2").unwrap();
        assert_eq!(r.roles, vec![role("targets/qa")]);
        assert_eq!(r.max_age, Some(Duration::from_secs(86400)));
        assert_eq!(r.min_signers, Some(2));
        assert!(r.accepts(&role("targets/qa")));
        assert!(!r.accepts(&RoleName::targets()));
    }

    #[test]
    fn role_alternatives_by_bar_or_repetition_are_the_same() {
        let a = Requirement::parse("approvals,role=qa|targets/security|targets").unwrap();
        let b = Requirement::parse("approvals,role=qa,role=targets/security,role=targets,role=qa")
            .unwrap();
        let want = vec![
            role("targets/qa"),
            role("targets/security"),
            RoleName::targets(),
        ];
        assert_eq!(a.roles, want);
        assert_eq!(b.roles, want);
        let nested = Requirement::parse("approvals,role=targets/qa/alice").unwrap();
        assert_eq!(nested.roles, vec![role("targets/qa/alice")]);
    }

    #[test]
    fn bad_specs_are_usage_errors_naming_the_spec() {
        for (spec, hint) in [
            ("", "TYPE comes first"),
            (",role=qa", "TYPE comes first"),
            ("role=qa", "TYPE comes first"),
            ("Approvals", "invalid metadata type"),
            ("approvals,qa", "not KEY=VALUE"),
            ("approvals,signer=qa", "unknown key"),
            ("approvals,role=", "not a role"),
            ("approvals,role=qa|", "not a role"),
            ("approvals,role=QA", "not a role"),
            ("approvals,max-age=soon", "not a duration"),
            ("approvals,max-age=0s", "longer than 0"),
            ("approvals,max-age=1h,max-age=2h", "twice"),
            ("approvals,min-signers=0", "1 to 1000"),
            ("approvals,min-signers=-1", "1 to 1000"),
            ("approvals,min-signers=two", "1 to 1000"),
            ("approvals,min-signers=1,min-signers=2", "twice"),
        ] {
            let msg = usage(spec);
            assert!(msg.contains(hint), "{spec:?}: {msg}");
            assert!(msg.contains(&format!("{spec:?}")), "{spec:?}: {msg}");
        }
    }
}
