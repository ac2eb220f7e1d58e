//! Scenario tests driving two endpoints through the [`util::Pair`] harness.

mod exchanges;
mod failures;
mod per_resource;
mod selectors;
mod strongswan;
pub(crate) mod util;
