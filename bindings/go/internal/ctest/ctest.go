// Package ctest holds C code for the Go binding's tests: C functions
// compiled into the test binary (import "C" is not allowed in _test.go
// files) that use the same libferrymap.so as the ferrymap package, to test
// handles crossing between Go and C in one process. The header and library
// come from the same place as the ferrymap package's (link_*.go, by build
// tag).
package ctest

/*
#include <pthread.h>
#include <string.h>
#include "ferrymap.h"

// C writes keys base..base+n-1 -> key*10 into a Go-made INT->INT map.
static int32_t ct_write_i64(fm_handle m, int64_t base, int64_t n) {
	for (int64_t k = base; k < base + n; k++) {
		fm_status st = fm_insert_i64_i64(m, k, k * 10, NULL);
		if (st != FM_OK) return st;
	}
	return FM_OK;
}

// C reads a key; returns the status, value through *out.
static int32_t ct_get_i64(fm_handle m, int64_t k, int64_t *out) {
	return fm_get_i64_i64(m, k, out);
}

// C makes an INT->INT map with n entries k -> -k and hands it out.
static int32_t ct_new_i64(int64_t n, fm_handle *out) {
	fm_handle m;
	fm_status st = fm_map_new(FM_INT, FM_INT, 0, &m);
	if (st != FM_OK) return st;
	for (int64_t k = 0; k < n; k++) fm_insert_i64_i64(m, k, -k, NULL);
	*out = m;
	return FM_OK;
}

// C makes a STR->STR map holding awkward strings (embedded NUL, emoji,
// empty) for round-trip checks.
static int32_t ct_new_strings(fm_handle *out) {
	fm_handle m;
	fm_status st = fm_map_new(FM_STR, FM_STR, 0, &m);
	if (st != FM_OK) return st;
	static const char nul_k[] = "nul", nul_v[] = {'a', 0, 'b'};
	static const char emo_k[] = "emoji", emo_v[] = "\xF0\x9F\x98\x80 ok";
	fm_insert_buf_buf(m, (const uint8_t *)nul_k, 3, (const uint8_t *)nul_v, 3, NULL);
	fm_insert_buf_buf(m, (const uint8_t *)emo_k, 5, (const uint8_t *)emo_v, strlen(emo_v), NULL);
	fm_insert_buf_buf(m, NULL, 0, NULL, 0, NULL); // "" -> ""
	*out = m;
	return FM_OK;
}

// C reads a STR/BYTES value into buf; returns status, length through *len.
static int32_t ct_get_str(fm_handle m, const uint8_t *k, size_t kn, uint8_t *buf, size_t cap, size_t *len) {
	return fm_get_buf_buf(m, k, kn, buf, cap, len);
}

static int32_t ct_free(fm_handle m) { return fm_map_free(m); }
static int32_t ct_len(fm_handle m, size_t *n) { return fm_map_len(m, n); }
static uint64_t ct_registry_id(void) { return fm_registry_id(); }
static const char *ct_library_path(void) { return fm_library_path(); }

// A C thread that writes while Go iterates: keys base..base+n-1 -> 1.
struct ct_writer { fm_handle m; int64_t base, n; int32_t st; pthread_t t; };
static void *ct_writer_main(void *arg) {
	struct ct_writer *w = arg;
	w->st = FM_OK;
	for (int64_t k = w->base; k < w->base + w->n; k++) {
		fm_status st = fm_insert_i64_i64(w->m, k, 1, NULL);
		if (st != FM_OK) { w->st = st; break; }
	}
	return NULL;
}
static struct ct_writer ct_writers[4];
static int ct_writer_start(int slot, fm_handle m, int64_t base, int64_t n) {
	struct ct_writer *w = &ct_writers[slot];
	w->m = m; w->base = base; w->n = n;
	return pthread_create(&w->t, NULL, ct_writer_main, w);
}
static int32_t ct_writer_join(int slot) {
	pthread_join(ct_writers[slot].t, NULL);
	return ct_writers[slot].st;
}

// For the benchmarks: the cost floor of one cgo call, and fm_get_i64_i64
// called in a C loop (no cgo crossing per key).
static int32_t ct_nop(void) { return 0; }
static int64_t ct_loop_get(fm_handle m, const int64_t *keys, size_t nkeys, size_t mask, int64_t n) {
	int64_t s = 0, v;
	for (int64_t i = 0; i < n; i++) {
		if (fm_get_i64_i64(m, keys[(size_t)i & mask], &v) == FM_OK) s += v;
	}
	(void)nkeys;
	return s;
}
*/
import "C"

