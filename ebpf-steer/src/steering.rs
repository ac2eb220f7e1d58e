//! [`Steering`]: load, attach, bind and read the XDP steering program.

use crate::object::object;
use crate::pin::PinRoot;
use crate::stats::{CpuStats, Stats};
use crate::undo::{FailAt, Undo};
use crate::{Binding, Error};
use aya::maps::{
    Array, CpuMap, IterableMap, Map, MapData, MapInfo, PerCpuArray, PerCpuHashMap, PerCpuValues,
};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use ebpf_steer_common::{
    Counter, FLAG_ANY_DST, GLOBAL_SLOT_BUCKETS, MAP_CPUS, MAP_FLAGS, MAP_SLOT_PACKETS, MAP_SPI_CPU,
    MAP_SPI_SLOTS, MAP_SPI_STATS_OLD, MAP_STATS, MAX_BINDINGS, PROGRAM_NAME, SLOT_WAYS, SpiKey,
    SpiSlot, SpiValue, bucket, slots_for,
};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The baseline program in the same object: returns `XDP_PASS` and nothing
/// else. The benchmark runs it, and the testbed attaches it as a control
/// ([`Steering::attach_floor`]).
pub const FLOOR_PROGRAM: &str = "lanes_floor";

/// Default cpumap queue size (frames queued per destination CPU).
pub const DEFAULT_QUEUE_SIZE: u32 = 2048;

/// How the program is attached (`XDP_FLAGS_DRV_MODE` / `XDP_FLAGS_SKB_MODE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// In the driver, before an skb exists (falls back to [`Mode::Skb`]).
    #[default]
    Native,
    /// Generic XDP, after the skb is built: works everywhere, slower.
    Skb,
}

impl Mode {
    /// `native` or `skb`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Skb => "skb",
        }
    }

    const fn xdp(self) -> XdpMode {
        match self {
            Self::Native => XdpMode::Driver,
            Self::Skb => XdpMode::Skb,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" | "drv" | "driver" => Ok(Self::Native),
            "skb" | "generic" => Ok(Self::Skb),
            _ => Err(format!("unknown XDP mode {s:?}: use native or skb")),
        }
    }
}

/// Options of [`Steering::attach`].
#[derive(Clone, Debug)]
pub struct AttachOptions {
    /// Requested mode; `Native` falls back to `Skb` when the driver refuses.
    pub mode: Mode,
    /// Frames queued per CPU in the cpumap.
    pub queue_size: u32,
    /// Where the link and maps are pinned.
    pub pin_root: PinRoot,
}

impl Default for AttachOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Native,
            queue_size: DEFAULT_QUEUE_SIZE,
            pin_root: PinRoot::default(),
        }
    }
}

/// What [`Steering::attach`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The interface.
    pub iface: String,
    /// The mode in effect.
    pub mode: Mode,
    /// Why native mode was refused, when it fell back to skb.
    pub fallback: Option<String>,
    /// Whether a pinned link already existed and had its program replaced.
    pub replaced: bool,
    /// Kernel id of the program now attached.
    pub program_id: u32,
}

/// An interface with a pinned steering link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedIface {
    /// The interface.
    pub iface: String,
    /// Its mode.
    pub mode: Mode,
    /// Kernel id of the attached program.
    pub program_id: u32,
    /// Kernel id of the link.
    pub link_id: u32,
}

/// Result of one `BPF_PROG_TEST_RUN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// The XDP verdict (`XDP_PASS` = 2, `XDP_REDIRECT` = 4, ...).
    pub action: u32,
    /// Mean time per run as the kernel measured it.
    pub per_run: Duration,
}

/// `XDP_PASS` from `include/uapi/linux/bpf.h`.
pub const XDP_PASS: u32 = 2;
/// `XDP_REDIRECT` from `include/uapi/linux/bpf.h`.
pub const XDP_REDIRECT: u32 = 4;

/// The steering program's maps, and the program itself when this process
/// loaded it.
pub struct Steering {
    ebpf: Option<Ebpf>,
    slots: Array<MapData, SpiSlot>,
    slot_packets: PerCpuArray<MapData, u64>,
    spi_cpu: PerCpuHashMap<MapData, SpiKey, SpiValue>,
    cpus: CpuMap<MapData>,
    flags: Array<MapData, u32>,
    stats: PerCpuArray<MapData, u64>,
}

