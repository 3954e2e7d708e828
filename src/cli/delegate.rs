//! `manifesto delegate add|remove|rotate|list`: parse the arguments, run the flow in
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
    threshold: Option<u32>,
) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let role = delegation_role(name)?;
    let types = types
        .iter()
        .map(|t| MetadataType::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = key_files
        .iter()
        .map(|f| read_public_key(f))
        .collect::<Result<Vec<_>, _>>()?;
    let added = delegate::add(&ctx.settings, &repo, &role, &keys, &types, threshold).await?;
    if added.extended {
        let ids: Vec<String> = keys.iter().map(|k| k.key_id().to_string()).collect();
        return report_key(
            ctx,
            &repo,
            &role,
            "key added",
            &ids.join(", "),
            added.published,
        );
    }
    report(ctx, &repo, &role, "added", added.published)
}

fn read_public_key(file: &std::path::Path) -> Result<PublicKey, Error> {
    let bytes = std::fs::read(file).map_err(|source| Error::InputFile {
        path: file.to_path_buf(),
        source,
    })?;
    public_key_from_pem(&bytes).map_err(|source| Error::PublicKeyFile {
        path: file.to_path_buf(),
        source,
    })
}

pub async fn remove(ctx: &Context, repo: &str, name: &str, key: Option<&str>) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let role = delegation_role(name)?;
    if let Some(key) = key {
        let (published, removed) = delegate::remove_key(&ctx.settings, &repo, &role, key).await?;
        return report_key(ctx, &repo, &role, "key removed", &removed, published);
    }
    let published = delegate::remove(&ctx.settings, &repo, &role).await?;
    report(ctx, &repo, &role, "removed", published)
}

pub async fn rotate(
    ctx: &Context,
    repo: &str,
    name: &str,
    key_file: &std::path::Path,
    replace: Option<&str>,
) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let role = delegation_role(name)?;
    let key = read_public_key(key_file)?;
    let (published, replaced) =
        delegate::rotate(&ctx.settings, &repo, &role, &key, replace).await?;
    let what = format!("{replaced} → {}", key.key_id());
    report_key(ctx, &repo, &role, "key rotated", &what, published)
}

#[derive(Serialize)]
struct KeyChanged {
    repository: String,
    role: String,
    change: &'static str,
    /// The key id(s) concerned (`old → new` for a rotation).
    key: String,
    published: bool,
}

/// The report of a change to one delegation's keys.
fn report_key(
    ctx: &Context,
    repo: &RepositoryRef,
    role: &RoleName,
    change: &'static str,
    key: &str,
    published: Published,
) -> Result<(), Error> {
    let out = KeyChanged {
        repository: repo.gun(),
        role: role.to_string(),
        change,
        key: key.to_owned(),
        published: matches!(published, Published::Now { .. }),
    };
    ctx.output.emit(&out, |w| match published {
        Published::Now { .. } => writeln!(
            w,
            "{change} on delegation {role} of {}: {key}",
            out.repository
        ),
        Published::AlreadyThere => writeln!(
            w,
            "delegation {role} of {} already has that key change ({key}); nothing to publish",
            out.repository
        ),
    })
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
