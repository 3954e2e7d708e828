//! Image references as users type them (`alpine`, `ghcr.io/org/app:v1`, `app@sha256:…`), parsed
//! and normalised exactly as Docker does (github.com/distribution/reference), so that manifesto and
//! `docker pull` agree on which repository, and therefore which Notary GUN, a name means. The
//! grammar is checked by hand rather than by one regex so that every refusal can say precisely what
//! is wrong and what to type instead.
//!
//! The pieces live beside this file: [`super::digest`] (content digests), [`super::host`] (the
//! registry host grammar) and [`super::reference_error`] (the error all of them return).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::digest::check_digest;
pub use super::digest::{Digest, DigestAlgorithm};
use super::host::{check_registry, is_loopback, names_registry, registry_host, registry_port};
use super::reference_error::quoted;
pub use super::reference_error::{ReferenceError, ReferenceErrorKind};

/// Docker Hub as it appears in normalised names.
const DEFAULT_REGISTRY: &str = "docker.io";
/// The old "Docker Index" name of Docker Hub, folded into [`DEFAULT_REGISTRY`].
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
/// Namespace of official images on Docker Hub (`alpine` is `library/alpine`).
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
/// Docker's `NameTotalLengthMax`, counted on the normalised `registry/repository`.
const NAME_MAX: usize = 255;
/// Docker's tag grammar `[\w][\w.-]{0,127}`.
const TAG_MAX: usize = 128;

// ---------------------------------------------------------------------------------------------
// Image and repository references
// ---------------------------------------------------------------------------------------------

/// A normalised image reference: registry, repository, and a tag, a digest or both.
///
/// Invariant: at least one of tag and digest is present (a bare name gets the tag `latest`, as in
/// Docker). When both are present the digest decides what the reference resolves to and the tag
/// is only kept for display.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A repository without tag or digest: what a Notary GUN names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryRef {
    registry: String,
    repository: String,
}

impl ImageRef {
    /// Parse and normalise a reference as `docker pull` would (see the module documentation).
    pub fn parse(input: &str) -> Result<ImageRef, ReferenceError> {
        let parts = parse_parts(input, "image reference")?;
        let tag = match (&parts.tag, &parts.digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag.clone(),
        };
        Ok(ImageRef {
            registry: parts.registry,
            repository: parts.repository,
            tag,
            digest: parts.digest,
        })
    }

    /// The registry as written after normalisation (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path within the registry (`library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry for (`/v2/<repository>/manifests/<this>`): the digest when pinned,
    /// otherwise the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            // Unreachable through the constructors; `latest` is what Docker would mean anyway.
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// A copy pinned to `digest`; the tag (if any) is kept so messages still show it.
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The registry and repository alone.
    pub fn repository_ref(&self) -> RepositoryRef {
        RepositoryRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
        }
    }

    /// The Notary GUN: `<registry>/<repository>` (`docker.io/library/alpine`), as the Docker CLI
    /// names trust data.
    pub fn gun(&self) -> String {
        gun(&self.registry, &self.repository)
    }

    /// The full normalised form (`docker.io/library/alpine:latest`, `…@sha256:…`); the same as
    /// `Display`. Unambiguous, so it is what logs and JSON output show.
    pub fn familiar(&self) -> String {
        self.to_string()
    }

    /// Docker's short "familiar" form, as `docker images` shows it: Docker Hub's `docker.io/` and
    /// `library/` left out (`alpine:latest`, `user/app:v1`, `ghcr.io/org/app:v1`).
    pub fn short(&self) -> String {
        let mut out = short_name(&self.registry, &self.repository);
        push_suffix(&mut out, self.tag.as_deref(), self.digest.as_ref());
        out
    }

    /// Whether the registry is on this machine (`localhost`, `127.0.0.0/8`, `[::1]`, any port).
    pub fn is_loopback_registry(&self) -> bool {
        is_loopback(&self.registry)
    }

    /// The registry host without the port; IPv6 stays in brackets so it can go into a URL.
    pub fn registry_host(&self) -> &str {
        registry_host(&self.registry)
    }

    /// The registry port, if one was written.
    pub fn registry_port(&self) -> Option<u16> {
        registry_port(&self.registry)
    }
}

