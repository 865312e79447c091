//! Read-path benchmarks: ferrymap through its C ABI, next to an in-process
//! `std::collections::HashMap` and the "floor" (a plain `HashMap` behind a
//! raw pointer, exported by the library under the `bench-floor` feature).
//!
//! Run: `cargo bench --features bench-floor --bench read_path`
//! Results and discussion: docs/benchmarks.md.
//!
//! ferrymap and the floor are called the way a C program calls them: the
//! built `libferrymap.so` is loaded with `dlopen` and every function is
//! reached through a pointer from `dlsym`, so each call really crosses an
//! exported symbol. This executable does not link the ferrymap crate.
//!
//! Conventions:
//! - keys are uniformly random 64-bit integers (distinct, from a bijective
//!   mixer); lookups walk a shuffled order of the keys (misses: of keys
//!   known to be absent), 1000 lookups per criterion iteration, so the
//!   reported time per element is the cost of one operation;
//! - every result is folded into an accumulator that goes through
//!   `black_box`, so no lookup can be hoisted or dropped;
//! - maps are built once per size and reused by every group.
//!
//! Besides the criterion groups, the run prints (on stderr) the memory per
//! entry of 10M-entry maps, measured in child processes so that one
//! measurement's freed memory does not hide the next one's, and at the end
//! a summary comparing the results with the targets.
//!
//! Environment: `FERRYMAP_LIB` names the library to load in place (by
//! default a private copy of the one cargo built is loaded, so a rebuild
//! during the run cannot change it); `FMBENCH_SKIP_MEMORY=1` skips the
//! memory measurement; `FMBENCH_SUMMARY_ONLY=1` runs nothing and prints the
//! summary of the results criterion stored last (e.g. after running the
//! groups one by one with a filter).

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

// ---- the C ABI, as a C caller sees it ----------------------------------------

const FM_INT: u32 = 1;
const FM_OK: i32 = 0;
const FM_NOT_FOUND: i32 = 1;
const FM_END: i32 = 12;

/// `struct fm_stats` from ferrymap.h (every field, for the layout).
#[repr(C)]
#[allow(dead_code)]
#[derive(Default, Debug, Clone, Copy)]
struct FmStats {
    len: u64,
    capacity: u64,
    memory_bytes: u64,
    load_factor: f64,
    open_iterators: u64,
    open_views: u64,
    writes: u64,
}

type MapNewFn = unsafe extern "C" fn(u32, u32, usize, *mut u64) -> i32;
type HandleFn = extern "C" fn(u64) -> i32;
type MapStatsFn = unsafe extern "C" fn(u64, *mut FmStats) -> i32;
type InsertFn = unsafe extern "C" fn(u64, i64, i64, *mut bool) -> i32;
/// `fm_get_i64_i64` and the `fmbench_*` pieces, which share its signature.
type GetFn = unsafe extern "C" fn(u64, i64, *mut i64) -> i32;
type GetManyFn = unsafe extern "C" fn(u64, *const i64, usize, *mut i64, *mut u8, *mut usize) -> i32;
type IterNewFn = unsafe extern "C" fn(u64, *mut u64) -> i32;
type IterNextI64Fn = unsafe extern "C" fn(u64, *mut i64, *mut i64, usize, *mut usize) -> i32;
type CStrFn = extern "C" fn() -> *const c_char;
type FloorNewFn = extern "C" fn() -> *mut c_void;
type FloorFreeFn = unsafe extern "C" fn(*mut c_void);
type FloorInsertFn = unsafe extern "C" fn(*mut c_void, i64, i64);
type FloorGetFn = unsafe extern "C" fn(*const c_void, i64, *mut i64) -> i32;

struct Lib {
    path: PathBuf,
    map_new: MapNewFn,
    map_free: HandleFn,
    map_stats: MapStatsFn,
    insert: InsertFn,
    get: GetFn,
    get_many: GetManyFn,
    iter_new: IterNewFn,
    iter_next_i64: IterNextI64Fn,
    iter_free: HandleFn,
    last_error: CStrFn,
    library_path: CStrFn,
    floor_new: FloorNewFn,
    floor_free: FloorFreeFn,
    floor_insert: FloorInsertFn,
    floor_get: FloorGetFn,
    /// The pieces of `fm_get_i64_i64` (src/ffi/floor.rs).
    nop: GetFn,
    pin: GetFn,
    resolve: GetFn,
}

/// Where the library is: `$FERRYMAP_LIB`, else next to this executable
/// (target/release/deps/, where `cargo bench` builds the cdylib with this
/// run's features), else target/release/. The copy in target/release/ is only
/// refreshed by `cargo build`, so it may lack the `bench-floor` feature.
fn library_file() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRYMAP_LIB") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("path of the bench executable");
    let deps = exe.parent().expect("the executable is in a directory");
    let candidates = [deps.join("libferrymap.so"), deps.join("../libferrymap.so")];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| panic!("libferrymap.so not found next to {}; build with cargo bench --features bench-floor", exe.display()))
}

