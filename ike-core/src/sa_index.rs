//! Lookups over the endpoint's IKE SAs that must not scan them all: the timer
//! wheel, SAs by connection, by ESP SPI and by Child SA handle.
//!
//! The index is derived: after every call the endpoint re-reads each IKE SA
//! the call touched ([`SaIndex::update`]), so no handler has to keep it in
//! step by hand, and an SA that is gone leaves no entry behind.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
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
    timers: Timers,
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

/// Every SA's deadline in a min-heap whose entries may be stale: moving a
/// deadline pushes the new one and leaves the old in place, and an entry
/// counts only while it matches its SA's [`Entry::deadline`]. A push touches
/// the few heap slots on its path instead of a tree's nodes on two paths (a
/// remove and an insert), which at 10,000 SAs are cache misses.
#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<(Instant, IkeSaId)>>,
}

impl Timers {
    fn live(entries: &HashMap<IkeSaId, Entry>, t: Instant, id: IkeSaId) -> bool {
        entries.get(&id).and_then(|e| e.deadline) == Some(t)
    }

    fn push(&mut self, id: IkeSaId, t: Instant) {
        self.heap.push(Reverse((t, id)));
    }

    /// Drops stale entries from the top, so the top is the earliest live
    /// deadline, and rebuilds the heap when stale entries outnumber live
    /// ones (amortised over the pushes that made them stale).
    fn settle(&mut self, entries: &HashMap<IkeSaId, Entry>) {
        while let Some(&Reverse((t, id))) = self.heap.peek() {
            if Self::live(entries, t, id) {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > 2 * entries.len() + 64 {
            self.heap = entries
                .iter()
                .filter_map(|(id, e)| e.deadline.map(|t| Reverse((t, *id))))
                .collect();
        }
    }

    fn first(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
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
    for c in old.iter().filter(|c| !new.contains(c)) {
        if by_child.get(c) == Some(&id) {
            by_child.remove(c);
        }
    }
    for c in new.iter().filter(|c| !old.contains(c)) {
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
        let moved = e.deadline != deadline;
        if moved && let Some(t) = deadline {
            self.timers.push(id, t);
        }
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
        // Only a moved deadline can leave a stale entry on top.
        if moved {
            self.timers.settle(&self.entries);
        }
    }

    /// Drops every entry of IKE SA `id`.
    fn forget(&mut self, id: IkeSaId, spis: &mut SpiPool) {
        let Some(old) = self.entries.remove(&id) else {
            return;
        };
        if old.deadline.is_some() {
            self.timers.settle(&self.entries);
        }
        move_conn(&mut self.by_conn, id, old.conn, None);
        reindex_esp(&mut self.by_esp, id, &old.esp, &[]);
        reindex_children(&mut self.by_child, id, &old.children, &[]);
        spis.hold(id, &old.held, &[]);
    }

    /// The earliest timer of any SA.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.first()
    }

    /// Takes the SAs whose timers are due; they are re-read after handling.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<IkeSaId> {
        let mut due = Vec::new();
        while let Some(&Reverse((t, id))) = self.timers.heap.peek() {
            if t > now {
                break;
            }
            self.timers.heap.pop();
            if let Some(e) = self.entries.get_mut(&id)
                && e.deadline == Some(t)
            {
                e.deadline = None;
                due.push(id);
            }
        }
        self.timers.settle(&self.entries);
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
            self.entries
                .values()
                .filter(|e| e.deadline.is_some())
                .count(),
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

    /// Moves a deadline the way [`SaIndex::update`] does.
    fn set(t: &mut Timers, entries: &mut HashMap<IkeSaId, Entry>, id: IkeSaId, d: Option<Instant>) {
        let e = entries.entry(id).or_default();
        if e.deadline != d
            && let Some(at) = d
        {
            t.push(id, at);
        }
        e.deadline = d;
        t.settle(entries);
    }

    #[test]
    fn timers_skip_stale_deadlines_and_stay_bounded() {
        let now = Instant::now();
        let at = |s| Some(now + std::time::Duration::from_secs(s));
        let (mut t, mut entries) = (Timers::default(), HashMap::new());
        let (a, b) = (IkeSaId(1), IkeSaId(2));
        set(&mut t, &mut entries, a, at(5));
        set(&mut t, &mut entries, b, at(9));
        assert_eq!(t.first(), at(5));
        set(&mut t, &mut entries, a, at(20));
        assert_eq!(t.first(), at(9), "a's old deadline is stale");
        set(&mut t, &mut entries, b, None);
        assert_eq!(t.first(), at(20));
        // a moves back and forth: one live entry, the heap stays bounded.
        for i in 0..10_000 {
            set(&mut t, &mut entries, a, at(30 + i % 7));
        }
        assert!(t.heap.len() <= 2 * entries.len() + 64, "{}", t.heap.len());
        assert_eq!(t.first(), entries[&a].deadline);
        let mut idx = SaIndex {
            entries,
            timers: t,
            ..SaIndex::default()
        };
        let due = idx.take_due(now + std::time::Duration::from_secs(3600));
        assert_eq!(due, [a], "a is due once, whatever copies the heap held");
        assert_eq!(idx.next_deadline(), None);
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
