//! Sequences of network faults, time steps, API commands and kernel events
//! between two endpoints, with invariant checks after each step and once
//! settled; see `ike_core::fuzzing::sequence`.
#![no_main]

use ike_core::fuzzing::sequence::{self, Action};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|actions: Vec<Action>| sequence::run(&actions));
