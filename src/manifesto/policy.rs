//! `verify --policy FILE`: requirements per metadata type, optionally per repository pattern, and
//! content rules in Rego over the verified metadata. The schema is documented in docs/verdict.md;
//! a sample is in fixtures/policy/.
//!
//! Everything here is checked when the file is loaded, before any network access: a file that
//! does not parse, a requirement that is not valid, a repository pattern that is empty or a Rego
//! module that does not compile is bad input (exit 2).
//!
//! The rules are evaluated in-process with `regorus`: `data.manifesto.deny` is a set of messages;
//! each message denies the image.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::policy_error::PolicyError;
use super::requirement::Requirement;

/// The Rego package the rules must declare, and the rule that denies.
pub const PACKAGE: &str = "data.manifesto";
pub const DENY_RULE: &str = "data.manifesto.deny";

/// A loaded, validated policy.
#[derive(Debug)]
pub struct Policy {
    /// Applied to every image.
    pub requirements: Vec<Requirement>,
    /// Extra requirements for repositories (`registry/repository`) matching a pattern, in file
    /// order.
    pub repositories: Vec<(String, Vec<Requirement>)>,
    /// The compiled content rules, if any.
    rules: Option<regorus::Engine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    requirements: Vec<RequirementEntry>,
    #[serde(default)]
    repositories: BTreeMap<String, Vec<RequirementEntry>>,
    #[serde(default)]
    rules: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementEntry {
    #[serde(rename = "type")]
    metadata_type: String,
    #[serde(default)]
    role: Option<Roles>,
    #[serde(default)]
    max_age: Option<String>,
    #[serde(default)]
    min_signers: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Roles {
    One(String),
    Many(Vec<String>),
}

impl RequirementEntry {
    /// The equivalent `--require` SPEC, parsed by the same code (and shown in verdicts).
    fn to_requirement(&self, at: &str) -> Result<Requirement, PolicyError> {
        let mut spec = self.metadata_type.clone();
        let roles: Vec<&str> = match &self.role {
            None => Vec::new(),
            Some(Roles::One(r)) => vec![r.as_str()],
            Some(Roles::Many(rs)) => rs.iter().map(String::as_str).collect(),
        };
        for r in roles {
            if r.contains([',', '|']) {
                return Err(PolicyError::RoleNotAName {
                    at: at.into(),
                    role: r.into(),
                });
            }
            spec.push_str(&format!(",role={r}"));
        }
        if let Some(d) = &self.max_age {
            spec.push_str(&format!(",max-age={d}"));
        }
        if let Some(n) = self.min_signers {
            spec.push_str(&format!(",min-signers={n}"));
        }
        if self.metadata_type.contains(',') {
            return Err(PolicyError::TypeNotAType {
                at: at.into(),
                metadata_type: self.metadata_type.clone(),
            });
        }
        Requirement::parse(&spec).map_err(|e| PolicyError::Requirement {
            at: at.into(),
            source: Box::new(e),
        })
    }
}

fn requirements(entries: &[RequirementEntry], at: &str) -> Result<Vec<Requirement>, PolicyError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| e.to_requirement(&format!("{at}[{i}]")))
        .collect()
}

