//! Scenario tests driving two endpoints through the [`util::Pair`] harness.

mod exchanges;
mod failures;
mod limits;
mod per_resource;
mod strongswan;
pub(crate) mod util;
