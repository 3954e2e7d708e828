//! The manifesto flows: put, get, list, delete and verify, joining the TUF core and the registry.
//!
//! One file per flow (`put`, `get`, `list`, `delete`, `repair`, `verify`, `init`, `delegate`,
//! `rotate`, `inspect`), plus what they share: the registry layout (`layout`), the `_manifesto`
//! index (`index`), validated metadata types and requirements, and policy files. Signing keys
//! are found in `crate::keys::signing`.

pub mod batch;
pub mod bundle;
pub mod copy;
pub mod copy_image;
pub mod delegate;
pub mod delete;
#[cfg(test)]
mod flow_tests;
pub mod get;
pub mod get_policy;
pub mod hints;
pub mod index;
pub mod init;
pub mod inspect;
pub mod key;
pub mod layout;
pub mod list;
pub mod metadata_type;
pub mod offline_root;
#[cfg(feature = "policy")]
pub mod policy;
/// Without the `policy` feature, `verify --policy` is refused (exit 2); same API, no Rego.
#[cfg(not(feature = "policy"))]
#[path = "policy_unsupported.rs"]
pub mod policy;
pub mod policy_error;
pub mod put;
pub(crate) mod remote;
pub mod repair;
pub mod requirement;
pub mod rotate;
mod sha512_writer;
pub mod shard;
#[cfg(test)]
mod shard_tests;
pub mod shard_write;
pub mod signed_tag;
pub mod verify;

pub use metadata_type::MetadataType;
