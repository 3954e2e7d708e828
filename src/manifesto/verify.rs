//! `verify`: the CI and deploy gate. Every image must meet every requirement.
//!
//! Two halves, kept apart so the decisions are unit-tested without a network:
//! - **I/O** ([`verify`]): images are grouped by repository. For each repository, one verified
//!   TUF update ([`TrustedRepository::open`], the same one `get` runs) and the resolution of its
//!   images to digests run side by side; the registry lookups run concurrently, at most
//!   [`CONCURRENCY`] at a time, and at most [`REPOSITORY_CONCURRENCY`] repositories at a time.
//!   Then every `<type>/<digest>` a requirement names is looked up once in that verified state
//!   (loading only the delegations whose paths may hold it, still within the one update), the
//!   trust cache is persisted and its lock released, and evaluation runs in memory.
//! - **Evaluation** ([`evaluate`]): pure, over the roles that validly sign a target.
//!
//! Requirements decide on the signed targets alone: a target's signature pins the blob's length,
//! sha256 and sha512, so "present and verified" is decided by TUF. Blobs are downloaded only for
//! a policy's Rego content rules ([`super::policy`]): for each image, the blob of every required
//! type whose requirement is `ok` is fetched and checked exactly as `get` does
//! ([`super::get::fetch_verified`]), then the rules run over the verified content.
//!
//! Statuses, exit codes and their severity order are documented in `docs/verdict.md`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::get::fetch_verified;
use super::layout::{self, Custom};
use super::policy::Policy;
use super::requirement::Requirement;
use crate::config::Settings;
use crate::error::Error;
use crate::failure::Failure;
use crate::notary::TrustedRepository;
use crate::registry::reference::RepositoryRef;
use crate::registry::{Digest, ImageRef, RegistryClient};
use crate::tuf::trusted::TrustedTarget;

/// Registry requests (image resolutions) in flight at once, per repository.
pub const CONCURRENCY: usize = 16;
/// Repositories verified at once.
pub const REPOSITORY_CONCURRENCY: usize = 4;
/// The largest blob handed to content rules (its signed length is checked before fetching).
pub const MAX_RULE_INPUT: u64 = 16 * 1024 * 1024;
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
    fn of_failure(f: Failure) -> Status {
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

/// Severity of a failure when several are combined (higher wins): evidence of an attack first,
/// then definitive verdicts, then conditions a retry may clear. See docs/verdict.md.
pub fn severity(f: Failure) -> u8 {
    match f {
        Failure::Rollback => 10,
        Failure::Untrusted => 9,
        Failure::PolicyDenied => 8,
        Failure::Stale => 7,
        Failure::NotFound => 6,
        Failure::Unavailable => 5,
        Failure::LocalState => 4,
        Failure::Conflict => 3,
        Failure::Internal => 2,
        Failure::Usage => 1,
    }
}

/// The most severe of some failures; `None` when there are none (everything passed).
pub fn most_severe(failures: impl IntoIterator<Item = Option<Failure>>) -> Option<Failure> {
    failures.into_iter().flatten().max_by_key(|f| severity(*f))
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
    /// Its manifest digest, when it could be resolved.
    pub digest: Option<String>,
    pub ok: bool,
    pub exit_code: u8,
    pub requirements: Vec<RequirementVerdict>,
}

/// The verdict of one `verify` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub ok: bool,
    pub exit_code: u8,
    pub images: Vec<ImageVerdict>,
}

