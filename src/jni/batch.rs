//! Batch operations on long→long maps: N operations in one crossing, from
//! Java `long[]` arrays or direct `ByteBuffer`s (native byte order).
//!
//! Arrays are copied through a fixed stack buffer in chunks (no allocation,
//! and never a JNI critical section, since inserts take shard locks). Each
//! chunk pins on its own, so a huge batch does not hold back reclamation,
//! and runs through `ffi::with_map` (on a bridge map's owner thread, so the
//! Java arrays are copied in and out on the calling thread, around it).
//! As in the C API, each element is its own linearizable operation; the
//! batch as a whole is not atomic.

use jni::sys::{jbooleanArray, jclass, jint, jlong, jlongArray, jobject, JNIEnv};

use super::{check_range, jcall, Env};
use crate::api::with_map;
use crate::api::{expect_values, Want};
use crate::epoch;
use crate::kind::KeyRef;
use crate::kind::ValIn;
use crate::map::Map;
use crate::status::*;

const CHUNK: usize = 512;

/// Runs a chunk of work on a long→long map (on the owner thread for a bridge
/// map: `f` makes no JNI call).
fn with_ll_map<R>(h: jlong, f: impl FnOnce(&Map, &epoch::Guard) -> Result<R>) -> Result<R> {
    let g = epoch::pin();
    with_map(h as u64, &g, |m, g| {
        expect_values(m, Want::Int)?;
        m.check_key(KeyRef::Int(0))?;
        f(m, g)
    })
}

fn non_null(array: jobject, what: &'static str) -> Result<()> {
    if array.is_null() {
        fail(FM_NULL_ARGUMENT, format!("{what} is null"))
    } else {
        Ok(())
    }
}

/// `int putAllLL(long h, long[] keys, long[] values, int offset, int count)`:
/// returns how many overwrote an existing value.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_putAllLL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    keys: jlongArray,
    values: jlongArray,
    offset: jint,
    count: jint,
) -> jint {
    jcall(env, 0, |env| {
        non_null(keys, "keys")?;
        non_null(values, "values")?;
        let (off, n) = check_range(offset, count, env.array_len(keys), "keys")?;
        check_range(offset, count, env.array_len(values), "values")?;
        let (mut ks, mut vs) = ([0i64; CHUNK], [0i64; CHUNK]);
        let mut replaced = 0;
        for start in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - start);
            env.read_longs(keys, off + start, &mut ks[..len]);
            env.read_longs(values, off + start, &mut vs[..len]);
            with_ll_map(h, |m, _| {
                for i in 0..len {
                    replaced += m.insert(KeyRef::Int(ks[i] as u64), ValIn::Int(vs[i]))? as jint;
                }
                Ok(())
            })?;
        }
        Ok(replaced)
    })
}

/// `int getAllLL(long h, long[] keys, long[] values, boolean[] found, int
/// offset, int count, long ifAbsent)`: `values[i]` gets the value of
/// `keys[i]` or `ifAbsent`; `found[i]` (if `found` is not null) whether it
/// was present. Returns the number found.
#[allow(clippy::too_many_arguments)]
pub(crate) extern "system" fn Java_dev_ferrymap_Native_getAllLL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    keys: jlongArray,
    values: jlongArray,
    found: jbooleanArray,
    offset: jint,
    count: jint,
    if_absent: jlong,
) -> jint {
    jcall(env, 0, |env| {
        non_null(keys, "keys")?;
        non_null(values, "values")?;
        let (off, n) = check_range(offset, count, env.array_len(keys), "keys")?;
        check_range(offset, count, env.array_len(values), "values")?;
        if !found.is_null() {
            check_range(offset, count, env.array_len(found), "found")?;
        }
        let (mut ks, mut vs, mut fs) = ([0i64; CHUNK], [0i64; CHUNK], [false; CHUNK]);
        let mut hits = 0;
        for start in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - start);
            env.read_longs(keys, off + start, &mut ks[..len]);
            with_ll_map(h, |m, g| {
                for i in 0..len {
                    let w = m.get_word(KeyRef::Int(ks[i] as u64), g)?;
                    vs[i] = w.map_or(if_absent, |w| w as i64);
                    fs[i] = w.is_some();
                    hits += w.is_some() as jint;
                }
                Ok(())
            })?;
            env.write_longs(values, off + start, &vs[..len]);
            if !found.is_null() {
                env.write_booleans(found, off + start, &fs[..len]);
            }
        }
        Ok(hits)
    })
}

/// `int removeAllL(long h, long[] keys, int offset, int count)`: returns how
/// many were present.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_removeAllL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    keys: jlongArray,
    offset: jint,
    count: jint,
) -> jint {
    jcall(env, 0, |env| {
        non_null(keys, "keys")?;
        let (off, n) = check_range(offset, count, env.array_len(keys), "keys")?;
        let mut ks = [0i64; CHUNK];
        let mut removed = 0;
        for start in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - start);
            env.read_longs(keys, off + start, &mut ks[..len]);
            let g = epoch::pin();
            with_map(h as u64, &g, |m, _| {
                m.check_key(KeyRef::Int(0))?;
                for &k in &ks[..len] {
                    removed += m.remove(KeyRef::Int(k as u64))? as jint;
                }
                Ok(())
            })?;
        }
        Ok(removed)
    })
}