impl Policy {
    /// Read and validate a policy file: YAML when it ends in `.yaml`/`.yml`, else JSON (a YAML
    /// parser also reads JSON, so content that does not parse as JSON is tried as YAML).
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// Parse a policy from its text; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let file: File = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(json) => {
                let trimmed = text.trim_start();
                if trimmed.starts_with('{') {
                    return Err(PolicyError::Json {
                        origin: origin.into(),
                        source: json,
                    });
                }
                serde_yaml_ng::from_str(text).map_err(|source| PolicyError::Yaml {
                    origin: origin.into(),
                    source,
                })?
            }
        };
        let at = format!("--policy {origin}");
        let mut policy = Policy {
            requirements: requirements(&file.requirements, &format!("{at}: requirements"))?,
            repositories: Vec::new(),
            rules: None,
        };
        for (pattern, entries) in &file.repositories {
            if pattern.trim().is_empty() || pattern.contains(char::is_whitespace) {
                return Err(PolicyError::RepositoryPattern {
                    at: at.clone(),
                    pattern: pattern.clone(),
                });
            }
            let reqs = requirements(entries, &format!("{at}: repositories.{pattern:?}"))?;
            policy.repositories.push((pattern.clone(), reqs));
        }
        if let Some(rules) = file.rules.as_deref().filter(|r| !r.trim().is_empty()) {
            policy.rules = Some(compile(rules, &at)?);
        }
        if policy.requirements.is_empty()
            && policy.repositories.is_empty()
            && policy.rules.is_none()
        {
            return Err(PolicyError::Empty { at });
        }
        Ok(policy)
    }

    /// The requirements for one repository, `registry/repository`: the general ones, then those
    /// of every matching pattern.
    pub fn requirements_for(&self, repository: &str) -> Vec<Requirement> {
        let mut out = self.requirements.clone();
        for (pattern, reqs) in &self.repositories {
            if glob(pattern, repository) {
                out.extend(reqs.iter().cloned());
            }
        }
        out
    }

    pub fn has_rules(&self) -> bool {
        self.rules.is_some()
    }

    /// Evaluate the content rules over `input`: the deny messages (sorted, as Rego sets are), or
    /// the evaluation error. `Ok(empty)` when there are no rules.
    pub fn deny(&self, input: &serde_json::Value) -> Result<Vec<String>, String> {
        let Some(engine) = &self.rules else {
            return Ok(Vec::new());
        };
        deny(&mut engine.clone(), input)
    }
}

