/* test_snapshot.c — iterator snapshot semantics while other threads write.
 *
 * 1. Phases: a writer thread overwrites, removes, inserts, clears, refills
 *    and finally frees an INT->INT map; it stops after each phase until the
 *    main thread has made an iterator, so the state each iterator must see is
 *    known exactly. Iterators are read while the writer goes on (and after
 *    the map is freed); each yields exactly its instant's entries and values,
 *    each once, and fm_iter_len agrees.
 * 2. STR keys and BYTES values: every pointer an iterator hands out stays
 *    valid and unchanged until fm_iter_free, though the writer overwrites,
 *    removes, clears and frees the map meanwhile.
 * 3. One iterator shared by two threads: each entry is handed out once.
 * 4. A 1M-entry map: creating iterators works (timings printed, not asserted),
 *    and writes after the snapshot do not show in it.
 *
 * FM_TEST_SCALE scales the sizes (valgrind runs use a small one). */
#define _GNU_SOURCE
#include "check.h"

#include <pthread.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- a two-party handshake between the writer and the main thread ---------- */

typedef struct handshake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase_done; /* last phase the writer finished */
    int phase_ack;  /* last phase the main thread has taken its iterator for */
} handshake;

static void hs_finish(handshake *h, int phase) {
    pthread_mutex_lock(&h->mu);
    h->phase_done = phase;
    pthread_cond_broadcast(&h->cv);
    while (h->phase_ack < phase) pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void hs_wait(handshake *h, int phase) {
    pthread_mutex_lock(&h->mu);
    while (h->phase_done < phase) pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void hs_ack(handshake *h, int phase) {
    pthread_mutex_lock(&h->mu);
    h->phase_ack = phase;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* ---- part 1: exact states ----------------------------------------------------- */

enum { PHASES = 6 };
static int64_t N;          /* keys 0..N-1 at the start */
static fm_handle phase_map; /* freed by the writer in the last phase */
static handshake hs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, -1, -1};

/* The value key k must have in state `s` (after phase s), or false if absent. */
static bool expected(int s, int64_t k, int64_t *v) {
    switch (s) {
    case 0: *v = 3 * k; return k >= 0 && k < N;                            /* filled */
    case 1: *v = -k; return k >= 0 && k < N;                               /* overwritten */
    case 2: *v = -k; return k >= 0 && k < N && k % 2 == 0;                 /* odd removed */
    case 3:                                                                /* more inserted */
        if (k >= N && k < N + N / 2) return *v = 7 * k, true;
        *v = -k;
        return k >= 0 && k < N && k % 2 == 0;
    case 4: return false;                                                  /* cleared */
    case 5: *v = 1; return k >= 0 && k < 100;                              /* refilled */
    default: return false;
    }
}

static size_t expected_len(int s) {
    size_t n = 0;
    int64_t v;
    for (int64_t k = 0; k < N + N / 2; k++) n += expected(s, k, &v);
    return n;
}

static void insert_chunked(fm_handle m, int64_t from, int64_t to, int64_t mul) {
    enum { CHUNK = 1024 };
    int64_t keys[CHUNK], vals[CHUNK];
    for (int64_t k = from; k < to;) {
        size_t n = 0;
        for (; n < CHUNK && k < to; n++, k++) keys[n] = k, vals[n] = mul * k;
        OK(fm_insert_many_i64_i64(m, keys, vals, n, NULL));
    }
}

static void *phase_writer(void *arg) {
    (void)arg;
    fm_handle m = phase_map;
    insert_chunked(m, 0, N, -1); /* 1: overwrite every value */
    hs_finish(&hs, 1);
    enum { CHUNK = 512 };
    int64_t keys[CHUNK];
    for (int64_t k = 1; k < N;) { /* 2: remove the odd keys */
        size_t n = 0;
        for (; n < CHUNK && k < N; n++, k += 2) keys[n] = k;
        size_t removed = 0;
        OK(fm_remove_many_i64(m, keys, n, &removed));
        CHECK_U64(removed, n);
    }
    hs_finish(&hs, 2);
    insert_chunked(m, N, N + N / 2, 7); /* 3: new keys */
    hs_finish(&hs, 3);
    OK(fm_map_clear(m)); /* 4 */
    hs_finish(&hs, 4);
    insert_chunked(m, 0, 100, 0); /* 5: refill with value 0, then add 1 */
    for (int64_t k = 0; k < 100; k++) OK(fm_add_i64_i64(m, k, 1, NULL));
    hs_finish(&hs, 5);
    OK(fm_map_free(m)); /* 6 */
    return NULL;
}

/* Reads `it` (up to `limit` entries; SIZE_MAX for all) into `seen`, checking
 * each entry against state `s`. Returns the number read. */
static size_t read_state(fm_handle it, int s, uint8_t *seen, size_t limit) {
    int64_t keys[257], vals[257];
    size_t total = 0, n = 0;
    long before = atomic_load(&check_failures);
    while (total < limit) {
        size_t cap = limit - total < 257 ? limit - total : 257;
        fm_status st = fm_iter_next_i64(it, keys, vals, cap, &n);
        if (st == FM_END) break;
        if (!OK(st)) break;
        for (size_t i = 0; i < n; i++) {
            int64_t want = 0;
            bool present = expected(s, keys[i], &want);
            if (!CHECK_MSG(present, "state %d: key %" PRId64 " should not be in the snapshot", s, keys[i])) continue;
            CHECK_MSG(seen[keys[i]] == 0, "state %d: key %" PRId64 " handed out twice", s, keys[i]);
            seen[keys[i]] = 1;
            CHECK_MSG(vals[i] == want, "state %d: key %" PRId64 " has %" PRId64 ", expected %" PRId64, s, keys[i],
                      vals[i], want);
        }
        total += n;
        if (atomic_load(&check_failures) - before > 20) break; /* enough said */
    }
    return total;
}

typedef struct reader_arg {
    fm_handle it;
    int state;
    uint8_t *seen;
    size_t count;
} reader_arg;

static void *state_reader(void *arg) {
    reader_arg *r = arg;
    r->count += read_state(r->it, r->state, r->seen, SIZE_MAX);
    return NULL;
}

static void test_phases(void) {
    N = check_scaled(200000, 4000);
    size_t key_space = (size_t)(N + N / 2);
    OK(fm_map_new(FM_INT, FM_INT, 0, &phase_map));
    insert_chunked(phase_map, 0, N, 3);

    fm_handle its[PHASES];
    uint8_t *seen[PHASES];
    size_t counts[PHASES] = {0};
    for (int s = 0; s < PHASES; s++) {
        seen[s] = calloc(key_space, 1);
        if (!CHECK(seen[s] != NULL)) return;
    }
    OK(fm_iter_new(phase_map, &its[0]));
    pthread_t writer, reader;
    reader_arg r0 = {its[0], 0, seen[0], 0};
    CHECK(pthread_create(&writer, NULL, phase_writer, NULL) == 0);
    /* Iterator 0 is read by another thread all through the writer's phases. */
    CHECK(pthread_create(&reader, NULL, state_reader, &r0) == 0);
    for (int s = 1; s < PHASES; s++) {
        hs_wait(&hs, s);
        OK(fm_iter_new(phase_map, &its[s]));
        size_t len = 0;
        OK(fm_iter_len(its[s], &len));
        CHECK_U64(len, expected_len(s));
        hs_ack(&hs, s);
        /* Half of it now, while the writer runs the next phase. */
        counts[s] += read_state(its[s], s, seen[s], expected_len(s) / 2);
    }
    pthread_join(writer, NULL);
    pthread_join(reader, NULL);
    /* The map is gone; the iterators still work. */
    size_t len = 0;
    EXPECT(fm_map_len(phase_map, &len), FM_INVALID_HANDLE);
    counts[0] = r0.count;
    for (int s = 1; s < PHASES; s++) counts[s] += read_state(its[s], s, seen[s], SIZE_MAX);
    for (int s = 0; s < PHASES; s++) {
        CHECK_MSG(counts[s] == expected_len(s), "iterator of state %d yielded %zu entries, expected %zu", s, counts[s],
                  expected_len(s));
        OK(fm_iter_len(its[s], &len));
        CHECK_U64(len, expected_len(s));
        fm_entry e;
        EXPECT(fm_iter_next(its[s], &e), FM_END);
        OK(fm_iter_free(its[s]));
        free(seen[s]);
    }
}

/* ---- part 2: STR keys, BYTES values, pointers kept until fm_iter_free ----------- */

static size_t value_of(int k, uint8_t *out) {
    size_t n = (size_t)(k % 50); /* includes empty values */
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(k * 31 + i);
    return n;
}

static int key_of(char *out, int k) {
    return snprintf(out, 32, "key-%08d", k);
}

static int M;
static fm_handle blob_map;

static void *blob_writer(void *arg) {
    (void)arg;
    fm_handle m = blob_map;
    char key[32];
    uint8_t val[64];
    for (int k = 0; k < M; k++) { /* overwrite with other bytes */
        int kn = key_of(key, k);
        memset(val, 0xEE, sizeof val);
        OK(fm_insert_buf_buf(m, (const uint8_t *)key, (size_t)kn, val, (size_t)(k % 64), NULL));
    }
    for (int k = 0; k < M; k += 3) { /* remove a third */
        int kn = key_of(key, k);
        bool removed = false;
        OK(fm_remove_buf(m, (const uint8_t *)key, (size_t)kn, &removed));
        CHECK(removed);
    }
    for (int k = M; k < M + M / 4; k++) { /* new keys */
        int kn = key_of(key, k);
        OK(fm_insert_buf_buf(m, (const uint8_t *)key, (size_t)kn, val, 10, NULL));
    }
    OK(fm_map_clear(m));
    OK(fm_insert_buf_buf(m, (const uint8_t *)"late", 4, val, 3, NULL));
    OK(fm_map_free(m));
    return NULL;
}

static void test_blob_pointers(void) {
    M = (int)check_scaled(30000, 1000);
    OK(fm_map_new(FM_STR, FM_BYTES, 0, &blob_map));
    char key[32];
    uint8_t val[64];
    for (int k = 0; k < M; k++) {
        int kn = key_of(key, k);
        size_t vn = value_of(k, val);
        OK(fm_insert_buf_buf(blob_map, (const uint8_t *)key, (size_t)kn, val, vn, NULL));
    }
    fm_handle it = 0;
    OK(fm_iter_new(blob_map, &it));
    fm_entry *all = calloc((size_t)M + 1, sizeof *all);
    if (!CHECK(all != NULL)) return;
    pthread_t writer;
    CHECK(pthread_create(&writer, NULL, blob_writer, NULL) == 0);
    /* Collect every entry while the writer changes and frees the map. */
    size_t got = 0, n = 0;
    fm_status st;
    while (got < (size_t)M + 1 && (st = fm_iter_next_batch(it, all + got, 64 < M + 1 - got ? 64 : M + 1 - got, &n)) == FM_OK)
        got += n;
    pthread_join(writer, NULL);
    CHECK_U64(got, M);
    /* Only now look at the bytes: every pointer is still valid and unchanged. */
    uint8_t *seen = calloc((size_t)M, 1);
    if (!CHECK(seen != NULL)) return;
    long before = atomic_load(&check_failures);
    for (size_t i = 0; i < got && atomic_load(&check_failures) - before < 20; i++) {
        const fm_entry *e = &all[i];
        int k = -1;
        char text[32];
        if (!CHECK(e->key_len == 12)) continue;
        memcpy(text, e->key_ptr, 12);
        text[12] = 0;
        if (!CHECK(sscanf(text, "key-%08d", &k) == 1 && k >= 0 && k < M)) continue;
        CHECK_MSG(!seen[k], "key %d handed out twice", k);
        seen[k] = 1;
        size_t vn = value_of(k, val);
        CHECK_MSG(e->value_len == vn && (vn == 0 || memcmp(e->value_ptr, val, vn) == 0),
                  "value of key %d changed under the iterator", k);
    }
    size_t len = 0;
    OK(fm_iter_len(it, &len));
    CHECK_U64(len, M);
    OK(fm_iter_free(it));
    free(seen);
    free(all);
}

/* ---- part 3: one iterator, two threads --------------------------------------------- */

typedef struct shared_arg {
    fm_handle it;
    atomic_uchar *seen;
    int64_t n;
    size_t count;
} shared_arg;

static void *shared_reader(void *arg) {
    shared_arg *a = arg;
    fm_entry batch[37];
    size_t n = 0;
    fm_status st;
    while ((st = fm_iter_next_batch(a->it, batch, 37, &n)) == FM_OK) {
        for (size_t i = 0; i < n; i++) {
            int64_t k = batch[i].key_int;
            if (!CHECK(k >= 0 && k < a->n)) continue;
            CHECK_MSG(atomic_fetch_add(&a->seen[k], 1) == 0, "key %" PRId64 " handed out to both threads", k);
            CHECK_I64(batch[i].value_int, 3 * k);
        }
        a->count += n;
    }
    EXPECT(st, FM_END);
    return NULL;
}

static void test_shared_iterator(void) {
    int64_t n = check_scaled(100000, 2000);
    fm_handle m = 0, it = 0;
    OK(fm_map_new(FM_INT, FM_INT, (size_t)n, &m));
    insert_chunked(m, 0, n, 3);
    OK(fm_iter_new(m, &it));
    OK(fm_map_free(m)); /* the iterator outlives it */
    atomic_uchar *seen = calloc((size_t)n, sizeof *seen);
    if (!CHECK(seen != NULL)) return;
    shared_arg a = {it, seen, n, 0}, b = {it, seen, n, 0};
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, shared_reader, &a) == 0);
    CHECK(pthread_create(&tb, NULL, shared_reader, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_U64(a.count + b.count, n);
    printf("shared iterator: %zu + %zu entries\n", a.count, b.count);
    OK(fm_iter_free(it));
    free(seen);
}

/* ---- part 4: a big map ---------------------------------------------------------------- */

static void test_big_map(void) {
    int64_t n = check_scaled(1 << 20, 20000);
    fm_handle m = 0;
    double t0 = now();
    OK(fm_map_new(FM_INT, FM_INT, 0, &m));
    insert_chunked(m, 0, n, 3);
    double t1 = now();
    fm_handle it = 0;
    OK(fm_iter_new(m, &it));
    double t2 = now();
    enum { MANY = 50 };
    fm_handle more[MANY];
    for (int i = 0; i < MANY; i++) OK(fm_iter_new(m, &more[i]));
    double t3 = now();
    for (int i = 0; i < MANY; i++) OK(fm_iter_free(more[i]));
    size_t len = 0;
    OK(fm_iter_len(it, &len));
    CHECK_U64(len, n);
    /* Writes after the snapshot: the map changes, the snapshot does not. */
    for (int64_t k = 0; k < 2000; k++) OK(fm_insert_i64_i64(m, k, -1, NULL));
    for (int64_t k = n; k < n + 2000; k++) OK(fm_insert_i64_i64(m, k, -1, NULL));
    OK(fm_map_len(m, &len));
    CHECK_U64(len, n + 2000);
    double t4 = now();
    int64_t keys[512], vals[512];
    size_t got = 0, k = 0;
    bool values_ok = true;
    while (fm_iter_next_i64(it, keys, vals, 512, &k) == FM_OK) {
        for (size_t i = 0; i < k; i++) values_ok &= keys[i] >= 0 && keys[i] < n && vals[i] == 3 * keys[i];
        got += k;
    }
    double t5 = now();
    CHECK(values_ok);
    CHECK_U64(got, n);
    OK(fm_iter_free(it));
    OK(fm_map_free(m));
    printf("big map: %" PRId64 " entries filled in %.3fs; iterator created in %.1fus (%d more: %.1fus each); "
           "4000 writes after the snapshot in %.3fs; iterated in %.3fs\n",
           n, t1 - t0, (t2 - t1) * 1e6, MANY, (t3 - t2) * 1e6 / MANY, t4 - t3, t5 - t4);
}

int main(void) {
    test_phases();
    test_blob_pointers();
    test_shared_iterator();
    test_big_map();
    return check_finish("test_snapshot");
}
