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
    /// Print a result: `text` renders it for people, JSON is its serde form. With `-q` the text
    /// form is not printed (the exit code is the answer); JSON, asked for explicitly, still is.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        if self.quiet && self.format == OutputFormat::Text {
            return Ok(());
        }
        self.data(value, text)
    }

    /// Print data the caller asked for (a public key, metadata bytes): like [`Output::emit`],
    /// but printed with `-q` too, since it is the command's product rather than a report.
    pub fn data<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let result = match self.format {
            // `From` keeps the kind of an I/O error (a broken pipe stays one).
            OutputFormat::Json => serde_json::to_writer_pretty(&mut lock, value)
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(lock)),
            OutputFormat::Text => text(&mut lock),
        };
        finish_stdout(result.and_then(|_| lock.flush()))
    }

    /// Copy bytes to stdout as they are (completions, metadata content), whatever the format.
    pub fn write_bytes(&self, bytes: &mut dyn std::io::Read) -> Result<(), Error> {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        finish_stdout(std::io::copy(bytes, &mut lock).and_then(|_| lock.flush()))
    }

    /// Progress and notes for people, on stderr (silent with -q or -o json).
    pub fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet && self.format == OutputFormat::Text {
            eprintln!("{message}");
        }
    }
}

/// How a write to stdout ended. A closed pipe (`manifesto list … | head`) is the reader's
/// choice, not our failure: quiet, exit 0 (as ripgrep does). Any other failure (a full disk)
/// means the result was lost: exit 8.
fn finish_stdout(result: std::io::Result<()>) -> Result<(), Error> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Output(e)),
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
    /// The command's usage line, for errors of the argument parser.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<String>,
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
                    usage: None,
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

/// Whether the raw command line asks for `-o json` (`-o json`, `-ojson`, `-o=json`, `--output
/// json`, `--output=json`, or `o` ending a cluster of short flags such as `-qo json`). Used only
/// when the parser itself refused the line, so its error can still be one JSON object.
pub fn json_requested<I, S>(args: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut json = false;
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(arg) = arg.as_ref().to_str() else {
            continue;
        };
        if arg == "--" {
            break;
        }
        let inline = if let Some(rest) = arg.strip_prefix("--output") {
            match rest.strip_prefix('=') {
                Some(value) => Some(value.to_owned()),
                None if rest.is_empty() => None,
                None => continue,
            }
        } else if let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.starts_with('-')) {
            // Short flags before `o` take no value (-q, -v); what follows `o` is its value.
            match cluster.find('o') {
                Some(at) if cluster[..at].chars().all(|c| c == 'q' || c == 'v') => {
                    let value = &cluster[at + 1..];
                    let value = value.strip_prefix('=').unwrap_or(value);
                    (!value.is_empty()).then(|| value.to_owned())
                }
                _ => continue,
            }
        } else {
            continue;
        };
        let value = match inline {
            Some(v) => v,
            None => match args.next() {
                Some(v) => v.as_ref().to_string_lossy().into_owned(),
                None => break,
            },
        };
        json = value == "json";
    }
    json
}

/// Report an error of the argument parser (a usage error, exit 2) as one JSON object on stderr,
/// the same shape as every other error under `-o json`; returns its exit code.
pub fn report_usage_error(err: &clap::Error) -> u8 {
    let rendered = err.render().to_string();
    let (mut message, usage) = split_usage(&rendered);
    if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap shows the whole help here; one line says what is missing instead.
        let command = usage
            .as_deref()
            .unwrap_or("manifesto")
            .split(' ')
            .take_while(|w| !w.starts_with(['[', '<', '-']))
            .collect::<Vec<_>>()
            .join(" ");
        message = format!("'{command}' needs a subcommand; '{command} --help' lists them");
    }
    let failure = crate::failure::Failure::Usage;
    let report = ErrorReport {
        error: ErrorBody {
            code: failure.exit_code(),
            kind: failure,
            message,
            causes: Vec::new(),
            usage,
            _marker: std::marker::PhantomData,
        },
    };
    let text = serde_json::to_string(&report).unwrap_or_else(|_| "{\"error\":{}}".into());
    eprintln!("{text}");
    failure.exit_code()
}

/// clap's rendered error as one line of message (without its `error: ` prefix, its tips and
/// its closing "For more information" line) and the usage line, if it gave one.
fn split_usage(rendered: &str) -> (String, Option<String>) {
    let mut message = Vec::new();
    let mut usage = None;
    for line in rendered.lines().map(str::trim) {
        if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u.to_owned());
        } else if line.is_empty() || line.starts_with("For more information") {
            continue;
        } else if usage.is_none() {
            message.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    (message.join(" "), usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(line: &str) -> bool {
        json_requested(std::iter::once("manifesto").chain(line.split_whitespace()))
    }

    #[test]
    fn every_spelling_of_output_json_is_recognised() {
        for line in [
            "-o json get",
            "get -ojson",
            "get -o=json x",
            "--output json put",
            "--output=json",
            "-qo json list",
            "-vvojson get",
            "-o text -o json",
        ] {
            assert!(json(line), "{line}");
        }
    }

    #[test]
    fn other_lines_are_text() {
        for line in [
            "get x approvals",
            "-o text get",
            "-o json -o text",
            "get -- -o json",
            "put img json",
            "--output-file json get",
            "-O json get",
            "-o",
        ] {
            assert!(!json(line), "{line}");
        }
    }

    #[test]
    fn a_parser_error_becomes_a_message_and_a_usage_line() {
        let rendered = "error: the following required arguments were not provided:\n  <IMAGE>\n  <TYPE>\n\nUsage: manifesto get <IMAGE> <TYPE>\n\nFor more information, try '--help'.\n";
        let (message, usage) = split_usage(rendered);
        assert_eq!(
            message,
            "the following required arguments were not provided: <IMAGE> <TYPE>"
        );
        assert_eq!(usage.as_deref(), Some("manifesto get <IMAGE> <TYPE>"));
    }
}
