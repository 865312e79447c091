/* test_stress.c — many threads on the same handles at once.
 *
 * - Writers each own a disjoint key range of an INT->INT map and insert,
 *   overwrite, remove, add, update and batch-insert there, keeping a model of
 *   their keys. Since nobody else writes those keys, every answer they get
 *   (replaced, removed, new value, get) must match the model exactly.
 * - Readers get keys of all ranges: a value found always belongs to its key
 *   (values are key << 24 | sequence).
 * - An iterator thread takes snapshots: no key twice, every value belongs to
 *   its key, the count matches fm_iter_len.
 * - On an INT->BYTES map, a writer stores self-checking values (seed,
 *   pseudo-random bytes, checksum) by insert and by update; view threads open
 *   views and check the bytes are never torn and never change while held.
 * - A churn thread frees and recreates a second map (every other one a
 *   bridge map), published through an atomic handle, while other threads use
 *   it: each call succeeds or returns FM_INVALID_HANDLE (or FM_CLOSED while a
 *   bridge closes), never anything else, never a crash.
 * - At the end the INT map holds exactly what the writers' models say.
 *
 * Scale: argv[1] or FM_TEST_SCALE (valgrind runs use a small one). */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

enum { WRITERS = 3, RANGE = 1024, READERS = 2, BLOB_KEYS = 64, CHURN_USERS = 2 };

static long OPS;                  /* per writer */
static fm_handle map;             /* INT->INT, shared by everyone */
static fm_handle blobs;           /* INT->BYTES, self-checking values */
static _Atomic fm_handle churned; /* the map the churn thread keeps replacing */
static atomic_int writers_left = WRITERS;
static atomic_bool blob_writer_done;

static bool writing(void) {
    return atomic_load(&writers_left) > 0;
}

/* ---- the INT map ------------------------------------------------------------------- */

#define SEQ_BITS 24
static int64_t key_of_value(int64_t v) {
    return v >> SEQ_BITS;
}

typedef struct writer {
    int id;
    bool present[RANGE];
    int64_t value[RANGE];
    long ops, replaced_checks;
} writer;

static writer writers[WRITERS];

static int64_t first_key(int w) {
    return (int64_t)w * RANGE + 1; /* key 0 stays unused: absent-key checks */
}

typedef struct upd_ctx {
    int64_t key;
    int64_t before;
} upd_ctx;

/* Adds 2 to the sequence, checking the value is its key's. */
static int32_t bump(void *ctx, uint8_t *value, size_t len) {
    upd_ctx *u = ctx;
    int64_t v;
    if (!CHECK_U64(len, 8)) return 1;
    memcpy(&v, value, 8);
    CHECK_I64(v, u->before);
    v += 2;
    memcpy(value, &v, 8);
    return 0;
}

