//! A bundle file as a metadata source: the trust data of one or more repositories and their
//! metadata blobs in one uncompressed tar, read with no network at all (docs/bundle.md).
//!
//! Opening a bundle only indexes it (entry names, offsets, sizes); a fetch reads one entry, and
//! only when its size is within the cap the updater gives (the same [`Limits`] as for a
//! server), so a hostile bundle cannot make a reader load more than the caps allow. Nothing read
//! from a bundle is trusted: [`BundleSource`] feeds the unchanged TUF updater, anchored in the
//! trust dir's cached or pinned root ([`require_anchor`]), never in a root from the file.
//!
//! [`Limits`]: crate::tuf::limits::Limits

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::failure::Failure;
use crate::registry::reference::RepositoryRef;
use crate::tuf::update::{MetadataSource, TransportError};

/// The format tag in `manifesto-bundle.json`.
pub const FORMAT: &str = "manifesto-bundle/v1";
/// The bundle's index (unsigned, informational: what the writer meant to include).
pub const INDEX: &str = "manifesto-bundle.json";
/// Prefix of a repository's trust files: `repositories/<GUN>/<file as the server names it>`.
pub const REPOSITORIES: &str = "repositories/";
/// Prefix of the content-addressed metadata blobs: `blobs/sha256/<hex>`.
pub const BLOBS: &str = "blobs/sha256/";
/// The largest index a reader accepts.
pub const INDEX_MAX_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read the bundle {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a manifesto bundle: {why}")]
    Malformed { path: PathBuf, why: String },
    #[error("{entry} in the bundle {path} is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        path: PathBuf,
        entry: String,
        size: u64,
        limit: u64,
    },
    #[error(
        "no trusted root for {gun} in {trust_dir}: a bundle is never trusted on first use; establish trust online once ('manifesto trust inspect {gun}') or pin its root certificate in trust_pinning.certs"
    )]
    NoTrustAnchor { gun: String, trust_dir: PathBuf },
    #[error("the bundle {path} holds nothing for {gun}")]
    NoRepository { path: PathBuf, gun: String },
    #[error("cannot write the bundle {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BundleError {
    pub fn failure(&self) -> Failure {
        match self {
            // The file the user named is missing or unreadable, or cannot be written.
            BundleError::Read { .. } | BundleError::Write { .. } => Failure::Usage,
            // The bundle is untrusted input, like a server's answer: damage is tampering.
            BundleError::Malformed { .. } | BundleError::TooLarge { .. } => Failure::Untrusted,
            // Nothing to anchor the bundle's trust data in: it cannot be trusted.
            BundleError::NoTrustAnchor { .. } => Failure::Untrusted,
            BundleError::NoRepository { .. } => Failure::NotFound,
        }
    }
}

/// Where an entry's bytes are in the file.
#[derive(Debug, Clone, Copy)]
struct Span {
    offset: u64,
    size: u64,
}

/// An indexed bundle file.
#[derive(Debug)]
pub struct Bundle {
    path: PathBuf,
    entries: BTreeMap<String, Span>,
}

/// An entry name is a relative path of plain segments.
fn clean_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

