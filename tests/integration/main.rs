//! All integration tests, in one test binary so they share one started stack per kind.

mod cli;
mod harness;
mod registry;
