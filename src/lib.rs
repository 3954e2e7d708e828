//! manifesto: signed metadata for container images, stored in the image's own OCI registry and
//! signed as TUF targets on a Notary server.
//!
//! Layout: [`tuf`] is the pure Notary-dialect TUF core, [`registry`] talks to OCI registries,
//! [`manifesto`] joins them into the put/get/list/verify flows, and [`cli`] turns the command line
//! into those flows. [`failure`] holds the one table of exit codes.

pub mod cli;
pub mod config;
pub mod error;
pub mod failure;
mod fs;
pub mod http;
pub mod keys;
mod layers;
pub mod manifesto;
pub mod notary;
pub mod registry;
pub mod tuf;

pub use error::Error;
pub use failure::Failure;
