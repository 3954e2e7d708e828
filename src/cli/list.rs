//! `manifesto list IMAGE` and `manifesto list REPO --all`: parse, run
//! [`crate::manifesto::list`], print.

use std::collections::BTreeMap;

use super::Context;
use super::args::ListArgs;
use super::items::Items;
use crate::error::Error;
use crate::manifesto::MetadataType;
use crate::manifesto::list::{Listed, list_image, listing};
use crate::registry::ImageRef;
use crate::registry::reference::RepositoryRef;

pub async fn run(ctx: &Context, args: ListArgs) -> Result<(), Error> {
    // Checked before any network access: a bad TYPE is exit 2.
    let only = args
        .metadata_type
        .as_deref()
        .map(MetadataType::parse)
        .transpose()?;
    let mut rows = if args.all {
        let repo = RepositoryRef::parse(&args.target)?;
        listing(&ctx.settings, &repo, None).await?
    } else {
        let image = ImageRef::parse(&args.target)?;
        list_image(&ctx.settings, &image).await?
    };
    if let Some(ty) = &only {
        rows.retain(|r| r.metadata_type == ty.as_str());
    }
    ctx.output.emit(&Items::of(&rows), |w| {
        if rows.is_empty() {
            return match &only {
                Some(ty) => writeln!(w, "no {ty} metadata"),
                None => writeln!(w, "no metadata"),
            };
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
                if !r.annotations.is_empty() {
                    let pairs: Vec<String> = r
                        .annotations
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    writeln!(w, "  {:<20} annotations: {}", "", pairs.join(", "))?;
                }
            }
        }
        Ok(())
    })
}
