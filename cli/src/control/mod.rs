//! The control protocol between `lanes up/down/status/reload` and the daemon:
//! newline-delimited JSON over a unix socket (mode 0600), one request and one
//! response per line, each carrying [`PROTOCOL_VERSION`].

mod client;
mod protocol;
mod server;
mod status;

pub use client::{request, status};
pub use protocol::{PROTOCOL_VERSION, Request, RequestKind, Response};
pub use server::{ControlRequest, MAX_LINE, bind, serve};
pub use status::{
    ChildSaStatus, EngineStats, ExchangeCount, ExchangeFailure, IkeSaStatus, StatusReport,
    SteerCpuStatus, SteeringState, TrapStatus,
};
