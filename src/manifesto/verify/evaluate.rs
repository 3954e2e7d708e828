//! Pure evaluation of one requirement against the roles that validly sign a target: no I/O, and
//! `now` is the one clock reading of the run, so every rule (role, age, distinct signers) is
//! unit-tested here.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::verdict::{RequirementVerdict, Signer, Status, verdict};
use crate::failure::Failure;
use crate::manifesto::layout::{self, Custom};
use crate::manifesto::requirement::Requirement;
use crate::registry::Digest;
use crate::tuf::trusted::TrustedTarget;

fn created(t: &TrustedTarget) -> Option<DateTime<Utc>> {
    let c = Custom::from_meta(&t.meta)?;
    DateTime::parse_from_rfc3339(&c.created_at)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn signer(t: &TrustedTarget) -> Signer {
    Signer {
        role: t.role.to_string(),
        blob_digest: layout::blob_digest(&t.meta).map(|d| d.to_string()),
        created_at: Custom::from_meta(&t.meta).map(|c| c.created_at),
    }
}

fn roles_text(signers: &[&TrustedTarget]) -> String {
    signers
        .iter()
        .map(|t| t.role.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `t` was signed at most `max` before `now` (no signed `createdAt`: never).
fn young_enough(t: &TrustedTarget, max: Duration, now: DateTime<Utc>) -> bool {
    created(t).is_some_and(|c| (now - c).to_std().unwrap_or_default() <= max)
}

/// The signatures `req` takes into account: those of a role `role=` accepts, young enough for
/// `max-age`, in delegation order. What the content rules see as `input.signed.<type>`.
pub fn counted<'a>(
    req: &Requirement,
    signers: &'a [TrustedTarget],
    now: DateTime<Utc>,
) -> Vec<&'a TrustedTarget> {
    signers
        .iter()
        .filter(|t| req.accepts(&t.role))
        .filter(|t| req.max_age.is_none_or(|max| young_enough(t, max, now)))
        .collect()
}

fn age_text(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Evaluate one requirement against `signers`: every role that validly signs `<type>/<digest>`
/// within its delegated paths, in delegation order (as [`crate::tuf::update::Updater::signers_of`]
/// returns them). Pure: `now` is the one clock reading of the run.
///
/// In order: no signer → `missing`; no signer `role=` accepts → `unauthorized-signer`; with
/// `max-age`, no accepted signature young enough → `stale` (older signatures are then ignored);
/// with `min-signers=N`, fewer than N distinct **delegation** roles (the owner's `targets` role
/// does not count) signing the **same blob** (sha256) → `insufficient-signers`; else `ok`.
pub fn evaluate(
    req: &Requirement,
    signers: &[TrustedTarget],
    now: DateTime<Utc>,
) -> RequirementVerdict {
    let all: Vec<Signer> = signers.iter().map(signer).collect();
    let with_signers = |mut v: RequirementVerdict| {
        v.signers = all.clone();
        v
    };
    let ty = &req.metadata_type;
    if signers.is_empty() {
        return verdict(
            req,
            Status::Missing,
            Some(Failure::PolicyDenied),
            format!("no role signs {ty} metadata for this image"),
        );
    }
    let accepted: Vec<&TrustedTarget> = signers.iter().filter(|t| req.accepts(&t.role)).collect();
    if accepted.is_empty() {
        let wanted: Vec<&str> = req
            .roles
            .iter()
            .map(crate::tuf::names::RoleName::as_str)
            .collect();
        return with_signers(verdict(
            req,
            Status::UnauthorizedSigner,
            Some(Failure::PolicyDenied),
            format!(
                "{ty} is signed by {}, but the requirement accepts only {}",
                roles_text(&signers.iter().collect::<Vec<_>>()),
                wanted.join(" or ")
            ),
        ));
    }
    // Age: keep the accepted signatures young enough.
    let (fresh, too_old): (Vec<&TrustedTarget>, Vec<&TrustedTarget>) = match req.max_age {
        None => (accepted.clone(), Vec::new()),
        Some(max) => accepted.iter().partition(|t| young_enough(t, max, now)),
    };
    if fresh.is_empty() {
        let max = req.max_age.expect("only max-age removes signatures");
        let newest = accepted.iter().filter_map(|t| created(t)).max();
        let reason = match newest {
            None => format!(
                "{ty} carries no signed createdAt, so its age cannot be checked against max-age {}",
                age_text(max)
            ),
            Some(c) => format!(
                "{ty} was signed at {} ({} ago), older than max-age {}",
                c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                age_text((now - c).to_std().unwrap_or_default()),
                age_text(max)
            ),
        };
        let mut v = verdict(req, Status::Stale, Some(Failure::Stale), reason);
        v.roles = accepted.iter().map(|t| t.role.to_string()).collect();
        v.created_at = newest.map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        return with_signers(v);
    }
    // Group the young, accepted signatures by the blob they sign (first seen first).
    let mut groups: Vec<(Option<Digest>, Vec<&TrustedTarget>)> = Vec::new();
    for t in &fresh {
        let d = layout::blob_digest(&t.meta);
        match groups.iter_mut().find(|(g, _)| *g == d) {
            Some((_, members)) => members.push(t),
            None => groups.push((d, vec![t])),
        }
    }
    groups.retain(|(d, _)| d.is_some());
    if groups.is_empty() {
        return with_signers(verdict(
            req,
            Status::Untrusted,
            Some(Failure::Untrusted),
            format!("{ty} is signed without a sha256 hash, so its blob cannot be identified"),
        ));
    }
    let delegations = |members: &[&TrustedTarget]| -> usize {
        let mut roles: Vec<&str> = members
            .iter()
            .filter(|t| t.role.is_delegation())
            .map(|t| t.role.as_str())
            .collect();
        roles.sort_unstable();
        roles.dedup();
        roles.len()
    };
    let chosen = match req.min_signers {
        // The blob with the most delegation roles behind it (the earliest on a tie).
        Some(_) => {
            let mut best = 0;
            for (i, (_, members)) in groups.iter().enumerate() {
                if delegations(members) > delegations(&groups[best].1) {
                    best = i;
                }
            }
            best
        }
        // The blob of the first accepted signer in delegation order (what `get` returns).
        None => 0,
    };
    let (digest, members) = &groups[chosen];
    let oldest = members.iter().filter_map(|t| created(t)).min();
    let fill = |mut v: RequirementVerdict, roles: Vec<String>| {
        v.roles = roles;
        v.blob_digest = digest.as_ref().map(std::string::ToString::to_string);
        v.created_at = oldest.map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        with_signers(v)
    };
    if let Some(n) = req.min_signers {
        let counted: Vec<&TrustedTarget> = members
            .iter()
            .copied()
            .filter(|t| t.role.is_delegation())
            .collect();
        let have = delegations(members);
        if have < n as usize {
            let mut reason = format!(
                "{ty} needs {n} distinct delegation roles signing the same blob, found {have}{}",
                if counted.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", roles_text(&counted))
                }
            );
            if members.iter().any(|t| !t.role.is_delegation()) {
                reason.push_str("; the owner's targets role does not count as a signer");
            }
            if groups.len() > 1 {
                reason.push_str(&format!(
                    "; the signers disagree on the content ({} different blobs)",
                    groups.len()
                ));
            }
            if !too_old.is_empty() {
                reason.push_str(&format!("; older than max-age: {}", roles_text(&too_old)));
            }
            let v = verdict(
                req,
                Status::InsufficientSigners,
                Some(Failure::PolicyDenied),
                reason,
            );
            return fill(v, counted.iter().map(|t| t.role.to_string()).collect());
        }
        let v = verdict(
            req,
            Status::Ok,
            None,
            format!("{ty} is signed by {have} distinct delegation roles (at least {n} required)"),
        );
        return fill(v, counted.iter().map(|t| t.role.to_string()).collect());
    }
    let v = verdict(
        req,
        Status::Ok,
        None,
        format!("{ty} is signed by {}", roles_text(members)),
    );
    fill(v, members.iter().map(|t| t.role.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{now, signed};
    use super::*;

    fn eval(spec: &str, signers: &[TrustedTarget]) -> RequirementVerdict {
        evaluate(&Requirement::parse(spec).unwrap(), signers, now())
    }

    #[test]
    fn present_and_signed_is_ok_with_its_role_and_creation_time() {
        let v = eval("approvals", &[signed("targets", b"yes", 60)]);
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.exit_code, 0);
        assert_eq!(v.failure, None);
        assert_eq!(v.roles, vec!["targets"]);
        assert_eq!(v.created_at.as_deref(), Some("2026-11-27T11:59:00Z"));
        assert!(v.blob_digest.unwrap().starts_with("sha256:"));
        assert_eq!(v.signers.len(), 1);
    }

    #[test]
    fn nothing_signed_is_missing_exit_10() {
        let v = eval("approvals,role=qa,min-signers=2", &[]);
        assert_eq!(v.status, Status::Missing);
        assert_eq!(v.exit_code, 10);
    }

    #[test]
    fn a_signer_outside_role_is_unauthorized_exit_10() {
        let v = eval("approvals,role=qa", &[signed("targets", b"yes", 0)]);
        assert_eq!(v.status, Status::UnauthorizedSigner);
        assert_eq!(v.exit_code, 10);
        assert!(v.reason.contains("targets/qa"), "{}", v.reason);
        let v = eval(
            "approvals,role=security|qa",
            &[
                signed("targets", b"yes", 0),
                signed("targets/qa", b"yes", 0),
            ],
        );
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.roles, vec!["targets/qa"]);
    }

    #[test]
    fn older_than_max_age_is_stale_exit_4_and_a_younger_signature_still_counts() {
        let v = eval("approvals,max-age=1h", &[signed("targets", b"yes", 7200)]);
        assert_eq!(v.status, Status::Stale);
        assert_eq!(v.exit_code, 4);
        assert!(v.reason.contains("older than max-age 1h"), "{}", v.reason);
        let v = eval(
            "approvals,max-age=1h",
            &[
                signed("targets", b"old", 7200),
                signed("targets/qa", b"new", 60),
            ],
        );
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.roles, vec!["targets/qa"]);
        let mut no_time = signed("targets", b"yes", 0);
        no_time.meta.custom = None;
        let v = eval("approvals,max-age=1h", &[no_time]);
        assert_eq!(v.status, Status::Stale);
        assert!(v.reason.contains("no signed createdAt"), "{}", v.reason);
    }

    #[test]
    fn min_signers_counts_distinct_delegation_roles_on_the_same_blob() {
        let two = [
            signed("targets/qa1", b"ok", 0),
            signed("targets/qa2", b"ok", 0),
        ];
        let v = eval("approvals,min-signers=2", &two);
        assert_eq!(v.status, Status::Ok, "{}", v.reason);
        assert_eq!(v.roles, vec!["targets/qa1", "targets/qa2"]);

        let v = eval("approvals,min-signers=2", &two[..1]);
        assert_eq!(v.status, Status::InsufficientSigners);
        assert_eq!(v.exit_code, 10);

        // The same role twice (two listings of one role) counts once.
        let v = eval(
            "approvals,min-signers=2",
            &[
                signed("targets/qa1", b"ok", 0),
                signed("targets/qa1", b"ok", 0),
            ],
        );
        assert_eq!(v.status, Status::InsufficientSigners, "{}", v.reason);

        // The owner's targets role is not a delegation: it does not count.
        let v = eval(
            "approvals,min-signers=2",
            &[signed("targets", b"ok", 0), signed("targets/qa1", b"ok", 0)],
        );
        assert_eq!(v.status, Status::InsufficientSigners);
        assert!(v.reason.contains("does not count"), "{}", v.reason);

        // Two roles signing different blobs do not agree.
        let v = eval(
            "approvals,min-signers=2",
            &[
                signed("targets/qa1", b"ok", 0),
                signed("targets/qa2", b"no", 0),
            ],
        );
        assert_eq!(v.status, Status::InsufficientSigners);
        assert!(v.reason.contains("2 different blobs"), "{}", v.reason);

        // The largest agreeing group wins, whatever the order.
        let v = eval(
            "approvals,min-signers=2",
            &[
                signed("targets/qa0", b"no", 0),
                signed("targets/qa1", b"ok", 0),
                signed("targets/qa2", b"ok", 0),
            ],
        );
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.roles, vec!["targets/qa1", "targets/qa2"]);
    }

    #[test]
    fn min_signers_counts_only_accepted_and_young_signatures() {
        let signers = [
            signed("targets/qa1", b"ok", 0),
            signed("targets/qa2", b"ok", 7200),
            signed("targets/dev", b"ok", 0),
        ];
        let v = eval("approvals,min-signers=2,max-age=1h", &signers);
        assert_eq!(v.status, Status::Ok, "dev and qa1 are young");
        let v = eval("approvals,role=qa1|qa2,min-signers=2,max-age=1h", &signers);
        assert_eq!(v.status, Status::InsufficientSigners);
        assert!(
            v.reason.contains("older than max-age: targets/qa2"),
            "{}",
            v.reason
        );
        let v = eval("approvals,role=qa1|qa2,min-signers=2", &signers);
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.roles, vec!["targets/qa1", "targets/qa2"]);
    }
}