import "unsafe"

// WriteI64 has C insert keys base..base+n-1 → key*10 into map h.
func WriteI64(h uint64, base, n int64) int32 {
	return int32(C.ct_write_i64(C.fm_handle(h), C.int64_t(base), C.int64_t(n)))
}

// GetI64 has C read key k of map h.
func GetI64(h uint64, k int64) (int64, int32) {
	var v C.int64_t
	st := C.ct_get_i64(C.fm_handle(h), C.int64_t(k), &v)
	return int64(v), int32(st)
}

// NewI64 has C make an INT→INT map of n entries k → -k; the caller owns it.
func NewI64(n int64) (uint64, int32) {
	var h C.fm_handle
	st := C.ct_new_i64(C.int64_t(n), &h)
	return uint64(h), int32(st)
}

// NewStrings has C make a STR→STR map {"nul": "a\x00b", "emoji": "😀 ok", "": ""}.
func NewStrings() (uint64, int32) {
	var h C.fm_handle
	st := C.ct_new_strings(&h)
	return uint64(h), int32(st)
}

// GetStr has C read the value of a STR/BYTES key.
func GetStr(h uint64, k string) (string, int32) {
	buf := make([]byte, 256)
	var n C.size_t
	kb := []byte(k)
	var kp *C.uint8_t
	if len(kb) > 0 {
		kp = (*C.uint8_t)(unsafe.Pointer(&kb[0]))
	}
	st := C.ct_get_str(C.fm_handle(h), kp, C.size_t(len(kb)), (*C.uint8_t)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n)
	if st != C.FM_OK {
		return "", int32(st)
	}
	return string(buf[:n]), int32(st)
}

// Free has C free map h.
func Free(h uint64) int32 { return int32(C.ct_free(C.fm_handle(h))) }

// Len has C read the length of map h.
func Len(h uint64) (int, int32) {
	var n C.size_t
	st := C.ct_len(C.fm_handle(h), &n)
	return int(n), int32(st)
}

// RegistryID is fm_registry_id() as C code sees it.
func RegistryID() uint64 { return uint64(C.ct_registry_id()) }

// LibraryPath is fm_library_path() as C code sees it.
func LibraryPath() string { return C.GoString(C.ct_library_path()) }

// StartWriter starts a C pthread (slot 0..3) that inserts keys
// base..base+n-1 → 1 into map h; JoinWriter waits for it.
func StartWriter(slot int, h uint64, base, n int64) int {
	return int(C.ct_writer_start(C.int(slot), C.fm_handle(h), C.int64_t(base), C.int64_t(n)))
}

// Nop is an empty cgo call (the floor under every binding call).
func Nop() int32 { return int32(C.ct_nop()) }

// LoopGet calls fm_get_i64_i64 n times from C over keys[i & mask]
// (len(keys) must be a power of two and mask = len(keys)-1).
func LoopGet(h uint64, keys []uint64, n int) int64 {
	return int64(C.ct_loop_get(C.fm_handle(h), (*C.int64_t)(unsafe.Pointer(&keys[0])), C.size_t(len(keys)), C.size_t(len(keys)-1), C.int64_t(n)))
}

// JoinWriter waits for the writer in slot and returns its last status.
func JoinWriter(slot int) int32 { return int32(C.ct_writer_join(C.int(slot))) }
