/* ferrymap against the floor (a plain HashMap behind a raw pointer,
 * exported by a library built with the `bench-floor` feature), timed in
 * alternating slices so that both sides of every ratio see the same state
 * of the host. Numbers are reported, never asserted.
 *
 *   floor_ratio get    N ROUNDS PER   get-hits on N-entry maps: ROUNDS pairs of
 *                                     PER ferrymap gets then PER floor gets
 *   floor_ratio insert N ROUNDS       N inserts into a fresh map of each kind,
 *                                     alternating, ROUNDS times
 *
 * Prints the median ns per operation of each side and the median, 10th and
 * 90th percentile of the per-pair ratio ferrymap / floor. On this VM the
 * host's speed changes from one second to the next; a ratio of two runs
 * made a minute apart can be off by a factor of two, a ratio of adjacent
 * slices much less. c-bench/floor_ratio.sh builds and runs it. */
#define _POSIX_C_SOURCE 199309L
#include "ferrymap.h"
#include "bench_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The floor, exported only by a library built with `--features bench-floor`. */
void *fmbench_floor_new(void);
void fmbench_floor_free(void *m);
void fmbench_floor_insert(void *m, int64_t key, int64_t value);
int fmbench_floor_get(const void *m, int64_t key, int64_t *out);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts the three series and prints their summary. */
static void report(const char *mode, size_t n, int rounds, double *fm, double *floor, double *ratio) {
    qsort(fm, (size_t)rounds, sizeof *fm, cmp_double);
    qsort(floor, (size_t)rounds, sizeof *floor, cmp_double);
    qsort(ratio, (size_t)rounds, sizeof *ratio, cmp_double);
    printf("%s n=%zu ferrymap %.2f ns/op, floor %.2f ns/op, ratio %.2f (p10 %.2f, p90 %.2f, %d pairs)\n", mode,
           n, fm[rounds / 2], floor[rounds / 2], ratio[rounds / 2], ratio[rounds / 10], ratio[rounds * 9 / 10],
           rounds);
}

/* Seconds for `per` ferrymap get-hits from keys[*pos], walking on. */
static double gets_ferrymap(fm_handle m, const int64_t *keys, size_t n, size_t *pos, long per, int64_t *acc) {
    double t0 = now();
    for (long i = 0; i < per; i++) {
        int64_t v = 0;
        fm_get_i64_i64(m, keys[*pos], &v);
        *acc += v;
        if (++*pos == n) *pos = 0;
    }
    return now() - t0;
}

/* The same through the floor. */
static double gets_floor(const void *f, const int64_t *keys, size_t n, size_t *pos, long per, int64_t *acc) {
    double t0 = now();
    for (long i = 0; i < per; i++) {
        int64_t v = 0;
        fmbench_floor_get(f, keys[*pos], &v);
        *acc += v;
        if (++*pos == n) *pos = 0;
    }
    return now() - t0;
}

/* Seconds for inserting every key into a fresh ferrymap map. */
static double fill_ferrymap(const int64_t *keys, size_t n, int64_t *acc) {
    fm_handle m;
    check(fm_map_new(FM_INT, FM_INT, 0, &m), "fm_map_new");
    double t0 = now();
    for (size_t i = 0; i < n; i++) check(fm_insert_i64_i64(m, keys[i], ~keys[i], NULL), "insert");
    double t = now() - t0;
    size_t len = 0;
    check(fm_map_len(m, &len), "fm_map_len");
    *acc += (int64_t)len;
    check(fm_map_free(m), "fm_map_free");
    return t;
}

/* The same into a fresh floor map. */
static double fill_floor(const int64_t *keys, size_t n) {
    void *f = fmbench_floor_new();
    double t0 = now();
    for (size_t i = 0; i < n; i++) fmbench_floor_insert(f, keys[i], ~keys[i]);
    double t = now() - t0;
    fmbench_floor_free(f);
    return t;
}

int main(int argc, char **argv) {
    int get = argc == 5 && !strcmp(argv[1], "get");
    if (!get && !(argc == 4 && !strcmp(argv[1], "insert"))) {
        fprintf(stderr, "usage: %s get N ROUNDS PER | insert N ROUNDS\n", argv[0]);
        return 2;
    }
    size_t n = strtoull(argv[2], NULL, 10);
    int rounds = atoi(argv[3]);
    long per = get ? atol(argv[4]) : (long)n;
    if (n < 1 || rounds < 1 || per < 1) {
        fprintf(stderr, "N, ROUNDS and PER must be positive\n");
        return 2;
    }
    int64_t *keys = malloc(n * sizeof *keys);
    double *fm = malloc((size_t)rounds * sizeof *fm), *floor = malloc((size_t)rounds * sizeof *floor);
    double *ratio = malloc((size_t)rounds * sizeof *ratio);
    if (!keys || !fm || !floor || !ratio) return 1;
    for (size_t i = 0; i < n; i++) keys[i] = (int64_t)mix(i + 1);
    int64_t acc = 0;
    fm_handle m = 0;
    void *f = NULL;
    size_t pos = 0;
    if (get) {
        check(fm_map_new(FM_INT, FM_INT, 0, &m), "fm_map_new");
        f = fmbench_floor_new();
        for (size_t i = 0; i < n; i++) {
            check(fm_insert_i64_i64(m, keys[i], ~keys[i], NULL), "insert");
            fmbench_floor_insert(f, keys[i], ~keys[i]);
        }
        for (size_t i = n - 1; i > 0; i--) { /* shuffle the lookup order */
            size_t j = mix(i + 77) % (i + 1);
            int64_t t = keys[i];
            keys[i] = keys[j];
            keys[j] = t;
        }
    }
    /* The sides take turns, so each slice follows one of the other side
     * (swapping the order every pair instead made each side sometimes
     * follow itself, with its table still in the cache, and split the
     * ratios into two groups). */
    for (int r = 0; r < rounds; r++) {
        double a = get ? gets_ferrymap(m, keys, n, &pos, per, &acc) : fill_ferrymap(keys, n, &acc);
        double b = get ? gets_floor(f, keys, n, &pos, per, &acc) : fill_floor(keys, n);
        fm[r] = a * 1e9 / (double)per;
        floor[r] = b * 1e9 / (double)per;
        ratio[r] = a / b;
    }
    if (get) {
        check(fm_map_free(m), "fm_map_free");
        fmbench_floor_free(f);
    }
    report(argv[1], n, rounds, fm, floor, ratio);
    if (acc == 42) puts(""); /* keeps the loops' results alive */
    free(keys);
    free(fm);
    free(floor);
    free(ratio);
    return fm_census_total() == 0 ? 0 : 1;
}
