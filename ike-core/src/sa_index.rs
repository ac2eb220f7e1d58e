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

/// The IKE SAs using one ESP SPI: one, except while Child SAs move between
/// IKE SAs (a rekey) or when a peer's outbound SPI equals one of ours. The
/// common case is kept inline, so a lookup reads no second allocation.
#[derive(Clone, Debug)]
pub(crate) enum Owners {
    One(IkeSaId),
    Many(Vec<IkeSaId>),
}

impl Owners {
    pub(crate) fn as_slice(&self) -> &[IkeSaId] {
        match self {
            Self::One(id) => std::slice::from_ref(id),
            Self::Many(v) => v,
        }
    }

    fn add(&mut self, id: IkeSaId) {
        match self {
            Self::One(x) if *x == id => {}
            Self::One(x) => *self = Self::Many(vec![*x, id]),
            Self::Many(v) if !v.contains(&id) => v.push(id),
            Self::Many(_) => {}
        }
    }

    /// Removes `id`; `true` when no owner is left.
    fn remove(&mut self, id: IkeSaId) -> bool {
        match self {
            Self::One(x) => *x == id,
            Self::Many(v) => {
                v.retain(|x| *x != id);
                let (left, first) = (v.len(), v.first().copied());
                if let (1, Some(only)) = (left, first) {
                    *self = Self::One(only);
                }
                left == 0
            }
        }
    }
}

/// The index.
#[derive(Default)]
pub(crate) struct SaIndex {
    entries: HashMap<IkeSaId, Entry>,
    timers: BTreeSet<(Instant, IkeSaId)>,
    by_conn: HashMap<ConnId, BTreeSet<IkeSaId>>,
    by_esp: HashMap<Spi, Owners>,
    by_child: HashMap<ChildSaId, IkeSaId>,
    /// Reused buffers: re-reading an unchanged SA allocates nothing.
    scratch_spis: Vec<Spi>,
    scratch_children: Vec<ChildSaId>,
}

fn held_spis(sa: &IkeSa) -> impl Iterator<Item = Spi> + '_ {
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
}

/// Reads `new` into `cur`; when it differs, returns `true` and leaves the
/// previous contents in `old`. Neither allocates once both buffers are sized.
fn refresh<T: PartialEq>(cur: &mut Vec<T>, old: &mut Vec<T>, new: impl Iterator<Item = T>) -> bool {
    old.clear();
    old.extend(new);
    if *old == *cur {
        return false;
    }
    std::mem::swap(cur, old);
    true
}

fn move_timer(
    timers: &mut BTreeSet<(Instant, IkeSaId)>,
    id: IkeSaId,
    old: Option<Instant>,
    new: Option<Instant>,
) {
    if old == new {
        return;
    }
    if let Some(t) = old {
        timers.remove(&(t, id));
    }
    if let Some(t) = new {
        timers.insert((t, id));
    }
}

fn move_conn(
    by_conn: &mut HashMap<ConnId, BTreeSet<IkeSaId>>,
    id: IkeSaId,
    old: Option<ConnId>,
    new: Option<ConnId>,
) {
    if old == new {
        return;
    }
    if let Some(c) = old
        && let Some(set) = by_conn.get_mut(&c)
    {
        set.remove(&id);
        if set.is_empty() {
            by_conn.remove(&c);
        }
    }
    if let Some(c) = new {
        by_conn.entry(c).or_default().insert(id);
    }
}

fn reindex_esp(by_esp: &mut HashMap<Spi, Owners>, id: IkeSaId, old: &[Spi], new: &[Spi]) {
    for s in old.iter().filter(|s| !new.contains(s)) {
        if let Some(o) = by_esp.get_mut(s)
            && o.remove(id)
        {
            by_esp.remove(s);
        }
    }
    for s in new.iter().filter(|s| !old.contains(s)) {
        by_esp
            .entry(*s)
            .and_modify(|o| o.add(id))
            .or_insert(Owners::One(id));
    }
}

