//! The I/O half of `verify`: per repository, one verified TUF update and the resolution of its
//! images run side by side, every needed target is looked up once, the trust cache is persisted,
//! then the pure [`evaluate`] decides; the content rules' blobs are fetched and checked last.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::stream::{self, StreamExt};

use super::evaluate::evaluate;
use super::severity::severity;
use super::verdict::{
    Fault, ImageVerdict, RequirementVerdict, Status, Verdict, rule_verdict, stopped,
};
use crate::config::Settings;
use crate::error::Error;
use crate::failure::Failure;
use crate::manifesto::bundle::{BundleRegistry, open_offline, require_digest};
use crate::manifesto::get::fetch_verified;
use crate::manifesto::layout;
use crate::manifesto::policy::Policy;
use crate::manifesto::remote::{Network, Remote};
use crate::manifesto::requirement::Requirement;
use crate::notary::TrustedRepository;
use crate::notary::bundle::Bundle;
use crate::registry::reference::RepositoryRef;
use crate::registry::{Digest, ImageRef, Registry};
use crate::tuf::trusted::TrustedTarget;
use crate::tuf::update::MetadataSource;

/// Registry requests (image resolutions) in flight at once, per repository.
pub const CONCURRENCY: usize = 16;
/// Repositories verified at once.
pub const REPOSITORY_CONCURRENCY: usize = 4;
/// The largest blob handed to content rules (its signed length is checked before fetching).
pub const MAX_RULE_INPUT: u64 = 16 * 1024 * 1024;

/// One image to check: as given, and parsed.
pub struct ImageInput {
    pub given: String,
    pub image: ImageRef,
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
    registry: &impl Registry,
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
    verify_via(&Network, settings, images, requirements, policy, now).await
}

/// `verify` over any [`Remote`].
pub(crate) async fn verify_via(
    remote: &impl Remote,
    settings: &Settings,
    images: &[ImageInput],
    requirements: &[Requirement],
    policy: Option<&Policy>,
    now: DateTime<Utc>,
) -> Verdict {
    verify_all(remote, settings, images, requirements, policy, now, None).await
}

