/* Times ferrymap's integer paths from C: single gets, batched gets and
 * inserts on an INT->INT map. Numbers are reported, never asserted.
 *
 *   int_paths get      N ITERS   random get-hits on an N-entry map
 *   int_paths get_many N ITERS   the same keys, 1000 per fm_get_many_i64_i64
 *   int_paths insert   N REPS    N inserts into a fresh map, REPS times
 *   int_paths reserved N REPS    the same into a map created with room for N
 *
 * Prints one line: "<mode> n=N <ns> ns/op". c-bench/ab.sh runs it against
 * two builds of the library, interleaved, and keeps the best of each. */
#define _POSIX_C_SOURCE 199309L
#include "ferrymap.h"
#include "bench_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s get|get_many|insert|reserved N COUNT\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    size_t n = strtoull(argv[2], NULL, 10);
    long count = atol(argv[3]);
    if (n < 1 || count < 1) {
        fprintf(stderr, "N and COUNT must be positive\n");
        return 2;
    }
    int64_t *keys = malloc(n * sizeof *keys);
    if (!keys) return 1;
    for (size_t i = 0; i < n; i++) keys[i] = (int64_t)mix(i + 1);
    double ns;
    int64_t acc = 0;
    if (!strcmp(mode, "insert") || !strcmp(mode, "reserved")) {
        double total = 0;
        for (long r = 0; r < count; r++) {
            fm_handle m;
            check(fm_map_new(FM_INT, FM_INT, strcmp(mode, "reserved") ? 0 : n, &m), "fm_map_new");
            double t0 = now();
            for (size_t i = 0; i < n; i++) check(fm_insert_i64_i64(m, keys[i], ~keys[i], NULL), "insert");
            total += now() - t0;
            check(fm_map_free(m), "fm_map_free");
        }
        ns = total * 1e9 / ((double)n * (double)count);
    } else {
        fm_handle m;
        check(fm_map_new(FM_INT, FM_INT, 0, &m), "fm_map_new");
        for (size_t i = 0; i < n; i++) check(fm_insert_i64_i64(m, keys[i], ~keys[i], NULL), "insert");
        for (size_t i = n - 1; i > 0; i--) { /* shuffle the lookup order */
            size_t j = mix(i + 77) % (i + 1);
            int64_t t = keys[i];
            keys[i] = keys[j];
            keys[j] = t;
        }
        double t0 = now();
        if (!strcmp(mode, "get")) {
            for (long it = 0; it < count; it++) {
                int64_t v = 0;
                fm_get_i64_i64(m, keys[(size_t)it % n], &v);
                acc += v;
            }
        } else if (!strcmp(mode, "get_many")) {
            enum { BATCH = 1000 };
            int64_t vals[BATCH];
            size_t batch = n < BATCH ? n : BATCH, found;
            for (long it = 0; it < count; it += (long)batch) {
                size_t off = (size_t)it % (n - batch + 1);
                check(fm_get_many_i64_i64(m, keys + off, batch, vals, NULL, &found), "get_many");
                acc += vals[batch / 2] + (int64_t)found;
            }
        } else {
            fprintf(stderr, "unknown mode %s\n", mode);
            return 2;
        }
        ns = (now() - t0) * 1e9 / (double)count;
        check(fm_map_free(m), "fm_map_free");
    }
    printf("%s n=%zu %.2f ns/op (checksum %lld)\n", mode, n, ns, (long long)acc);
    free(keys);
    return 0;
}
