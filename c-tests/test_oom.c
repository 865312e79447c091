/* test_oom.c — running out of memory is an error, not an abort: under an
 * address-space limit, fm_map_new, fm_map_clone, fm_iter_new and fm_view_i64
 * return
 * FM_OUT_OF_MEMORY with a message, the process lives, the census counts
 * exactly the maps made, and everything frees afterwards. Each case runs
 * in a child process (the limit stays there); the child reports its
 * failures through a pipe. Plain mode only: ASan's allocator reserves its
 * address space up front and valgrind replaces malloc, so neither meets
 * the limit the way a program does. */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

enum { MAX_HANDLES = 1 << 21, HEADROOM = 96 << 20 };

/* The process's address-space size now, from /proc/self/statm. */
static size_t address_space(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* In the child: limits the address space, then makes handles with `make`
 * until it fails; checks the failure and frees everything with `release`. */
typedef fm_status (*make_fn)(fm_handle src, fm_handle *out);
typedef fm_status (*free_fn)(fm_handle h);

static void exhaust(make_fn make, free_fn release, fm_handle src) {
    fm_handle *maps = calloc(MAX_HANDLES, sizeof *maps);
    if (!CHECK(maps != NULL)) return;
    size_t live_before = fm_census_total();
    /* Only the soft limit: it is lifted again before the frees, which
     * retire through the epoch scheme and may allocate (not in scope). */
    struct rlimit saved;
    if (!CHECK(getrlimit(RLIMIT_AS, &saved) == 0)) return;
    struct rlimit rl = {address_space() + HEADROOM, saved.rlim_max};
    if (!CHECK(setrlimit(RLIMIT_AS, &rl) == 0)) return;
    size_t n = 0;
    fm_status st = FM_OK;
    while (n < MAX_HANDLES && (st = make(src, &maps[n])) == FM_OK) n++;
    EXPECT(st, FM_OUT_OF_MEMORY);
    CHECK(strlen(fm_last_error()) > 0);
    CHECK(n > 0);
    CHECK_U64(fm_census_total(), live_before + n);
    CHECK(setrlimit(RLIMIT_AS, &saved) == 0);
    /* Memory comes back: a map can be made again once others are freed. */
    for (size_t i = 0; i < n; i++) OK(release(maps[i]));
    CHECK_U64(fm_census_total(), live_before);
    fm_handle again = 0;
    OK(make(src, &again));
    OK(release(again));
    free(maps);
}

static fm_status new_map(fm_handle src, fm_handle *out) {
    (void)src;
    return fm_map_new(FM_INT, FM_INT, 0, out);
}

static fm_status clone_map(fm_handle src, fm_handle *out) {
    return fm_map_clone(src, out);
}

static fm_status new_iter(fm_handle src, fm_handle *out) {
    return fm_iter_new(src, out);
}

static fm_status new_view(fm_handle src, fm_handle *out) {
    const uint8_t *p = NULL;
    size_t n = 0;
    return fm_view_i64(src, 1, out, &p, &n);
}

/* Runs `exhaust` in a child and checks that it ended normally. */
static void in_child(const char *what, make_fn make, free_fn release, fm_handle src) {
    int report[2];
    if (!CHECK(pipe(report) == 0)) return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(120);
        long before = atomic_load(&check_failures);
        exhaust(make, release, src);
        long failures = atomic_load(&check_failures) - before;
        if (write(report[1], &failures, sizeof failures) != sizeof failures) failures = -1;
        fflush(NULL);
        _exit(0);
    }
    if (!CHECK(pid > 0)) return;
    close(report[1]);
    long child_failures = -1;
    CHECK(read(report[0], &child_failures, sizeof child_failures) == sizeof child_failures);
    close(report[0]);
    if (!CHECK(child_failures == 0)) fprintf(stderr, "  (in the %s child)\n", what);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    /* An abort ("memory allocation failed") would end it with SIGABRT. */
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    const char *mode = getenv("FM_TEST_MODE");
    if (mode && strcmp(mode, "plain") != 0) {
        printf("test_oom: runs in plain mode only (see the file's comment)\n");
        return check_finish("test_oom");
    }
    in_child("fm_map_new", new_map, fm_map_free, 0);
    fm_handle src = 0;
    OK(fm_map_new(FM_INT, FM_INT, 0, &src));
    for (int64_t k = 0; k < 100; k++) OK(fm_insert_i64_i64(src, k, k, NULL));
    in_child("fm_map_clone", clone_map, fm_map_free, src);
    in_child("fm_iter_new", new_iter, fm_iter_free, src);
    OK(fm_map_free(src));
    fm_handle bytes = 0;
    OK(fm_map_new(FM_INT, FM_BYTES, 0, &bytes));
    OK(fm_insert_i64_buf(bytes, 1, (const uint8_t *)"value", 5, NULL));
    in_child("fm_view_i64", new_view, fm_view_release, bytes);
    OK(fm_map_free(bytes));
    return check_finish("test_oom");
}
