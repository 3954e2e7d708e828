//! `verify REPO --all-tags`: every tag of a repository (the registry's tag list, every page), as
//! images to verify. manifesto's own tags (`_manifesto…`, the derived index) are not images.

use super::driver::ImageInput;
use crate::config::Settings;
use crate::error::Error;
use crate::manifesto::layout::INDEX_TAG;
use crate::manifesto::remote::{Network, Remote};
use crate::registry::Registry;
use crate::registry::reference::RepositoryRef;

/// Whether `tag` is one manifesto writes for itself (the index and anything named after it).
pub fn is_manifesto_tag(tag: &str) -> bool {
    tag.starts_with(INDEX_TAG)
}

/// Every image tag of `repo`, in the registry's order, as `REPO:TAG` inputs to `verify`.
pub async fn all_tags(settings: &Settings, repo: &RepositoryRef) -> Result<Vec<ImageInput>, Error> {
    all_tags_via(&Network, settings, repo).await
}

/// [`all_tags`] over any [`Remote`]. A repository without image tags is not found (exit 9): a
/// gate over nothing must not pass.
pub(crate) async fn all_tags_via(
    remote: &impl Remote,
    settings: &Settings,
    repo: &RepositoryRef,
) -> Result<Vec<ImageInput>, Error> {
    let registry = remote.registry(settings, repo.registry()).await?;
    let tags = registry.tags(repo.repository()).await?;
    let inputs = tags
        .iter()
        .filter(|t| !is_manifesto_tag(t))
        .map(|t| {
            Ok(ImageInput {
                given: format!("{repo}:{t}"),
                image: repo.with_tag(t)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if inputs.is_empty() {
        return Err(Error::NoTags {
            repository: repo.to_string(),
        });
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_tag_and_its_kin_are_not_images() {
        assert!(is_manifesto_tag("_manifesto"));
        assert!(is_manifesto_tag("_manifesto-3f"));
        assert!(!is_manifesto_tag("v1"));
        assert!(!is_manifesto_tag("manifesto"));
    }
}
