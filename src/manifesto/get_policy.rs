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
