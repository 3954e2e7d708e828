//! `manifesto get IMAGE TYPE [-O FILE]`: nothing is written unless every check passed.

use super::args::GetArgs;
use super::{Context, parse_duration};
use crate::cli::args::OutputFormat;
use crate::error::Error;
use crate::manifesto::MetadataType;
use crate::manifesto::bundle::{get_offline, require_digest};
use crate::manifesto::delegate::delegation_role;
use crate::manifesto::get::{GetRequest, OutputFile, get};
use crate::manifesto::policy::Policy;
use crate::manifesto::requirement::Requirement;
use crate::registry::ImageRef;
use crate::tuf::names::RoleName;

pub async fn run(ctx: &Context, args: GetArgs) -> Result<(), Error> {
    let image = ImageRef::parse(&args.image)?;
    if args.bundle.is_some() {
        require_digest(&image)?;
    }
    let metadata_type = MetadataType::parse(&args.metadata_type)?;
    let max_age = args.max_age.as_deref().map(parse_duration).transpose()?;
    let signed_by = match args.signed_by.as_deref() {
        None => None,
        Some("targets") => Some(RoleName::targets()),
        Some(name) => Some(delegation_role(name)?),
    };
    // Decided before the download: a refused -O costs nothing, and the temporary file lives
    // next to a regular output (atomic rename) or in the temp directory for a FIFO or device.
    // `-O -` is stdout, as for curl and wget.
    let output = args
        .output_file
        .as_deref()
        .filter(|path| *path != std::path::Path::new("-"))
        .map(OutputFile::classify)
        .transpose()?;
    let temp_dir = match &output {
        Some(out) => out.temp_dir(),
        None => std::env::temp_dir(),
    };
    // A policy (--policy, else the configuration's) is loaded before any network access: a bad
    // one is exit 2. Its requirements for this repository and type are enforced.
    let policy_file = args.policy.as_ref().or(ctx.settings.policy.as_ref());
    let requirements: Vec<Requirement> = match policy_file {
        None => Vec::new(),
        Some(path) => Policy::load(path)?
            .requirements_for(&image.repository_ref().gun())
            .into_iter()
            .filter(|r| r.metadata_type == metadata_type)
            .collect(),
    };
    let req = GetRequest {
        image: &image,
        metadata_type: &metadata_type,
        signed_by,
        max_age,
        requirements,
    };
    let fetched = match &args.bundle {
        Some(bundle) => get_offline(&ctx.settings, bundle, req, &temp_dir).await?,
        None => get(&ctx.settings, req, &temp_dir).await?,
    };
    let report = &fetched.report;
    if !report.dissenting_roles.is_empty() {
        ctx.output.note(format!(
            "manifesto: warning: {} signs other {} content for this image; following {}, the \
             first role in delegation order (--signed-by ROLE picks one)",
            report.dissenting_roles.join(", "),
            report.metadata_type,
            report.role
        ));
    }
    match &output {
        Some(out) => {
            let path = out.path();
            out.write(fetched.content)?;
            ctx.output.emit(&fetched.report, |w| {
                writeln!(
                    w,
                    "wrote {} ({} bytes, signed by {}) to {}",
                    fetched.report.metadata_type,
                    fetched.report.size,
                    fetched.report.role,
                    path.display()
                )
            })
        }
        None if ctx.output.format == OutputFormat::Json => {
            // JSON mode describes the content; the bytes themselves go to a file with -O.
            ctx.output.emit(&fetched.report, |_| Ok(()))
        }
        None => {
            let mut file = fetched.content.reopen().map_err(|source| Error::TempFile {
                dir: fetched
                    .content
                    .path()
                    .parent()
                    .map(ToOwned::to_owned)
                    .unwrap_or_default(),
                source,
            })?;
            ctx.output.write_bytes(&mut file)
        }
    }
}
