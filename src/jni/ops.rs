//! Map lifecycle and single-key operations.
//!
//! Two families:
//! - `..LL` / `..L`: the long→long fast paths behind `LongLongMap`. Primitive
//!   arguments and results only; a miss is a normal result, never an exception.
//! - the generic calls behind `FerryMap<K,V>` take the key as `(long, byte[])`
//!   and the value as `(long, byte[])`: the long for INT keys and INT/FLOAT
//!   values (FLOAT as its bits), the byte[] for STR/BYTES, per the map's schema.

use jni::sys::{jboolean, jbyteArray, jclass, jint, jlong, jlongArray, jobject, jvalue, JNIEnv};

use super::{java_pending, jcall, key_ref, val_in, with_opt_bytes, Env, MethodCache};
use crate::api::fast;
use crate::api::kind_arg;
use crate::api::{self, with_map};
use crate::api::{expect_values, Want};
use crate::epoch;
use crate::iter::View;
use crate::kind::KeyRef;
use crate::kind::{ValIn, FM_FLOAT, FM_INT};
use crate::map::Map;
use crate::objects::{self, MapObject};
use crate::registry;
use crate::status::*;

fn count_arg(n: jlong, what: &'static str) -> Result<usize> {
    usize::try_from(n)
        .map_err(|_| Error::new(FM_INVALID_ARGUMENT, format!("{what} is negative: {n}")))
}

// ---- lifecycle --------------------------------------------------------------

/// `long mapNew(int keyKind, int valueKind, long capacity)`: a new map; the caller owns it.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_mapNew(
    env: *mut JNIEnv,
    _: jclass,
    key_kind: jint,
    value_kind: jint,
    capacity: jlong,
) -> jlong {
    jcall(env, 0, |_| {
        let m = Map::new(
            kind_arg(key_kind as u32, "key kind")?,
            kind_arg(value_kind as u32, "value kind")?,
            count_arg(capacity, "capacity")?,
        )?;
        Ok(objects::insert(MapObject::Direct(m))? as jlong)
    })
}

/// `long bridgeNew(int keyKind, int valueKind, long capacity, long queueCapacity)`:
/// a new bridge map (DESIGN §7, through `fm_bridge_new`); the caller owns it.
/// Every call of this binding serves it (on its owner thread); `update` runs
/// its Java callback there too (the owner thread attached to the JVM).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_bridgeNew(
    env: *mut JNIEnv,
    _: jclass,
    key_kind: jint,
    value_kind: jint,
    capacity: jlong,
    queue: jlong,
) -> jlong {
    jcall(env, 0, |_| {
        let (capacity, queue) = (
            count_arg(capacity, "capacity")?,
            count_arg(queue, "queue capacity")?,
        );
        Ok(api::bridge_new(key_kind as u32, value_kind as u32, capacity, queue)? as jlong)
    })
}

/// `void free(long handle, int handleKind)`: frees a map (1), iterator (2),
/// view (3) or subscription (4) through the C ABI's own free calls, so every kind of map is
/// closed the way C would close it (tickets are freed by `ticketTake`). 0 is a no-op; a second free throws
/// IllegalStateException.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_free(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    kind: jint,
) {
    jcall(env, (), |_| {
        match registry::fm_handle_kind::from_raw(kind as u32) {
            // Tickets are freed by ticketTake.
            Some(k) if k != registry::FM_HANDLE_TICKET => api::free(h as u64, k),
            _ => fail(
                FM_INVALID_ARGUMENT,
                format!("cannot free handle kind {kind} from Java"),
            ),
        }
    })
}

pub(crate) extern "system" fn Java_dev_ferrymap_Native_mapLen(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) -> jlong {
    jcall(env, 0, |_| {
        let g = epoch::pin();
        Ok(with_map(h as u64, &g, |m, _| Ok(m.len()))? as jlong)
    })
}