impl fmt::Debug for Steering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steering")
            .field("program_loaded", &self.ebpf.is_some())
            .finish_non_exhaustive()
    }
}

impl Steering {
    /// Loads the program with private, unpinned maps and a cpumap entry for
    /// each of `cpus` (all online CPUs if `None`), without attaching it:
    /// for `BPF_PROG_TEST_RUN` tests and the benchmark.
    pub fn load(cpus: Option<&[u32]>) -> Result<Self, Error> {
        Self::load_sized(cpus, MAX_BINDINGS)
    }

    /// [`Steering::load`] with room for `max_bindings` SPIs instead of
    /// `MAX_BINDINGS` (the benchmark's map-size curve).
    pub fn load_sized(cpus: Option<&[u32]>, max_bindings: u32) -> Result<Self, Error> {
        let mut loader = EbpfLoader::new();
        let possible = possible_cpus()?;
        loader.map_max_entries(MAP_CPUS, possible);
        loader.map_max_entries(MAP_SPI_CPU, max_bindings);
        let slots = slots_for(max_bindings);
        loader.map_max_entries(MAP_SPI_SLOTS, slots);
        loader.map_max_entries(MAP_SLOT_PACKETS, slots);
        let buckets = slots / SLOT_WAYS;
        loader.override_global(GLOBAL_SLOT_BUCKETS, &buckets, true);
        let mut ebpf = loader.load(object()?)?;
        load_program(&mut ebpf, PROGRAM_NAME)?;
        let mut s = Self::from_ebpf(ebpf)?;
        let online = online_cpus()?;
        s.set_cpus(cpus.unwrap_or(&online), DEFAULT_QUEUE_SIZE)?;
        Ok(s)
    }

    /// Loads the program with maps pinned under `opts.pin_root` (reusing
    /// pinned ones), fills the cpumap for the online CPUs, and attaches it
    /// to `iface`. If `iface` already has a pinned link in the same mode its
    /// program is replaced atomically; a link in the other mode is removed
    /// first. Native mode falls back to skb mode, reported in
    /// [`Attached::fallback`]. bpffs is mounted on /sys/fs/bpf when missing.
    /// On failure, every pin and folder this call created is removed again,
    /// so nothing it attached stays attached.
    pub fn attach(iface: &str, opts: &AttachOptions) -> Result<(Self, Attached), Error> {
        Self::attach_failing(iface, opts, FailAt::Nowhere)
    }

    /// [`Steering::attach`] with [`FLOOR_PROGRAM`] in place of the steering
    /// program: every frame gets `XDP_PASS` and no counter moves. A
    /// measurement control: the cost of having XDP attached at all.
    pub fn attach_floor(iface: &str, opts: &AttachOptions) -> Result<(Self, Attached), Error> {
        Self::attach_program(iface, opts, FLOOR_PROGRAM, FailAt::Nowhere)
    }

    /// [`Steering::attach`] failing on purpose at `fail` (rollback tests).
    #[doc(hidden)]
    pub fn attach_failing(
        iface: &str,
        opts: &AttachOptions,
        fail: FailAt,
    ) -> Result<(Self, Attached), Error> {
        Self::attach_program(iface, opts, PROGRAM_NAME, fail)
    }

