//! The few ethtool ioctls doctor needs (SIOCETHTOOL, `include/uapi/linux/ethtool.h`):
//! feature names and states, and the RSS hash fields of a flow type.

use std::io;

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETHTOOL_GRXFH: u32 = 0x29;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;

/// `ESP_V4_FLOW`, `UDP_V4_FLOW`, `ESP_V6_FLOW`, `UDP_V6_FLOW`.
pub const ESP_V4_FLOW: u32 = 0x0a;
/// UDP over IPv4 (ESP-in-UDP on 4500).
pub const UDP_V4_FLOW: u32 = 0x02;
/// `RXH_L4_B_0_1 | RXH_L4_B_2_3`: the first four L4 bytes (the ESP SPI, or UDP ports).
pub const RXH_L4: u64 = (1 << 6) | (1 << 7);

/// One netdev feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    /// ethtool name, e.g. `esp-hw-offload`.
    pub name: String,
    /// The device can do it.
    pub available: bool,
    /// It is on.
    pub active: bool,
}

struct Sock(libc::c_int);

impl Sock {
    fn new() -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the fd is owned by Sock and closed on drop.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(Sock(fd))
        }
    }

    /// Runs SIOCETHTOOL on `ifname` with `data` as the command buffer.
    fn ethtool(&self, ifname: &str, data: &mut [u8]) -> io::Result<()> {
        let name = ifname.as_bytes();
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad interface name",
            ));
        }
        // SAFETY: ifreq is plain data; zeroed is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(name) {
            *d = *s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = data.as_mut_ptr().cast();
        // SAFETY: ifr points at a live buffer `data` large enough for the command
        // (callers size it from the kernel's own counts); the kernel writes within it.
        let rc = unsafe { libc::ioctl(self.0, SIOCETHTOOL as _, &mut ifr) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.0) };
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0)
}

/// All netdev features of `ifname` (ETHTOOL_GSSET_INFO + GSTRINGS + GFEATURES).
pub fn features(ifname: &str) -> io::Result<Vec<Feature>> {
    let s = Sock::new()?;
    // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[]; }
    let mut info = vec![0u8; 16 + 4];
    info[..4].copy_from_slice(&ETHTOOL_GSSET_INFO.to_ne_bytes());
    info[8..16].copy_from_slice(&(1u64 << ETH_SS_FEATURES).to_ne_bytes());
    s.ethtool(ifname, &mut info)?;
    let count = u32_at(&info, 16) as usize;
    if count == 0 || count > 4096 {
        return Ok(Vec::new());
    }
    // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }
    let mut strings = vec![0u8; 12 + count * ETH_GSTRING_LEN];
    strings[..4].copy_from_slice(&ETHTOOL_GSTRINGS.to_ne_bytes());
    strings[4..8].copy_from_slice(&ETH_SS_FEATURES.to_ne_bytes());
    strings[8..12].copy_from_slice(&(count as u32).to_ne_bytes());
    s.ethtool(ifname, &mut strings)?;
    // struct ethtool_gfeatures { u32 cmd; u32 size; struct { u32 available, requested, active, never_changed; } features[]; }
    let blocks = count.div_ceil(32);
    let mut feats = vec![0u8; 8 + blocks * 16];
    feats[..4].copy_from_slice(&ETHTOOL_GFEATURES.to_ne_bytes());
    feats[4..8].copy_from_slice(&(blocks as u32).to_ne_bytes());
    s.ethtool(ifname, &mut feats)?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let raw = &strings[12 + i * ETH_GSTRING_LEN..12 + (i + 1) * ETH_GSTRING_LEN];
        let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
        let name = String::from_utf8_lossy(&raw[..end]).into_owned();
        let block = 8 + (i / 32) * 16;
        let bit = 1u32 << (i % 32);
        out.push(Feature {
            name,
            available: u32_at(&feats, block) & bit != 0,
            active: u32_at(&feats, block + 8) & bit != 0,
        });
    }
    Ok(out)
}

/// RSS hash fields (`RXH_*` bits) for `flow_type` (ETHTOOL_GRXFH).
pub fn rx_flow_hash(ifname: &str, flow_type: u32) -> io::Result<u64> {
    let s = Sock::new()?;
    // struct ethtool_rxnfc { u32 cmd; u32 flow_type; u64 data; ... } (~192 bytes); oversize the buffer.
    let mut buf = vec![0u8; 512];
    buf[..4].copy_from_slice(&ETHTOOL_GRXFH.to_ne_bytes());
    buf[4..8].copy_from_slice(&flow_type.to_ne_bytes());
    s.ethtool(ifname, &mut buf)?;
    Ok(buf
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0))
}
