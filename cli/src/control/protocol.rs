//! Control messages (serde). Unknown fields are ignored so newer clients can talk
//! to older daemons of the same protocol version.

use serde::{Deserialize, Serialize};

use super::status::StatusReport;

/// Version of the control protocol; a daemon answers other versions with an error.
pub const PROTOCOL_VERSION: u32 = 1;

/// One request line: `{"version":1,"command":"up","name":"dc-b"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version of the client.
    pub version: u32,
    /// What to do.
    #[serde(flatten)]
    pub kind: RequestKind,
}

/// The commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum RequestKind {
    /// Initiate a connection's IKE SA and children.
    Up {
        /// Connection name.
        name: String,
    },
    /// Delete a connection's SAs and kernel state.
    Down {
        /// Connection name.
        name: String,
    },
    /// Report IKE and Child SAs.
    Status,
    /// Reload the configuration file.
    Reload,
    /// Tell what reloading the configuration file would do, changing nothing.
    ReloadDryRun,
}

impl Request {
    /// A request at the current protocol version.
    pub fn new(kind: RequestKind) -> Self {
        Request {
            version: PROTOCOL_VERSION,
            kind,
        }
    }
}

/// One response line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Protocol version of the daemon.
    pub version: u32,
    /// Whether the request succeeded.
    pub ok: bool,
    /// Human-readable result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusReport>,
}

impl Response {
    /// Success with a message.
    pub fn ok(message: impl Into<String>) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            ok: true,
            message: Some(message.into()),
            ..Default::default()
        }
    }
    /// Failure with a reason.
    pub fn error(error: impl Into<String>) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            ok: false,
            error: Some(error.into()),
            ..Default::default()
        }
    }
    /// A status report.
    pub fn status(report: StatusReport) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            ok: true,
            status: Some(report),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_stable() {
        let r = Request::new(RequestKind::Up {
            name: "dc-b".into(),
        });
        assert_eq!(
            serde_json::to_string(&r).expect("json"),
            r#"{"version":1,"command":"up","name":"dc-b"}"#
        );
        let r: Request =
            serde_json::from_str(r#"{"command":"status","version":1}"#).expect("parse");
        assert_eq!(r.kind, RequestKind::Status);
        assert_eq!(
            serde_json::to_string(&Response::error("no such connection")).expect("json"),
            r#"{"version":1,"ok":false,"error":"no such connection"}"#
        );
        assert!(serde_json::from_str::<Request>(r#"{"version":1,"command":"explode"}"#).is_err());
    }
}
