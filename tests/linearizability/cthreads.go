package linearizability

/*
#cgo CFLAGS: -I${SRCDIR}/../../bindings/c
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lferrymap -Wl,-rpath,${SRCDIR}/../../target/release
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "ferrymap.h"

static int64_t now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// One recorded call: what was asked, what came back, when.
typedef struct rec {
	int32_t op, key;
	int64_t a, b;       // inputs
	int32_t st;         // status
	uint8_t flag;       // bool output
	int64_t out;        // value output
	int64_t call, ret;  // CLOCK_MONOTONIC ns
} rec;

typedef struct client {
	fm_handle map;
	uint64_t seed;
	int n;
	int keys;
	rec *recs;
	pthread_t thread;
} client;

static uint64_t next(uint64_t *s) {
	*s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
	return *s;
}

// Operation codes shared with Go (ops.go).
enum { OP_GET, OP_SET, OP_DEL, OP_SWAP, OP_CAS, OP_CAD, OP_GETORINS, OP_TAKE, OP_ADD, OP_CLEAR, OP_LEN, OP_COUNT };

// Threads and goroutines start together: the threads spin until Go says go.
static atomic_int go_flag;
static void release_clients(void) { atomic_store(&go_flag, 1); }

static void *run_client(void *arg) {
	client *c = arg;
	while (!atomic_load(&go_flag)) {
	}
	for (int i = 0; i < c->n; i++) {
		rec *r = &c->recs[i];
		uint64_t x = next(&c->seed);
		r->op = (int32_t)(x % OP_COUNT);
		r->key = (int32_t)((x >> 8) % (uint64_t)c->keys);
		r->a = (int64_t)((x >> 16) % 4);
		r->b = (int64_t)((x >> 24) % 4);
		bool f = false;
		int64_t v = 0;
		size_t n = 0;
		r->call = now_ns();
		switch (r->op) {
		case OP_GET: r->st = fm_get_i64_i64(c->map, r->key, &v); break;
		case OP_SET: r->st = fm_insert_i64_i64(c->map, r->key, r->a, &f); break;
		case OP_DEL: r->st = fm_remove_i64(c->map, r->key, &f); break;
		case OP_SWAP: r->st = fm_swap_i64_i64(c->map, r->key, r->a, &v, &f); break;
		case OP_CAS: r->st = fm_compare_and_swap_i64_i64(c->map, r->key, r->a, r->b, &f, &v); break;
		case OP_CAD: r->st = fm_remove_if_equal_i64_i64(c->map, r->key, r->a, &f); break;
		case OP_GETORINS: r->st = fm_get_or_insert_i64_i64(c->map, r->key, r->a, &v, &f); break;
		case OP_TAKE: r->st = fm_take_i64_i64(c->map, r->key, &v); break;
		case OP_ADD: r->st = fm_add_i64_i64(c->map, r->key, r->a, &v); break;
		case OP_CLEAR: r->st = fm_map_clear(c->map); break;
		default: r->st = fm_map_len(c->map, &n); v = (int64_t)n; break;
		}
		r->ret = now_ns();
		r->flag = f;
		r->out = v;
		// A short random pause: the Go clients, slower per call, then
		// overlap the threads' calls more often.
		for (volatile uint64_t z = 0; z < (x >> 40) % 256; z++) {
		}
	}
	return NULL;
}

static client *start_clients(fm_handle map, int count, int n, int keys, uint64_t seed) {
	client *cs = calloc((size_t)count, sizeof *cs);
	atomic_store(&go_flag, 0);
	for (int i = 0; i < count; i++) {
		cs[i].map = map;
		cs[i].seed = seed * 2654435761u + (uint64_t)i + 1;
		cs[i].n = n;
		cs[i].keys = keys;
		cs[i].recs = calloc((size_t)n, sizeof(rec));
		pthread_create(&cs[i].thread, NULL, run_client, &cs[i]);
	}
	return cs;
}

static void join_clients(client *cs, int count) {
	for (int i = 0; i < count; i++) pthread_join(cs[i].thread, NULL);
}

static rec *client_rec(client *cs, int c, int i) { return &cs[c].recs[i]; }

static void free_clients(client *cs, int count) {
	for (int i = 0; i < count; i++) free(cs[i].recs);
	free(cs);
}
*/
import "C"

import "unsafe"

// nowNs is the clock the C threads use (CLOCK_MONOTONIC), so that Go and C
// calls share one timeline.
func nowNs() int64 { return int64(C.now_ns()) }

// cThreads is a running group of C threads, each making n random
// operations on one map and recording them.
type cThreads struct {
	cs          *C.client
	count, n    int
	firstClient int
}

// startC starts count C threads of n operations each on map h.
func startC(h uint64, count, n, keys int, seed uint64, firstClient int) cThreads {
	cs := C.start_clients(C.fm_handle(h), C.int(count), C.int(n), C.int(keys), C.uint64_t(seed))
	return cThreads{cs, count, n, firstClient}
}

// release lets the threads (and, by convention, the goroutines) start.
func (t cThreads) release() { C.release_clients() }

// wait joins the threads and returns their records as calls.
func (t cThreads) wait() []call {
	count, n, firstClient, cs := t.count, t.n, t.firstClient, t.cs
	C.join_clients(cs, C.int(count))
	defer C.free_clients(cs, C.int(count))
	var out []call
	for c := 0; c < count; c++ {
		for i := 0; i < n; i++ {
			r := (*C.rec)(unsafe.Pointer(C.client_rec(cs, C.int(c), C.int(i))))
			in := input{op: int(r.op), key: int(r.key), a: int64(r.a), b: int64(r.b)}
			out = append(out, call{
				client: firstClient + c,
				in:     in,
				out:    normalizeC(in, int(r.st), r.flag != 0, int64(r.out)),
				start:  int64(r.call),
				end:    int64(r.ret),
			})
		}
	}
	return out
}

// normalizeC turns what a C call reported into the model's output.
func normalizeC(in input, st int, flag bool, value int64) output {
	switch {
	case st == int(C.FM_OK):
	case st == int(C.FM_NOT_FOUND) && (in.op == opGet || in.op == opTake):
		return output{ok: true}
	case st == int(C.FM_NOT_FOUND) && (in.op == opCAS || in.op == opCAD):
		return output{ok: true} // an absent key is neither swapped nor removed
	default:
		return output{ok: false, value: int64(st)}
	}
	switch in.op {
	case opGet, opTake:
		return output{ok: true, flag: true, value: value}
	case opGetOrInsert:
		if flag {
			value = in.a // the value inserted; the C call writes only an existing one
		}
	case opCAS, opCAD, opSet, opDel, opClear:
		value = 0
	}
	return output{ok: true, flag: flag, value: value}
}
