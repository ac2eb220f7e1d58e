//! The responder's IKE_SA_INIT key exchanges on worker threads, so that a
//! flood of them cannot delay the event loop (DPD, rekeys, acquires of the
//! tunnels that are up). Bounded twice: at most `workers` jobs run at once,
//! at most [`QUEUED`] wait; a job beyond that is dropped, and its IKE SA
//! expires as a half-open one.

use std::collections::VecDeque;
use std::sync::Arc;

use ike_core::crypto::CryptoProvider;
use ike_core::{KeJob, KeResult};
use tokio::sync::mpsc;

/// Jobs waiting for a worker at most.
pub const QUEUED: usize = 256;

/// The pool.
pub struct KePool {
    crypto: Arc<CryptoProvider>,
    workers: usize,
    running: usize,
    queue: VecDeque<KeJob>,
    done: mpsc::UnboundedSender<KeResult>,
    /// Jobs dropped because the queue was full.
    pub dropped: u64,
}

impl KePool {
    /// A pool of `workers` threads (at least one); results arrive on the receiver.
    pub fn new(
        crypto: CryptoProvider,
        workers: usize,
    ) -> (Self, mpsc::UnboundedReceiver<KeResult>) {
        let (done, rx) = mpsc::unbounded_channel();
        let pool = Self {
            crypto: Arc::new(crypto),
            workers: workers.max(1),
            running: 0,
            queue: VecDeque::new(),
            done,
            dropped: 0,
        };
        (pool, rx)
    }

    /// Runs `job` now, or queues it, or drops it when the queue is full.
    pub fn submit(&mut self, job: KeJob) {
        if self.running < self.workers {
            self.spawn(job);
        } else if self.queue.len() < QUEUED {
            self.queue.push_back(job);
        } else {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = self.dropped,
                    "key exchange queue full: IKE_SA_INIT requests dropped (total since start)"
                );
            }
        }
    }

    /// A job finished (its result was taken from the receiver): start the next.
    pub fn finished(&mut self) {
        self.running = self.running.saturating_sub(1);
        if let Some(job) = self.queue.pop_front() {
            self.spawn(job);
        }
    }

    fn spawn(&mut self, job: KeJob) {
        self.running += 1;
        let crypto = Arc::clone(&self.crypto);
        let done = self.done.clone();
        tokio::task::spawn_blocking(move || {
            let _ = done.send(job.run(&crypto));
        });
    }

    /// Jobs running and waiting.
    pub fn load(&self) -> (usize, usize) {
        (self.running, self.queue.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike_core::{Endpoint, EndpointConfig};
    use std::time::Instant;

    /// Real jobs from a responder fed IKE_SA_INITs.
    fn jobs(n: usize) -> (Endpoint, Vec<KeJob>) {
        let c = |name: &str, local: &str, remote: Option<&str>| {
            let mut c = ike_core::ConnectionConfig::new(
                name,
                local.parse().expect("addr"),
                ike_core::Identity::Fqdn(name.into()),
                ike_core::Psk::new(b"k".to_vec()),
            );
            c.remote = remote.map(|r| r.parse().expect("addr"));
            c.ike_proposals =
                vec![ike_core::Proposal::parse_ike("aes128gcm16-prfsha256-x25519").expect("p")];
            c
        };
        let cfg = |conn, defer_ke| EndpointConfig {
            connections: vec![conn],
            defer_ke,
            cookie_threshold: None,
            dos: ike_core::DosLimits {
                cookie_threshold_ip: 0,
                block_threshold: 0,
                ..ike_core::DosLimits::default()
            },
            ..EndpointConfig::default()
        };
        let now = Instant::now();
        let mut a = Endpoint::new(
            cfg(c("a", "10.0.0.1:500", Some("10.0.0.2:500")), false),
            CryptoProvider::rust_crypto(),
        );
        let mut b = Endpoint::new(
            cfg(c("b", "10.0.0.2:500", None), true),
            CryptoProvider::rust_crypto(),
        );
        for _ in 0..n {
            a.initiate(now, "a").expect("initiate");
            let t = a.poll_transmit(now).expect("init");
            b.handle_datagram(now, t.local, t.remote, &t.data);
        }
        let jobs = std::iter::from_fn(|| b.poll_ke_job()).collect();
        (b, jobs)
    }

    #[tokio::test]
    async fn at_most_workers_run_and_the_queue_is_bounded() {
        let (mut b, jobs) = jobs(QUEUED + 4);
        let (mut pool, mut rx) = KePool::new(CryptoProvider::rust_crypto(), 2);
        for j in jobs {
            pool.submit(j);
        }
        assert_eq!(pool.load(), (2, QUEUED));
        assert_eq!(pool.dropped, 2);
        let mut answered = 0;
        while pool.load() != (0, 0) {
            let res = rx.recv().await.expect("result");
            pool.finished();
            assert!(pool.load().0 <= 2);
            b.handle_ke_result(Instant::now(), res);
            answered += usize::from(b.poll_transmit(Instant::now()).is_some());
        }
        assert_eq!(answered, QUEUED + 2, "every job run was answered");
    }
}
