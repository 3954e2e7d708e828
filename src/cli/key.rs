//! `manifesto key …`: generate, list, import, export and rotate signing keys.
//!
//! The work is in `manifesto::key` (generate, import, export) and `manifesto::rotate`; this file
//! parses the flags and prints. Passphrases come from `MANIFESTO_*_PASSPHRASE` (or notary's and
//! Docker's variables) or a terminal prompt.

use serde::Serialize;

use super::Context;
use super::args::{
    KeyAlgorithm as AlgorithmArg, KeyCommand, KeyExportPublicArgs, KeyGenerateArgs, KeyImportArgs,
    KeyPublishRootArgs, KeyRotateArgs, KeySignRootArgs,
};
use crate::error::Error;
use crate::keys::store::Added;
use crate::keys::{ImportOptions, KeyAlgorithm, KeyStore, Passphrases};
use crate::manifesto::key::{self, GenerateRequest};
use crate::manifesto::offline_root::{
    RootFileReport, publish_root_file, rotate_root_offline, sign_root_file,
};
use crate::manifesto::rotate::{Lifetimes, RotatedRole, rotate};
use crate::registry::reference::RepositoryRef;
use crate::tuf::build::RootShape;
use crate::tuf::names::{KeyId, RoleName};

pub async fn run(ctx: &Context, cmd: KeyCommand) -> Result<(), Error> {
    let store = KeyStore::new(&ctx.settings.trust_dir);
    match cmd {
        KeyCommand::Generate(args) => generate(ctx, &store, args),
        KeyCommand::List => list(ctx, &store),
        KeyCommand::Import(args) => import(ctx, &store, args),
        KeyCommand::ExportPublic(args) => export_public(ctx, &store, args),
        KeyCommand::Rotate(args) => rotate_key(ctx, &store, args).await,
        KeyCommand::SignRoot(args) => sign_root(ctx, &store, &args),
        KeyCommand::PublishRoot(args) => publish_root(ctx, &args).await,
    }
}

fn role_error(source: crate::tuf::names::NameError) -> Error {
    Error::BadRoleName { source }
}

/// `--gun REPO`, normalised the way image references are (`alpine` → `docker.io/library/alpine`).
fn parse_gun(gun: Option<&str>) -> Result<Option<String>, Error> {
    gun.map(|g| RepositoryRef::parse(g).map(|r| r.gun()))
        .transpose()
        .map_err(Error::from)
}

fn generate(ctx: &Context, store: &KeyStore, args: KeyGenerateArgs) -> Result<(), Error> {
    let req = GenerateRequest {
        role: RoleName::parse(&args.role).map_err(role_error)?,
        gun: parse_gun(args.gun.as_deref())?,
        algorithm: match args.algorithm {
            AlgorithmArg::Ecdsa => KeyAlgorithm::Ecdsa,
            AlgorithmArg::Ed25519 => KeyAlgorithm::Ed25519,
        },
        public_out: args.public_out,
    };
    let generated = key::generate(store, req, &mut Passphrases::from_environment())?;
    ctx.output.emit(&generated, |w| {
        writeln!(
            w,
            "Generated {} key {}",
            generated.algorithm.as_str(),
            generated.key_id
        )?;
        writeln!(w, "  role        {}", generated.role)?;
        if let Some(gun) = &generated.gun {
            writeln!(w, "  repository  {gun}")?;
        }
        writeln!(w, "  stored in   {}", generated.path.display())?;
        if let Some(p) = &generated.public_key_file {
            writeln!(w, "  public key  {}", p.display())?;
        }
        Ok(())
    })
}

/// A `--expires`-style lifetime: a positive duration.
fn lifetime(flag: &'static str, value: Option<&str>) -> Result<Option<std::time::Duration>, Error> {
    let Some(value) = value else { return Ok(None) };
    let d = super::parse_duration(value)?;
    if d.is_zero() {
        return Err(Error::LifetimeZero {
            flag,
            value: value.to_owned(),
        });
    }
    Ok(Some(d))
}

