//! Proposals in strongSwan's string syntax and proposal selection (RFC 7296 §2.7, §3.3).
//!
//! `aes128gcm16-prfsha256-x25519` (IKE), `aes256-sha384-ecp384` (IKE, PRF from the
//! integrity algorithm), `aes128gcm16-x25519-esn` (ESP with PFS and ESN), `aes256-sha256` (ESP).
//! `ke1_mlkem768` … `ke7_…` add key exchanges of transform types 6..12 and `ke1_none`
//! makes one optional (RFC 9370 §2.2).
//!
//! `sha1`, `prfsha1` and `modp1024` parse too; [`Proposal::legacy`] names them so a
//! configuration can refuse them unless it allows legacy algorithms.

use core::fmt;

use crate::wire::enums::{EncrId, EsnId, IntegId, KeId, PrfId, ProtocolId, TransformType};
use crate::wire::payload as wire;

/// An encryption transform with its key length in bits (Key Length attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encr {
    /// Transform ID.
    pub id: EncrId,
    /// Key Length attribute, in bits; `None` for fixed-size ciphers (ChaCha20-Poly1305).
    pub key_bits: Option<u16>,
}

impl Encr {
    /// Whether this is an AEAD cipher (no separate integrity transform).
    pub fn is_aead(self) -> bool {
        matches!(
            self.id,
            EncrId::AES_GCM_8
                | EncrId::AES_GCM_12
                | EncrId::AES_GCM_16
                | EncrId::AES_CCM_8
                | EncrId::AES_CCM_12
                | EncrId::AES_CCM_16
                | EncrId::CHACHA20_POLY1305
        )
    }
}

/// One configured proposal: for each transform type, the acceptable algorithms, most preferred first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// IKE or ESP.
    pub protocol: ProtocolId,
    /// Encryption algorithms.
    pub encr: Vec<Encr>,
    /// PRFs (IKE only).
    pub prf: Vec<PrfId>,
    /// Integrity algorithms (empty for AEAD).
    pub integ: Vec<IntegId>,
    /// Key exchange methods (empty for ESP without PFS).
    pub ke: Vec<KeId>,
    /// ESN choices (ESP only).
    pub esn: Vec<EsnId>,
    /// Additional key exchanges 1..7 (RFC 9370 §2.2); `KeId::NONE` makes one optional.
    pub ake: [Vec<KeId>; 7],
}

/// The single set of transforms both peers agreed on. Small and `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selected {
    /// Encryption.
    pub encr: Encr,
    /// PRF (IKE SAs only).
    pub prf: Option<PrfId>,
    /// Integrity (`None` for AEAD).
    pub integ: Option<IntegId>,
    /// Key exchange method (`None` for ESP without PFS).
    pub ke: Option<KeId>,
    /// Extended sequence numbers (ESP only).
    pub esn: bool,
    /// Additional key exchanges 1..7 (RFC 9370 §2.2); `None` where not used.
    pub ake: [Option<KeId>; 7],
}

impl Selected {
    /// The additional key exchanges in the order they run (RFC 9370 §2.2.2).
    pub fn additional(&self) -> impl Iterator<Item = KeId> + '_ {
        self.ake.iter().flatten().copied()
    }
}

/// A proposal string that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// A keyword is not known; the message lists the accepted ones.
    #[error(
        "unknown proposal keyword {0:?}; use e.g. aes128gcm16, aes256, sha256, prfsha256, x25519, ecp256, modp2048, esn"
    )]
    UnknownKeyword(String),
    /// A keyword is not valid for this protocol.
    #[error("keyword {keyword:?} is not allowed in an {protocol} proposal")]
    WrongProtocol {
        /// The keyword.
        keyword: String,
        /// "IKE" or "ESP".
        protocol: &'static str,
    },
    /// The proposal lacks an encryption algorithm.
    #[error("proposal {0:?} has no encryption algorithm; add e.g. aes128gcm16 or aes256")]
    NoEncryption(String),
    /// A non-AEAD proposal lacks an integrity algorithm.
    #[error("proposal {0:?} uses a non-AEAD cipher but no integrity algorithm; add e.g. sha256")]
    NoIntegrity(String),
    /// An IKE proposal lacks a key exchange method.
    #[error("IKE proposal {0:?} has no key exchange method; add e.g. x25519")]
    NoKe(String),
    /// An additional key exchange (RFC 9370) without a main one.
    #[error(
        "proposal {0:?} has ke1_..ke7_ but no key exchange method; add e.g. x25519 before them"
    )]
    AddKeWithoutKe(String),
    /// AEAD and non-AEAD ciphers are mixed in one proposal.
    #[error("proposal {0:?} mixes AEAD and non-AEAD ciphers; split it into two proposals")]
    MixedAead(String),
}

