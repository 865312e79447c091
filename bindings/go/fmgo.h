/*
 * fmgo.h: the C half of the Go binding (see capi.go for why it exists).
 * Static inline wrappers around the fm_* calls of ferrymap.h; every Go file
 * of the package that calls them includes this header.
 */
#ifndef FMGO_H
#define FMGO_H

#include <stdlib.h>
#include <string.h>
#include "ferrymap.h"

// One result shape for every wrapper. st: the fm_status. b: a bool out
// (replaced / removed / found). i: an integer out (value, handle, count,
// kind). f: a double out. p, n: a pointer and length out (views), or a
// length (buffer-too-small protocol, counts). seq: for the mutation
// wrappers called with want_seq != 0, fm_last_seq() read right after the
// call on the same OS thread (the goroutine may be on another thread by the
// next cgo call, and the sequence number is thread-local). err: on failure,
// a malloc'd copy of fm_last_error() taken on the failing thread; Go frees it.
typedef struct fmgo_r {
	int32_t st;
	uint8_t b;
	int64_t i;
	double f;
	const uint8_t *p;
	size_t n;
	uint64_t seq;
	char *err;
} fmgo_r;

static inline char *fmgo_errdup(int32_t st) {
	if (st == FM_OK || st == FM_NOT_FOUND || st == FM_END || st == FM_BUFFER_TOO_SMALL)
		return NULL;
	const char *m = fm_last_error();
	size_t len = strlen(m);
	char *c = (char *)malloc(len + 1);
	if (c != NULL)
		memcpy(c, m, len + 1);
	return c;
}

#define FMGO_RET(r) do { (r).err = fmgo_errdup((r).st); return (r); } while (0)
// As FMGO_RET, and with want_seq also the thread's last bridge sequence number.
#define FMGO_RET_SEQ(r, want_seq) do { if (want_seq) (r).seq = fm_last_seq(); FMGO_RET(r); } while (0)

// ---- lifecycle ----
static inline fmgo_r fmgo_map_new(uint32_t kk, uint32_t vk, size_t cap) {
	fmgo_r r = {0}; fm_handle h = 0;
	r.st = fm_map_new(kk, vk, cap, &h); r.i = (int64_t)h; FMGO_RET(r);
}
static inline fmgo_r fmgo_map_free(fm_handle m) { fmgo_r r = {0}; r.st = fm_map_free(m); FMGO_RET(r); }
static inline fmgo_r fmgo_map_len(fm_handle m) { fmgo_r r = {0}; r.st = fm_map_len(m, &r.n); FMGO_RET(r); }
static inline fmgo_r fmgo_map_clear(fm_handle m, uint8_t want_seq) { fmgo_r r = {0}; r.st = fm_map_clear(m); FMGO_RET_SEQ(r, want_seq); }
static inline fmgo_r fmgo_map_reserve(fm_handle m, size_t n) { fmgo_r r = {0}; r.st = fm_map_reserve(m, n); FMGO_RET(r); }
static inline fmgo_r fmgo_map_clone(fm_handle m) {
	fmgo_r r = {0}; fm_handle h = 0;
	r.st = fm_map_clone(m, &h); r.i = (int64_t)h; FMGO_RET(r);
}
static inline fmgo_r fmgo_map_schema(fm_handle m) {
	fmgo_r r = {0}; uint32_t k = 0, v = 0;
	r.st = fm_map_schema(m, &k, &v); r.i = k; r.n = v; FMGO_RET(r);
}
static inline fmgo_r fmgo_map_stats(fm_handle m, fm_stats *out) { fmgo_r r = {0}; r.st = fm_map_stats(m, out); FMGO_RET(r); }

