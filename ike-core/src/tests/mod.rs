//! Scenario tests driving two endpoints through the [`util::Pair`] harness.

mod exchanges;
mod failures;
mod per_resource;
pub(crate) mod util;