pub(crate) extern "system" fn Java_dev_ferrymap_Native_mapClear(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) {
    jcall(env, (), |_| {
        let g = epoch::pin();
        with_map(h as u64, &g, |m, _| {
            m.clear();
            Ok(())
        })
    })
}

pub(crate) extern "system" fn Java_dev_ferrymap_Native_mapReserve(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    additional: jlong,
) {
    jcall(env, (), |_| {
        let additional = count_arg(additional, "additional")?;
        let g = epoch::pin();
        with_map(h as u64, &g, |m, _| m.reserve(additional))
    })
}

/// `long mapClone(long handle)`: an independent copy-on-write copy; the caller owns it.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_mapClone(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) -> jlong {
    jcall(env, 0, |_| Ok(api::clone_map(h as u64)? as jlong))
}

/// `int mapSchema(long handle)`: `keyKind << 8 | valueKind`.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_mapSchema(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) -> jint {
    jcall(env, 0, |_| {
        let g = epoch::pin();
        with_map(h as u64, &g, |m, _| {
            Ok((m.key_kind as jint) << 8 | m.val_kind as jint)
        })
    })
}

/// `void mapStats(long handle, long[] out)`: len, capacity, memory bytes,
/// open iterators, open views, writes (out must hold 6).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_mapStats(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    out: jlongArray,
) {
    jcall(env, (), |env| {
        let out = long_out(env, out, 6)?;
        let g = epoch::pin();
        let s = with_map(h as u64, &g, |m, g| Ok(m.stats(g)))?;
        let figures = [s.len, s.capacity, s.memory, s.iterators, s.views].map(|n| n as i64);
        env.write_longs(out, 0, &figures);
        env.write_longs(out, 5, &[s.writes as i64]);
        Ok(())
    })
}

/// Checks an out array of at least `n` longs.
fn long_out(env: Env, out: jlongArray, n: usize) -> Result<jlongArray> {
    if out.is_null() {
        return fail(FM_NULL_ARGUMENT, "out array is null");
    }
    if env.array_len(out) < n {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("out array must hold {n} elements"),
        );
    }
    Ok(out)
}

// ---- long -> long fast paths ------------------------------------------------

/// `long getLL(long handle, long key, long ifAbsent)`.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_getLL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    key: jlong,
    if_absent: jlong,
) -> jlong {
    // The C ABI's plain case: a direct INT->INT map this thread remembers.
    if let Some(found) = fast::get_int_plain(h as u64, key as u64, FM_INT) {
        return found.map_or(if_absent, |w| w as i64);
    }
    get_ll_slow(env, h, key, if_absent)
}

/// Everything `getLL`'s plain case does not answer, with every error.
#[inline(never)]
fn get_ll_slow(env: *mut JNIEnv, h: jlong, key: jlong, if_absent: jlong) -> jlong {
    if let Some(found) = fast::get_int_resolving(h as u64, key as u64, FM_INT) {
        return found.map_or(if_absent, |w| w as i64);
    }
    jcall(env, 0, |_| {
        let g = epoch::pin();
        with_map(h as u64, &g, |m, g| {
            expect_values(m, Want::Int)?;
            Ok(m.get_word(KeyRef::Int(key as u64), g)?
                .map_or(if_absent, |w| w as i64))
        })
    })
}

/// `long getLLOrThrow(long handle, long key)`: NoSuchElementException on a miss.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_getLLOrThrow(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    key: jlong,
) -> jlong {
    jcall(env, 0, |_| {
        let g = epoch::pin();
        with_map(h as u64, &g, |m, g| {
            expect_values(m, Want::Int)?;
            match m.get_word(KeyRef::Int(key as u64), g)? {
                Some(w) => Ok(w as i64),
                None => fail(FM_NOT_FOUND, format!("key {key} is not in the map")),
            }
        })
    })
}

