//! The I/O half of `verify`: per repository, one verified TUF update and the resolution of its
//! images run side by side, every needed target is looked up once, the trust cache is persisted,
//! then the pure [`evaluate`] decides; the content rules' blobs are fetched and checked last.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::stream::{self, StreamExt};

use super::evaluate::{self, evaluate};
use super::severity::severity;
use super::verdict::{
    Fault, ImageVerdict, RequirementVerdict, Status, TagResolution, Verdict, rule_verdict, stopped,
};
use crate::config::Settings;
use crate::error::Error;
use crate::failure::Failure;
use crate::manifesto::bundle::{BundleRegistry, open_offline, require_digest};
use crate::manifesto::get::fetch_verified;
use crate::manifesto::layout::{self, Custom};
use crate::manifesto::policy::Policy;
use crate::manifesto::remote::{Network, Remote};
use crate::manifesto::requirement::Requirement;
use crate::notary::TrustedRepository;
use crate::notary::bundle::Bundle;
use crate::registry::reference::RepositoryRef;
use crate::registry::{Digest, ImageRef, Registry};
use crate::tuf::names::RoleName;
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
    let mut digests = digests;
    // Images given by tag: how the tag resolved (a signed tag target, or the registry alone).
    let mut tags: Vec<Option<TagResolution>> = members
        .iter()
        .map(|&i| {
            let image = &images[i].image;
            image
                .tag()
                .filter(|_| image.digest().is_none())
                .map(|t| TagResolution {
                    name: t.to_string(),
                    signed: false,
                    signed_by: None,
                })
        })
        .collect();
    let repo_fault = match trusted {
        Err(e) => Some(Fault::of(&e)),
        Ok(mut trusted) => {
            let mut lookup_failed = false;
            // Signed tags win: a tag the repository signs must resolve to the signed digest.
            for (tag, digest) in tags.iter_mut().zip(digests.iter_mut()) {
                let (Some(tag), Ok(resolved)) = (tag.as_mut(), digest.as_ref()) else {
                    continue;
                };
                match signed_tag(&mut trusted.updater, &tag.name).await {
                    Err(fault) => {
                        lookup_failed = true;
                        *digest = Err(fault);
                    }
                    Ok(None) => {}
                    Ok(Some(signed)) => {
                        tag.signed = true;
                        tag.signed_by = Some(signed.0.to_string());
                        let checked = crate::manifesto::signed_tag::check(
                            &repo.gun(),
                            &tag.name,
                            resolved,
                            &signed,
                        );
                        if let Err(e) = checked {
                            *digest = Err(Fault::of(&e));
                        }
                    }
                }
            }
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
        return (finish(evaluated, tags), valid_until);
    };
    // Content rules read, per image and required type (its first requirement): the blob that
    // requirement accepted (`input.metadata`, when it is ok) and the blob of every signature it
    // counts (`input.signed`: accepted roles, young enough). Each distinct blob of an image is
    // fetched once, every image of the repository concurrently.
    let mut reads: Vec<Vec<TypeRead>> = Vec::new();
    let mut jobs: Vec<(usize, String, &TrustedTarget)> = Vec::new();
    let mut queued: std::collections::HashSet<(usize, String)> = std::collections::HashSet::new();
    for (n, (_, _, digest, verdicts)) in evaluated.iter().enumerate() {
        let mut types: Vec<TypeRead> = Vec::new();
        if let Some(d) = digest {
            for (req, v) in requirements.iter().zip(verdicts) {
                if types.iter().any(|t| t.metadata_type == v.metadata_type) {
                    continue;
                }
                let name = layout::metadata_target(&req.metadata_type, d);
                let Some(Ok(signers)) = signed.get(&name) else {
                    continue;
                };
                let mut read = TypeRead {
                    metadata_type: v.metadata_type.clone(),
                    chosen: None,
                    signed: Vec::new(),
                };
                for t in evaluate::counted(req, signers, now) {
                    let Some(blob) = layout::blob_digest(&t.meta).map(|b| b.to_string()) else {
                        continue;
                    };
                    if queued.insert((n, blob.clone())) {
                        jobs.push((n, blob.clone(), t));
                    }
                    read.signed.push((
                        t.role.to_string(),
                        Custom::from_meta(&t.meta).map(|c| c.created_at),
                        blob,
                    ));
                }
                if v.status == Status::Ok {
                    read.chosen.clone_from(&v.blob_digest);
                }
                types.push(read);
            }
        }
        reads.push(types);
    }
    let fetched: Vec<(usize, String, Result<Option<serde_json::Value>, Fault>)> =
        stream::iter(jobs)
            .map(|(n, blob, t)| {
                let repository = repo.repository();
                async move { (n, blob, fetch_for_rules(registry, repository, t).await) }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await;
    let content: HashMap<(usize, String), Result<Option<serde_json::Value>, Fault>> = fetched
        .into_iter()
        .map(|(n, blob, result)| ((n, blob), result))
        .collect();
    let inputs: Vec<Result<RuleInput, (String, Fault)>> = reads
        .into_iter()
        .enumerate()
        .map(|(n, types)| rule_input_of(n, types, &content))
        .collect();
    let gun = repo.gun();
    for (((_, given, digest, verdicts), input), tag) in evaluated.iter_mut().zip(inputs).zip(&tags)
    {
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
            Ok((metadata, signed)) => {
                let types = metadata.len();
                let input = serde_json::json!({
                    "image": given,
                    "digest": d.to_string(),
                    "repository": gun,
                    "metadata": metadata,
                    "signed": signed,
                    "tag": tag.as_ref().map(|t| t.name.clone()),
                    "tag_signed_by": tag.as_ref().and_then(|t| t.signed_by.clone()),
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
    (finish(evaluated, tags), valid_until)
}

/// What the content rules read of one required type of one image: the blob digest its
/// requirement accepted (when it is ok), and `(role, created_at, blob digest)` of every
/// signature it counts, in delegation order.
struct TypeRead {
    metadata_type: String,
    chosen: Option<String>,
    signed: Vec<(String, Option<String>, String)>,
}

/// `input.metadata` and `input.signed` of one image.
type RuleInput = (
    serde_json::Map<String, serde_json::Value>,
    serde_json::Map<String, serde_json::Value>,
);

/// Image `n`'s rule input from the fetched blobs, or the first type whose blob failed.
fn rule_input_of(
    n: usize,
    types: Vec<TypeRead>,
    content: &HashMap<(usize, String), Result<Option<serde_json::Value>, Fault>>,
) -> Result<RuleInput, (String, Fault)> {
    let mut metadata = serde_json::Map::new();
    let mut signed = serde_json::Map::new();
    for read in types {
        let of = |blob: &str| content.get(&(n, blob.to_string()));
        let mut list = Vec::new();
        for (role, created_at, blob) in &read.signed {
            let mut entry = serde_json::Map::new();
            entry.insert("role".into(), role.clone().into());
            entry.insert("created_at".into(), created_at.clone().into());
            match of(blob) {
                Some(Ok(Some(value))) => {
                    entry.insert("content".into(), value.clone());
                }
                Some(Err(fault)) => return Err((read.metadata_type, fault.clone())),
                Some(Ok(None)) | None => {}
            }
            list.push(serde_json::Value::Object(entry));
        }
        if let Some(Some(Ok(Some(value)))) = read.chosen.as_deref().map(of) {
            metadata.insert(read.metadata_type.clone(), value.clone());
        }
        signed.insert(read.metadata_type, serde_json::Value::Array(list));
    }
    Ok((metadata, signed))
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

fn finish(
    evaluated: Vec<Evaluated>,
    tags: Vec<Option<TagResolution>>,
) -> Vec<(usize, ImageVerdict)> {
    evaluated
        .into_iter()
        .zip(tags)
        .map(|((i, given, digest, verdicts), tag)| {
            let mut v = ImageVerdict::new(given, digest.map(|d| d.to_string()), verdicts);
            v.tag = tag;
            (i, v)
        })
        .collect()
}

/// [`crate::manifesto::signed_tag::signed_tag`], its error as the fault it is.
async fn signed_tag<S: MetadataSource>(
    updater: &mut crate::tuf::update::Updater<S>,
    tag: &str,
) -> Result<Option<(RoleName, Option<Digest>)>, Fault> {
    crate::manifesto::signed_tag::signed_tag(updater, tag)
        .await
        .map_err(|e| Fault::of(&Error::Update(e)))
}