enum Keyword {
    Encr(Encr),
    Integ(IntegId),
    Prf(PrfId),
    Ke(KeId),
    Esn(EsnId),
    /// `keN_<method>` (N = 1..7) or `keN_none`.
    AddKe(usize, KeId),
}

fn keyword(k: &str) -> Option<Keyword> {
    if let Some((n, m)) = k.strip_prefix("ke").and_then(|r| r.split_once('_'))
        && let Ok(n @ 1..=7) = n.parse::<usize>()
    {
        return match m {
            "none" => Some(Keyword::AddKe(n - 1, KeId::NONE)),
            m => match keyword(m)? {
                Keyword::Ke(id) => Some(Keyword::AddKe(n - 1, id)),
                _ => None,
            },
        };
    }
    let encr = |id, bits| Some(Keyword::Encr(Encr { id, key_bits: bits }));
    let gcm = |rest: &str| -> Option<EncrId> {
        match rest {
            "gcm16" | "gcm128" | "gcm" => Some(EncrId::AES_GCM_16),
            "gcm12" | "gcm96" => Some(EncrId::AES_GCM_12),
            "gcm8" | "gcm64" => Some(EncrId::AES_GCM_8),
            // RFC 4309 (ESP) and RFC 5282 (IKE), as strongSwan spells them.
            "ccm16" | "ccm128" | "ccm" => Some(EncrId::AES_CCM_16),
            "ccm12" | "ccm96" => Some(EncrId::AES_CCM_12),
            "ccm8" | "ccm64" => Some(EncrId::AES_CCM_8),
            _ => None,
        }
    };
    for bits in [128u16, 192, 256] {
        if let Some(rest) = k.strip_prefix(&format!("aes{bits}")) {
            if rest.is_empty() {
                return encr(EncrId::AES_CBC, Some(bits));
            }
            return gcm(rest).and_then(|id| encr(id, Some(bits)));
        }
    }
    Some(match k {
        "aes" => return encr(EncrId::AES_CBC, Some(128)),
        "chacha20poly1305" => return encr(EncrId::CHACHA20_POLY1305, None),
        "sha1" | "sha" => Keyword::Integ(IntegId::HMAC_SHA1_96),
        "sha256" | "sha2_256" => Keyword::Integ(IntegId::HMAC_SHA2_256_128),
        "sha384" | "sha2_384" => Keyword::Integ(IntegId::HMAC_SHA2_384_192),
        "sha512" | "sha2_512" => Keyword::Integ(IntegId::HMAC_SHA2_512_256),
        "prfsha1" => Keyword::Prf(PrfId::HMAC_SHA1),
        "prfsha256" | "prfsha2_256" => Keyword::Prf(PrfId::HMAC_SHA2_256),
        "prfsha384" | "prfsha2_384" => Keyword::Prf(PrfId::HMAC_SHA2_384),
        "prfsha512" | "prfsha2_512" => Keyword::Prf(PrfId::HMAC_SHA2_512),
        "x25519" | "curve25519" => Keyword::Ke(KeId::CURVE25519),
        "x448" | "curve448" => Keyword::Ke(KeId::CURVE448),
        "ecp256" => Keyword::Ke(KeId::ECP_256),
        "ecp384" => Keyword::Ke(KeId::ECP_384),
        "ecp521" => Keyword::Ke(KeId::ECP_521),
        "modp1024" => Keyword::Ke(KeId::MODP_1024),
        "modp2048" => Keyword::Ke(KeId::MODP_2048),
        "modp3072" => Keyword::Ke(KeId::MODP_3072),
        "modp4096" => Keyword::Ke(KeId::MODP_4096),
        "modp8192" => Keyword::Ke(KeId::MODP_8192),
        "mlkem512" => Keyword::Ke(KeId::ML_KEM_512),
        "mlkem768" => Keyword::Ke(KeId::ML_KEM_768),
        "mlkem1024" => Keyword::Ke(KeId::ML_KEM_1024),
        "esn" => Keyword::Esn(EsnId::ESN),
        "noesn" => Keyword::Esn(EsnId::NO_ESN),
        _ => return None,
    })
}