/// `boolean putLL(long handle, long key, long value)`: whether a value was replaced.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_putLL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    key: jlong,
    value: jlong,
) -> jboolean {
    // The C ABI's plain case: room in a direct INT->INT map this thread
    // remembers and whose writer bias it holds.
    if let Some(replaced) = fast::insert_int_plain(h as u64, key as u64, FM_INT, value as u64) {
        return replaced;
    }
    put_ll_slow(env, h, key, value)
}

/// Everything `putLL`'s plain case does not do, with every error.
#[inline(never)]
fn put_ll_slow(env: *mut JNIEnv, h: jlong, key: jlong, value: jlong) -> jboolean {
    if let Some(replaced) = fast::insert_int_resolving(h as u64, key as u64, FM_INT, value as u64) {
        return replaced;
    }
    jcall(env, false, |_| {
        let g = epoch::pin();
        with_map(h as u64, &g, |m, _| {
            m.insert(KeyRef::Int(key as u64), ValIn::Int(value))
        })
    })
}

/// `boolean containsL(long handle, long key)`.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_containsL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    key: jlong,
) -> jboolean {
    jcall(env, false, |_| {
        let g = epoch::pin();
        with_map(h as u64, &g, |m, g| m.contains(KeyRef::Int(key as u64), g))
    })
}

/// `boolean removeL(long handle, long key)`: whether the key was present.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_removeL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    key: jlong,
) -> jboolean {
    jcall(env, false, |_| {
        let g = epoch::pin();
        with_map(h as u64, &g, |m, _| m.remove(KeyRef::Int(key as u64)))
    })
}

/// `long addLL(long handle, long key, long delta)`: the new value
/// (ArithmeticException on overflow, value unchanged).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_addLL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    key: jlong,
    delta: jlong,
) -> jlong {
    jcall(env, 0, |_| {
        let g = epoch::pin();
        Ok(with_map(h as u64, &g, |m, _| {
            m.add(KeyRef::Int(key as u64), ValIn::Int(delta))
        })? as i64)
    })
}

// ---- any schema -------------------------------------------------------------

/// `boolean put(long h, long intKey, byte[] bytesKey, long word, byte[] bytesValue)`.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_put(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    vw: jlong,
    vb: jbyteArray,
) -> jboolean {
    put_any(env, h, ik, bk, vw, vb, true)
}

/// The body of `put` (`overwrite`) and `putIfAbsent`: whether the key was
/// there before.
fn put_any(
    env: *mut JNIEnv,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    vw: jlong,
    vb: jbyteArray,
    overwrite: bool,
) -> jboolean {
    jcall(env, false, |env| {
        with_opt_bytes(env, bk, |kb| {
            with_opt_bytes(env, vb, |vbytes| {
                let g = epoch::pin();
                with_map(h as u64, &g, |m, _| {
                    let (k, v) = (key_ref(m, ik, kb)?, val_in(m, vw, vbytes)?);
                    if overwrite {
                        m.insert(k, v)
                    } else {
                        m.insert_if_absent(k, v)
                    }
                })
            })
        })
    })
}

/// `boolean findWord(long h, long intKey, byte[] bytesKey, long[] out)`: for
/// INT/FLOAT values, writes the value's word to `out[0]` and returns true, or
/// returns false on a miss.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_findWord(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    out: jlongArray,
) -> jboolean {
    word_op(env, h, ik, bk, out, |m, k, g| m.get_word(k, g))
}

/// The body of `findWord` and `takeWord`: `op` finds the value word of the
/// key in a map with INT/FLOAT values; it goes to `out[0]` if there was one.
fn word_op(
    env: *mut JNIEnv,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    out: jlongArray,
    op: impl FnOnce(&Map, KeyRef, &epoch::Guard) -> Result<Option<u64>>,
) -> jboolean {
    jcall(env, false, |env| {
        let out = long_out(env, out, 1)?;
        let found = with_opt_bytes(env, bk, |kb| {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, g| {
                if m.val_kind.is_blob() {
                    return fail(
                        FM_WRONG_KIND,
                        format!("map values are {}", m.val_kind.name()),
                    );
                }
                op(m, key_ref(m, ik, kb)?, g)
            })
        })?;
        match found {
            Some(w) => {
                env.write_longs(out, 0, &[w as i64]);
                Ok(true)
            }
            None => Ok(false),
        }
    })
}

