//! `manifesto delete IMAGE TYPE [--role ROLE]` and `manifesto repair REPO`.

use super::Context;
use crate::error::Error;
use crate::manifesto::MetadataType;
use crate::manifesto::delegate::delegation_role;
use crate::manifesto::delete::delete;
use crate::manifesto::repair::repair;
use crate::registry::ImageRef;
use crate::registry::reference::RepositoryRef;
use crate::tuf::names::RoleName;

pub async fn run_delete(
    ctx: &Context,
    image: &str,
    metadata_type: &str,
    role: Option<&str>,
) -> Result<(), Error> {
    let image = ImageRef::parse(image)?;
    let metadata_type = MetadataType::parse(metadata_type)?;
    let role = match role {
        None | Some("targets") => RoleName::targets(),
        Some(name) => delegation_role(name)?,
    };
    let report = delete(&ctx.settings, &image, &metadata_type, role).await?;
    ctx.output.emit(&report, |w| {
        writeln!(
            w,
            "removed {} of {} ({}), signed by {}",
            report.metadata_type, report.image, report.image_digest, report.role
        )
    })
}

pub async fn run_repair(ctx: &Context, repo: &str) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let report = repair(&ctx.settings, &repo).await?;
    ctx.output.emit(&report, |w| {
        writeln!(
            w,
            "{}: {} signed manifesto manifests checked",
            report.repository, report.manifests_checked
        )?;
        for m in &report.manifests_restored {
            writeln!(w, "  restored manifest {m}")?;
        }
        for m in &report.manifests_unrecoverable {
            writeln!(
                w,
                "  cannot rebuild manifest {m}: its entries or its image are gone from the registry"
            )?;
        }
        for s in &report.stale_roles {
            writeln!(
                w,
                "  {} is stale ({}), its entries are left out; {}",
                s.role, s.reason, s.next_step
            )?;
        }
        if report.index_was_current {
            writeln!(
                w,
                "  index _manifesto was current ({} entries)",
                report.index_entries
            )
        } else {
            writeln!(
                w,
                "  index _manifesto rebuilt ({} entries)",
                report.index_entries
            )
        }
    })
}
