//! manifesto: signed metadata for container images, stored in the image's own OCI registry and
//! signed as TUF targets on a Notary server.

pub mod failure;
pub mod registry;
pub mod tuf;

pub use failure::Failure;