fn lib() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| {
        let path = library_file();
        // A rebuild of the crate during a long run rewrites the cdylib in
        // target/: load a private copy (unless the caller chose the file).
        let private = std::env::var_os("FERRYMAP_LIB").is_none().then(|| {
            let dir = std::env::temp_dir().join(format!("fmbench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temporary directory");
            let copy = dir.join("libferrymap.so");
            std::fs::copy(&path, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
            copy
        });
        let load = private.as_deref().unwrap_or(&path);
        let cpath = CString::new(load.as_os_str().as_encoded_bytes()).expect("no NUL in the path");
        // SAFETY: dlopen of a shared library whose initialisers are Rust's own.
        let handle = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if let Some(copy) = &private {
            // The mapping stays valid after the file is gone.
            let _ = std::fs::remove_file(copy);
            let _ = std::fs::remove_dir(copy.parent().expect("a directory"));
        }
        if handle.is_null() {
            // SAFETY: dlerror returns a NUL-terminated message after a failure.
            let why = unsafe { CStr::from_ptr(libc::dlerror()) }.to_string_lossy();
            panic!("dlopen {}: {why}", load.display());
        }
        let sym = |name: &str| -> *mut c_void {
            let cname = CString::new(name).expect("symbol name");
            // SAFETY: handle is a live dlopen handle.
            let p = unsafe { libc::dlsym(handle, cname.as_ptr()) };
            assert!(
                !p.is_null(),
                "{} has no symbol {name}: was it built with --features bench-floor?",
                path.display()
            );
            p
        };
        // SAFETY: each symbol is an exported function with the signature
        // that ferrymap.h (or src/ffi/floor.rs) gives it.
        unsafe {
            Lib {
                map_new: std::mem::transmute::<*mut c_void, MapNewFn>(sym("fm_map_new")),
                map_free: std::mem::transmute::<*mut c_void, HandleFn>(sym("fm_map_free")),
                map_stats: std::mem::transmute::<*mut c_void, MapStatsFn>(sym("fm_map_stats")),
                insert: std::mem::transmute::<*mut c_void, InsertFn>(sym("fm_insert_i64_i64")),
                get: std::mem::transmute::<*mut c_void, GetFn>(sym("fm_get_i64_i64")),
                get_many: std::mem::transmute::<*mut c_void, GetManyFn>(sym("fm_get_many_i64_i64")),
                iter_new: std::mem::transmute::<*mut c_void, IterNewFn>(sym("fm_iter_new")),
                iter_next_i64: std::mem::transmute::<*mut c_void, IterNextI64Fn>(sym(
                    "fm_iter_next_i64",
                )),
                iter_free: std::mem::transmute::<*mut c_void, HandleFn>(sym("fm_iter_free")),
                last_error: std::mem::transmute::<*mut c_void, CStrFn>(sym("fm_last_error")),
                library_path: std::mem::transmute::<*mut c_void, CStrFn>(sym("fm_library_path")),
                floor_new: std::mem::transmute::<*mut c_void, FloorNewFn>(sym("fmbench_floor_new")),
                floor_free: std::mem::transmute::<*mut c_void, FloorFreeFn>(sym(
                    "fmbench_floor_free",
                )),
                floor_insert: std::mem::transmute::<*mut c_void, FloorInsertFn>(sym(
                    "fmbench_floor_insert",
                )),
                floor_get: std::mem::transmute::<*mut c_void, FloorGetFn>(sym("fmbench_floor_get")),
                nop: std::mem::transmute::<*mut c_void, GetFn>(sym("fmbench_nop")),
                pin: std::mem::transmute::<*mut c_void, GetFn>(sym("fmbench_pin")),
                resolve: std::mem::transmute::<*mut c_void, GetFn>(sym("fmbench_resolve")),
                path,
            }
        }
    })
}

impl Lib {
    /// Panics with the library's message unless `status` is FM_OK.
    fn check(&self, status: i32, what: &str) {
        if status != FM_OK {
            // SAFETY: fm_last_error never returns NULL.
            let msg = unsafe { CStr::from_ptr((self.last_error)()) }.to_string_lossy();
            panic!("{what}: status {status}: {msg}");
        }
    }

    fn new_map(&self, capacity: usize) -> u64 {
        let mut h = 0;
        // SAFETY: valid out pointer.
        self.check(
            unsafe { (self.map_new)(FM_INT, FM_INT, capacity, &mut h) },
            "fm_map_new",
        );
        h
    }

    fn stats(&self, h: u64) -> FmStats {
        let mut s = FmStats::default();
        // SAFETY: valid out pointer.
        self.check(unsafe { (self.map_stats)(h, &mut s) }, "fm_map_stats");
        s
    }
}

// ---- keys ---------------------------------------------------------------------

const BATCH: usize = 1000;
const SIZES: [(usize, &str); 3] = [(1_000, "1K"), (1_000_000, "1M"), (10_000_000, "10M")];

/// splitmix64's finaliser: a bijection on u64, so distinct inputs give
/// distinct, uniformly spread keys.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const KEY_SEED: u64 = 0x5EED_0000_0000_0000;

