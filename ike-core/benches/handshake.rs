//! Full IKE_SA_INIT [+ IKE_INTERMEDIATE] + IKE_AUTH handshakes (one Child
//! SA, both endpoints in-process), each next to its "physical floor": the
//! same handshake's key exchange, PRF, AEAD and public-key work alone
//! (`crypto::floor::handshake_crypto_with`), measured in the same rounds:
//! - `handshake`: PSK, aes128gcm16-prfsha256-x25519;
//! - `handshake-ecdsa`: ECDSA P-256 certificates both ways (RFC 7427), one CA;
//! - `handshake-rsa`: RSA-2048 certificates both ways (PKCS#1 v1.5), one CA;
//! - `handshake-hybrid`: PSK, aes128gcm16-prfsha256-x25519-ke1_mlkem768
//!   (RFC 9370 over RFC 9242).
//!
//! Target for each: engine ≤ 1.5 × floor (on medians); the hybrid engine
//! over the plain X25519 engine is printed for information.
//!
//! Run: `cargo bench -p ike-core --bench handshake -- [ITERATIONS] [ROUNDS] [SEED]`
//! (plain binary, no criterion).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use der::Decode;
use der::asn1::{GeneralizedTime, Ia5String};
use ike_core::crypto::floor::{CertSide, Handshake, handshake_crypto_with};
use ike_core::crypto::{ChildSuite, CryptoProvider, IkeSuite};
use ike_core::pki::{CertChain, Certificate, LocalCert, PrivateKey, TrustStore, UnixTime};
use ike_core::wire::{EncrId, ExchangeType, IntegId, KeId, PrfId};
use ike_core::{
    ChildConfig, ConnectionConfig, Endpoint, EndpointConfig, Event, Identity, Proposal, Psk,
    TrafficSelector,
};
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// The wall-clock time the endpoints are told (2027-01-15); the test
/// certificates are valid around it.
const NOW: u64 = 1_800_000_000;

const A: &str = "a.lanes.test";
const B: &str = "b.lanes.test";

/// One side's certificate, its key and the CA that issued it.
struct Cert {
    key: Arc<LocalCert>,
    ca: Certificate,
}

#[derive(Clone, Copy)]
enum Kind {
    Psk,
    Ecdsa,
    Rsa,
    Hybrid,
}

impl Kind {
    fn measurement(self) -> &'static str {
        match self {
            Self::Psk => "handshake",
            Self::Ecdsa => "handshake-ecdsa",
            Self::Rsa => "handshake-rsa",
            Self::Hybrid => "handshake-hybrid",
        }
    }

    fn ike(self) -> &'static str {
        match self {
            Self::Hybrid => "aes128gcm16-prfsha256-x25519-ke1_mlkem768",
            _ => "aes128gcm16-prfsha256-x25519",
        }
    }

    fn additional(self) -> &'static [KeId] {
        match self {
            Self::Hybrid => &[KeId::ML_KEM_768],
            _ => &[],
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Psk => "PSK, aes128gcm16-prfsha256-x25519",
            Self::Ecdsa => "ECDSA P-256 certificates both ways, RFC 7427, x25519",
            Self::Rsa => "RSA-2048 certificates both ways, RFC 7427, x25519",
            Self::Hybrid => "PSK, aes128gcm16-prfsha256-x25519-ke1_mlkem768",
        }
    }

    fn floor(self) -> &'static str {
        match self {
            Self::Psk => "DH + PRF + AEAD",
            Self::Ecdsa | Self::Rsa => {
                "DH + PRF + AEAD + 2 signatures, 2 AUTH and 2 CA signature checks"
            }
            Self::Hybrid => {
                "X25519 + ML-KEM-768 keygen/encaps/decaps + PRF (incl. IntAuth, key update) + AEAD"
            }
        }
    }
}

