//! `manifesto bundle create IMAGE@DIGEST… -O FILE [--type TYPE…]` and `bundle verify FILE`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Context;
use crate::error::Error;
use crate::manifesto::MetadataType;
use crate::manifesto::bundle::{BundleReport, create, require_digest, verify_bundle};
use crate::registry::ImageRef;

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write the trust data and metadata of images into one file, for offline verification
    Create(BundleCreateArgs),
    /// Check a bundle as a whole against the trust dir, offline; print what it holds and until when
    Verify(BundleVerifyArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
The bundle is an uncompressed tar (docs/bundle.md): per repository the root chain, timestamp, \
snapshot and the targets and delegation files on the way to the images' metadata, and the \
metadata blobs. Everything is verified online before it is written. Readers verify it again \
with 'get --bundle', 'verify --bundle' or 'bundle verify', anchored in their own trust dir.")]
pub struct BundleCreateArgs {
    /// Images, by digest (registry/repo@sha256:…)
    #[arg(required = true)]
    pub images: Vec<String>,
    /// The bundle file to write (replaced atomically)
    #[arg(
        short = 'O',
        long = "output-file",
        value_name = "FILE",
        required = true
    )]
    pub output_file: PathBuf,
    /// Metadata type to include (repeatable) [default: every type signed for each image]
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BundleVerifyArgs {
    /// The bundle file
    pub file: PathBuf,
}

fn print(ctx: &Context, report: &BundleReport, verb: &str) -> Result<(), Error> {
    ctx.output.emit(report, |w| {
        writeln!(w, "{verb} {}", report.path)?;
        for repo in &report.repositories {
            writeln!(
                w,
                "{} (root version {}, roots {:?})",
                repo.gun, repo.root_version, repo.roots
            )?;
            for image in &repo.images {
                for m in &image.metadata {
                    writeln!(
                        w,
                        "  {} {} signed by {} ({} bytes)",
                        image.digest, m.metadata_type, m.role, m.size
                    )?;
                }
            }
        }
        writeln!(w, "verifiable offline until {}", report.valid_until)
    })
}

pub async fn run(ctx: &Context, cmd: BundleCommand) -> Result<(), Error> {
    match cmd {
        BundleCommand::Create(args) => {
            let images = args
                .images
                .iter()
                .map(|i| ImageRef::parse(i))
                .collect::<Result<Vec<_>, _>>()?;
            for image in &images {
                require_digest(image)?;
            }
            let types = args
                .types
                .iter()
                .map(|t| MetadataType::parse(t))
                .collect::<Result<Vec<_>, _>>()?;
            let report = create(&ctx.settings, &images, &types, &args.output_file).await?;
            print(ctx, &report, "wrote")
        }
        BundleCommand::Verify(args) => {
            let report = verify_bundle(&ctx.settings, &args.file, &std::env::temp_dir()).await?;
            print(ctx, &report, "verified")
        }
    }
}
