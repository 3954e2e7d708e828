//! Commands of the documented surface whose capability is not in this build yet.
//!
//! Their arguments are still validated, so bad input gets its own clear error (exit 2); valid
//! input gets a message saying what is missing (also exit 2), never fake output.

use crate::error::Error;

/// What each pending command needs before it can work.
pub fn not_yet(command: &str) -> Error {
    let why = match command {
        "put" | "delete" | "repair" => {
            "signing and publishing metadata needs the Notary publisher, which is not built yet"
        }
        "get" | "list" | "verify" => {
            "verified reads need the Notary TUF update client, which is not built yet"
        }
        "init" | "delegate" | "key" => "key management and publishing to Notary are not built yet",
        _ => "this command is not built yet",
    };
    Error::NotYetAvailable {
        command: command.to_string(),
        why,
    }
}
