//! `manifesto verify IMAGE… --require SPEC… --policy FILE`: the gate. The verdict is printed on pass and fail
//! alike (text table or `-o json`, docs/verdict.md); the exit code is the most severe failure's.

use std::io::Write;

use chrono::Utc;

use super::Context;
use super::args::VerifyArgs;
use crate::error::Error;
use crate::manifesto::bundle::require_digest;
use crate::manifesto::policy::Policy;
use crate::manifesto::requirement::Requirement;
use crate::manifesto::verify::{self, ImageInput, Status, Verdict};
use crate::notary::bundle::Bundle;
use crate::registry::ImageRef;
use crate::registry::reference::RepositoryRef;

pub async fn run(ctx: &Context, args: VerifyArgs) -> Result<(), Error> {
    let repositories = if args.all_tags {
        args.images
            .iter()
            .map(|given| RepositoryRef::parse(given))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let images = args
        .images
        .iter()
        .filter(|_| !args.all_tags)
        .map(|given| {
            Ok(ImageInput {
                given: given.clone(),
                image: ImageRef::parse(given)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let requirements = args
        .requirements
        .iter()
        .map(|spec| Requirement::parse(spec))
        .collect::<Result<Vec<_>, Error>>()?;
    // Loaded and compiled before any network access: a bad policy is exit 2.
    // Without --policy, the configuration's policy file (if any) applies.
    let policy = args
        .policy
        .as_deref()
        .or(ctx.settings.policy.as_deref())
        .map(Policy::load)
        .transpose()?;
    if requirements.is_empty() && policy.is_none() {
        return Err(Error::NothingToVerify);
    }
    // --all-tags: each argument is a repository; its tag list (every page) names the images.
    let mut images = images;
    for repo in &repositories {
        images.extend(verify::all_tags(&ctx.settings, repo).await?);
    }
    let verdict = match &args.bundle {
        None => {
            verify::verify(
                &ctx.settings,
                &images,
                &requirements,
                policy.as_ref(),
                Utc::now(),
            )
            .await
        }
        Some(path) => {
            // Tags need the registry: refused before anything is read.
            for input in &images {
                require_digest(&input.image)?;
            }
            let bundle = Bundle::open(path)?;
            verify::verify_offline(
                &ctx.settings,
                &bundle,
                &images,
                &requirements,
                policy.as_ref(),
                Utc::now(),
            )
            .await
        }
    };
    ctx.output.emit(&verdict, |w| table(w, &verdict))?;
    match verdict.failure() {
        None => Ok(()),
        Some(failure) => Err(Error::Denied {
            failure,
            message: verify::summary(&verdict),
        }),
    }
}

/// `sha256:6ced4a1b2c3d…` → `sha256:6ced4a1b2c3d`.
fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

fn table(w: &mut dyn Write, verdict: &Verdict) -> std::io::Result<()> {
    let rows: Vec<[String; 6]> = verdict
        .images
        .iter()
        .flat_map(|image| {
            image.requirements.iter().enumerate().map(move |(n, r)| {
                [
                    if n == 0 {
                        image.image.clone()
                    } else {
                        String::new()
                    },
                    if n == 0 {
                        image
                            .digest
                            .as_deref()
                            .map(short)
                            .unwrap_or_else(|| "-".into())
                    } else {
                        String::new()
                    },
                    r.requirement.clone(),
                    r.status.as_str().to_string(),
                    if r.roles.is_empty() {
                        "-".into()
                    } else {
                        r.roles.join(",")
                    },
                    r.created_at.clone().unwrap_or_else(|| "-".into()),
                ]
            })
        })
        .collect();
    let header = [
        "IMAGE",
        "DIGEST",
        "REQUIREMENT",
        "STATUS",
        "SIGNED BY",
        "CREATED",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |w: &mut dyn Write, cells: [&str; 6]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(w, "{}", text.trim_end())
    };
    line(w, header)?;
    let reqs = verdict.images.iter().flat_map(|i| {
        i.requirements
            .iter()
            .enumerate()
            .map(move |(n, r)| (i, n, r))
    });
    for (row, (image, n, r)) in rows.iter().zip(reqs) {
        line(w, row.each_ref().map(String::as_str))?;
        if n == 0
            && let Some(tag) = &image.tag
        {
            match &tag.signed_by {
                Some(role) => writeln!(w, "    tag {}: signed by {role}", tag.name)?,
                None => writeln!(
                    w,
                    "    tag {}: resolved unsigned (the registry's answer; no role signs the tag)",
                    tag.name
                )?,
            }
        }
        if r.status != Status::Ok {
            writeln!(w, "    {}: {}", r.status.as_str(), r.reason)?;
        }
    }
    if let Some(until) = &verdict.valid_until {
        writeln!(
            w,
            "trust data valid until {until} (verifiable offline until then)"
        )?;
    }
    if verdict.ok {
        writeln!(
            w,
            "PASS: {} image(s) meet every requirement",
            verdict.images.len()
        )
    } else {
        writeln!(
            w,
            "FAIL (exit {}): {}",
            verdict.exit_code,
            verify::summary(verdict)
        )
    }
}
