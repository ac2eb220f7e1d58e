//! Helpers shared by the vector tests.

use std::collections::HashMap;

/// Bytes of an even-length hex string.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// "<name> <hex>" lines as a map.
pub fn named_hex(text: &'static str) -> HashMap<&'static str, Vec<u8>> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k, unhex(v)))
        .collect()
}
