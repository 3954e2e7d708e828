//! `manifesto init REPO`: create the repository's trust data on the Notary server (the flow is
//! [`crate::manifesto::init`]) and print the keys it is signed with.

use chrono::Utc;

use super::Context;
use crate::error::Error;
use crate::manifesto::init::{init, require_registry_repository};
use crate::registry::reference::RepositoryRef;
use crate::tuf::build::RootShape;

pub async fn run(
    ctx: &Context,
    repo: &str,
    allow_new_repository: bool,
    root_keys: Option<u32>,
    root_threshold: Option<u32>,
) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    // Bad flags are refused first (exit 2), before any request.
    let shape = RootShape {
        keys: root_keys.unwrap_or(1),
        threshold: root_threshold.unwrap_or(1),
    }
    .check()?;
    if !allow_new_repository {
        // Before any key is made: a typo must not become a new Notary repository.
        require_registry_repository(&ctx.settings, &repo).await?;
    }
    let report = init(&ctx.settings, &repo, Utc::now(), shape, |id| {
        ctx.output.note(format!("generated root key {id}"));
    })
    .await?;
    ctx.output.emit(&report, |w| {
        writeln!(w, "initialised {} on {}", report.gun, report.server)?;
        writeln!(
            w,
            "  root       {} (certificate, CN={})",
            report.root_key_id, report.gun
        )?;
        writeln!(w, "  targets    {}", report.targets_key_id)?;
        writeln!(
            w,
            "  snapshot   {} (held by the server)",
            report.snapshot_key_id
        )?;
        writeln!(
            w,
            "  timestamp  {} (held by the server)",
            report.timestamp_key_id
        )
    })
}
