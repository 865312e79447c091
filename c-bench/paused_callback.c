/* paused_callback.c — memory and time of map churn while a callback is
 * paused (issue 20, defect 2).
 *
 * Slices of SLICE maps (100K random INT→INT entries each, made, filled by
 * fm_insert_many_i64_i64 and freed) alternate between two states: no
 * callback running, and one thread paused inside an fm_for_each callback
 * for the whole slice. Per state it prints the peak of the allocator's
 * memory in use above the slice's start, in maps' worth, and the median
 * and p10–p90 of the per-slice-pair time ratio paused ÷ idle.
 *
 *   gcc -O2 -std=c11 -pthread -Ibindings/c c-bench/paused_callback.c \
 *       -Ltarget/release -lferrymap -o /tmp/paused && /tmp/paused [PAIRS] [SLICE]
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ferrymap.h"

enum { ENTRIES = 100000 };

static sem_t paused, resume;
static int64_t *keys;
static uint64_t rng = 0x2545f4914f6cdd1dULL;

static size_t in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int32_t pause_here(void *ctx, const fm_entry *e) {
    (void)ctx;
    (void)e;
    sem_post(&paused);
    sem_wait(&resume);
    return 0;
}

static void *walk(void *map) {
    if (fm_for_each(*(fm_handle *)map, pause_here, NULL) != FM_OK) abort();
    return NULL;
}

/* Makes, fills and frees `n` maps; returns seconds, raises *peak. */
static double churn(long n, size_t start, size_t *peak) {
    double t0 = now();
    for (long i = 0; i < n; i++) {
        for (size_t j = 0; j < ENTRIES; j++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            keys[j] = (int64_t)rng;
        }
        fm_handle m;
        if (fm_map_new(FM_INT, FM_INT, 0, &m) != FM_OK) abort();
        if (fm_insert_many_i64_i64(m, keys, keys, ENTRIES, NULL) != FM_OK) abort();
        size_t u = in_use();
        if (u - start > *peak && u > start) *peak = u - start;
        fm_map_free(m);
    }
    return now() - t0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long pairs = argc > 1 ? atol(argv[1]) : 9, slice = argc > 2 ? atol(argv[2]) : 40;
    keys = malloc(ENTRIES * sizeof *keys);
    double *ratio = malloc(pairs * sizeof *ratio);
    if (!keys || !ratio) return 1;
    sem_init(&paused, 0, 0);
    sem_init(&resume, 0, 0);
    size_t one = 0, dummy = 0, idle_peak = 0, paused_peak = 0;
    size_t base = in_use();
    churn(1, base, &one);
    fm_handle small;
    fm_map_new(FM_INT, FM_INT, 0, &small);
    fm_insert_i64_i64(small, 1, 1, NULL);
    churn(slice / 4 + 1, in_use(), &dummy); /* warm-up */
    for (long p = 0; p < pairs; p++) {
        size_t idle = 0, held = 0;
        double t_idle = churn(slice, in_use(), &idle);
        pthread_t th;
        pthread_create(&th, NULL, walk, &small);
        sem_wait(&paused);
        double t_paused = churn(slice, in_use(), &held);
        sem_post(&resume);
        pthread_join(th, NULL);
        ratio[p] = t_paused / t_idle;
        if (idle > idle_peak) idle_peak = idle;
        if (held > paused_peak) paused_peak = held;
    }
    qsort(ratio, pairs, sizeof *ratio, cmp);
    printf("one map (%d entries): %.1f MiB; %ld slice pairs of %ld maps\n", ENTRIES,
           one / 1048576.0, pairs, slice);
    printf("peak memory in use above a slice's start: idle %.2f maps, one callback paused %.2f maps\n",
           (double)idle_peak / one, (double)paused_peak / one);
    printf("time paused / idle: median %.3f, p10 %.3f, p90 %.3f\n", ratio[pairs / 2],
           ratio[pairs / 10], ratio[pairs - 1 - pairs / 10]);
    fm_map_free(small);
    return 0;
}
