//! `manifesto trust inspect REPO`: parse, run [`crate::manifesto::inspect`], print the roles,
//! keys, thresholds, delegation paths, versions, expiries and targets.

use std::io::Write;

use super::Context;
use crate::error::Error;
use crate::manifesto::inspect::{Inspection, KeyView, inspect};
use crate::registry::reference::RepositoryRef;

pub async fn run(ctx: &Context, repo: &str) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let report = inspect(&ctx.settings, &repo).await?;
    ctx.output.emit(&report, |w| render(w, &report))
}

fn render(w: &mut dyn Write, r: &Inspection) -> std::io::Result<()> {
    writeln!(w, "{}  (server {})", r.gun, r.server)?;
    writeln!(w)?;
    writeln!(
        w,
        "{:<22} {:>7} {:>9}  {:<32} KEYS",
        "ROLE", "VERSION", "THRESHOLD", "EXPIRES"
    )?;
    let dash = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    for role in &r.roles {
        writeln!(
            w,
            "{:<22} {:>7} {:>9}  {:<32} {}",
            role.role,
            dash(role.version.map(|v| v.to_string())),
            role.threshold,
            dash(role.expires.clone()),
            keys_text(&role.keys)
        )?;
    }
    for d in &r.delegations {
        writeln!(
            w,
            "{:<22} {:>7} {:>9}  {:<32} {}  paths: {}",
            d.role,
            dash(d.version.map(|v| v.to_string())),
            d.threshold,
            dash(d.expires.clone()),
            keys_text(&d.keys),
            if d.paths.is_empty() {
                "(none)".into()
            } else {
                d.paths.join(", ")
            }
        )?;
        if let Some(stale) = &d.stale {
            writeln!(
                w,
                "{:<22} stale, its targets are absent: {}; {}",
                "", stale.reason, stale.next_step
            )?;
        }
    }
    writeln!(w)?;
    if r.targets.is_empty() {
        writeln!(w, "no targets")?;
    } else {
        writeln!(
            w,
            "{:<60} {:<16} {:>10}  SHA256",
            "TARGET", "ROLE", "LENGTH"
        )?;
        for t in &r.targets {
            writeln!(
                w,
                "{:<60} {:<16} {:>10}  {}",
                t.name,
                t.role,
                t.size,
                t.sha256.as_deref().unwrap_or("-")
            )?;
        }
    }
    Ok(())
}

fn keys_text(keys: &[KeyView]) -> String {
    keys.iter()
        .map(|k| format!("{} {}", k.key_type, &k.key_id[..k.key_id.len().min(12)]))
        .collect::<Vec<_>>()
        .join(", ")
}