async fn rotate_key(ctx: &Context, store: &KeyStore, args: KeyRotateArgs) -> Result<(), Error> {
    let repo = RepositoryRef::parse(&args.repo)?;
    let parsed = RoleName::parse(&args.role).map_err(role_error)?;
    let role = RotatedRole::parse(parsed.as_str()).ok_or_else(|| Error::NotRotatable {
        role: parsed.clone(),
    })?;
    if args.targets_expires.is_some() && role != RotatedRole::Targets {
        return Err(Error::FlagNotApplicable {
            flag: "--targets-expires",
            applies_to: "'key rotate REPO targets'",
        });
    }
    if (args.root_keys.is_some() || args.root_threshold.is_some()) && role != RotatedRole::Root {
        return Err(Error::FlagNotApplicable {
            flag: "--root-keys/--root-threshold",
            applies_to: "'key rotate REPO root'",
        });
    }
    let shape = RootShape {
        keys: args.root_keys.unwrap_or(1),
        threshold: args.root_threshold.unwrap_or(1),
    }
    .check()?;
    let lifetimes = Lifetimes {
        root: lifetime("--expires", args.expires.as_deref())?,
        targets: lifetime("--targets-expires", args.targets_expires.as_deref())?,
    };
    let mut passphrases = Passphrases::from_environment();
    if let Some(out) = &args.offline {
        if role != RotatedRole::Root {
            return Err(Error::FlagNotApplicable {
                flag: "--offline",
                applies_to: "'key rotate REPO root'",
            });
        }
        let report = rotate_root_offline(
            &ctx.settings,
            &repo,
            lifetimes,
            shape,
            store,
            &mut passphrases,
            out,
        )
        .await?;
        return emit_root_file(ctx, &repo.gun(), &report);
    }
    let report = rotate(
        &ctx.settings,
        &repo,
        role,
        lifetimes,
        shape,
        store,
        &mut passphrases,
    )
    .await?;
    ctx.output.emit(&report, |w| {
        if report.published {
            writeln!(w, "rotated the {} key of {}", report.role, report.gun)?;
        } else {
            writeln!(
                w,
                "the {} key of {} was already rotated; nothing to publish",
                report.role, report.gun
            )?;
        }
        for old in &report.old_key_ids {
            writeln!(w, "  old key   {old}")?;
        }
        match &report.new_public_key_id {
            Some(bare) => writeln!(
                w,
                "  new key   {} (certificate, CN={}; key file {bare})",
                report.new_key_id, report.gun
            )?,
            None => writeln!(w, "  new key   {}", report.new_key_id)?,
        }
        if !report.new_key_ids.is_empty() {
            let ids: Vec<&str> = report.new_key_ids.iter().map(KeyId::as_str).collect();
            writeln!(
                w,
                "  root keys {} (threshold {})",
                ids.join(", "),
                report.threshold.unwrap_or(1)
            )?;
        }
        if matches!(role, RotatedRole::Snapshot | RotatedRole::Timestamp) {
            writeln!(w, "            (held by the server)")?;
        }
        writeln!(w, "  root      version {}", report.root_version)?;
        if let Some(v) = report.targets_version {
            writeln!(w, "  targets   version {v}")?;
        }
        Ok(())
    })
}

fn sign_root(ctx: &Context, store: &KeyStore, args: &KeySignRootArgs) -> Result<(), Error> {
    let mut passphrases = Passphrases::from_environment();
    let report = sign_root_file(store, &mut passphrases, &args.file)?;
    emit_root_file(ctx, "REPO", &report)
}

async fn publish_root(ctx: &Context, args: &KeyPublishRootArgs) -> Result<(), Error> {
    let repo = RepositoryRef::parse(&args.repo)?;
    let report = publish_root_file(&ctx.settings, &repo, &args.file).await?;
    emit_root_file(ctx, &repo.gun(), &report)
}

