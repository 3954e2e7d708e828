//! The manifesto flows: put, get, list, delete and verify, joining the TUF core and the registry.
//!
//! One file per flow (`put`, `get`, `delete`, `repair`, `verify`), plus what they share: the
//! registry layout (`layout`), the `_manifesto` index (`index`), finding signing keys
//! (`signing`), validated metadata types and requirements, and policy files.

pub mod delete;
pub mod get;
pub mod index;
pub mod layout;
pub mod metadata_type;
#[cfg(feature = "policy")]
pub mod policy;
/// Without the `policy` feature, `verify --policy` is refused (exit 2); same API, no Rego.
#[cfg(not(feature = "policy"))]
#[path = "policy_unsupported.rs"]
pub mod policy;
pub mod put;
pub mod repair;
pub mod requirement;
pub mod signing;
pub mod verify;

pub use metadata_type::MetadataType;
