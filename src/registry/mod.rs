//! The OCI registry side: image references (`reference`, built from `digest`, `host` and
//! `reference_error`), credentials and the registry client.
//!
//! The registry is only storage: nothing read from it is trusted until it hashes to a digest
//! that came from verified TUF metadata (or, for resolving a tag, from the registry itself).

pub mod client;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod host;
mod operations;
pub mod reference;
pub mod reference_error;

pub use client::{RegistryClient, ResolvedImage};
pub use error::RegistryError;
pub use reference::{Digest, ImageRef};

#[cfg(test)]
pub(crate) use operations::double::MemoryRegistry;
pub(crate) use operations::{Registry, RegistryWrite};