/// What a root file holds now, and the next step.
fn emit_root_file(ctx: &Context, gun: &str, report: &RootFileReport) -> Result<(), Error> {
    ctx.output.emit(report, |w| {
        let file = report.file.display();
        if report.published {
            return writeln!(w, "published root version {} of {gun}", report.version);
        }
        writeln!(
            w,
            "{file}: root version {}, {} signature(s); it needs a threshold of the current root keys and {} of its own",
            report.version,
            report.signed_by.len(),
            report.threshold
        )?;
        for id in &report.added {
            writeln!(w, "  signed with {id}")?;
        }
        writeln!(
            w,
            "next: 'manifesto key sign-root {file}' where the other root keys are, then 'manifesto key publish-root {gun} {file}'"
        )
    })
}

fn list(ctx: &Context, store: &KeyStore) -> Result<(), Error> {
    let keys = store.list()?;
    ctx.output.emit(&super::items::Items::of(&keys), |w| {
        if keys.is_empty() {
            return writeln!(w, "No keys in {}", store.private_dir().display());
        }
        writeln!(
            w,
            "{:<20} {:<40} {:<64} TYPE",
            "ROLE", "REPOSITORY", "KEY ID"
        )?;
        for k in &keys {
            writeln!(
                w,
                "{:<20} {:<40} {:<64} {}",
                k.role,
                k.gun.as_deref().unwrap_or("-"),
                k.key_id,
                k.algorithm.map_or("?", |a| a.as_str())
            )?;
        }
        Ok(())
    })
}

fn import(ctx: &Context, store: &KeyStore, args: KeyImportArgs) -> Result<(), Error> {
    let options = ImportOptions {
        role: args
            .role
            .as_deref()
            .map(RoleName::parse)
            .transpose()
            .map_err(role_error)?,
        gun: parse_gun(args.gun.as_deref())?,
    };
    // `--docker-trust` alone is `~/.docker/trust`; a quoted `~/…` is expanded the same way.
    let docker_trust = match &args.docker_trust {
        Some(dir) => Some(match dir.strip_prefix("~") {
            Ok(rest) => std::env::home_dir()
                .map(|h| h.join(rest))
                .ok_or(Error::NoHome {
                    flag: "--docker-trust",
                })?,
            Err(_) => dir.clone(),
        }),
        None => None,
    };
    let report = key::import(
        store,
        docker_trust.as_deref(),
        &args.files,
        &options,
        &mut Passphrases::from_environment(),
    )?;
    ctx.output.emit(&report, |w| {
        for k in &report.imported {
            let status = match k.status {
                Added::New => "imported",
                Added::AlreadyPresent => "already present",
            };
            writeln!(
                w,
                "{status} {} key {} ({}{}) from {}",
                k.algorithm.as_str(),
                k.key_id,
                k.role,
                k.gun
                    .as_deref()
                    .map(|g| format!(", {g}"))
                    .unwrap_or_default(),
                k.from.display()
            )?;
        }
        for s in &report.skipped {
            writeln!(w, "skipped {}: {}", s.from.display(), s.reason)?;
        }
        if report.imported.is_empty() && report.skipped.is_empty() {
            writeln!(w, "no keys found")?;
        }
        Ok(())
    })
}

fn export_public(ctx: &Context, store: &KeyStore, args: KeyExportPublicArgs) -> Result<(), Error> {
    let id = KeyId::parse(&args.key_id).map_err(|source| Error::BadKeyId {
        given: args.key_id.clone(),
        source,
    })?;
    let pem = key::public_key_pem(store, &id, &mut Passphrases::from_environment())?;
    match &args.output_file {
        Some(path) => {
            key::write_public(path, &pem)?;
            ctx.output.note(format!(
                "wrote the public key of {id} to {}",
                path.display()
            ));
            Ok(())
        }
        None => {
            #[derive(Serialize)]
            struct Exported<'a> {
                key_id: &'a KeyId,
                public_key_pem: &'a str,
            }
            ctx.output.data(
                &Exported {
                    key_id: &id,
                    public_key_pem: &pem,
                },
                |w| w.write_all(pem.as_bytes()),
            )
        }
    }
}
