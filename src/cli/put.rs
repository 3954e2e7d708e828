//! `manifesto put IMAGE TYPE [FILE|-]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Context;
use super::args::PutArgs;
use crate::error::Error;
use crate::manifesto::MetadataType;
use crate::manifesto::delegate::delegation_role;
use crate::manifesto::put::{Input, PutInputError, PutRequest, put, spool_stdin};
use crate::registry::ImageRef;
use crate::tuf::names::RoleName;

pub async fn run(ctx: &Context, args: PutArgs) -> Result<(), Error> {
    let image = ImageRef::parse(&args.image)?;
    let metadata_type = MetadataType::parse(&args.metadata_type)?;
    let role = match args.role.as_deref() {
        None | Some("targets") => RoleName::targets(),
        Some(name) => delegation_role(name)?,
    };
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
    // Progress on stderr for long uploads, only for a person watching a terminal.
    let size = std::fs::metadata(input.path())
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = if ctx.output.format == crate::cli::args::OutputFormat::Text
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
    };
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
