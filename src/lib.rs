//! ferrymap: hash maps that live in one shared library and are shared by C,
//! Java, Python and Go code in the same process through opaque 64-bit handles.
//!
//! The design is described in `docs/architecture.md`. The modules read
//! bottom-up, each using only those before it (`scripts/check-layers`):
//!
//! - [`status`], [`hash`], [`epoch`] (when memory a reader may still see
//!   can be freed), [`registry`] (the handle table, which knows no types);
//! - [`blob`] and [`kind`]: keys and values;
//! - [`table`], [`map`] (sharded, lock-free reads, copy-on-write
//!   snapshots), [`feed`] (the change feed), [`iter`], [`codec`];
//! - [`bridge`]: maps served by an owner thread, and tickets;
//! - [`objects`]: what handles hold; [`api`]: the handle-level operations;
//! - the language layers: [`ffi`], the C ABI (header:
//!   `bindings/c/ferrymap.h`), and `jni`, the Java natives.

// Lifetimes tied to an epoch guard are spelled out on purpose, and the
// internal `len` methods have no use for `is_empty`.
#![allow(clippy::needless_lifetimes, clippy::len_without_is_empty)]

pub mod alloc;
pub mod api;
pub(crate) mod bias;
pub mod blob;
pub mod bridge;
pub mod codec;
pub mod copies;
pub mod epoch;
pub mod feed;
pub mod ffi;
pub mod fork;
pub mod hash;
pub mod iter;
/// The JNI layer: the Java binding's native methods (bindings/java/).
/// cbindgen:ignore
#[deny(dead_code)]
mod jni;
pub mod kind;
pub mod map;
pub mod objects;
pub mod registry;
pub mod status;
pub(crate) mod sync;
// The loom models (`--cfg loom` test builds only): scripts/loom.
#[cfg(all(test, loom))]
mod loom_models;
pub mod table;
