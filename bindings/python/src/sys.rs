//! The part of ferrymap's C API (`bindings/c/ferrymap.h`) this module uses,
//! declared by hand from the header. The module does not contain the core:
//! these symbols come from the `libferrymap.so` it is linked against (by
//! soname, found through RUNPATH `$ORIGIN`, see build.rs), so a map made by
//! C, Java or Go in the same process is the same map here.
//!
//! Keep in step with the header: every declaration below copies its
//! prototype. Layouts are checked at compile time at the bottom.

#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_void};

pub type fm_handle = u64;
pub type fm_status = i32;

pub const FM_OK: fm_status = 0;
pub const FM_NOT_FOUND: fm_status = 1;
pub const FM_NULL_ARGUMENT: fm_status = 2;
pub const FM_INVALID_HANDLE: fm_status = 3;
pub const FM_WRONG_KIND: fm_status = 4;
pub const FM_INVALID_UTF8: fm_status = 5;
pub const FM_BUFFER_TOO_SMALL: fm_status = 6;
pub const FM_INVALID_ARGUMENT: fm_status = 7;
pub const FM_CORRUPT_DATA: fm_status = 8;
pub const FM_REENTRANT: fm_status = 9;
pub const FM_OUT_OF_MEMORY: fm_status = 10;
pub const FM_OVERFLOW: fm_status = 11;
pub const FM_END: fm_status = 12;
pub const FM_CALLBACK_STOPPED: fm_status = 13;
pub const FM_UNSUPPORTED_VERSION: fm_status = 14;
pub const FM_INTERNAL_ERROR: fm_status = 15;
pub const FM_CLOSED: fm_status = 16;
pub const FM_TIMEOUT: fm_status = 17;
pub const FM_QUEUE_FULL: fm_status = 18;
pub const FM_BRIDGE_FAILED: fm_status = 19;

pub const FM_INT: u32 = 1;
pub const FM_FLOAT: u32 = 2;
pub const FM_STR: u32 = 3;
pub const FM_BYTES: u32 = 4;

pub const FM_HANDLE_MAP: u32 = 1;
pub const FM_HANDLE_ITERATOR: u32 = 2;
pub const FM_HANDLE_VIEW: u32 = 3;
pub const FM_HANDLE_SUBSCRIPTION: u32 = 4;
pub const FM_HANDLE_TICKET: u32 = 5;