// ---- direct ByteBuffers -----------------------------------------------------

/// The address of `count` elements of `size` bytes at byte `position` of a
/// direct buffer (IllegalArgumentException for a heap buffer or a range
/// outside it).
fn direct(
    env: Env,
    buf: jobject,
    position: jint,
    count: usize,
    size: usize,
    what: &'static str,
) -> Result<*mut u8> {
    non_null(buf, what)?;
    let Some((addr, cap)) = env.direct_buffer(buf) else {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("{what} is not a direct ByteBuffer"),
        );
    };
    let end = (position as usize).checked_add(count.saturating_mul(size));
    if position < 0 || !matches!(end, Some(e) if e <= cap) {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("{what}: {count} elements at byte {position} do not fit in {cap} bytes"),
        );
    }
    // SAFETY: inside the buffer, checked above.
    Ok(unsafe { addr.add(position as usize) })
}

fn count_of(count: jint) -> Result<usize> {
    usize::try_from(count)
        .map_err(|_| Error::new(FM_INVALID_ARGUMENT, format!("count is negative: {count}")))
}

/// Reads element `i` of a native-order long array at `p` (any alignment).
///
/// # Safety
/// `p` valid for reads of `i + 1` longs.
unsafe fn read_at(p: *const u8, i: usize) -> i64 {
    (p as *const i64).add(i).read_unaligned()
}

/// `int putAllDirect(long h, ByteBuffer keys, int keyPos, ByteBuffer values,
/// int valuePos, int count)`: `count` native-order longs from each buffer,
/// starting at the given byte positions. Returns how many replaced a value.
#[allow(clippy::too_many_arguments)]
pub(crate) extern "system" fn Java_dev_ferrymap_Native_putAllDirect(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    keys: jobject,
    key_pos: jint,
    values: jobject,
    value_pos: jint,
    count: jint,
) -> jint {
    jcall(env, 0, |env| {
        let n = count_of(count)?;
        let kp = direct(env, keys, key_pos, n, 8, "keys")?;
        let vp = direct(env, values, value_pos, n, 8, "values")?;
        let mut replaced = 0;
        for start in (0..n).step_by(CHUNK) {
            with_ll_map(h, |m, _| {
                for i in start..n.min(start + CHUNK) {
                    // SAFETY: i < n, checked against both buffers.
                    let (k, v) = unsafe { (read_at(kp, i), read_at(vp, i)) };
                    replaced += m.insert(KeyRef::Int(k as u64), ValIn::Int(v))? as jint;
                }
                Ok(())
            })?;
        }
        Ok(replaced)
    })
}

/// `int getAllDirect(long h, ByteBuffer keys, int keyPos, ByteBuffer values,
/// int valuePos, ByteBuffer found, int foundPos, int count, long ifAbsent)`:
/// values get the value or `ifAbsent`; `found` (may be null) one byte per
/// key, 1 if present. Returns the number found.
#[allow(clippy::too_many_arguments)]
pub(crate) extern "system" fn Java_dev_ferrymap_Native_getAllDirect(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    keys: jobject,
    key_pos: jint,
    values: jobject,
    value_pos: jint,
    found: jobject,
    found_pos: jint,
    count: jint,
    if_absent: jlong,
) -> jint {
    jcall(env, 0, |env| {
        let n = count_of(count)?;
        let kp = direct(env, keys, key_pos, n, 8, "keys")?;
        let vp = direct(env, values, value_pos, n, 8, "values")?;
        let fp = if found.is_null() {
            None
        } else {
            Some(direct(env, found, found_pos, n, 1, "found")?)
        };
        let mut hits = 0;
        for start in (0..n).step_by(CHUNK) {
            with_ll_map(h, |m, g| {
                for i in start..n.min(start + CHUNK) {
                    // SAFETY: i < n, checked against every buffer.
                    let k = unsafe { read_at(kp, i) };
                    let w = m.get_word(KeyRef::Int(k as u64), g)?;
                    unsafe {
                        (vp as *mut i64)
                            .add(i)
                            .write_unaligned(w.map_or(if_absent, |w| w as i64))
                    };
                    if let Some(fp) = fp {
                        unsafe { fp.add(i).write(w.is_some() as u8) };
                    }
                    hits += w.is_some() as jint;
                }
                Ok(())
            })?;
        }
        Ok(hits)
    })
}

/// `int removeAllDirect(long h, ByteBuffer keys, int keyPos, int count)`.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_removeAllDirect(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    keys: jobject,
    key_pos: jint,
    count: jint,
) -> jint {
    jcall(env, 0, |env| {
        let n = count_of(count)?;
        let kp = direct(env, keys, key_pos, n, 8, "keys")?;
        let mut removed = 0;
        for start in (0..n).step_by(CHUNK) {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, _| {
                m.check_key(KeyRef::Int(0))?;
                for i in start..n.min(start + CHUNK) {
                    // SAFETY: i < n, checked against the buffer.
                    let k = unsafe { read_at(kp, i) };
                    removed += m.remove(KeyRef::Int(k as u64))? as jint;
                }
                Ok(())
            })?;
        }
        Ok(removed)
    })
}
