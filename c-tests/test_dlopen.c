/* test_dlopen.c — the library used as a plugin: loaded only with dlopen and
 * dlsym, never linked. Checks the version against the header, a map's whole
 * life through resolved symbols, the registry identity and library path, and
 * that a second copy of the library (the same file copied to another path)
 * has its own registry: handles of one copy are rejected by the other, both
 * ways, and each copy keeps working. The second half repeats that with the
 * first copy in the global symbol scope (as when a program is linked with
 * libferrymap and a plugin brings its own copy): the second copy must still
 * use its own code and registry. All of it runs with every POSIX
 * thread-local key of the process in use (which once made copies pick
 * random handle tags): at the end every copy must hold a different tag,
 * the smallest free one in the order of first use, and reject every other
 * copy's handles.
 *
 * Usage: test_dlopen [path/to/libferrymap.so]   (else $FERRYMAP_LIB, else
 * the soname "libferrymap.so.0" through the loader's search path). */
#define _GNU_SOURCE
#define CHECK_NO_LINK
#include "check.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* The functions of one loaded copy. */
typedef struct lib {
    const char *name;
    void *dl;
    __typeof__(&fm_version) version;
    __typeof__(&fm_version_string) version_string;
    __typeof__(&fm_status_str) status_str;
    __typeof__(&fm_last_error) last_error;
    __typeof__(&fm_registry_id) registry_id;
    __typeof__(&fm_library_path) library_path;
    __typeof__(&fm_census) census;
    __typeof__(&fm_census_total) census_total;
    __typeof__(&fm_map_new) map_new;
    __typeof__(&fm_map_free) map_free;
    __typeof__(&fm_map_len) map_len;
    __typeof__(&fm_insert_i64_i64) insert_i64_i64;
    __typeof__(&fm_get_i64_i64) get_i64_i64;
    __typeof__(&fm_iter_new) iter_new;
    __typeof__(&fm_iter_next) iter_next;
    __typeof__(&fm_iter_next_batch) iter_next_batch;
    __typeof__(&fm_iter_len) iter_len;
    __typeof__(&fm_iter_free) iter_free;
} lib;