// fm_op: committed mutations (change feed) and submitted requests.
pub const FM_OP_INSERT: u32 = 1;
pub const FM_OP_REMOVE: u32 = 2;
pub const FM_OP_ADD: u32 = 3;
pub const FM_OP_UPDATE: u32 = 4;
pub const FM_OP_CLEAR: u32 = 5;
pub const FM_OP_GET: u32 = 6;
pub const FM_OP_CONTAINS: u32 = 7;
pub const FM_OP_LEN: u32 = 8;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct fm_entry {
    pub key_int: i64,
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_int: i64,
    pub value_float: f64,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

impl fm_entry {
    pub const ZERO: fm_entry = fm_entry {
        key_int: 0,
        key_ptr: std::ptr::null(),
        key_len: 0,
        value_int: 0,
        value_float: 0.0,
        value_ptr: std::ptr::null(),
        value_len: 0,
    };
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct fm_buf {
    pub ptr: *const u8,
    pub len: usize,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct fm_request {
    pub op: u32,
    pub key_int: i64,
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_int: i64,
    pub value_float: f64,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct fm_result {
    pub status: i32,
    pub flag: bool,
    pub seq: u64,
    pub len: u64,
    pub value_int: i64,
    pub value_float: f64,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

impl fm_result {
    pub const ZERO: fm_result = fm_result {
        status: 0,
        flag: false,
        seq: 0,
        len: 0,
        value_int: 0,
        value_float: 0.0,
        value_ptr: std::ptr::null(),
        value_len: 0,
    };
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct fm_event {
    pub seq: u64,
    pub op: u32,
    pub lost: u64,
    pub key_int: i64,
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_int: i64,
    pub value_float: f64,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

impl fm_event {
    pub const ZERO: fm_event = fm_event {
        seq: 0,
        op: 0,
        lost: 0,
        key_int: 0,
        key_ptr: std::ptr::null(),
        key_len: 0,
        value_int: 0,
        value_float: 0.0,
        value_ptr: std::ptr::null(),
        value_len: 0,
    };
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct fm_stats {
    pub len: u64,
    pub capacity: u64,
    pub memory_bytes: u64,
    pub load_factor: f64,
    pub open_iterators: u64,
    pub open_views: u64,
    pub writes: u64,
}

pub type fm_update_fn = unsafe extern "C" fn(ctx: *mut c_void, value: *mut u8, len: usize) -> i32;

extern "C" {
    // info
    pub fn fm_version() -> u32;
    pub fn fm_version_string() -> *const c_char;
    pub fn fm_status_str(status: i32) -> *const c_char;
    pub fn fm_last_error() -> *const c_char;
    pub fn fm_registry_id() -> u64;
    pub fn fm_library_path() -> *const c_char;
    pub fn fm_census(kind: u32, count: *mut u64) -> fm_status;
    pub fn fm_census_total() -> u64;

    // lifecycle
    pub fn fm_map_new(
        key_kind: u32,
        value_kind: u32,
        capacity: usize,
        map_out: *mut fm_handle,
    ) -> fm_status;
    pub fn fm_map_free(map: fm_handle) -> fm_status;
    pub fn fm_map_len(map: fm_handle, len_out: *mut usize) -> fm_status;
    pub fn fm_map_clear(map: fm_handle) -> fm_status;
    pub fn fm_map_reserve(map: fm_handle, additional: usize) -> fm_status;
    pub fn fm_map_clone(map: fm_handle, clone_out: *mut fm_handle) -> fm_status;
    pub fn fm_map_schema(
        map: fm_handle,
        key_kind_out: *mut u32,
        value_kind_out: *mut u32,
    ) -> fm_status;
    pub fn fm_map_stats(map: fm_handle, stats_out: *mut fm_stats) -> fm_status;

    // single operations
    pub fn fm_insert_i64_i64(
        map: fm_handle,
        key: i64,
        value: i64,
        replaced: *mut bool,
    ) -> fm_status;
    pub fn fm_insert_i64_f64(
        map: fm_handle,
        key: i64,
        value: f64,
        replaced: *mut bool,
    ) -> fm_status;
    pub fn fm_insert_i64_buf(
        map: fm_handle,
        key: i64,
        value: *const u8,
        value_len: usize,
        replaced: *mut bool,
    ) -> fm_status;
    pub fn fm_insert_buf_i64(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        value: i64,
        replaced: *mut bool,
    ) -> fm_status;
    pub fn fm_insert_buf_f64(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        value: f64,
        replaced: *mut bool,
    ) -> fm_status;
    pub fn fm_insert_buf_buf(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
        replaced: *mut bool,
    ) -> fm_status;
    pub fn fm_get_i64_i64(map: fm_handle, key: i64, value_out: *mut i64) -> fm_status;
    pub fn fm_get_i64_f64(map: fm_handle, key: i64, value_out: *mut f64) -> fm_status;
    pub fn fm_get_i64_buf(
        map: fm_handle,
        key: i64,
        buf: *mut u8,
        cap: usize,
        len_out: *mut usize,
    ) -> fm_status;
    pub fn fm_get_buf_i64(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        value_out: *mut i64,
    ) -> fm_status;
    pub fn fm_get_buf_f64(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        value_out: *mut f64,
    ) -> fm_status;
    pub fn fm_get_buf_buf(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        buf: *mut u8,
        cap: usize,
        len_out: *mut usize,
    ) -> fm_status;
    pub fn fm_contains_i64(map: fm_handle, key: i64, found_out: *mut bool) -> fm_status;
    pub fn fm_contains_buf(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        found_out: *mut bool,
    ) -> fm_status;
    pub fn fm_remove_i64(map: fm_handle, key: i64, removed: *mut bool) -> fm_status;
    pub fn fm_remove_buf(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        removed: *mut bool,
    ) -> fm_status;
    pub fn fm_add_i64_i64(map: fm_handle, key: i64, delta: i64, new_value: *mut i64) -> fm_status;
    pub fn fm_add_i64_f64(map: fm_handle, key: i64, delta: f64, new_value: *mut f64) -> fm_status;
    pub fn fm_add_buf_i64(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        delta: i64,
        new_value: *mut i64,
    ) -> fm_status;
    pub fn fm_add_buf_f64(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        delta: f64,
        new_value: *mut f64,
    ) -> fm_status;
    pub fn fm_update_i64(
        map: fm_handle,
        key: i64,
        callback: fm_update_fn,
        ctx: *mut c_void,
    ) -> fm_status;
    pub fn fm_update_buf(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        callback: fm_update_fn,
        ctx: *mut c_void,
    ) -> fm_status;

    // batch
    pub fn fm_insert_many_i64_i64(
        map: fm_handle,
        keys: *const i64,
        values: *const i64,
        n: usize,
        replaced_out: *mut usize,
    ) -> fm_status;
    pub fn fm_insert_many_i64_f64(
        map: fm_handle,
        keys: *const i64,
        values: *const f64,
        n: usize,
        replaced_out: *mut usize,
    ) -> fm_status;
    pub fn fm_insert_many(
        map: fm_handle,
        entries: *const fm_entry,
        n: usize,
        replaced_out: *mut usize,
    ) -> fm_status;
    pub fn fm_get_many_i64_i64(
        map: fm_handle,
        keys: *const i64,
        n: usize,
        values: *mut i64,
        found: *mut u8,
        found_count: *mut usize,
    ) -> fm_status;
    pub fn fm_get_many_i64_f64(
        map: fm_handle,
        keys: *const i64,
        n: usize,
        values: *mut f64,
        found: *mut u8,
        found_count: *mut usize,
    ) -> fm_status;
    pub fn fm_get_many_buf_i64(
        map: fm_handle,
        keys: *const fm_buf,
        n: usize,
        values: *mut i64,
        found: *mut u8,
        found_count: *mut usize,
    ) -> fm_status;
    pub fn fm_get_many_buf_f64(
        map: fm_handle,
        keys: *const fm_buf,
        n: usize,
        values: *mut f64,
        found: *mut u8,
        found_count: *mut usize,
    ) -> fm_status;
    pub fn fm_get_many_i64_buf(
        map: fm_handle,
        keys: *const i64,
        n: usize,
        buf: *mut u8,
        cap: usize,
        values: *mut fm_buf,
        needed_out: *mut usize,
    ) -> fm_status;
    pub fn fm_get_many_buf_buf(
        map: fm_handle,
        keys: *const fm_buf,
        n: usize,
        buf: *mut u8,
        cap: usize,
        values: *mut fm_buf,
        needed_out: *mut usize,
    ) -> fm_status;
    pub fn fm_remove_many_i64(
        map: fm_handle,
        keys: *const i64,
        n: usize,
        removed_out: *mut usize,
    ) -> fm_status;
    pub fn fm_remove_many_buf(
        map: fm_handle,
        keys: *const fm_buf,
        n: usize,
        removed_out: *mut usize,
    ) -> fm_status;

    // iterators, views, export/import
    pub fn fm_iter_new(map: fm_handle, iter_out: *mut fm_handle) -> fm_status;
    pub fn fm_iter_len(iter: fm_handle, len_out: *mut usize) -> fm_status;
    pub fn fm_iter_next_batch(
        iter: fm_handle,
        entries: *mut fm_entry,
        cap: usize,
        count_out: *mut usize,
    ) -> fm_status;
    pub fn fm_iter_free(iter: fm_handle) -> fm_status;
    pub fn fm_view_i64(
        map: fm_handle,
        key: i64,
        view_out: *mut fm_handle,
        ptr_out: *mut *const u8,
        len_out: *mut usize,
    ) -> fm_status;
    pub fn fm_view_buf(
        map: fm_handle,
        key: *const u8,
        key_len: usize,
        view_out: *mut fm_handle,
        ptr_out: *mut *const u8,
        len_out: *mut usize,
    ) -> fm_status;
    pub fn fm_view_bytes(
        view: fm_handle,
        ptr_out: *mut *const u8,
        len_out: *mut usize,
    ) -> fm_status;
    pub fn fm_view_release(view: fm_handle) -> fm_status;
    pub fn fm_export(
        map: fm_handle,
        view_out: *mut fm_handle,
        ptr_out: *mut *const u8,
        len_out: *mut usize,
    ) -> fm_status;
    pub fn fm_import(data: *const u8, len: usize, map_out: *mut fm_handle) -> fm_status;

    // bridge mode
    pub fn fm_bridge_new(
        key_kind: u32,
        value_kind: u32,
        capacity: usize,
        queue_capacity: usize,
        map_out: *mut fm_handle,
    ) -> fm_status;
    pub fn fm_bridge_status(map: fm_handle) -> fm_status;
    pub fn fm_bridge_seq(map: fm_handle, seq_out: *mut u64) -> fm_status;
    pub fn fm_last_seq() -> u64;
    pub fn fm_submit(
        map: fm_handle,
        requests: *const fm_request,
        n: usize,
        timeout_us: i64,
        ticket_out: *mut fm_handle,
    ) -> fm_status;
    pub fn fm_ticket_poll(ticket: fm_handle, done_out: *mut bool) -> fm_status;
    pub fn fm_ticket_wait(ticket: fm_handle, timeout_us: i64) -> fm_status;
    pub fn fm_ticket_results(
        ticket: fm_handle,
        results: *mut fm_result,
        cap: usize,
        count_out: *mut usize,
    ) -> fm_status;
    pub fn fm_ticket_free(ticket: fm_handle) -> fm_status;
    pub fn fm_subscribe(map: fm_handle, bound: usize, sub_out: *mut fm_handle) -> fm_status;
    pub fn fm_sub_next(sub: fm_handle, timeout_us: i64, event_out: *mut fm_event) -> fm_status;
    pub fn fm_sub_free(sub: fm_handle) -> fm_status;
}

// The header's layout assertions, repeated for these declarations.
const _: () = assert!(std::mem::size_of::<fm_handle>() == 8);
const _: () = assert!(std::mem::size_of::<fm_buf>() == 2 * std::mem::size_of::<*const u8>());
const _: () = assert!(std::mem::size_of::<fm_entry>() == 24 + 4 * std::mem::size_of::<*const u8>());
const _: () = assert!(std::mem::size_of::<fm_stats>() == 56);
const _: () =
    assert!(std::mem::size_of::<fm_request>() == 32 + 4 * std::mem::size_of::<*const u8>());
const _: () =
    assert!(std::mem::size_of::<fm_result>() == 40 + 2 * std::mem::size_of::<*const u8>());
const _: () = assert!(std::mem::size_of::<fm_event>() == 48 + 4 * std::mem::size_of::<*const u8>());
