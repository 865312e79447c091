//! Library-wide calls: version, registry identity, census.

use jni::sys::{jbyteArray, jclass, jint, jlong, JNIEnv};

use super::{java_pending, jcall};
use crate::registry::{self, fm_handle_kind};
use crate::status::*;

/// `int version()`: `major << 16 | minor << 8 | patch`.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_version(
    _env: *mut JNIEnv,
    _: jclass,
) -> jint {
    crate::api::version() as jint
}

/// `long registryId()`: this copy of the library's registry identity; equal
/// in every language that shares its handles.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_registryId(
    env: *mut JNIEnv,
    _: jclass,
) -> jlong {
    jcall(env, 0, |_| Ok(registry::id() as jlong))
}

/// `byte[] libraryPath()`: the path this copy was loaded from, as the
/// loader's bytes (decoded on the Java side).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_libraryPath(
    env: *mut JNIEnv,
    _: jclass,
) -> jbyteArray {
    jcall(env, std::ptr::null_mut(), |env| {
        let path = crate::api::library_path();
        let array = env.new_bytes(path.to_bytes());
        if array.is_null() {
            return Err(java_pending());
        }
        Ok(array)
    })
}

/// `long census(int handleKind)`: live handles of one kind.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_census(
    env: *mut JNIEnv,
    _: jclass,
    kind: jint,
) -> jlong {
    jcall(env, 0, |_| {
        let kind = fm_handle_kind::from_raw(kind as u32).ok_or_else(|| {
            Error::new(FM_INVALID_ARGUMENT, format!("unknown handle kind {kind}"))
        })?;
        Ok(registry::census(kind) as jlong)
    })
}

/// `long censusTotal()`: live handles of every kind together.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_censusTotal(
    env: *mut JNIEnv,
    _: jclass,
) -> jlong {
    jcall(env, 0, |_| Ok(registry::census_total() as jlong))
}
