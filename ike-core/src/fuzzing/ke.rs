//! Memoized X25519 (RFC 7748, RFC 8031) for the fuzz harnesses.
//!
//! Every input starts from identically seeded endpoints, so the same private
//! keys meet the same peer values input after input, and the scalar
//! multiplications dominated the cost of an input. [`MEMO_X25519`] computes
//! each distinct (private key, peer value) pair once with the real
//! [`X25519`] group, including its length and low-order checks, and replays
//! the result. It draws exactly the random bytes [`X25519`] draws, so SPIs,
//! nonces and keys are those of the real provider.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::ke::X25519;
use crate::crypto::{ActiveKe, CryptoError, CryptoProvider, KeGroup, SecretBytes, SecureRandom};
use crate::wire::KeId;

/// Entries per table before it starts over (bounds the memory of a long run).
const CAPACITY: usize = 4096;

/// X25519 with memoized results.
#[derive(Debug, Clone, Copy)]
pub struct MemoX25519;

/// Group 31, memoized.
pub static MEMO_X25519: MemoX25519 = MemoX25519;

/// SHA-256 of the private key (and the peer value): the tables hold no
/// private key.
type Key = [u8; 32];

#[derive(Default)]
struct Memo {
    publics: HashMap<Key, [u8; 32]>,
    shared: HashMap<Key, Result<SecretBytes, CryptoError>>,
}

fn memo() -> MutexGuard<'static, Memo> {
    static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
    MEMO.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn key(parts: &[&[u8]]) -> Key {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn insert<V>(table: &mut HashMap<Key, V>, k: Key, v: V) {
    if table.len() >= CAPACITY {
        table.clear();
    }
    table.insert(k, v);
}

/// `seeded` with X25519 replaced by [`MEMO_X25519`].
pub fn provider(seed: u64) -> CryptoProvider {
    let mut p = CryptoProvider::seeded(seed);
    for g in &mut p.ke_groups {
        if g.id() == KeId::CURVE25519 {
            *g = &MEMO_X25519;
        }
    }
    p
}

struct Active {
    private: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl KeGroup for MemoX25519 {
    fn id(&self) -> KeId {
        KeId::CURVE25519
    }

    fn public_len(&self) -> usize {
        X25519.public_len()
    }

    fn start(&self, rng: &dyn SecureRandom) -> Result<Box<dyn ActiveKe>, CryptoError> {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill(k.as_mut())?;
        self.import_private(k.as_ref())
    }

    fn import_private(&self, private: &[u8]) -> Result<Box<dyn ActiveKe>, CryptoError> {
        let Ok(k) = <[u8; 32]>::try_from(private) else {
            return X25519.import_private(private);
        };
        let id = key(&[private]);
        let known = memo().publics.get(&id).copied();
        let public = match known {
            Some(p) => p,
            None => {
                let real = X25519.import_private(private)?;
                let mut p = [0u8; 32];
                p.copy_from_slice(real.public());
                insert(&mut memo().publics, id, p);
                p
            }
        };
        Ok(Box::new(Active {
            private: Zeroizing::new(k),
            public,
        }))
    }
}

impl ActiveKe for Active {
    fn group(&self) -> KeId {
        KeId::CURVE25519
    }

    fn public(&self) -> &[u8] {
        &self.public
    }

    fn complete(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        let id = key(&[self.private.as_ref(), peer]);
        let known = memo().shared.get(&id).cloned();
        if let Some(r) = known {
            return r;
        }
        let r = X25519.import_private(self.private.as_ref())?.complete(peer);
        insert(&mut memo().shared, id, r.clone());
        r
    }
}
