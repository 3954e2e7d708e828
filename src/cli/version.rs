//! `manifesto version`: what was built, from which commit, when, and with which TLS backend and
//! features, for bug reports and for checking a deployed binary (`-o json` for scripts).

use serde::Serialize;

use super::output::Output;
use crate::error::Error;

/// What `version` reports. The commit and date come from `build.rs`.
#[derive(Debug, Serialize)]
pub struct VersionReport {
    pub version: &'static str,
    /// The git commit the binary was built from, or "unknown" (built without git).
    pub commit: &'static str,
    /// RFC 3339 UTC; `SOURCE_DATE_EPOCH` when the build set it.
    pub build_date: &'static str,
    /// The target triple, e.g. x86_64-unknown-linux-gnu.
    pub target: &'static str,
    pub tls_backend: &'static str,
    /// Cargo features compiled in (e.g. "policy" for `verify --policy`).
    pub features: Vec<&'static str>,
}

impl VersionReport {
    pub fn of_this_build() -> VersionReport {
        let mut features = Vec::new();
        if cfg!(feature = "policy") {
            features.push("policy");
        }
        VersionReport {
            version: env!("CARGO_PKG_VERSION"),
            commit: env!("MANIFESTO_GIT_COMMIT"),
            build_date: env!("MANIFESTO_BUILD_DATE"),
            target: env!("MANIFESTO_TARGET"),
            // One TLS stack for the registry and Notary (src/http.rs): no OpenSSL, no aws-lc.
            tls_backend: "rustls (ring)",
            features,
        }
    }
}

pub fn run(output: &Output) -> Result<(), Error> {
    let report = VersionReport::of_this_build();
    // Asked for explicitly, so printed with -q too.
    output.data(&report, |w| {
        writeln!(w, "manifesto {}", report.version)?;
        writeln!(w, "commit:      {}", report.commit)?;
        writeln!(w, "build date:  {}", report.build_date)?;
        writeln!(w, "target:      {}", report.target)?;
        writeln!(w, "TLS backend: {}", report.tls_backend)?;
        let features = if report.features.is_empty() {
            "(none)".to_owned()
        } else {
            report.features.join(", ")
        };
        writeln!(w, "features:    {features}")
    })
}
