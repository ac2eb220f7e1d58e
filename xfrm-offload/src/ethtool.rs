//! Interface lookups: ifindex by name, and whether the device has the
//! `esp-hw-offload` feature (`NETIF_F_HW_ESP`) active, via the legacy
//! SIOCETHTOOL ioctl the way strongSwan's `netlink_detect_offload` does:
//! ETHTOOL_GSSET_INFO (feature count), ETHTOOL_GSTRINGS (feature names),
//! ETHTOOL_GFEATURES (active bits). `include/uapi/linux/ethtool.h`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, SpecError};

const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;
/// The feature name of `NETIF_F_HW_ESP` (`net/ethtool/common.c`).
pub const ESP_HW_OFFLOAD: &str = "esp-hw-offload";

/// Interface index of `name` (`if_nametoindex`).
pub fn ifindex(name: &str) -> Result<u32, Error> {
    let c = CString::new(name).map_err(|_| SpecError::NoSuchInterface(name.to_owned()))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(SpecError::NoSuchInterface(name.to_owned()).into());
    }
    Ok(idx)
}

/// True when `iface` has `esp-hw-offload` active (`ethtool -k IFACE`).
pub fn esp_hw_offload(iface: &str) -> Result<bool, Error> {
    feature_active(iface, ESP_HW_OFFLOAD)
}

/// True when the named ethtool feature is active on `iface`.
pub fn feature_active(iface: &str, feature: &str) -> Result<bool, Error> {
    if iface.is_empty() || iface.len() >= libc::IFNAMSIZ {
        return Err(SpecError::NoSuchInterface(iface.to_owned()).into());
    }
    // SAFETY: plain socket(2) call; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::io("ethtool socket", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };

    // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[1]; }
    let mut sset = [0u64; 3];
    write_u32(&mut sset, 0, ETHTOOL_GSSET_INFO);
    write_u32(&mut sset, 1, 0);
    sset[1] = 1u64 << ETH_SS_FEATURES;
    ioctl(&fd, iface, sset.as_mut_ptr().cast(), "ETHTOOL_GSSET_INFO")?;
    if sset[1] & (1u64 << ETH_SS_FEATURES) == 0 {
        return Ok(false);
    }
    let count = read_u32(&sset, 4) as usize;

    // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }
    let words = (12 + count * ETH_GSTRING_LEN).div_ceil(8);
    let mut strings = vec![0u64; words];
    write_u32(&mut strings, 0, ETHTOOL_GSTRINGS);
    write_u32(&mut strings, 1, ETH_SS_FEATURES);
    write_u32(&mut strings, 2, u32::try_from(count).unwrap_or(0));
    ioctl(&fd, iface, strings.as_mut_ptr().cast(), "ETHTOOL_GSTRINGS")?;
    let bytes: Vec<u8> = strings.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let Some(index) = (0..count).find(|i| {
        let s = &bytes[12 + i * ETH_GSTRING_LEN..12 + (i + 1) * ETH_GSTRING_LEN];
        let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
        &s[..end] == feature.as_bytes()
    }) else {
        return Ok(false);
    };

    // struct ethtool_gfeatures { u32 cmd; u32 size; struct { u32 available,
    // requested, active, never_changed; } features[size]; }
    let blocks = count.div_ceil(32);
    let mut feats = vec![0u64; (8 + blocks * 16).div_ceil(8)];
    write_u32(&mut feats, 0, ETHTOOL_GFEATURES);
    write_u32(&mut feats, 1, u32::try_from(blocks).unwrap_or(0));
    ioctl(&fd, iface, feats.as_mut_ptr().cast(), "ETHTOOL_GFEATURES")?;
    let active = read_u32(&feats, 2 + (index / 32) * 4 + 2);
    Ok(active & (1 << (index % 32)) != 0)
}

/// Writes the `i`-th u32 of a u64-aligned buffer in native order.
fn write_u32(buf: &mut [u64], i: usize, v: u32) {
    let mut bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
    bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    for (w, chunk) in buf.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        *w = u64::from_ne_bytes(a);
    }
}

/// Reads the `i`-th u32 of a u64-aligned buffer.
fn read_u32(buf: &[u64], i: usize) -> u32 {
    let w = buf[i / 2].to_ne_bytes();
    let off = (i % 2) * 4;
    u32::from_ne_bytes([w[off], w[off + 1], w[off + 2], w[off + 3]])
}

fn ioctl(
    fd: &OwnedFd,
    iface: &str,
    data: *mut libc::c_char,
    what: &'static str,
) -> Result<(), Error> {
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(iface.bytes()) {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = data;
    // SAFETY: SIOCETHTOOL reads/writes the buffer behind ifru_data, which the
    // caller sized for the command; ifr outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &raw mut ifr) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODEV) {
            return Err(SpecError::NoSuchInterface(iface.to_owned()).into());
        }
        return Err(Error::io(what, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u32_words_round_trip() {
        let mut b = [0u64; 3];
        write_u32(&mut b, 0, 0x37);
        write_u32(&mut b, 4, 99);
        assert_eq!(read_u32(&b, 0), 0x37);
        assert_eq!(read_u32(&b, 4), 99);
        assert_eq!(read_u32(&b, 1), 0);
    }

    #[test]
    fn loopback_has_no_esp_offload_and_bad_names_fail() {
        // `lo` exists in every namespace and never offloads ESP.
        match esp_hw_offload("lo") {
            Ok(v) => assert!(!v),
            Err(e) => panic!("ethtool on lo: {e}"),
        }
        assert!(matches!(
            esp_hw_offload("no-such-if0"),
            Err(Error::Spec(SpecError::NoSuchInterface(_)))
        ));
        assert!(ifindex("lo").is_ok_and(|i| i > 0));
    }
}
