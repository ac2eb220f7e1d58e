//! strongSwan proposal strings (`aes128gcm16-prfsha256-x25519`, `aes256-sha256-modp3072`,
//! `aes128gcm16-x25519-esn`): split into algorithm tokens and checked against the
//! algorithms lanes negotiates (RFC 7296 §3.3.2, IANA "Transform Type" registries).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether a proposal is for the IKE SA or a Child SA (ESP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalKind {
    /// `proposals` of a connection.
    Ike,
    /// `esp_proposals` of a child.
    Esp,
}

/// One parsed proposal; each list holds the tokens in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proposal {
    /// The original text.
    pub text: String,
    /// Encryption (or AEAD) tokens, e.g. `aes128gcm16`.
    pub encr: Vec<&'static str>,
    /// Integrity tokens, e.g. `sha256`.
    pub integ: Vec<&'static str>,
    /// PRF tokens, e.g. `prfsha256`.
    pub prf: Vec<&'static str>,
    /// Key exchange methods, e.g. `x25519`.
    pub ke: Vec<&'static str>,
    /// ESN tokens `esn`/`noesn`.
    pub esn: Vec<&'static str>,
}

const AEAD: &[&str] = &[
    "aes128gcm8",
    "aes128gcm12",
    "aes128gcm16",
    "aes192gcm8",
    "aes192gcm12",
    "aes192gcm16",
    "aes256gcm8",
    "aes256gcm12",
    "aes256gcm16",
    "chacha20poly1305",
];
const ENCR: &[&str] = &[
    "aes128",
    "aes192",
    "aes256",
    "aes128ctr",
    "aes192ctr",
    "aes256ctr",
];
const INTEG: &[&str] = &["sha1", "sha256", "sha384", "sha512", "aesxcbc"];
const PRF: &[&str] = &[
    "prfsha1",
    "prfsha256",
    "prfsha384",
    "prfsha512",
    "prfaesxcbc",
];
const KE: &[&str] = &[
    "modp2048",
    "modp3072",
    "modp4096",
    "modp6144",
    "modp8192",
    "ecp256",
    "ecp384",
    "ecp521",
    "x25519",
    "x448",
    "mlkem512",
    "mlkem768",
    "mlkem1024",
];
const ESN: &[&str] = &["esn", "noesn"];

/// strongSwan aliases that name the same algorithm.
fn alias(tok: &str) -> &str {
    match tok {
        "aes128gcm" | "aes128gcm128" => "aes128gcm16",
        "aes192gcm" | "aes192gcm128" => "aes192gcm16",
        "aes256gcm" | "aes256gcm128" => "aes256gcm16",
        "aes" => "aes128",
        "sha" | "sha1_96" => "sha1",
        "sha2_256" | "sha256_128" => "sha256",
        "sha2_384" | "sha384_192" => "sha384",
        "sha2_512" | "sha512_256" => "sha512",
        "curve25519" => "x25519",
        "curve448" => "x448",
        other => other,
    }
}

