//! Scenario tests driving two endpoints through the [`util::Pair`] harness.

mod dos;
mod engine;
mod exchanges;
mod failures;
mod intermediate;
mod limits;
mod per_resource;
mod selectors;
mod strongswan;
pub(crate) mod util;
