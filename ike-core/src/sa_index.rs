//! Lookups over the endpoint's IKE SAs that must not scan them all: the timer
//! wheel, SAs by connection, by ESP SPI and by Child SA handle.
//!
//! The index is derived: after every call the endpoint re-reads each IKE SA
//! the call touched ([`SaIndex::update`]), so no handler has to keep it in
//! step by hand, and an SA that is gone leaves no entry behind.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::ids::{ChildSaId, ConnId, IkeSaId, Spi};
use crate::ike_sa::{IkeSa, Pending};
use crate::spi_pool::SpiPool;

/// What one IKE SA contributed to the index when last seen.
#[derive(Default)]
struct Entry {
    conn: Option<ConnId>,
    deadline: Option<Instant>,
    /// Inbound and outbound ESP SPIs of its Child SAs.
    esp: Vec<Spi>,
    /// Inbound SPIs it holds (children and a request in flight).
    held: Vec<Spi>,
    children: Vec<ChildSaId>,
}

/// The index.
#[derive(Default)]
pub(crate) struct SaIndex {
    entries: HashMap<IkeSaId, Entry>,
    timers: BTreeSet<(Instant, IkeSaId)>,
    by_conn: HashMap<ConnId, BTreeSet<IkeSaId>>,
    by_esp: HashMap<Spi, Vec<IkeSaId>>,
    by_child: HashMap<ChildSaId, IkeSaId>,
}

fn held_spis(sa: &IkeSa) -> Vec<Spi> {
    let pending = sa.outstanding.as_ref().and_then(|o| match &o.pending {
        Pending::Auth(Some(r)) | Pending::CreateChild(r) => Some(r.spi_in),
        Pending::FollowupKe(f, _) => Some(f.req.spi_in),
        _ => None,
    });
    sa.children
        .iter()
        .map(|c| c.spi_in)
        .chain(pending)
        .chain(sa.followups.iter().map(|f| f.spi_in))
        .collect()
}

impl SaIndex {
    /// Re-reads IKE SA `id` (`None`: it is gone) and updates every lookup
    /// and the SPI pool.
    pub(crate) fn update(&mut self, id: IkeSaId, sa: Option<&IkeSa>, spis: &mut SpiPool) {
        let old = self.entries.remove(&id).unwrap_or_default();
        let new = sa.map_or_else(Entry::default, |sa| Entry {
            conn: Some(sa.conn),
            deadline: sa.poll_timeout(),
            esp: sa
                .children
                .iter()
                .flat_map(|c| [c.spi_in, c.spi_out])
                .collect(),
            held: held_spis(sa),
            children: sa.children.iter().map(|c| c.id).collect(),
        });
        if old.deadline != new.deadline {
            if let Some(t) = old.deadline {
                self.timers.remove(&(t, id));
            }
            if let Some(t) = new.deadline {
                self.timers.insert((t, id));
            }
        }
        if old.conn != new.conn {
            if let Some(c) = old.conn
                && let Some(set) = self.by_conn.get_mut(&c)
            {
                set.remove(&id);
                if set.is_empty() {
                    self.by_conn.remove(&c);
                }
            }
            if let Some(c) = new.conn {
                self.by_conn.entry(c).or_default().insert(id);
            }
        }
        if old.esp != new.esp {
            self.reindex_esp(id, &old.esp, &new.esp);
        }
        if old.children != new.children {
            for c in &old.children {
                if self.by_child.get(c) == Some(&id) {
                    self.by_child.remove(c);
                }
            }
            for c in &new.children {
                self.by_child.insert(*c, id);
            }
        }
        if old.held != new.held {
            spis.hold(id, &old.held, &new.held);
        }
        if sa.is_some() {
            self.entries.insert(id, new);
        }
    }

    fn reindex_esp(&mut self, id: IkeSaId, old: &[Spi], new: &[Spi]) {
        for s in old.iter().filter(|s| !new.contains(s)) {
            if let Some(v) = self.by_esp.get_mut(s) {
                v.retain(|x| *x != id);
                if v.is_empty() {
                    self.by_esp.remove(s);
                }
            }
        }
        for s in new.iter().filter(|s| !old.contains(s)) {
            let v = self.by_esp.entry(*s).or_default();
            if !v.contains(&id) {
                v.push(id);
            }
        }
    }

    /// The earliest timer of any SA.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Takes the SAs whose timers are due; they are re-read after handling.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<IkeSaId> {
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(e) = self.entries.get_mut(&id) {
                e.deadline = None;
            }
            due.push(id);
        }
        due
    }

    /// IKE SAs of a connection.
    pub(crate) fn of_conn(&self, conn: ConnId) -> impl Iterator<Item = IkeSaId> + '_ {
        self.by_conn.get(&conn).into_iter().flatten().copied()
    }

    /// IKE SAs with a Child SA using `spi` (inbound or outbound).
    pub(crate) fn by_esp(&self, spi: Spi) -> &[IkeSaId] {
        self.by_esp.get(&spi).map_or(&[], Vec::as_slice)
    }

    /// The IKE SA that owns a Child SA.
    pub(crate) fn by_child(&self, child: ChildSaId) -> Option<IkeSaId> {
        self.by_child.get(&child).copied()
    }

    /// Entries in every map (for tests: nothing outlives its SA).
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> [usize; 5] {
        [
            self.entries.len(),
            self.timers.len(),
            self.by_conn.values().map(BTreeSet::len).sum(),
            self.by_esp.values().map(Vec::len).sum(),
            self.by_child.len(),
        ]
    }
}