fn find(list: &[&'static str], tok: &str) -> Option<&'static str> {
    list.iter().copied().find(|t| *t == tok)
}

impl Proposal {
    /// The default used for `"default"` (what lanes offers when nothing is configured).
    pub fn default_for(kind: ProposalKind) -> Proposal {
        let text = match kind {
            ProposalKind::Ike => {
                "aes128gcm16-aes256gcm16-prfsha256-prfsha384-x25519-ecp256-modp3072"
            }
            ProposalKind::Esp => "aes128gcm16-aes256gcm16-esn-noesn",
        };
        // The constant strings above only use known tokens.
        Proposal::parse(text, kind).unwrap_or_default()
    }

    /// Parses one proposal string.
    pub fn parse(text: &str, kind: ProposalKind) -> Result<Proposal, String> {
        if text == "default" {
            let mut p = Proposal::default_for(kind);
            p.text = text.to_string();
            return Ok(p);
        }
        let mut p = Proposal {
            text: text.to_string(),
            ..Proposal::default()
        };
        for raw in text.split('-') {
            let tok = alias(raw);
            if let Some(t) = find(AEAD, tok).or_else(|| find(ENCR, tok)) {
                p.encr.push(t);
            } else if let Some(t) = find(INTEG, tok) {
                p.integ.push(t);
            } else if let Some(t) = find(PRF, tok) {
                p.prf.push(t);
            } else if let Some(t) = find(KE, tok) {
                p.ke.push(t);
            } else if let Some(t) = find(ESN, tok) {
                if kind == ProposalKind::Ike {
                    return Err(format!(
                        "proposal {text:?}: {raw:?} applies only to esp_proposals"
                    ));
                }
                p.esn.push(t);
            } else {
                return Err(format!(
                    "proposal {text:?}: unknown algorithm {raw:?} (known: {}, {}, {}, {}, {})",
                    AEAD.join(" "),
                    ENCR.join(" "),
                    INTEG.join(" "),
                    PRF.join(" "),
                    KE.join(" ")
                ));
            }
        }
        if p.encr.is_empty() {
            return Err(format!(
                "proposal {text:?} has no encryption algorithm (e.g. aes128gcm16)"
            ));
        }
        let aead = p.encr.iter().any(|e| AEAD.contains(e));
        let plain = p.encr.iter().any(|e| ENCR.contains(e));
        if aead && plain {
            return Err(format!(
                "proposal {text:?} mixes AEAD and non-AEAD ciphers; split it into two proposals"
            ));
        }
        if aead && !p.integ.is_empty() {
            return Err(format!(
                "proposal {text:?}: an AEAD cipher takes no integrity algorithm"
            ));
        }
        if plain && p.integ.is_empty() {
            return Err(format!(
                "proposal {text:?} needs an integrity algorithm (e.g. sha256)"
            ));
        }
        match kind {
            ProposalKind::Ike => {
                if !p.prf.is_empty() {
                } else if aead {
                    return Err(format!(
                        "proposal {text:?}: an AEAD IKE proposal needs a PRF (e.g. prfsha256)"
                    ));
                }
                if p.ke.is_empty() {
                    return Err(format!(
                        "proposal {text:?} needs a key exchange method (e.g. x25519)"
                    ));
                }
            }
            ProposalKind::Esp => {
                if !p.prf.is_empty() {
                    return Err(format!(
                        "proposal {text:?}: a PRF applies only to IKE proposals"
                    ));
                }
            }
        }
        Ok(p)
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Proposal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// IKE proposal list entry (deserialises with [`ProposalKind::Ike`] rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct IkeProposal(pub Proposal);

/// ESP proposal list entry (deserialises with [`ProposalKind::Esp`] rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EspProposal(pub Proposal);

impl<'de> Deserialize<'de> for IkeProposal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Proposal::parse(&s, ProposalKind::Ike)
            .map(IkeProposal)
            .map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for EspProposal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Proposal::parse(&s, ProposalKind::Esp)
            .map(EspProposal)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_examples_parse() {
        let p = Proposal::parse("aes128gcm16-prfsha256-x25519", ProposalKind::Ike).expect("ike");
        assert_eq!(
            (p.encr.as_slice(), p.prf.as_slice(), p.ke.as_slice()),
            (&["aes128gcm16"][..], &["prfsha256"][..], &["x25519"][..])
        );
        let e = Proposal::parse("aes128gcm16-x25519-esn", ProposalKind::Esp).expect("esp");
        assert_eq!(e.esn, vec!["esn"]);
        let c = Proposal::parse("aes256-sha256-modp3072", ProposalKind::Ike).expect("cbc");
        assert_eq!(c.integ, vec!["sha256"]);
        assert!(Proposal::parse("default", ProposalKind::Esp).is_ok());
    }

    #[test]
    fn bad_proposals() {
        let e =
            Proposal::parse("aes128gcm16-prfsha256-x2559", ProposalKind::Ike).expect_err("typo");
        assert!(e.contains("\"x2559\""), "{e}");
        assert!(
            Proposal::parse("aes128gcm16-x25519", ProposalKind::Ike)
                .expect_err("no prf")
                .contains("PRF")
        );
        assert!(
            Proposal::parse("aes128-x25519", ProposalKind::Esp)
                .expect_err("no integ")
                .contains("integrity")
        );
        assert!(Proposal::parse("aes128gcm16-sha256", ProposalKind::Esp).is_err());
        assert!(Proposal::parse("aes128gcm16-prfsha256-x25519-esn", ProposalKind::Ike).is_err());
    }
}