/// A new Java byte[] with the bytes of a view; null with an exception pending
/// if the JVM could not allocate it.
fn bytes_of(env: Env, v: Option<View>) -> Result<jbyteArray> {
    let Some(v) = v else {
        return Ok(std::ptr::null_mut());
    };
    let array = env.new_bytes(v.bytes());
    if array.is_null() {
        return Err(java_pending());
    }
    Ok(array)
}

/// `byte[] getBytes(long h, long intKey, byte[] bytesKey)`: a copy of the
/// STR/BYTES value, or null on a miss.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_getBytes(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
) -> jbyteArray {
    jcall(env, std::ptr::null_mut(), |env| {
        // The value is held by a view (a reference to its immutable blob) while
        // it is copied into a Java array on this thread.
        let view = with_opt_bytes(env, bk, |kb| {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, g| {
                expect_values(m, Want::Buf)?;
                let word = m.get_word(key_ref(m, ik, kb)?, g)?;
                // SAFETY: found while pinned.
                Ok(word.map(|w| unsafe { View::of_word(w, None) }))
            })
        })?;
        bytes_of(env, view)
    })
}

/// `boolean putIfAbsent(long h, long intKey, byte[] bytesKey, long word, byte[] bytesValue)`:
/// inserts only if the key is absent; returns whether it was already present
/// (then nothing changed).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_putIfAbsent(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    vw: jlong,
    vb: jbyteArray,
) -> jboolean {
    put_any(env, h, ik, bk, vw, vb, false)
}

/// `boolean takeWord(long h, long intKey, byte[] bytesKey, long[] out)`: removes
/// the key of a map with INT/FLOAT values and writes the value it had to
/// `out[0]`, as one atomic step; false (nothing written) if it was absent.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_takeWord(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    out: jlongArray,
) -> jboolean {
    word_op(env, h, ik, bk, out, |m, k, _| {
        let mut word = None;
        m.take(k, &mut |w| {
            word = Some(w);
            Ok(())
        })?;
        Ok(word)
    })
}

/// `byte[] takeBytes(long h, long intKey, byte[] bytesKey)`: removes the key of
/// a map with STR/BYTES values and returns a copy of the value it had, as one
/// atomic step; null if it was absent.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_takeBytes(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
) -> jbyteArray {
    jcall(env, std::ptr::null_mut(), |env| {
        let view = with_opt_bytes(env, bk, |kb| {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, _| {
                expect_values(m, Want::Buf)?;
                let mut view = None;
                m.take(key_ref(m, ik, kb)?, &mut |w| {
                    // SAFETY: handed over under the shard lock, still in the table.
                    view = Some(unsafe { View::of_word(w, None) });
                    Ok(())
                })?;
                Ok(view)
            })
        })?;
        bytes_of(env, view)
    })
}

pub(crate) extern "system" fn Java_dev_ferrymap_Native_contains(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
) -> jboolean {
    jcall(env, false, |env| {
        with_opt_bytes(env, bk, |kb| {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, g| m.contains(key_ref(m, ik, kb)?, g))
        })
    })
}

pub(crate) extern "system" fn Java_dev_ferrymap_Native_remove(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
) -> jboolean {
    jcall(env, false, |env| {
        with_opt_bytes(env, bk, |kb| {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, _| m.remove(key_ref(m, ik, kb)?))
        })
    })
}