impl RepositoryRef {
    /// Parse and normalise a repository name (`alpine`, `ghcr.io/org/app`); a tag or digest is
    /// refused, since a repository-wide operation would silently ignore it.
    pub fn parse(input: &str) -> Result<RepositoryRef, ReferenceError> {
        const SUBJECT: &str = "repository reference";
        let parts = parse_parts(input, SUBJECT)?;
        if parts.tag.is_some() || parts.digest.is_some() {
            let written = &input[..parts.written_name_len];
            let tag = parts.tag.as_deref().unwrap_or("");
            // `localhost:5000` reads as repository `localhost`, tag `5000`, as in Docker; the
            // user almost certainly meant a registry, so say how to name a repository in it.
            let detail = if parts.digest.is_none()
                && !written.contains('/')
                && (written == "localhost" || written.contains('.'))
                && tag.bytes().all(|b| b.is_ascii_digit())
            {
                format!(
                    "this reads as repository {} with tag {}; to name a repository in the registry {}, add its path, e.g. {}",
                    quoted(written),
                    quoted(tag),
                    quoted(input),
                    quoted(&format!("{input}/app"))
                )
            } else {
                format!("a repository has no tag or digest: try {}", quoted(written))
            };
            return Err(ReferenceError::new(
                ReferenceErrorKind::UnexpectedTagOrDigest,
                SUBJECT,
                input,
                detail,
            ));
        }
        Ok(RepositoryRef {
            registry: parts.registry,
            repository: parts.repository,
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The Notary GUN: `<registry>/<repository>`; also this reference's `Display`.
    pub fn gun(&self) -> String {
        gun(&self.registry, &self.repository)
    }

    /// Docker's short form (`alpine`, `user/app`, `ghcr.io/org/app`).
    pub fn short(&self) -> String {
        short_name(&self.registry, &self.repository)
    }

    /// This repository at `tag` (checked against Docker's tag grammar).
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ReferenceError> {
        check_tag(tag).map_err(|detail| {
            ReferenceError::new(ReferenceErrorKind::InvalidTag, "tag", tag, detail)
        })?;
        Ok(ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// This repository pinned to `digest`, with no tag.
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    pub fn is_loopback_registry(&self) -> bool {
        is_loopback(&self.registry)
    }

    pub fn registry_host(&self) -> &str {
        registry_host(&self.registry)
    }

    pub fn registry_port(&self) -> Option<u16> {
        registry_port(&self.registry)
    }
}

fn gun(registry: &str, repository: &str) -> String {
    format!("{registry}/{repository}")
}

/// Docker's `familiarizeName`: drop `docker.io/`, and `library/` when nothing is nested under it.
fn short_name(registry: &str, repository: &str) -> String {
    if registry != DEFAULT_REGISTRY {
        return gun(registry, repository);
    }
    match repository.strip_prefix(OFFICIAL_PREFIX) {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => repository.to_string(),
    }
}

fn push_suffix(out: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest.as_str());
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// A reference split and normalised, before `latest` is filled in.
struct Parts {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
    /// Length of the name as written (registry and path, before `:tag` / `@digest`).
    written_name_len: usize,
}

/// Docker's `ParseNormalizedNamed`: `[registry/]path[:tag][@digest]`, normalised.
fn parse_parts(input: &str, subject: &'static str) -> Result<Parts, ReferenceError> {
    let fail = |kind: ReferenceErrorKind, detail: String| {
        Err(ReferenceError::new(kind, subject, input, detail))
    };

    if input.is_empty() {
        return fail(
            ReferenceErrorKind::Empty,
            "nothing was given; name an image such as \"alpine:3.20\" or \"ghcr.io/org/app:v1\""
                .into(),
        );
    }
    // Characters first: they make every later message confusing, and whitespace usually means a
    // quoting mistake the user should hear about directly.
    for (at, c) in input.char_indices() {
        let problem = if c.is_whitespace() {
            if at == 0 || at + c.len_utf8() == input.len() {
                Some(format!(
                    "it has whitespace at byte {at}; remove the surrounding whitespace"
                ))
            } else {
                Some(format!(
                    "it has whitespace at byte {at}; references contain no spaces (check the quoting)"
                ))
            }
        } else if c.is_control() {
            Some(format!(
                "it has the control character {c:?} at byte {at}; remove it"
            ))
        } else if !c.is_ascii() {
            Some(format!(
                "it has the non-ASCII character {c:?} at byte {at}; repository names use only a-z, 0-9, '.', '_' and '-'"
            ))
        } else {
            None
        };
        if let Some(detail) = problem {
            return fail(ReferenceErrorKind::InvalidCharacter, detail);
        }
    }
    if let Some((_, rest)) = input.split_once("://") {
        let rest = rest.trim_end_matches('/');
        let first = rest.split('/').next().unwrap_or("");
        let mut detail = format!("references have no URL scheme: try {}", quoted(rest));
        if !rest.contains('/') || !names_registry(first) {
            detail.push_str(
                " (a registry host needs a '.' or a ':port', and a repository path after it)",
            );
        }
        return fail(ReferenceErrorKind::UrlScheme, detail);
    }
    if input.len() == 64
        && input
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        // Docker refuses these: they are indistinguishable from a local image ID.
        return fail(
            ReferenceErrorKind::ImageId,
            format!(
                "64 hex characters look like an image ID, not a name; to pin a digest write \"<name>@sha256:{input}\""
            ),
        );
    }

    // Neither a name nor a tag may contain '@', so the first '@' starts the digest.
    let (name_and_tag, digest) = match input.split_once('@') {
        None => (input, None),
        Some(("", _)) => {
            return fail(
                ReferenceErrorKind::MissingName,
                "a digest needs a repository name before the '@', e.g. \"alpine@sha256:…\"".into(),
            );
        }
        Some((_, "")) => {
            return fail(
                ReferenceErrorKind::InvalidDigest,
                "'@' must be followed by a digest such as \"sha256:\" and 64 hex characters".into(),
            );
        }
        Some((before, after)) => match check_digest(after) {
            Ok(digest) => (before, Some(digest)),
            Err(detail) => return fail(ReferenceErrorKind::InvalidDigest, detail),
        },
    };

    // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(colon) if !name_and_tag[colon..].contains('/') => {
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        _ => (name_and_tag, None),
    };
    if name.is_empty() {
        return fail(
            ReferenceErrorKind::MissingName,
            "a tag needs a repository name before the ':', e.g. \"alpine:3.20\"".into(),
        );
    }
    if let Some(tag) = tag {
        if tag.is_empty() {
            return fail(
                ReferenceErrorKind::InvalidTag,
                format!(
                    "':' must be followed by a tag: try {} or leave out the ':' for \"latest\"",
                    quoted(&format!("{name}:latest"))
                ),
            );
        }
        if let Err(detail) = check_tag(tag) {
            return fail(ReferenceErrorKind::InvalidTag, detail);
        }
    }

    // Docker's rule: the first component is a registry only if it has a '.' or ':' or is
    // "localhost"; otherwise the whole name is a Docker Hub path.
    // `.` and `..` contain a '.', so Docker's rule would take them for a registry host; they are
    // far more likely a file path, which deserves its own message.
    if let Some(dots) = name.split('/').find(|c| matches!(*c, "." | "..")) {
        return fail(
            ReferenceErrorKind::InvalidRepository,
            format!(
                "{} is not allowed: repository names are not file paths",
                quoted(dots)
            ),
        );
    }
    let (written_registry, path) = match name.split_once('/') {
        Some((first, rest)) if names_registry(first) => (Some(first), rest),
        _ => (None, name),
    };
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        let prefix = written_registry
            .map(|r| format!("{r}/"))
            .unwrap_or_default();
        let suggestion = format!(
            "{prefix}{}{}",
            path.to_ascii_lowercase(),
            &input[name.len()..]
        );
        let mut detail = format!(
            "repository names must be lowercase: try {}",
            quoted(&suggestion)
        );
        if written_registry.is_none()
            && path
                .split('/')
                .next()
                .is_some_and(|first| first.bytes().any(|b| b.is_ascii_uppercase()))
            && path.contains('/')
        {
            detail.push_str(
                " (a registry host needs a '.' or a ':port', e.g. \"registry.example.com/app\")",
            );
        }
        return fail(ReferenceErrorKind::Uppercase, detail);
    }
    let registry = match written_registry {
        Some(registry) => {
            if let Err(detail) = check_registry(registry) {
                return fail(ReferenceErrorKind::InvalidRegistry, detail);
            }
            if registry == LEGACY_DEFAULT_REGISTRY {
                DEFAULT_REGISTRY
            } else {
                registry
            }
        }
        None => DEFAULT_REGISTRY,
    };
    if let Err(detail) = check_path(path, written_registry) {
        return fail(ReferenceErrorKind::InvalidRepository, detail);
    }
    let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path.to_string()
    };
    // Docker measures the normalised name, so `docker.io/library/` counts against the limit.
    let full_len = registry.len() + 1 + repository.len();
    if full_len > NAME_MAX {
        return fail(
            ReferenceErrorKind::NameTooLong,
            format!(
                "the name is {full_len} characters once normalised to \"{registry}/…\"; the limit is {NAME_MAX}, registry included: shorten the repository path"
            ),
        );
    }
    Ok(Parts {
        registry: registry.to_string(),
        repository,
        tag: tag.map(str::to_string),
        digest,
        written_name_len: name.len(),
    })
}

/// Whether `tag` follows Docker's tag grammar.
pub(crate) fn is_tag(tag: &str) -> bool {
    check_tag(tag).is_ok()
}

/// Docker's tag grammar `[\w][\w.-]{0,127}` (ASCII `\w`).
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let Some(first) = tag.chars().next() else {
        return Err("the tag is empty".into());
    };
    if tag.len() > TAG_MAX {
        return Err(format!(
            "the tag is {} characters; the limit is {TAG_MAX}",
            tag.len()
        ));
    }
    if !word(first) {
        return Err(format!(
            "tag {} must start with a letter, a digit or '_'",
            quoted(tag)
        ));
    }
    if let Some(bad) = tag.chars().find(|&c| !(word(c) || c == '.' || c == '-')) {
        return Err(format!(
            "tag {} contains {bad:?}; tags use letters, digits, '_', '.' and '-'",
            quoted(tag)
        ));
    }
    Ok(())
}

