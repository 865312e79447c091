/* test_clear.c — fm_map_clear removes every entry at one instant, as seen
 * by lock-free readers and by fm_map_len (issue 22: a clear used to go
 * shard by shard, and a reader could see some keys gone and others not).
 *
 * A writer repeats, for round r = 1, 2, ...: insert A[0..K) = r, insert
 * B = r, clear. B is inserted last, so while B holds r every A[i] holds r.
 * Readers check two consequences:
 *
 * - keys: get B = r, then get some A[i], then get B = r again. Both reads
 *   of B saw the round's entries present, so a clear cannot have happened
 *   between them: A[i] must be r. (Keys spread over shards, so a clear
 *   that went shard by shard would show A[i] gone with B still there.)
 * - len: get B = r, fm_map_len, get B = r again: the length must be K + 1.
 *
 * The writer also checks that a snapshot taken right after a clear is
 * empty. Duration: about 2 seconds (FM_TEST_SCALE scales it, to no less
 * than 1.5 s: under valgrind the threads take turns). */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "check.h"

enum { K = 48, READERS = 2 };

static fm_handle map;
static atomic_bool stop;
static atomic_long rounds, key_checks, len_checks;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *writer(void *arg) {
    (void)arg;
    for (int64_t r = 1; !atomic_load(&stop); r++) {
        for (int64_t i = 0; i < K; i++) OK(fm_insert_i64_i64(map, 1000 + i, r, NULL));
        OK(fm_insert_i64_i64(map, 1, r, NULL));
        OK(fm_map_clear(map));
        if (r % 64 == 0) {
            /* Nothing runs between the clear and this snapshot but readers. */
            fm_handle it = 0;
            size_t n = 99;
            OK(fm_iter_new(map, &it));
            OK(fm_iter_len(it, &n));
            CHECK_U64(n, 0);
            OK(fm_iter_free(it));
        }
        atomic_fetch_add(&rounds, 1);
    }
    return NULL;
}

static void *reader(void *arg) {
    uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
    while (!atomic_load(&stop)) {
        int64_t b1 = 0, b2 = 0, a = 0;
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t key = 1000 + (int64_t)((rng >> 33) % K);
        if (fm_get_i64_i64(map, 1, &b1) != FM_OK) continue;
        if (rng & 1) {
            fm_status st = fm_get_i64_i64(map, key, &a);
            if (fm_get_i64_i64(map, 1, &b2) == FM_OK && b2 == b1) {
                CHECK_MSG(st == FM_OK && a == b1,
                          "B = %" PRId64 " before and after, but key %" PRId64 " gave %s (%" PRId64 ")", b1,
                          key, fm_status_str(st), a);
                atomic_fetch_add(&key_checks, 1);
            }
        } else {
            size_t len = 0;
            OK(fm_map_len(map, &len));
            if (fm_get_i64_i64(map, 1, &b2) == FM_OK && b2 == b1) {
                CHECK_MSG(len == K + 1, "B = %" PRId64 " before and after, but len %zu, not %d", b1, len,
                          K + 1);
                atomic_fetch_add(&len_checks, 1);
            }
        }
    }
    return NULL;
}

int main(void) {
    double seconds = check_scaled(2000, 1500) / 1000.0;
    OK(fm_map_new(FM_INT, FM_INT, 0, &map));
    pthread_t w, r[READERS];
    pthread_create(&w, NULL, writer, NULL);
    for (intptr_t i = 0; i < READERS; i++) pthread_create(&r[i], NULL, reader, (void *)(i + 1));
    double end = now() + seconds;
    while (now() < end) {
        struct timespec t = {0, 10 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    atomic_store(&stop, true);
    pthread_join(w, NULL);
    for (int i = 0; i < READERS; i++) pthread_join(r[i], NULL);
    printf("%ld rounds, %ld key checks, %ld len checks\n", atomic_load(&rounds), atomic_load(&key_checks),
           atomic_load(&len_checks));
    CHECK(atomic_load(&key_checks) > 0 && atomic_load(&len_checks) > 0);
    OK(fm_map_free(map));
    return check_finish("test_clear");
}
