//! The lanes configuration file (TOML, swanctl.conf's names).
//!
//! Types are parsed at the edge (addresses, subnets, durations, proposals, enums), so
//! syntax and type errors carry TOML's span; checks across fields run in
//! `validate` and are located by their key path. Every error names the file, line
//! and column.

mod duration;
mod locate;
pub mod pki;
mod proposal;
mod raw;
mod recovery;
mod remote;
mod route;
mod secret;
mod subnet;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use duration::Seconds;
pub use proposal::{EspProposal, IkeProposal, Proposal, ProposalKind, legacy_names};
pub use raw::RawKeys;
pub use recovery::{CloseAction, Decimal, DpdAction, Volume};
pub use remote::{RemoteAddr, literal as literal_addrs};
pub use route::MarkConf;
pub use secret::Psk;
pub use subnet::Subnet;

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[daemon]`.
    #[serde(default)]
    pub daemon: Daemon,
    /// `[connections.NAME]`.
    #[serde(default)]
    pub connections: BTreeMap<String, Connection>,
    /// `[secrets.NAME]`.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretEntry>,
    /// The file's keys as written (reloads compare them).
    #[serde(skip)]
    pub raw: RawKeys,
}

/// `[daemon]`: sockets and steering.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Daemon {
    /// Addresses to bind the IKE and NAT-T ports on.
    #[serde(default = "default_listen")]
    pub listen: Vec<IpAddr>,
    /// IKE port (RFC 7296 §2: 500).
    #[serde(default = "default_ike_port")]
    pub ike_port: u16,
    /// NAT-T / ESP-in-UDP port (RFC 3948: 4500).
    #[serde(default = "default_nat_port")]
    pub nat_port: u16,
    /// Interfaces to attach the XDP steering program to at start-up.
    #[serde(default)]
    pub steer_interfaces: Vec<String>,
    /// XDP attach mode.
    #[serde(default)]
    pub steer_mode: SteerMode,
    /// IKE SAs initiated at once for `start_action = "start"` connections
    /// (start-up, reload); the others wait their turn. 0: no limit.
    #[serde(default = "default_max_initiating")]
    pub max_initiating: u32,
    /// Defences against unauthenticated IKE_SA_INIT floods (strongSwan's
    /// `charon.dos_protection`); off turns every limit below off.
    #[serde(default = "yes")]
    pub dos_protection: bool,
    /// Half-open IKE SAs (in all) from which on a COOKIE is demanded (RFC 7296 §2.6).
    #[serde(default = "default_cookie_threshold")]
    pub cookie_threshold: u32,
    /// Half-open IKE SAs from one address from which on it must return a COOKIE.
    #[serde(default = "default_cookie_threshold_ip")]
    pub cookie_threshold_ip: u32,
    /// Half-open IKE SAs from one address beyond which it is ignored (0: no limit).
    #[serde(default = "default_block_threshold")]
    pub block_threshold: u32,
    /// Half-open IKE SAs in all beyond which new ones are ignored (0: no limit).
    #[serde(default)]
    pub init_limit_half_open: u32,
    /// How long a responder waits for IKE_AUTH.
    #[serde(default = "default_half_open_timeout")]
    pub half_open_timeout: Seconds,
    /// Largest IKE datagram accepted, in bytes.
    #[serde(default = "default_max_packet")]
    pub max_packet: u32,
    /// Largest IP datagram an encrypted IKE message goes in before it is
    /// sent as RFC 7383 fragments (strongSwan `charon.fragment_size`); 0:
    /// 576 for IPv4, 1280 for IPv6.
    #[serde(default = "default_fragment_size")]
    pub fragment_size: u32,
    /// Retransmissions of a request before the peer counts as gone (strongSwan 5).
    #[serde(default = "default_retransmit_tries")]
    pub retransmit_tries: u32,
    /// Seconds before the first retransmission (strongSwan 4.0).
    #[serde(default = "default_retransmit_timeout")]
    pub retransmit_timeout: Decimal,
    /// Growth of each further wait: timeout · base^n (strongSwan 1.8).
    #[serde(default = "default_retransmit_base")]
    pub retransmit_base: Decimal,
    /// Address and port of the Prometheus `GET /metrics` endpoint; off when unset.
    #[serde(default)]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            listen: default_listen(),
            ike_port: default_ike_port(),
            nat_port: default_nat_port(),
            steer_interfaces: Vec::new(),
            steer_mode: SteerMode::default(),
            max_initiating: default_max_initiating(),
            dos_protection: true,
            cookie_threshold: default_cookie_threshold(),
            cookie_threshold_ip: default_cookie_threshold_ip(),
            block_threshold: default_block_threshold(),
            init_limit_half_open: 0,
            half_open_timeout: default_half_open_timeout(),
            max_packet: default_max_packet(),
            fragment_size: default_fragment_size(),
            retransmit_tries: default_retransmit_tries(),
            retransmit_timeout: default_retransmit_timeout(),
            retransmit_base: default_retransmit_base(),
            metrics_listen: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_cookie_threshold() -> u32 {
    30
}
fn default_cookie_threshold_ip() -> u32 {
    3
}
fn default_block_threshold() -> u32 {
    5
}
fn default_half_open_timeout() -> Seconds {
    Seconds(30)
}
fn default_max_packet() -> u32 {
    10_000
}
fn default_fragment_size() -> u32 {
    1280
}
fn default_retransmit_tries() -> u32 {
    5
}
fn default_retransmit_timeout() -> Decimal {
    Decimal(4.0)
}
fn default_retransmit_base() -> Decimal {
    Decimal(1.8)
}
fn default_keyingtries() -> u32 {
    1
}

/// Enough to keep a fast peer busy, few enough that a slow one answers every
/// IKE_AUTH within its 30 s half-open limit.
fn default_max_initiating() -> u32 {
    64
}

fn default_listen() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    ]
}
fn default_ike_port() -> u16 {
    500
}
fn default_nat_port() -> u16 {
    4500
}

/// XDP attach mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SteerMode {
    /// Driver (native) XDP.
    #[default]
    Native,
    /// Generic (skb) XDP, works on every interface.
    Skb,
}

/// swanctl's `fragmentation`: `yes` fragments when the peer supports it,
/// `accept` only announces support, `force` fragments even when the peer did
/// not announce it, `no` does not announce it. The peer's fragments are
/// reassembled in every case, as strongSwan does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fragmentation {
    /// Announce, and fragment when the peer announced it too.
    #[default]
    Yes,
    /// Announce, never fragment.
    Accept,
    /// Announce, and fragment whatever the peer announced.
    Force,
    /// Do not announce.
    No,
}

impl From<Fragmentation> for ike_core::Fragmentation {
    fn from(f: Fragmentation) -> Self {
        match f {
            Fragmentation::Yes => Self::Yes,
            Fragmentation::Accept => Self::Accept,
            Fragmentation::Force => Self::Force,
            Fragmentation::No => Self::No,
        }
    }
}

/// `[connections.NAME]`: one IKE SA configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// Our addresses (empty: any).
    #[serde(default)]
    pub local_addrs: Vec<IpAddr>,
    /// The peer's addresses or DNS names, tried in order (empty: accept any,
    /// never initiate).
    #[serde(default)]
    pub remote_addrs: Vec<RemoteAddr>,
    /// The peer's IKE port (swanctl `remote_port`); NAT-T moves to its 4500.
    #[serde(default = "default_ike_port")]
    pub remote_port: u16,
    /// IKE proposals, most preferred first.
    #[serde(default = "default_ike_proposals")]
    pub proposals: Vec<IkeProposal>,
    /// Allows the legacy algorithms `sha1`, `prfsha1` and `modp1024` in this
    /// connection's proposals (lanes only; swanctl has no such switch).
    #[serde(default)]
    pub legacy: bool,
    /// Force UDP encapsulation (RFC 3948) even without NAT.
    #[serde(default)]
    pub encap: bool,
    /// IKE fragmentation (RFC 7383), as swanctl's `fragmentation`.
    #[serde(default)]
    pub fragmentation: Fragmentation,
    /// Liveness check interval (RFC 7296 §2.4); `0s` disables it.
    #[serde(default)]
    pub dpd_delay: Seconds,
    /// How long a liveness check may stay unanswered; `0s`: the retransmission budget.
    #[serde(default)]
    pub dpd_timeout: Seconds,
    /// Initiation attempts in a row before giving up (0: forever).
    #[serde(default = "default_keyingtries")]
    pub keyingtries: u32,
    /// IKE SA rekey interval; `0s` disables it.
    #[serde(default = "default_ike_rekey")]
    pub rekey_time: Seconds,
    /// Cap on live Child SAs per IKE SA (RFC 7296 §1.3): beyond it a peer's
    /// CREATE_CHILD_SA gets NO_ADDITIONAL_SAS and we ask for none; rekeys are not
    /// counted. Default: per child, its `per_cpu_max` + 1 (per-CPU) or 1, plus 4.
    #[serde(default)]
    pub max_child_sas: Option<u32>,
    /// Default XFRM interface id of the children's inbound SAs and policies.
    #[serde(default)]
    pub if_id_in: Option<u32>,
    /// Default XFRM interface id of the children's outbound SAs and policies.
    #[serde(default)]
    pub if_id_out: Option<u32>,
    /// Our authentication.
    pub local: AuthConfig,
    /// The peer's authentication.
    pub remote: AuthConfig,
    /// `[connections.NAME.children.CHILD]`.
    #[serde(default)]
    pub children: BTreeMap<String, Child>,
}

fn default_ike_proposals() -> Vec<IkeProposal> {
    vec![IkeProposal(Proposal::default_for(ProposalKind::Ike))]
}
fn default_esp_proposals() -> Vec<EspProposal> {
    vec![EspProposal(Proposal::default_for(ProposalKind::Esp))]
}
fn default_ike_rekey() -> Seconds {
    Seconds(4 * 3600)
}
fn default_child_rekey() -> Seconds {
    Seconds(3600)
}

/// `local = { auth, id }` / `remote = { auth, id }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Authentication method.
    pub auth: AuthMethod,
    /// IKE identity (RFC 7296 §3.5); defaults to the address.
    #[serde(default)]
    pub id: Option<String>,
    /// `local.certs`: our certificate, then its intermediates (PEM or DER).
    #[serde(default)]
    pub certs: Vec<PathBuf>,
    /// `local.key`: the certificate's private key (PKCS#8, PKCS#1 or SEC1),
    /// a file only its owner may read, like `secret_file`.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// `remote.cacerts`: CAs the peer's certificate must chain to.
    #[serde(default)]
    pub cacerts: Vec<PathBuf>,
    /// `remote.crls`: CRLs checked for every certificate of the peer's chain.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// `remote.revocation`: what an unknown revocation status means.
    #[serde(default)]
    pub revocation: Revocation,
    /// `ocsp_uris`: OCSP responders (http://) asked instead of the peer
    /// certificate's authorityInfoAccess.
    #[serde(default)]
    pub ocsp_uris: Vec<String>,
}

