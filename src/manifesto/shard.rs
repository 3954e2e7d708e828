//! Where a signed manifesto target lives: the bin of its signing role that its image digest's
//! label names (docs/layout.md, "Sharded targets"). Pure functions of names.
//!
//! A signing role `ρ` keeps every target about image `D` in the bin `<shard root of ρ>/<xx>`,
//! `xx` the first two hex digits of `D`. The owner's shard root is `targets/_manifesto`, a role
//! `targets` delegates to its own keys; a delegate's is its own file. Bins are delegated to their
//! signing role's keys at its threshold, so authority is the signing role's: [`signer_of`] maps a
//! bin back to it, and everything users see (reports, `--signed-by`, requirements, the index)
//! speaks of signing roles only.

use crate::registry::reference::Digest;
use crate::tuf::names::RoleName;
use crate::tuf::trusted::TrustedTarget;
use crate::tuf::update::{MetadataSource, UpdateError, Updater};

/// The owner's shard root: `targets` delegates it to the targets keys with paths `[""]`.
pub const OWNER_SHARD_ROOT: &str = "targets/_manifesto";

/// Hex digits of the image digest that name a bin: 2, so 256 bins per signing role
/// (docs/layout.md has the cost model behind the choice).
pub const LABEL_DIGITS: usize = 2;

/// The label of an image digest: its first [`LABEL_DIGITS`] hex digits.
pub fn label(image: &Digest) -> &str {
    &image.hex()[..LABEL_DIGITS]
}

