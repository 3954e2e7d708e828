//! The I/O half of `verify`: per repository, one verified TUF update and the resolution of its
//! images run side by side, every needed target is looked up once, the trust cache is persisted,
//! then the pure [`evaluate`] decides; the content rules' blobs are fetched and checked last.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use super::evaluate::evaluate;
use super::severity::severity;
use super::verdict::{
    Fault, ImageVerdict, RequirementVerdict, Status, Verdict, rule_verdict, stopped,
};
use crate::config::Settings;
use crate::error::Error;
use crate::failure::Failure;
use crate::manifesto::get::fetch_verified;
use crate::manifesto::layout;
use crate::manifesto::policy::Policy;
use crate::manifesto::requirement::Requirement;
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
    // Stale delegations that could have signed a name: a requirement they fail names them.
    let mut skipped: HashMap<String, Vec<String>> = HashMap::new();
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
