//! One input at a time, as the loop in [`Daemon::run`] handles it: the
//! engine, then the drain (sends, events, the planner and its kernel ops).
//! For in-process benchmarks, which feed datagrams and kernel events
//! without the sockets' reader tasks or the netlink monitor.

use std::net::SocketAddr;
use std::time::Instant;

use super::backend::{KernelEvent, SaBackend};
use super::driver::Daemon;
use super::steering::Steer;
use super::udp::Datagram;

impl<B: SaBackend, S: Steer> Daemon<B, S> {
    /// A datagram from `remote` to the local socket `local`, then the drain.
    #[doc(hidden)]
    pub async fn feed_datagram(&mut self, remote: SocketAddr, local: SocketAddr, data: &[u8]) {
        let d = Datagram {
            remote,
            local,
            len: data.len(),
        };
        self.on_datagram(d, data);
        self.drain().await;
    }

    /// Waits for the key exchanges running on the worker threads (deferred
    /// IKE_SA_INIT responses) and hands each result to the engine, then
    /// drains, as the loop does; returns once none is left.
    #[doc(hidden)]
    pub async fn settle_key_exchanges(&mut self) {
        while self.ke_pool.load() != (0, 0) {
            let Some(res) = (match self.ke_rx.as_mut() {
                Some(rx) => rx.recv().await,
                None => None,
            }) else {
                return;
            };
            self.ke_pool.finished();
            self.ep.handle_ke_result(Instant::now(), res);
            self.drain().await;
        }
    }

    /// A kernel event (XFRM monitor), then the drain.
    #[doc(hidden)]
    pub async fn feed_kernel(&mut self, ev: KernelEvent) {
        self.on_kernel(ev);
        self.drain().await;
    }
}

impl<B: SaBackend, S: Steer> Daemon<B, S> {
    /// The kernel backend, to read what a recording backend saw.
    #[doc(hidden)]
    pub fn backend_ref(&self) -> &B {
        &self.backend
    }
}
