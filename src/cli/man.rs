//! `manifesto man DIR` (hidden): man pages generated from the clap definition, so they cannot
//! drift from the CLI. One page for `manifesto` and one per subcommand (`manifesto-put.1`,
//! `manifesto-key-generate.1`, …); `scripts/install` and `scripts/release` ship them.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::args::Cli;
use super::output::Output;
use crate::error::Error;

/// Write every page into `dir` (created if missing); returns the files written, in order.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::ManPages {
        path: dir.to_owned(),
        source,
    })?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Gives every subcommand its display name (`manifesto-key-generate`), the page's name.
    cmd.build();
    let mut written = Vec::new();
    write_tree(cmd, dir, &mut written)?;
    Ok(written)
}

fn write_tree(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<(), Error> {
    let page = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(page.get_filename());
    let mut roff = Vec::new();
    page.render(&mut roff)
        .and_then(|()| std::fs::write(&path, &roff))
        .map_err(|source| Error::ManPages {
            path: path.clone(),
            source,
        })?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub.clone(), dir, written)?;
    }
    Ok(())
}

pub fn run(output: &Output, dir: &Path) -> Result<(), Error> {
    let written = write_pages(dir)?;
    output.note(format!(
        "wrote {} man pages to {}",
        written.len(),
        dir.display()
    ));
    Ok(())
}
