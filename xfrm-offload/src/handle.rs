//! The [`Xfrm`] handle: SA and policy requests, in the shape of rtnetlink's
//! `Handle` (one method per `ip xfrm` command). Cloning is cheap; clones share
//! one request socket.

use std::sync::Arc;

use netlink_packet_xfrm::{XfrmMessage, state::GetDumpMessage};
use tokio::sync::Mutex;

use crate::error::{Error, Op, RequestTraits};
use crate::msg::policy::{PolicyId, PolicySpec, PolicyState};
use crate::msg::sa::{OffloadDev, SaId, SaSpec, SaState, SpiRequest};
use crate::netlink::Conn;
use crate::types::Spi;

const XFRM_MSG_NEWSA: u16 = 16;
const XFRM_MSG_NEWPOLICY: u16 = 19;
const XFRM_MSG_GETPOLICY: u16 = 21;

/// A handle to the kernel's XFRM state. Create one per process with
/// [`Xfrm::new`]; clone it freely.
#[derive(Clone)]
pub struct Xfrm {
    pub(crate) conn: Arc<Mutex<Conn>>,
}

impl std::fmt::Debug for Xfrm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xfrm").finish_non_exhaustive()
    }
}

impl Xfrm {
    /// Opens a NETLINK_XFRM request socket in the current network namespace.
    /// Must run inside a tokio runtime.
    pub fn new() -> Result<Self, Error> {
        Ok(Self {
            conn: Arc::new(Mutex::new(Conn::open()?)),
        })
    }

    /// `ip xfrm state add`: installs an SA (no offload).
    pub async fn add_sa(&self, spec: &SaSpec) -> Result<(), Error> {
        self.add_sa_with(spec, None, false).await
    }

    /// `ip xfrm state update`: replaces an SA, or the larval state of an
    /// acquire / ALLOCSPI with the same seq and CPU.
    pub async fn update_sa(&self, spec: &SaSpec) -> Result<(), Error> {
        self.add_sa_with(spec, None, true).await
    }

    /// NEWSA / UPDSA with an optional offload attribute (see
    /// [`crate::offload`] for the ladder that checks what the kernel did).
    pub async fn add_sa_with(
        &self,
        spec: &SaSpec,
        offload: Option<OffloadDev>,
        update: bool,
    ) -> Result<(), Error> {
        let msg = spec.to_message(offload)?;
        let (op, body) = if update {
            (Op::UpdateSa, XfrmMessage::UpdateSa(msg.0.clone()))
        } else {
            (Op::AddSa, XfrmMessage::AddSa(msg.0.clone()))
        };
        let body = WipeOnDrop(body);
        let traits = spec.traits(offload.is_some());
        self.conn.lock().await.ack(&body.0, 0, op, traits).await
    }

    /// Installs many SAs, pipelined: up to 64 requests per `sendmsg`, one
    /// result per SA in order. The outer error is a socket failure.
    pub async fn add_sas(
        &self,
        specs: &[SaSpec],
        update: bool,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let reqs = specs.iter().map(|s| {
            let m = s.to_message(None)?;
            let (op, body) = if update {
                (Op::UpdateSa, XfrmMessage::UpdateSa(m.0.clone()))
            } else {
                (Op::AddSa, XfrmMessage::AddSa(m.0.clone()))
            };
            Ok((body, op, s.traits(false)))
        });
        self.batch(reqs).await
    }

    /// `ip xfrm state get`: reads one SA back (keys are not kept).
    pub async fn get_sa(&self, id: &SaId) -> Result<SaState, Error> {
        let msg = XfrmMessage::GetSa(id.to_message());
        let body = self
            .conn
            .lock()
            .await
            .get(&msg, XFRM_MSG_NEWSA, Op::GetSa, RequestTraits::default())
            .await?;
        SaState::parse(&body)
    }

    /// `ip xfrm state delete`.
    pub async fn delete_sa(&self, id: &SaId) -> Result<(), Error> {
        let msg = XfrmMessage::DeleteSa(id.to_message());
        self.conn
            .lock()
            .await
            .ack(&msg, 0, Op::DeleteSa, RequestTraits::default())
            .await
    }

    /// Deletes many SAs, pipelined; one result per SA.
    pub async fn delete_sas(&self, ids: &[SaId]) -> Result<Vec<Result<(), Error>>, Error> {
        let reqs = ids.iter().map(|id| {
            Ok((
                XfrmMessage::DeleteSa(id.to_message()),
                Op::DeleteSa,
                RequestTraits::default(),
            ))
        });
        self.batch(reqs).await
    }

    /// `ip xfrm state list`: every SA in this namespace, lanes' or not.
    pub async fn dump_sas(&self) -> Result<Vec<SaState>, Error> {
        let msg = XfrmMessage::GetDumpSa(GetDumpMessage::default());
        let mut out = Vec::new();
        self.conn
            .lock()
            .await
            .dump(&msg, XFRM_MSG_NEWSA, Op::DumpSa, |b| {
                out.push(SaState::parse(b)?);
                Ok(())
            })
            .await?;
        Ok(out)
    }