/// `long addWord(long h, long intKey, byte[] bytesKey, long deltaWord)`: adds
/// to an INT value (delta as is) or a FLOAT value (delta as bits); returns
/// the new value's word.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_addWord(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    delta: jlong,
) -> jlong {
    jcall(env, 0, |env| {
        let new = with_opt_bytes(env, bk, |kb| {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, _| {
                let delta = match m.val_kind {
                    FM_INT => ValIn::Int(delta),
                    FM_FLOAT => ValIn::Float(f64::from_bits(delta as u64)),
                    kind => {
                        return fail(
                            FM_WRONG_KIND,
                            format!(
                                "add needs INT or FLOAT values, map values are {}",
                                kind.name()
                            ),
                        )
                    }
                };
                m.add(key_ref(m, ik, kb)?, delta)
            })
        })?;
        Ok(new as i64)
    })
}

// ---- update with a Java callback ----------------------------------------------

static LONG_OP: MethodCache = MethodCache::new(
    c"java/util/function/LongUnaryOperator",
    c"applyAsLong",
    c"(J)J",
);
static DOUBLE_OP: MethodCache = MethodCache::new(
    c"java/util/function/DoubleUnaryOperator",
    c"applyAsDouble",
    c"(D)D",
);
static BYTES_OP: MethodCache = MethodCache::new(
    c"java/util/function/Consumer",
    c"accept",
    c"(Ljava/lang/Object;)V",
);

/// `void update(long h, long intKey, byte[] bytesKey, Object op)`: runs `op`
/// on the value in place, under the key's shard lock, and stores the result
/// as one atomic step. `op` is a `LongUnaryOperator` (INT values), a
/// `DoubleUnaryOperator` (FLOAT) or a `Consumer<byte[]>` that changes the
/// array in place (STR/BYTES; the length is fixed). An exception thrown by
/// `op` leaves the value unchanged and propagates; a call from `op` into the
/// same map throws IllegalStateException (re-entrant) instead of deadlocking.
/// NoSuchElementException if the key is absent. On a bridge map `op` runs
/// on the owner thread (see [`update`]).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_update(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    op: jobject,
) {
    jcall(env, (), |env| {
        if op.is_null() {
            return fail(FM_NULL_ARGUMENT, "update function is null");
        }
        with_opt_bytes(env, bk, |kb| update(env, h, ik, kb, op))
    })
}

/// The body of `update`.
///
/// On a direct map the callback runs on this thread with this environment.
/// On a bridge map the map's work runs on its owner thread, which is not a
/// Java thread: the closure attaches it to the JVM (once; as a daemon named
/// `ferrymap-bridge`, detached when it exits), calls the callback through a
/// global reference to `op` inside a local frame, and carries an exception
/// the callback threw back as a global reference, rethrown here on the
/// calling thread. This thread is blocked in native code meanwhile and holds
/// whatever Java monitors it held: a callback that needs one of them
/// deadlocks (as it would with any executor the caller waits on).
fn update(env: Env, h: jlong, ik: jlong, kb: Option<&[u8]>, op: jobject) -> Result<()> {
    let g = epoch::pin();
    let (val_kind, is_bridge) = match objects::map_object(h as u64, &g)? {
        MapObject::Direct(m) => (m.val_kind, false),
        MapObject::Bridge(b) => (b.map().val_kind, true),
    };
    let method = match val_kind {
        FM_INT => LONG_OP.get(env)?,
        FM_FLOAT => DOUBLE_OP.get(env)?,
        _ => BYTES_OP.get(env)?,
    };
    if !is_bridge {
        let m = api::map(h as u64, &g)?;
        return not_found_message(
            key_ref(m, ik, kb)
                .and_then(|k| m.update(k, &mut |value| call(env, op, method, val_kind, value))),
        );
    }
    let vm = env
        .java_vm()
        .ok_or_else(|| Error::new(FM_INTERNAL_ERROR, "GetJavaVM failed"))?;
    let global = env.new_global(op);
    if global.is_null() {
        return Err(java_pending());
    }
    let caller = std::thread::current().id();
    let mut thrown: jobject = std::ptr::null_mut();
    let result = with_map(h as u64, &g, |m, _| {
        let k = key_ref(m, ik, kb)?;
        if std::thread::current().id() == caller {
            // Called from the owner thread itself (a callback re-entering its
            // bridge): this environment is the right one.
            return m.update(k, &mut |value| call(env, global, method, val_kind, value));
        }
        let owner = super::bridge::attached_env(vm)?;
        if !owner.push_local_frame(16) {
            thrown = owner.take_exception();
            return Err(java_pending());
        }
        let r = m.update(k, &mut |value| call(owner, global, method, val_kind, value));
        if r.is_err() {
            thrown = owner.take_exception();
        }
        owner.pop_local_frame();
        r
    });
    env.delete_global(global);
    if !thrown.is_null() {
        env.throw_object(thrown);
        env.delete_global(thrown);
        return Err(java_pending());
    }
    not_found_message(result)
}