fn conn(
    kind: Kind,
    local: &str,
    remote: &str,
    me: &str,
    peer: &str,
    nets: [&str; 2],
) -> ConnectionConfig {
    let ts = |s: &str| {
        let (a, p) = s.split_once('/').expect("cidr");
        TrafficSelector::subnet(a.parse().expect("ip"), p.parse().expect("prefix"))
    };
    let mut c = ConnectionConfig::new(
        "net",
        local.parse().expect("addr"),
        Identity::Fqdn(me.into()),
        Psk::new(b"lanes-test-psk-0a1b2c3d4e5f60718293".to_vec()),
    );
    c.remote = Some(remote.parse().expect("addr"));
    c.remote_id = Some(Identity::Fqdn(peer.into()));
    c.initial_contact = false;
    c.ike_proposals = vec![Proposal::parse_ike(kind.ike()).expect("ike")];
    let mut ch = ChildConfig::new("net", 1);
    ch.esp_proposals = vec![Proposal::parse_esp("aes128gcm16").expect("esp")];
    ch.local_ts = vec![ts(nets[0])];
    ch.remote_ts = vec![ts(nets[1])];
    c.children = vec![ch];
    c
}

fn validity() -> Validity {
    let t = |s| {
        Time::GeneralTime(
            GeneralizedTime::from_unix_duration(Duration::from_secs(s)).expect("time"),
        )
    };
    Validity {
        not_before: t(NOW - 86_400 * 300),
        not_after: t(NOW + 86_400 * 300),
    }
}

fn spki_of(k: &PrivateKey) -> SubjectPublicKeyInfoOwned {
    let der = match k {
        PrivateKey::Rsa(k) => k.to_public_key().to_public_key_der(),
        PrivateKey::P256(k) => k.verifying_key().to_public_key_der(),
        _ => unreachable!("the bench makes RSA and P-256 keys only"),
    }
    .expect("spki");
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).expect("spki")
}

const CA: &str = "CN=Bench CA,O=lanes";

/// Issues a certificate for `key` signed by the CA key `by` (RSA with
/// PKCS#1 v1.5 SHA-256, or ECDSA P-256 SHA-256).
fn issue(
    profile: Profile,
    serial: u32,
    subject: &str,
    key: &PrivateKey,
    by: &PrivateKey,
    san: Option<&str>,
) -> Certificate {
    let name = Name::from_str(subject).expect("dn");
    let spki = spki_of(key);
    macro_rules! build {
        ($signer:expr, $sig:ty) => {{
            let mut b = CertificateBuilder::new(
                profile,
                SerialNumber::from(serial),
                validity(),
                name,
                spki,
                $signer,
            )
            .expect("builder");
            if let Some(s) = san {
                let dns = GeneralName::DnsName(Ia5String::new(s).expect("ia5"));
                b.add_extension(&SubjectAltName(vec![dns])).expect("san");
            }
            b.build::<$sig>().expect("certificate")
        }};
    }
    match by {
        PrivateKey::Rsa(k) => {
            let s = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**k).clone());
            build!(&s, rsa::pkcs1v15::Signature)
        }
        PrivateKey::P256(k) => build!(k, p256::ecdsa::DerSignature),
        _ => unreachable!("the bench makes RSA and P-256 keys only"),
    }
}

/// A CA and two end-entity certificates for [`A`] and [`B`], all with
/// `key(0)` (CA), `key(1)` and `key(2)`.
fn certs(key: impl Fn(u8) -> PrivateKey) -> [Cert; 2] {
    let ca_key = key(0);
    let ca = issue(Profile::Root, 1, CA, &ca_key, &ca_key, None);
    [(1u8, A), (2, B)].map(|(n, name)| {
        let k = key(n);
        let leaf = Profile::Leaf {
            issuer: Name::from_str(CA).expect("dn"),
            enable_key_agreement: false,
            enable_key_encipherment: false,
            include_subject_key_identifier: true,
        };
        let ee = issue(
            leaf,
            10 + u32::from(n),
            &format!("CN={name},O=lanes"),
            &k,
            &ca_key,
            Some(name),
        );
        let chain = CertChain {
            ee,
            intermediates: Vec::new(),
        };
        Cert {
            key: Arc::new(LocalCert::new(chain, k).expect("key matches certificate")),
            ca: ca.clone(),
        }
    })
}

fn rsa_key(n: u8) -> PrivateKey {
    use rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([n + 1; 32]);
    PrivateKey::Rsa(Box::new(
        rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa key"),
    ))
}

