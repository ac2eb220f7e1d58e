//! Capability probes: install throw-away SAs and read them back, instead of
//! trusting the kernel version (a pre-6.13 kernel may silently ignore
//! `XFRMA_SA_PCPU`, SPEC §3.5). Probe SAs use [`tag::PROBE_REQID`], TEST-NET-1
//! addresses and no policy, so no traffic can use them; each is deleted right
//! after. Results are cached per process ([`capabilities`]).

use std::net::{IpAddr, Ipv4Addr};

use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::handle::Xfrm;
use crate::msg::crypto::{Integ, SaCrypto};
use crate::msg::sa::{SaId, SaSpec};
use crate::tag;
use crate::types::{CpuId, SaDir, Spi};

/// What the running kernel can do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// ESP SAs can be installed (CONFIG_INET_ESP / esp4).
    pub esp: bool,
    /// `rfc4106(gcm(aes))`.
    pub aes_gcm: bool,
    /// `rfc7539esp(chacha20,poly1305)`.
    pub chacha20_poly1305: bool,
    /// `cbc(aes)` + `hmac(sha256)`.
    pub aes_cbc_sha256: bool,
    /// `cbc(aes)` + `hmac(sha512)`.
    pub aes_cbc_sha512: bool,
    /// `XFRMA_SA_DIR` is kept (Linux 6.10+).
    pub sa_dir: bool,
    /// `XFRMA_SA_PCPU` is kept (Linux 6.13+): per-CPU SAs work.
    pub per_cpu_sa: bool,
    /// Why a probe said no (errno text per probe), for logs.
    pub notes: Vec<String>,
}

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const SPI_BASE: u32 = 0x6c6e_ff00;

fn spec(spi: u32, crypto: SaCrypto) -> SaSpec {
    SaSpec::new(SRC, DST, Spi(spi), tag::PROBE_REQID, crypto)
}

fn gcm() -> SaCrypto {
    SaCrypto::AesGcm {
        key: Zeroizing::new(vec![0x5a; 20]),
        icv_bits: 128,
    }
}

static CACHE: OnceCell<Capabilities> = OnceCell::const_new();

/// The capabilities, probed once per process.
pub async fn capabilities(xfrm: &Xfrm) -> Result<&'static Capabilities, Error> {
    CACHE.get_or_try_init(|| probe(xfrm)).await
}

/// Probes now (uncached). Needs CAP_NET_ADMIN.
pub async fn probe(xfrm: &Xfrm) -> Result<Capabilities, Error> {
    let mut caps = Capabilities::default();
    let algs: [(u32, SaCrypto); 4] = [
        (0, gcm()),
        (
            1,
            SaCrypto::ChaCha20Poly1305 {
                key: Zeroizing::new(vec![0x5a; 36]),
            },
        ),
        (
            2,
            SaCrypto::AesCbc {
                enc_key: Zeroizing::new(vec![0x5a; 16]),
                integ: Integ::HmacSha256_128,
                integ_key: Zeroizing::new(vec![0x5a; 32]),
            },
        ),
        (
            3,
            SaCrypto::AesCbc {
                enc_key: Zeroizing::new(vec![0x5a; 16]),
                integ: Integ::HmacSha512_256,
                integ_key: Zeroizing::new(vec![0x5a; 64]),
            },
        ),
    ];
    // Leftovers of an interrupted probe would make adds fail with EEXIST.
    for i in 0..6 {
        let _ = xfrm
            .delete_sa(&SaId::esp(SRC, DST, Spi(SPI_BASE + i)))
            .await;
    }
    for (i, crypto) in algs {
        let s = spec(SPI_BASE + i, crypto);
        let ok = try_install(xfrm, &s, &mut caps.notes).await?;
        match i {
            0 => caps.aes_gcm = ok,
            1 => caps.chacha20_poly1305 = ok,
            2 => caps.aes_cbc_sha256 = ok,
            _ => caps.aes_cbc_sha512 = ok,
        }
        caps.esp |= ok;
    }
    if !caps.esp {
        return Ok(caps);
    }
    let base = if caps.aes_gcm {
        gcm()
    } else {
        SaCrypto::AesCbc {
            enc_key: Zeroizing::new(vec![0x5a; 16]),
            integ: Integ::HmacSha256_128,
            integ_key: Zeroizing::new(vec![0x5a; 32]),
        }
    };
    let mut s = spec(SPI_BASE + 4, base.clone());
    s.dir = Some(SaDir::Out);
    caps.sa_dir = readback(xfrm, &s, &mut caps.notes)
        .await?
        .is_some_and(|st| st.dir == Some(SaDir::Out));
    if caps.sa_dir {
        let mut s = spec(SPI_BASE + 5, base);
        s.dir = Some(SaDir::Out);
        s.pcpu = Some(CpuId(0));
        caps.per_cpu_sa = readback(xfrm, &s, &mut caps.notes)
            .await?
            .is_some_and(|st| st.pcpu == Some(CpuId(0)));
    }
    tracing::info!(?caps, "XFRM capabilities probed");
    Ok(caps)
}

/// Adds and deletes; `Ok(false)` when the kernel refused the SA.
async fn try_install(xfrm: &Xfrm, s: &SaSpec, notes: &mut Vec<String>) -> Result<bool, Error> {
    Ok(readback(xfrm, s, notes).await?.is_some())
}

/// Adds, reads back, deletes. Kernel refusals become `None` (noted);
/// permission and socket errors propagate.
async fn readback(
    xfrm: &Xfrm,
    s: &SaSpec,
    notes: &mut Vec<String>,
) -> Result<Option<crate::msg::sa::SaState>, Error> {
    match xfrm.add_sa(s).await {
        Ok(()) => {}
        Err(Error::Kernel(k)) if k.errno != libc::EPERM => {
            notes.push(format!("{} {:?}: {k}", s.crypto.kernel_name(), s.pcpu));
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    let st = xfrm.get_sa(&s.id()).await;
    let del = xfrm.delete_sa(&s.id()).await;
    let st = st?;
    del?;
    Ok(Some(st))
}
