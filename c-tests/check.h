/* check.h — assertion helpers shared by the ferrymap C tests.
 *
 * CHECK(cond)            a condition that must hold
 * CHECK_MSG(cond, ...)   the same, with a printf-style description
 * EXPECT(call, status)   a call that must return `status`
 * OK(call)               EXPECT(call, FM_OK)
 * EXPECT_ANY(call, a, b) a call that must return `a` or `b`
 * CHECK_I64 / CHECK_U64 / CHECK_MEM   equality with both values printed
 *
 * A failed check prints file:line, what failed, the status strings involved
 * and fm_last_error(), counts the failure and carries on. Checks are safe to
 * use from several threads. Every program ends with check_finish(), which
 * also asserts that no ferrymap handle of any kind is left alive.
 *
 * test_dlopen.c does not link the library: it defines CHECK_NO_LINK and
 * points `chk` at the functions it resolved with dlsym.
 */
#ifndef FM_CHECK_H
#define FM_CHECK_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrymap.h"

/* The library functions the helpers themselves call. */
typedef struct check_api {
    const char *(*status_str)(int32_t);
    const char *(*last_error)(void);
    uint64_t (*census_total)(void);
    enum fm_status (*census)(uint32_t, uint64_t *);
} check_api;

#ifdef CHECK_NO_LINK
static check_api chk;
#else
static check_api chk = {fm_status_str, fm_last_error, fm_census_total, fm_census};
#endif

static atomic_long check_failures;
static atomic_long check_count;

/* After this many failures only the count goes on (keeps logs readable). */
#define CHECK_MAX_REPORTS 60

static inline const char *check_status_name(long st) {
    return chk.status_str ? chk.status_str((int32_t)st) : "?";
}

static inline const char *check_last_error(void) {
    return chk.last_error ? chk.last_error() : "?";
}

/* Records one failure; `fmt` describes it. */
static inline void check_fail(const char *file, int line, const char *fmt, ...) {
    long n = atomic_fetch_add(&check_failures, 1) + 1;
    if (n > CHECK_MAX_REPORTS) {
        if (n == CHECK_MAX_REPORTS + 1) fprintf(stderr, "(further failures are counted, not printed)\n");
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: FAILED %s [fm_last_error: \"%s\"]\n", file, line, msg, check_last_error());
}

static inline bool check_cond(const char *file, int line, const char *expr, bool ok) {
    atomic_fetch_add(&check_count, 1);
    if (!ok) check_fail(file, line, "CHECK(%s)", expr);
    return ok;
}

/* CHECK_MSG: a condition with a printf-style description of the failure. */
static inline bool check_msg(const char *file, int line, bool ok, const char *fmt, ...) {
    atomic_fetch_add(&check_count, 1);
    if (ok) return true;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    check_fail(file, line, "%s", msg);
    return false;
}

static inline bool check_status(const char *file, int line, const char *expr, long got, long want) {
    atomic_fetch_add(&check_count, 1);
    if (got == want) return true;
    check_fail(file, line, "%s returned %ld (%s), expected %ld (%s)", expr, got, check_status_name(got), want,
               check_status_name(want));
    return false;
}

static inline bool check_status2(const char *file, int line, const char *expr, long got, long a, long b) {
    atomic_fetch_add(&check_count, 1);
    if (got == a || got == b) return true;
    check_fail(file, line, "%s returned %ld (%s), expected %ld (%s) or %ld (%s)", expr, got, check_status_name(got), a,
               check_status_name(a), b, check_status_name(b));
    return false;
}

static inline bool check_i64(const char *file, int line, const char *ea, const char *eb, int64_t a, int64_t b) {
    atomic_fetch_add(&check_count, 1);
    if (a == b) return true;
    check_fail(file, line, "%s == %s: %" PRId64 " != %" PRId64, ea, eb, a, b);
    return false;
}

static inline bool check_u64(const char *file, int line, const char *ea, const char *eb, uint64_t a, uint64_t b) {
    atomic_fetch_add(&check_count, 1);
    if (a == b) return true;
    check_fail(file, line, "%s == %s: %" PRIu64 " (%#" PRIx64 ") != %" PRIu64 " (%#" PRIx64 ")", ea, eb, a, a, b, b);
    return false;
}

static inline bool check_mem(const char *file, int line, const char *ea, const void *a, size_t alen, const void *b,
                      size_t blen) {
    atomic_fetch_add(&check_count, 1);
    if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0)) return true;
    check_fail(file, line, "bytes of %s differ (lengths %zu and %zu)", ea, alen, blen);
    return false;
}

/* A macro's value as a string literal: FM_STR(FM_VERSION_MAJOR) is "0". */
#define FM_STR_(x) #x
#define FM_STR(x) FM_STR_(x)

#define CHECK(cond) check_cond(__FILE__, __LINE__, #cond, (cond) ? true : false)
#define CHECK_MSG(cond, ...) check_msg(__FILE__, __LINE__, (cond) ? true : false, __VA_ARGS__)
#define EXPECT(call, want) check_status(__FILE__, __LINE__, #call, (long)(call), (long)(want))
#define OK(call) EXPECT(call, FM_OK)
#define EXPECT_ANY(call, a, b) check_status2(__FILE__, __LINE__, #call, (long)(call), (long)(a), (long)(b))
#define CHECK_I64(a, b) check_i64(__FILE__, __LINE__, #a, #b, (int64_t)(a), (int64_t)(b))
#define CHECK_U64(a, b) check_u64(__FILE__, __LINE__, #a, #b, (uint64_t)(a), (uint64_t)(b))
#define CHECK_MEM(a, alen, b, blen) check_mem(__FILE__, __LINE__, #a, (a), (alen), (b), (blen))

/* Live handles of every kind, as the library counts them. */
static inline uint64_t check_live_handles(void) {
    return chk.census_total ? chk.census_total() : 0;
}

/* Asserts that no handle of any kind is alive (per kind and in total). */
static inline void check_census_zero(const char *file, int line) {
    uint64_t sum = 0;
    for (uint32_t kind = FM_HANDLE_MAP; kind <= FM_HANDLE_TICKET; kind++) {
        uint64_t n = UINT64_MAX;
        if (!check_status(file, line, "fm_census(kind, &n)", (long)chk.census(kind, &n), FM_OK)) continue;
        check_u64(file, line, "live handles of this kind", "0", n, 0);
        sum += n;
    }
    check_u64(file, line, "fm_census_total()", "0", chk.census_total(), 0);
    check_u64(file, line, "sum of fm_census", "0", sum, 0);
}

/* Ends a test program: census check, summary line, exit status. */
static inline int check_finish(const char *name) {
    check_census_zero(__FILE__, __LINE__);
    long failed = atomic_load(&check_failures);
    printf("%s: %ld checks, %ld failed\n", name, atomic_load(&check_count), failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

/* A scale factor for iteration counts: FM_TEST_SCALE (default 1.0); the
 * runner lowers it under valgrind. Never returns less than `min`. */
static inline long check_scaled(long n, long min) {
    const char *s = getenv("FM_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    if (!(f > 0)) f = 1.0;
    long r = (long)((double)n * f);
    return r < min ? min : r;
}

/* Small deterministic PRNG (xorshift64*), one state per thread. */
static inline uint64_t check_rand(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif /* FM_CHECK_H */