fn p256_key(n: u8) -> PrivateKey {
    PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[n + 1; 32]).expect("p256 key"))
}

/// One handshake variant: its endpoints' configurations and floor inputs.
struct Variant {
    kind: Kind,
    configs: [EndpointConfig; 2],
    certs: Option<[Cert; 2]>,
    /// Bytes of the IKE_AUTH request and response (all fragments), from the warm-up.
    auth_lens: [usize; 2],
}

impl Variant {
    fn new(kind: Kind) -> Self {
        let certs = match kind {
            Kind::Ecdsa => Some(certs(p256_key)),
            Kind::Rsa => Some(certs(rsa_key)),
            Kind::Psk | Kind::Hybrid => None,
        };
        let nets = ["192.168.1.0/24", "192.168.2.0/24"];
        let mut a = conn(kind, "10.0.0.1:500", "10.0.0.2:500", A, B, nets);
        let mut b = conn(
            kind,
            "10.0.0.2:500",
            "10.0.0.1:500",
            B,
            A,
            [nets[1], nets[0]],
        );
        if let Some([ca, cb]) = &certs {
            for (c, own, peer) in [(&mut a, ca, cb), (&mut b, cb, ca)] {
                c.local_cert = Some(own.key.clone());
                c.remote_ca = Some(Arc::new(TrustStore {
                    cas: vec![peer.ca.clone()],
                    ..TrustStore::default()
                }));
            }
        }
        let cfg = |c| EndpointConfig {
            connections: vec![c],
            ..EndpointConfig::default()
        };
        Self {
            kind,
            configs: [cfg(a), cfg(b)],
            certs,
            auth_lens: [0; 2],
        }
    }

    fn endpoints(&self, now: Instant) -> (Endpoint, Endpoint) {
        let ep = |c: &EndpointConfig| {
            let mut e = Endpoint::new(c.clone(), CryptoProvider::rust_crypto());
            e.set_wall_clock(now, UnixTime(NOW));
            e
        };
        (ep(&self.configs[0]), ep(&self.configs[1]))
    }

    fn floor(&self, provider: &CryptoProvider) {
        let sides = self.certs.as_ref().map(|c| {
            [0, 1].map(|k| CertSide {
                key: &c[k].key.key,
                cert: &c[k].key.chain.ee,
                ca: &c[k].ca,
            })
        });
        let hs = Handshake {
            suite: SUITE,
            child: CHILD,
            additional: self.kind.additional(),
            auth_msg_lens: self.auth_lens,
            certs: sides,
        };
        handshake_crypto_with(provider, &hs).expect("floor");
    }
}

const SUITE: IkeSuite = IkeSuite {
    encr: EncrId::AES_GCM_16,
    encr_key_bits: Some(128),
    prf: PrfId::HMAC_SHA2_256,
    integ: IntegId::NONE,
    ke: KeId::CURVE25519,
};

const CHILD: ChildSuite = ChildSuite {
    encr: EncrId::AES_GCM_16,
    encr_key_bits: Some(128),
    integ: IntegId::NONE,
    esn: false,
    ke: None,
};

/// Shuttles datagrams until both sides are quiet; returns the bytes of the
/// IKE_AUTH request and response datagrams (all fragments).
fn run(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> [usize; 2] {
    let mut auth = [0; 2];
    let mut count = |d: &[u8]| {
        // RFC 7296 §3.1: exchange type at octet 18, the R flag (0x20) at 19.
        if d.get(18) == Some(&ExchangeType::IKE_AUTH.0) {
            auth[usize::from(d.get(19).is_some_and(|f| f & 0x20 != 0))] += d.len();
        }
    };
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now) {
            count(&t.data);
            b.handle_datagram(now, t.local, t.remote, &t.data);
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now) {
            count(&t.data);
            a.handle_datagram(now, t.local, t.remote, &t.data);
            moved = true;
        }
        if !moved {
            return auth;
        }
    }
}

