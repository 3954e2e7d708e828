//! Commands of the documented surface whose capability is not in this build yet.
//!
//! Their arguments are still validated, so bad input gets its own clear error (exit 2); valid
//! input gets a message saying what is missing (also exit 2), never fake output.

use crate::error::Error;

/// What each pending command needs before it can work.
pub fn not_yet(command: &str) -> Error {
    let why = match command {
        "verify --policy" => {
            "policy files with Rego content rules are not built yet; use --require TYPE[,role=R][,max-age=DUR][,min-signers=N]"
        }
        _ => "this command is not built yet",
    };
    Error::NotYetAvailable {
        command: command.to_string(),
        why,
    }
}
