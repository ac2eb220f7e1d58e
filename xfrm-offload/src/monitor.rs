//! Kernel XFRM notifications (`xfrm_user.c`: `xfrm_send_acquire`,
//! `xfrm_exp_state_notify`, `xfrm_send_mapping`) on a multicast socket.
//!
//! Multicast sockets overflow when the reader lags: the kernel drops messages
//! and the next `recvmsg` fails with ENOBUFS. The monitor then dumps SAs and
//! policies through its [`Xfrm`] handle and yields [`Event::Resynced`], so the
//! caller can reconcile instead of silently missing an acquire or expire.

use std::collections::VecDeque;

use futures::Stream;
use netlink_sys::{AsyncSocket, AsyncSocketExt, TokioSocket};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::handle::Xfrm;
use crate::msg::event::{Acquire, Expire, parse_polexpire};
use crate::msg::policy::PolicyState;
use crate::msg::sa::{MappingChange, SaState};
use crate::netlink::{grow, grow_rcvbuf, open_socket, split, wipe};

const XFRM_MSG_NEWSA: u16 = 16;
const XFRM_MSG_DELSA: u16 = 17;
const XFRM_MSG_NEWPOLICY: u16 = 19;
const XFRM_MSG_DELPOLICY: u16 = 20;
const XFRM_MSG_ACQUIRE: u16 = 23;
const XFRM_MSG_EXPIRE: u16 = 24;
const XFRM_MSG_UPDPOLICY: u16 = 25;
const XFRM_MSG_UPDSA: u16 = 26;
const XFRM_MSG_POLEXPIRE: u16 = 27;
const XFRM_MSG_FLUSHSA: u16 = 28;
const XFRM_MSG_FLUSHPOLICY: u16 = 29;
const XFRM_MSG_MAPPING: u16 = 38;

/// Which multicast groups to join (`XFRMNLGRP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Groups {
    /// XFRMNLGRP_ACQUIRE (1).
    pub acquire: bool,
    /// XFRMNLGRP_EXPIRE (2): SA and policy expiry.
    pub expire: bool,
    /// XFRMNLGRP_MAPPING (8): NAT-T mapping changes.
    pub mapping: bool,
    /// XFRMNLGRP_SA (3): SA added/updated/deleted by anyone.
    pub sa: bool,
    /// XFRMNLGRP_POLICY (4): policy added/updated/deleted by anyone.
    pub policy: bool,
}

impl Default for Groups {
    /// Acquire, expire and mapping: what a key manager needs.
    fn default() -> Self {
        Self {
            acquire: true,
            expire: true,
            mapping: true,
            sa: false,
            policy: false,
        }
    }
}

/// What the kernel reported.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A packet needs an SA.
    Acquire(Acquire),
    /// An SA hit a soft or hard limit.
    Expire(Expire),
    /// A NAT-T peer moved.
    Mapping(MappingChange),
    /// A policy hit a lifetime limit.
    PolicyExpire {
        /// The policy.
        policy: PolicyState,
        /// Hard expiry (deleted).
        hard: bool,
    },
    /// An SA was added, updated, deleted or flushed (group `sa`).
    SaChanged {
        /// XFRM message type (NEWSA 16, DELSA 17, UPDSA 26, FLUSHSA 28).
        msg_type: u16,
    },
    /// A policy was added, updated, deleted or flushed (group `policy`).
    PolicyChanged {
        /// XFRM message type (NEWPOLICY 19, DELPOLICY 20, UPDPOLICY 25, FLUSHPOLICY 29).
        msg_type: u16,
    },
    /// The socket overflowed (ENOBUFS) and events were lost; this is the
    /// kernel's state dumped right after.
    Resynced {
        /// All SAs (keys dropped).
        sas: Vec<SaState>,
        /// All policies.
        policies: Vec<PolicyState>,
    },
}

