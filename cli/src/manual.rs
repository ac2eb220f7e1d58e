//! lanes.toml(5): every configuration key with its default and its strongSwan
//! name, kept as a table here so a test can hold it to the config structs.
//! `cargo xtask dist` renders it (and lanes(8) from the clap definitions).

/// One documented key.
#[derive(Clone, Copy, Debug)]
pub struct KeyDoc {
    /// The key.
    pub key: &'static str,
    /// Its default, as written in the file.
    pub default: &'static str,
    /// The swanctl.conf (or strongswan.conf) name, `-` when strongSwan has none.
    pub swanctl: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// One table of the file.
#[derive(Clone, Copy, Debug)]
pub struct TableDoc {
    /// The TOML header (`[daemon]`).
    pub header: &'static str,
    /// What the table is.
    pub about: &'static str,
    /// Its keys.
    pub keys: &'static [KeyDoc],
}

const fn k(
    key: &'static str,
    default: &'static str,
    swanctl: &'static str,
    meaning: &'static str,
) -> KeyDoc {
    KeyDoc {
        key,
        default,
        swanctl,
        meaning,
    }
}

/// Every table and key of lanes.toml.
pub const TABLES: &[TableDoc] = &[
    TableDoc {
        header: "[daemon]",
        about: "Sockets, steering and the defences against IKE_SA_INIT floods (strongSwan keeps these in strongswan.conf).",
        keys: &[
            k(
                "listen",
                "[\"0.0.0.0\", \"::\"]",
                "-",
                "Addresses for the IKE and NAT-T sockets.",
            ),
            k("ike_port", "500", "charon.port", "IKE port."),
            k("nat_port", "4500", "charon.port_nat_t", "NAT-T port."),
            k(
                "steer_interfaces",
                "[]",
                "-",
                "Interfaces to attach XDP steering (SPI to CPU) to at start-up.",
            ),
            k(
                "steer_mode",
                "\"native\"",
                "-",
                "XDP attach mode: \"native\" or \"skb\" (generic XDP).",
            ),
            k(
                "max_initiating",
                "64",
                "-",
                "IKE SAs initiated at once for start_action = \"start\" connections (0: no limit).",
            ),
            k(
                "dos_protection",
                "true",
                "charon.dos_protection",
                "Cookies and the half-open caps below; false turns them all off.",
            ),
            k(
                "cookie_threshold",
                "30",
                "charon.cookie_threshold",
                "Half-open IKE SAs in all from which on a COOKIE is demanded (RFC 7296 section 2.6).",
            ),
            k(
                "cookie_threshold_ip",
                "3",
                "charon.cookie_threshold_ip",
                "Half-open IKE SAs from one address from which on it must return a COOKIE.",
            ),
            k(
                "block_threshold",
                "5",
                "charon.block_threshold",
                "Half-open IKE SAs from one address beyond which it is ignored (0: no limit).",
            ),
            k(
                "init_limit_half_open",
                "0",
                "charon.init_limit_half_open",
                "Half-open IKE SAs in all beyond which new requests are dropped (0: no limit).",
            ),
            k(
                "half_open_timeout",
                "\"30s\"",
                "charon.half_open_timeout",
                "How long a responder waits for IKE_AUTH.",
            ),
            k(
                "max_packet",
                "10000",
                "charon.max_packet",
                "Largest IKE datagram accepted, in bytes.",
            ),
            k(
                "fragment_size",
                "1280",
                "charon.fragment_size",
                "Largest IP datagram an encrypted IKE message is sent in; larger ones go as RFC 7383 fragments (0: 576 for IPv4, 1280 for IPv6; otherwise at least 256).",
            ),
            k(
                "retransmit_tries",
                "5",
                "charon.retransmit_tries",
                "Retransmissions of a request before the peer counts as gone.",
            ),
            k(
                "retransmit_timeout",
                "4.0",
                "charon.retransmit_timeout",
                "Seconds before the first retransmission.",
            ),
            k(
                "retransmit_base",
                "1.8",
                "charon.retransmit_base",
                "The n-th retransmission waits retransmit_timeout * retransmit_base^n.",
            ),
            k(
                "metrics_listen",
                "unset (off)",
                "-",
                "Address and port of the Prometheus (OpenMetrics) endpoint, GET /metrics.",
            ),
        ],
    },
    TableDoc {
        header: "[connections.NAME]",
        about: "One IKE SA configuration (swanctl.conf connections.NAME).",
        keys: &[
            k(
                "local_addrs",
                "[] (any)",
                "local_addrs",
                "Our addresses; the first is used to initiate.",
            ),
            k(
                "remote_addrs",
                "[] (any peer, respond only)",
                "remote_addrs",
                "The peer's addresses.",
            ),
            k("remote_port", "500", "remote_port", "The peer's IKE port."),
            k(
                "proposals",
                "[\"default\"]",
                "proposals",
                "IKE proposals, e.g. \"aes128gcm16-prfsha256-x25519\" or \"aes128ccm16-prfsha256-x25519\" (AES-CCM, RFC 5282).",
            ),
            k(
                "legacy",
                "false",
                "-",
                "true allows the legacy algorithms sha1 (AUTH_HMAC_SHA1_96, IKE and ESP), prfsha1 and modp1024 (group 2) in this connection's proposals and esp_proposals, and logs a warning at load; without it they are refused. lanes-only: swanctl has no such switch and accepts them anywhere.",
            ),
            k(
                "encap",
                "false",
                "encap",
                "Force UDP encapsulation (RFC 3948).",
            ),
            k(
                "dpd_delay",
                "\"0s\" (off)",
                "dpd_delay",
                "Liveness check interval (RFC 7296 section 2.4).",
            ),
            k(
                "rekey_time",
                "\"4h\"",
                "rekey_time",
                "IKE SA rekey interval; \"0s\" disables it.",
            ),
            k(
                "max_child_sas",
                "per child: per_cpu_max + 1 or 1, plus 4",
                "-",
                "Live Child SAs per IKE SA; beyond it a peer gets NO_ADDITIONAL_SAS.",
            ),
            k(
                "local",
                "required",
                "local",
                "Our authentication: { auth = \"psk\", id = \"...\" }.",
            ),
            k(
                "remote",
                "required",
                "remote",
                "The peer's authentication: { auth = \"psk\", id = \"...\" }.",
            ),
            k(
                "children",
                "{}",
                "children",
                "The Child SAs, [connections.NAME.children.CHILD] below.",
            ),
            k(
                "fragmentation",
                "\"yes\"",
                "fragmentation",
                "IKE fragmentation (RFC 7383): \"yes\", \"accept\", \"force\" or \"no\", as swanctl.",
            ),
            k(
                "dpd_timeout",
                "\"0s\"",
                "dpd_timeout",
                "How long a liveness check may stay unanswered before the peer is dead (0s: the retransmission budget).",
            ),
            k(
                "keyingtries",
                "1",
                "keyingtries",
                "Initiation attempts in a row before giving up (0: forever), with a backoff from 1 s to 60 s.",
            ),
            k(
                "if_id_in",
                "none",
                "if_id_in",
                "Default XFRM interface id of the children's inbound SAs and in/fwd policies.",
            ),
            k(
                "if_id_out",
                "none",
                "if_id_out",
                "Default XFRM interface id of the children's outbound SAs and out policies.",
            ),
        ],
    },
    TableDoc {
        header: "local, remote",
        about: "Authentication of one side (swanctl.conf connections.NAME.local and .remote).",
        keys: &[
            k(
                "auth",
                "required",
                "auth",
                "\"psk\": pre-shared key (RFC 7296 section 2.15); \"pubkey\": certificate and signature (RFC 7427); \"rsa/pss\" (local only): pubkey, an RSA key signing with RSASSA-PSS.",
            ),
            k(
                "id",
                "the side's address",
                "id",
                "IKE identity: an address, a name (FQDN, also @name) or user@domain.",
            ),
            k(
                "certs",
                "[]",
                "local.certs",
                "auth = \"pubkey\", local: our certificate first, then intermediates to send (PEM or DER).",
            ),
            k(
                "key",
                "none",
                "secrets.private",
                "auth = \"pubkey\", local: the private key (PKCS#8, PKCS#1 or SEC1; mode 0600 or 0400).",
            ),
            k(
                "cacerts",
                "[]",
                "remote.cacerts",
                "auth = \"pubkey\", remote: the CAs the peer's chain must reach.",
            ),
            k(
                "crls",
                "[]",
                "-",
                "auth = \"pubkey\", remote: CRL files checked for every certificate of the peer's chain.",
            ),
            k(
                "revocation",
                "relaxed",
                "remote.revocation",
                "auth = \"pubkey\", remote: for every certificate of the peer's chain, \"strict\" refuses one without a good CRL or OCSP status; \"ifuri\" one whose OCSP responder gave no answer; \"relaxed\" only a revoked one.",
            ),
            k(
                "ocsp_uris",
                "[]",
                "authorities.NAME.ocsp_uris",
                "auth = \"pubkey\", remote: OCSP responders (http://) asked about the peer's end-entity certificate instead of its authorityInfoAccess URIs (intermediates use theirs).",
            ),
        ],
    },
    TableDoc {
        header: "[connections.NAME.children.CHILD]",
        about: "One Child SA configuration (swanctl.conf connections.NAME.children.CHILD).",
        keys: &[
            k(
                "local_ts",
                "our address (dynamic)",
                "local_ts",
                "Our subnets.",
            ),
            k(
                "remote_ts",
                "the peer's address (dynamic)",
                "remote_ts",
                "The peer's subnets.",
            ),
            k(
                "esp_proposals",
                "[\"default\"]",
                "esp_proposals",
                "ESP proposals; a key exchange enables PFS, -esn ESN.",
            ),
            k("mode", "\"tunnel\"", "mode", "\"tunnel\" or \"transport\"."),
            k(
                "start_action",
                "\"none\"",
                "start_action",
                "\"trap\" (negotiate on traffic) or \"start\" (at start-up).",
            ),
            k(
                "per_cpu_sas",
                "\"no\"",
                "per_cpu_sas",
                "\"yes\": a fallback SA plus one SA pair per CPU (RFC 9611); \"encap\": with per-CPU UDP source ports.",
            ),
            k(
                "per_cpu_mode",
                "\"on_demand\"",
                "-",
                "\"precreate\": negotiate every CPU's SA right after the fallback SA.",
            ),
            k(
                "per_cpu_max",
                "2 x online CPUs",
                "-",
                "Per-CPU SAs in the group; beyond it a peer gets TS_MAX_QUEUE.",
            ),
            k(
                "max_policies",
                "64",
                "-",
                "Kernel policies per direction one Child SA may need.",
            ),
            k(
                "hw_offload",
                "\"no\"",
                "hw_offload",
                "\"crypto\", \"packet\" or \"auto\" (swanctl's yes is \"crypto\").",
            ),
            k(
                "rekey_time",
                "\"1h\"",
                "rekey_time",
                "Child SA rekey interval.",
            ),
            k(
                "life_time",
                "rekey_time + 10 %",
                "life_time",
                "Hard lifetime.",
            ),
            k(
                "rand_time",
                "life_time - rekey_time",
                "rand_time",
                "Random jitter subtracted from rekey_time.",
            ),
            k(
                "replay_window",
                "32",
                "replay_window",
                "Inbound anti-replay window in packets (0 disables it).",
            ),
            k(
                "rekey_bytes",
                "0 (none)",
                "rekey_bytes",
                "Bytes before a rekey (kernel soft limit); \"1MB\", \"500k\" and the like.",
            ),
            k(
                "life_bytes",
                "rekey_bytes + 10 %",
                "life_bytes",
                "Bytes before the kernel removes the SA (hard limit).",
            ),
            k(
                "rekey_packets",
                "0 (none)",
                "rekey_packets",
                "Packets before a rekey (kernel soft limit).",
            ),
            k(
                "life_packets",
                "rekey_packets + 10 %",
                "life_packets",
                "Packets before the kernel removes the SA (hard limit).",
            ),
            k(
                "rand_bytes",
                "life_bytes - rekey_bytes",
                "rand_bytes",
                "Up to this many bytes, drawn for each SA, come off rekey_bytes.",
            ),
            k(
                "rand_packets",
                "life_packets - rekey_packets",
                "rand_packets",
                "Up to this many packets, drawn for each SA, come off rekey_packets.",
            ),
            k(
                "dpd_action",
                "\"clear\"",
                "dpd_action",
                "This child, when the peer is found dead: \"clear\", \"trap\" or \"restart\".",
            ),
            k(
                "close_action",
                "\"none\"",
                "close_action",
                "This child, when the peer deletes the IKE SA: \"none\", \"trap\" or \"start\".",
            ),
            k(
                "if_id_in",
                "the connection's, else none",
                "if_id_in",
                "XFRM interface id of the inbound SA and in/fwd policies (route-based VPN).",
            ),
            k(
                "if_id_out",
                "the connection's, else none",
                "if_id_out",
                "XFRM interface id of the outbound SA and out policy.",
            ),
            k(
                "mark_in",
                "none",
                "mark_in",
                "XFRM mark of the inbound SA and in/fwd policies: 42, \"0x2a\" or \"0x2a/0xff\".",
            ),
            k(
                "mark_out",
                "none",
                "mark_out",
                "XFRM mark of the outbound SA and out policy.",
            ),
            k(
                "interface",
                "none",
                "-",
                "An XFRM interface lanes creates for the child's if_id and removes at unload.",
            ),
            k(
                "install_routes",
                "false",
                "-",
                "With interface: routes to each remote_ts through it.",
            ),
        ],
    },
    TableDoc {
        header: "[secrets.NAME]",
        about: "One pre-shared key (swanctl.conf secrets.ikeNAME).",
        keys: &[
            k("ids", "[] (any)", "id, id-*", "Identities the key is for."),
            k(
                "secret",
                "one of secret, secret_file",
                "secret",
                "The key; 0x... is hex. The file must then be mode 0600.",
            ),
            k(
                "secret_file",
                "one of secret, secret_file",
                "-",
                "A file (mode 0600 or 0400, no symbolic link) holding the key.",
            ),
        ],
    },
];

/// roff escaping: backslashes and leading dots or quotes.
fn esc(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with(['.', '\'']) {
        format!("\\&{s}")
    } else {
        s
    }
}

/// lanes.toml(5) as roff.
pub fn lanes_toml_5(version: &str) -> String {
    let mut out = format!(
        ".TH LANES.TOML 5 \"\" \"lanes {}\" \"File Formats\"\n\
         .SH NAME\nlanes.toml \\- configuration of the lanes IKEv2 daemon\n\
         .SH SYNOPSIS\n/etc/lanes/lanes.toml\n\
         .SH DESCRIPTION\nTOML with swanctl.conf's names. Unknown keys are errors that name the key; \
         every error gives file, line and column. Durations take 30s, 5m, 4h, 1d or a number of seconds. \
         A file holding a secret inline must be readable by its owner only. \
         Each key below shows its default and, in brackets, its strongSwan name.\n",
        esc(version)
    );
    for t in TABLES {
        out.push_str(&format!(".SH {}\n{}\n", esc(t.header), esc(t.about)));
        for d in t.keys {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR = {}  [{}]\n{}\n",
                esc(d.key),
                esc(d.default),
                esc(d.swanctl),
                esc(d.meaning)
            ));
        }
    }
    out.push_str(
        ".SH FILES\n/etc/lanes/lanes.toml, /usr/share/doc/lanes/examples/\n\
         .SH SEE ALSO\n\\fBlanes\\fR(8), \\fBswanctl.conf\\fR(5)\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use serde::de::{self, Deserialize, Visitor};

    use super::*;
    use crate::config::{AuthConfig, Child, Config, Connection, Daemon, SecretEntry};

    /// A deserializer that only records the field names serde asks for.
    struct Fields(Vec<&'static str>);

    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Stop
        }
    }

    impl<'de> de::Deserializer<'de> for &mut Fields {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0.extend_from_slice(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    fn fields<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
        let mut f = Fields(Vec::new());
        let _ = T::deserialize(&mut f);
        let mut v = f.0;
        v.sort_unstable();
        v
    }

    fn documented(header: &str) -> Vec<&'static str> {
        let t = TABLES
            .iter()
            .find(|t| t.header == header)
            .unwrap_or_else(|| panic!("no table {header}"));
        let mut v: Vec<_> = t.keys.iter().map(|d| d.key).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn every_config_key_is_documented_and_no_other() {
        assert_eq!(fields::<Config>(), ["connections", "daemon", "secrets"]);
        assert_eq!(fields::<Daemon>(), documented("[daemon]"));
        assert_eq!(fields::<Connection>(), documented("[connections.NAME]"));
        assert_eq!(fields::<AuthConfig>(), documented("local, remote"));
        assert_eq!(
            fields::<Child>(),
            documented("[connections.NAME.children.CHILD]")
        );
        assert_eq!(fields::<SecretEntry>(), documented("[secrets.NAME]"));
    }

    #[test]
    fn the_defaults_shown_are_the_defaults_in_effect() {
        let d = Daemon::default();
        let shown = |key: &str| {
            TABLES
                .iter()
                .flat_map(|t| t.keys)
                .find(|k| k.key == key)
                .map(|k| k.default)
                .unwrap_or_else(|| panic!("{key} undocumented"))
        };
        assert_eq!(shown("ike_port"), d.ike_port.to_string());
        assert_eq!(shown("cookie_threshold"), d.cookie_threshold.to_string());
        assert_eq!(shown("max_packet"), d.max_packet.to_string());
        assert_eq!(shown("max_initiating"), d.max_initiating.to_string());
        assert_eq!(
            shown("half_open_timeout"),
            format!("\"{}\"", d.half_open_timeout)
        );
        assert_eq!(
            shown("max_policies"),
            ike_core::ChildConfig::DEFAULT_MAX_POLICIES.to_string()
        );
    }

    #[test]
    fn roff_is_escaped() {
        let page = lanes_toml_5("0.1.0");
        assert!(page.starts_with(".TH LANES.TOML 5"));
        assert!(page.contains("\\fBcookie_threshold_ip\\fR = 3  [charon.cookie_threshold_ip]"));
        assert!(page.contains("\\fBper_cpu_mode\\fR = \"on_demand\"  [\\-]"));
        assert!(
            !page.lines().any(|l| l.starts_with('\'')),
            "a line starting with ' is a roff request"
        );
    }
}
