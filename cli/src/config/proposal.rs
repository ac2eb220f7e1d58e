//! Proposal strings (`aes128gcm16-prfsha256-x25519`, `aes128gcm16-x25519-esn`),
//! parsed with ike-core's strongSwan-syntax parser when the config is read, so a
//! typo is reported at its line. `"default"` expands to lanes' defaults.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// IKE default: AES-GCM with X25519, then NIST P-256, then MODP-3072.
pub const DEFAULT_IKE: &[&str] = &[
    "aes128gcm16-aes256gcm16-prfsha256-prfsha384-x25519-ecp256-modp3072",
    "aes256-aes128-sha256-sha384-x25519-ecp256-modp3072",
];
/// ESP default: AES-GCM without PFS.
pub const DEFAULT_ESP: &[&str] = &["aes128gcm16-aes256gcm16-esn-noesn", "aes256-aes128-sha256"];

/// The legacy algorithms (`sha1`, `prfsha1`, `modp1024`) that `proposals`
/// name, each once, in the order they first appear.
pub fn legacy_names<'a>(
    proposals: impl IntoIterator<Item = &'a ike_core::Proposal>,
) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for name in proposals.into_iter().flat_map(ike_core::Proposal::legacy) {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Whether a proposal is for the IKE SA or a Child SA (ESP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalKind {
    /// `proposals` of a connection.
    Ike,
    /// `esp_proposals` of a child.
    Esp,
}

/// One configured proposal string, with its parsed form(s) (`default` gives several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The text as written.
    pub text: String,
    /// Parsed by ike-core.
    pub parsed: Vec<ike_core::Proposal>,
}

impl Proposal {
    /// Parses one proposal string.
    pub fn parse(text: &str, kind: ProposalKind) -> Result<Proposal, String> {
        let parse = |s: &str| match kind {
            ProposalKind::Ike => ike_core::Proposal::parse_ike(s),
            ProposalKind::Esp => ike_core::Proposal::parse_esp(s),
        };
        let parsed = if text.trim() == "default" {
            let list = match kind {
                ProposalKind::Ike => DEFAULT_IKE,
                ProposalKind::Esp => DEFAULT_ESP,
            };
            list.iter().map(|s| parse(s)).collect::<Result<Vec<_>, _>>()
        } else {
            parse(text).map(|p| vec![p])
        }
        .map_err(|e| e.to_string())?;
        Ok(Proposal {
            text: text.to_string(),
            parsed,
        })
    }

    /// `"default"` as a list entry.
    pub fn default_for(kind: ProposalKind) -> Proposal {
        // The default strings are constants that ike-core accepts (tested below).
        Proposal::parse("default", kind).unwrap_or_else(|_| Proposal {
            text: "default".into(),
            parsed: Vec::new(),
        })
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
    fn defaults_parse() {
        assert_eq!(
            Proposal::default_for(ProposalKind::Ike).parsed.len(),
            DEFAULT_IKE.len()
        );
        assert_eq!(
            Proposal::default_for(ProposalKind::Esp).parsed.len(),
            DEFAULT_ESP.len()
        );
    }

    #[test]
    fn additional_key_exchanges() {
        let p = Proposal::parse(
            "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
            ProposalKind::Ike,
        )
        .expect("ike");
        assert_eq!(p.parsed[0].ake[0], vec![ike_core::wire::KeId::ML_KEM_768]);
        let e = Proposal::parse("aes256gcm16-x25519-ke1_mlkem768", ProposalKind::Esp)
            .expect("esp with ke1_");
        assert_eq!(e.parsed[0].ake[0], vec![ike_core::wire::KeId::ML_KEM_768]);
        let e = Proposal::parse("aes256gcm16-ke1_mlkem768", ProposalKind::Esp)
            .expect_err("ke1_ without a key exchange");
        assert!(e.contains("add e.g. x25519"), "{e}");
        let e = Proposal::parse("aes256gcm16-x25519-ke9_mlkem768", ProposalKind::Ike)
            .expect_err("ke9_");
        assert!(e.contains("unknown proposal keyword"), "{e}");
    }

    #[test]
    fn issue_examples_parse() {
        let p = Proposal::parse("aes128gcm16-prfsha256-x25519", ProposalKind::Ike).expect("ike");
        assert_eq!(p.parsed.len(), 1);
        assert_eq!(p.parsed[0].ke.len(), 1);
        let e = Proposal::parse("aes128gcm16-x25519-esn", ProposalKind::Esp).expect("esp");
        assert_eq!(e.parsed[0].esn.len(), 1);
        assert!(Proposal::parse("aes256-sha256-modp3072", ProposalKind::Ike).is_ok());
    }

    #[test]
    fn bad_proposals() {
        let e =
            Proposal::parse("aes128gcm16-prfsha256-x2559", ProposalKind::Ike).expect_err("typo");
        assert!(e.contains("\"x2559\""), "{e}");
        assert!(
            Proposal::parse("aes128gcm16", ProposalKind::Ike)
                .expect_err("no ke")
                .contains("key exchange")
        );
        assert!(
            Proposal::parse("aes128-x25519", ProposalKind::Esp)
                .expect_err("no integ")
                .contains("integrity")
        );
        assert!(Proposal::parse("aes128gcm16-prfsha256-x25519-esn", ProposalKind::Ike).is_err());
    }
}