/// [`verify`] with no network at all: trust data and blobs from `bundle`, anchored in the trust
/// dir's cached or pinned roots (images by digest only).
pub async fn verify_offline(
    settings: &Settings,
    bundle: &Bundle,
    images: &[ImageInput],
    requirements: &[Requirement],
    policy: Option<&Policy>,
    now: DateTime<Utc>,
) -> Verdict {
    verify_all(
        &Network,
        settings,
        images,
        requirements,
        policy,
        now,
        Some(bundle),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn verify_all<R: Remote>(
    remote: &R,
    settings: &Settings,
    images: &[ImageInput],
    requirements: &[Requirement],
    policy: Option<&Policy>,
    now: DateTime<Utc>,
    bundle: Option<&Bundle>,
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
    let checked: Vec<Checked> = stream::iter(groups)
        .map(|(repo, members)| {
            let job = Job {
                remote,
                settings,
                members,
                images,
                given: requirements,
                policy,
                now,
            };
            verify_repository(job, repo, bundle)
        })
        .buffer_unordered(REPOSITORY_CONCURRENCY)
        .collect()
        .await;
    let valid_until = checked.iter().filter_map(|(_, until)| *until).min();
    let mut results: Vec<(usize, ImageVerdict)> = checked
        .into_iter()
        .flat_map(|(verdicts, _)| verdicts)
        .collect();
    results.sort_by_key(|(i, _)| *i);
    let mut verdict = Verdict::new(results.into_iter().map(|(_, v)| v).collect());
    verdict.valid_until = valid_until.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    verdict
}

/// One repository's verdicts, and the earliest expiry of the trust data they relied on.
type Checked = (Vec<(usize, ImageVerdict)>, Option<DateTime<Utc>>);

/// What one repository's check needs besides its sources.
struct Job<'a, R> {
    remote: &'a R,
    settings: &'a Settings,
    members: Vec<usize>,
    images: &'a [ImageInput],
    given: &'a [Requirement],
    policy: Option<&'a Policy>,
    now: DateTime<Utc>,
}

/// One repository: its trust data and image digests, from the network or from a bundle.
async fn verify_repository<R: Remote>(
    job: Job<'_, R>,
    repo: RepositoryRef,
    bundle: Option<&Bundle>,
) -> Checked {
    let Some(bundle) = bundle else {
        return verify_repository_online(job, repo).await;
    };
    // Offline: images are given by digest (the command refused tags before any work).
    let digests: Vec<Result<Digest, Fault>> = job
        .members
        .iter()
        .map(|&i| {
            require_digest(&job.images[i].image)
                .cloned()
                .map_err(|e| Fault::of(&Error::from(e)))
        })
        .collect();
    let trusted = open_offline(job.settings, bundle, &repo.gun(), job.now).await;
    let registry = BundleRegistry { bundle };
    decide(job, repo, Some(registry), digests, trusted).await
}

/// One repository online: one verified update, its images resolved concurrently, then
/// evaluation.
async fn verify_repository_online<R: Remote>(job: Job<'_, R>, repo: RepositoryRef) -> Checked {
    let (remote, settings, members, images, now) =
        (job.remote, job.settings, &job.members, job.images, job.now);

    // An image given by digest needs no registry request: the signed targets are keyed by the
    // digest, so `--require` is answered from the trust data alone. The registry is asked only
    // to resolve tags, and connected only for them or for content rules (which read blobs).
    let needs_registry = members.iter().any(|&i| images[i].image.digest().is_none())
        || job.policy.is_some_and(Policy::has_rules);
    let resolving = async {
        if !needs_registry {
            let digests = members
                .iter()
                .map(|&i| Ok(images[i].image.digest().cloned().expect("checked above")))
                .collect();
            return (None, digests);
        }
        match remote.registry(settings, repo.registry()).await {
            Err(e) => {
                let fault = Fault::of(&Error::from(e));
                (None, members.iter().map(|_| Err(fault.clone())).collect())
            }
            Ok(client) => {
                let digests = stream::iter(members.iter())
                    .map(|&i| {
                        let client = &client;
                        async move {
                            if let Some(digest) = images[i].image.digest() {
                                return Ok(digest.clone());
                            }
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
    let ((registry, digests), trusted): (Resolved<R::Registry>, _) =
        tokio::join!(resolving, remote.trust(settings, &repo, now));
    decide(job, repo, registry, digests, trusted.map_err(Error::from)).await
}

/// Look up, evaluate and run the content rules for one repository, over any trust-data source
/// and registry.
async fn decide<S: MetadataSource, R>(
    job: Job<'_, R>,
    repo: RepositoryRef,
    registry: Option<impl Registry>,
    digests: Vec<Result<Digest, Fault>>,
    trusted: Result<TrustedRepository<S>, Error>,
) -> Checked {
    let Job {
        remote: _,
        settings: _,
        members,
        images,
        given,
        policy,
        now,
    } = job;
    let mut requirements: Vec<Requirement> = given.to_vec();
    if let Some(p) = policy {
        requirements.extend(p.requirements_for(&repo.gun()));
    }
    let requirements = &requirements[..];
    let rules = policy.filter(|p| p.has_rules());
    let mut valid_until = None;

    // Look every needed target up once in the verified state, then release the cache lock.
    let mut signed: HashMap<String, Result<Vec<TrustedTarget>, Fault>> = HashMap::new();
    // Stale delegations that could have signed a name: a requirement they fail names them.
    let mut skipped: HashMap<String, Vec<String>> = HashMap::new();
    let repo_fault = match trusted {
        Err(e) => Some(Fault::of(&e)),
        Ok(mut trusted) => {
            let mut lookup_failed = false;
            for digest in digests.iter().flatten() {
                for req in requirements {
                    let name = layout::metadata_target(&req.metadata_type, digest);
                    if signed.contains_key(&name) {
                        continue;
                    }
                    let found = crate::manifesto::shard::signers_of(&mut trusted.updater, &name)
                        .await
                        .map_err(|e| Fault::of(&Error::Update(e)));
                    if let Ok(signers) = &found {
                        let roles: Vec<String> =
                            signers.iter().map(|t| t.role.to_string()).collect();
                        tracing::info!("{name}: signed by [{}]", roles.join(", "));
                    }
                    lookup_failed |= found.is_err();
                    let stale: Vec<String> = trusted
                        .updater
                        .state()
                        .skipped_for(&name)
                        .into_iter()
                        .map(|s| format!("{} was skipped ({})", s.role, s.reason))
                        .collect();
                    if !stale.is_empty() {
                        skipped.insert(name.clone(), stale);
                    }
                    signed.insert(name, found);
                }
            }
            valid_until = Some(trusted.updater.valid_until());
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
                            Some(Ok(signers)) => {
                                let mut v = evaluate(r, signers, now);
                                if v.status != Status::Ok
                                    && let Some(stale) = skipped.get(&name)
                                {
                                    v.reason = format!("{}; {}", v.reason, stale.join("; "));
                                }
                                v
                            }
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
        return (finish(evaluated), valid_until);
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
    (finish(evaluated), valid_until)
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
type Resolved<G> = (Option<G>, Vec<Result<Digest, Fault>>);

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
