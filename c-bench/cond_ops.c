/* cond_ops.c — the conditional writes against a plain insert (issue 22:
 * each should cost no more than an insert plus 20%).
 *
 * One INT->INT map of N random keys. Each round times, in a shuffled order
 * of operations, one pass of every operation over the keys in a fresh
 * shuffled order: fm_insert_i64_i64 (overwrite), fm_swap_i64_i64,
 * fm_compare_and_swap_i64_i64 (matching, so it writes),
 * fm_get_or_insert_i64_i64 (present, so it reads) and
 * fm_remove_if_equal_i64_i64 (not matching, so it reads). Prints, per
 * operation, the median and p10-p90 over the rounds of its time divided
 * by the insert's time in the same round.
 *
 *   gcc -O2 -std=c11 -Ibindings/c c-bench/cond_ops.c -Ltarget/release -lferrymap \
 *       -o /tmp/cond_ops && /tmp/cond_ops [N] [ROUNDS]
 */
#define _POSIX_C_SOURCE 199309L
#include "ferrymap.h"
#include "bench_common.h"

#include <stdbool.h>
#include <string.h>

enum { OPS = 5 };
static const char *NAMES[OPS] = {"insert", "swap", "compare_and_swap", "get_or_insert", "remove_if_equal"};

static void shuffle(int64_t *a, size_t n, uint64_t *s) {
    for (size_t i = n - 1; i > 0; i--) {
        *s = mix(*s + i);
        size_t j = *s % (i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static double pass(fm_handle m, int op, const int64_t *keys, size_t n, int64_t round) {
    bool flag;
    int64_t v;
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        int64_t k = keys[i];
        switch (op) {
        case 0: check(fm_insert_i64_i64(m, k, k + round, NULL), "insert"); break;
        case 1: check(fm_swap_i64_i64(m, k, k + round, &v, NULL), "swap"); break;
        case 2: {
            /* The value is k + round (an insert or swap of this round set
             * it, or the previous compare-and-swap did): match it. */
            check(fm_compare_and_swap_i64_i64(m, k, k + round, k + round, &flag, &v), "cas");
            break;
        }
        case 3: check(fm_get_or_insert_i64_i64(m, k, 0, &v, &flag), "get_or_insert"); break;
        default: check(fm_remove_if_equal_i64_i64(m, k, -1, &flag), "remove_if_equal"); break;
        }
    }
    return now() - t0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 9;
    int64_t *keys = malloc(n * sizeof *keys);
    double *ratio = malloc((size_t)rounds * OPS * sizeof *ratio);
    if (!keys || !ratio) return 1;
    uint64_t seed = 12345;
    fm_handle m;
    check(fm_map_new(FM_INT, FM_INT, n, &m), "new");
    for (size_t i = 0; i < n; i++) {
        keys[i] = (int64_t)mix(i + 1);
        check(fm_insert_i64_i64(m, keys[i], keys[i], NULL), "fill");
    }
    int order[OPS] = {0, 1, 2, 3, 4};
    for (int r = 0; r < rounds; r++) {
        double t[OPS];
        /* insert first: it sets k + r, which compare_and_swap then matches. */
        for (int i = OPS - 1; i > 1; i--) {
            seed = mix(seed + (uint64_t)i);
            int j = 1 + (int)(seed % (uint64_t)i);
            int x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        for (int i = 0; i < OPS; i++) {
            shuffle(keys, n, &seed);
            t[order[i]] = pass(m, order[i], keys, n, r);
        }
        for (int op = 0; op < OPS; op++) ratio[op * rounds + r] = t[op] / t[0];
        printf("round %d: insert %.1f ns/op\n", r, t[0] * 1e9 / (double)n);
    }
    for (int op = 1; op < OPS; op++) {
        double *x = ratio + op * rounds;
        qsort(x, (size_t)rounds, sizeof *x, cmp);
        printf("%-17s / insert: median %.3f, p10 %.3f, p90 %.3f\n", NAMES[op], x[rounds / 2], x[rounds / 10],
               x[rounds - 1 - rounds / 10]);
    }
    fm_map_free(m);
    return 0;
}
