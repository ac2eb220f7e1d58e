//! Checks of the recovery, retransmission, lifetime and algorithm settings.

use super::super::locate::Seg;
use super::super::{Child, CloseAction, Connection, Daemon, DpdAction, StartAction, literal_addrs};
use super::{Problem, problem};

/// `[daemon] retransmit_*`: strongSwan's formula needs a positive timeout and
/// a base of at least 1 (a smaller one would shrink the waits).
pub(super) fn daemon(d: &Daemon, out: &mut Vec<Problem>) {
    let k = |f: &str| path!["daemon", f];
    if d.retransmit_timeout.0 <= 0.0 || d.retransmit_timeout.0 > 3600.0 {
        out.push(problem(
            k("retransmit_timeout"),
            "must be between 0 and 3600 seconds (strongSwan's default is 4.0)",
        ));
    }
    if d.retransmit_base.0 < 1.0 || d.retransmit_base.0 > 10.0 {
        out.push(problem(
            k("retransmit_base"),
            "must be between 1.0 and 10.0 (strongSwan's default is 1.8)",
        ));
    }
    if d.retransmit_tries > 100 {
        out.push(problem(
            k("retransmit_tries"),
            "must be at most 100 (strongSwan's default is 5)",
        ));
    }
}

/// IKE proposals: the engine protects IKE messages with AES-GCM only with
/// its 16-byte ICV (RFC 5282); the shorter ICVs are for ESP.
pub(super) fn connection(
    c: &Connection,
    ck: &dyn Fn(Vec<Seg>) -> Vec<Seg>,
    out: &mut Vec<Problem>,
) {
    use ike_core::wire::EncrId;
    for (i, p) in c.proposals.iter().enumerate() {
        let short_icv =
            p.0.parsed
                .iter()
                .flat_map(|x| &x.encr)
                .any(|e| matches!(e.id, EncrId::AES_GCM_8 | EncrId::AES_GCM_12));
        if short_icv {
            out.push(problem(
                ck(path!["proposals", i]),
                format!(
                    "{:?}: IKE SAs use AES-GCM with a 16-byte ICV only (gcm16); gcm12 and gcm8 are for esp_proposals",
                    p.0.text
                ),
            ));
        }
    }
}

/// Trap actions need the addresses of trap policies; volume limits must
/// leave room between the rekey and the end.
pub(super) fn child(
    c: &Connection,
    ch: &Child,
    k: &dyn Fn(&str) -> Vec<Seg>,
    out: &mut Vec<Problem>,
) {
    let traps = [
        ("start_action", ch.start_action == StartAction::Trap),
        ("dpd_action", ch.dpd_action == DpdAction::Trap),
        ("close_action", ch.close_action == CloseAction::Trap),
    ];
    if let Some((field, _)) = traps.iter().find(|(_, on)| *on) {
        if c.local_addrs.is_empty() && *field != "start_action" {
            out.push(problem(
                k(field),
                "trap policies need our address: set local_addrs on the connection",
            ));
        }
        if !c.remote_addrs.is_empty() && literal_addrs(&c.remote_addrs).next().is_none() {
            out.push(problem(
                k(field),
                "trap policies need the peer's IP address: put one in remote_addrs (DNS names are resolved only when initiating)",
            ));
        }
    }
    for (rekey, life, what) in [
        (ch.rekey_bytes, ch.life_bytes, "life_bytes"),
        (ch.rekey_packets, ch.life_packets, "life_packets"),
    ] {
        if rekey.0 != 0 && life.0 != 0 && life.0 <= rekey.0 {
            out.push(problem(
                k(what),
                "must be larger than its rekey_ limit (or left out: 10% more)",
            ));
        }
    }
    for (rekey, rand, what, msg) in [
        (
            ch.rekey_bytes,
            ch.rand_bytes,
            "rand_bytes",
            "must not exceed rekey_bytes",
        ),
        (
            ch.rekey_packets,
            ch.rand_packets,
            "rand_packets",
            "must not exceed rekey_packets",
        ),
    ] {
        if rand.is_some_and(|r| r.0 > rekey.0) {
            out.push(problem(k(what), msg));
        }
    }
}
