//! Human and JSON output, and how errors are reported.
//!
//! Results go to stdout; errors go to stderr, as one JSON object with `-o json`. A failed command
//! never writes its result, so a script that reads stdout sees nothing on failure.

use std::io::Write;

use serde::Serialize;

use super::args::OutputFormat;
use crate::error::Error;

/// Where a command writes its result.
pub struct Output {
    pub format: OutputFormat,
    pub quiet: bool,
}

impl Output {
    /// Print a result: `text` renders it for people, JSON is its serde form.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let result = match self.format {
            OutputFormat::Json => serde_json::to_writer_pretty(&mut lock, value)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(lock)),
            OutputFormat::Text => text(&mut lock),
        };
        match result.and_then(|_| lock.flush()) {
            Ok(()) => Ok(()),
            // A closed pipe (`manifesto list … | head`) is the reader's choice, not our failure.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(Error::Output(e)),
        }
    }

    /// Progress and notes for people, on stderr (silent with -q or -o json).
    pub fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet && self.format == OutputFormat::Text {
            eprintln!("{message}");
        }
    }
}

#[derive(Serialize)]
struct ErrorReport<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u8,
    kind: crate::failure::Failure,
    message: String,
    causes: Vec<String>,
    #[serde(skip)]
    _marker: std::marker::PhantomData<&'a ()>,
}

/// Report a failed command on stderr and return its exit code.
pub fn report_error(err: &Error, format: OutputFormat) -> u8 {
    let failure = err.failure();
    let causes = crate::failure::causes(err);
    match format {
        OutputFormat::Json => {
            let report = ErrorReport {
                error: ErrorBody {
                    code: failure.exit_code(),
                    kind: failure,
                    message: err.to_string(),
                    causes,
                    _marker: std::marker::PhantomData,
                },
            };
            let text = serde_json::to_string(&report).unwrap_or_else(|_| "{\"error\":{}}".into());
            eprintln!("{text}");
        }
        OutputFormat::Text => {
            eprintln!("manifesto: {err}");
            for c in causes {
                eprintln!("  caused by: {c}");
            }
        }
    }
    failure.exit_code()
}
