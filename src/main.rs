//! The `manifesto` binary: argument parsing, logging, the async runtime, and the exit code. All
//! behaviour lives in the library (`manifesto::cli`).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use manifesto::cli::args::{Cli, OutputFormat};
use manifesto::cli::output::{json_requested, report_error, report_usage_error};
use manifesto::cli::{self};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // TLS everywhere goes through rustls on ring (no OpenSSL, no aws-lc).
    manifesto::http::ensure_crypto_provider();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and exit 0; usage errors exit 2, as one JSON
        // object when the line asked for -o json.
        Err(e) if e.use_stderr() && json_requested(std::env::args_os()) => {
            return ExitCode::from(report_usage_error(&e));
        }
        Err(e) => e.exit(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MANIFESTO_LOG").unwrap_or_else(|_| {
                EnvFilter::new(log_filter(cli.global.quiet, cli.global.verbose))
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr())
        .with_target(cli.global.verbose >= 2)
        .init();

    let format = cli.global.output;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            if format == OutputFormat::Json {
                eprintln!(
                    "{}",
                    serde_json::json!({"error": {"code": 1, "kind": "internal",
                        "message": format!("cannot start the async runtime: {e}"), "causes": []}})
                );
            } else {
                eprintln!("manifesto: cannot start the async runtime: {e}");
            }
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => ExitCode::from(report_error(&err, format)),
    }
}

/// Which log lines reach stderr. Only manifesto's own lines below -vvv: the errors of the
/// registry client, hyper, rustls and the platform verifier are in the error we return, which
/// `report_error` prints once; logging them too printed a TLS failure three times.
/// - `-q`: errors only (and those are the returned error: nothing is logged).
/// - default: manifesto's warnings (an index left for `repair`, a key file skipped).
/// - `-v`: one line per network step and decision (which role signed, which version was trusted).
/// - `-vv`: manifesto's debug lines (retries, cache reads); `-vvv`: everything, every crate.
fn log_filter(quiet: bool, verbose: u8) -> &'static str {
    if quiet {
        return "off";
    }
    match verbose {
        0 => "off,manifesto=warn",
        1 => "off,manifesto=info",
        2 => "off,manifesto=debug",
        _ => "trace",
    }
}

/// ANSI colour only for a person at a terminal, and never when `NO_COLOR` is set (no-color.org:
/// any non-empty value).
fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
