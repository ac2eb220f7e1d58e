//! Dropping the capabilities the running daemon no longer needs, once its
//! sockets are bound and its steering is attached (capabilities(7)).
//!
//! What stays: CAP_NET_ADMIN (XFRM netlink), CAP_BPF (steering map updates
//! while `kernel.unprivileged_bpf_disabled` is set) and CAP_DAC_READ_SEARCH
//! (reading a config or `secret_file` another user owns on reload).
//! Capabilities belong to threads, so the drop is only done while the
//! process has a single thread; threads created later inherit the reduced
//! sets. Otherwise nothing is dropped and the caller says so.

use std::io;

/// linux/capability.h numbers.
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_NET_ADMIN: u32 = 12;
const CAP_BPF: u32 = 39;
const KEEP: [u32; 3] = [CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_BPF];

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The 64-bit mask of `caps`.
fn mask(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | (1u64 << c))
}

/// What a drop did.
#[derive(Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Effective and permitted sets reduced to `KEEP` (the mask kept).
    Done(u64),
    /// Not done, and why.
    Skipped(&'static str),
}

fn threads() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

fn last_cap() -> io::Result<u32> {
    let s = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")?;
    s.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Drops every capability but `KEEP` from the bounding, effective and
/// permitted sets (and all inheritable ones).
pub fn drop_unneeded() -> io::Result<Dropped> {
    if threads()? != 1 {
        return Ok(Dropped::Skipped("more than one thread runs already"));
    }
    let last = last_cap()?;
    if last < CAP_BPF {
        return Ok(Dropped::Skipped("kernel without CAP_BPF (Linux < 5.8)"));
    }
    let keep = mask(&KEEP);
    for cap in (0..=last).filter(|c| keep & (1u64 << c) == 0) {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            // Without CAP_SETPCAP the bounding set cannot shrink; the
            // effective and permitted sets below still can.
            if e.raw_os_error() != Some(libc::EPERM) {
                return Err(e);
            }
        }
    }
    let mut hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget writes two `Data` for version 3; both outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    for (i, d) in data.iter_mut().enumerate() {
        let word = (keep >> (32 * i)) as u32;
        d.effective &= word;
        d.permitted &= word;
        d.inheritable = 0;
    }
    // SAFETY: as above; capset only reads them.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let eff = u64::from(data[0].effective) | (u64::from(data[1].effective) << 32);
    Ok(Dropped::Done(eff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_mask_names_admin_bpf_and_read_search() {
        assert_eq!(mask(&KEEP), 0x0000_0080_0000_1004);
    }

    #[test]
    fn a_multithreaded_process_is_left_alone() {
        // The test harness runs tests on threads of its own.
        std::thread::spawn(|| ()).join().expect("thread");
        let r = std::thread::spawn(drop_unneeded).join().expect("thread");
        assert_eq!(
            r.expect("procfs"),
            Dropped::Skipped("more than one thread runs already")
        );
    }
}
