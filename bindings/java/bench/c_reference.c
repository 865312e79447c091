/* The same get-hit loops in C, straight on the C ABI, so the Java figures can be
 * read against the core's own cost on the same machine at the same time:
 * one fm_get_i64_i64 per key, and fm_get_many_i64_i64 over all keys at once.
 * Usage: c_reference N (keys); prints ns per get, median of 5 rounds. */
#define _POSIX_C_SOURCE 199309L
#include "ferrymap.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static uint64_t state = 88172645463325252ULL;
static int64_t rnd(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (int64_t)state;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    const int lookups = 4000000, rounds = 5;
    fm_handle m;
    if (fm_map_new(FM_INT, FM_INT, 0, &m) != FM_OK) return 1;
    int64_t *keys = malloc(sizeof *keys * n), *probe = malloc(sizeof *probe * lookups);
    int64_t *out = malloc(sizeof *out * lookups);
    for (int i = 0; i < n; i++) {
        keys[i] = rnd();
        fm_insert_i64_i64(m, keys[i], keys[i], NULL);
    }
    for (int i = 0; i < lookups; i++) probe[i] = keys[(uint64_t)rnd() % (uint64_t)n];
    double single[5], many[5];
    int64_t sum = 0;
    for (int r = 0; r < rounds + 2; r++) {
        double t0 = now();
        for (int i = 0; i < lookups; i++) {
            int64_t v;
            fm_get_i64_i64(m, probe[i], &v);
            sum += v;
        }
        double t1 = now();
        fm_get_many_i64_i64(m, probe, lookups, out, NULL, NULL);
        double t2 = now();
        sum += out[r];
        if (r >= 2) { /* two warm-up rounds */
            single[r - 2] = (t1 - t0) / lookups;
            many[r - 2] = (t2 - t1) / lookups;
        }
    }
    qsort(single, rounds, sizeof(double), cmp);
    qsort(many, rounds, sizeof(double), cmp);
    printf("C reference, %d keys: fm_get_i64_i64 %.1f ns | fm_get_many_i64_i64 %.1f ns/key  (%lld)\n",
           n, single[rounds / 2], many[rounds / 2], (long long)(sum & 1));
    fm_map_free(m);
    return 0;
}
