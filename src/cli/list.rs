//! `manifesto list IMAGE` and `manifesto list REPO --all`: parse, run
//! [`crate::manifesto::list`], print.

use std::collections::BTreeMap;

use super::Context;
use super::items::Items;
use crate::error::Error;
use crate::manifesto::list::{Listed, list_image, listing};
use crate::registry::ImageRef;
use crate::registry::reference::RepositoryRef;

pub async fn run(ctx: &Context, target: &str, all: bool) -> Result<(), Error> {
    let rows = if all {
        let repo = RepositoryRef::parse(target)?;
        listing(&ctx.settings, &repo, None).await?
    } else {
        let image = ImageRef::parse(target)?;
        list_image(&ctx.settings, &image).await?
    };
    ctx.output.emit(&Items::of(&rows), |w| {
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
