//! The XDP object embedded at build time (see `build.rs`).

use crate::Error;

/// The object bytes, 8-byte aligned as the ELF parser wants; empty when the
/// crate was built before `cargo xtask build`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lanes-steer.o"));

/// The embedded object, or [`Error::ObjectNotBuilt`].
pub fn object() -> Result<&'static [u8], Error> {
    if OBJECT.is_empty() {
        Err(Error::ObjectNotBuilt)
    } else {
        Ok(OBJECT)
    }
}

/// Whether the object was embedded (tests skip themselves otherwise).
pub fn object_built() -> bool {
    !OBJECT.is_empty()
}