// ---- single ops ----
static inline fmgo_r fmgo_insert_i64_i64(fm_handle m, int64_t k, int64_t v, uint8_t want_seq) {
	fmgo_r r = {0}; bool rep = false; r.st = fm_insert_i64_i64(m, k, v, &rep); r.b = rep; FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_insert_i64_f64(fm_handle m, int64_t k, double v, uint8_t want_seq) {
	fmgo_r r = {0}; bool rep = false; r.st = fm_insert_i64_f64(m, k, v, &rep); r.b = rep; FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_insert_i64_buf(fm_handle m, int64_t k, const uint8_t *v, size_t vn, uint8_t want_seq) {
	fmgo_r r = {0}; bool rep = false; r.st = fm_insert_i64_buf(m, k, v, vn, &rep); r.b = rep; FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_insert_buf_i64(fm_handle m, const uint8_t *k, size_t kn, int64_t v, uint8_t want_seq) {
	fmgo_r r = {0}; bool rep = false; r.st = fm_insert_buf_i64(m, k, kn, v, &rep); r.b = rep; FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_insert_buf_f64(fm_handle m, const uint8_t *k, size_t kn, double v, uint8_t want_seq) {
	fmgo_r r = {0}; bool rep = false; r.st = fm_insert_buf_f64(m, k, kn, v, &rep); r.b = rep; FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_insert_buf_buf(fm_handle m, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, uint8_t want_seq) {
	fmgo_r r = {0}; bool rep = false; r.st = fm_insert_buf_buf(m, k, kn, v, vn, &rep); r.b = rep; FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_get_i64_i64(fm_handle m, int64_t k) { fmgo_r r = {0}; r.st = fm_get_i64_i64(m, k, &r.i); FMGO_RET(r); }
static inline fmgo_r fmgo_get_i64_f64(fm_handle m, int64_t k) { fmgo_r r = {0}; r.st = fm_get_i64_f64(m, k, &r.f); FMGO_RET(r); }
static inline fmgo_r fmgo_get_i64_buf(fm_handle m, int64_t k, uint8_t *buf, size_t cap) {
	fmgo_r r = {0}; r.st = fm_get_i64_buf(m, k, buf, cap, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_get_buf_i64(fm_handle m, const uint8_t *k, size_t kn) { fmgo_r r = {0}; r.st = fm_get_buf_i64(m, k, kn, &r.i); FMGO_RET(r); }
static inline fmgo_r fmgo_get_buf_f64(fm_handle m, const uint8_t *k, size_t kn) { fmgo_r r = {0}; r.st = fm_get_buf_f64(m, k, kn, &r.f); FMGO_RET(r); }
static inline fmgo_r fmgo_get_buf_buf(fm_handle m, const uint8_t *k, size_t kn, uint8_t *buf, size_t cap) {
	fmgo_r r = {0}; r.st = fm_get_buf_buf(m, k, kn, buf, cap, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_contains_i64(fm_handle m, int64_t k) {
	fmgo_r r = {0}; bool f = false; r.st = fm_contains_i64(m, k, &f); r.b = f; FMGO_RET(r);
}
static inline fmgo_r fmgo_contains_buf(fm_handle m, const uint8_t *k, size_t kn) {
	fmgo_r r = {0}; bool f = false; r.st = fm_contains_buf(m, k, kn, &f); r.b = f; FMGO_RET(r);
}
static inline fmgo_r fmgo_remove_i64(fm_handle m, int64_t k, uint8_t want_seq) {
	fmgo_r r = {0}; bool f = false; r.st = fm_remove_i64(m, k, &f); r.b = f; FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_remove_buf(fm_handle m, const uint8_t *k, size_t kn, uint8_t want_seq) {
	fmgo_r r = {0}; bool f = false; r.st = fm_remove_buf(m, k, kn, &f); r.b = f; FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_add_i64_i64(fm_handle m, int64_t k, int64_t d, uint8_t want_seq) { fmgo_r r = {0}; r.st = fm_add_i64_i64(m, k, d, &r.i); FMGO_RET_SEQ(r, want_seq); }
static inline fmgo_r fmgo_add_i64_f64(fm_handle m, int64_t k, double d, uint8_t want_seq) { fmgo_r r = {0}; r.st = fm_add_i64_f64(m, k, d, &r.f); FMGO_RET_SEQ(r, want_seq); }
static inline fmgo_r fmgo_add_buf_i64(fm_handle m, const uint8_t *k, size_t kn, int64_t d, uint8_t want_seq) {
	fmgo_r r = {0}; r.st = fm_add_buf_i64(m, k, kn, d, &r.i); FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_add_buf_f64(fm_handle m, const uint8_t *k, size_t kn, double d, uint8_t want_seq) {
	fmgo_r r = {0}; r.st = fm_add_buf_f64(m, k, kn, d, &r.f); FMGO_RET_SEQ(r, want_seq);
}

// ---- conditional writes ----
// One shim per operation picks the form: kl 1 is an INT key (ki), else a
// STR/BYTES key (kp, kn); vl 1 an INT value (vi / ei), 2 a FLOAT value
// (vf / ef), else STR/BYTES (vp, vn / ep, en). A value handed back lands in
// r.i or r.f, or in buf (room for cap) with its length in r.n; r.b is the
// operation's flag (present / swapped / removed / inserted).
typedef struct fmgo_val {
	int64_t i;
	double f;
	const uint8_t *p;
	size_t n;
} fmgo_val;

static inline fmgo_r fmgo_swap(fm_handle m, uint8_t kl, int64_t ki, const uint8_t *kp, size_t kn,
			       uint8_t vl, fmgo_val v, uint8_t *buf, size_t cap) {
	fmgo_r r = {0}; bool b = false;
	if (kl == 1) {
		if (vl == 1) r.st = fm_swap_i64_i64(m, ki, v.i, &r.i, &b);
		else if (vl == 2) r.st = fm_swap_i64_f64(m, ki, v.f, &r.f, &b);
		else r.st = fm_swap_i64_buf(m, ki, v.p, v.n, buf, cap, &r.n, &b);
	} else {
		if (vl == 1) r.st = fm_swap_buf_i64(m, kp, kn, v.i, &r.i, &b);
		else if (vl == 2) r.st = fm_swap_buf_f64(m, kp, kn, v.f, &r.f, &b);
		else r.st = fm_swap_buf_buf(m, kp, kn, v.p, v.n, buf, cap, &r.n, &b);
	}
	r.b = b; FMGO_RET(r);
}
static inline fmgo_r fmgo_compare_and_swap(fm_handle m, uint8_t kl, int64_t ki, const uint8_t *kp, size_t kn,
					   uint8_t vl, fmgo_val e, fmgo_val v) {
	fmgo_r r = {0}; bool b = false;
	if (kl == 1) {
		if (vl == 1) r.st = fm_compare_and_swap_i64_i64(m, ki, e.i, v.i, &b, NULL);
		else if (vl == 2) r.st = fm_compare_and_swap_i64_f64(m, ki, e.f, v.f, &b, NULL);
		else { size_t n = 0; r.st = fm_compare_and_swap_i64_buf(m, ki, e.p, e.n, v.p, v.n, &b, NULL, 0, &n); }
	} else {
		if (vl == 1) r.st = fm_compare_and_swap_buf_i64(m, kp, kn, e.i, v.i, &b, NULL);
		else if (vl == 2) r.st = fm_compare_and_swap_buf_f64(m, kp, kn, e.f, v.f, &b, NULL);
		else { size_t n = 0; r.st = fm_compare_and_swap_buf_buf(m, kp, kn, e.p, e.n, v.p, v.n, &b, NULL, 0, &n); }
	}
	// A mismatch whose current value did not fit the empty buffer is
	// still just a mismatch.
	if (r.st == FM_BUFFER_TOO_SMALL) r.st = FM_OK;
	r.b = b; FMGO_RET(r);
}
static inline fmgo_r fmgo_remove_if_equal(fm_handle m, uint8_t kl, int64_t ki, const uint8_t *kp, size_t kn,
					  uint8_t vl, fmgo_val e) {
	fmgo_r r = {0}; bool b = false;
	if (kl == 1) {
		if (vl == 1) r.st = fm_remove_if_equal_i64_i64(m, ki, e.i, &b);
		else if (vl == 2) r.st = fm_remove_if_equal_i64_f64(m, ki, e.f, &b);
		else r.st = fm_remove_if_equal_i64_buf(m, ki, e.p, e.n, &b);
	} else {
		if (vl == 1) r.st = fm_remove_if_equal_buf_i64(m, kp, kn, e.i, &b);
		else if (vl == 2) r.st = fm_remove_if_equal_buf_f64(m, kp, kn, e.f, &b);
		else r.st = fm_remove_if_equal_buf_buf(m, kp, kn, e.p, e.n, &b);
	}
	r.b = b; FMGO_RET(r);
}
static inline fmgo_r fmgo_get_or_insert(fm_handle m, uint8_t kl, int64_t ki, const uint8_t *kp, size_t kn,
					uint8_t vl, fmgo_val v, uint8_t *buf, size_t cap) {
	fmgo_r r = {0}; bool b = false;
	if (kl == 1) {
		if (vl == 1) r.st = fm_get_or_insert_i64_i64(m, ki, v.i, &r.i, &b);
		else if (vl == 2) r.st = fm_get_or_insert_i64_f64(m, ki, v.f, &r.f, &b);
		else r.st = fm_get_or_insert_i64_buf(m, ki, v.p, v.n, buf, cap, &r.n, &b);
	} else {
		if (vl == 1) r.st = fm_get_or_insert_buf_i64(m, kp, kn, v.i, &r.i, &b);
		else if (vl == 2) r.st = fm_get_or_insert_buf_f64(m, kp, kn, v.f, &r.f, &b);
		else r.st = fm_get_or_insert_buf_buf(m, kp, kn, v.p, v.n, buf, cap, &r.n, &b);
	}
	r.b = b; FMGO_RET(r);
}
static inline fmgo_r fmgo_take(fm_handle m, uint8_t kl, int64_t ki, const uint8_t *kp, size_t kn,
			       uint8_t vl, uint8_t *buf, size_t cap) {
	fmgo_r r = {0};
	if (kl == 1) {
		if (vl == 1) r.st = fm_take_i64_i64(m, ki, &r.i);
		else if (vl == 2) r.st = fm_take_i64_f64(m, ki, &r.f);
		else r.st = fm_take_i64_buf(m, ki, buf, cap, &r.n);
	} else {
		if (vl == 1) r.st = fm_take_buf_i64(m, kp, kn, &r.i);
		else if (vl == 2) r.st = fm_take_buf_f64(m, kp, kn, &r.f);
		else r.st = fm_take_buf_buf(m, kp, kn, buf, cap, &r.n);
	}
	FMGO_RET(r);
}

// ---- callbacks (trampolines exported from callback.go) ----
extern int32_t fmgoComputeTrampoline(uintptr_t ctx, uint8_t *cur, size_t len, uint8_t **out, size_t *out_len);
// A compute's context: the Go handle, and the C copy of the value the Go
// callback chose (Go memory may not be handed to C past the callback).
typedef struct fmgo_compute_ctx {
	uintptr_t go;
	uint8_t *owned;
} fmgo_compute_ctx;
static inline int32_t fmgo_compute_cb(void *ctx, const uint8_t *cur, size_t len, const uint8_t **nv, size_t *nl) {
	fmgo_compute_ctx *c = (fmgo_compute_ctx *)ctx;
	uint8_t *out = NULL;
	size_t n = 0;
	int32_t rc = fmgoComputeTrampoline(c->go, (uint8_t *)cur, len, &out, &n);
	free(c->owned);
	c->owned = out;
	*nv = out;
	*nl = n;
	return rc;
}
static inline fmgo_r fmgo_compute(fm_handle m, uint8_t kl, int64_t ki, const uint8_t *kp, size_t kn, uintptr_t go) {
	fmgo_r r = {0}; fmgo_compute_ctx c = {go, NULL}; bool present = false;
	if (kl == 1) r.st = fm_compute_i64(m, ki, fmgo_compute_cb, &c, &present);
	else r.st = fm_compute_buf(m, kp, kn, fmgo_compute_cb, &c, &present);
	free(c.owned);
	r.b = present; FMGO_RET(r);
}
extern int32_t fmgoUpdateTrampoline(uintptr_t ctx, uint8_t *value, size_t len);
extern int32_t fmgoForEachTrampoline(uintptr_t ctx, fm_entry *entry);
static inline int32_t fmgo_update_cb(void *ctx, uint8_t *value, size_t len) {
	return fmgoUpdateTrampoline((uintptr_t)ctx, value, len);
}
static inline int32_t fmgo_foreach_cb(void *ctx, const fm_entry *entry) {
	return fmgoForEachTrampoline((uintptr_t)ctx, (fm_entry *)entry);
}
static inline fmgo_r fmgo_update_i64(fm_handle m, int64_t k, uintptr_t ctx, uint8_t want_seq) {
	fmgo_r r = {0}; r.st = fm_update_i64(m, k, fmgo_update_cb, (void *)ctx); FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_update_buf(fm_handle m, const uint8_t *k, size_t kn, uintptr_t ctx, uint8_t want_seq) {
	fmgo_r r = {0}; r.st = fm_update_buf(m, k, kn, fmgo_update_cb, (void *)ctx); FMGO_RET_SEQ(r, want_seq);
}
static inline fmgo_r fmgo_for_each(fm_handle m, uintptr_t ctx) {
	fmgo_r r = {0}; r.st = fm_for_each(m, fmgo_foreach_cb, (void *)ctx); FMGO_RET(r);
}

// ---- batch ----
static inline fmgo_r fmgo_insert_many_i64_i64(fm_handle m, const int64_t *k, const int64_t *v, size_t n) {
	fmgo_r r = {0}; r.st = fm_insert_many_i64_i64(m, k, v, n, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_insert_many_i64_f64(fm_handle m, const int64_t *k, const double *v, size_t n) {
	fmgo_r r = {0}; r.st = fm_insert_many_i64_f64(m, k, v, n, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_insert_many(fm_handle m, const fm_entry *e, size_t n) {
	fmgo_r r = {0}; r.st = fm_insert_many(m, e, n, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_get_many_i64_i64(fm_handle m, const int64_t *k, size_t n, int64_t *v, uint8_t *found) {
	fmgo_r r = {0}; r.st = fm_get_many_i64_i64(m, k, n, v, found, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_get_many_i64_f64(fm_handle m, const int64_t *k, size_t n, double *v, uint8_t *found) {
	fmgo_r r = {0}; r.st = fm_get_many_i64_f64(m, k, n, v, found, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_get_many_buf_i64(fm_handle m, const fm_buf *k, size_t n, int64_t *v, uint8_t *found) {
	fmgo_r r = {0}; r.st = fm_get_many_buf_i64(m, k, n, v, found, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_remove_many_i64(fm_handle m, const int64_t *k, size_t n) {
	fmgo_r r = {0}; r.st = fm_remove_many_i64(m, k, n, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_remove_many_buf(fm_handle m, const fm_buf *k, size_t n) {
	fmgo_r r = {0}; r.st = fm_remove_many_buf(m, k, n, &r.n); FMGO_RET(r);
}

// ---- iterators ----
static inline fmgo_r fmgo_iter_new(fm_handle m) {
	fmgo_r r = {0}; fm_handle h = 0; r.st = fm_iter_new(m, &h); r.i = (int64_t)h; FMGO_RET(r);
}
static inline fmgo_r fmgo_iter_len(fm_handle it) { fmgo_r r = {0}; r.st = fm_iter_len(it, &r.n); FMGO_RET(r); }
static inline fmgo_r fmgo_iter_next_batch(fm_handle it, fm_entry *e, size_t cap) {
	fmgo_r r = {0}; r.st = fm_iter_next_batch(it, e, cap, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_iter_next_i64(fm_handle it, int64_t *k, int64_t *v, size_t cap) {
	fmgo_r r = {0}; r.st = fm_iter_next_i64(it, k, v, cap, &r.n); FMGO_RET(r);
}
static inline fmgo_r fmgo_iter_free(fm_handle it) { fmgo_r r = {0}; r.st = fm_iter_free(it); FMGO_RET(r); }

// ---- views, export, import ----
static inline fmgo_r fmgo_view_i64(fm_handle m, int64_t k) {
	fmgo_r r = {0}; fm_handle h = 0; r.st = fm_view_i64(m, k, &h, &r.p, &r.n); r.i = (int64_t)h; FMGO_RET(r);
}
static inline fmgo_r fmgo_view_buf(fm_handle m, const uint8_t *k, size_t kn) {
	fmgo_r r = {0}; fm_handle h = 0; r.st = fm_view_buf(m, k, kn, &h, &r.p, &r.n); r.i = (int64_t)h; FMGO_RET(r);
}
static inline fmgo_r fmgo_view_release(fm_handle v) { fmgo_r r = {0}; r.st = fm_view_release(v); FMGO_RET(r); }
static inline fmgo_r fmgo_export(fm_handle m) {
	fmgo_r r = {0}; fm_handle h = 0; r.st = fm_export(m, &h, &r.p, &r.n); r.i = (int64_t)h; FMGO_RET(r);
}
static inline fmgo_r fmgo_import(const uint8_t *data, size_t n) {
	fmgo_r r = {0}; fm_handle h = 0; r.st = fm_import(data, n, &h); r.i = (int64_t)h; FMGO_RET(r);
}

// ---- process-wide ----
static inline fmgo_r fmgo_census(uint32_t kind) {
	fmgo_r r = {0}; uint64_t c = 0; r.st = fm_census(kind, &c); r.i = (int64_t)c; FMGO_RET(r);
}

// ---- bridge mode ----
// Waits that time out (FM_TIMEOUT) are ordinary outcomes of the polling
// loops on the Go side: no message is copied for them.
#define FMGO_RET_QUIET(r) do { if ((r).st != FM_TIMEOUT) (r).err = fmgo_errdup((r).st); return (r); } while (0)

static inline fmgo_r fmgo_bridge_new(uint32_t kk, uint32_t vk, size_t cap, size_t qcap) {
	fmgo_r r = {0}; fm_handle h = 0;
	r.st = fm_bridge_new(kk, vk, cap, qcap, &h); r.i = (int64_t)h; FMGO_RET(r);
}
static inline fmgo_r fmgo_bridge_status(fm_handle m) { fmgo_r r = {0}; r.st = fm_bridge_status(m); FMGO_RET(r); }
static inline fmgo_r fmgo_bridge_seq(fm_handle m) {
	fmgo_r r = {0}; uint64_t s = 0; r.st = fm_bridge_seq(m, &s); r.seq = s; FMGO_RET(r);
}
static inline fmgo_r fmgo_submit(fm_handle m, const fm_request *reqs, size_t n, int64_t timeout_us) {
	fmgo_r r = {0}; fm_handle t = 0;
	r.st = fm_submit(m, reqs, n, timeout_us, &t); r.i = (int64_t)t; FMGO_RET(r);
}
static inline fmgo_r fmgo_ticket_wait(fm_handle t, int64_t timeout_us) {
	fmgo_r r = {0}; r.st = fm_ticket_wait(t, timeout_us); FMGO_RET_QUIET(r);
}
static inline fmgo_r fmgo_ticket_free(fm_handle t) { fmgo_r r = {0}; r.st = fm_ticket_free(t); FMGO_RET(r); }
// fm_ticket_results, and with free_after (results without pointers: INT
// and FLOAT values) also fm_ticket_free in the same crossing; b says it was
// freed. FM_TIMEOUT: not run yet.
static inline fmgo_r fmgo_ticket_collect(fm_handle t, fm_result *out, size_t cap, uint8_t free_after) {
	fmgo_r r = {0}; r.st = fm_ticket_results(t, out, cap, &r.n);
	if (r.st == FM_OK && free_after) r.b = fm_ticket_free(t) == FM_OK;
	FMGO_RET_QUIET(r);
}
static inline fmgo_r fmgo_subscribe(fm_handle m, size_t bound) {
	fmgo_r r = {0}; fm_handle s = 0; r.st = fm_subscribe(m, bound, &s); r.i = (int64_t)s; FMGO_RET(r);
}
static inline fmgo_r fmgo_sub_next(fm_handle s, int64_t timeout_us, fm_event *ev) {
	fmgo_r r = {0}; r.st = fm_sub_next(s, timeout_us, ev); FMGO_RET_QUIET(r);
}
static inline fmgo_r fmgo_sub_free(fm_handle s) { fmgo_r r = {0}; r.st = fm_sub_free(s); FMGO_RET(r); }

#endif /* FMGO_H */