/// Keys `from..to` of the one random sequence: the first n of them are a map
/// of size n, the next n are guaranteed misses for it.
fn keys(from: usize, to: usize) -> Vec<i64> {
    (from..to)
        .map(|i| mix(KEY_SEED.wrapping_add(i as u64)) as i64)
        .collect()
}

fn shuffled(v: &[i64], seed: u64) -> Vec<i64> {
    let mut v = v.to_vec();
    let mut s = seed;
    for i in (1..v.len()).rev() {
        s = mix(s);
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

fn value_of(k: i64) -> i64 {
    !k
}

// ---- the maps -------------------------------------------------------------------

type StdMap = HashMap<u64, u64, foldhash::fast::RandomState>;

struct Fixture {
    n: usize,
    /// Insertion order.
    keys: Vec<i64>,
    /// The same keys in another random order: lookup order for hits.
    probe: Vec<i64>,
    /// n keys that are not in the map, in random order.
    miss: Vec<i64>,
    fm: u64,
    std: StdMap,
    /// `*mut c_void` from fmbench_floor_new, kept as an address to be Sync.
    floor: usize,
}

impl Fixture {
    fn build(n: usize, label: &'static str) -> Fixture {
        let t = Instant::now();
        let l = lib();
        let keys = keys(0, n);
        let probe = shuffled(&keys, 0xA5A5 ^ n as u64);
        let miss = shuffled(&self::keys(n, 2 * n), 0x5A5A ^ n as u64);
        let fm = l.new_map(0);
        for &k in &keys {
            // SAFETY: NULL `replaced` is allowed.
            l.check(
                unsafe { (l.insert)(fm, k, value_of(k), std::ptr::null_mut()) },
                "fm_insert_i64_i64",
            );
        }
        let mut std = StdMap::default();
        for &k in &keys {
            std.insert(k as u64, value_of(k) as u64);
        }
        let floor = (l.floor_new)();
        for &k in &keys {
            // SAFETY: a live floor map, one thread.
            unsafe { (l.floor_insert)(floor, k, value_of(k)) };
        }
        let f = Fixture {
            n,
            keys,
            probe,
            miss,
            fm,
            std,
            floor: floor as usize,
        };
        f.verify();
        eprintln!(
            "[fixture] {label}: three maps of {n} keys built in {:.2?}",
            t.elapsed()
        );
        f
    }

    fn floor(&self) -> *const c_void {
        self.floor as *const c_void
    }

    /// Every variant finds every key with its value and misses every miss.
    fn verify(&self) {
        let l = lib();
        assert_eq!(l.stats(self.fm).len as usize, self.n);
        assert_eq!(self.std.len(), self.n);
        let step = (self.n / 10_000).max(1);
        for (&k, &m) in self.probe.iter().zip(&self.miss).step_by(step) {
            let (mut a, mut b) = (0, 0);
            // SAFETY: valid out pointers; live map handles.
            unsafe {
                assert_eq!((l.get)(self.fm, k, &mut a), FM_OK);
                assert_eq!((l.floor_get)(self.floor(), k, &mut b), 0);
                assert_eq!((l.get)(self.fm, m, &mut a), FM_NOT_FOUND);
                assert_eq!((l.floor_get)(self.floor(), m, &mut b), 1);
            }
            assert_eq!((a, b), (value_of(k), value_of(k)));
            assert_eq!(self.std.get(&(k as u64)), Some(&(value_of(k) as u64)));
            assert_eq!(self.std.get(&(m as u64)), None);
        }
    }
}

/// The maps of each size, built on first use and kept for the whole run.
fn fixture(size_index: usize) -> &'static Fixture {
    static FIXTURES: [OnceLock<Fixture>; 3] = [const { OnceLock::new() }; 3];
    let (n, label) = SIZES[size_index];
    FIXTURES[size_index].get_or_init(|| Fixture::build(n, label))
}

// ---- lookup loops ---------------------------------------------------------------

/// Consecutive batches of a key order, wrapping around.
struct Walk {
    pos: usize,
}

impl Walk {
    fn new(start: usize) -> Walk {
        Walk { pos: start }
    }
    fn next<'k>(&mut self, keys: &'k [i64]) -> &'k [i64] {
        let batch = &keys[self.pos..self.pos + BATCH];
        self.pos = (self.pos + BATCH) % keys.len();
        batch
    }
}

/// One call per key through an exported function; status and value are
/// both folded in (a miss leaves the value at 0).
fn c_gets(get: GetFn, h: u64, keys: &[i64]) -> u64 {
    let mut acc = 0u64;
    for &k in keys {
        let mut v = 0i64;
        // SAFETY: valid out pointer; `h` is live.
        let st = unsafe { get(h, k, &mut v) };
        acc = acc.wrapping_add(v as u64).wrapping_add(st as u64);
    }
    acc
}

