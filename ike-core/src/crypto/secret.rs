//! A byte buffer for key material: zeroized on drop, redacted in `Debug`.

use core::fmt;
use core::ops::Deref;

use zeroize::Zeroizing;

/// Secret bytes (keys, shared secrets, SKEYSEED). `Debug` prints only the
/// length; the memory is wiped on drop.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `v`.
    pub fn new(v: Vec<u8>) -> Self {
        Self(Zeroizing::new(v))
    }

    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        Self::new(vec![0; len])
    }

    /// A copy of `s`.
    pub fn from_slice(s: &[u8]) -> Self {
        Self::new(s.to_vec())
    }

    /// The bytes, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }

    /// The inner zeroizing buffer (for handing keys to other crates).
    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl Deref for SecretBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Constant-time comparison (the contents are secret).
impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}
