//! `get` under a policy: the policy file named by `--policy` or the configuration's `policy`
//! makes `get` enforce the same per-type requirements (role, max-age, min-signers) `verify` does,
//! so freshness rules live in one file, not in every script.
//!
//! Every requirement of the policy for the image's repository and the requested type is
//! evaluated exactly as `verify` evaluates it ([`evaluate`]); the first one not met refuses the
//! read with its status's exit code (stale 4, unauthorized-signer or insufficient-signers 10).
//! Then the blob handed over is the one the first requirement accepted (for `min-signers`, the
//! blob the counted roles agree on); with `--signed-by ROLE`, ROLE's signature, which every
//! requirement must count (an accepted role, young enough, and for `min-signers` the agreed
//! blob).

use chrono::{DateTime, Utc};

use super::layout;
use super::requirement::Requirement;
use super::verify::{Status, evaluate, evaluate::counted};
use crate::error::Error;
use crate::tuf::names::RoleName;
use crate::tuf::trusted::TrustedTarget;

/// The signature `get` reads under `requirements` (all of the requested type, none empty
/// `signers`), or the refusal of the first requirement not met.
pub(crate) fn choose(
    image: &str,
    requirements: &[Requirement],
    signers: &[TrustedTarget],
    signed_by: Option<&RoleName>,
    now: DateTime<Utc>,
) -> Result<Option<TrustedTarget>, Error> {
    let mut agreed: Vec<Option<String>> = Vec::new();
    for req in requirements {
        let v = evaluate(req, signers, now);
        if v.status != Status::Ok {
            return Err(Error::PolicyRefused {
                image: image.to_string(),
                requirement: v.requirement,
                status: v.status.as_str(),
                reason: v.reason,
                failure: v.failure.unwrap_or(crate::failure::Failure::Internal),
            });
        }
        agreed.push(req.min_signers.and(v.blob_digest));
    }
    let blob = |t: &TrustedTarget| layout::blob_digest(&t.meta).map(|d| d.to_string());
    let Some(role) = signed_by else {
        // The blob the first requirement accepted, from its first accepted signer.
        let first = &requirements[0];
        let v = evaluate(first, signers, now);
        return Ok(counted(first, signers, now)
            .into_iter()
            .find(|t| blob(t) == v.blob_digest)
            .cloned());
    };
    let Some(target) = signers.iter().find(|t| &t.role == role) else {
        return Ok(None);
    };
    for (req, agreed) in requirements.iter().zip(&agreed) {
        let counts = counted(req, signers, now).iter().any(|t| &t.role == role)
            && agreed
                .as_ref()
                .is_none_or(|b| blob(target).as_ref() == Some(b));
        if !counts {
            return Err(Error::PolicyRefused {
                image: image.to_string(),
                requirement: req.spec().to_string(),
                status: "not-counted",
                reason: format!(
                    "the signature of {role} is not one the requirement counts (its role, age or \
                     blob)"
                ),
                failure: crate::failure::Failure::PolicyDenied,
            });
        }
    }
    Ok(Some(target.clone()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::failure::Failure;
    use crate::tuf::metadata::FileMeta;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn signed(role: &str, content: &[u8], age_secs: i64) -> TrustedTarget {
        let mut meta = FileMeta::of(content);
        let at = now() - chrono::Duration::seconds(age_secs);
        meta.custom = Some(json!({
            "mediaType": "application/json",
            "createdAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }));
        TrustedTarget {
            name: format!("scan/sha256:{}", "a".repeat(64)),
            meta,
            role: RoleName::parse(role).unwrap(),
        }
    }

    fn reqs(specs: &[&str]) -> Vec<Requirement> {
        specs
            .iter()
            .map(|s| Requirement::parse(s).unwrap())
            .collect()
    }

    fn refusal(r: Result<Option<TrustedTarget>, Error>) -> (Failure, String) {
        let e = r.expect_err("refused");
        (e.failure(), e.to_string())
    }

    #[test]
    fn a_stale_signature_is_refused_exit_4_naming_the_requirement() {
        let signers = [signed("targets", b"old", 3 * 86400)];
        let (failure, message) = refusal(choose(
            "img",
            &reqs(&["scan,max-age=24h"]),
            &signers,
            None,
            now(),
        ));
        assert_eq!(failure, Failure::Stale);
        assert!(
            message.contains("requirement scan,max-age=24h is not met (stale)"),
            "{message}"
        );
        let fresh = [signed("targets", b"new", 60)];
        let got = choose("img", &reqs(&["scan,max-age=24h"]), &fresh, None, now()).unwrap();
        assert_eq!(got.unwrap().role.as_str(), "targets");
    }

    #[test]
    fn the_blob_returned_is_the_one_the_first_requirement_accepted() {
        let signers = [
            signed("targets", b"owner", 0),
            signed("targets/qa", b"qa", 0),
        ];
        let got = choose("img", &reqs(&["scan,role=qa"]), &signers, None, now()).unwrap();
        assert_eq!(got.unwrap().role.as_str(), "targets/qa");
        let (failure, _) = refusal(choose(
            "img",
            &reqs(&["scan,role=sec"]),
            &signers,
            None,
            now(),
        ));
        assert_eq!(failure, Failure::PolicyDenied);
    }

    #[test]
    fn signed_by_must_be_a_signature_every_requirement_counts() {
        let signers = [
            signed("targets/qa", b"qa", 0),
            signed("targets/dev", b"dev", 7200),
        ];
        let qa = RoleName::parse("targets/qa").unwrap();
        let dev = RoleName::parse("targets/dev").unwrap();
        let r = reqs(&["scan,max-age=1h"]);
        let got = choose("img", &r, &signers, Some(&qa), now()).unwrap();
        assert_eq!(got.unwrap().role, qa);
        let (failure, message) = refusal(choose("img", &r, &signers, Some(&dev), now()));
        assert_eq!(failure, Failure::PolicyDenied);
        assert!(message.contains("targets/dev"), "{message}");
        // A role that signs nothing: no target (get's own not-found path).
        let sec = RoleName::parse("targets/sec").unwrap();
        assert!(
            choose("img", &r, &signers, Some(&sec), now())
                .unwrap()
                .is_none()
        );
    }
}