/// One `fm_get_many_i64_i64` call for the whole batch (one pin, one handle
/// lookup): what the per-call overhead amounts to.
fn c_get_many(get_many: GetManyFn, h: u64, keys: &[i64]) -> u64 {
    let mut values = [0i64; BATCH];
    let mut found = 0usize;
    // SAFETY: `keys.len()` == BATCH reads and writes; NULL `found` flags are allowed.
    let st = unsafe {
        get_many(
            h,
            keys.as_ptr(),
            keys.len(),
            values.as_mut_ptr(),
            std::ptr::null_mut(),
            &mut found,
        )
    };
    values.iter().fold(st as u64 + found as u64, |acc, &v| {
        acc.wrapping_add(v as u64)
    })
}

fn floor_gets(get: FloorGetFn, m: *const c_void, keys: &[i64]) -> u64 {
    let mut acc = 0u64;
    for &k in keys {
        let mut v = 0i64;
        // SAFETY: valid out pointer; `m` is a live floor map with no writer.
        let st = unsafe { get(m, k, &mut v) };
        acc = acc.wrapping_add(v as u64).wrapping_add(st as u64);
    }
    acc
}

fn std_gets<S: std::hash::BuildHasher>(map: &HashMap<u64, u64, S>, keys: &[i64]) -> u64 {
    let mut acc = 0u64;
    for &k in keys {
        acc = acc.wrapping_add(map.get(&(k as u64)).map_or(1, |&v| v));
    }
    acc
}

// ---- groups ---------------------------------------------------------------------

fn quick_group<'c>(
    c: &'c mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .nresamples(20_000);
    g
}

/// get-hit and get-miss, three ways, three sizes.
fn bench_get(c: &mut Criterion, hit: bool) {
    let mut g = quick_group(c, if hit { "get_hit" } else { "get_miss" });
    g.throughput(Throughput::Elements(BATCH as u64));
    let l = lib();
    for (i, &(_, label)) in SIZES.iter().enumerate() {
        let order = |f: &'static Fixture| if hit { &f.probe[..] } else { &f.miss[..] };
        g.bench_function(BenchmarkId::new("ferrymap", label), |b| {
            let f = fixture(i);
            let mut w = Walk::new(0);
            b.iter(|| black_box(c_gets(l.get, f.fm, w.next(order(f)))));
        });
        g.bench_function(BenchmarkId::new("ferrymap_many", label), |b| {
            let f = fixture(i);
            let mut w = Walk::new(0);
            b.iter(|| black_box(c_get_many(l.get_many, f.fm, w.next(order(f)))));
        });
        g.bench_function(BenchmarkId::new("std", label), |b| {
            let f = fixture(i);
            let mut w = Walk::new(0);
            b.iter(|| black_box(std_gets(black_box(&f.std), w.next(order(f)))));
        });
        g.bench_function(BenchmarkId::new("floor", label), |b| {
            let f = fixture(i);
            let mut w = Walk::new(0);
            b.iter(|| black_box(floor_gets(l.floor_get, f.floor(), w.next(order(f)))));
        });
        if hit && i < 2 {
            // The same std map with std's default SipHash, for the hasher
            // choice cited in src/hash.rs.
            g.bench_function(BenchmarkId::new("std_siphash", label), |b| {
                let f = fixture(i);
                let sip: HashMap<u64, u64> = f.std.iter().map(|(&k, &v)| (k, v)).collect();
                let mut w = Walk::new(0);
                b.iter(|| black_box(std_gets(black_box(&sip), w.next(&f.probe))));
            });
        }
    }
    g.finish();
}

/// The pieces of one ferrymap get on the 1K map, each an exported function
/// with the signature of fm_get_i64_i64, in the same loop.
fn bench_pieces(c: &mut Criterion) {
    let mut g = quick_group(c, "get_pieces");
    g.throughput(Throughput::Elements(BATCH as u64));
    let l = lib();
    let pieces: [(&str, GetFn); 4] = [
        ("nop_call", l.nop),
        ("pin", l.pin),
        ("resolve", l.resolve),
        ("ferrymap_get", l.get),
    ];
    for (name, f) in pieces {
        g.bench_function(BenchmarkId::new(name, "1K"), |b| {
            let fx = fixture(0);
            let mut w = Walk::new(0);
            b.iter(|| black_box(c_gets(f, fx.fm, w.next(&fx.probe))));
        });
    }
    g.bench_function(BenchmarkId::new("floor_get", "1K"), |b| {
        let fx = fixture(0);
        let mut w = Walk::new(0);
        b.iter(|| black_box(floor_gets(l.floor_get, fx.floor(), w.next(&fx.probe))));
    });
    g.finish();
}