/// A stream of kernel XFRM events.
pub struct Monitor {
    sock: TokioSocket,
    xfrm: Xfrm,
    pending: VecDeque<Event>,
    rx: Zeroizing<Vec<u8>>,
    overruns: u64,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("pending", &self.pending.len())
            .field("overruns", &self.overruns)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// Joins `groups` in the current network namespace; `xfrm` is used to
    /// resynchronise after an overflow. Must run inside a tokio runtime.
    pub fn new(xfrm: Xfrm, groups: Groups) -> Result<Self, Error> {
        Self::with_rcvbuf(xfrm, groups, 4 << 20)
    }

    /// Like [`Monitor::new`] with a given receive buffer (small values make
    /// overflows easy to provoke in tests).
    pub fn with_rcvbuf(xfrm: Xfrm, groups: Groups, bytes: usize) -> Result<Self, Error> {
        let sock = open_socket()?;
        let s = sock.socket_ref();
        let join = |on: bool, g: u32| -> Result<(), Error> {
            if on {
                s.add_membership(g)
                    .map_err(|e| Error::io("join multicast group", e))?;
            }
            Ok(())
        };
        join(groups.acquire, 1)?;
        join(groups.expire, 2)?;
        join(groups.sa, 3)?;
        join(groups.policy, 4)?;
        join(groups.mapping, 8)?;
        grow_rcvbuf(&sock, bytes);
        Ok(Self {
            sock,
            xfrm,
            pending: VecDeque::new(),
            rx: Zeroizing::new(Vec::with_capacity(64 * 1024)),
            overruns: 0,
        })
    }

    /// How many overflows (ENOBUFS) were seen so far.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// The next event. Errors are socket or decode failures; an overflow is
    /// not an error but an [`Event::Resynced`].
    pub async fn next(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            wipe(&mut self.rx);
            grow(&mut self.rx, 64 * 1024);
            let rx: &mut Vec<u8> = &mut self.rx;
            match self.sock.recv(rx).await {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.overruns += 1;
                    tracing::warn!("xfrm monitor overflowed (ENOBUFS); resynchronising by dump");
                    let sas = self.xfrm.dump_sas().await?;
                    let policies = self.xfrm.dump_policies().await?;
                    return Ok(Event::Resynced { sas, policies });
                }
                Err(e) => return Err(Error::io("recvmsg (monitor)", e)),
            }
            for m in split(&self.rx)? {
                if let Some(ev) = decode(m.ty, m.body)? {
                    self.pending.push_back(ev);
                }
            }
        }
    }

    /// The monitor as a `Stream` (for `select!` loops). It never ends.
    pub fn into_stream(self) -> impl Stream<Item = Result<Event, Error>> + Send {
        futures::stream::unfold(self, |mut m| async move {
            let ev = m.next().await;
            Some((ev, m))
        })
    }
}

/// Decodes one notification; `None` for types not surfaced.
pub(crate) fn decode(ty: u16, body: &[u8]) -> Result<Option<Event>, Error> {
    Ok(Some(match ty {
        XFRM_MSG_ACQUIRE => Event::Acquire(Acquire::parse(body)?),
        XFRM_MSG_EXPIRE => Event::Expire(Expire::parse(body)?),
        XFRM_MSG_MAPPING => Event::Mapping(MappingChange::parse(body)?),
        XFRM_MSG_POLEXPIRE => {
            let (policy, hard) = parse_polexpire(body)?;
            Event::PolicyExpire { policy, hard }
        }
        XFRM_MSG_NEWSA | XFRM_MSG_DELSA | XFRM_MSG_UPDSA | XFRM_MSG_FLUSHSA => {
            Event::SaChanged { msg_type: ty }
        }
        XFRM_MSG_NEWPOLICY | XFRM_MSG_DELPOLICY | XFRM_MSG_UPDPOLICY | XFRM_MSG_FLUSHPOLICY => {
            Event::PolicyChanged { msg_type: ty }
        }
        _ => return Ok(None),
    }))
}