static void *writer_thread(void *arg) {
    writer *w = arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(w->id + 1);
    int64_t base = first_key(w->id);
    for (long op = 0; op < OPS; op++) {
        int i = (int)(check_rand(&rng) % RANGE);
        int64_t k = base + i;
        unsigned dice = (unsigned)(check_rand(&rng) % 100);
        if (dice < 35) { /* insert or overwrite with a fresh sequence */
            int64_t v = (k << SEQ_BITS) | (int64_t)(check_rand(&rng) % 1000000);
            bool replaced = !w->present[i];
            OK(fm_insert_i64_i64(map, k, v, &replaced));
            CHECK(replaced == w->present[i]);
            w->present[i] = true;
            w->value[i] = v;
        } else if (dice < 55) { /* remove */
            bool removed = !w->present[i];
            OK(fm_remove_i64(map, k, &removed));
            CHECK(removed == w->present[i]);
            w->present[i] = false;
        } else if (dice < 80) { /* add: an absent key starts at 0 */
            int64_t delta = w->present[i] ? 1 : (k << SEQ_BITS) | 1, got = 0;
            OK(fm_add_i64_i64(map, k, delta, &got));
            int64_t want = (w->present[i] ? w->value[i] : 0) + delta;
            CHECK_I64(got, want);
            w->present[i] = true;
            w->value[i] = want;
        } else if (dice < 90) { /* update in place */
            upd_ctx u = {k, w->value[i]};
            fm_status st = fm_update_i64(map, k, bump, &u);
            if (w->present[i]) {
                OK(st);
                w->value[i] += 2;
            } else {
                EXPECT(st, FM_NOT_FOUND);
            }
        } else if (dice < 95) { /* batch of 8 of its own keys */
            int64_t ks[8], vs[8];
            size_t expect_replaced = 0, replaced = 0;
            bool picked[RANGE] = {false};
            size_t n = 0;
            while (n < 8) {
                int j = (int)(check_rand(&rng) % RANGE);
                if (picked[j]) continue;
                picked[j] = true;
                ks[n] = base + j;
                vs[n] = (ks[n] << SEQ_BITS) | (int64_t)op % 1000;
                expect_replaced += w->present[j];
                w->present[j] = true;
                w->value[j] = vs[n];
                n++;
            }
            OK(fm_insert_many_i64_i64(map, ks, vs, n, &replaced));
            CHECK_U64(replaced, expect_replaced);
        } else { /* read back: linearizable, and nobody else writes this key */
            int64_t v = -1;
            fm_status st = fm_get_i64_i64(map, k, &v);
            if (w->present[i]) {
                OK(st);
                CHECK_I64(v, w->value[i]);
            } else {
                EXPECT(st, FM_NOT_FOUND);
            }
        }
        w->ops++;
    }
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

static void *reader_thread(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + 1;
    long reads = 0, found = 0;
    int64_t max_key = first_key(WRITERS - 1) + RANGE;
    while (writing()) {
        int64_t k = (int64_t)(check_rand(&rng) % (uint64_t)max_key);
        int64_t v = 0;
        fm_status st = fm_get_i64_i64(map, k, &v);
        if (st == FM_OK) {
            found++;
            CHECK_MSG(key_of_value(v) == k, "key %" PRId64 " holds %" PRId64 ", a value of key %" PRId64, k, v,
                      key_of_value(v));
        } else {
            EXPECT(st, FM_NOT_FOUND);
        }
        if (reads % 64 == 0) { /* a batch lookup */
            int64_t ks[16], vs[16];
            uint8_t fl[16];
            size_t hits = 0, count = 0;
            for (int i = 0; i < 16; i++) ks[i] = (int64_t)(check_rand(&rng) % (uint64_t)max_key);
            OK(fm_get_many_i64_i64(map, ks, 16, vs, fl, &hits));
            for (int i = 0; i < 16; i++) {
                if (fl[i]) {
                    count++;
                    CHECK(key_of_value(vs[i]) == ks[i]);
                }
            }
            CHECK_U64(hits, count);
            bool there = false;
            OK(fm_contains_i64(map, 0, &there));
            CHECK(!there);
        }
        reads++;
    }
    printf("reader: %ld reads, %ld found\n", reads, found);
    return NULL;
}

struct walk {
    int64_t max_key;
    size_t count, bad;
};

static int32_t walk_clone(void *ctx, const fm_entry *e) {
    struct walk *w = ctx;
    w->count++;
    w->bad += !(e->key_int > 0 && e->key_int < w->max_key && key_of_value(e->value_int) == e->key_int);
    return 0;
}

/* A snapshot never repeats a key and every value belongs to its key. */
static void *iterator_thread(void *arg) {
    (void)arg;
    int64_t max_key = first_key(WRITERS - 1) + RANGE;
    uint8_t *seen = malloc((size_t)max_key);
    long snapshots = 0;
    while (seen && writing()) {
        memset(seen, 0, (size_t)max_key);
        fm_handle it = 0;
        if (!OK(fm_iter_new(map, &it))) break;
        size_t len = 0, count = 0, n = 0;
        OK(fm_iter_len(it, &len));
        int64_t ks[128], vs[128];
        while (fm_iter_next_i64(it, ks, vs, 128, &n) == FM_OK) {
            for (size_t i = 0; i < n; i++) {
                if (!CHECK(ks[i] > 0 && ks[i] < max_key)) continue;
                CHECK_MSG(!seen[ks[i]], "key %" PRId64 " twice in one snapshot", ks[i]);
                seen[ks[i]] = 1;
                CHECK(key_of_value(vs[i]) == ks[i]);
            }
            count += n;
        }
        CHECK_U64(count, len);
        OK(fm_iter_free(it));
        snapshots++;
        if (snapshots % 8 == 0) { /* a clone is a snapshot too; walk it with for_each */
            OK(fm_map_stats(map, &(fm_stats){0}));
            fm_handle c = 0;
            OK(fm_map_clone(map, &c));
            OK(fm_map_len(c, &len));
            struct walk w = {max_key, 0, 0};
            OK(fm_for_each(c, walk_clone, &w));
            CHECK_U64(w.count, len);
            CHECK_U64(w.bad, 0);
            OK(fm_map_free(c));
        }
    }
    free(seen);
    printf("iterator: %ld snapshots\n", snapshots);
    return NULL;
}

/* ---- self-checking BYTES values ------------------------------------------------------ */

static uint32_t fnv32(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Layout: 8-byte seed, bytes derived from it, 4-byte checksum of all before. */
static size_t make_blob(uint8_t *out, size_t len, uint64_t seed) {
    memcpy(out, &seed, 8);
    uint64_t s = seed | 1;
    for (size_t i = 8; i < len - 4; i++) out[i] = (uint8_t)(check_rand(&s) >> 56);
    uint32_t h = fnv32(out, len - 4);
    memcpy(out + len - 4, &h, 4);
    return len;
}

static bool blob_ok(const uint8_t *p, size_t len) {
    if (len < 12) return false;
    uint64_t seed;
    memcpy(&seed, p, 8);
    uint64_t s = seed | 1;
    for (size_t i = 8; i < len - 4; i++)
        if (p[i] != (uint8_t)(check_rand(&s) >> 56)) return false;
    uint32_t h;
    memcpy(&h, p + len - 4, 4);
    return h == fnv32(p, len - 4);
}

static int32_t rewrite_blob(void *ctx, uint8_t *value, size_t len) {
    uint64_t *seed = ctx;
    if (!CHECK(blob_ok(value, len))) return 1;
    make_blob(value, len, *seed);
    return 0;
}

static void *blob_writer(void *arg) {
    (void)arg;
    uint64_t rng = 77;
    uint8_t buf[300];
    while (writing()) {
        int64_t k = (int64_t)(check_rand(&rng) % BLOB_KEYS);
        unsigned dice = (unsigned)(check_rand(&rng) % 10);
        uint64_t seed = check_rand(&rng);
        if (dice < 6) {
            size_t len = make_blob(buf, 12 + check_rand(&rng) % 280, seed);
            OK(fm_insert_i64_buf(blobs, k, buf, len, NULL));
        } else if (dice < 9) {
            EXPECT_ANY(fm_update_i64(blobs, k, rewrite_blob, &seed), FM_OK, FM_NOT_FOUND);
        } else {
            OK(fm_remove_i64(blobs, k, NULL));
        }
    }
    atomic_store(&blob_writer_done, true);
    return NULL;
}

static void *view_thread(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg + 1000;
    long views = 0;
    uint8_t copy[300], buf[300];
    while (!atomic_load(&blob_writer_done)) {
        int64_t k = (int64_t)(check_rand(&rng) % BLOB_KEYS);
        fm_handle v = 0;
        const uint8_t *p = NULL;
        size_t n = 0;
        fm_status st = fm_view_i64(blobs, k, &v, &p, &n);
        if (st == FM_OK) {
            views++;
            CHECK_MSG(blob_ok(p, n), "view of key %" PRId64 " holds torn bytes (%zu)", k, n);
            memcpy(copy, p, n < sizeof copy ? n : sizeof copy);
            for (int again = 0; again < 4; again++) /* re-read while the writer goes on */
                CHECK_MSG(blob_ok(p, n), "bytes under a view of key %" PRId64 " changed", k);
            const uint8_t *q = NULL;
            size_t qn = 0;
            OK(fm_view_bytes(v, &q, &qn));
            CHECK(q == p && qn == n);
            CHECK_MSG(n <= sizeof copy && memcmp(copy, p, n) == 0, "bytes under a view changed");
            OK(fm_view_release(v));
        } else {
            EXPECT(st, FM_NOT_FOUND);
        }
        /* A copy out is never torn either. */
        st = fm_get_i64_buf(blobs, k, buf, sizeof buf, &n);
        if (st == FM_OK)
            CHECK(blob_ok(buf, n));
        else
            EXPECT(st, FM_NOT_FOUND);
    }
    printf("views: %ld\n", views);
    return NULL;
}

/* ---- a map freed and recreated under the other threads --------------------------------- */

static long churn_rounds;

static void *churn_thread(void *arg) {
    (void)arg;
    long rounds = 0;
    while (writing() || rounds < churn_rounds) {
        fm_handle fresh = 0;
        /* Every other one is a bridge map: freeing it closes it under its users. */
        if (!OK(rounds % 2 ? fm_bridge_new(FM_INT, FM_INT, 0, 64, &fresh) : fm_map_new(FM_INT, FM_INT, 0, &fresh)))
            break;
        for (int64_t k = 0; k < 16; k++) OK(fm_insert_i64_i64(fresh, k, k, NULL));
        fm_handle old = atomic_exchange(&churned, fresh);
        OK(fm_map_free(old));
        EXPECT(fm_map_free(old), FM_INVALID_HANDLE);
        rounds++;
        if (rounds % 16 == 0) sched_yield();
    }
    printf("churn: %ld maps freed and recreated\n", rounds);
    return NULL;
}

#define LIVE_OR_GONE(call)                                                                   \
    do {                                                                                     \
        fm_status st_ = (call);                                                              \
        if (st_ == FM_INVALID_HANDLE || st_ == FM_CLOSED) /* freed, or a bridge closing */   \
            gone++;                                                                          \
        else if (CHECK_MSG(st_ == FM_OK || st_ == FM_NOT_FOUND, "%s on a churned map returned %d (%s)", #call, st_, \
                           fm_status_str(st_)))                                              \
            live++;                                                                          \
    } while (0)

/* Works on the current map or one of the last few it saw (most of those
 * already freed), so both outcomes happen. Values stay k or 0. */
static void *churn_user(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg + 99;
    long live = 0, gone = 0;
    fm_handle recent[4] = {0, 0, 0, 0};
    while (writing()) {
        fm_handle h = atomic_load(&churned);
        if (recent[0] != h) {
            memmove(recent + 1, recent, 3 * sizeof *recent);
            recent[0] = h;
        }
        unsigned pick = (unsigned)(check_rand(&rng) % 8);
        if (pick < 4 && recent[pick]) h = recent[pick];
        int64_t k = (int64_t)(check_rand(&rng) % 32), v = 0;
        size_t len = 0;
        fm_handle it = 0, c = 0, ex = 0;
        switch (check_rand(&rng) % 8) {
        case 0: LIVE_OR_GONE(fm_insert_i64_i64(h, k, k, NULL)); break;
        case 1:
            LIVE_OR_GONE(fm_get_i64_i64(h, k, &v));
            break;
        case 2: LIVE_OR_GONE(fm_map_len(h, &len)); break;
        case 3: LIVE_OR_GONE(fm_remove_i64(h, k, NULL)); break;
        case 4:
            LIVE_OR_GONE(fm_iter_new(h, &it));
            if (it) { /* an iterator outlives the map it came from */
                fm_entry e;
                size_t n = 0;
                while (fm_iter_next(it, &e) == FM_OK) {
                    CHECK(e.value_int == e.key_int || e.value_int == 0);
                    n++;
                }
                OK(fm_iter_len(it, &len));
                CHECK_U64(n, len);
                OK(fm_iter_free(it));
            }
            break;
        case 5:
            LIVE_OR_GONE(fm_map_clone(h, &c));
            if (c) OK(fm_map_free(c));
            break;
        case 6:
            LIVE_OR_GONE(fm_export(h, &ex, NULL, NULL));
            if (ex) OK(fm_view_release(ex));
            break;
        default: LIVE_OR_GONE(fm_add_i64_i64(h, k, 0, NULL)); break;
        }
    }
    printf("churn user: %ld calls on a live map, %ld on a freed one\n", live, gone);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) setenv("FM_TEST_SCALE", argv[1], 1);
    OPS = check_scaled(1000000, 3000);
    churn_rounds = check_scaled(2000, 50);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OK(fm_map_new(FM_INT, FM_INT, 0, &map));
    OK(fm_map_new(FM_INT, FM_BYTES, 0, &blobs));
    fm_handle first = 0;
    OK(fm_map_new(FM_INT, FM_INT, 0, &first));
    atomic_store(&churned, first);

    pthread_t tw[WRITERS], tr[READERS], ti, tbw, tv[2], tc, tu[CHURN_USERS];
    for (int i = 0; i < WRITERS; i++) {
        writers[i].id = i;
        CHECK(pthread_create(&tw[i], NULL, writer_thread, &writers[i]) == 0);
    }
    for (int i = 0; i < READERS; i++) CHECK(pthread_create(&tr[i], NULL, reader_thread, (void *)(uintptr_t)i) == 0);
    CHECK(pthread_create(&ti, NULL, iterator_thread, NULL) == 0);
    CHECK(pthread_create(&tbw, NULL, blob_writer, NULL) == 0);
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&tv[i], NULL, view_thread, (void *)(uintptr_t)i) == 0);
    CHECK(pthread_create(&tc, NULL, churn_thread, NULL) == 0);
    for (int i = 0; i < CHURN_USERS; i++) CHECK(pthread_create(&tu[i], NULL, churn_user, (void *)(uintptr_t)i) == 0);

    for (int i = 0; i < WRITERS; i++) pthread_join(tw[i], NULL);
    for (int i = 0; i < READERS; i++) pthread_join(tr[i], NULL);
    pthread_join(ti, NULL);
    pthread_join(tbw, NULL);
    for (int i = 0; i < 2; i++) pthread_join(tv[i], NULL);
    pthread_join(tc, NULL);
    for (int i = 0; i < CHURN_USERS; i++) pthread_join(tu[i], NULL);

    /* Nothing lost: the map holds exactly what the writers' models say. */
    size_t expect_len = 0;
    for (int w = 0; w < WRITERS; w++) {
        for (int i = 0; i < RANGE; i++) {
            int64_t k = first_key(w) + i, v = 0;
            fm_status st = fm_get_i64_i64(map, k, &v);
            if (writers[w].present[i]) {
                expect_len++;
                if (OK(st)) CHECK_I64(v, writers[w].value[i]);
            } else {
                EXPECT(st, FM_NOT_FOUND);
            }
        }
    }
    size_t len = 0;
    OK(fm_map_len(map, &len));
    CHECK_U64(len, expect_len);
    fm_handle it = 0;
    OK(fm_iter_new(map, &it));
    fm_entry e;
    size_t n = 0;
    while (fm_iter_next(it, &e) == FM_OK) {
        int64_t k = e.key_int;
        int w = (int)((k - 1) / RANGE), i = (int)((k - 1) % RANGE);
        if (CHECK(k >= 1 && w < WRITERS)) CHECK(writers[w].present[i] && writers[w].value[i] == e.value_int);
        n++;
    }
    CHECK_U64(n, expect_len);
    OK(fm_iter_free(it));
    /* Every stored blob is whole. */
    OK(fm_iter_new(blobs, &it));
    while (fm_iter_next(it, &e) == FM_OK) CHECK(blob_ok(e.value_ptr, e.value_len));
    OK(fm_iter_free(it));

    OK(fm_map_free(map));
    OK(fm_map_free(blobs));
    OK(fm_map_free(atomic_load(&churned)));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long total = 0;
    for (int w = 0; w < WRITERS; w++) total += writers[w].ops;
    printf("writers: %ld operations; final map %zu entries; %.2fs\n", total, expect_len,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return check_finish("test_stress");
}