/// Docker's `remoteName`: components `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` joined by `/`.
fn check_path(path: &str, registry: Option<&str>) -> Result<(), String> {
    if path.is_empty() {
        let registry = registry.unwrap_or(DEFAULT_REGISTRY);
        return Err(format!(
            "no repository after the registry: add one, e.g. {}",
            quoted(&format!("{registry}/app"))
        ));
    }
    if path.ends_with('/') {
        return Err(format!(
            "the name ends with '/': try {}",
            quoted(path.trim_end_matches('/'))
        ));
    }
    if path.starts_with('/') {
        return Err("the name starts with '/'; leave it out".into());
    }
    if path.contains("//") {
        let mut collapsed = path.to_string();
        while collapsed.contains("//") {
            collapsed = collapsed.replace("//", "/");
        }
        return Err(format!(
            "'//' leaves an empty path component: try {}",
            quoted(&collapsed)
        ));
    }
    path.split('/').try_for_each(check_component)
}

fn check_component(component: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if component == "." || component == ".." {
        return Err(format!(
            "{} is not allowed: repository names are not file paths",
            quoted(component)
        ));
    }
    if let Some(bad) = component
        .chars()
        .find(|&c| !(alnum(c) || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "path component {} contains {bad:?}; use lowercase letters, digits, '.', '_' and '-'",
            quoted(component)
        ));
    }
    if !component.starts_with(alnum) {
        return Err(format!(
            "path component {} must start with a lowercase letter or digit",
            quoted(component)
        ));
    }
    if !component.ends_with(alnum) {
        return Err(format!(
            "path component {} must end with a lowercase letter or digit",
            quoted(component)
        ));
    }
    // Between alphanumeric runs: one '.', one or two '_', or any number of '-'.
    for separator in component.split(alnum).filter(|s| !s.is_empty()) {
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!(
                "path component {} has the separator {}; use one '.', one or two '_', or dashes",
                quoted(component),
                quoted(separator)
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Text and serde
// ---------------------------------------------------------------------------------------------

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = gun(&self.registry, &self.repository);
        push_suffix(&mut out, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&out)
    }
}

