/*
 * The C half of the Python demo: plain C code that gets nothing from
 * Python but 64-bit map handles. It is built as a shared library linked
 * with -lferrymap and loaded into the Python process, where the soname
 * makes it use the libferrymap.so that `import ferrymap` already loaded:
 * one registry, so Python's handles are valid here.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ferrymap.h"

/* Adds `delta` to the value of each of the `n` keys (absent keys start at 0). */
int demo_add_to_keys(fm_handle map, const int64_t *keys, size_t n, int64_t delta) {
    for (size_t i = 0; i < n; i++) {
        fm_status st = fm_add_i64_i64(map, keys[i], delta, NULL);
        if (st != FM_OK) {
            fprintf(stderr, "c: fm_add_i64_i64: %s\n", fm_last_error());
            return st;
        }
    }
    return FM_OK;
}

/* Writes a label for `key` into an INT -> STR map. */
int demo_label(fm_handle map, int64_t key, const char *text) {
    fm_status st = fm_insert_i64_buf(map, key, (const uint8_t *)text, strlen(text), NULL);
    if (st != FM_OK)
        fprintf(stderr, "c: fm_insert_i64_buf: %s\n", fm_last_error());
    return st;
}

/* Sums the values of a snapshot of the map, in batches. */
int demo_sum_values(fm_handle map, int64_t *sum_out, size_t *count_out) {
    fm_handle it;
    fm_status st = fm_iter_new(map, &it);
    if (st != FM_OK)
        return st;
    int64_t keys[512], values[512];
    size_t got, count = 0;
    int64_t sum = 0;
    while ((st = fm_iter_next_i64(it, keys, values, 512, &got)) == FM_OK) {
        for (size_t i = 0; i < got; i++)
            sum += values[i];
        count += got;
    }
    fm_iter_free(it);
    if (st != FM_END)
        return st;
    *sum_out = sum;
    *count_out = count;
    return FM_OK;
}

/* The length of a map: what "receiving" a map costs on the C side. */
int64_t demo_len(fm_handle map) {
    size_t n;
    return fm_map_len(map, &n) == FM_OK ? (int64_t)n : -1;
}

/* A map made in C, handed to Python (which takes ownership). */
fm_handle demo_make_squares(int64_t n) {
    fm_handle m;
    if (fm_map_new(FM_INT, FM_INT, (size_t)n, &m) != FM_OK)
        return 0;
    for (int64_t i = 0; i < n; i++)
        fm_insert_i64_i64(m, i, i * i, NULL);
    return m;
}

/* This C library's view of the registry: must equal Python's. */
uint64_t demo_registry_id(void) { return fm_registry_id(); }
