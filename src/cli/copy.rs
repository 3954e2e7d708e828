//! `manifesto copy SRC@DIGEST DST@DIGEST [--type TYPE…] [--role ROLE]`: promote signed metadata.

use clap::Args;

use super::Context;
use crate::error::Error;
use crate::manifesto::MetadataType;
use crate::manifesto::copy::{CopyRequest, copy};
use crate::manifesto::delegate::delegation_role;
use crate::registry::ImageRef;
use crate::tuf::names::RoleName;

#[derive(Debug, Args)]
#[command(after_help = "\
Every piece of metadata is verified in the source first (as 'get' does); if any fails, nothing is \
written and the exit code is the source's. The copies are signed by --role with the destination's \
keys and carry their origin in signed annotations (vnd.manifesto.copied-from.gun, .role, \
.created-at) that 'get -o json' shows. The image must already be in the destination repository, \
or --with-image copies it (after the metadata verified, before anything is signed).")]
pub struct CopyArgs {
    /// Source image, by digest (registry/repo@sha256:…)
    pub source: String,
    /// Destination image, by the same digest
    pub destination: String,
    /// Metadata type to copy (repeatable) [default: every type signed for the image]
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Destination role that signs the copies (e.g. targets/qa) [default: targets]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Copy the image too (manifest, config, layers; every platform of an index), by digest
    #[arg(long)]
    pub with_image: bool,
}

pub async fn run(ctx: &Context, args: CopyArgs) -> Result<(), Error> {
    let source = ImageRef::parse(&args.source)?;
    let destination = ImageRef::parse(&args.destination)?;
    crate::manifesto::copy::digest_of(&source)?;
    crate::manifesto::copy::digest_of(&destination)?;
    let types = args
        .types
        .iter()
        .map(|t| MetadataType::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let role = match args.role.as_deref() {
        None | Some("targets") => RoleName::targets(),
        Some(name) => delegation_role(name)?,
    };
    let report = copy(
        &ctx.settings,
        CopyRequest {
            source: &source,
            destination: &destination,
            types: &types,
            role,
            with_image: args.with_image,
        },
        &std::env::temp_dir(),
    )
    .await?;
    ctx.output.emit(&report, |w| {
        if let Some(image) = &report.image_copied {
            writeln!(
                w,
                "copied the image: {} manifest(s), {} blob(s) ({} already there)",
                image.manifests,
                image.blobs_copied + image.blobs_present,
                image.blobs_present
            )?;
        }
        for c in &report.copied {
            writeln!(
                w,
                "copied {} ({} bytes, signed by {} in the source) to {}, signed by {}",
                c.metadata_type, c.size, c.source_role, report.destination, c.role
            )?;
        }
        Ok(())
    })
}
