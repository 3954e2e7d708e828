//! The command-line front end: parsed flags become validated settings, then one command runs.
//!
//! `main.rs` only sets up logging and the runtime; everything a command does starts in [`run`].

mod agent;
pub mod args;
mod bundle;
mod copy;
mod default_server;
mod delegate;
mod delete;
mod get;
mod init;
mod items;
mod key;
mod list;
mod man;
pub mod output;
mod put;
mod resolve;
pub mod trust_inspect;
mod verify;
pub mod version;

use clap::CommandFactory;

use self::args::{Cli, Command, DelegateCommand, TrustCommand};
use self::output::Output;
use crate::config::Settings;
use crate::error::Error;

/// What every command gets: validated settings and the output channel.
pub struct Context {
    pub settings: Settings,
    pub output: Output,
}

/// Run one parsed command line.
pub async fn run(cli: Cli) -> Result<(), Error> {
    let output = Output {
        format: cli.global.output,
        quiet: cli.global.quiet,
    };
    match &cli.command {
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "manifesto", &mut script);
            return output.write_bytes(&mut script.as_slice());
        }
        Command::Version => return version::run(&output),
        Command::Man(args) => return man::run(&output, &args.dir),
        _ => {}
    }
    let settings = Settings::resolve(
        cli.global.trust_dir.clone(),
        cli.global.server.clone(),
        cli.global.tls_ca.clone(),
    )?;
    if let Some(server) = &settings.server {
        // Checked before any command runs, by the one rule every Notary connection uses.
        crate::notary::http::server_url(&settings.http, server)?;
    }
    let server_defaulted = settings.server.is_none();
    let ctx = Context { settings, output };
    let result = match cli.command {
        Command::Resolve(args) => resolve::run(&ctx, &args.image).await,
        Command::Put(args) => put::run(&ctx, args).await,
        Command::Agent(cmd) => agent::run(&ctx, cmd).await,
        Command::Get(args) => get::run(&ctx, args).await,
        Command::List(args) => list::run(&ctx, args).await,
        Command::Delete(args) => {
            delete::run_delete(&ctx, &args.image, &args.metadata_type, args.role.as_deref()).await
        }
        Command::Verify(args) => verify::run(&ctx, args).await,
        Command::Init(a) => {
            init::run(
                &ctx,
                &a.repo,
                a.allow_new_repository,
                a.root_keys,
                a.root_threshold,
            )
            .await
        }
        Command::Repair(repo) => delete::run_repair(&ctx, &repo.repo).await,
        Command::Trust(TrustCommand::Inspect(repo)) => trust_inspect::run(&ctx, &repo.repo).await,
        Command::Delegate(DelegateCommand::Add(a)) => {
            delegate::add(&ctx, &a.repo, &a.name, &a.keys, &a.types, a.threshold).await
        }
        Command::Delegate(DelegateCommand::Remove(a)) => {
            delegate::remove(&ctx, &a.repo, &a.name, a.key.as_deref()).await
        }
        Command::Delegate(DelegateCommand::Rotate(a)) => {
            delegate::rotate(&ctx, &a.repo, &a.name, &a.key, a.replace.as_deref()).await
        }
        Command::Delegate(DelegateCommand::List(a)) => delegate::list(&ctx, &a.repo).await,
        Command::Key(cmd) => key::run(&ctx, cmd).await,
        Command::Copy(args) => copy::run(&ctx, args).await,
        Command::Bundle(cmd) => bundle::run(&ctx, cmd).await,
        Command::Completions(_) | Command::Version | Command::Man(_) => {
            unreachable!("handled before settings are read")
        }
    };
    if server_defaulted {
        result.map_err(default_server::explain)
    } else {
        result
    }
}

/// Durations such as `24h`, `7d`, `90m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, Error> {
    humantime::parse_duration(s).map_err(|source| Error::BadDuration {
        given: s.to_owned(),
        source,
    })
}