fn reindex_children(
    by_child: &mut HashMap<ChildSaId, IkeSaId>,
    id: IkeSaId,
    old: &[ChildSaId],
    new: &[ChildSaId],
) {
    for c in old {
        if by_child.get(c) == Some(&id) {
            by_child.remove(c);
        }
    }
    for c in new {
        by_child.insert(*c, id);
    }
}

impl SaIndex {
    /// Re-reads IKE SA `id` (`None`: it is gone) and updates every lookup
    /// and the SPI pool. An SA whose Child SAs did not change costs one
    /// entry lookup, no allocation and no other map write.
    pub(crate) fn update(&mut self, id: IkeSaId, sa: Option<&IkeSa>, spis: &mut SpiPool) {
        let Some(sa) = sa else {
            self.forget(id, spis);
            return;
        };
        let e = self.entries.entry(id).or_default();
        let deadline = sa.poll_timeout();
        move_timer(&mut self.timers, id, e.deadline, deadline);
        e.deadline = deadline;
        move_conn(&mut self.by_conn, id, e.conn, Some(sa.conn));
        e.conn = Some(sa.conn);
        let old = &mut self.scratch_spis;
        let esp = sa.children.iter().flat_map(|c| [c.spi_in, c.spi_out]);
        if refresh(&mut e.esp, old, esp) {
            reindex_esp(&mut self.by_esp, id, old, &e.esp);
        }
        let old_children = &mut self.scratch_children;
        let children = sa.children.iter().map(|c| c.id);
        if refresh(&mut e.children, old_children, children) {
            reindex_children(&mut self.by_child, id, old_children, &e.children);
        }
        if refresh(&mut e.held, old, held_spis(sa)) {
            spis.hold(id, old, &e.held);
        }
    }

    /// Drops every entry of IKE SA `id`.
    fn forget(&mut self, id: IkeSaId, spis: &mut SpiPool) {
        let Some(old) = self.entries.remove(&id) else {
            return;
        };
        move_timer(&mut self.timers, id, old.deadline, None);
        move_conn(&mut self.by_conn, id, old.conn, None);
        reindex_esp(&mut self.by_esp, id, &old.esp, &[]);
        reindex_children(&mut self.by_child, id, &old.children, &[]);
        spis.hold(id, &old.held, &[]);
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

    /// IKE SAs with a Child SA using `spi` (inbound or outbound), copied
    /// so the caller may change them while it walks the list.
    pub(crate) fn by_esp(&self, spi: Spi) -> Option<Owners> {
        self.by_esp.get(&spi).cloned()
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
            self.by_esp.values().map(|o| o.as_slice().len()).sum(),
            self.by_child.len(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_go_from_one_to_many_and_back() {
        let (a, b) = (IkeSaId(1), IkeSaId(2));
        let mut o = Owners::One(a);
        o.add(a);
        assert_eq!(o.as_slice(), &[a], "adding the same SA twice keeps one");
        o.add(b);
        assert_eq!(o.as_slice(), &[a, b]);
        assert!(!o.remove(a), "b is left");
        assert!(matches!(o, Owners::One(x) if x == b), "back inline: {o:?}");
        assert!(!o.remove(a), "removing a stranger leaves b");
        assert!(o.remove(b), "nobody left");
    }

    #[test]
    fn refresh_reports_a_change_and_keeps_the_old_contents() {
        let (mut cur, mut old) = (vec![Spi(1), Spi(2)], Vec::new());
        assert!(!refresh(&mut cur, &mut old, [Spi(1), Spi(2)].into_iter()));
        assert_eq!(cur, [Spi(1), Spi(2)]);
        assert!(refresh(&mut cur, &mut old, [Spi(2), Spi(3)].into_iter()));
        assert_eq!(
            (cur.as_slice(), old.as_slice()),
            (&[Spi(2), Spi(3)][..], &[Spi(1), Spi(2)][..])
        );
    }
}