    /// `ip xfrm state allocspi`: reserves an SPI (creates a larval SA that a
    /// later [`Xfrm::update_sa`] with the same seq and CPU fills in).
    pub async fn alloc_spi(&self, req: &SpiRequest) -> Result<Spi, Error> {
        let msg = XfrmMessage::AllocSpi(req.to_message()?);
        let traits = RequestTraits {
            pcpu: req.pcpu.is_some(),
            dir: req.dir.is_some(),
            ..Default::default()
        };
        let body = self
            .conn
            .lock()
            .await
            .get(&msg, XFRM_MSG_NEWSA, Op::AllocSpi, traits)
            .await?;
        Ok(SaState::parse(&body)?.spi)
    }

    /// `ip xfrm policy add`.
    pub async fn add_policy(&self, spec: &PolicySpec) -> Result<(), Error> {
        let msg = XfrmMessage::AddPolicy(spec.to_message()?);
        let traits = RequestTraits {
            offload: spec.offload.is_some(),
            ..Default::default()
        };
        self.conn
            .lock()
            .await
            .ack(&msg, 0, Op::AddPolicy, traits)
            .await
    }

    /// `ip xfrm policy update` (adds or replaces).
    pub async fn update_policy(&self, spec: &PolicySpec) -> Result<(), Error> {
        let msg = XfrmMessage::UpdatePolicy(spec.to_message()?);
        let traits = RequestTraits {
            offload: spec.offload.is_some(),
            ..Default::default()
        };
        self.conn
            .lock()
            .await
            .ack(&msg, 0, Op::UpdatePolicy, traits)
            .await
    }

    /// Adds or updates many policies, pipelined; one result per policy.
    pub async fn update_policies(
        &self,
        specs: &[PolicySpec],
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let reqs = specs.iter().map(|s| {
            Ok((
                XfrmMessage::UpdatePolicy(s.to_message()?),
                Op::UpdatePolicy,
                RequestTraits {
                    offload: s.offload.is_some(),
                    ..Default::default()
                },
            ))
        });
        self.batch(reqs).await
    }

    /// `ip xfrm policy get`.
    pub async fn get_policy(&self, id: &PolicyId) -> Result<PolicyState, Error> {
        let msg = XfrmMessage::GetPolicy(id.to_message());
        let body = self
            .conn
            .lock()
            .await
            .get(
                &msg,
                XFRM_MSG_NEWPOLICY,
                Op::GetPolicy,
                RequestTraits::default(),
            )
            .await?;
        PolicyState::parse(&body)
    }

    /// `ip xfrm policy delete`.
    pub async fn delete_policy(&self, id: &PolicyId) -> Result<(), Error> {
        let msg = XfrmMessage::DeletePolicy(id.to_message());
        self.conn
            .lock()
            .await
            .ack(&msg, 0, Op::DeletePolicy, RequestTraits::default())
            .await
    }

    /// Deletes many policies, pipelined; one result per policy.
    pub async fn delete_policies(&self, ids: &[PolicyId]) -> Result<Vec<Result<(), Error>>, Error> {
        let reqs = ids.iter().map(|id| {
            Ok((
                XfrmMessage::DeletePolicy(id.to_message()),
                Op::DeletePolicy,
                RequestTraits::default(),
            ))
        });
        self.batch(reqs).await
    }

    /// Sends the requests that could be built in one pipelined batch and
    /// returns one result per request, in order: a request that failed to
    /// build keeps its error. Key material is wiped after sending. The outer
    /// error is a socket failure.
    async fn batch(
        &self,
        reqs: impl Iterator<Item = Result<(XfrmMessage, Op, RequestTraits), Error>>,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let mut msgs = Vec::new();
        let mut early: Vec<Option<Error>> = Vec::new();
        for r in reqs {
            match r {
                Ok(m) => {
                    msgs.push(m);
                    early.push(None);
                }
                Err(e) => early.push(Some(e)),
            }
        }
        let sent = self.conn.lock().await.ack_batch(&msgs, 0).await;
        for (m, _, _) in &mut msgs {
            wipe(m);
        }
        let mut sent = sent?.into_iter();
        Ok(early
            .into_iter()
            .map(|e| match e {
                Some(e) => Err(e),
                None => sent.next().unwrap_or(Ok(())),
            })
            .collect())
    }

    /// `ip xfrm policy list`: every policy, lanes' or not.
    pub async fn dump_policies(&self) -> Result<Vec<PolicyState>, Error> {
        // xfrm_dump_policy ignores the body; send none, like `ip xfrm policy`.
        let msg = XfrmMessage::Other((XFRM_MSG_GETPOLICY, Vec::new()));
        let mut out = Vec::new();
        self.conn
            .lock()
            .await
            .dump(&msg, XFRM_MSG_NEWPOLICY, Op::DumpPolicy, |b| {
                out.push(PolicyState::parse(b)?);
                Ok(())
            })
            .await?;
        Ok(out)
    }
}

/// Holds a message whose key copies must be wiped.
struct WipeOnDrop(XfrmMessage);

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

fn wipe(m: &mut XfrmMessage) {
    if let XfrmMessage::AddSa(s) | XfrmMessage::UpdateSa(s) = m {
        crate::msg::common::wipe_keys(&mut s.nlas);
    }
}
