//! The one-line summary of a failed verdict, for the process exit and the end of the table.

use std::collections::BTreeMap;

use super::verdict::{Status, Verdict};

/// The most severe failure's code and a one-line summary, for the process exit.
pub fn summary(verdict: &Verdict) -> String {
    let failing = verdict.images.iter().filter(|i| !i.ok).count();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for r in verdict.images.iter().flat_map(|i| &i.requirements) {
        if r.status != Status::Ok {
            *by_status.entry(r.status.as_str()).or_default() += 1;
        }
    }
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    format!(
        "{failing} of {} image(s) do not meet their requirements ({})",
        verdict.images.len(),
        statuses.join(", ")
    )
}
