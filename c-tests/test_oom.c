/* test_oom.c — running out of memory is an error, not an abort: under an
 * address-space limit, every call that creates a handle (fm_map_new,
 * fm_map_clone, fm_iter_new, fm_view_i64, fm_bridge_new, fm_export,
 * fm_import, fm_subscribe, fm_submit) is called until it returns
 * FM_OUT_OF_MEMORY with a message; the process lives, the census counts
 * exactly the handles made, and everything frees afterwards. A bridge's
 * owner thread that cannot copy a result reports FM_OUT_OF_MEMORY in that
 * result, and batch calls whose buffers cannot be had fail before they
 * read or change anything. Each case runs
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
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { MAX_HANDLES = 1 << 21 };
/* Room left under the limit. Subscriptions, a few hundred bytes each, get
 * less: freeing a subscription scans its feed's list of them. */
static size_t headroom = 96 << 20;
/* Set when the last failure was a ticket result's status: results carry
 * no message (the owner thread had it). */
static bool status_from_result;

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
    struct rlimit rl = {address_space() + headroom, saved.rlim_max};
    if (!CHECK(setrlimit(RLIMIT_AS, &rl) == 0)) return;
    size_t n = 0;
    fm_status st = FM_OK;
    while (n < MAX_HANDLES && (st = make(src, &maps[n])) == FM_OK) n++;
    EXPECT(st, FM_OUT_OF_MEMORY);
    CHECK(status_from_result || strlen(fm_last_error()) > 0);
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

static fm_status new_bridge(fm_handle src, fm_handle *out) {
    (void)src;
    /* A queue of 1M requests: its ring is the large allocation. */
    return fm_bridge_new(FM_INT, FM_INT, 0, 1 << 20, out);
}

static fm_status export_map(fm_handle src, fm_handle *out) {
    return fm_export(src, out, NULL, NULL);
}

/* An export of the source map, made before the limit (for import_map). */
static const uint8_t *exported;
static size_t exported_len;

static fm_status import_map(fm_handle src, fm_handle *out) {
    (void)src;
    return fm_import(exported, exported_len, out);
}

static fm_status subscribe(fm_handle src, fm_handle *out) {
    return fm_subscribe(src, 1, out);
}

/* Submits a GET of a large value to the bridge `src` and waits: the owner
 * thread copies the value into the ticket's result. The status is the
 * submission's, or the result's (the ticket is freed then). */
static fm_status get_ticket(fm_handle src, fm_handle *out) {
    fm_request r = {.op = FM_OP_GET, .key_int = 1};
    fm_handle t = 0;
    fm_status st = fm_submit(src, &r, 1, -1, &t);
    if (st != FM_OK) return st;
    fm_result res;
    size_t n = 0;
    if ((st = fm_ticket_wait(t, -1)) == FM_OK && (st = fm_ticket_results(t, &res, 1, &n)) == FM_OK) {
        st = (fm_status)res.status;
        status_from_result = true;
    }
    if (st != FM_OK) {
        fm_ticket_free(t);
        return st;
    }
    *out = t;
    return FM_OK;
}

/* Batch calls whose working buffers cannot be had: 4M keys of a STR map. */
static void batch_buffers(void) {
    enum { N = 4 << 20 };
    fm_buf *keys = calloc(N, sizeof *keys);
    fm_buf *values = calloc(N, sizeof *values);
    if (!CHECK(keys && values)) return;
    for (size_t i = 0; i < N; i++) keys[i] = (fm_buf){(const uint8_t *)"k", 1};
    fm_handle m = 0;
    OK(fm_map_new(FM_STR, FM_STR, 0, &m));
    OK(fm_insert_buf_buf(m, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1, NULL));
    size_t live_before = fm_census_total();
    struct rlimit saved;
    if (!CHECK(getrlimit(RLIMIT_AS, &saved) == 0)) return;
    /* Less room than the call's own vector of N keys (N * 16 bytes). */
    struct rlimit rl = {address_space() + (N * 16) / 2, saved.rlim_max};
    if (!CHECK(setrlimit(RLIMIT_AS, &rl) == 0)) return;
    size_t removed = 99, needed = 0;
    EXPECT(fm_remove_many_buf(m, keys, N, &removed), FM_OUT_OF_MEMORY);
    CHECK(strlen(fm_last_error()) > 0);
    CHECK_U64(removed, 99);
    uint8_t buf[8];
    EXPECT(fm_get_many_buf_buf(m, keys, N, buf, sizeof buf, values, &needed), FM_OUT_OF_MEMORY);
    CHECK(setrlimit(RLIMIT_AS, &saved) == 0);
    size_t len = 0;
    OK(fm_map_len(m, &len));
    CHECK_U64(len, 1);
    CHECK_U64(fm_census_total(), live_before);
    OK(fm_map_free(m));
    free(keys);
    free(values);
}

/* A bridge map (INT to BYTES) whose key 1 holds 4 MiB. Bridges made before
 * fork() do not work in the child: the cases that need one make it there. */
static fm_handle large_value_bridge(void) {
    static uint8_t large[4 << 20];
    memset(large, 'x', sizeof large);
    fm_handle b = 0;
    OK(fm_bridge_new(FM_INT, FM_BYTES, 0, 64, &b));
    OK(fm_insert_i64_buf(b, 1, large, sizeof large, NULL));
    return b;
}

/* A bridge map to subscribe to, with less headroom (see `headroom`). */
static fm_handle bridge_to_subscribe(void) {
    headroom = 8 << 20;
    fm_handle b = 0;
    OK(fm_bridge_new(FM_INT, FM_INT, 0, 64, &b));
    return b;
}

/* Runs `exhaust` in a child and checks that it ended normally. With
 * `make_src`, the child makes its source handle first (and frees it). */
static void in_child_with(const char *what, make_fn make, free_fn release, fm_handle src,
                          fm_handle (*make_src)(void)) {
    int report[2];
    if (!CHECK(pipe(report) == 0)) return;
    fflush(NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(120);
        long before = atomic_load(&check_failures);
        if (make_src) src = make_src();
        if (make)
            exhaust(make, release, src);
        else
            batch_buffers();
        if (make_src) OK(fm_map_free(src));
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
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%-28s %.2f s\n", what, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
}

static void in_child(const char *what, make_fn make, free_fn release, fm_handle src) {
    in_child_with(what, make, release, src, NULL);
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

    in_child("fm_bridge_new", new_bridge, fm_map_free, 0);
    fm_handle big = 0;
    OK(fm_map_new(FM_INT, FM_INT, 0, &big));
    for (int64_t k = 0; k < 20000; k++) OK(fm_insert_i64_i64(big, k, k, NULL));
    in_child("fm_export", export_map, fm_view_release, big);
    fm_handle view = 0;
    OK(fm_export(big, &view, &exported, &exported_len));
    in_child("fm_import", import_map, fm_map_free, 0);
    OK(fm_view_release(view));
    OK(fm_map_free(big));

    in_child_with("fm_subscribe", subscribe, fm_sub_free, 0, bridge_to_subscribe);
    in_child_with("fm_submit (a result's copy)", get_ticket, fm_ticket_free, 0, large_value_bridge);
    in_child("batch buffers", NULL, NULL, 0);
    return check_finish("test_oom");
}
