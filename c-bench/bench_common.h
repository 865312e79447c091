/* Helpers the integer-path benchmarks share (int_paths.c, floor_ratio.c).
 * Each is a standalone program; this header only spares them writing the
 * same key mixer, clock and status check twice. Include after ferrymap.h,
 * with _POSIX_C_SOURCE set for clock_gettime. */
#ifndef FERRYMAP_BENCH_COMMON_H
#define FERRYMAP_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A bijective mixer: distinct, uniformly spread keys from a counter. */
static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Monotonic time in seconds. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Exits with the library's message when a call fails. */
static void check(fm_status st, const char *what) {
    if (st != FM_OK) {
        fprintf(stderr, "%s: %s\n", what, fm_last_error());
        exit(1);
    }
}

#endif
