//! `manifesto delegate add|remove|list`: parse the arguments, run the flow in
//! [`crate::manifesto::delegate`], print what changed.

use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::manifesto::MetadataType;
use crate::manifesto::delegate::{self, delegation_role};
use crate::notary::publish::Published;
use crate::registry::reference::RepositoryRef;
use crate::tuf::key::PublicKey;
use crate::tuf::key_pem::public_key_from_pem;
use crate::tuf::names::RoleName;

#[derive(Serialize)]
struct Changed {
    repository: String,
    role: String,
    change: &'static str,
    published: bool,
}

pub async fn add(
    ctx: &Context,
    repo: &str,
    name: &str,
    key_files: &[std::path::PathBuf],
    types: &[String],
    threshold: u32,
) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let role = delegation_role(name)?;
    let types = types
        .iter()
        .map(|t| MetadataType::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys: Vec<PublicKey> = Vec::new();
    for file in key_files {
        let bytes = std::fs::read(file).map_err(|source| Error::InputFile {
            path: file.clone(),
            source,
        })?;
        keys.push(
            public_key_from_pem(&bytes).map_err(|source| Error::PublicKeyFile {
                path: file.clone(),
                source,
            })?,
        );
    }
    let published = delegate::add(&ctx.settings, &repo, &role, &keys, &types, threshold).await?;
    report(ctx, &repo, &role, "added", published)
}

pub async fn remove(ctx: &Context, repo: &str, name: &str) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let role = delegation_role(name)?;
    let published = delegate::remove(&ctx.settings, &repo, &role).await?;
    report(ctx, &repo, &role, "removed", published)
}

fn report(
    ctx: &Context,
    repo: &RepositoryRef,
    role: &RoleName,
    change: &'static str,
    published: Published,
) -> Result<(), Error> {
    let out = Changed {
        repository: repo.gun(),
        role: role.to_string(),
        change,
        published: matches!(published, Published::Now { .. }),
    };
    ctx.output.emit(&out, |w| match published {
        Published::Now { .. } => writeln!(w, "{change} delegation {role} of {}", out.repository),
        Published::AlreadyThere => writeln!(
            w,
            "delegation {role} of {} was already {change}; nothing to publish",
            out.repository
        ),
    })
}

pub async fn list(ctx: &Context, repo: &str) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let rows = delegate::list(&ctx.settings, &repo).await?;
    ctx.output.emit(&super::items::Items::of(&rows), |w| {
        if rows.is_empty() {
            return writeln!(w, "no delegations");
        }
        writeln!(w, "{:<24} {:>9}  {:<40} KEYS", "ROLE", "THRESHOLD", "PATHS")?;
        for r in &rows {
            writeln!(
                w,
                "{:<24} {:>9}  {:<40} {}",
                r.role,
                r.threshold,
                r.paths.join(", "),
                r.key_ids
                    .iter()
                    .map(|k| &k[..12])
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        Ok(())
    })
}