impl Bundle {
    /// Index the tar at `path`: regular files only, clean relative names, no name twice.
    pub fn open(path: &Path) -> Result<Bundle, BundleError> {
        let read = |source| BundleError::Read {
            path: path.to_owned(),
            source,
        };
        let malformed = |why: String| BundleError::Malformed {
            path: path.to_owned(),
            why,
        };
        let file = std::fs::File::open(path).map_err(read)?;
        let mut archive = tar::Archive::new(file);
        let mut entries = BTreeMap::new();
        for entry in archive
            .entries()
            .map_err(|e| malformed(format!("not a tar file ({e})")))?
        {
            let entry = entry.map_err(|e| malformed(format!("a damaged tar entry ({e})")))?;
            let name = entry
                .path()
                .map_err(|e| malformed(format!("an entry name that is not a path ({e})")))?
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| malformed("an entry name that is not UTF-8".into()))?;
            if !entry.header().entry_type().is_file() {
                return Err(malformed(format!("{name} is not a regular file")));
            }
            if !clean_name(&name) {
                return Err(malformed(format!(
                    "the entry name {name:?} is not a clean path"
                )));
            }
            let span = Span {
                offset: entry.raw_file_position(),
                size: entry.size(),
            };
            if entries.insert(name.clone(), span).is_some() {
                return Err(malformed(format!("{name} appears twice")));
            }
        }
        if !entries.contains_key(INDEX) {
            return Err(malformed(format!("no {INDEX}")));
        }
        Ok(Bundle {
            path: path.to_owned(),
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of entry `name`, if present and at most `max_len` bytes.
    pub fn read(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>, BundleError> {
        let Some(span) = self.entries.get(name).copied() else {
            return Ok(None);
        };
        if span.size > max_len {
            return Err(BundleError::TooLarge {
                path: self.path.clone(),
                entry: name.to_owned(),
                size: span.size,
                limit: max_len,
            });
        }
        let read = |source| BundleError::Read {
            path: self.path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&self.path).map_err(read)?;
        file.seek(SeekFrom::Start(span.offset)).map_err(read)?;
        let mut bytes = Vec::new();
        file.take(span.size).read_to_end(&mut bytes).map_err(read)?;
        if bytes.len() as u64 != span.size {
            return Err(BundleError::Malformed {
                path: self.path.clone(),
                why: format!("{name} is cut short"),
            });
        }
        Ok(Some(bytes))
    }

    /// A reader of entry `name` and its size, if present; the caller bounds what it reads.
    pub fn entry_reader(
        &self,
        name: &str,
    ) -> Result<Option<(impl Read + use<>, u64)>, BundleError> {
        let Some(span) = self.entries.get(name).copied() else {
            return Ok(None);
        };
        let read = |source| BundleError::Read {
            path: self.path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&self.path).map_err(read)?;
        file.seek(SeekFrom::Start(span.offset)).map_err(read)?;
        Ok(Some((file.take(span.size), span.size)))
    }

    /// The size of entry `name`, if present.
    pub fn size_of(&self, name: &str) -> Option<u64> {
        self.entries.get(name).map(|s| s.size)
    }

    /// The GUNs the bundle holds trust data for (from its entry names; each a valid GUN).
    pub fn repositories(&self) -> Result<Vec<String>, BundleError> {
        let mut guns: Vec<String> = Vec::new();
        for name in self.entries.keys() {
            // A repository is what holds a timestamp: `repositories/<GUN>/timestamp.json`.
            let Some(gun) = name
                .strip_prefix(REPOSITORIES)
                .and_then(|rest| rest.strip_suffix("/timestamp.json"))
            else {
                continue;
            };
            let valid = RepositoryRef::parse(gun).is_ok_and(|r| r.gun() == gun);
            if !valid {
                return Err(BundleError::Malformed {
                    path: self.path.clone(),
                    why: format!("{gun:?} is not a repository name"),
                });
            }
            if !guns.iter().any(|g| g == gun) {
                guns.push(gun.to_owned());
            }
        }
        Ok(guns)
    }

    /// The trust data of `gun` as a metadata source.
    pub fn source<'a>(&'a self, gun: &str) -> Result<BundleSource<'a>, BundleError> {
        if !self
            .entries
            .contains_key(&format!("{REPOSITORIES}{gun}/timestamp.json"))
        {
            return Err(BundleError::NoRepository {
                path: self.path.clone(),
                gun: gun.to_owned(),
            });
        }
        Ok(BundleSource {
            bundle: self,
            prefix: format!("{REPOSITORIES}{gun}/"),
        })
    }
}

/// One repository's trust files in a bundle, served under the names the Notary server uses.
#[derive(Debug, Clone)]
pub struct BundleSource<'a> {
    bundle: &'a Bundle,
    prefix: String,
}