fn deny(engine: &mut regorus::Engine, input: &serde_json::Value) -> Result<Vec<String>, String> {
    let input = regorus::Value::from_json_str(&input.to_string()).map_err(|e| e.to_string())?;
    engine.set_input(input);
    let value = engine
        .eval_rule(DENY_RULE.to_string())
        .map_err(|e| format!("the policy's rules failed: {e}"))?;
    if value == regorus::Value::Undefined {
        return Ok(Vec::new());
    }
    let json: serde_json::Value = serde_json::from_str(
        &value
            .to_json_str()
            .map_err(|e| format!("the policy's deny rule: {e}"))?,
    )
    .map_err(|e| format!("the policy's deny rule: {e}"))?;
    let items = match json {
        serde_json::Value::Array(items) => items,
        other => {
            return Err(format!(
                "the policy's deny rule must be a set of messages (`deny contains msg if …`), got {other}"
            ));
        }
    };
    Ok(items
        .into_iter()
        .map(|m| match m {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .collect())
}

/// Compile the rules and evaluate them once over an empty input, so parse and compile errors
/// are reported now (exit 2), before any network access.
fn compile(rules: &str, at: &str) -> Result<regorus::Engine, PolicyError> {
    let mut engine = regorus::Engine::new();
    let package = engine
        .add_policy("policy.rego".to_string(), rules.to_string())
        .map_err(|e| PolicyError::RegoParse {
            at: at.into(),
            reason: e.to_string(),
        })?;
    if package != PACKAGE {
        return Err(PolicyError::RegoPackage {
            at: at.into(),
            package: package
                .strip_prefix("data.")
                .unwrap_or(&package)
                .to_string(),
        });
    }
    deny(&mut engine.clone(), &serde_json::json!({"metadata": {}})).map_err(|reason| {
        PolicyError::RegoEval {
            at: at.into(),
            reason,
        }
    })?;
    Ok(engine)
}

/// A repository pattern: `*` matches within one path segment (no `/`), `**` across segments,
/// `?` one character other than `/`; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p {
            [] => t.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=t.len()).any(|i| go(rest, &t[i..])),
            [b'*', rest @ ..] => {
                let seg = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
                (0..=seg).any(|i| go(rest, &t[i..]))
            }
            [b'?', rest @ ..] => t.first().is_some_and(|&c| c != b'/') && go(rest, &t[1..]),
            [c, rest @ ..] => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const YAML: &str = include_str!("../../fixtures/policy/gate.yaml");
    const JSON: &str = include_str!("../../fixtures/policy/gate.json");

    fn usage(text: &str) -> String {
        match Policy::parse(text, "p") {
            Err(e) => {
                assert_eq!(e.failure().exit_code(), 2);
                crate::failure::describe(&e)
            }
            other => panic!("should be a usage error, got {other:?}"),
        }
    }

    #[test]
    fn the_sample_policies_parse_alike_in_yaml_and_json() {
        let y = Policy::parse(YAML, "gate.yaml").unwrap();
        let j = Policy::parse(JSON, "gate.json").unwrap();
        let specs = |p: &Policy, repo: &str| -> Vec<String> {
            p.requirements_for(repo)
                .iter()
                .map(|r| r.spec().to_string())
                .collect()
        };
        for repo in [
            "registry.example.com/payments/api",
            "registry.example.com/web",
        ] {
            assert_eq!(specs(&y, repo), specs(&j, repo));
        }
        assert_eq!(
            specs(&y, "registry.example.com/web"),
            vec![
                "approvals,role=qa,max-age=30d,min-signers=1",
                "scan,max-age=7d"
            ]
        );
        assert_eq!(specs(&y, "registry.example.com/payments/api").len(), 3);
        assert!(y.has_rules() && j.has_rules());
    }

    #[test]
    fn rules_deny_with_their_messages() {
        let p = Policy::parse(YAML, "gate.yaml").unwrap();
        let clean = json!({"metadata": {
            "approvals": {"status": "approved"},
            "scan": {"findings": [{"severity": "LOW"}]}
        }});
        assert_eq!(p.deny(&clean).unwrap(), Vec::<String>::new());
        let bad = json!({"metadata": {
            "approvals": {"status": "rejected"},
            "scan": {"findings": [{"severity": "CRITICAL", "id": "CVE-1"}]}
        }});
        assert_eq!(
            p.deny(&bad).unwrap(),
            vec!["not approved", "scan has a CRITICAL finding"]
        );
    }

    #[test]
    fn roles_may_be_one_name_or_a_list() {
        let p = Policy::parse(
            r#"{"requirements": [{"type": "approvals", "role": "qa"},
                                 {"type": "scan", "role": ["qa", "targets/security"]}]}"#,
            "p",
        )
        .unwrap();
        assert_eq!(p.requirements[0].spec(), "approvals,role=qa");
        assert_eq!(
            p.requirements[1].spec(),
            "scan,role=qa,role=targets/security"
        );
    }

    #[test]
    fn bad_policies_are_usage_errors() {
        for (text, hint) in [
            ("{", "JSON"),
            ("requirements: [", "YAML"),
            ("{}", "names no requirements"),
            ("requirements:\n  - type: Approvals\n", "requirements[0]"),
            (
                "requirements:\n  - type: approvals\n    max_age: soon\n",
                "not a duration",
            ),
            (
                "requirements:\n  - type: approvals\n    signer: qa\n",
                "unknown field",
            ),
            (
                "requirements:\n  - type: approvals\n    role: qa|x\n",
                "not a role name",
            ),
            ("colour: blue\n", "unknown field"),
            (
                "rules: |\n  package manifesto\n  deny contains msg if {\n",
                "do not parse",
            ),
            (
                "rules: |\n  package other\n  deny contains \"x\" if { true }\n",
                "package manifesto",
            ),
            (
                "rules: |\n  package manifesto\n  deny contains msg if { msg := undefined_fn(1) }\n",
                "undefined_fn",
            ),
        ] {
            let msg = usage(text);
            assert!(msg.contains(hint), "{text:?}: {msg}");
        }
    }

    #[test]
    fn repository_patterns_match_segments() {
        assert!(glob(
            "r.example.com/payments/*",
            "r.example.com/payments/api"
        ));
        assert!(!glob(
            "r.example.com/payments/*",
            "r.example.com/payments/api/v2"
        ));
        assert!(glob(
            "r.example.com/payments/**",
            "r.example.com/payments/api/v2"
        ));
        assert!(!glob(
            "r.example.com/payments/*",
            "r.example.com/payment/api"
        ));
        assert!(glob("*/team-?/*", "localhost:5000/team-a/app"));
        assert!(glob("localhost:5000/app", "localhost:5000/app"));
        assert!(!glob("localhost:5000/app", "localhost:5000/apps"));
    }
}
