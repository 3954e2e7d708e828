//! The verdict model of `verify`: the status of each requirement for each image, the verdicts
//! that combine them (an image, a run) with the most severe failure's exit code, and the
//! [`Fault`] that stopped a check. Plain data, serialised as docs/verdict.md documents it.

use serde::Serialize;

use super::severity::most_severe;
use crate::error::Error;
use crate::failure::Failure;
use crate::manifesto::requirement::Requirement;

/// The `requirement` and `type` of the verdicts content rules produce.
pub const RULES: &str = "policy";

/// The outcome of one requirement for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Met.
    Ok,
    /// No role signs the metadata (10), or the image / repository does not exist (9).
    Missing,
    /// Signed longer ago than `max-age`, or no signed `createdAt` (4).
    Stale,
    /// The repository's trust data expired (4).
    Expired,
    /// The trust data or the image's digest did not verify (3).
    Untrusted,
    /// The server served older trust data than already trusted (5).
    Rollback,
    /// Signed, but not by a role `role=` accepts (10).
    UnauthorizedSigner,
    /// Fewer than `min-signers` distinct delegation roles sign the same blob (10).
    InsufficientSigners,
    /// A policy content rule denied it (part 2, 10).
    PolicyDenied,
    /// The Notary server or the registry could not be reached or answered 5xx (6).
    Unavailable,
    /// Anything else that stopped the check: local state (8), an internal error (1)…
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Stale => "stale",
            Status::Expired => "expired",
            Status::Untrusted => "untrusted",
            Status::Rollback => "rollback",
            Status::UnauthorizedSigner => "unauthorized-signer",
            Status::InsufficientSigners => "insufficient-signers",
            Status::PolicyDenied => "policy-denied",
            Status::Unavailable => "unavailable",
            Status::Error => "error",
        }
    }

    /// The status of a check stopped by an error before evaluation (trust data, resolution).
    pub(super) fn of_failure(f: Failure) -> Status {
        match f {
            Failure::Untrusted => Status::Untrusted,
            Failure::Stale => Status::Expired,
            Failure::Rollback => Status::Rollback,
            Failure::Unavailable => Status::Unavailable,
            Failure::NotFound => Status::Missing,
            Failure::PolicyDenied => Status::PolicyDenied,
            Failure::Internal | Failure::Usage | Failure::Conflict | Failure::LocalState => {
                Status::Error
            }
        }
    }
}

/// One role that validly signs the target (within its delegated paths).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signer {
    pub role: String,
    pub blob_digest: Option<String>,
    pub created_at: Option<String>,
}

/// The verdict on one requirement of one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequirementVerdict {
    /// The SPEC as given.
    pub requirement: String,
    #[serde(rename = "type")]
    pub metadata_type: String,
    pub status: Status,
    pub exit_code: u8,
    /// Why, in one sentence (also for `ok`).
    pub reason: String,
    /// The roles whose signatures met the requirement (or counted towards it), in delegation
    /// order.
    pub roles: Vec<String>,
    /// The signed `createdAt` of the accepted signature (the oldest one when several count).
    pub created_at: Option<String>,
    /// The blob the accepted signatures sign.
    pub blob_digest: Option<String>,
    /// Every role that validly signs `<type>/<digest>`, accepted or not.
    pub signers: Vec<Signer>,
    #[serde(skip)]
    pub failure: Option<Failure>,
}

/// The verdict on one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageVerdict {
    /// The image as given on the command line.
    pub image: String,
    /// Its manifest digest, when it could be resolved (`image_digest` in JSON, as in every
    /// other command's output: docs/json.md).
    #[serde(rename = "image_digest")]
    pub digest: Option<String>,
    pub ok: bool,
    pub exit_code: u8,
    /// How its tag was resolved; `null` for an image given by digest.
    pub tag: Option<TagResolution>,
    pub requirements: Vec<RequirementVerdict>,
}

/// How an image given by tag was resolved: through a tag target the repository signs (as
/// Docker Content Trust writes them), or unsigned, on the registry's word alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagResolution {
    /// The tag.
    pub name: String,
    /// Whether a role of the repository signs a target named by the tag.
    pub signed: bool,
    /// The role whose tag target was followed (`targets/releases`, `targets`…).
    pub signed_by: Option<String>,
}

/// The verdict of one `verify` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub exit_code: u8,
    pub images: Vec<ImageVerdict>,
    /// The earliest expiry (RFC 3339 UTC) of every trust file the verdict relied on: until then
    /// the same trust data verifies again (offline too); absent when no repository verified.
    pub valid_until: Option<String>,
}