/// Whether `segment` is a bin label (two lowercase hex digits).
pub fn is_label(segment: &str) -> bool {
    segment.len() == LABEL_DIGITS
        && segment
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The role under which `signer`'s bins are delegated.
pub fn shard_root(signer: &RoleName) -> RoleName {
    if signer == &RoleName::targets() {
        RoleName::parse(OWNER_SHARD_ROOT).expect("a valid role name")
    } else {
        signer.clone()
    }
}

/// The bin of `signer` that holds the targets about `image`.
pub fn bin_for(signer: &RoleName, image: &Digest) -> RoleName {
    bin_labelled(signer, label(image))
}

/// The bin of `signer` with label `label`.
pub fn bin_labelled(signer: &RoleName, label: &str) -> RoleName {
    RoleName::parse(&format!("{}/{label}", shard_root(signer))).expect("a valid role name")
}

/// `(signing role, label)` when `role` is a bin.
pub fn bin_of(role: &RoleName) -> Option<(RoleName, &str)> {
    let parent = role.parent()?;
    let last = role.as_str().rsplit('/').next()?;
    if !is_label(last) || parent == RoleName::targets() {
        return None;
    }
    let signer = if parent.as_str() == OWNER_SHARD_ROOT {
        RoleName::targets()
    } else {
        parent
    };
    Some((signer, last))
}

/// The signing role a file belongs to: its own name, or for a bin the role it is a bin of.
pub fn signer_of(role: &RoleName) -> RoleName {
    match bin_of(role) {
        Some((signer, _)) => signer,
        None if role.as_str() == OWNER_SHARD_ROOT => RoleName::targets(),
        None => role.clone(),
    }
}

/// Every signing role that validly signs `name`, in delegation order, each named by its signing
/// role (never a bin). Use this, not [`Updater::signers_of`], wherever a role reaches users.
pub async fn signers_of<S: MetadataSource>(
    updater: &mut Updater<S>,
    name: &str,
) -> Result<Vec<TrustedTarget>, UpdateError> {
    Ok(by_signer(updater.signers_of(name).await?))
}

/// Every (target, signing role) pair the verified state vouches for among targets whose image
/// digest has `label`, loading only the delegations that can hold them (per signing role, its
/// chain and one bin): what one shard of the index needs.
pub async fn signed_with_label<S: MetadataSource>(
    updater: &mut Updater<S>,
    label: &str,
) -> Result<Vec<TrustedTarget>, UpdateError> {
    signed_where(updater, label, &|n| {
        label_of_target(n).as_deref() == Some(label)
    })
    .await
}

/// [`signed_with_label`] for one image: the same bins, but only that image's names are looked
/// up (`list IMAGE`, the type hint), not every name of its label.
pub async fn signed_for_image<S: MetadataSource>(
    updater: &mut Updater<S>,
    image: &Digest,
) -> Result<Vec<TrustedTarget>, UpdateError> {
    let suffix = format!("/{image}");
    signed_where(updater, label(image), &|n| n.ends_with(&suffix)).await
}

async fn signed_where<S: MetadataSource>(
    updater: &mut Updater<S>,
    label: &str,
    keep: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<TrustedTarget>, UpdateError> {
    // A name several roles sign is listed once per role; its signers are looked up once.
    let names: std::collections::BTreeSet<String> = updater
        .list_targets_where(&|p| path_may_hold_label(p, label), &|n| {
            // The caller's test first: it is a string compare, the digest check a parse.
            keep(n) && is_manifesto_target(n)
        })
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    let mut all = Vec::new();
    for name in names {
        all.extend(signers_of(updater, &name).await?);
    }
    Ok(all)
}

/// `found` with each role replaced by its signing role; a signing role that signs the name twice
/// (its own file still holding an entry its bin also holds) counts once, the first found.
pub fn by_signer(found: Vec<TrustedTarget>) -> Vec<TrustedTarget> {
    let mut seen = std::collections::BTreeSet::new();
    found
        .into_iter()
        .map(|t| TrustedTarget {
            role: signer_of(&t.role),
            ..t
        })
        .filter(|t| seen.insert((t.role.clone(), t.name.clone())))
        .collect()
}

/// Whether `role` is manifesto's own structure (the owner's shard root or a bin), which other
/// delegation names must not collide with.
pub fn is_reserved(role: &RoleName) -> bool {
    role.as_str() == OWNER_SHARD_ROOT
        || role.as_str().starts_with(&format!("{OWNER_SHARD_ROOT}/"))
        || bin_of(role).is_some()
}

/// The bin path that lets a bin with `target`'s label hold `target`: `approvals/sha256:3f` for
/// `approvals/sha256:3f…`. `None` for names that are not manifesto targets.
pub fn bin_path(target: &str) -> Option<String> {
    let (prefix, digest) = target.split_once('/')?;
    let digest = Digest::parse(digest).ok()?;
    let algorithm = digest.as_str().split(':').next()?;
    Some(format!("{prefix}/{algorithm}:{}", label(&digest)))
}

/// The label of a manifesto target name (`<type>/<digest>` or `_manifesto/<digest>`).
pub fn label_of_target(target: &str) -> Option<String> {
    let (_, digest) = target.split_once('/')?;
    Digest::parse(digest).ok().map(|d| label(&d).to_owned())
}

/// Whether a delegation path prefix may hold targets whose image digest has label `label`: a
/// walk over one label's bins descends only into delegations with such a path.
pub fn path_may_hold_label(path: &str, label: &str) -> bool {
    let Some((_, rest)) = path.split_once('/') else {
        return true; // "" or a bare type prefix: any digest
    };
    let Some((_, hex)) = rest.split_once(':') else {
        return true;
    };
    hex.starts_with(label) || label.starts_with(hex)
}

/// Whether `name` is a target manifesto writes (and may move into bins): a metadata target or a
/// manifesto-manifest target. Anything else (a Docker Content Trust tag) is another client's.
pub fn is_manifesto_target(name: &str) -> bool {
    let Some((prefix, digest)) = name.split_once('/') else {
        return false;
    };
    (prefix == "_manifesto" || super::MetadataType::parse(prefix).is_ok())
        && Digest::parse(digest).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(hex: &str) -> Digest {
        Digest::parse(&format!("sha256:{hex}{}", "0".repeat(64 - hex.len()))).unwrap()
    }
    fn r(s: &str) -> RoleName {
        RoleName::parse(s).unwrap()
    }

    #[test]
    fn the_owner_bins_under_its_shard_root_and_a_delegate_under_itself() {
        assert_eq!(
            bin_for(&RoleName::targets(), &d("3f")),
            r("targets/_manifesto/3f")
        );
        assert_eq!(bin_for(&r("targets/qa"), &d("a0")), r("targets/qa/a0"));
        assert_eq!(shard_root(&r("targets/qa")), r("targets/qa"));
    }

    #[test]
    fn a_bin_maps_back_to_its_signing_role_and_nothing_else_is_a_bin() {
        assert_eq!(signer_of(&r("targets/_manifesto/3f")), RoleName::targets());
        assert_eq!(signer_of(&r("targets/_manifesto")), RoleName::targets());
        assert_eq!(signer_of(&r("targets/qa/3f")), r("targets/qa"));
        assert_eq!(signer_of(&r("targets/qa")), r("targets/qa"));
        // A top-level delegation named like a label is a delegate, not a bin of `targets`.
        assert_eq!(signer_of(&r("targets/ab")), r("targets/ab"));
        assert_eq!(bin_of(&r("targets/qa/0g")), None);
        assert_eq!(bin_of(&r("targets/qa/abc")), None);
        assert!(is_reserved(&r("targets/_manifesto")));
        assert!(is_reserved(&r("targets/qa/00")));
        assert!(!is_reserved(&r("targets/releases")));
    }

    #[test]
    fn bin_paths_keep_the_type_and_algorithm_and_cut_the_digest_to_its_label() {
        let name = format!("approvals/{}", d("3f"));
        assert_eq!(bin_path(&name).as_deref(), Some("approvals/sha256:3f"));
        assert_eq!(
            bin_path(&format!("_manifesto/{}", d("a1"))).as_deref(),
            Some("_manifesto/sha256:a1")
        );
        assert_eq!(bin_path("v1.4.2"), None);
        assert_eq!(label_of_target(&name).as_deref(), Some("3f"));
        assert!(is_manifesto_target(&name));
        assert!(!is_manifesto_target("v1.4.2"));
        assert!(!is_manifesto_target("releases/v1"));
    }

    #[test]
    fn a_walk_for_one_label_descends_only_where_that_label_can_be() {
        assert!(path_may_hold_label("", "3f"));
        assert!(path_may_hold_label("approvals/", "3f"));
        assert!(path_may_hold_label("approvals/sha256:3f", "3f"));
        assert!(path_may_hold_label("approvals/sha256:3", "3f"));
        assert!(path_may_hold_label("approvals/sha256:3f0", "3f"));
        assert!(!path_may_hold_label("approvals/sha256:a0", "3f"));
        assert!(!path_may_hold_label("_manifesto/sha256:4", "3f"));
    }
}
