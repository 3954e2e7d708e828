//! `cargo run --release --example populate -- REGISTRY_URL REPO COUNT [--label L] [--first K]
//! [--connections C]`: pushes COUNT distinct tiny OCI images (a shared config and layer, one
//! manifest each, by digest, no tag) to REPO on a plain-HTTP registry and prints their manifest
//! digests, one a line, in order; the time taken goes to stderr. See `bulk.rs` and
//! docs/benchmarks.md ("Scale").

mod bulk;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

fn usage() -> ExitCode {
    eprintln!(
        "usage: populate REGISTRY_URL REPO COUNT [--label L] [--first K] [--connections C]\n  \
         pushes COUNT distinct images to http://host:port/REPO and prints their digests"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut positional = Vec::new();
    let (mut label, mut first, mut connections) = (String::from("img"), 0usize, 8usize);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned();
        match a.as_str() {
            "--label" => match value() {
                Some(v) => label = v,
                None => return usage(),
            },
            "--first" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => first = v,
                None => return usage(),
            },
            "--connections" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => connections = v,
                None => return usage(),
            },
            _ if a.starts_with('-') => return usage(),
            _ => positional.push(a.clone()),
        }
    }
    let [url, repo, count] = positional.as_slice() else {
        return usage();
    };
    let Ok(count) = count.parse::<usize>() else {
        return usage();
    };
    let host = match bulk::plain_http_host(url) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("populate: error: {e}");
            return ExitCode::from(2);
        }
    };
    let t0 = Instant::now();
    match bulk::push_images(host, repo, &label, first, count, connections) {
        Ok(digests) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for d in &digests {
                if writeln!(out, "{d}").is_err() {
                    return ExitCode::FAILURE;
                }
            }
            if out.flush().is_err() {
                return ExitCode::FAILURE;
            }
            let secs = t0.elapsed().as_secs_f64();
            eprintln!(
                "populate: pushed {count} images to {url}/{repo} over {connections} connections in {secs:.1} s ({:.0} images/s)",
                f64::from(u32::try_from(count).unwrap_or(u32::MAX)) / secs
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("populate: error: {e}");
            ExitCode::FAILURE
        }
    }
}