fn not_found_message(result: Result<()>) -> Result<()> {
    match result {
        Err(e) if e.status == FM_NOT_FOUND => fail(FM_NOT_FOUND, "key is not in the map"),
        other => other,
    }
}

/// Runs the Java callback `op` on `value` in place with the environment of
/// the current thread; a Java exception it throws is left pending.
fn call(
    env: Env,
    op: jobject,
    method: jni::sys::jmethodID,
    kind: crate::kind::fm_kind,
    value: &mut [u8],
) -> Result<()> {
    match kind {
        FM_INT => {
            let old = i64::from_ne_bytes(value[..8].try_into().expect("8 bytes"));
            let new = env.call_long(op, method, &[jvalue { j: old }]);
            if env.exception_pending() {
                return Err(java_pending());
            }
            value[..8].copy_from_slice(&new.to_ne_bytes());
        }
        FM_FLOAT => {
            let old = f64::from_ne_bytes(value[..8].try_into().expect("8 bytes"));
            let new = env.call_double(op, method, &[jvalue { d: old }]);
            if env.exception_pending() {
                return Err(java_pending());
            }
            value[..8].copy_from_slice(&new.to_ne_bytes());
        }
        _ => {
            let array = env.new_bytes(value);
            if array.is_null() {
                return Err(java_pending());
            }
            env.call_void(op, method, &[jvalue { l: array }]);
            if env.exception_pending() {
                env.delete_local(array);
                return Err(java_pending());
            }
            // The array's length cannot change, so this stays in bounds.
            env.read_bytes(array, 0, value);
            env.delete_local(array);
        }
    }
    Ok(())
}

// ---- zero-copy views ------------------------------------------------------

/// `ByteBuffer view(long h, long intKey, byte[] bytesKey, long[] viewOut)`: a
/// direct ByteBuffer over the stored bytes of a STR/BYTES value, valid until
/// the view handle written to `viewOut[0]` is released; null on a miss. The
/// Java side hands out only read-only duplicates of it.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_view(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    view_out: jlongArray,
) -> jobject {
    jcall(env, std::ptr::null_mut(), |env| {
        let out = long_out(env, view_out, 1)?;
        let view = with_opt_bytes(env, bk, |kb| {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, g| {
                expect_values(m, Want::Buf)?;
                let word = m.get_word(key_ref(m, ik, kb)?, g)?;
                // SAFETY: found while pinned.
                Ok(word.map(|w| unsafe { View::of_word(w, Some(m.counters.clone())) }))
            })
        })?;
        let Some(v) = view else {
            return Ok(std::ptr::null_mut());
        };
        let (p, n) = (v.bytes().as_ptr(), v.bytes().len());
        let handle = objects::insert(v)?;
        let buffer = env.new_direct_buffer(p, n);
        if buffer.is_null() {
            let _ = objects::free::<crate::iter::View>(handle);
            return Err(java_pending());
        }
        env.write_longs(out, 0, &[handle as i64]);
        Ok(buffer)
    })
}

