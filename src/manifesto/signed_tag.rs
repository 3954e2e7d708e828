//! Signed tags, as Docker Content Trust writes them: a target named by the tag (`v1`), in
//! `targets/releases`, `targets` or another delegation allowed that name, whose sha256 is the
//! image manifest's digest. When the repository signs a tag, a tag reference resolves through it:
//! a registry answering another digest is refused (`verify` and `get`, exit 3).

use crate::error::Error;
use crate::manifesto::layout;
use crate::manifesto::shard;
use crate::registry::Digest;
use crate::tuf::names::RoleName;
use crate::tuf::update::{MetadataSource, UpdateError, Updater};

/// Docker Content Trust's role for signed tags, followed first when it signs the tag.
pub const RELEASES: &str = "targets/releases";

/// The tag target `tag`: `(its signing role, the manifest digest it signs)`, from
/// [`RELEASES`] when that role signs it, else from the first role in delegation order; `None`
/// when no role signs a target of that name. The digest is `None` for a target without sha256.
pub(crate) async fn signed_tag<S: MetadataSource>(
    updater: &mut Updater<S>,
    tag: &str,
) -> Result<Option<(RoleName, Option<Digest>)>, UpdateError> {
    let signers = shard::signers_of(updater, tag).await?;
    let chosen = signers
        .iter()
        .find(|t| t.role.as_str() == RELEASES)
        .or(signers.first());
    Ok(chosen.map(|t| (t.role.clone(), layout::blob_digest(&t.meta))))
}

/// Check the registry's answer `resolved` for `tag` of `repository` against the tag target
/// `signed` (from [`signed_tag`]): the same digest passes, anything else is refused.
pub(crate) fn check(
    repository: &str,
    tag: &str,
    resolved: &Digest,
    signed: &(RoleName, Option<Digest>),
) -> Result<(), Error> {
    let (role, digest) = signed;
    match digest {
        Some(d) if d == resolved => Ok(()),
        Some(d) => Err(Error::TagMoved {
            repository: repository.to_string(),
            tag: tag.to_string(),
            resolved: resolved.to_string(),
            role: role.to_string(),
            signed: d.to_string(),
        }),
        None => Err(Error::TagSignedWithoutSha256 {
            repository: repository.to_string(),
            tag: tag.to_string(),
            resolved: resolved.to_string(),
            role: role.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Failure;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn a_registry_digest_other_than_the_signed_one_is_untrusted_and_names_both() {
        let role = RoleName::parse("targets/releases").unwrap();
        assert!(check("r/app", "v1", &d('a'), &(role.clone(), Some(d('a')))).is_ok());
        let e = check("r/app", "v1", &d('b'), &(role.clone(), Some(d('a')))).unwrap_err();
        assert_eq!(e.failure(), Failure::Untrusted);
        let text = e.to_string();
        assert!(
            text.contains(&d('a').to_string()) && text.contains(&d('b').to_string()),
            "{text}"
        );
        let e = check("r/app", "v1", &d('b'), &(role, None)).unwrap_err();
        assert_eq!(e.failure(), Failure::Untrusted);
    }
}