/// Inserts of all n keys into a fresh map (created and freed outside the
/// timed region), so growth is included and amortised per insert.
fn bench_insert(c: &mut Criterion) {
    let l = lib();
    for (i, &(n, label)) in SIZES.iter().enumerate() {
        let mut g = c.benchmark_group("insert");
        g.throughput(Throughput::Elements(n as u64))
            .nresamples(20_000)
            .warm_up_time(Duration::from_secs(1));
        if n <= 1_000 {
            g.measurement_time(Duration::from_secs(2)).sample_size(50);
        } else {
            // One fresh map per iteration: few, long iterations.
            let secs = if n >= 10_000_000 { 14 } else { 3 };
            g.sampling_mode(SamplingMode::Flat)
                .measurement_time(Duration::from_secs(secs))
                .sample_size(10);
        }
        // "ferrymap_reserved" is created with room for all n keys: no growth,
        // so the difference to "ferrymap" is what growth costs.
        for (name, capacity) in [("ferrymap", 0), ("ferrymap_reserved", n)] {
            g.bench_function(BenchmarkId::new(name, label), |b| {
                let keys = &fixture(i).keys;
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let h = l.new_map(capacity);
                        let mut bad = 0;
                        let t = Instant::now();
                        for &k in keys {
                            // SAFETY: NULL `replaced` is allowed.
                            bad |= unsafe { (l.insert)(h, k, value_of(k), std::ptr::null_mut()) };
                        }
                        total += t.elapsed();
                        l.check(bad, "fm_insert_i64_i64");
                        l.check((l.map_free)(h), "fm_map_free");
                    }
                    total
                });
            });
        }
        g.bench_function(BenchmarkId::new("std", label), |b| {
            let keys = &fixture(i).keys;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut m = StdMap::default();
                    let t = Instant::now();
                    for &k in keys {
                        m.insert(k as u64, value_of(k) as u64);
                    }
                    let m = black_box(m);
                    total += t.elapsed();
                    drop(m);
                }
                total
            });
        });
        g.bench_function(BenchmarkId::new("floor", label), |b| {
            let keys = &fixture(i).keys;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let m = (l.floor_new)();
                    let t = Instant::now();
                    for &k in keys {
                        // SAFETY: a live floor map, one thread.
                        unsafe { (l.floor_insert)(m, k, value_of(k)) };
                    }
                    total += t.elapsed();
                    // SAFETY: made above, freed once.
                    unsafe { (l.floor_free)(m) };
                }
                total
            });
        });
        g.finish();
    }
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: plain affinity syscall on the calling thread with a zeroed set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// `threads` threads, each pinned to its own CPU, each running `iters`
/// batches of `work` after a common start; returns the wall time from the
/// first start to the last finish (thread start-up is not included). A lone
/// thread runs on CPU 0 and CPU 1 in turn: the two virtual CPUs of this
/// machine are not always equally fast, and the two-thread case always
/// waits for the slower one.
fn parallel_wall(
    threads: usize,
    iters: u64,
    work: &(dyn Fn(usize, u64) -> u64 + Sync),
) -> Duration {
    static TURN: AtomicUsize = AtomicUsize::new(0);
    let first_cpu = if threads == 1 {
        TURN.fetch_add(1, Ordering::Relaxed) % 2
    } else {
        0
    };
    let start = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    pin_to_cpu(first_cpu + t);
                    start.wait();
                    let t0 = Instant::now();
                    black_box(work(t, iters));
                    (t0, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader thread"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("threads > 0");
    let last = spans.iter().map(|s| s.1).max().expect("threads > 0");
    last - first
}

/// One and two reader threads doing get-hits on the same map; the time per
/// element is the per-thread cost of one get.
fn bench_readers(c: &mut Criterion) {
    let mut g = quick_group(c, "readers");
    g.throughput(Throughput::Elements(BATCH as u64));
    let l = lib();
    for (i, &(_, label)) in SIZES.iter().enumerate().take(2) {
        for threads in [1, 2] {
            let start_of = move |t: usize| {
                let n = fixture(i).n;
                (t * n / 2) / BATCH * BATCH
            };
            // Each thread's walk goes on where its previous sample stopped,
            // so samples do not replay the same (by then cached) keys.
            let cursors = || [AtomicUsize::new(start_of(0)), AtomicUsize::new(start_of(1))];
            g.bench_function(
                BenchmarkId::new(format!("ferrymap_{threads}t"), label),
                |b| {
                    let (f, at) = (fixture(i), cursors());
                    let work = |t: usize, iters: u64| {
                        let mut w = Walk::new(at[t].load(Ordering::Relaxed));
                        let acc = (0..iters).fold(0u64, |acc, _| {
                            acc.wrapping_add(c_gets(l.get, f.fm, w.next(&f.probe)))
                        });
                        at[t].store(w.pos, Ordering::Relaxed);
                        acc
                    };
                    b.iter_custom(|iters| parallel_wall(threads, iters, &work));
                },
            );
            g.bench_function(BenchmarkId::new(format!("floor_{threads}t"), label), |b| {
                let (f, at) = (fixture(i), cursors());
                let work = |t: usize, iters: u64| {
                    let mut w = Walk::new(at[t].load(Ordering::Relaxed));
                    let acc = (0..iters).fold(0u64, |acc, _| {
                        acc.wrapping_add(floor_gets(l.floor_get, f.floor(), w.next(&f.probe)))
                    });
                    at[t].store(w.pos, Ordering::Relaxed);
                    acc
                };
                b.iter_custom(|iters| parallel_wall(threads, iters, &work));
            });
        }
    }
    g.finish();
}

/// fm_iter_new + fm_iter_free, and fm_iter_new alone, on each size.
fn bench_iter_create(c: &mut Criterion) {
    let mut g = quick_group(c, "iter_create");
    let l = lib();
    for (i, &(_, label)) in SIZES.iter().enumerate() {
        g.bench_function(BenchmarkId::new("new_free", label), |b| {
            let f = fixture(i);
            b.iter(|| {
                let mut it = 0;
                // SAFETY: valid out pointer.
                let st = unsafe { (l.iter_new)(black_box(f.fm), &mut it) };
                debug_assert_eq!(st, FM_OK);
                black_box((st, (l.iter_free)(it)))
            });
        });
        g.bench_function(BenchmarkId::new("new_only", label), |b| {
            let f = fixture(i);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut it = 0;
                    let t = Instant::now();
                    // SAFETY: valid out pointer.
                    let st = unsafe { (l.iter_new)(f.fm, &mut it) };
                    total += t.elapsed();
                    l.check(st, "fm_iter_new");
                    l.check((l.iter_free)(it), "fm_iter_free");
                }
                total
            });
        });
    }
    g.finish();
}

