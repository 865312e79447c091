//! The hash function: foldhash, seeded once per process from the operating
//! system's random source, so that an attacker who chooses keys cannot know
//! which of them collide. On this machine foldhash was 1.6–3.7× faster than
//! SipHash for u64 keys (docs/benchmarks.md).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;

static STATE: OnceLock<SeedableRandomState> = OnceLock::new();
/// The two seeds of the integer hash, written once by [`init`] before any
/// map exists. Plain statics, so hashing an integer checks no
/// initialisation state.
static INT_SEEDS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// 64 random bits from the OS (getrandom), or from std's own randomly keyed
/// SipHash state when the syscall is unavailable.
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: the buffer is valid for 8 bytes.
    let got = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if got == 8 {
        return u64::from_ne_bytes(buf);
    }
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Seeds both hashes. Every map calls this when it is created, so any
/// thread that can reach a map (through the registry's release/acquire
/// handoff, or by creating it) sees the seeds already written.
pub fn init() {
    state();
}

/// The process-wide hasher state for byte strings.
#[inline]
pub fn state() -> &'static SeedableRandomState {
    STATE.get_or_init(|| {
        INT_SEEDS[0].store(random_u64(), Ordering::Relaxed);
        INT_SEEDS[1].store(random_u64() | 1, Ordering::Relaxed);
        let shared: &'static SharedSeed = Box::leak(Box::new(SharedSeed::from_u64(random_u64())));
        SeedableRandomState::with_seed(random_u64(), shared)
    })
}

/// Hash of an INT key: foldhash's integer step (one folded 64×64→128-bit
/// multiply of the key against secret seeds), with the seeds kept where
/// the hot path reads them without an initialisation check. Only valid
/// once [`init`] ran, which holds for any key of an existing map.
#[inline]
pub fn int(k: u64) -> u64 {
    int_with(k, int_seeds())
}

/// The seeds [`int`] uses, for a loop that hashes many keys (atomic loads
/// are not hoisted out of loops).
#[inline]
pub fn int_seeds() -> [u64; 2] {
    [
        INT_SEEDS[0].load(Ordering::Relaxed),
        INT_SEEDS[1].load(Ordering::Relaxed),
    ]
}

/// [`int`] with its seeds passed in.
#[inline(always)]
pub fn int_with(k: u64, seeds: [u64; 2]) -> u64 {
    let full = (k ^ seeds[0]) as u128 * seeds[1] as u128;
    full as u64 ^ (full >> 64) as u64
}

/// Hash of a STR or BYTES key.
#[inline]
pub fn bytes(b: &[u8]) -> u64 {
    state().hash_one(b)
}

/// Which of a map's shards a hash belongs to: the top bits, so that the low
/// bits (the slot position inside the shard's table) stay independent.
#[inline]
pub fn shard_of(h: u64, shard_bits: u32) -> usize {
    (h >> (64 - shard_bits)) as usize
}
