/* header_test.c — bindings/c/ferrymap.h compiles cleanly when included twice,
 * as C99 (-pedantic), C11 and C++11 (the Makefile builds this one file three
 * ways, all with -Wall -Wextra -Werror), and what it declares matches the
 * library: version macros, enum values and struct layouts. */
#include "ferrymap.h"
#include "ferrymap.h" /* the include guards must make this a no-op */

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef FERRYMAP_H
#error "FERRYMAP_H include guard is not defined"
#endif
#if FM_VERSION != ((FM_VERSION_MAJOR << 16) | (FM_VERSION_MINOR << 8) | FM_VERSION_PATCH)
#error "FM_VERSION does not match its parts"
#endif

static int failures = 0;

#define HCHECK(cond)                                                      \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: FAILED %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                   \
        }                                                                 \
    } while (0)

int main(void) {
    /* The library the program runs with is the one the header describes. */
    HCHECK(fm_version() == (unsigned)FM_VERSION);
    HCHECK(strcmp(fm_version_string(), FM_VERSION_STRING) == 0);

    /* Status codes and kinds have fixed numbers forever. */
    HCHECK(FM_OK == 0 && FM_NOT_FOUND == 1 && FM_NULL_ARGUMENT == 2 && FM_INVALID_HANDLE == 3);
    HCHECK(FM_WRONG_KIND == 4 && FM_INVALID_UTF8 == 5 && FM_BUFFER_TOO_SMALL == 6);
    HCHECK(FM_INVALID_ARGUMENT == 7 && FM_CORRUPT_DATA == 8 && FM_REENTRANT == 9);
    HCHECK(FM_OUT_OF_MEMORY == 10 && FM_OVERFLOW == 11 && FM_END == 12 && FM_CALLBACK_STOPPED == 13);
    HCHECK(FM_UNSUPPORTED_VERSION == 14 && FM_INTERNAL_ERROR == 15);
    HCHECK(FM_INT == 1 && FM_FLOAT == 2 && FM_STR == 3 && FM_BYTES == 4);
    HCHECK(FM_HANDLE_MAP == 1 && FM_HANDLE_ITERATOR == 2 && FM_HANDLE_VIEW == 3);
    HCHECK(FM_HANDLE_SUBSCRIPTION == 4 && FM_HANDLE_TICKET == 5);

    /* Layouts: field order as documented, no surprises from the compiler. */
    HCHECK(sizeof(fm_handle) == 8);
    HCHECK(offsetof(fm_entry, key_int) == 0);
    HCHECK(offsetof(fm_entry, key_ptr) == 8);
    HCHECK(offsetof(fm_entry, key_len) == 8 + sizeof(void *));
    HCHECK(offsetof(fm_entry, value_ptr) > offsetof(fm_entry, value_float));
    HCHECK(offsetof(fm_buf, len) == sizeof(void *));
    HCHECK(offsetof(fm_stats, writes) == 48);

    /* Every function pointer type is usable from this language. */
    fm_foreach_fn each = 0;
    fm_update_fn update = 0;
    HCHECK(each == 0 && update == 0);

    /* A call through the declarations, from this language. */
    fm_handle map = 0;
    HCHECK(fm_map_new(FM_INT, FM_INT, 0, &map) == FM_OK && map != 0);
    bool replaced = true;
    HCHECK(fm_insert_i64_i64(map, 7, 49, &replaced) == FM_OK && !replaced);
    int64_t value = 0;
    HCHECK(fm_get_i64_i64(map, 7, &value) == FM_OK && value == 49);
    HCHECK(fm_map_free(map) == FM_OK);

    /* Nothing left alive, of any kind. */
    for (uint32_t kind = FM_HANDLE_MAP; kind <= FM_HANDLE_TICKET; kind++) {
        uint64_t live = 1;
        HCHECK(fm_census(kind, &live) == FM_OK && live == 0);
    }
    HCHECK(fm_census_total() == 0);

    printf("header_test (%s): %s\n",
#ifdef __cplusplus
           "C++",
#else
           "C",
#endif
           failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
