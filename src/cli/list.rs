//! `manifesto list IMAGE` and `manifesto list REPO --all`: what is signed, verified first.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::manifesto::index::all_signed;
use crate::manifesto::layout::{self, Custom};
use crate::notary::TrustedRepository;
use crate::registry::reference::RepositoryRef;
use crate::registry::{ImageRef, RegistryClient};

#[derive(Serialize)]
pub struct Listed {
    pub image_digest: String,
    #[serde(rename = "type")]
    pub metadata_type: String,
    pub role: String,
    pub blob_digest: String,
    pub size: u64,
    pub media_type: Option<String>,
    pub created_at: Option<String>,
}

async fn listing(
    ctx: &Context,
    repo: &RepositoryRef,
    only: Option<&crate::registry::Digest>,
) -> Result<Vec<Listed>, Error> {
    let mut trusted = TrustedRepository::open(&ctx.settings, repo, Utc::now()).await?;
    let signed = all_signed(&mut trusted.updater).await?;
    trusted.persist()?;
    let mut rows: Vec<Listed> = signed
        .iter()
        .filter_map(|t| {
            let (ty, image) = layout::parse_metadata_target(&t.name)?;
            if only.is_some_and(|d| d != &image) {
                return None;
            }
            let custom = Custom::from_meta(&t.meta);
            Some(Listed {
                image_digest: image.to_string(),
                metadata_type: ty.to_string(),
                role: t.role.to_string(),
                blob_digest: layout::blob_digest(&t.meta)?.to_string(),
                size: t.meta.length,
                media_type: custom.as_ref().map(|c| c.media_type.clone()),
                created_at: custom.map(|c| c.created_at),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.image_digest, &a.metadata_type, &a.role).cmp(&(
            &b.image_digest,
            &b.metadata_type,
            &b.role,
        ))
    });
    Ok(rows)
}

pub async fn run(ctx: &Context, target: &str, all: bool) -> Result<(), Error> {
    let rows = if all {
        let repo = RepositoryRef::parse(target)?;
        listing(ctx, &repo, None).await?
    } else {
        let image = ImageRef::parse(target)?;
        let digest = match image.digest() {
            Some(d) => d.clone(),
            None => {
                let registry =
                    RegistryClient::connect(&ctx.settings.http, image.registry()).await?;
                registry.resolve(&image).await?.digest
            }
        };
        listing(ctx, &image.repository_ref(), Some(&digest)).await?
    };
    ctx.output.emit(&rows, |w| {
        if rows.is_empty() {
            return writeln!(w, "no metadata");
        }
        let mut by_image: BTreeMap<&str, Vec<&Listed>> = BTreeMap::new();
        for r in &rows {
            by_image.entry(&r.image_digest).or_default().push(r);
        }
        for (image, entries) in by_image {
            writeln!(w, "{image}")?;
            writeln!(
                w,
                "  {:<20} {:<18} {:>10}  {:<22} BLOB",
                "TYPE", "SIGNED BY", "SIZE", "CREATED"
            )?;
            for r in entries {
                writeln!(
                    w,
                    "  {:<20} {:<18} {:>10}  {:<22} {}",
                    r.metadata_type,
                    r.role,
                    r.size,
                    r.created_at.as_deref().unwrap_or("-"),
                    r.blob_digest
                )?;
            }
        }
        Ok(())
    })
}
