//! ferrymap: hash maps that live in one shared library and are shared by C,
//! Java, Python and Go code in the same process through opaque 64-bit handles.
//!
//! The design is described in `docs/architecture.md`. In short:
//!
//! - [`registry`] maps handles to objects and detects stale, forged,
//!   wrong-kind and foreign handles;
//! - [`map`] is the sharded map with lock-free reads (a seqlock per shard
//!   over a [`table`] of atomic words) and copy-on-write snapshots;
//! - [`epoch`] decides when memory a reader may still see can be freed;
//! - [`blob`] holds STR/BYTES keys and values, immutable and shared;
//! - [`iter`] has iterators and zero-copy views, [`codec`] export/import;
//! - [`ffi`] is the C ABI (header: `bindings/c/ferrymap.h`).

// Lifetimes tied to an epoch guard are spelled out on purpose, and the
// internal `len` methods have no use for `is_empty`.
#![allow(clippy::needless_lifetimes, clippy::len_without_is_empty)]

pub mod api;
pub(crate) mod bias;
pub mod blob;
pub mod bridge;
pub mod codec;
pub mod epoch;
pub mod feed;
pub mod ffi;
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
pub mod table;