fn prf_for(integ: IntegId) -> Option<PrfId> {
    match integ {
        IntegId::HMAC_SHA1_96 => Some(PrfId::HMAC_SHA1),
        IntegId::HMAC_SHA2_256_128 => Some(PrfId::HMAC_SHA2_256),
        IntegId::HMAC_SHA2_384_192 => Some(PrfId::HMAC_SHA2_384),
        IntegId::HMAC_SHA2_512_256 => Some(PrfId::HMAC_SHA2_512),
        _ => None,
    }
}

fn push<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl Proposal {
    /// Parses an IKE proposal (`aes128gcm16-prfsha256-x25519`).
    ///
    /// Without a `prf*` keyword the PRFs follow the integrity algorithms, or for AEAD
    /// ciphers default to `prfsha256-prfsha384-prfsha512` (strongSwan does the same).
    pub fn parse_ike(s: &str) -> Result<Self, ProposalError> {
        let mut p = Self::parse(s, ProtocolId::IKE)?;
        if p.prf.is_empty() {
            if p.integ.is_empty() {
                p.prf = vec![
                    PrfId::HMAC_SHA2_256,
                    PrfId::HMAC_SHA2_384,
                    PrfId::HMAC_SHA2_512,
                ];
            } else {
                p.prf = p.integ.iter().filter_map(|i| prf_for(*i)).collect();
            }
        }
        if p.ke.is_empty() {
            return Err(ProposalError::NoKe(s.into()));
        }
        Ok(p)
    }

    /// Parses an ESP proposal (`aes128gcm16-x25519-esn`, `aes256-sha256`).
    /// Without `esn`/`noesn` the proposal uses no ESN.
    pub fn parse_esp(s: &str) -> Result<Self, ProposalError> {
        let mut p = Self::parse(s, ProtocolId::ESP)?;
        if p.esn.is_empty() {
            p.esn.push(EsnId::NO_ESN);
        }
        Ok(p)
    }

    fn parse(s: &str, protocol: ProtocolId) -> Result<Self, ProposalError> {
        let mut p = Self {
            protocol,
            encr: Vec::new(),
            prf: Vec::new(),
            integ: Vec::new(),
            ke: Vec::new(),
            esn: Vec::new(),
            ake: Default::default(),
        };
        let proto_name = if protocol == ProtocolId::IKE {
            "IKE"
        } else {
            "ESP"
        };
        for word in s.trim().split('-') {
            let word = word.trim().to_ascii_lowercase();
            match keyword(&word) {
                None => return Err(ProposalError::UnknownKeyword(word)),
                Some(Keyword::Encr(e)) => push(&mut p.encr, e),
                Some(Keyword::Integ(i)) => push(&mut p.integ, i),
                Some(Keyword::Ke(k)) => push(&mut p.ke, k),
                Some(Keyword::AddKe(n, k)) => push(&mut p.ake[n], k),
                Some(Keyword::Prf(f)) if protocol == ProtocolId::IKE => push(&mut p.prf, f),
                Some(Keyword::Esn(e)) if protocol == ProtocolId::ESP => push(&mut p.esn, e),
                Some(_) => {
                    return Err(ProposalError::WrongProtocol {
                        keyword: word,
                        protocol: proto_name,
                    });
                }
            }
        }
        let Some(first) = p.encr.first() else {
            return Err(ProposalError::NoEncryption(s.into()));
        };
        if p.encr.iter().any(|e| e.is_aead() != first.is_aead()) {
            return Err(ProposalError::MixedAead(s.into()));
        }
        if !first.is_aead() && p.integ.is_empty() {
            return Err(ProposalError::NoIntegrity(s.into()));
        }
        if first.is_aead() {
            p.integ.clear();
        }
        if p.ke.is_empty() && p.ake.iter().any(|a| !a.is_empty()) {
            return Err(ProposalError::AddKeWithoutKe(s.into()));
        }
        Ok(p)
    }

    /// The legacy algorithms this proposal names, by their proposal keyword:
    /// `sha1` (AUTH_HMAC_SHA1_96), `prfsha1` (PRF_HMAC_SHA1) and `modp1024`
    /// (group 2), which RFC 8247 §2 (IKE) and RFC 8221 §6 (ESP) demote or
    /// advise against. A PRF implied by `sha1` counts as `sha1`.
    pub fn legacy(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.integ.contains(&IntegId::HMAC_SHA1_96) {
            out.push("sha1");
        }
        if self.prf.contains(&PrfId::HMAC_SHA1) {
            out.push(if self.integ.contains(&IntegId::HMAC_SHA1_96) {
                "sha1"
            } else {
                "prfsha1"
            });
        }
        let ke = self.ke.iter().chain(self.ake.iter().flatten());
        if ke.clone().any(|k| *k == KeId::MODP_1024) {
            out.push("modp1024");
        }
        out.dedup();
        out
    }

    /// Whether this proposal is for AEAD ciphers.
    pub fn is_aead(&self) -> bool {
        self.encr.first().is_some_and(|e| e.is_aead())
    }

    /// Selects from `offered` (the peer's proposals, in the peer's order) honouring
    /// *our* configured order: our first proposal that matches any of theirs wins, and
    /// within it our preferred algorithm of each type (strongSwan's default
    /// `prefer_configured_proposals = yes`). Returns the peer's proposal number too.
    pub fn select(ours: &[Self], offered: &[(u8, Self)]) -> Option<(u8, Selected)> {
        ours.iter().find_map(|o| {
            offered
                .iter()
                .find_map(|(num, t)| o.intersect(t).map(|s| (*num, s)))
        })
    }

    /// The single selection of `self` (ours) and `theirs`, or `None` if some type has no overlap.
    pub fn intersect(&self, theirs: &Self) -> Option<Selected> {
        if self.protocol != theirs.protocol {
            return None;
        }
        let encr = *self.encr.iter().find(|e| theirs.encr.contains(e))?;
        let integ = pick_optional(&self.integ, &theirs.integ, IntegId::NONE)?;
        let ke = pick_optional(&self.ke, &theirs.ke, KeId::NONE)?;
        let prf = pick_optional(&self.prf, &theirs.prf, PrfId(0))?;
        let esn = if self.protocol == ProtocolId::ESP {
            let ours = if self.esn.is_empty() {
                &[EsnId::NO_ESN][..]
            } else {
                &self.esn
            };
            let theirs_esn = if theirs.esn.is_empty() {
                &[EsnId::NO_ESN][..]
            } else {
                &theirs.esn
            };
            *ours.iter().find(|e| theirs_esn.contains(e))? == EsnId::ESN
        } else {
            false
        };
        let mut ake = [None; 7];
        for (i, a) in ake.iter_mut().enumerate() {
            *a = pick_add_ke(&self.ake[i], &theirs.ake[i])?;
        }
        if self.protocol == ProtocolId::IKE && (prf.is_none() || ke.is_none()) {
            return None;
        }
        if !encr.is_aead() && integ.is_none() {
            return None;
        }
        Some(Selected {
            encr,
            prf,
            integ,
            ke,
            esn,
            ake,
        })
    }

    /// Whether `sel` is something this proposal offered (checks a responder's choice).
    pub fn allows(&self, sel: &Selected) -> bool {
        self.encr.contains(&sel.encr)
            && opt_in(&self.integ, sel.integ)
            && opt_in(&self.ke, sel.ke)
            && opt_in(&self.prf, sel.prf)
            && (0..7).all(|i| opt_in_or_none(&self.ake[i], sel.ake[i], KeId::NONE))
            && (self.protocol != ProtocolId::ESP
                || self
                    .esn
                    .contains(&if sel.esn { EsnId::ESN } else { EsnId::NO_ESN })
                || (self.esn.is_empty() && !sel.esn))
    }

    /// The proposal narrowed to exactly `sel` (what a responder sends back).
    pub fn from_selected(protocol: ProtocolId, sel: &Selected) -> Self {
        Self {
            protocol,
            encr: vec![sel.encr],
            prf: sel.prf.into_iter().collect(),
            integ: sel.integ.into_iter().collect(),
            ke: sel.ke.into_iter().collect(),
            esn: if protocol == ProtocolId::ESP {
                vec![if sel.esn { EsnId::ESN } else { EsnId::NO_ESN }]
            } else {
                Vec::new()
            },
            ake: sel.ake.map(|a| a.into_iter().collect()),
        }
    }
}

