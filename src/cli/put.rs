//! `manifesto put IMAGE TYPE [FILE|-]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Context;
use super::args::PutArgs;
use crate::error::Error;
use crate::manifesto::MetadataType;
use crate::manifesto::batch::{self, BatchError};
use crate::manifesto::delegate::delegation_role;
use crate::manifesto::put::{Input, PutInputError, PutRequest, put, put_many, spool_stdin};
use crate::registry::ImageRef;
use crate::tuf::names::RoleName;

pub async fn run(ctx: &Context, args: PutArgs) -> Result<(), Error> {
    let role = match args.role.as_deref() {
        None | Some("targets") => RoleName::targets(),
        Some(name) => delegation_role(name)?,
    };
    if let Some(batch) = &args.batch {
        return run_batch(ctx, batch, role).await;
    }
    let (Some(image), Some(metadata_type)) = (&args.image, &args.metadata_type) else {
        unreachable!("clap requires IMAGE and TYPE without --batch");
    };
    let image = ImageRef::parse(image)?;
    let metadata_type = MetadataType::parse(metadata_type)?;
    let mut annotations = BTreeMap::new();
    for a in &args.annotations {
        let (k, v) = a
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| PutInputError::BadAnnotation { given: a.clone() })?;
        annotations.insert(k.to_string(), v.to_string());
    }
    let input = match &args.file {
        None => Input::Stdin(spool_stdin()?),
        Some(p) if p.as_os_str() == "-" => Input::Stdin(spool_stdin()?),
        Some(p) => {
            let meta = std::fs::metadata(p).map_err(|source| PutInputError::Read {
                path: p.clone(),
                source,
            })?;
            if !meta.is_file() {
                return Err(PutInputError::NotAFile { path: p.clone() }.into());
            }
            Input::File(PathBuf::from(p))
        }
    };
    let size = std::fs::metadata(input.path())
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = progress_bar(ctx, size);
    let ticker = bar.clone();
    let report = put(
        &ctx.settings,
        PutRequest {
            image: &image,
            metadata_type: &metadata_type,
            file: input.path(),
            role,
            media_type: args.media_type.clone(),
            annotations,
        },
        move |n| ticker.inc(n),
    )
    .await;
    bar.finish_and_clear();
    let report = report?;
    ctx.output.emit(&report, |w| {
        writeln!(
            w,
            "stored {} for {} ({})",
            report.metadata_type, report.image, report.image_digest
        )?;
        writeln!(
            w,
            "  blob      {} ({} bytes, {})",
            report.blob_digest, report.size, report.media_type
        )?;
        writeln!(w, "  manifest  {}", report.manifest_digest)?;
        writeln!(w, "  signed    {} by {}", report.target, report.role)?;
        if !report.index_updated {
            writeln!(
                w,
                "  index     not updated (run 'manifesto repair' to rebuild it)"
            )?;
        }
        Ok(())
    })
}

/// `put --batch FILE`: every line checked before any request, one publish per repository.
async fn run_batch(ctx: &Context, batch: &Path, role: RoleName) -> Result<(), Error> {
    let items = if batch.as_os_str() == "-" {
        batch::parse(std::io::stdin().lock(), "on stdin")?
    } else {
        let file = std::fs::File::open(batch).map_err(|source| BatchError::Read {
            source_name: batch.display().to_string(),
            source,
        })?;
        batch::parse(std::io::BufReader::new(file), &batch.display().to_string())?
    };
    let total: u64 = items
        .iter()
        .filter_map(|i| std::fs::metadata(&i.file).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(ctx, total);
    let ticker = bar.clone();
    let reports = put_many(&ctx.settings, &role, items, move |n| ticker.inc(n)).await;
    bar.finish_and_clear();
    let reports = reports?;
    if ctx.output.format == crate::cli::args::OutputFormat::Json {
        // One object per entry, one per line (JSON Lines, like the input).
        let mut out = String::new();
        for r in &reports {
            out.push_str(&serde_json::to_string(r).expect("reports serialise"));
            out.push('\n');
        }
        return ctx.output.write_bytes(&mut out.as_bytes());
    }
    ctx.output.emit(&reports, |w| {
        for r in &reports {
            writeln!(
                w,
                "stored {} for {} ({}) signed by {}",
                r.metadata_type, r.image, r.image_digest, r.role
            )?;
        }
        let index_updated = reports.iter().all(|r| r.index_updated);
        writeln!(w, "{} entries in one signed update", reports.len())?;
        if !index_updated {
            writeln!(
                w,
                "index not updated (run 'manifesto repair' to rebuild it)"
            )?;
        }
        Ok(())
    })
}

/// Progress on stderr for long uploads, only for a person watching a terminal.
fn progress_bar(ctx: &Context, size: u64) -> indicatif::ProgressBar {
    if ctx.output.format == crate::cli::args::OutputFormat::Text
        && !ctx.output.quiet
        && size > 8 << 20
        && std::io::IsTerminal::is_terminal(&std::io::stderr())
    {
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "uploading {bytes}/{total_bytes} {wide_bar} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    }
}