impl fmt::Display for RepositoryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl FromStr for RepositoryRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepositoryRef::parse(s)
    }
}

/// Serialise as the display string; deserialise through `parse`, so stored or received
/// references are validated exactly like typed ones.
macro_rules! serde_as_string {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_string!(ImageRef, RepositoryRef);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Failure;
    use ReferenceErrorKind as K;

    const HEX256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HEX512: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

    fn d256() -> String {
        format!("sha256:{HEX256}")
    }

    /// Valid references and their full normalised form.
    fn valid_cases() -> Vec<(String, String)> {
        let d = d256();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        vec![
            s("alpine", "docker.io/library/alpine:latest"),
            s("alpine:3.20", "docker.io/library/alpine:3.20"),
            s("user/app", "docker.io/user/app:latest"),
            s("docker.io/alpine:3.20", "docker.io/library/alpine:3.20"),
            s(
                "docker.io/library/alpine",
                "docker.io/library/alpine:latest",
            ),
            s(
                "index.docker.io/library/alpine",
                "docker.io/library/alpine:latest",
            ),
            s("index.docker.io/alpine", "docker.io/library/alpine:latest"),
            s("index.docker.io/user/app:v1", "docker.io/user/app:v1"),
            s("ghcr.io/org/team/app:v1.2", "ghcr.io/org/team/app:v1.2"),
            s("localhost/foo", "localhost/foo:latest"),
            s("localhost:5000/foo/bar:tag", "localhost:5000/foo/bar:tag"),
            (
                format!("127.0.0.1:5000/app@{d}"),
                format!("127.0.0.1:5000/app@{d}"),
            ),
            (
                format!("app:tag@{d}"),
                format!("docker.io/library/app:tag@{d}"),
            ),
            (
                format!("alpine@{d}"),
                format!("docker.io/library/alpine@{d}"),
            ),
            (
                format!("alpine@sha512:{HEX512}"),
                format!("docker.io/library/alpine@sha512:{HEX512}"),
            ),
            s("[::1]:5000/x", "[::1]:5000/x:latest"),
            s("[::1]/x", "[::1]/x:latest"),
            s(
                "[2001:db8::1]:443/team/app:v2",
                "[2001:db8::1]:443/team/app:v2",
            ),
            s(
                "registry.example.com:443/a/b/c",
                "registry.example.com:443/a/b/c:latest",
            ),
            // Docker keeps an uppercase registry host as written (its host grammar is [a-zA-Z0-9-]).
            s("UPPER.example.com/x", "UPPER.example.com/x:latest"),
            s("example.com/alpine", "example.com/alpine:latest"),
            s("my-registry:5000/app", "my-registry:5000/app:latest"),
            s("a.b-c/d", "a.b-c/d:latest"),
            s("library/alpine", "docker.io/library/alpine:latest"),
            s(
                "user/nested/deeper/app",
                "docker.io/user/nested/deeper/app:latest",
            ),
            s("foo_bar", "docker.io/library/foo_bar:latest"),
            s("foo__bar", "docker.io/library/foo__bar:latest"),
            s("foo---bar", "docker.io/library/foo---bar:latest"),
            s("foo.bar", "docker.io/library/foo.bar:latest"),
            s("0/1", "docker.io/0/1:latest"),
            s("app:Latest_1.0-rc", "docker.io/library/app:Latest_1.0-rc"),
            s("app:_underscore", "docker.io/library/app:_underscore"),
            (
                format!("app:{}", "t".repeat(128)),
                format!("docker.io/library/app:{}", "t".repeat(128)),
            ),
            // As in Docker, a single component with ':' is a name and a tag, not a registry.
            s("localhost:5000", "docker.io/library/localhost:5000"),
            s("localhost", "docker.io/library/localhost:latest"),
            // 255 characters exactly, registry included.
            (
                format!("localhost/{}", "a".repeat(245)),
                format!("localhost/{}:latest", "a".repeat(245)),
            ),
        ]
    }

    /// Invalid references and the kind of error each must produce.
    fn invalid_cases() -> Vec<(String, ReferenceErrorKind)> {
        let d = d256();
        let s = |a: &str, k: K| (a.to_string(), k);
        vec![
            s("", K::Empty),
            s("Alpine", K::Uppercase),
            s("Myorg/app", K::Uppercase),
            s("docker.io/Library/alpine", K::Uppercase),
            s("ghcr.io/Org/app:v1", K::Uppercase),
            s("app:", K::InvalidTag),
            s("app:-tag", K::InvalidTag),
            s("app:tag!", K::InvalidTag),
            (format!("app:{}", "t".repeat(129)), K::InvalidTag),
            s("app@sha256:xyz", K::InvalidDigest),
            (format!("app@sha256:{}", &HEX256[..63]), K::InvalidDigest),
            (
                format!("app@sha256:{}", HEX256.to_ascii_uppercase()),
                K::InvalidDigest,
            ),
            (format!("app@md5:{HEX256}"), K::InvalidDigest),
            (format!("app@sha384:{HEX256}"), K::InvalidDigest),
            (format!("app@{HEX256}"), K::InvalidDigest),
            s("app@", K::InvalidDigest),
            (format!("app@{d}@{d}"), K::InvalidDigest),
            s("../x", K::InvalidRepository),
            s("./x", K::InvalidRepository),
            s("a//b", K::InvalidRepository),
            s("a/", K::InvalidRepository),
            s("/a", K::InvalidRepository),
            s("-app", K::InvalidRepository),
            s("app-", K::InvalidRepository),
            s("a..b", K::InvalidRepository),
            s("a___b", K::InvalidRepository),
            s("a.-b", K::InvalidRepository),
            s("a$b", K::InvalidRepository),
            s("localhost/", K::InvalidRepository),
            s("a b", K::InvalidCharacter),
            s(" alpine", K::InvalidCharacter),
            s("alpine\n", K::InvalidCharacter),
            s("a\0b", K::InvalidCharacter),
            s("a\tb", K::InvalidCharacter),
            s("a\u{7f}b", K::InvalidCharacter),
            s("ünicode", K::InvalidCharacter),
            s("app:täg", K::InvalidCharacter),
            ("a".repeat(256), K::NameTooLong),
            (format!("localhost/{}", "a".repeat(246)), K::NameTooLong),
            // 237 characters alone, but `docker.io/library/` makes it 255 + 1.
            ("a".repeat(238), K::NameTooLong),
            s(":tag", K::MissingName),
            (format!("@{d}"), K::MissingName),
            s("http://registry/x", K::UrlScheme),
            s("https://ghcr.io/org/app:v1", K::UrlScheme),
            s(HEX256, K::ImageId),
            s("localhost:/foo", K::InvalidRegistry),
            s("localhost:port/foo", K::InvalidRegistry),
            s("localhost:65536/foo", K::InvalidRegistry),
            s("localhost:0/foo", K::InvalidRegistry),
            s("::1/foo", K::InvalidRegistry),
            s("[::1/foo", K::InvalidRegistry),
            s("[zz::1]:5000/foo", K::InvalidRegistry),
            s("[fe80::1%eth0]/foo", K::InvalidRegistry),
            s("my_registry.com/app", K::InvalidRegistry),
            s("-bad.example.com/app", K::InvalidRegistry),
            s("a..example.com/app", K::InvalidRegistry),
            s(".example.com/app", K::InvalidRegistry),
        ]
    }

    #[test]
    fn valid_references_normalise_like_docker() {
        let mut wrong = Vec::new();
        for (input, expected) in valid_cases() {
            match ImageRef::parse(&input) {
                Ok(r) if r.to_string() == expected => {}
                Ok(r) => wrong.push(format!("{input:?}: got {r}, expected {expected}")),
                Err(e) => wrong.push(format!("{input:?}: refused ({e}), expected {expected}")),
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn invalid_references_are_refused_with_the_right_kind_as_usage_errors() {
        let mut wrong = Vec::new();
        for (input, kind) in invalid_cases() {
            match ImageRef::parse(&input) {
                Ok(r) => wrong.push(format!("{input:?}: accepted as {r}, expected {kind:?}")),
                Err(e) if e.kind() != kind => wrong.push(format!(
                    "{input:?}: got {:?} ({e}), expected {kind:?}",
                    e.kind()
                )),
                Err(e) => {
                    assert_eq!(e.failure(), Failure::Usage);
                    assert_eq!(e.input(), input);
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_case_table_is_large_enough() {
        assert!(valid_cases().len() + invalid_cases().len() >= 40);
    }

    #[test]
    fn normalised_form_round_trips_through_parse() {
        for (input, _) in valid_cases() {
            let once = ImageRef::parse(&input).unwrap();
            let twice = ImageRef::parse(&once.to_string()).unwrap();
            assert_eq!(once, twice, "{input:?}");
        }
    }

    #[test]
    fn accessors_split_docker_hub_official_images() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/alpine");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.gun(), "docker.io/library/alpine");
        assert_eq!(r.familiar(), "docker.io/library/alpine:latest");
        assert_eq!(r.short(), "alpine:latest");
        assert_eq!(r.registry_host(), "docker.io");
        assert_eq!(r.registry_port(), None);
        assert!(!r.is_loopback_registry());
    }

    #[test]
    fn digest_only_reference_gets_no_default_tag() {
        let r = ImageRef::parse(&format!("alpine@{}", d256())).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(Digest::as_str), Some(d256().as_str()));
        assert_eq!(r.manifest_reference(), d256());
    }

    #[test]
    fn tag_and_digest_are_both_kept_and_the_digest_is_resolved() {
        let r = ImageRef::parse(&format!("app:v1@{}", d256())).unwrap();
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest().unwrap().hex(), HEX256);
        assert_eq!(r.manifest_reference(), d256());
        assert_eq!(r.short(), format!("app:v1@{}", d256()));
        assert_eq!(
            ImageRef::parse("app:v1").unwrap().manifest_reference(),
            "v1"
        );
    }

    #[test]
    fn with_digest_pins_the_reference_and_keeps_the_tag_for_display() {
        let r = ImageRef::parse("ghcr.io/org/app:v1").unwrap();
        let pinned = r.with_digest(Digest::parse(&d256()).unwrap());
        assert_eq!(pinned.tag(), Some("v1"));
        assert_eq!(pinned.to_string(), format!("ghcr.io/org/app:v1@{}", d256()));
        assert_eq!(pinned.gun(), r.gun());
        assert_eq!(r.digest(), None, "the original is untouched");
    }

    #[test]
    fn registry_host_and_port_handle_names_ipv4_and_ipv6() {
        let cases: &[(&str, &str, Option<u16>)] = &[
            ("127.0.0.1:5000/a/b", "127.0.0.1", Some(5000)),
            ("[::1]:5000/foo", "[::1]", Some(5000)),
            ("[::1]/foo", "[::1]", None),
            (
                "registry.example.com:443/a",
                "registry.example.com",
                Some(443),
            ),
            ("localhost/foo", "localhost", None),
            ("user/app", "docker.io", None),
        ];
        for &(input, host, port) in cases {
            let r = ImageRef::parse(input).unwrap();
            assert_eq!(
                (r.registry_host(), r.registry_port()),
                (host, port),
                "{input}"
            );
            let repo = r.repository_ref();
            assert_eq!(
                (repo.registry_host(), repo.registry_port()),
                (host, port),
                "{input}"
            );
        }
        assert_eq!(
            ImageRef::parse("127.0.0.1:5000/a/b").unwrap().registry(),
            "127.0.0.1:5000"
        );
    }

    #[test]
    fn loopback_registries_are_recognised_and_look_alikes_are_not() {
        for input in [
            "localhost/a",
            "localhost:5000/a",
            "127.0.0.1/a",
            "127.0.0.1:5000/a",
            "127.9.8.7:1/a",
            "[::1]/a",
            "[::1]:5000/a",
            "[0:0:0:0:0:0:0:1]:5000/a",
        ] {
            assert!(
                ImageRef::parse(input).unwrap().is_loopback_registry(),
                "{input}"
            );
            assert!(
                RepositoryRef::parse(input).unwrap().is_loopback_registry(),
                "{input}"
            );
        }
        for input in [
            "alpine",
            "docker.io/a",
            "localhost.example.com/a",
            "127.0.0.1.nip.io/a",
            "128.0.0.1/a",
            "10.0.0.1:5000/a",
            "[::2]:5000/a",
            "127.0.0.01/a",
        ] {
            assert!(
                !ImageRef::parse(input).unwrap().is_loopback_registry(),
                "{input}"
            );
        }
    }

    #[test]
    fn uppercase_errors_suggest_the_lowercase_name() {
        let msg = |s: &str| ImageRef::parse(s).unwrap_err().to_string();
        assert!(
            msg("Alpine:3.20").contains("must be lowercase: try \"alpine:3.20\""),
            "{}",
            msg("Alpine:3.20")
        );
        assert!(
            msg("Myorg/app").contains("try \"myorg/app\""),
            "{}",
            msg("Myorg/app")
        );
        assert!(
            msg("Myorg/app").contains("registry host needs a '.'"),
            "{}",
            msg("Myorg/app")
        );
        assert!(msg("docker.io/Library/alpine").contains("try \"docker.io/library/alpine\""));
    }

    #[test]
    fn error_messages_say_what_to_do_next() {
        let msg = |s: &str| ImageRef::parse(s).unwrap_err().to_string();
        assert!(
            msg("app:").contains("try \"app:latest\""),
            "{}",
            msg("app:")
        );
        assert!(msg("a/").contains("try \"a\""), "{}", msg("a/"));
        assert!(msg("a//b").contains("try \"a/b\""), "{}", msg("a//b"));
        assert!(msg("http://registry.example.com/x").contains("try \"registry.example.com/x\""));
        assert!(msg("http://registry/x").contains("needs a '.' or a ':port'"));
        assert!(
            msg("::1/foo").contains("\"[::1]/app\""),
            "{}",
            msg("::1/foo")
        );
        assert!(msg(&format!("app@{HEX256}")).contains(&format!("try \"sha256:{HEX256}\"")));
        assert!(msg(&format!("app@sha256:{}", &HEX256[..63])).contains("this one has 63"));
        assert!(
            msg("a\0b").contains("\\0"),
            "NUL is shown escaped: {}",
            msg("a\0b")
        );
        assert!(msg("../x").contains("not file paths"), "{}", msg("../x"));
    }

    #[test]
    fn huge_inputs_are_cut_short_in_messages() {
        let input = "a".repeat(10_000);
        let msg = ImageRef::parse(&input).unwrap_err().to_string();
        assert!(msg.len() < 400, "{msg}");
        assert!(msg.contains("10000 characters"), "{msg}");
    }

    #[test]
    fn repository_ref_normalises_and_refuses_tags_and_digests() {
        let r = RepositoryRef::parse("alpine").unwrap();
        assert_eq!(
            (r.registry(), r.repository()),
            ("docker.io", "library/alpine")
        );
        assert_eq!(r.gun(), "docker.io/library/alpine");
        assert_eq!(r.to_string(), r.gun());
        assert_eq!(r.short(), "alpine");
        assert_eq!(ImageRef::parse("alpine:3").unwrap().repository_ref(), r);

        let e = RepositoryRef::parse("ghcr.io/org/app:v1").unwrap_err();
        assert_eq!(e.kind(), K::UnexpectedTagOrDigest);
        assert!(e.to_string().contains("try \"ghcr.io/org/app\""), "{e}");
        let e = RepositoryRef::parse(&format!("app@{}", d256())).unwrap_err();
        assert_eq!(e.kind(), K::UnexpectedTagOrDigest);
        // The grammar errors are the same as for image references.
        assert_eq!(
            RepositoryRef::parse("Alpine").unwrap_err().kind(),
            K::Uppercase
        );
    }

    #[test]
    fn repository_ref_explains_a_registry_given_without_a_repository() {
        let e = RepositoryRef::parse("localhost:5000").unwrap_err();
        assert_eq!(e.kind(), K::UnexpectedTagOrDigest);
        assert!(e.to_string().contains("\"localhost:5000/app\""), "{e}");
        // Only a host-like name gets that hint; `alpine:3` is simply a tagged image.
        let e = RepositoryRef::parse("alpine:3").unwrap_err();
        assert!(e.to_string().contains("try \"alpine\""), "{e}");
    }

    #[test]
    fn repository_ref_builds_tagged_and_pinned_references() {
        let repo = RepositoryRef::parse("localhost:5000/app").unwrap();
        assert_eq!(
            repo.with_tag("v2").unwrap().to_string(),
            "localhost:5000/app:v2"
        );
        assert_eq!(repo.with_tag("-bad").unwrap_err().kind(), K::InvalidTag);
        let pinned = repo.with_digest(Digest::parse(&d256()).unwrap());
        assert_eq!(pinned.to_string(), format!("localhost:5000/app@{}", d256()));
        assert_eq!(pinned.tag(), None);
    }

    #[test]
    fn from_str_matches_parse() {
        assert_eq!(
            "alpine".parse::<ImageRef>().unwrap(),
            ImageRef::parse("alpine").unwrap()
        );
        assert_eq!(
            "alpine".parse::<RepositoryRef>().unwrap(),
            RepositoryRef::parse("alpine").unwrap()
        );
        assert_eq!(
            d256().parse::<Digest>().unwrap(),
            Digest::parse(&d256()).unwrap()
        );
        assert!("Alpine".parse::<ImageRef>().is_err());
    }

    #[test]
    fn serde_uses_the_normalised_strings_and_validates_on_the_way_in() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"docker.io/library/alpine:latest\""
        );
        assert_eq!(
            serde_json::to_string(&r.repository_ref()).unwrap(),
            "\"docker.io/library/alpine\""
        );
        let d = Digest::parse(&d256()).unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!("\"{}\"", d256())
        );

        assert_eq!(serde_json::from_str::<ImageRef>("\"alpine\"").unwrap(), r);
        assert_eq!(
            serde_json::from_str::<Digest>(&format!("\"{}\"", d256())).unwrap(),
            d
        );
        let e = serde_json::from_str::<ImageRef>("\"Alpine\"").unwrap_err();
        assert!(e.to_string().contains("lowercase"), "{e}");
        assert!(serde_json::from_str::<Digest>("\"sha256:xyz\"").is_err());
    }
}
