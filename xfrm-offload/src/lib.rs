//! Installs IPsec SAs and policies into the Linux kernel over XFRM netlink,
//! per CPU (Linux >= 6.13, `XFRMA_SA_PCPU`), with NIC offload where available.