/// Drains a snapshot of the 1M map with fm_iter_next_i64 in batches of 1024.
fn drain(l: &Lib, h: u64) -> (usize, u64) {
    const CAP: usize = 1024;
    let (mut ks, mut vs) = ([0i64; CAP], [0i64; CAP]);
    let mut it = 0;
    // SAFETY: valid out pointer.
    l.check(unsafe { (l.iter_new)(h, &mut it) }, "fm_iter_new");
    let (mut count, mut acc) = (0usize, 0u64);
    loop {
        let mut n = 0;
        // SAFETY: buffers hold CAP entries; valid count pointer.
        let st = unsafe { (l.iter_next_i64)(it, ks.as_mut_ptr(), vs.as_mut_ptr(), CAP, &mut n) };
        if st == FM_END {
            break;
        }
        l.check(st, "fm_iter_next_i64");
        for j in 0..n {
            acc = acc.wrapping_add(ks[j] as u64 ^ vs[j] as u64);
        }
        count += n;
    }
    l.check((l.iter_free)(it), "fm_iter_free");
    (count, acc)
}

fn bench_iterate(c: &mut Criterion) {
    let mut g = quick_group(c, "iterate");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    let l = lib();
    let n = SIZES[1].0;
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("ferrymap_next_i64", "1M"), |b| {
        let f = fixture(1);
        assert_eq!(
            drain(l, f.fm).0,
            n,
            "the iterator hands out every entry once"
        );
        b.iter(|| black_box(drain(l, f.fm)));
    });
    g.bench_function(BenchmarkId::new("std_iter", "1M"), |b| {
        let f = fixture(1);
        b.iter(|| {
            black_box(
                black_box(&f.std)
                    .iter()
                    .fold(0u64, |acc, (&k, &v)| acc.wrapping_add(k ^ v)),
            )
        });
    });
    g.finish();
}

// ---- memory per entry (one-shot, in child processes) ---------------------------

const MEMORY_N: usize = 10_000_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm resident field");
    // SAFETY: sysconf has no preconditions.
    resident * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// Runs in a child process: builds one 10M map and prints its footprint.
fn memory_child(which: &str) {
    let l = lib();
    let keys = keys(0, MEMORY_N);
    // Warm the library up (registry, epoch record, hash seed) before the baseline.
    let warm = l.new_map(0);
    // SAFETY: NULL `replaced` is allowed.
    l.check(
        unsafe { (l.insert)(warm, 1, 1, std::ptr::null_mut()) },
        "warm-up insert",
    );
    l.check((l.map_free)(warm), "fm_map_free");
    let before = rss_bytes();
    let t = Instant::now();
    let (stats, keep): (Option<FmStats>, Box<dyn std::any::Any>) = match which {
        "ferrymap" | "ferrymap_reserved" => {
            let h = l.new_map(if which == "ferrymap" { 0 } else { MEMORY_N });
            for &k in &keys {
                // SAFETY: NULL `replaced` is allowed.
                l.check(
                    unsafe { (l.insert)(h, k, value_of(k), std::ptr::null_mut()) },
                    "fm_insert_i64_i64",
                );
            }
            (Some(l.stats(h)), Box::new(h))
        }
        "std" => {
            let mut m = StdMap::default();
            for &k in &keys {
                m.insert(k as u64, value_of(k) as u64);
            }
            (None, Box::new(m))
        }
        other => panic!("unknown memory variant {other}"),
    };
    let built = t.elapsed();
    let after = rss_bytes();
    let s = stats.unwrap_or_default();
    println!(
        "MEM {which} rss_delta={} stats_memory={} stats_capacity={} build_ms={}",
        after.saturating_sub(before),
        s.memory_bytes,
        s.capacity,
        built.as_millis()
    );
    drop(keep);
}