    fn attach_program(
        iface: &str,
        opts: &AttachOptions,
        program: &str,
        fail: FailAt,
    ) -> Result<(Self, Attached), Error> {
        let ifindex = if_index(iface)?;
        let root = &opts.pin_root;
        let mut undo = Undo::default();
        let fresh: Vec<PathBuf> = [root.path(), root.maps_dir(), root.links_dir()]
            .into_iter()
            .filter(|p| !p.exists())
            .collect();
        root.create()?;
        fresh.into_iter().for_each(|p| undo.created(p));
        check_pinned_maps(root)?;
        let mut loader = EbpfLoader::new();
        loader.map_max_entries(MAP_CPUS, possible_cpus()?);
        let maps = PINNED_MAPS;
        for name in maps {
            loader.map_pin_path(name, root.map(name));
        }
        let new_pins: Vec<PathBuf> = maps
            .iter()
            .map(|n| root.map(n))
            .filter(|p| !p.exists())
            .collect();
        let loaded = loader.load(object()?);
        // aya pins each map as it creates it, so pins may exist even on error.
        new_pins.into_iter().for_each(|p| undo.created(p));
        let mut ebpf = loaded?;
        load_program(&mut ebpf, program)?;
        let spi_cpu = take_map(&mut ebpf, MAP_SPI_CPU)?;
        let slots = take_map(&mut ebpf, MAP_SPI_SLOTS)?;
        let slot_packets = take_map(&mut ebpf, MAP_SLOT_PACKETS)?;
        let mut cpus: CpuMap<MapData> = CpuMap::try_from(take_map(&mut ebpf, MAP_CPUS)?)?;
        let stats = take_map(&mut ebpf, MAP_STATS)?;
        let flags = take_map(&mut ebpf, MAP_FLAGS)?;
        for cpu in online_cpus()? {
            cpus.set(cpu, opts.queue_size, None, 0)?;
        }
        fail.check(FailAt::MapsPinned)?;
        let prog = xdp_mut(&mut ebpf, program)?;
        let mut attached = attach_link(prog, iface, ifindex, opts, &mut undo, fail)?;
        fail.check(FailAt::LinkPinned)?;
        attached.program_id = prog.info()?.id();
        let s = Self {
            ebpf: Some(ebpf),
            slots: Array::try_from(slots)?,
            slot_packets: PerCpuArray::try_from(slot_packets)?,
            spi_cpu: PerCpuHashMap::try_from(spi_cpu)?,
            cpus,
            flags: Array::try_from(flags)?,
            stats: PerCpuArray::try_from(stats)?,
        };
        undo.commit();
        tracing::info!(?attached, "XDP steering attached");
        Ok((s, attached))
    }

    /// Opens the maps pinned by [`Steering::attach`] (from any process), to
    /// bind SPIs and read counters.
    pub fn open(root: &PinRoot) -> Result<Self, Error> {
        let open = |name: &str| -> Result<Map, Error> {
            let path = root.map(name);
            if !path.exists() {
                return Err(Error::NotAttached(root.path()));
            }
            Ok(Map::from_map_data(MapData::from_pin(&path)?)?)
        };
        check_pinned_maps(root)?;
        Ok(Self {
            ebpf: None,
            slots: Array::try_from(open(MAP_SPI_SLOTS)?)?,
            slot_packets: PerCpuArray::try_from(open(MAP_SLOT_PACKETS)?)?,
            spi_cpu: PerCpuHashMap::try_from(open(MAP_SPI_CPU)?)?,
            cpus: CpuMap::try_from(open(MAP_CPUS)?)?,
            flags: Array::try_from(open(MAP_FLAGS)?)?,
            stats: PerCpuArray::try_from(open(MAP_STATS)?)?,
        })
    }