impl MetadataSource for BundleSource<'_> {
    async fn fetch(&self, file: &str, max_len: u64) -> Result<Option<Vec<u8>>, TransportError> {
        let name = format!("{}{file}", self.prefix);
        self.bundle
            .read(&name, max_len)
            .map_err(|e| TransportError {
                file: file.to_owned(),
                failure: e.failure(),
                source: Box::new(e),
            })
    }
}

/// The settings of an offline read: trust on first use is off whatever the configuration says,
/// and `gun` must have a root in the trust cache or a pinned root certificate.
pub fn offline_settings(settings: &Settings, gun: &str) -> Result<Settings, BundleError> {
    let cached_root = settings
        .trust_dir
        .join("tuf")
        .join(gun)
        .join("metadata")
        .join("root.json");
    let pinned = settings.pinning.certs_for(gun).is_some();
    if !pinned && !cached_root.is_file() {
        return Err(BundleError::NoTrustAnchor {
            gun: gun.to_owned(),
            trust_dir: settings.trust_dir.clone(),
        });
    }
    let mut offline = settings.clone();
    offline.pinning.disable_tofu = true;
    Ok(offline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut builder = tar::Builder::new(file.reopen().unwrap());
        for (name, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            // Written raw: the builder itself refuses names a hostile writer may use.
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            builder.append(&header, *bytes).unwrap();
        }
        builder.finish().unwrap();
        file
    }

    #[test]
    fn a_bundle_serves_its_entries_within_the_cap_only() {
        let gun = "127.0.0.1:5000/team/app";
        let ts = format!("{REPOSITORIES}{gun}/timestamp.json");
        let long = format!("{REPOSITORIES}{gun}/qa.{}.json", "a".repeat(40));
        let file = tar_of(&[(INDEX, b"{}"), (&ts, b"0123456789"), (&long, b"qa")]);
        let bundle = Bundle::open(file.path()).unwrap();
        assert_eq!(bundle.repositories().unwrap(), vec![gun.to_string()]);
        assert_eq!(bundle.read(&ts, 10).unwrap().unwrap(), b"0123456789");
        assert_eq!(bundle.read(&long, 10).unwrap().unwrap(), b"qa");
        assert!(bundle.read("missing", 10).unwrap().is_none());
        let err = bundle.read(&ts, 9).unwrap_err();
        assert!(
            matches!(err, BundleError::TooLarge { size: 10, .. }),
            "{err:?}"
        );
        assert_eq!(err.failure().exit_code(), 3);
    }

    #[test]
    fn a_name_twice_or_an_unclean_name_is_a_malformed_bundle_exit_3() {
        for entries in [
            vec![(INDEX, &b"{}"[..]), ("a", b"1"), ("a", b"2")],
            vec![(INDEX, &b"{}"[..]), ("a/../b", b"1")],
            vec![("a", &b"1"[..])],
        ] {
            let file = tar_of(&entries);
            let err = Bundle::open(file.path()).unwrap_err();
            assert!(matches!(err, BundleError::Malformed { .. }), "{err:?}");
            assert_eq!(err.failure().exit_code(), 3);
        }
    }

    #[test]
    fn an_offline_read_needs_a_cached_or_pinned_root_and_never_allows_tofu() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::for_tests(dir.path());
        let gun = "127.0.0.1:5000/team/app";
        let err = offline_settings(&settings, gun).unwrap_err();
        assert!(matches!(err, BundleError::NoTrustAnchor { .. }), "{err:?}");
        let metadata = dir.path().join("tuf").join(gun).join("metadata");
        std::fs::create_dir_all(&metadata).unwrap();
        std::fs::write(metadata.join("root.json"), b"{}").unwrap();
        let offline = offline_settings(&settings, gun).unwrap();
        assert!(offline.pinning.disable_tofu);
    }
}