impl Verdict {
    pub(super) fn new(images: Vec<ImageVerdict>) -> Verdict {
        let failure = most_severe(
            images
                .iter()
                .flat_map(|i| i.requirements.iter().map(|r| r.failure)),
        );
        Verdict {
            ok: failure.is_none(),
            exit_code: failure.map_or(0, Failure::exit_code),
            images,
            valid_until: None,
        }
    }

    /// The most severe failure over every image and requirement; `None` when all passed.
    pub fn failure(&self) -> Option<Failure> {
        most_severe(
            self.images
                .iter()
                .flat_map(|i| i.requirements.iter().map(|r| r.failure)),
        )
    }
}

impl ImageVerdict {
    pub(super) fn new(
        image: String,
        digest: Option<String>,
        requirements: Vec<RequirementVerdict>,
    ) -> Self {
        let failure = most_severe(requirements.iter().map(|r| r.failure));
        ImageVerdict {
            image,
            digest,
            ok: failure.is_none(),
            exit_code: failure.map_or(0, Failure::exit_code),
            tag: None,
            requirements,
        }
    }
}

/// An error that stopped a check, kept as its failure and full message (errors are not `Clone`,
/// and one repository's failure applies to each of its images).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub failure: Failure,
    pub message: String,
}

impl Fault {
    pub fn of(err: &Error) -> Fault {
        // The verdict's reason is the message with its causes, flattened as everywhere else.
        let message = crate::failure::describe(err);
        Fault {
            failure: err.failure(),
            message,
        }
    }
}

pub(super) fn verdict(
    req: &Requirement,
    status: Status,
    failure: Option<Failure>,
    reason: String,
) -> RequirementVerdict {
    unfilled(
        req.spec().to_string(),
        req.metadata_type.to_string(),
        status,
        failure,
        reason,
    )
}

/// A verdict that names no role, time, blob or signer yet; its exit code is `failure`'s (0 when
/// none). The callers fill in what their check found.
fn unfilled(
    requirement: String,
    metadata_type: String,
    status: Status,
    failure: Option<Failure>,
    reason: String,
) -> RequirementVerdict {
    RequirementVerdict {
        requirement,
        metadata_type,
        status,
        exit_code: failure.map_or(0, Failure::exit_code),
        reason,
        roles: Vec::new(),
        created_at: None,
        blob_digest: None,
        signers: Vec::new(),
        failure,
    }
}

/// The verdict for a requirement whose check was stopped by `fault` (trust data, resolution).
pub fn stopped(req: &Requirement, fault: &Fault) -> RequirementVerdict {
    verdict(
        req,
        Status::of_failure(fault.failure),
        Some(fault.failure),
        fault.message.clone(),
    )
}

/// A verdict of the content rules (requirement and type `policy`).
pub(super) fn rule_verdict(
    status: Status,
    failure: Option<Failure>,
    reason: String,
) -> RequirementVerdict {
    unfilled(
        RULES.to_string(),
        RULES.to_string(),
        status,
        failure,
        reason,
    )
}

#[cfg(test)]
mod tests {
    use super::super::evaluate::evaluate;
    use super::super::summary::summary;
    use super::super::test_support::{now, signed};
    use super::*;

    #[test]
    fn one_failing_requirement_fails_the_image_and_the_verdict() {
        let req = Requirement::parse("approvals").unwrap();
        let ok = evaluate(&req, &[signed("targets", b"ok", 0)], now());
        let unavailable = stopped(
            &req,
            &Fault {
                failure: Failure::Unavailable,
                message: "the Notary server is unreachable".into(),
            },
        );
        assert_eq!(unavailable.status, Status::Unavailable);
        assert_eq!(unavailable.exit_code, 6);
        let expired = stopped(
            &req,
            &Fault {
                failure: Failure::Stale,
                message: "timestamp expired".into(),
            },
        );
        assert_eq!(expired.status, Status::Expired);
        let good = ImageVerdict::new("a".into(), None, vec![ok.clone()]);
        let bad = ImageVerdict::new("b".into(), None, vec![ok, unavailable]);
        assert!(good.ok && good.exit_code == 0);
        assert!(!bad.ok && bad.exit_code == 6);
        let v = Verdict::new(vec![good, bad]);
        assert!(!v.ok);
        assert_eq!(v.exit_code, 6);
        assert_eq!(v.failure(), Some(Failure::Unavailable));
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json["images"][1]["requirements"][1]["status"],
            "unavailable"
        );
        assert_eq!(json["images"][1]["requirements"][1]["exit_code"], 6);
        assert!(
            json["images"][1]["requirements"][1]
                .get("failure")
                .is_none()
        );
        assert!(summary(&v).contains("1 of 2 image(s)"), "{}", summary(&v));
    }
}