/// swanctl `remote.revocation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Revocation {
    /// Refuse unless a CRL or OCSP says good.
    Strict,
    /// Refuse when an OCSP URI exists but gave no answer.
    Ifuri,
    /// Refuse only a revoked certificate.
    #[default]
    Relaxed,
}

/// Authentication methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// Pre-shared key (RFC 7296 §2.15, auth method 2).
    Psk,
    /// Certificate and signature (RFC 7427 method 14, or RSA 1 / ECDSA 9-11).
    Pubkey,
    /// `pubkey` whose RSA key signs with RSASSA-PSS (RFC 8247 §3.2), swanctl's
    /// `rsa/pss`; `local` only.
    #[serde(rename = "rsa/pss")]
    RsaPss,
}

/// `[connections.NAME.children.CHILD]`: one Child SA configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Child {
    /// Our side's subnets (empty: our address).
    #[serde(default)]
    pub local_ts: Vec<Subnet>,
    /// The peer's subnets (empty: the peer's address).
    #[serde(default)]
    pub remote_ts: Vec<Subnet>,
    /// ESP proposals, most preferred first; a key exchange method enables PFS.
    #[serde(default = "default_esp_proposals")]
    pub esp_proposals: Vec<EspProposal>,
    /// IPsec mode.
    #[serde(default)]
    pub mode: Mode,
    /// What to do at start-up.
    #[serde(default)]
    pub start_action: StartAction,
    /// RFC 9611 per-CPU Child SAs.
    #[serde(default)]
    pub per_cpu_sas: PerCpuSas,
    /// Create per-CPU SAs when the kernel asks (acquire) or all at once.
    #[serde(default)]
    pub per_cpu_mode: PerCpuMode,
    /// Cap on the group's per-CPU SAs, whoever asks (RFC 9611 §4.2): a peer's
    /// request beyond it gets TS_MAX_QUEUE and our own acquires stop there;
    /// default: twice the online CPUs (both peers may create one pair per CPU).
    #[serde(default)]
    pub per_cpu_max: Option<u32>,
    /// Cap on kernel policies per direction of one Child SA once its selectors
    /// are split into CIDR prefixes and port/mask blocks; beyond it the responder
    /// answers TS_UNACCEPTABLE and the initiator deletes the Child SA.
    #[serde(default = "default_max_policies")]
    pub max_policies: u32,
    /// NIC offload.
    #[serde(default)]
    pub hw_offload: HwOffload,
    /// Child SA rekey interval.
    #[serde(default = "default_child_rekey")]
    pub rekey_time: Seconds,
    /// Hard lifetime (default: rekey_time + 10%).
    #[serde(default)]
    pub life_time: Option<Seconds>,
    /// Random jitter subtracted from rekey_time (default: life_time - rekey_time).
    #[serde(default)]
    pub rand_time: Option<Seconds>,
    /// Anti-replay window in packets (0 disables it).
    #[serde(default = "default_replay_window")]
    pub replay_window: u32,
    /// Bytes before a rekey (kernel soft limit; 0: none).
    #[serde(default)]
    pub rekey_bytes: Volume,
    /// Bytes before the kernel removes the SA (default: rekey_bytes + 10%).
    #[serde(default)]
    pub life_bytes: Volume,
    /// Packets before a rekey (kernel soft limit; 0: none).
    #[serde(default)]
    pub rekey_packets: Volume,
    /// Packets before the kernel removes the SA (default: rekey_packets + 10%).
    #[serde(default)]
    pub life_packets: Volume,
    /// Random bytes subtracted from rekey_bytes (default: life_bytes - rekey_bytes).
    #[serde(default)]
    pub rand_bytes: Option<Volume>,
    /// Random packets subtracted from rekey_packets (default: life_packets - rekey_packets).
    #[serde(default)]
    pub rand_packets: Option<Volume>,
    /// What to do when the peer is found dead.
    #[serde(default)]
    pub dpd_action: DpdAction,
    /// What to do when the peer closes the IKE SA.
    #[serde(default)]
    pub close_action: CloseAction,
    /// XFRM interface id of the inbound SA and in/fwd policies (route-based VPN).
    #[serde(default)]
    pub if_id_in: Option<u32>,
    /// XFRM interface id of the outbound SA and out policy.
    #[serde(default)]
    pub if_id_out: Option<u32>,
    /// Mark of the inbound SA and in/fwd policies.
    #[serde(default)]
    pub mark_in: Option<MarkConf>,
    /// Mark of the outbound SA and out policy.
    #[serde(default)]
    pub mark_out: Option<MarkConf>,
    /// An XFRM interface lanes creates (and removes) for this child's if_id.
    #[serde(default)]
    pub interface: Option<String>,
    /// Routes to the remote selectors through `interface`.
    #[serde(default)]
    pub install_routes: bool,
}

