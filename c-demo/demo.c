/* ferrymap demo: a C program creates a map, fills it, and iterates over it
 * while another thread keeps writing, the case that kills a Go map
 * ("concurrent map iteration and map write"). The iterator sees exactly the
 * entries of the instant it was created. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "ferrymap.h"

#define CHECK(call)                                                             \
    do {                                                                        \
        fm_status st_ = (call);                                                 \
        if (st_ != FM_OK) {                                                     \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, fm_status_str(st_), \
                    fm_last_error());                                           \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

enum { FILL = 100000 };

static void *writer(void *arg) {
    fm_handle map = *(fm_handle *)arg;
    /* Overwrite every value, remove odd keys, insert new ones, clear at the end. */
    for (int64_t k = 0; k < FILL; k++) CHECK(fm_insert_i64_i64(map, k, -1, NULL));
    for (int64_t k = 1; k < FILL; k += 2) CHECK(fm_remove_i64(map, k, NULL));
    for (int64_t k = FILL; k < 2 * FILL; k++) CHECK(fm_insert_i64_i64(map, k, k, NULL));
    CHECK(fm_map_clear(map));
    return NULL;
}

int main(void) {
    printf("ferrymap %s (header %s), library %s\n", fm_version_string(), FM_VERSION_STRING,
           fm_library_path());
    fm_handle map;
    CHECK(fm_map_new(FM_INT, FM_INT, 0, &map));
    for (int64_t k = 0; k < FILL; k++) CHECK(fm_insert_i64_i64(map, k, k * k, NULL));
    printf("map %#" PRIx64 " filled with %d entries (key -> key*key)\n", map, FILL);

    fm_handle it;
    CHECK(fm_iter_new(map, &it));
    pthread_t t;
    pthread_create(&t, NULL, writer, &map);

    int64_t keys[512], vals[512];
    size_t n, seen = 0, right = 0;
    fm_status st;
    while ((st = fm_iter_next_i64(it, keys, vals, 512, &n)) == FM_OK) {
        for (size_t i = 0; i < n; i++) right += (vals[i] == keys[i] * keys[i]);
        seen += n;
    }
    if (st != FM_END) CHECK(st);
    pthread_join(t, NULL);

    size_t len;
    CHECK(fm_map_len(map, &len));
    printf("iterated while another thread overwrote, removed, inserted and cleared:\n");
    printf("  entries seen: %zu, with the value they had at the snapshot: %zu\n", seen, right);
    printf("  the map itself now holds %zu entries\n", len);
    CHECK(fm_iter_free(it));
    CHECK(fm_map_free(map));
    int ok = seen == FILL && right == FILL && len == 0 && fm_census_total() == 0;
    printf("%s\n", ok ? "snapshot intact, no handles leaked" : "UNEXPECTED RESULT");
    return ok ? 0 : 1;
}