fn handshake(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> [usize; 2] {
    let id = a.initiate(now, "net").expect("initiate");
    let n = run(a, b, now);
    assert!(a.is_established(id), "handshake failed");
    let mut children = 0;
    for ep in [&mut *a, &mut *b] {
        while let Some(e) = ep.poll_event() {
            children += usize::from(matches!(e, Event::ChildSaReady(_)));
        }
    }
    assert_eq!(children, 2);
    n
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // [ITERATIONS] [ROUNDS] [SEED]
    let nums: Vec<u32> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let iters = nums.first().copied().unwrap_or(400);
    let rounds = nums.get(1).copied().unwrap_or(5).max(1);
    let mut seed = nums
        .get(2)
        .copied()
        .filter(|s| *s != 0)
        .unwrap_or(0x2545_f491);
    let per_round = (iters / rounds).max(1);
    let now = Instant::now();
    let provider = CryptoProvider::rust_crypto();
    let mut variants: Vec<Variant> = [Kind::Psk, Kind::Ecdsa, Kind::Rsa, Kind::Hybrid]
        .into_iter()
        .map(Variant::new)
        .collect();

    // Warm up every engine and floor; the engine's IKE_AUTH sizes feed its floor.
    for v in &mut variants {
        let (mut a, mut b) = v.endpoints(now);
        for _ in 0..20 {
            v.auth_lens = handshake(&mut a, &mut b, now);
            v.floor(&provider);
        }
    }

    // Interleave rounds: every round runs all arms of all variants in an
    // order shuffled per round, so each engine and its floor (and the
    // hybrid and plain engines) see the same machine state; round 0 is a
    // discarded warm-up. Every kept round is printed as an @@RAW line for
    // `cargo xtask bench`.
    for v in &variants {
        println!(
            "@@TARGET {} ratio engine floor <= 1.5",
            v.kind.measurement()
        );
    }
    let arms = variants.len() * 2;
    let mut kept: Vec<[Vec<f64>; 2]> = variants.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for round in 0..=rounds {
        let mut order: Vec<usize> = (0..arms).collect();
        for i in (1..arms).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            order.swap(i, seed as usize % (i + 1));
        }
        let warm = u8::from(round == 0);
        for (slot, &arm) in order.iter().enumerate() {
            let (v, engine) = (&variants[arm / 2], arm % 2 == 0);
            let spent = if engine {
                let (mut a, mut b) = v.endpoints(now);
                let t = Instant::now();
                for _ in 0..per_round {
                    std::hint::black_box(handshake(&mut a, &mut b, now));
                }
                t.elapsed()
            } else {
                let t = Instant::now();
                for _ in 0..per_round {
                    v.floor(&provider);
                }
                t.elapsed()
            };
            let us = spent.as_secs_f64() * 1e6 / f64::from(per_round);
            if round > 0 {
                kept[arm / 2][usize::from(!engine)].push(us);
            }
            let name = if engine { "engine" } else { "floor" };
            let m = v.kind.measurement();
            println!("@@RAW {m} {name} {round} {slot} {warm} {us:.2} us");
        }
    }

    println!("IKE_SA_INIT [+ IKE_INTERMEDIATE] + IKE_AUTH, 1 child, both sides in-process;");
    println!(
        "{rounds} kept rounds of {per_round} handshakes per arm, medians [min-max] in µs/handshake"
    );
    let mut engines = Vec::new();
    for (v, k) in variants.iter().zip(&mut kept) {
        let [e, f] = k;
        let range = |x: &[f64]| {
            let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = x.iter().copied().fold(0.0, f64::max);
            format!("[{lo:.1}-{hi:.1}]")
        };
        let (re, rf) = (range(e), range(f));
        let (me, mf) = (median(e), median(f));
        engines.push(me);
        println!(
            "{} ({}; IKE_AUTH {}+{} bytes)",
            v.kind.measurement(),
            v.kind.what(),
            v.auth_lens[0],
            v.auth_lens[1]
        );
        println!("  full engine : {me:9.1} {re}");
        println!("  crypto floor: {mf:9.1} {rf}  ({})", v.kind.floor());
        println!("  ratio       : {:9.2}x  (target <= 1.5x)", me / mf);
    }
    println!(
        "hybrid / plain X25519 engine: {:.2}x (information, no target)",
        engines[3] / engines[0]
    );
}