struct Memory {
    variant: String,
    rss_per_entry: f64,
    stats_per_entry: Option<f64>,
}

fn memory_report() -> Vec<Memory> {
    let exe = std::env::current_exe().expect("bench executable");
    let mut out = Vec::new();
    eprintln!("\n[memory] INT->INT maps of {MEMORY_N} random keys, each built in a fresh process:");
    for which in ["ferrymap", "ferrymap_reserved", "std"] {
        let r = std::process::Command::new(&exe)
            .env("FMBENCH_MEM_CHILD", which)
            .output()
            .expect("run the memory child");
        let text = String::from_utf8_lossy(&r.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("MEM ")) else {
            eprintln!(
                "[memory] {which}: child failed: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            continue;
        };
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let rss = field("rss_delta") as f64 / MEMORY_N as f64;
        let stats = (which != "std").then(|| field("stats_memory") as f64 / MEMORY_N as f64);
        eprintln!(
            "[memory] {which:<18} RSS delta {:>6.1} MB = {rss:5.1} B/entry; fm_map_stats {}; built in {} ms",
            field("rss_delta") as f64 / 1e6,
            stats.map_or("n/a".to_string(), |s| format!("{:.1} MB = {s:.1} B/entry (capacity {})", field("stats_memory") as f64 / 1e6, field("stats_capacity"))),
            field("build_ms"),
        );
        out.push(Memory {
            variant: which.to_string(),
            rss_per_entry: rss,
            stats_per_entry: stats,
        });
    }
    out
}

// ---- summary against the targets -------------------------------------------------

fn criterion_home() -> PathBuf {
    if let Some(p) = std::env::var_os("CRITERION_HOME") {
        return p.into();
    }
    if let Some(p) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&p).join("criterion");
    }
    let exe = std::env::current_exe().expect("bench executable");
    // target/release/deps/read_path-* -> target/criterion
    exe.ancestors().nth(3).map_or_else(
        || PathBuf::from("target/criterion"),
        |t| t.join("criterion"),
    )
}

/// Criterion's headline estimate (slope, else mean) of one benchmark in ns per
/// iteration, if it ran in this process.
fn estimate(id: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_home().join(id).join("new/estimates.json");
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let point = |key: &str| -> Option<f64> {
        let at = text.find(&format!("\"{key}\":{{"))?;
        let rest = &text[at..];
        let p = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
        let num: String = rest[p..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || "-+.eE".contains(*c))
            .collect();
        num.parse().ok()
    };
    point("slope").or_else(|| point("mean"))
}