static bool resolve(lib *l, const char *path, int flags) {
    l->name = path;
    l->dl = dlopen(path, flags);
    if (!CHECK_MSG(l->dl != NULL, "dlopen(%s): %s", path, dlerror())) return false;
    bool ok = true;
#define SYM(field, symbol)                                                           \
    do {                                                                             \
        *(void **)(&l->field) = dlsym(l->dl, #symbol);                               \
        ok &= CHECK_MSG(l->field != NULL, "dlsym(%s) in %s: %s", #symbol, path, dlerror()); \
    } while (0)
    SYM(version, fm_version);
    SYM(version_string, fm_version_string);
    SYM(status_str, fm_status_str);
    SYM(last_error, fm_last_error);
    SYM(registry_id, fm_registry_id);
    SYM(library_path, fm_library_path);
    SYM(census, fm_census);
    SYM(census_total, fm_census_total);
    SYM(map_new, fm_map_new);
    SYM(map_free, fm_map_free);
    SYM(map_len, fm_map_len);
    SYM(insert_i64_i64, fm_insert_i64_i64);
    SYM(get_i64_i64, fm_get_i64_i64);
    SYM(iter_new, fm_iter_new);
    SYM(iter_next, fm_iter_next);
    SYM(iter_next_batch, fm_iter_next_batch);
    SYM(iter_len, fm_iter_len);
    SYM(iter_free, fm_iter_free);
#undef SYM
    return ok;
}

/* Routes the check helpers' library calls to copy `l`. */
static void use_for_checks(const lib *l) {
    chk.status_str = l->status_str;
    chk.last_error = l->last_error;
    chk.census_total = l->census_total;
    chk.census = l->census;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Same file (device and inode), whatever the spelling of the path. */
static bool same_file(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

/* A map's whole life through one copy's functions: new, insert, get,
 * iterate (one at a time and in a batch), free. */
static void exercise(const lib *l) {
    use_for_checks(l);
    fm_handle map = 0;
    if (!OK(l->map_new(FM_INT, FM_INT, 16, &map))) return;
    CHECK(map != 0);
    enum { N = 100 };
    for (int64_t k = 0; k < N; k++) {
        bool replaced = true;
        OK(l->insert_i64_i64(map, k - 50, (k - 50) * 11, &replaced));
        CHECK(!replaced);
    }
    bool replaced = false;
    OK(l->insert_i64_i64(map, 0, 12345, &replaced));
    CHECK(replaced);
    size_t len = 0;
    OK(l->map_len(map, &len));
    CHECK_U64(len, N);
    int64_t v = 0;
    OK(l->get_i64_i64(map, -50, &v));
    CHECK_I64(v, -550);
    OK(l->get_i64_i64(map, 0, &v));
    CHECK_I64(v, 12345);
    v = 77;
    EXPECT(l->get_i64_i64(map, 1000, &v), FM_NOT_FOUND);
    CHECK_I64(v, 77);

    /* Iterate one entry at a time: fm_iter_next is the one export that calls
     * another export (fm_iter_next_batch) inside the library. */
    fm_handle it = 0;
    OK(l->iter_new(map, &it));
    size_t n = 0;
    OK(l->iter_len(it, &n));
    CHECK_U64(n, N);
    bool seen[N] = {false};
    size_t count = 0;
    fm_entry e;
    fm_status st;
    while ((st = l->iter_next(it, &e)) == FM_OK) {
        int64_t k = e.key_int;
        if (!CHECK_MSG(k >= -50 && k < 50 && !seen[k + 50], "unexpected or repeated key %" PRId64, k)) break;
        seen[k + 50] = true;
        CHECK_I64(e.value_int, k == 0 ? 12345 : k * 11);
        count++;
    }
    EXPECT(st, FM_END);
    CHECK_U64(count, N);
    OK(l->iter_free(it));

    /* And in batches. */
    OK(l->iter_new(map, &it));
    fm_entry batch[32];
    count = 0;
    while ((st = l->iter_next_batch(it, batch, 32, &n)) == FM_OK) count += n;
    EXPECT(st, FM_END);
    CHECK_U64(count, N);
    OK(l->iter_free(it));

    OK(l->map_free(map));
    EXPECT(l->map_free(map), FM_INVALID_HANDLE);
    check_census_zero(__FILE__, __LINE__);
}

/* Copies the file at `src` to a fresh temporary directory; returns the new path. */
static bool copy_library(const char *src, char *dir, size_t dir_size, char *out, size_t out_size) {
    snprintf(dir, dir_size, "%s/ferrymap-dlopen-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!CHECK_MSG(mkdtemp(dir) != NULL, "mkdtemp failed")) return false;
    snprintf(out, out_size, "%s/libferrymap.so", dir);
    FILE *in = fopen(src, "rb");
    FILE *to = fopen(out, "wb");
    bool ok = in && to;
    char buf[1 << 16];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, to) == n;
    if (in) fclose(in);
    if (to && fclose(to) != 0) ok = false;
    return CHECK_MSG(ok, "copying %s to %s failed", src, out);
}

/* Two copies must not accept each other's handles, and each keeps working. */
static void check_isolation(const lib *a, const lib *b) {
    CHECK(a->dl != b->dl);
    CHECK(a->registry_id() != 0 && b->registry_id() != 0);
    CHECK_MSG(a->registry_id() != b->registry_id(), "two copies share registry id %#" PRIx64, a->registry_id());
    CHECK_MSG(same_file(a->library_path(), a->name), "copy loaded from %s reports path \"%s\"", a->name,
              a->library_path());
    CHECK_MSG(same_file(b->library_path(), b->name), "copy loaded from %s reports path \"%s\"", b->name,
              b->library_path());

    fm_handle ma = 0, mb = 0, ia = 0;
    use_for_checks(a);
    OK(a->map_new(FM_INT, FM_INT, 0, &ma));
    OK(a->insert_i64_i64(ma, 1, 100, NULL));
    OK(a->iter_new(ma, &ia));
    use_for_checks(b);
    OK(b->map_new(FM_INT, FM_INT, 0, &mb));
    OK(b->insert_i64_i64(mb, 1, 200, NULL));

    /* a's handles given to b, and b's to a: rejected, nothing read or freed. */
    int64_t v = -1;
    EXPECT(b->get_i64_i64(ma, 1, &v), FM_INVALID_HANDLE);
    CHECK_I64(v, -1);
    CHECK(strlen(b->last_error()) > 0);
    EXPECT(b->insert_i64_i64(ma, 2, 2, NULL), FM_INVALID_HANDLE);
    EXPECT(b->map_free(ma), FM_INVALID_HANDLE);
    fm_entry e;
    EXPECT(b->iter_next(ia, &e), FM_INVALID_HANDLE);
    EXPECT(b->iter_free(ia), FM_INVALID_HANDLE);
    use_for_checks(a);
    EXPECT(a->get_i64_i64(mb, 1, &v), FM_INVALID_HANDLE);
    CHECK_I64(v, -1);
    EXPECT(a->map_free(mb), FM_INVALID_HANDLE);

    /* Each copy's own objects are untouched and work. */
    OK(a->get_i64_i64(ma, 1, &v));
    CHECK_I64(v, 100);
    size_t len = 0;
    OK(a->map_len(ma, &len));
    CHECK_U64(len, 1);
    OK(a->iter_next(ia, &e));
    CHECK(e.key_int == 1 && e.value_int == 100);
    EXPECT(a->iter_next(ia, &e), FM_END);
    OK(a->iter_free(ia));
    OK(a->map_free(ma));
    use_for_checks(b);
    OK(b->get_i64_i64(mb, 1, &v));
    CHECK_I64(v, 200);
    OK(b->map_free(mb));

    /* The census of each copy counts only its own handles. */
    uint64_t live = 99;
    OK(a->census(FM_HANDLE_MAP, &live));
    CHECK_U64(live, 0);
    OK(b->census(FM_HANDLE_MAP, &live));
    CHECK_U64(live, 0);
    exercise(b);
    exercise(a);
}

/* The tag a copy put in handle `h` (registry.rs: bits 27 to 36). */
static unsigned tag_of(fm_handle h) { return (unsigned)((h >> 27) & 0x3ff); }

/* Takes every POSIX thread-local key the process has left (they stay
 * taken until the end): copies of the library loaded from here on once
 * fell back to random tags. */
static void use_up_thread_keys(void) {
    pthread_key_t key;
    int taken = 0;
    while (taken <= PTHREAD_KEYS_MAX && pthread_key_create(&key, NULL) == 0) taken++;
    CHECK_MSG(pthread_key_create(&key, NULL) != 0, "thread-local keys not used up after %d", taken);
}

/* The tags of `n` copies are 1, 2, ... in the order of their first handle,
 * and each copy refuses every other copy's map. */
static void check_tags(lib *copies, int n) {
    fm_handle maps[8] = {0};
    for (int i = 0; i < n; i++) {
        use_for_checks(&copies[i]);
        OK(copies[i].map_new(FM_INT, FM_INT, 0, &maps[i]));
        OK(copies[i].insert_i64_i64(maps[i], 7, i, NULL));
        CHECK_MSG(tag_of(maps[i]) == (unsigned)i + 1, "copy %d has tag %u, not %d", i, tag_of(maps[i]),
                  i + 1);
    }
    for (int i = 0; i < n; i++) {
        use_for_checks(&copies[i]);
        for (int j = 0; j < n; j++) {
            int64_t v = -1;
            EXPECT(copies[i].get_i64_i64(maps[j], 7, &v), i == j ? FM_OK : FM_INVALID_HANDLE);
            CHECK_I64(v, i == j ? i : -1);
        }
    }
    for (int i = 0; i < n; i++) {
        use_for_checks(&copies[i]);
        OK(copies[i].map_free(maps[i]));
    }
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : getenv("FERRYMAP_LIB");
    if (!path || !*path) path = "libferrymap.so." FM_STR(FM_VERSION_MAJOR); /* the soname */

    use_up_thread_keys();
    lib one = {0};
    if (!resolve(&one, path, RTLD_NOW | RTLD_LOCAL)) return 1;
    use_for_checks(&one);

    /* Version: the header's macros and the loaded library agree. */
    CHECK_U64(one.version(), FM_VERSION);
    CHECK_MSG(strcmp(one.version_string(), FM_VERSION_STRING) == 0, "library version \"%s\", header \"%s\"",
              one.version_string(), FM_VERSION_STRING);

    /* Identity of this copy. */
    CHECK(one.registry_id() != 0);
    CHECK_U64(one.registry_id(), one.registry_id());
    const char *lp = one.library_path();
    CHECK_MSG(ends_with(lp, "/libferrymap.so") || ends_with(lp, "/libferrymap.so." FM_STR(FM_VERSION_MAJOR)),
              "fm_library_path() = \"%s\"", lp);
    if (strchr(path, '/')) CHECK_MSG(same_file(lp, path), "fm_library_path() = \"%s\", loaded %s", lp, path);

    /* Loading the same file again gives the same copy. */
    void *again = dlopen(lp, RTLD_NOW | RTLD_LOCAL);
    CHECK(again == one.dl);
    if (again) dlclose(again);

    exercise(&one);

    /* A second copy at another path, loaded privately. */
    char dir2[PATH_MAX], path2[PATH_MAX + 32];
    lib two = {0};
    if (copy_library(lp, dir2, sizeof dir2, path2, sizeof path2) && resolve(&two, path2, RTLD_NOW | RTLD_LOCAL)) {
        check_isolation(&one, &two);
    }

    /* Now the first copy joins the global scope (RTLD_NOLOAD promotes the
     * loaded copy), like a library a program is linked with, and a third copy
     * is loaded privately: its internal calls must not bind to the first. */
    void *promoted = dlopen(lp, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    CHECK(promoted == one.dl);
    char dir3[PATH_MAX], path3[PATH_MAX + 32];
    lib three = {0};
    if (copy_library(lp, dir3, sizeof dir3, path3, sizeof path3) && resolve(&three, path3, RTLD_NOW | RTLD_LOCAL)) {
        check_isolation(&one, &three);
        CHECK(three.registry_id() != two.registry_id());
    }

    /* The library is built with -z nodelete: dlclose keeps it mapped, and
     * its functions keep working. */
    if (promoted) dlclose(promoted);
    dlclose(one.dl);
    use_for_checks(&one);
    exercise(&one);

    if (two.dl && three.dl) check_tags((lib[]){one, two, three}, 3);

    if (two.dl) {
        use_for_checks(&two);
        check_census_zero(__FILE__, __LINE__);
        dlclose(two.dl);
    }
    if (three.dl) {
        use_for_checks(&three);
        check_census_zero(__FILE__, __LINE__);
        dlclose(three.dl);
    }
    unlink(path2);
    rmdir(dir2);
    unlink(path3);
    rmdir(dir3);
    use_for_checks(&one);
    return check_finish("test_dlopen");
}