/// Picks an additional key exchange (RFC 9370 §2.2): a transform type
/// that a side leaves out counts as `none` for it.
fn pick_add_ke(ours: &[KeId], theirs: &[KeId]) -> Option<Option<KeId>> {
    let none = [KeId::NONE];
    let ours = if ours.is_empty() { &none[..] } else { ours };
    let theirs = if theirs.is_empty() { &none[..] } else { theirs };
    let k = ours.iter().find(|o| theirs.contains(o))?;
    Some((*k != KeId::NONE).then_some(*k))
}

/// Like [`opt_in`], but a list holding `none` also allows "not used".
fn opt_in_or_none<T: PartialEq + Copy>(list: &[T], v: Option<T>, none: T) -> bool {
    opt_in(list, v) || (v.is_none() && list.contains(&none))
}

fn opt_in<T: PartialEq + Copy>(list: &[T], v: Option<T>) -> bool {
    match v {
        None => list.is_empty(),
        Some(v) => list.contains(&v),
    }
}

/// Picks our first algorithm that the peer also lists; both empty (or the peer
/// offering only `none`) means "not used". `Some(None)` = agreed on nothing.
fn pick_optional<T: PartialEq + Copy>(ours: &[T], theirs: &[T], none: T) -> Option<Option<T>> {
    let theirs_empty = theirs.iter().all(|t| *t == none);
    if ours.is_empty() {
        return (theirs_empty || theirs.contains(&none)).then_some(None);
    }
    ours.iter().find(|o| theirs.contains(o)).map(|o| Some(*o))
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        for e in &self.encr {
            parts.push(format!(
                "{:?}{}",
                e.id,
                e.key_bits.map(|b| format!("_{b}")).unwrap_or_default()
            ));
        }
        parts.extend(self.integ.iter().map(|i| format!("{i:?}")));
        parts.extend(self.prf.iter().map(|p| format!("PRF_{p:?}")));
        parts.extend(self.ke.iter().map(|k| format!("{k:?}")));
        parts.extend(self.esn.iter().map(|e| format!("{e:?}")));
        for (i, a) in self.ake.iter().enumerate() {
            parts.extend(a.iter().map(|k| format!("KE{}_{k:?}", i + 1)));
        }
        f.write_str(&parts.join("/"))
    }
}

