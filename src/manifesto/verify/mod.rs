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
//!
//! One file per concern: the verdict model ([`verdict`]), the severity order ([`severity`]), pure
//! evaluation ([`evaluate`](mod@evaluate)), the I/O driver ([`driver`]) and the summary line
//! ([`summary`](mod@summary)).
pub mod all_tags;
pub mod driver;
pub mod evaluate;
pub mod severity;
pub mod summary;
#[cfg(test)]
mod test_support;
pub mod verdict;

pub use all_tags::all_tags;
pub use driver::{
    CONCURRENCY, ImageInput, MAX_RULE_INPUT, REPOSITORY_CONCURRENCY, verify, verify_offline,
};
pub use evaluate::evaluate;
pub use severity::{most_severe, severity};
pub use summary::summary;
pub use verdict::{
    Fault, ImageVerdict, RULES, RequirementVerdict, Signer, Status, TagResolution, Verdict, stopped,
};
