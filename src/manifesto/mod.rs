//! The manifesto flows: put, get, list, delete and verify, joining the TUF core and the registry.
//!
//! For now this holds the validated names those flows share; the flows themselves build on the
//! TUF client and publisher.

pub mod delete;
pub mod get;
pub mod index;
pub mod layout;
pub mod metadata_type;
pub mod policy;
pub mod put;
pub mod repair;
pub mod requirement;
pub mod signing;
pub mod verify;

pub use metadata_type::MetadataType;