// ---- conditional writes (ConcurrentMap, LongLongMap) ------------------------

/// What a conditional native reports: the key was absent, the value did not
/// match, or the write was made.
const ABSENT: jint = -1;
const MISMATCH: jint = 0;
const DONE: jint = 1;

/// The body of `compareAndSwap` (`new` given) and `removeIfEqual` (`new`
/// None): one `Map::modify` step that compares the current value with the
/// expected one (INT by value, FLOAT by bits, STR/BYTES by bytes).
#[allow(clippy::too_many_arguments)]
fn if_equal(
    env: *mut JNIEnv,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    ew: jlong,
    eb: jbyteArray,
    new: Option<(jlong, jbyteArray)>,
) -> jint {
    jcall(env, MISMATCH, |env| {
        let (nw, nb) = new.unwrap_or((0, std::ptr::null_mut()));
        with_opt_bytes(env, bk, |kb| {
            with_opt_bytes(env, eb, |ebytes| {
                with_opt_bytes(env, nb, |nbytes| {
                    let g = epoch::pin();
                    with_map(h as u64, &g, |m, _| {
                        let k = key_ref(m, ik, kb)?;
                        let expected = val_in(m, ew, ebytes)?;
                        m.check_val(expected)?;
                        let put = match new {
                            Some(_) => Some(val_in(m, nw, nbytes)?),
                            None => None,
                        };
                        let mut outcome = ABSENT;
                        m.modify(k, &mut |cur| {
                            let Some(w) = cur else {
                                return Ok(crate::map::Change::Keep);
                            };
                            if !m.value_is(w, expected) {
                                outcome = MISMATCH;
                                return Ok(crate::map::Change::Keep);
                            }
                            outcome = DONE;
                            Ok(put.map_or(crate::map::Change::Remove, crate::map::Change::Put))
                        })?;
                        Ok(outcome)
                    })
                })
            })
        })
    })
}

/// `int compareAndSwap(long h, long intKey, byte[] bytesKey, long expectedWord,
/// byte[] expectedBytes, long word, byte[] bytesValue)`: stores the value only
/// if the current one equals the expected one; 1 if it did, 0 on a mismatch,
/// -1 if the key is absent (nothing inserted).
#[allow(clippy::too_many_arguments)]
pub(crate) extern "system" fn Java_dev_ferrymap_Native_compareAndSwap(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    ew: jlong,
    eb: jbyteArray,
    vw: jlong,
    vb: jbyteArray,
) -> jint {
    if_equal(env, h, ik, bk, ew, eb, Some((vw, vb)))
}

/// `int removeIfEqual(long h, long intKey, byte[] bytesKey, long expectedWord,
/// byte[] expectedBytes)`: removes the key only if its value equals the
/// expected one; 1 if it did, 0 on a mismatch, -1 if absent.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_removeIfEqual(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ik: jlong,
    bk: jbyteArray,
    ew: jlong,
    eb: jbyteArray,
) -> jint {
    if_equal(env, h, ik, bk, ew, eb, None)
}

/// `boolean swapLL(long h, long key, long value, long[] previous)`: stores
/// the value and writes the one it replaced to `previous[0]`; returns
/// whether there was one. One atomic step (INT→INT maps).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_swapLL(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    key: jlong,
    value: jlong,
    previous: jlongArray,
) -> jboolean {
    jcall(env, false, |env| {
        let out = long_out(env, previous, 1)?;
        let g = epoch::pin();
        let prev = with_map(h as u64, &g, |m, _| {
            expect_values(m, Want::Int)?;
            let mut prev = None;
            m.modify(KeyRef::Int(key as u64), &mut |cur| {
                prev = cur;
                Ok(crate::map::Change::Put(ValIn::Int(value)))
            })?;
            Ok(prev)
        })?;
        if let Some(w) = prev {
            env.write_longs(out, 0, &[w as i64]);
        }
        Ok(prev.is_some())
    })
}
