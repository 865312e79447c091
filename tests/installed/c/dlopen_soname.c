/* Loads the installed library the way a plugin host does: dlopen by its
 * soname (libferrymap.so.<major>), found through the loader's search path
 * (LD_LIBRARY_PATH, RUNPATH, ldconfig's cache), and symbols by dlsym. Then
 * the version handshake a C user does: the library's major version
 * (fm_version() >> 16) must be the header's FM_VERSION_MAJOR.
 *
 * Compiled with `pkg-config --cflags ferrymap` only: not linked with it.
 * Exit status: 0 ok, 1 cannot load or use it, 3 another major version. */
#include <dlfcn.h>
#include <ferrymap.h>
#include <stdio.h>

#define STR_(x) #x
#define STR(x) STR_(x)

int main(void) {
    const char *soname = "libferrymap.so." STR(FM_VERSION_MAJOR);
    void *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "dlopen_soname: %s\n", dlerror());
        return 1;
    }
    uint32_t (*version)(void) = (uint32_t (*)(void))dlsym(dl, "fm_version");
    const char *(*version_string)(void) = (const char *(*)(void))dlsym(dl, "fm_version_string");
    const char *(*library_path)(void) = (const char *(*)(void))dlsym(dl, "fm_library_path");
    fm_status (*map_new)(uint32_t, uint32_t, size_t, fm_handle *) =
        (fm_status (*)(uint32_t, uint32_t, size_t, fm_handle *))dlsym(dl, "fm_map_new");
    fm_status (*insert)(fm_handle, int64_t, int64_t, bool *) =
        (fm_status (*)(fm_handle, int64_t, int64_t, bool *))dlsym(dl, "fm_insert_i64_i64");
    fm_status (*get)(fm_handle, int64_t, int64_t *) = (fm_status (*)(fm_handle, int64_t, int64_t *))dlsym(dl, "fm_get_i64_i64");
    fm_status (*map_free)(fm_handle) = (fm_status (*)(fm_handle))dlsym(dl, "fm_map_free");
    if (!version || !version_string || !library_path || !map_new || !insert || !get || !map_free) {
        fprintf(stderr, "dlopen_soname: a symbol is missing\n");
        return 1;
    }
    if (version() >> 16 != FM_VERSION_MAJOR) {
        fprintf(stderr,
                "dlopen_soname: %s is ferrymap %s, but this program was built against ferrymap.h %s: "
                "major versions %u and %u differ\n",
                library_path(), version_string(), FM_VERSION_STRING, (unsigned)(version() >> 16),
                (unsigned)FM_VERSION_MAJOR);
        return 3;
    }
    fm_handle m;
    int64_t v = 0;
    if (map_new(FM_INT, FM_INT, 0, &m) != FM_OK || insert(m, 7, 49, NULL) != FM_OK || get(m, 7, &v) != FM_OK ||
        v != 49 || map_free(m) != FM_OK) {
        fprintf(stderr, "dlopen_soname: a map call failed\n");
        return 1;
    }
    printf("dlopen_soname: %s -> %s, ferrymap %s\n", soname, library_path(), version_string());
    return 0;
}