    /// Removes `iface`'s pinned link, which detaches the program once no
    /// process holds the link open. When no interface is left, the pinned
    /// maps (and so the bindings) are removed too. Returns whether a link
    /// was pinned.
    pub fn detach(root: &PinRoot, iface: &str) -> Result<bool, Error> {
        let found = root.find_link(iface);
        if let Some((path, _)) = &found {
            std::fs::remove_file(path).map_err(|e| Error::pin(path, e))?;
        }
        let dir = root.iface_dir(iface);
        if dir.exists() {
            std::fs::remove_dir(&dir).map_err(|e| Error::pin(&dir, e))?;
        }
        if Self::attached(root)?.is_empty() && root.path().exists() {
            for name in PINNED_MAPS.iter().chain([&MAP_SPI_STATS_OLD]) {
                let p = root.map(name);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| Error::pin(&p, e))?;
                }
            }
            for d in [root.maps_dir(), root.links_dir(), root.path()] {
                // Only empty folders go; anything else is left for the operator.
                let _ = std::fs::remove_dir(d);
            }
        }
        Ok(found.is_some())
    }

    /// The interfaces with a pinned steering link under `root`.
    pub fn attached(root: &PinRoot) -> Result<Vec<AttachedIface>, Error> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(root.links_dir()) else {
            return Ok(out);
        };
        for e in rd.flatten() {
            let iface = e.file_name().to_string_lossy().into_owned();
            if let Some((path, mode)) = root.find_link(&iface) {
                let link = PinnedLink::from_pin(&path)?;
                let info = FdLink::from(link).info()?;
                out.push(AttachedIface {
                    iface,
                    mode,
                    program_id: info.program_id(),
                    link_id: info.id(),
                });
            }
        }
        out.sort_by(|a, b| a.iface.cmp(&b.iface));
        Ok(out)
    }

    /// Steers `b.spi` (to `b.dst`, or any destination) to `b.cpu`,
    /// replacing an earlier binding of the same key.
    pub fn bind(&mut self, b: Binding) -> Result<(), Error> {
        if b.spi == 0 {
            return Err(Error::InvalidSpi);
        }
        let online = online_cpus()?;
        if !online.contains(&b.cpu) || b.cpu >= self.cpus.len() {
            return Err(Error::CpuOffline {
                cpu: b.cpu,
                online: std::fs::read_to_string("/sys/devices/system/cpu/online")
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            });
        }
        self.bind_unchecked(b)
    }

    /// [`Steering::bind`] without the CPU check (tests use it to bind a CPU
    /// that has no cpumap entry).
    #[doc(hidden)]
    pub fn bind_unchecked(&mut self, b: Binding) -> Result<(), Error> {
        let key = Binding::key(b.spi, b.dst);
        if b.dst.is_none() {
            // Before the entry, so the program never misses it.
            self.flags.set(0, FLAG_ANY_DST, 0)?;
        }
        let placed = if b.dst.is_none() {
            None
        } else if let Some(i) = self.find_slot(&key)? {
            Some(i)
        } else if self.in_hash(&key)? {
            None
        } else if let Some(i) = self.free_slot(&key)? {
            // A fresh count, before the slot is visible.
            self.slot_packets.set(i, self.per_cpu(0u64)?, 0)?;
            Some(i)
        } else {
            None
        };
        match placed {
            // A rebind in place keeps the count.
            Some(i) => self.slots.set(i, SpiSlot { cpu: b.cpu, key }, 0)?,
            None => self.bind_hash(key, b.cpu)?,
        }
        tracing::debug!(binding = %b, slot = ?placed, "steering bound");
        Ok(())
    }

    /// Binds `key` in the hash. Every CPU's copy gets the CPU; a rebind
    /// keeps the counts (packets steered between this read and the write
    /// below are lost, a window of one syscall on a rare event).
    fn bind_hash(&mut self, key: SpiKey, cpu: u32) -> Result<(), Error> {
        let mut values: Vec<SpiValue> = match self.spi_cpu.get(&key, 0) {
            Ok(v) => v.iter().map(|v| SpiValue::new(cpu, v.packets)).collect(),
            Err(aya::maps::MapError::KeyNotFound) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        values.resize(possible_cpus()? as usize, SpiValue::new(cpu, 0));
        let values = PerCpuValues::try_from(values).map_err(|source| Error::System {
            what: "/sys/devices/system/cpu/possible",
            source,
        })?;
        self.spi_cpu.insert(key, values, 0)?;
        Ok(())
    }

    /// `v` for every possible CPU.
    fn per_cpu<T: aya::Pod>(&self, v: T) -> Result<PerCpuValues<T>, Error> {
        PerCpuValues::try_from(vec![v; possible_cpus()? as usize]).map_err(|source| Error::System {
            what: "/sys/devices/system/cpu/possible",
            source,
        })
    }

    /// The slots of `key`'s bucket.
    fn bucket_slots(&self, key: &SpiKey) -> std::ops::Range<u32> {
        let first = bucket(key, self.slots.len() / SLOT_WAYS) * SLOT_WAYS;
        first..first + SLOT_WAYS
    }

    /// The slot holding `key`, if it is in its bucket.
    fn find_slot(&self, key: &SpiKey) -> Result<Option<u32>, Error> {
        for i in self.bucket_slots(key) {
            if self.slots.get(&i, 0)?.key.same(key) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// An empty slot in `key`'s bucket.
    fn free_slot(&self, key: &SpiKey) -> Result<Option<u32>, Error> {
        for i in self.bucket_slots(key) {
            if self.slots.get(&i, 0)?.key.spi == 0 {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    fn in_hash(&self, key: &SpiKey) -> Result<bool, Error> {
        match self.spi_cpu.get(key, 0) {
            Ok(_) => Ok(true),
            Err(aya::maps::MapError::KeyNotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Every occupied slot with its index, read through a read-only mapping
    /// of the array (one pass over memory, no syscall per slot).
    fn occupied_slots(&self) -> Result<Vec<(u32, SpiSlot)>, Error> {
        use std::os::fd::{AsFd, AsRawFd};
        let n = self.slots.len() as usize;
        let map_err = |source| Error::System {
            what: "mmap of the LANES_SPI_SLOTS map",
            source,
        };
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| map_err(std::io::Error::last_os_error()))?;
        let len = (n * size_of::<SpiSlot>()).div_ceil(page) * page;
        let fd = self.slots.map().fd().as_fd().as_raw_fd();
        // SAFETY: a fresh shared read-only mapping of the map's values
        // (`BPF_F_MMAPABLE`, kernel/bpf/arraymap.c `array_map_mmap`),
        // unmapped below; nothing in this process writes through it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(map_err(std::io::Error::last_os_error()));
        }
        let base = p.cast::<SpiSlot>().cast_const();
        let mut out = Vec::new();
        for i in 0..n {
            // SAFETY: `i < n` slots of 24 bytes (8-aligned) lie within the
            // mapping; the kernel may write concurrently, hence volatile.
            let slot = unsafe { std::ptr::read_volatile(base.add(i)) };
            if slot.key.spi != 0 {
                out.push((u32::try_from(i).unwrap_or(u32::MAX), slot));
            }
        }
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(p, len) };
        Ok(out)
    }

    /// Removes the binding of (`dst`, `spi`) and its packet count;
    /// returns whether it existed.
    pub fn unbind(&mut self, spi: u32, dst: Option<IpAddr>) -> Result<bool, Error> {
        let key = Binding::key(spi, dst);
        let existed = match self.find_slot(&key)? {
            Some(i) => {
                self.slots.set(i, SpiSlot::default(), 0)?;
                true
            }
            None => absent_ok(self.spi_cpu.remove(&key))?,
        };
        if existed && dst.is_none() && !self.bindings()?.iter().any(|b| b.dst.is_none()) {
            self.flags.set(0, 0, 0)?;
        }
        Ok(existed)
    }

    /// Every binding, sorted by SPI then destination.
    pub fn bindings(&self) -> Result<Vec<Binding>, Error> {
        Ok(self.binding_places()?.into_iter().map(|(b, _)| b).collect())
    }

    /// Packets steered for each binding (redirected by any CPU, summed over
    /// the CPUs' copies), sorted by SPI then destination. The count starts
    /// at the bind, survives a rebind to another CPU, and goes with the
    /// unbind.
    pub fn binding_packets(&self) -> Result<Vec<(Binding, u64)>, Error> {
        let mut out = Vec::new();
        for (b, place) in self.binding_places()? {
            let n = match place {
                Place::Slot(i) => self.slot_packets.get(&i, 0)?.iter().sum(),
                Place::Hash(n) => n,
            };
            out.push((b, n));
        }
        Ok(out)
    }

    /// Every binding and where it is, sorted by SPI then destination.
    fn binding_places(&self) -> Result<Vec<(Binding, Place)>, Error> {
        let mut out = Vec::new();
        for (i, slot) in self.occupied_slots()? {
            let v = SpiValue::new(slot.cpu, 0);
            out.push((Binding::from_entry(&slot.key, &v), Place::Slot(i)));
        }
        for kv in self.spi_cpu.iter() {
            let (k, v) = kv?;
            let n = v.iter().map(|c| c.packets).sum();
            out.push((Binding::from_entry(&k, &v[0]), Place::Hash(n)));
        }
        out.sort_by_key(|(b, _)| (b.spi, b.dst));
        Ok(out)
    }

    /// The per-CPU counters.
    pub fn stats(&self) -> Result<Stats, Error> {
        let n = possible_cpus()? as usize;
        let mut per_cpu: Vec<CpuStats> = (0..n)
            .map(|cpu| CpuStats {
                cpu: u32::try_from(cpu).unwrap_or(u32::MAX),
                counts: [0; Counter::COUNT as usize],
            })
            .collect();
        for c in Counter::ALL {
            let values = self.stats.get(&(c as u32), 0)?;
            for (cpu, v) in values.iter().enumerate() {
                if let Some(s) = per_cpu.get_mut(cpu) {
                    s.counts[c as usize] = *v;
                }
            }
        }
        Ok(Stats { per_cpu })
    }

    /// Sets a cpumap entry (queue size `queue_size`) for each of `cpus`.
    pub fn set_cpus(&mut self, cpus: &[u32], queue_size: u32) -> Result<(), Error> {
        for &cpu in cpus {
            self.cpus.set(cpu, queue_size, None, 0)?;
        }
        Ok(())
    }

    /// The CPUs with a cpumap entry, with their queue sizes.
    pub fn cpus(&self) -> Vec<(u32, u32)> {
        (0..self.cpus.len())
            .filter_map(|i| self.cpus.get(i, 0).ok().map(|v| (i, v.queue_size)))
            .filter(|(_, q)| *q > 0)
            .collect()
    }

    /// Runs the steering program once per `repeat` on `frame` with
    /// `BPF_PROG_TEST_RUN` (needs a program loaded by this process).
    pub fn test_run(&mut self, frame: &[u8], repeat: u32) -> Result<RunResult, Error> {
        self.test_run_program(PROGRAM_NAME, frame, repeat)
    }

    /// Like [`Steering::test_run`] for the baseline program that only
    /// returns `XDP_PASS` (the benchmark's floor).
    pub fn test_run_floor(&mut self, frame: &[u8], repeat: u32) -> Result<RunResult, Error> {
        let ebpf = self.ebpf.as_mut().ok_or(Error::NotLoadedHere)?;
        let prog = xdp_mut(ebpf, FLOOR_PROGRAM)?;
        if prog.fd().is_err() {
            prog.load()?;
        }
        self.test_run_program(FLOOR_PROGRAM, frame, repeat)
    }

    /// Like [`Steering::test_run`] (`floor`: the `XDP_PASS` program) with
    /// `BPF_F_TEST_XDP_LIVE_FRAMES`: the verdict is carried out (a redirect
    /// really enqueues on the cpumap, a pass builds an skb for the stack),
    /// in batches of `batch` frames (`net/bpf/test_run.c`,
    /// `bpf_test_run_xdp_live`). The kernel reports no verdict in this mode.
    pub fn test_run_live(
        &mut self,
        floor: bool,
        frame: &[u8],
        repeat: u32,
        batch: u32,
    ) -> Result<RunResult, Error> {
        let name = if floor { FLOOR_PROGRAM } else { PROGRAM_NAME };
        if floor {
            let ebpf = self.ebpf.as_mut().ok_or(Error::NotLoadedHere)?;
            let prog = xdp_mut(ebpf, FLOOR_PROGRAM)?;
            if prog.fd().is_err() {
                prog.load()?;
            }
        }
        self.run_program(name, frame, repeat, Some(batch))
    }

    fn test_run_program(
        &mut self,
        name: &str,
        frame: &[u8],
        repeat: u32,
    ) -> Result<RunResult, Error> {
        self.run_program(name, frame, repeat, None)
    }

    fn run_program(
        &mut self,
        name: &str,
        frame: &[u8],
        repeat: u32,
        live_batch: Option<u32>,
    ) -> Result<RunResult, Error> {
        let ebpf = self.ebpf.as_mut().ok_or(Error::NotLoadedHere)?;
        let prog = xdp_mut(ebpf, name)?;
        let attrs = match live_batch {
            Some(b) => TestRunAttrs::new().xdp_live_frames(b.max(1)),
            None => TestRunAttrs::new(),
        };
        let r = prog.test_run(TestRunOptions {
            data_in: Some(frame),
            repeat: repeat.max(1),
            attrs,
            ..TestRunOptions::default()
        })?;
        Ok(RunResult {
            action: r.return_value,
            per_run: r.duration,
        })
    }

    /// Starts forwarding the program's aya-log records (rare diagnostics,
    /// such as a binding to a CPU without a cpumap entry) to the `log`
    /// facade, and so to `tracing` through tracing-subscriber's log bridge.
    /// Poll the returned logger's fd (`AsRawFd`) and call `flush()` when
    /// it is readable. Needs the program loaded by this process.
    pub fn logger(&mut self) -> Result<aya_log::EbpfLogger<&'static dyn log::Log>, Error> {
        self.logger_with(log::logger())
    }

    /// [`Steering::logger`] with a logger of the caller's choosing.
    pub fn logger_with<T: log::Log>(&mut self, logger: T) -> Result<aya_log::EbpfLogger<T>, Error> {
        let ebpf = self.ebpf.as_mut().ok_or(Error::NotLoadedHere)?;
        aya_log::EbpfLogger::init_with_logger(ebpf, logger)
            .map_err(|e| Error::Logger(e.to_string()))
    }

    fn from_ebpf(mut ebpf: Ebpf) -> Result<Self, Error> {
        let slots = Array::try_from(take_map(&mut ebpf, MAP_SPI_SLOTS)?)?;
        let slot_packets = PerCpuArray::try_from(take_map(&mut ebpf, MAP_SLOT_PACKETS)?)?;
        let spi_cpu = PerCpuHashMap::try_from(take_map(&mut ebpf, MAP_SPI_CPU)?)?;
        let cpus = CpuMap::try_from(take_map(&mut ebpf, MAP_CPUS)?)?;
        let flags = Array::try_from(take_map(&mut ebpf, MAP_FLAGS)?)?;
        let stats = PerCpuArray::try_from(take_map(&mut ebpf, MAP_STATS)?)?;
        Ok(Self {
            ebpf: Some(ebpf),
            slots,
            slot_packets,
            spi_cpu,
            cpus,
            flags,
            stats,
        })
    }
}

/// Every map pinned under the pin root, in creation order.
const PINNED_MAPS: [&str; 6] = [
    MAP_SPI_CPU,
    MAP_CPUS,
    MAP_FLAGS,
    MAP_STATS,
    MAP_SPI_SLOTS,
    MAP_SLOT_PACKETS,
];

/// Where a binding is: a slot of `LANES_SPI_SLOTS`, or the hash (with its
/// packet count).
#[derive(Clone, Copy, Debug)]
enum Place {
    Slot(u32),
    Hash(u64),
}

/// `Ok(true)` for a removed entry, `Ok(false)` for one that was not there.
fn absent_ok(r: Result<(), aya::maps::MapError>) -> Result<bool, Error> {
    match r {
        Ok(()) => Ok(true),
        Err(aya::maps::MapError::KeyNotFound) => Ok(false),
        Err(aya::maps::MapError::SyscallError(e))
            if e.io_error.raw_os_error() == Some(libc::ENOENT) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Replaces the program of `iface`'s pinned link, or attaches afresh and
/// pins the new link (recorded in `undo`). `program_id` is filled in later.
fn attach_link(
    prog: &mut Xdp,
    iface: &str,
    ifindex: u32,
    opts: &AttachOptions,
    undo: &mut Undo,
    fail: FailAt,
) -> Result<Attached, Error> {
    let root = &opts.pin_root;
    let mut fallback = None;
    let mut mode = opts.mode;
    let mut replaced = false;
    if let Some((path, pinned_mode)) = root.find_link(iface) {
        // Native asks for the best mode, so an skb link is kept as is.
        let keep = pinned_mode == opts.mode || opts.mode == Mode::Native;
        let update = keep.then(|| -> Result<(), Error> {
            let link = PinnedLink::from_pin(&path)?;
            let link = aya::programs::xdp::XdpLink::try_from(FdLink::from(link))?;
            prog.attach_to_link(link)?;
            Ok(())
        });
        match update {
            Some(Ok(())) => (mode, replaced) = (pinned_mode, true),
            Some(Err(e)) => {
                // E.g. the interface was deleted and created again.
                tracing::warn!(path = %path.display(), "stale pinned XDP link ({e}); attaching afresh");
                std::fs::remove_file(&path).map_err(|e| Error::pin(&path, e))?;
            }
            None => std::fs::remove_file(&path).map_err(|e| Error::pin(&path, e))?,
        }
    }
    if !replaced {
        let id = match prog.attach_to_if_index(ifindex, opts.mode.xdp()) {
            Ok(id) => id,
            Err(e) if opts.mode == Mode::Native => {
                fallback = Some(error_chain(&e));
                mode = Mode::Skb;
                prog.attach_to_if_index(ifindex, Mode::Skb.xdp())
                    .map_err(|e| attach_error(iface, Mode::Skb, e))?
            }
            Err(e) => return Err(attach_error(iface, opts.mode, e)),
        };
        // Until the link is taken out of aya's list, dropping the program
        // detaches it.
        fail.check(FailAt::Attached)?;
        // Take the link out of aya's list (which would detach it on
        // drop) and pin it: the pin keeps the program attached.
        let link = prog.take_link(id)?;
        let link = FdLink::try_from(link).map_err(|_| Error::NetlinkAttach(iface.to_owned()))?;
        let dir = root.iface_dir(iface);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| Error::pin(&dir, e))?;
            undo.created(&dir);
        }
        let pin = root.link(iface, mode);
        link.pin(&pin)?;
        undo.created(pin);
    }
    Ok(Attached {
        iface: iface.to_owned(),
        mode,
        fallback,
        replaced,
        program_id: 0,
    })
}

fn attach_error(iface: &str, mode: Mode, source: aya::programs::ProgramError) -> Error {
    let busy = matches!(&source, aya::programs::ProgramError::SyscallError(e)
        if matches!(e.io_error.raw_os_error(), Some(libc::EBUSY | libc::EEXIST)));
    Error::Attach {
        iface: iface.to_owned(),
        mode,
        source: Box::new(source),
        hint: if busy {
            " (another XDP program is attached: remove it with `ip link set dev IFACE xdp off`)"
        } else if mode == Mode::Native {
            " (try --mode skb)"
        } else {
            ""
        },
    }
}

fn load_program(ebpf: &mut Ebpf, name: &str) -> Result<(), Error> {
    xdp_mut(ebpf, name)?.load()?;
    Ok(())
}

fn xdp_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp, Error> {
    let prog = ebpf
        .program_mut(name)
        .ok_or_else(|| Error::MissingInObject(name.to_owned()))?;
    Ok(prog.try_into()?)
}

fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<Map, Error> {
    ebpf.take_map(name)
        .ok_or_else(|| Error::MissingInObject(name.to_owned()))
}

fn if_index(iface: &str) -> Result<u32, Error> {
    let c = std::ffi::CString::new(iface).map_err(|_| Error::UnknownInterface(iface.to_owned()))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(Error::UnknownInterface(iface.to_owned()));
    }
    Ok(i)
}

/// The online CPUs (`/sys/devices/system/cpu/online`).
pub fn online_cpus() -> Result<Vec<u32>, Error> {
    aya::util::online_cpus().map_err(|(_, source)| Error::System {
        what: "/sys/devices/system/cpu/online",
        source,
    })
}

fn possible_cpus() -> Result<u32, Error> {
    let n = aya::util::nr_cpus().map_err(|(_, source)| Error::System {
        what: "/sys/devices/system/cpu/possible",
        source,
    })?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Refuses pinned maps left by a build with other map shapes.
fn check_pinned_maps(root: &PinRoot) -> Result<(), Error> {
    let want: [(&str, u32, u32, Option<u32>); 6] = [
        (
            MAP_SPI_CPU,
            size_of::<SpiKey>() as u32,
            size_of::<SpiValue>() as u32,
            Some(MAX_BINDINGS),
        ),
        (MAP_STATS, 4, 8, Some(Counter::COUNT)),
        (
            MAP_SPI_SLOTS,
            4,
            size_of::<SpiSlot>() as u32,
            Some(slots_for(MAX_BINDINGS)),
        ),
        (MAP_SLOT_PACKETS, 4, 8, Some(slots_for(MAX_BINDINGS))),
        (MAP_FLAGS, 4, 4, Some(1)),
        (MAP_CPUS, 4, 0, None),
    ];
    for (name, key, value, max) in want {
        let path = root.map(name);
        if !path.exists() {
            continue;
        }
        let info = MapInfo::from_pin(&path)?;
        let stale = |what: String| Error::StaleMap {
            path: path.clone(),
            what,
        };
        if info.key_size() != key {
            return Err(stale(format!("key size {} != {key}", info.key_size())));
        }
        if value != 0 && info.value_size() != value {
            return Err(stale(format!(
                "value size {} != {value}",
                info.value_size()
            )));
        }
        if let Some(max) = max.filter(|m| *m != info.max_entries()) {
            return Err(stale(format!(
                "max entries {} != {max}",
                info.max_entries()
            )));
        }
    }
    Ok(())
}

/// `e` and its sources, joined with ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