impl Verdict {
    fn new(images: Vec<ImageVerdict>) -> Verdict {
        let failure = most_severe(
            images
                .iter()
                .flat_map(|i| i.requirements.iter().map(|r| r.failure)),
        );
        Verdict {
            ok: failure.is_none(),
            exit_code: failure.map_or(0, Failure::exit_code),
            images,
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
    fn new(image: String, digest: Option<String>, requirements: Vec<RequirementVerdict>) -> Self {
        let failure = most_severe(requirements.iter().map(|r| r.failure));
        ImageVerdict {
            image,
            digest,
            ok: failure.is_none(),
            exit_code: failure.map_or(0, Failure::exit_code),
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
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        Fault {
            failure: err.failure(),
            message,
        }
    }
}

fn verdict(
    req: &Requirement,
    status: Status,
    failure: Option<Failure>,
    reason: String,
) -> RequirementVerdict {
    RequirementVerdict {
        requirement: req.spec().to_string(),
        metadata_type: req.metadata_type.to_string(),
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
        let wanted: Vec<&str> = req.roles.iter().map(|r| r.as_str()).collect();
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
        Some(max) => accepted.iter().partition(|t| {
            created(t).is_some_and(|c| (now - c).to_std().unwrap_or_default() <= max)
        }),
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
        v.blob_digest = digest.as_ref().map(|d| d.to_string());
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

/// One image to check: as given, and parsed.
pub struct ImageInput {
    pub given: String,
    pub image: ImageRef,
}

/// A verdict of the content rules (requirement and type `policy`).
fn rule_verdict(status: Status, failure: Option<Failure>, reason: String) -> RequirementVerdict {
    RequirementVerdict {
        requirement: RULES.to_string(),
        metadata_type: RULES.to_string(),
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

/// Verified blob bytes as rule input: parsed JSON; else the text as a string; else absent.
fn rule_input(bytes: &[u8]) -> Option<serde_json::Value> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Some(v),
        Err(_) => std::str::from_utf8(bytes)
            .ok()
            .map(|t| serde_json::Value::String(t.to_string())),
    }
}

/// Fetch one signed blob for the rules, checked as `get` checks it, into memory.
async fn fetch_for_rules(
    registry: &RegistryClient,
    repository: &str,
    target: &TrustedTarget,
) -> Result<Option<serde_json::Value>, Fault> {
    if target.meta.length > MAX_RULE_INPUT {
        return Err(Fault {
            failure: Failure::Usage,
            message: format!(
                "{} is {} bytes, more than the {} bytes content rules read",
                target.name, target.meta.length, MAX_RULE_INPUT
            ),
        });
    }
    let (_, file) = fetch_verified(registry, repository, target, &std::env::temp_dir())
        .await
        .map_err(|e| Fault::of(&e))?;
    let bytes = std::fs::read(file.path()).map_err(|e| Fault {
        failure: Failure::Internal,
        message: format!("temporary file: {e}"),
    })?;
    Ok(rule_input(&bytes))
}

/// Check every image against every requirement (those given, then the policy's for its
/// repository), then the policy's content rules. Never fails as a whole: each error becomes the
/// status of the requirements it stopped.
pub async fn verify(
    settings: &Settings,
    images: &[ImageInput],
    requirements: &[Requirement],
    policy: Option<&Policy>,
    now: DateTime<Utc>,
) -> Verdict {
    // Group by repository (its GUN), keeping the order images were given in.
    let mut groups: Vec<(RepositoryRef, Vec<usize>)> = Vec::new();
    for (i, input) in images.iter().enumerate() {
        let repo = input.image.repository_ref();
        match groups.iter_mut().find(|(r, _)| r.gun() == repo.gun()) {
            Some((_, members)) => members.push(i),
            None => groups.push((repo, vec![i])),
        }
    }
    let mut results: Vec<(usize, ImageVerdict)> = stream::iter(groups)
        .map(|(repo, members)| {
            verify_repository(settings, repo, members, images, requirements, policy, now)
        })
        .buffer_unordered(REPOSITORY_CONCURRENCY)
        .flat_map(stream::iter)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    Verdict::new(results.into_iter().map(|(_, v)| v).collect())
}

/// One repository: one verified update, its images resolved concurrently, then evaluation.
async fn verify_repository(
    settings: &Settings,
    repo: RepositoryRef,
    members: Vec<usize>,
    images: &[ImageInput],
    given: &[Requirement],
    policy: Option<&Policy>,
    now: DateTime<Utc>,
) -> Vec<(usize, ImageVerdict)> {
    let mut requirements: Vec<Requirement> = given.to_vec();
    if let Some(p) = policy {
        requirements.extend(p.requirements_for(&repo.gun()));
    }
    let requirements = &requirements[..];
    let rules = policy.filter(|p| p.has_rules());
    let resolving = async {
        match RegistryClient::connect(&settings.http, repo.registry()).await {
            Err(e) => {
                let fault = Fault::of(&Error::from(e));
                (None, members.iter().map(|_| Err(fault.clone())).collect())
            }
            Ok(client) => {
                let digests = stream::iter(members.iter())
                    .map(|&i| {
                        let client = &client;
                        async move {
                            client
                                .resolve(&images[i].image)
                                .await
                                .map(|r| r.digest)
                                .map_err(|e| Fault::of(&Error::from(e)))
                        }
                    })
                    .buffered(CONCURRENCY)
                    .collect::<Vec<_>>()
                    .await;
                (Some(client), digests)
            }
        }
    };
    let ((registry, digests), trusted): (Resolved, _) =
        tokio::join!(resolving, TrustedRepository::open(settings, &repo, now));

    // Look every needed target up once in the verified state, then release the cache lock.
    let mut signed: HashMap<String, Result<Vec<TrustedTarget>, Fault>> = HashMap::new();
    let repo_fault = match trusted {
        Err(e) => Some(Fault::of(&Error::from(e))),
        Ok(mut trusted) => {
            let mut lookup_failed = false;
            for digest in digests.iter().flatten() {
                for req in requirements {
                    let name = layout::metadata_target(&req.metadata_type, digest);
                    if signed.contains_key(&name) {
                        continue;
                    }
                    let found = trusted
                        .updater
                        .signers_of(&name)
                        .await
                        .map_err(|e| Fault::of(&Error::Update(e)));
                    lookup_failed |= found.is_err();
                    signed.insert(name, found);
                }
            }
            // Only verified files are persisted; a failed delegation leaves the cache as it was.
            if lookup_failed {
                None
            } else {
                trusted.persist().err().map(|e| Fault::of(&Error::from(e)))
            }
        }
    };

    let mut evaluated: Vec<Evaluated> = members
        .iter()
        .zip(digests)
        .map(|(&i, digest)| {
            let given = images[i].given.clone();
            let verdicts: Vec<RequirementVerdict> = match (&digest, &repo_fault) {
                (Err(resolve), Some(trust)) => {
                    // Both failed: report the more severe (a rollback outranks an unreachable
                    // registry).
                    let worst = if severity(trust.failure) >= severity(resolve.failure) {
                        trust
                    } else {
                        resolve
                    };
                    stopped_all(requirements, rules.is_some(), worst)
                }
                (Err(fault), None) | (Ok(_), Some(fault)) => {
                    stopped_all(requirements, rules.is_some(), fault)
                }
                (Ok(d), None) => requirements
                    .iter()
                    .map(|r| {
                        let name = layout::metadata_target(&r.metadata_type, d);
                        match signed.get(&name) {
                            Some(Ok(signers)) => evaluate(r, signers, now),
                            Some(Err(fault)) => stopped(r, fault),
                            None => stopped(
                                r,
                                &Fault {
                                    failure: Failure::Internal,
                                    message: format!("{name} was not looked up"),
                                },
                            ),
                        }
                    })
                    .collect(),
            };
            (i, given, digest.ok(), verdicts)
        })
        .collect();

    let (Some(policy), Some(registry)) = (rules, registry.as_ref()) else {
        return finish(evaluated);
    };
    // Content rules: fetch, per image, the blob of each required type whose first requirement
    // is ok (the blob that requirement accepted), all images of the repository concurrently.
    let mut jobs: Vec<(usize, String, &TrustedTarget)> = Vec::new();
    for (n, (_, _, digest, verdicts)) in evaluated.iter().enumerate() {
        let Some(d) = digest else { continue };
        let mut seen: Vec<&str> = Vec::new();
        for v in verdicts {
            if seen.contains(&v.metadata_type.as_str()) {
                continue;
            }
            seen.push(&v.metadata_type);
            if v.status != Status::Ok {
                continue;
            }
            let name = format!("{}/{d}", v.metadata_type);
            let target = signed
                .get(&name)
                .and_then(|r| r.as_ref().ok())
                .and_then(|ts| {
                    ts.iter().find(|t| {
                        layout::blob_digest(&t.meta).map(|b| b.to_string()) == v.blob_digest
                    })
                });
            if let Some(t) = target {
                jobs.push((n, v.metadata_type.clone(), t));
            }
        }
    }
    let fetched: Vec<(usize, String, Result<Option<serde_json::Value>, Fault>)> =
        stream::iter(jobs)
            .map(|(n, ty, t)| {
                let repository = repo.repository();
                async move { (n, ty, fetch_for_rules(registry, repository, t).await) }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
    let mut inputs: Vec<Result<serde_json::Map<String, serde_json::Value>, (String, Fault)>> =
        evaluated
            .iter()
            .map(|_| Ok(serde_json::Map::new()))
            .collect();
    for (n, ty, result) in fetched {
        match (&mut inputs[n], result) {
            (Ok(metadata), Ok(content)) => {
                if let Some(content) = content {
                    metadata.insert(ty, content);
                }
            }
            (Ok(_), Err(fault)) => inputs[n] = Err((ty, fault)),
            (Err(_), _) => {}
        }
    }
    let gun = repo.gun();
    for ((_, given, digest, verdicts), input) in evaluated.iter_mut().zip(inputs) {
        let Some(d) = digest else { continue };
        match input {
            Err((ty, fault)) => verdicts.push(rule_verdict(
                Status::of_failure(fault.failure),
                Some(fault.failure),
                format!(
                    "the content rules were not evaluated: {ty}: {}",
                    fault.message
                ),
            )),
            Ok(metadata) => {
                let types = metadata.len();
                let input = serde_json::json!({
                    "image": given,
                    "digest": d.to_string(),
                    "repository": gun,
                    "metadata": metadata,
                });
                match policy.deny(&input) {
                    Err(e) => verdicts.push(rule_verdict(Status::Error, Some(Failure::Usage), e)),
                    Ok(messages) if messages.is_empty() => verdicts.push(rule_verdict(
                        Status::Ok,
                        None,
                        format!("no content rule denies it ({types} metadata type(s) read)"),
                    )),
                    Ok(messages) => verdicts.extend(messages.into_iter().map(|m| {
                        rule_verdict(Status::PolicyDenied, Some(Failure::PolicyDenied), m)
                    })),
                }
            }
        }
    }
    finish(evaluated)
}

/// Every requirement (and the content rules, when there are some) stopped by one fault.
fn stopped_all(
    requirements: &[Requirement],
    rules: bool,
    fault: &Fault,
) -> Vec<RequirementVerdict> {
    let mut out: Vec<RequirementVerdict> = requirements.iter().map(|r| stopped(r, fault)).collect();
    if rules {
        out.push(rule_verdict(
            Status::of_failure(fault.failure),
            Some(fault.failure),
            format!("the content rules were not evaluated: {}", fault.message),
        ));
    }
    out
}

type Evaluated = (usize, String, Option<Digest>, Vec<RequirementVerdict>);
/// The repository's registry client (if it connected) and each image's digest.
type Resolved = (Option<RegistryClient>, Vec<Result<Digest, Fault>>);

fn finish(evaluated: Vec<Evaluated>) -> Vec<(usize, ImageVerdict)> {
    evaluated
        .into_iter()
        .map(|(i, given, digest, verdicts)| {
            (
                i,
                ImageVerdict::new(given, digest.map(|d| d.to_string()), verdicts),
            )
        })
        .collect()
}

/// The most severe failure's code and a one-line summary, for the process exit.
pub fn summary(verdict: &Verdict) -> String {
    let failing = verdict.images.iter().filter(|i| !i.ok).count();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for r in verdict.images.iter().flat_map(|i| &i.requirements) {
        if r.status != Status::Ok {
            *by_status.entry(r.status.as_str()).or_default() += 1;
        }
    }
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    format!(
        "{failing} of {} image(s) do not meet their requirements ({})",
        verdict.images.len(),
        statuses.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::metadata::FileMeta;
    use crate::tuf::names::RoleName;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A target signed by `role` over `content`, created `age_secs` before [`now`].
    fn signed(role: &str, content: &[u8], age_secs: i64) -> TrustedTarget {
        let mut meta = FileMeta::of(content);
        let at = now() - chrono::Duration::seconds(age_secs);
        meta.custom = Some(json!({
            "mediaType": "application/json",
            "createdAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }));
        TrustedTarget {
            name: format!("approvals/sha256:{}", "a".repeat(64)),
            meta,
            role: RoleName::parse(role).unwrap(),
        }
    }

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

    #[test]
    fn severity_puts_attacks_first_then_definitive_verdicts_then_transient_ones() {
        use Failure::*;
        let order = [
            Rollback,
            Untrusted,
            PolicyDenied,
            Stale,
            NotFound,
            Unavailable,
            LocalState,
            Conflict,
            Internal,
            Usage,
        ];
        for w in order.windows(2) {
            assert!(severity(w[0]) > severity(w[1]), "{:?} > {:?}", w[0], w[1]);
        }
        assert_eq!(most_severe([None, None]), None);
        assert_eq!(
            most_severe([Some(Stale), None, Some(PolicyDenied)]),
            Some(PolicyDenied)
        );
        assert_eq!(
            most_severe([Some(Unavailable), Some(PolicyDenied)]),
            Some(PolicyDenied)
        );
        assert_eq!(
            most_severe([Some(PolicyDenied), Some(Rollback)]),
            Some(Rollback)
        );
    }

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