fn summary(since: SystemTime, memory: &[Memory]) {
    let per_op = |id: &str| estimate(id, since).map(|ns| ns / BATCH as f64);
    let fmt = |v: Option<f64>| v.map_or("   n/a".to_string(), |v| format!("{v:6.2}"));
    let verdict = |ratio: Option<f64>, limit: f64| match ratio {
        Some(r) if r <= limit => format!("{r:5.2}x <= {limit}x PASS"),
        Some(r) => format!("{r:5.2}x >  {limit}x FAIL"),
        None => "not measured".to_string(),
    };
    let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    eprintln!("\n==================== summary (ns per operation) ====================");
    for kind in ["get_hit", "get_miss"] {
        eprintln!(
            "{kind:<9} {:>5} {:>9} {:>9} {:>9} {:>9}   {:>8} {:>8}",
            "size", "ferrymap", "fm_many", "std", "floor", "fm/std", "fm/floor"
        );
        for &(_, label) in &SIZES {
            let fm = per_op(&format!("{kind}/ferrymap/{label}"));
            let many = per_op(&format!("{kind}/ferrymap_many/{label}"));
            let st = per_op(&format!("{kind}/std/{label}"));
            let fl = per_op(&format!("{kind}/floor/{label}"));
            let r = |a, b| ratio(a, b).map_or("n/a".to_string(), |r| format!("{r:.2}x"));
            eprintln!(
                "{:<9} {label:>5} {:>9} {:>9} {:>9} {:>9}   {:>8} {:>8}",
                "",
                fmt(fm),
                fmt(many),
                fmt(st),
                fmt(fl),
                r(fm, st),
                r(fm, fl)
            );
        }
    }
    let insert = |v: &str, label: &str, n: usize| {
        estimate(&format!("insert/{v}/{label}"), since).map(|ns| ns / n as f64)
    };
    eprintln!(
        "insert    {:>5} {:>9} {:>9} {:>9} {:>9}",
        "size", "ferrymap", "reserved", "std", "floor"
    );
    for &(n, label) in &SIZES {
        eprintln!(
            "{:<9} {label:>5} {:>9} {:>9} {:>9} {:>9}",
            "",
            fmt(insert("ferrymap", label, n)),
            fmt(insert("ferrymap_reserved", label, n)),
            fmt(insert("std", label, n)),
            fmt(insert("floor", label, n))
        );
    }
    eprintln!("readers (per-thread ns per get-hit)");
    for &(_, label) in SIZES.iter().take(2) {
        for v in ["ferrymap", "floor"] {
            let one = per_op(&format!("readers/{v}_1t/{label}"));
            let two = per_op(&format!("readers/{v}_2t/{label}"));
            eprintln!(
                "  {v:<9} {label:>3}: 1 thread {} / 2 threads {}",
                fmt(one),
                fmt(two)
            );
        }
    }
    eprintln!("pieces of one get on the 1K map:");
    for p in ["nop_call", "pin", "resolve", "ferrymap_get", "floor_get"] {
        eprintln!("  {p:<13} {}", fmt(per_op(&format!("get_pieces/{p}/1K"))));
    }
    let create = |v: &str, label: &str| {
        estimate(&format!("iter_create/{v}/{label}"), since).map(|ns| ns / 1000.0)
    };
    for &(_, label) in &SIZES {
        eprintln!(
            "iter_create {label:>3}: new+free {} us, new alone {} us",
            fmt(create("new_free", label)),
            fmt(create("new_only", label))
        );
    }
    let m = SIZES[1].0 as f64;
    for v in ["ferrymap_next_i64", "std_iter"] {
        let rate = estimate(&format!("iterate/{v}/1M"), since).map(|ns| m / ns * 1e3);
        eprintln!("iterate {v:<18} {} M entries/s", fmt(rate));
    }

    eprintln!("\n==================== targets ====================");
    let g = |id: &str| per_op(id);
    eprintln!(
        "get-hit 1K  ferrymap / std       {}",
        verdict(ratio(g("get_hit/ferrymap/1K"), g("get_hit/std/1K")), 3.5)
    );
    eprintln!(
        "get-hit 1M  ferrymap / floor     {}",
        verdict(ratio(g("get_hit/ferrymap/1M"), g("get_hit/floor/1M")), 1.5)
    );
    for &(_, label) in SIZES.iter().take(2) {
        eprintln!(
            "readers {label:<3} ferrymap 2t / 1t    {}",
            verdict(
                ratio(
                    g(&format!("readers/ferrymap_2t/{label}")),
                    g(&format!("readers/ferrymap_1t/{label}"))
                ),
                1.2
            )
        );
    }
    for &(n, label) in &SIZES {
        eprintln!(
            "insert  {label:<3} ferrymap / std      {}",
            verdict(
                ratio(insert("ferrymap", label, n), insert("std", label, n)),
                1.5
            )
        );
    }
    for mem in memory.iter().filter(|m| m.variant.starts_with("ferrymap")) {
        eprintln!(
            "memory 10M {:<18} RSS      {:5.1} B/entry {}",
            mem.variant,
            mem.rss_per_entry,
            if mem.rss_per_entry <= 30.0 {
                "PASS (<= 30)"
            } else {
                "FAIL (> 30)"
            }
        );
        if let Some(s) = mem.stats_per_entry {
            eprintln!(
                "memory 10M {:<18} fm_stats {s:5.1} B/entry {}",
                mem.variant,
                if s <= 30.0 {
                    "PASS (<= 30)"
                } else {
                    "FAIL (> 30)"
                }
            );
        }
    }
    let c10 = create("new_free", "10M");
    let c1 = create("new_free", "1K");
    eprintln!(
        "iter_create 10M <= 50 us          {}",
        c10.map_or("not measured".to_string(), |v| format!(
            "{v:.2} us {}",
            if v <= 50.0 { "PASS" } else { "FAIL" }
        ))
    );
    eprintln!(
        "iter_create 10M / 1K             {}",
        ratio(c10, c1).map_or("not measured".to_string(), |r| format!(
            "{r:.2}x (flat if ~1)"
        ))
    );
}

// ---- main ------------------------------------------------------------------------

fn main() {
    if let Ok(which) = std::env::var("FMBENCH_MEM_CHILD") {
        memory_child(&which);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listing = args.iter().any(|a| a == "--list" || a == "--test");
    // FMBENCH_SUMMARY_ONLY=1: run nothing, print the summary of the results
    // criterion stored last (whenever they were measured).
    let summary_only = std::env::var_os("FMBENCH_SUMMARY_ONLY").is_some();
    let since = if summary_only {
        SystemTime::UNIX_EPOCH
    } else {
        SystemTime::now()
    };
    let mut c = Criterion::default().configure_from_args();
    if !listing {
        let l = lib();
        // SAFETY: fm_library_path returns a static NUL-terminated string.
        let loaded = unsafe { CStr::from_ptr((l.library_path)()) }.to_string_lossy();
        eprintln!("[library] {} (loaded as {loaded})", l.path.display());
    }
    let memory = if listing || std::env::var_os("FMBENCH_SKIP_MEMORY").is_some() {
        Vec::new()
    } else {
        memory_report()
    };
    if !summary_only {
        bench_get(&mut c, true);
        bench_get(&mut c, false);
        bench_pieces(&mut c);
        bench_readers(&mut c);
        bench_insert(&mut c);
        bench_iter_create(&mut c);
        bench_iterate(&mut c);
        c.final_summary();
    }
    if !listing {
        summary(since, &memory);
    }
}
