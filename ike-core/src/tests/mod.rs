//! Scenario tests driving two endpoints through the [`util::Pair`] harness.

mod certs;
mod child_close;
mod dos;
mod engine;
mod exchange_counts;
mod exchanges;
mod failures;
mod frag;
mod intermediate;
mod legacy;
mod limits;
mod mobility;
mod per_resource;
mod recovery;
mod rekey_collision;
mod rekey_ke;
mod selectors;
mod strongswan;
pub(crate) mod util;
