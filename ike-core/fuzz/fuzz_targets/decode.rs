//! Decoder fuzz target: decoding never panics, and whatever decodes
//! re-encodes to something that decodes to the same message.
#![no_main]

use ike_core::wire::Message;
use ike_core::wire::natt::strip_marker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let data = strip_marker(data).unwrap_or(data);
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.to_bytes()).expect("re-encoded message must decode");
        assert_eq!(again.payloads, m.payloads);
        let _ = m.unsupported_critical();
    }
});
