//! The `manifesto` binary: logging, the async runtime, and the exit code. All behaviour lives in
//! the library (`manifesto::cli`).

use std::process::ExitCode;

use clap::Parser;
use manifesto::cli::{self, args::Cli, output::report_error};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // TLS everywhere goes through rustls on ring (no OpenSSL, no aws-lc).
    manifesto::http::ensure_crypto_provider();

    let cli = Cli::parse();
    // rustls-platform-verifier logs every certificate failure at error level; the error we
    // return already carries it, so it is heard once (at -vv it is logged too).
    let level = if cli.global.quiet {
        "error,rustls_platform_verifier=off"
    } else {
        match cli.global.verbose {
            0 => "warn,rustls_platform_verifier=off",
            1 => "manifesto=info,warn,rustls_platform_verifier=off",
            2 => "manifesto=debug,oci_client=debug,info",
            _ => "trace",
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MANIFESTO_LOG").unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();

    let format = cli.global.output;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("manifesto: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => ExitCode::from(report_error(&err, format)),
    }
}
