//! Plaintext payload chains of CREATE_CHILD_SA requests (RFC 7296 §1.3) into an
//! established responder, sealed with the IKE SA's real keys so they get past the ICV
//! check; see `ike_core::fuzzing::sk` for the input format.
#![no_main]

use ike_core::fuzzing::sk::{self, Start};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sk::run(Start::Established, data));