fn default_max_policies() -> u32 {
    ike_core::ChildConfig::DEFAULT_MAX_POLICIES
}

fn default_replay_window() -> u32 {
    32
}

impl Child {
    /// The hard lifetime in effect.
    pub fn life_time(&self) -> Seconds {
        self.life_time
            .unwrap_or(Seconds(self.rekey_time.0 + self.rekey_time.0 / 10))
    }
    /// The rekey jitter in effect.
    pub fn rand_time(&self) -> Seconds {
        self.rand_time.unwrap_or(Seconds(
            self.life_time().0.saturating_sub(self.rekey_time.0),
        ))
    }
}

/// IPsec mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Tunnel mode.
    #[default]
    Tunnel,
    /// Transport mode.
    Transport,
}

/// `start_action`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAction {
    /// Wait for `lanes up` or the peer.
    #[default]
    None,
    /// Install policies and negotiate on the kernel's acquire.
    Trap,
    /// Initiate at start-up.
    Start,
}

/// `per_cpu_sas`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PerCpuSas {
    /// One SA pair.
    #[default]
    No,
    /// A fallback SA plus one SA pair per CPU.
    Yes,
    /// Like `yes`, and UDP-encapsulated per-CPU SAs get their own random source port.
    Encap,
}

impl PerCpuSas {
    /// Whether per-CPU SAs are enabled.
    pub fn enabled(self) -> bool {
        self != PerCpuSas::No
    }
}

