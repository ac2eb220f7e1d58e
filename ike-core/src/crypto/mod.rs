//! Swappable crypto provider, prf+, SKEYSEED and KEYMAT (RFC 7296
//! §2.13–§2.18), PSK AUTH (§2.15) and SK payload protection (§3.14).
//!
//! # Why RustCrypto
//!
//! Every primitive comes from the RustCrypto project (`sha2`, `hmac`,
//! `aes`, `aes-gcm`, `cbc`, `chacha20poly1305`, `x25519-dalek`, `p256`,
//! `p384`, `crypto-bigint`): pure Rust, no C compiler, cmake or assembler
//! step (aws-lc-rs and ring need one, which is slow on the small build
//! machines this project uses), audited or widely deployed, constant-time
//! by design, and with zeroize support. AES uses AES-NI when the CPU has
//! it (runtime detection). The provider is a plain value, so a
//! FIPS or hardware-backed implementation can replace it.
//!
//! # Using it
//!
//! ```text
//! let provider = CryptoProvider::rust_crypto();       // or ::seeded(42) in tests
//! // IKE_SA_INIT
//! let ke = provider.ke(KeId::CURVE25519)?.start(provider.random.as_ref())?;
//! send KE { group, data: ke.public().to_vec() }, Ni = provider.random_nonce(32)?;
//! let g_ir = ke.complete(&peer_ke.data)?;                // validates the peer value
//! let suite = IkeSuite::from_proposal(&chosen_proposal).unwrap();
//! let mut sa = IkeSaCrypto::derive(&provider, suite, &g_ir, ni, nr, spi_i, spi_r, we_are_initiator)?;
//! // IKE_AUTH
//! let auth = sa.own_psk_auth(psk, &our_ike_sa_init_bytes, peer_nonce, &our_id);
//! sa.seal(&provider, &header, &[Payload::Idi(..), Payload::Auth(..), ..], &mut out)?;
//! match sa.open(datagram) { Err(OpenError::IntegrityCheckFailed) => drop silently, .. }
//! sa.verify_peer_psk_auth(psk, &peer_ike_sa_init_bytes, own_nonce, &peer_id, &auth.data);
//! // Child SA
//! let keys = sa.child_keys(&provider, &ChildSuite::from_proposal(&p).unwrap(), pfs_g_ir, ni, nr)?;
//! // IKE rekey
//! let new_sa = sa.derive_rekey(&provider, new_suite, &g_ir, ni, nr, new_spi_i, new_spi_r, we_initiated)?;
//! ```
//!
//! Lower-level pieces ([`prf::prf_plus`], [`keymat`], [`auth`], [`sk`]) are
//! public for tests and for code that keeps its own key state. The
//! benchmark hooks in [`floor`] measure the cost of the raw operations.
//!
//! Supported: KE 31 (x25519), 32 (x448), 19/20/21 (ecp256/384/521),
//! 14/15/16/18 (modp2048..8192), ML-KEM; PRF HMAC-SHA2-256/384/512; ENCR
//! AES-GCM-16 and AES-CCM-8/12/16 (128/192/256), AES-CBC (128/192/256) with
//! AUTH_HMAC_SHA2_256_128/384_192/512_256, ChaCha20-Poly1305. Legacy, for
//! connections that allow it: KE 2 (modp1024), PRF_HMAC_SHA1,
//! AUTH_HMAC_SHA1_96.
//!
//! Secrets live in [`SecretBytes`] (zeroized on drop, `Debug` redacted).

pub mod auth;
pub mod cipher;
mod error;
pub mod esp;
pub mod floor;
mod ike;
pub mod ke;
pub mod keymat;
pub mod prf;
mod provider;
mod random;
mod secret;
pub mod sk;
mod suite;

pub use cipher::{EncrAlgorithm, IntegAlgorithm, SkKey};
pub use error::CryptoError;
pub use ike::IkeSaCrypto;
pub use ke::{ActiveKe, KeGroup};
pub use keymat::{ChildKeys, IkeKeyLengths, IkeKeys};
pub use prf::{Prf, PrfKey};
pub use provider::CryptoProvider;
pub use random::{OsRandom, SecureRandom, SeededRandom};
pub use secret::SecretBytes;
pub use sk::OpenError;
pub use suite::{ChildSuite, IkeSuite, ResolvedSuite};