/// Conversion to and from the SA payload's proposal substructure (RFC 7296 §3.3.1).
impl Proposal {
    /// Encodes as proposal number `num` with `spi` (empty for IKE_SA_INIT, 4 bytes
    /// for ESP, 8 for an IKE rekey).
    pub fn to_wire(&self, num: u8, spi: Vec<u8>) -> wire::Proposal {
        let mut transforms = Vec::new();
        transforms.extend(
            self.encr
                .iter()
                .map(|e| wire::Transform::encr(e.id, e.key_bits)),
        );
        transforms.extend(self.prf.iter().map(|p| wire::Transform::prf(*p)));
        transforms.extend(self.integ.iter().map(|i| wire::Transform::integ(*i)));
        transforms.extend(self.ke.iter().map(|k| wire::Transform::ke(*k)));
        transforms.extend(self.esn.iter().map(|e| wire::Transform::esn(*e)));
        for (ty, a) in (6u8..).zip(&self.ake) {
            transforms.extend(a.iter().map(|k| wire::Transform {
                ty: TransformType(ty),
                ..wire::Transform::ke(*k)
            }));
        }
        wire::Proposal {
            num,
            protocol: self.protocol,
            spi,
            transforms,
        }
    }

    /// Decodes a peer's proposal; transforms of unknown types make it unusable
    /// (RFC 7296 §3.3.6), so `None` is returned.
    pub fn from_wire(p: &wire::Proposal) -> Option<Self> {
        let mut out = Self {
            protocol: p.protocol,
            encr: Vec::new(),
            prf: Vec::new(),
            integ: Vec::new(),
            ke: Vec::new(),
            esn: Vec::new(),
            ake: Default::default(),
        };
        for t in &p.transforms {
            match t.ty {
                TransformType::ENCR => out.encr.push(Encr {
                    id: EncrId(t.id),
                    key_bits: t.key_length(),
                }),
                TransformType::PRF => out.prf.push(PrfId(t.id)),
                TransformType::INTEG => out.integ.push(IntegId(t.id)),
                TransformType::KE => out.ke.push(KeId(t.id)),
                TransformType::ESN => out.esn.push(EsnId(t.id)),
                TransformType(ty @ 6..=12) => out.ake[usize::from(ty - 6)].push(KeId(t.id)),
                _ => return None,
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_ccm_keywords_for_esp_and_ike() {
        let p = Proposal::parse_esp("aes256ccm16-aes128ccm8-aes192ccm96").unwrap();
        let got: Vec<_> = p.encr.iter().map(|e| (e.id, e.key_bits)).collect();
        assert_eq!(
            got,
            [
                (EncrId::AES_CCM_16, Some(256)),
                (EncrId::AES_CCM_8, Some(128)),
                (EncrId::AES_CCM_12, Some(192))
            ]
        );
        assert!(p.integ.is_empty(), "CCM is an AEAD cipher");
        let p = Proposal::parse_ike("aes128ccm16-prfsha256-x25519").unwrap();
        assert_eq!(
            p.encr,
            [Encr {
                id: EncrId::AES_CCM_16,
                key_bits: Some(128)
            }]
        );
        assert_eq!(p.prf, [PrfId::HMAC_SHA2_256]);
        assert!(p.integ.is_empty());
        assert!(p.legacy().is_empty());
        let p = Proposal::parse_ike("aes256ccm12-x25519").unwrap();
        assert_eq!(p.encr[0].id, EncrId::AES_CCM_12);
        assert_eq!(p.prf.len(), 3, "AEAD without prf*: the SHA-2 PRFs");
    }

    #[test]
    fn legacy_keywords_parse_and_are_named() {
        let p = Proposal::parse_ike("aes128-sha1-modp1024").unwrap();
        assert_eq!(p.integ, [IntegId::HMAC_SHA1_96]);
        assert_eq!(p.prf, [PrfId::HMAC_SHA1], "the PRF follows sha1");
        assert_eq!(p.ke, [KeId::MODP_1024]);
        assert_eq!(p.legacy(), ["sha1", "modp1024"]);
        let p = Proposal::parse_ike("aes128gcm16-prfsha1-x25519").unwrap();
        assert_eq!(p.legacy(), ["prfsha1"]);
        let p = Proposal::parse_ike("aes128-sha256-sha1-prfsha256-x25519").unwrap();
        assert_eq!(p.legacy(), ["sha1"]);
        let p = Proposal::parse_esp("aes128-sha1").unwrap();
        assert_eq!(p.integ, [IntegId::HMAC_SHA1_96]);
        assert_eq!(p.legacy(), ["sha1"]);
        let p = Proposal::parse_esp("aes128gcm16-x25519-ke1_modp1024").unwrap();
        assert_eq!(p.legacy(), ["modp1024"]);
        assert!(matches!(
            Proposal::parse_esp("aes128-prfsha1"),
            Err(ProposalError::WrongProtocol { .. })
        ));
        for modern in [
            "aes128gcm16-prfsha256-x25519",
            "aes256-sha512-modp2048",
            "aes128ccm8-prfsha384-ecp256",
        ] {
            assert!(Proposal::parse_ike(modern).unwrap().legacy().is_empty());
        }
        // The wire form carries the IANA numbers (RFC 7296 §3.3.2).
        let w = Proposal::parse_ike("aes128-sha1-modp1024")
            .unwrap()
            .to_wire(1, Vec::new());
        let ids: Vec<_> = w.transforms.iter().map(|t| (t.ty.0, t.id)).collect();
        assert!(ids.contains(&(2, 2)) && ids.contains(&(3, 2)) && ids.contains(&(4, 2)));
    }

    /// Selection only ever returns what our proposals list: a peer offering
    /// only legacy algorithms gets nothing from a modern configuration.
    #[test]
    fn never_selects_an_unlisted_legacy_transform() {
        let ours = [Proposal::parse_ike("aes128-sha256-x25519").unwrap()];
        let theirs = [
            (1, Proposal::parse_ike("aes128-sha1-x25519").unwrap()),
            (2, Proposal::parse_ike("aes128-sha256-modp1024").unwrap()),
            (
                3,
                Proposal::parse_ike("aes128-sha256-prfsha1-x25519").unwrap(),
            ),
        ];
        assert_eq!(Proposal::select(&ours, &theirs), None);
        let mixed = [(
            1,
            Proposal::parse_ike("aes128-sha1-sha256-prfsha1-prfsha256-modp1024-x25519").unwrap(),
        )];
        let (_, sel) = Proposal::select(&ours, &mixed).unwrap();
        assert_eq!(sel.integ, Some(IntegId::HMAC_SHA2_256_128));
        assert_eq!(sel.prf, Some(PrfId::HMAC_SHA2_256));
        assert_eq!(sel.ke, Some(KeId::CURVE25519));
        // A responder choosing sha1 that we did not offer is refused.
        let sha1 = Proposal::parse_ike("aes128-sha1-x25519").unwrap();
        let (_, forced) =
            Proposal::select(std::slice::from_ref(&sha1), &[(1, sha1.clone())]).unwrap();
        assert!(!ours[0].allows(&forced));
        let esp = [Proposal::parse_esp("aes128-sha256").unwrap()];
        let esp_sha1 = [(1, Proposal::parse_esp("aes128-sha1").unwrap())];
        assert_eq!(Proposal::select(&esp, &esp_sha1), None);
    }

    #[test]
    fn parses_strongswan_examples() {
        let p = Proposal::parse_ike("aes128gcm16-prfsha256-x25519").unwrap();
        assert_eq!(
            p.encr,
            vec![Encr {
                id: EncrId::AES_GCM_16,
                key_bits: Some(128)
            }]
        );
        assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_256]);
        assert!(p.integ.is_empty());
        assert_eq!(p.ke, vec![KeId::CURVE25519]);

        let p = Proposal::parse_ike("aes256-sha384-ecp384").unwrap();
        assert_eq!(
            p.encr[0],
            Encr {
                id: EncrId::AES_CBC,
                key_bits: Some(256)
            }
        );
        assert_eq!(p.integ, vec![IntegId::HMAC_SHA2_384_192]);
        assert_eq!(p.prf, vec![PrfId::HMAC_SHA2_384]);

        let p = Proposal::parse_esp("aes128gcm16-x25519-esn").unwrap();
        assert_eq!(p.ke, vec![KeId::CURVE25519]);
        assert_eq!(p.esn, vec![EsnId::ESN]);

        let p = Proposal::parse_esp("aes256-sha256").unwrap();
        assert_eq!(p.esn, vec![EsnId::NO_ESN]);
        assert!(p.ke.is_empty());
        assert_eq!(
            Proposal::parse_esp("aes128gcm128").unwrap().encr[0].id,
            EncrId::AES_GCM_16
        );
    }

    #[test]
    fn clear_errors() {
        assert_eq!(
            Proposal::parse_esp("aes128-md5"),
            Err(ProposalError::UnknownKeyword("md5".into()))
        );
        assert!(
            Proposal::parse_ike("aes128-sha256")
                .unwrap_err()
                .to_string()
                .contains("x25519")
        );
        assert!(matches!(
            Proposal::parse_esp("aes128-prfsha256"),
            Err(ProposalError::WrongProtocol { .. })
        ));
        assert!(matches!(
            Proposal::parse_esp("aes128"),
            Err(ProposalError::NoIntegrity(_))
        ));
        assert!(matches!(
            Proposal::parse_esp("sha256"),
            Err(ProposalError::NoEncryption(_))
        ));
        assert!(matches!(
            Proposal::parse_esp("aes128gcm16-aes128-sha256"),
            Err(ProposalError::MixedAead(_))
        ));
    }

    #[test]
    fn selection_honours_our_order() {
        let ours = [
            Proposal::parse_esp("aes256gcm16").unwrap(),
            Proposal::parse_esp("aes128-sha256").unwrap(),
        ];
        let theirs = [
            (1, Proposal::parse_esp("aes128-sha256").unwrap()),
            (2, Proposal::parse_esp("aes256gcm16-aes128gcm16").unwrap()),
        ];
        let (num, sel) = Proposal::select(&ours, &theirs).unwrap();
        assert_eq!(num, 2);
        assert_eq!(sel.encr.id, EncrId::AES_GCM_16);
        assert_eq!(sel.encr.key_bits, Some(256));
        assert!(ours[0].allows(&sel));
        assert!(!ours[1].allows(&sel));

        let none = [(1, Proposal::parse_esp("aes192gcm16").unwrap())];
        assert_eq!(Proposal::select(&ours, &none), None);

        // PFS mismatch: we want x25519, they offer none.
        let pfs = [Proposal::parse_esp("aes128gcm16-x25519").unwrap()];
        let nopfs = [(1, Proposal::parse_esp("aes128gcm16").unwrap())];
        assert_eq!(Proposal::select(&pfs, &nopfs), None);
    }

    #[test]
    fn additional_key_exchanges_parse_and_select() {
        let p = Proposal::parse_ike("aes256gcm16-prfsha384-x25519-ke1_mlkem768").unwrap();
        assert_eq!(p.ke, vec![KeId::CURVE25519]);
        assert_eq!(p.ake[0], vec![KeId::ML_KEM_768]);
        assert!(p.ake[1..].iter().all(Vec::is_empty));
        let opt =
            Proposal::parse_esp("aes128gcm16-x25519-ke1_mlkem768-ke1_none-ke3_mlkem1024").unwrap();
        assert_eq!(opt.ake[0], vec![KeId::ML_KEM_768, KeId::NONE]);
        assert_eq!(opt.ake[2], vec![KeId::ML_KEM_1024]);
        for bad in [
            "aes128gcm16-x25519-ke8_mlkem768",
            "aes128gcm16-x25519-ke1_esn",
            "aes128gcm16-x25519-ke1_",
        ] {
            assert!(
                matches!(
                    Proposal::parse_ike(bad),
                    Err(ProposalError::UnknownKeyword(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Proposal::parse_esp("aes128gcm16-ke1_mlkem768"),
            Err(ProposalError::AddKeWithoutKe(_))
        ));

        // Required on both sides: selected, and the wire form round-trips.
        let (_, sel) = Proposal::select(std::slice::from_ref(&p), &[(1, p.clone())]).unwrap();
        assert_eq!(sel.additional().collect::<Vec<_>>(), vec![KeId::ML_KEM_768]);
        let w = p.to_wire(1, Vec::new());
        assert!(
            w.transforms
                .iter()
                .any(|t| t.ty == TransformType(6) && t.id == 36)
        );
        assert_eq!(Proposal::from_wire(&w).unwrap(), p);
        assert!(p.allows(&sel));

        // A peer without it: no match when we require it, "none" when optional.
        let plain = Proposal::parse_ike("aes256gcm16-prfsha384-x25519").unwrap();
        assert_eq!(
            Proposal::select(std::slice::from_ref(&p), &[(1, plain.clone())]),
            None
        );
        let optional =
            Proposal::parse_ike("aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none").unwrap();
        let (_, sel) =
            Proposal::select(std::slice::from_ref(&optional), &[(1, plain.clone())]).unwrap();
        assert_eq!(sel.additional().count(), 0);
        assert!(optional.allows(&sel));
        assert!(!p.allows(&sel));
        // We do not want it but the peer requires it.
        assert_eq!(Proposal::select(&[plain], &[(1, p)]), None);
        // Displayed with the transform type.
        assert!(optional.to_string().contains("KE1_ML_KEM_768"));
    }
}