/// `per_cpu_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PerCpuMode {
    /// Negotiate a CPU's SA on the kernel's first acquire from it.
    #[default]
    OnDemand,
    /// Negotiate SAs for every online CPU right after the fallback SA.
    Precreate,
}

/// `hw_offload`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HwOffload {
    /// Software only.
    #[default]
    No,
    /// Crypto offload (fails if the NIC lacks it).
    Crypto,
    /// Packet offload (fails if the NIC lacks it).
    Packet,
    /// Best available: packet, then crypto, then software.
    Auto,
}

/// `[secrets.NAME]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretEntry {
    /// Identities this secret is for (empty: any).
    #[serde(default)]
    pub ids: Vec<String>,
    /// The secret inline (`0x...` for hex).
    #[serde(default)]
    pub secret: Option<Psk>,
    /// A file holding the secret; must not be accessible by other users.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl Config {
    /// Reads and validates a configuration file. A file that holds a secret
    /// inline must not be accessible by group or others (ssh's rule for private
    /// keys); the error says how to fix it.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let (src, mode) = read_source(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                key: None,
                message: format!("cannot read the configuration: {e}"),
            }])
        })?;
        Config::parse_with_mode(&src, path, Some(mode))
    }

    /// Parses and validates configuration text; `path` names it in errors and
    /// anchors relative `secret_file` paths.
    pub fn parse(src: &str, path: &Path) -> Result<Config, ConfigErrors> {
        Config::parse_with_mode(src, path, None)
    }

    /// [`Config::parse`], plus the inline-secret check when the file's mode is known.
    fn parse_with_mode(src: &str, path: &Path, mode: Option<u32>) -> Result<Config, ConfigErrors> {
        let mut cfg: Config = toml::from_str(src).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| locate::line_col(src, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line,
                column,
                key: None,
                message: e.message().trim().to_string(),
            }])
        })?;
        // Before validate(), which fills `secret` from each secret_file.
        let exposed = mode.and_then(|m| validate::inline_secret_exposed(&cfg, path, m));
        let base = path.parent().unwrap_or(Path::new("."));
        let problems: Vec<_> = exposed
            .into_iter()
            .chain(validate::validate(&mut cfg, base))
            .collect();
        if problems.is_empty() {
            cfg.raw = RawKeys(toml::from_str(src).unwrap_or_default());
            return Ok(cfg);
        }
        let doc = toml_edit::ImDocument::parse(src).ok();
        Err(ConfigErrors(
            problems
                .into_iter()
                .map(|p| {
                    let (line, column) = doc
                        .as_ref()
                        .and_then(|d| locate::span_of(d, &p.key))
                        .map(|off| locate::line_col(src, off))
                        .map_or((None, None), |(l, c)| (Some(l), Some(c)));
                    ConfigError {
                        file: path.to_path_buf(),
                        line,
                        column,
                        key: Some(locate::display_path(&p.key)),
                        message: p.message,
                    }
                })
                .collect(),
        ))
    }

    /// The pre-shared key for an IKE SA between `local` and `remote` identities:
    /// the secret listing both ids wins over one listing only the peer, which wins
    /// over a secret with no ids (strongSwan's matching order).
    pub fn psk(&self, local: &str, remote: &str) -> Option<&Psk> {
        self.secrets
            .values()
            .filter_map(|s| {
                let has_l = s.ids.iter().any(|i| i == local);
                let has_r = s.ids.iter().any(|i| i == remote);
                let score = match (s.ids.is_empty(), has_l, has_r) {
                    (true, _, _) => 1,
                    (false, true, true) => 3,
                    (false, _, true) => 2,
                    _ => return None,
                };
                s.secret.as_ref().map(|k| (score, k))
            })
            .max_by_key(|(score, _)| *score)
            .map(|(_, k)| k)
    }
}

/// The file's text and permission bits, both read through one open file.
fn read_source(path: &Path) -> std::io::Result<(String, u32)> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let mut file = std::fs::File::open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    let mut src = String::new();
    file.read_to_string(&mut src)?;
    Ok((src, mode))
}

impl Connection {
    /// Our identity: `local.id`, else our first address.
    pub fn local_id(&self) -> String {
        self.local
            .id
            .clone()
            .or_else(|| self.local_addrs.first().map(ToString::to_string))
            .unwrap_or_else(|| "%any".into())
    }
    /// The peer's identity: `remote.id`, else its first address.
    pub fn remote_id(&self) -> String {
        self.remote
            .id
            .clone()
            .or_else(|| self.remote_addrs.first().map(ToString::to_string))
            .unwrap_or_else(|| "%any".into())
    }
}

/// One located configuration problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key path (`connections.dc-b.children.net.start_action`), when known.
    pub key: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// All problems found in one configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
