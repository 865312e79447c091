//! Snapshot iterators (DESIGN §6) and export / import.
//!
//! An iterator hands out entries in batches: the words are taken from the
//! iterator under its cursor lock, then turned into Java values after the
//! lock is released (still pinned, so blob words stay alive even if another
//! thread frees the iterator meanwhile).

use jni::sys::{jbyteArray, jclass, jint, jlong, jlongArray, jobjectArray, JNIEnv};

use super::{java_pending, jcall, with_bytes, Env};
use crate::api::{self, with_map};
use crate::blob::{self, Blob};
use crate::codec;
use crate::epoch;
use crate::kind::FM_INT;
use crate::objects::{self, MapObject};
use crate::status::*;

/// Entries taken per call at most.
const BATCH: usize = 256;

/// `long iterNew(long map)`: an iterator over a snapshot of the map, O(shards).
/// The caller owns it (free with kind 2).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_iterNew(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) -> jlong {
    jcall(env, 0, |_| Ok(api::iter_new(h as u64)? as jlong))
}

/// `long iterLen(long iter)`: entries in the snapshot (all, not just those left).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_iterLen(
    env: *mut JNIEnv,
    _: jclass,
    it: jlong,
) -> jlong {
    jcall(env, 0, |_| {
        let g = epoch::pin();
        Ok(api::iterator(it as u64, &g)?.snapshot().len() as jlong)
    })
}

fn blob_bytes<'a>(word: u64) -> &'a [u8] {
    // SAFETY: words handed out by an iterator stay valid while the caller is
    // pinned (the iterator, and so its snapshot, is retired through the epoch).
    unsafe { blob::bytes(word as *const Blob) }
}

fn array_cap(env: Env, array: jobjectArray) -> usize {
    if array.is_null() {
        usize::MAX
    } else {
        env.array_len(array)
    }
}

/// `int iterNext(long iter, long[] intKeys, Object[] bytesKeys, long[] words,
/// Object[] bytesValues)`: the next entries (at most 256, and at most what
/// the given arrays hold). Keys go to `intKeys` (INT keys) or `bytesKeys` (as
/// byte[]); values to `words` (INT values, or FLOAT bits) or `bytesValues`.
/// The arrays the schema does not use may be null. Returns how many; 0 at the
/// end.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_iterNext(
    env: *mut JNIEnv,
    _: jclass,
    it: jlong,
    int_keys: jlongArray,
    bytes_keys: jobjectArray,
    words: jlongArray,
    bytes_values: jobjectArray,
) -> jint {
    jcall(env, 0, |env| {
        let g = epoch::pin();
        let it = api::iterator(it as u64, &g)?;
        let (kk, vk) = (it.snapshot().key_kind, it.snapshot().val_kind);
        let key_array = if kk == FM_INT { int_keys } else { bytes_keys };
        let value_array = if vk.is_blob() { bytes_values } else { words };
        if key_array.is_null() || value_array.is_null() {
            return fail(
                FM_NULL_ARGUMENT,
                "the output arrays this map's schema needs are null",
            );
        }
        let cap = BATCH
            .min(array_cap(env, key_array))
            .min(array_cap(env, value_array));
        let mut ks = [0i64; BATCH];
        let mut vs = [0i64; BATCH];
        let mut n = 0;
        it.next_batch(cap, |k, v| {
            ks[n] = k as i64;
            vs[n] = v as i64;
            n += 1;
        });
        if kk == FM_INT {
            env.write_longs(int_keys, 0, &ks[..n]);
        }
        if !vk.is_blob() {
            env.write_longs(words, 0, &vs[..n]);
        }
        for i in 0..n {
            if kk != FM_INT {
                store_bytes(env, bytes_keys, i, blob_bytes(ks[i] as u64))?;
            }
            if vk.is_blob() {
                store_bytes(env, bytes_values, i, blob_bytes(vs[i] as u64))?;
            }
        }
        Ok(n as jint)
    })
}

/// `array[index] = new byte[]{bytes}`, releasing the local reference at once.
fn store_bytes(env: Env, array: jobjectArray, index: usize, bytes: &[u8]) -> Result<()> {
    let b = env.new_bytes(bytes);
    if b.is_null() {
        return Err(java_pending());
    }
    env.set_element(array, index, b);
    env.delete_local(b);
    if env.exception_pending() {
        return Err(java_pending()); // ArrayStoreException: not an Object[]/byte[][]
    }
    Ok(())
}

/// `byte[] export(long map)`: a versioned, checksummed snapshot of the map
/// (docs/architecture.md, "Export format").
pub(crate) extern "system" fn Java_dev_ferrymap_Native_export(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) -> jbyteArray {
    jcall(env, std::ptr::null_mut(), |env| {
        let snap = {
            let g = epoch::pin();
            with_map(h as u64, &g, |m, _| m.snapshot())?
        };
        let bytes = codec::export(&snap)?;
        drop(snap);
        let array = env.new_bytes(&bytes);
        if array.is_null() {
            return Err(java_pending());
        }
        Ok(array)
    })
}

/// `long importMap(byte[] data)`: a new map from `export` output. Untrusted
/// input: corruption is IllegalArgumentException and no map is made. The
/// caller owns the new map.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_importMap(
    env: *mut JNIEnv,
    _: jclass,
    data: jbyteArray,
) -> jlong {
    jcall(env, 0, |env| {
        with_bytes(env, data, "data", |bytes| {
            let _g = epoch::pin();
            let m = codec::import(bytes)?;
            Ok(objects::insert(MapObject::Direct(m))? as jlong)
        })
    })
}
