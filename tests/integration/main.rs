//! All integration tests, in one test binary so they share one started stack per kind.

mod cli;
mod clock;
mod crash;
mod get_attacks;
mod go_notary;
mod harness;
mod hostile;
mod keys;
mod lifecycle;
mod local_faults;
mod manifesto;
mod notary_http;
mod production;
mod production_attacks;
mod publish;
mod registry;
mod repair;
mod rotate;
mod scene;
mod threshold_attacks;
mod transport;
mod trust;
mod trust_attacks;
mod verify;
mod version_edges;
