/* A C user's first program against the installed package, compiled and
 * linked with nothing but `pkg-config --cflags --libs ferrymap`.
 *
 * Usage: hello [LIBDIR]   fails unless the library was loaded from LIBDIR
 * (compared after resolving symlinks and ../). */
#define _DEFAULT_SOURCE /* realpath */
#include <ferrymap.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "hello: %s: %s\n", what, fm_last_error());
    return 1;
}

int main(int argc, char **argv) {
    fm_handle m;
    if (fm_map_new(FM_INT, FM_STR, 0, &m) != FM_OK) return fail("fm_map_new");
    if (fm_insert_i64_buf(m, 42, (const uint8_t *)"answer", 6, NULL) != FM_OK) return fail("fm_insert_i64_buf");
    char buf[16];
    size_t n = 0;
    if (fm_get_i64_buf(m, 42, (uint8_t *)buf, sizeof buf, &n) != FM_OK) return fail("fm_get_i64_buf");
    if (n != 6 || memcmp(buf, "answer", 6) != 0) return fail("wrong value read back");
    if (fm_map_free(m) != FM_OK) return fail("fm_map_free");
    if (fm_map_free(m) != FM_INVALID_HANDLE) return fail("a second free was not refused");
    if (fm_census_total() != 0) return fail("handles left");

    const char *path = fm_library_path();
    printf("hello: ferrymap %s (header %s) from %s, registry %#llx\n", fm_version_string(), FM_VERSION_STRING,
           path, (unsigned long long)fm_registry_id());
    if (argc > 1) {
        char file[PATH_MAX], dir[PATH_MAX];
        if (!realpath(path, file) || !realpath(argv[1], dir)) return fail("realpath");
        char *slash = strrchr(file, '/');
        if (slash) *slash = '\0';
        if (strcmp(file, dir) != 0) {
            fprintf(stderr, "hello: loaded %s, expected a file in %s\n", path, argv[1]);
            return 1;
        }
    }
    return 0;
}
