/* test_bad_input.c — the bad-input matrix. Every call below must fail with
 * the documented status, write none of its outputs, and change nothing (the
 * maps' contents and the handle census are compared before and after):
 *
 * - bad handles for every function that takes one: 0, stale, double-freed,
 *   forged (random bits, off by one, every single-bit flip of a live handle,
 *   which includes its generation bits), wrong kind (iterator for map, view
 *   for iterator, ...), and slot reuse never reviving an old handle;
 * - NULL for every pointer argument (required: FM_NULL_ARGUMENT; the ones
 *   documented "may be NULL": work);
 * - wrong key/value kinds for each of the twelve schemas (FM_WRONG_KIND);
 * - invalid UTF-8 (overlong, surrogates, truncated, out of range) for STR
 *   keys and values, in single and batch calls (FM_INVALID_UTF8);
 * - absurd lengths and counts (FM_INVALID_ARGUMENT without reading the
 *   pointer: each runs in a child process with an unmapped pointer, so a
 *   library that reads it crashes the child, not the test);
 * - unknown kinds, FLOAT keys, absurd capacities in fm_map_new;
 * - the buffer-too-small protocol;
 * - corrupted imports: every single-bit flip and truncation of real exports,
 *   and hand-built data with a valid CRC-32 (computed here) so the parser's
 *   own checks run: lengths, counts, kinds, duplicate keys, UTF-8, trailing
 *   bytes, version; plus random mutations with a recomputed CRC. */
#define _GNU_SOURCE
#include "check.h"

#include <sys/wait.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SENT64 ((uint64_t)0x5A5A5A5A5A5A5A5Aull)
/* A non-NULL pointer into the unmapped first page: reading it crashes. */
#define POISON ((const uint8_t *)(uintptr_t)16)
#define LIT(s) (const uint8_t *)(s), (sizeof(s) - 1)

/* ---- fingerprints: what "nothing changed" means ------------------------------ */

static uint64_t fnv(const void *p, size_t n, uint64_t h) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* An order-independent digest of a map's whole contents and schema. */
static uint64_t digest(fm_handle m) {
    uint32_t kk = 0, vk = 0;
    size_t len = 0;
    if (!OK(fm_map_schema(m, &kk, &vk)) || !OK(fm_map_len(m, &len))) return 0;
    fm_handle it = 0;
    if (!OK(fm_iter_new(m, &it))) return 0;
    uint64_t sum = len * 0x9E3779B97F4A7C15ull + kk * 31 + vk;
    fm_entry e;
    size_t n = 0;
    while (fm_iter_next(it, &e) == FM_OK) {
        uint64_t h = 0xcbf29ce484222325ull;
        h = kk == FM_INT ? fnv(&e.key_int, 8, h) : fnv(e.key_ptr, e.key_len, fnv(&e.key_len, sizeof e.key_len, h));
        if (vk == FM_INT)
            h = fnv(&e.value_int, 8, h);
        else if (vk == FM_FLOAT)
            h = fnv(&e.value_float, 8, h);
        else
            h = fnv(e.value_ptr, e.value_len, fnv(&e.value_len, sizeof e.value_len, h));
        sum += h * 0xff51afd7ed558ccdull;
        n++;
    }
    CHECK_U64(n, len);
    OK(fm_iter_free(it));
    return sum;
}

/* ---- fixture: live objects that bad calls must leave alone -------------------- */

static struct fixture {
    fm_handle ii;  /* INT->INT    {1:10, 2:20, 3:30} */
    fm_handle if_; /* INT->FLOAT  {1:1.5} */
    fm_handle ss;  /* STR->STR    {"alpha":"one", "beta":"two"} */
    fm_handle si;  /* STR->INT    {"alpha":1} */
    fm_handle sf;  /* STR->FLOAT  {"alpha":0.5} */
    fm_handle ib;  /* INT->BYTES  {1:"\0\1\2"} */
    fm_handle it;  /* iterator over ii, never advanced */
    fm_handle vw;  /* view of ib[1] */
    const uint8_t *vw_ptr;
    size_t vw_len;
    uint64_t d_ii, d_if, d_ss, d_si, d_sf, d_ib, census;
} fx;

static void fixture_make(void) {
    OK(fm_map_new(FM_INT, FM_INT, 0, &fx.ii));
    for (int64_t k = 1; k <= 3; k++) OK(fm_insert_i64_i64(fx.ii, k, k * 10, NULL));
    OK(fm_map_new(FM_STR, FM_STR, 0, &fx.ss));
    OK(fm_insert_buf_buf(fx.ss, LIT("alpha"), LIT("one"), NULL));
    OK(fm_insert_buf_buf(fx.ss, LIT("beta"), LIT("two"), NULL));
    OK(fm_map_new(FM_INT, FM_FLOAT, 0, &fx.if_));
    OK(fm_insert_i64_f64(fx.if_, 1, 1.5, NULL));
    OK(fm_map_new(FM_STR, FM_INT, 0, &fx.si));
    OK(fm_insert_buf_i64(fx.si, LIT("alpha"), 1, NULL));
    OK(fm_map_new(FM_STR, FM_FLOAT, 0, &fx.sf));
    OK(fm_insert_buf_f64(fx.sf, LIT("alpha"), 0.5, NULL));
    OK(fm_map_new(FM_INT, FM_BYTES, 0, &fx.ib));
    OK(fm_insert_i64_buf(fx.ib, 1, LIT("\0\1\2"), NULL));
    OK(fm_iter_new(fx.ii, &fx.it));
    OK(fm_view_i64(fx.ib, 1, &fx.vw, &fx.vw_ptr, &fx.vw_len));
    fx.d_ii = digest(fx.ii);
    fx.d_if = digest(fx.if_);
    fx.d_ss = digest(fx.ss);
    fx.d_si = digest(fx.si);
    fx.d_sf = digest(fx.sf);
    fx.d_ib = digest(fx.ib);
    fx.census = fm_census_total();
}

/* Nothing changed: same handles alive, same contents, view bytes intact. */
static bool fixture_unchanged(const char *after) {
    long before = atomic_load(&check_failures);
    CHECK_U64(fm_census_total(), fx.census);
    CHECK_U64(digest(fx.ii), fx.d_ii);
    CHECK_U64(digest(fx.if_), fx.d_if);
    CHECK_U64(digest(fx.ss), fx.d_ss);
    CHECK_U64(digest(fx.si), fx.d_si);
    CHECK_U64(digest(fx.sf), fx.d_sf);
    CHECK_U64(digest(fx.ib), fx.d_ib);
    const uint8_t *p = NULL;
    size_t n = 0;
    if (OK(fm_view_bytes(fx.vw, &p, &n))) CHECK(p == fx.vw_ptr && n == 3 && memcmp(p, "\0\1\2", 3) == 0);
    size_t len = 0;
    OK(fm_iter_len(fx.it, &len));
    CHECK_U64(len, 3);
    bool same = atomic_load(&check_failures) == before;
    if (!same) fprintf(stderr, "  ^ state changed after: %s\n", after);
    return same;
}

/* The fixture iterator has not been advanced by anything. */
static void fixture_iterator_untouched(void) {
    size_t count = 0;
    fm_entry e;
    while (fm_iter_next(fx.it, &e) == FM_OK) count++;
    CHECK_MSG(count == 3, "fixture iterator yielded %zu of 3 entries: a failed call consumed some", count);
}

static void fixture_free(void) {
    OK(fm_view_release(fx.vw));
    OK(fm_iter_free(fx.it));
    OK(fm_map_free(fx.ii));
    OK(fm_map_free(fx.if_));
    OK(fm_map_free(fx.ss));
    OK(fm_map_free(fx.si));
    OK(fm_map_free(fx.sf));
    OK(fm_map_free(fx.ib));
}

/* ---- running a call in a child process ------------------------------------------ */

/* Runs `fn(arg)` in a child process; a crash or a failed check there is a
 * failure here. For calls that would read a bad pointer if the library
 * misbehaved. */
static void isolated(const char *what, void (*fn)(const void *), const void *arg) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        CHECK_MSG(false, "fork failed");
        return;
    }
    if (pid == 0) {
        long before = atomic_load(&check_failures);
        alarm(60); /* a call that waits forever fails instead of hanging the run */
        fn(arg);
        fflush(stderr);
        _exit(atomic_load(&check_failures) != before ? 1 : 0);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0) {
    }
    if (WIFSIGNALED(ws))
        CHECK_MSG(false, "%s: crashed with signal %d (the library read or wrote a pointer it must not touch)", what,
                  WTERMSIG(ws));
    else
        CHECK_MSG(WEXITSTATUS(ws) == 0, "%s: failed in the child process", what);
}

/* ---- bad handles ------------------------------------------------------------------ */

static int callback_calls;

static int32_t count_update(void *ctx, uint8_t *value, size_t len) {
    (void)ctx, (void)value, (void)len;
    callback_calls++;
    return 0;
}

static int32_t count_each(void *ctx, const fm_entry *e) {
    (void)ctx, (void)e;
    callback_calls++;
    return 0;
}

/* Every function that takes a handle, called with `h` and otherwise valid
 * arguments; outputs start at sentinels and must keep them on failure. */
#define UNTOUCHED(st, cond) \
    do {                    \
        if ((st) != FM_OK) CHECK(cond); \
    } while (0)

static fm_status h_map_free(fm_handle h) { return fm_map_free(h); }
static fm_status h_map_len(fm_handle h) {
    size_t n = SENT64;
    fm_status st = fm_map_len(h, &n);
    UNTOUCHED(st, n == SENT64);
    return st;
}
static fm_status h_map_clear(fm_handle h) { return fm_map_clear(h); }
static fm_status h_map_reserve(fm_handle h) { return fm_map_reserve(h, 10); }
static fm_status h_map_clone(fm_handle h) {
    fm_handle c = SENT64;
    fm_status st = fm_map_clone(h, &c);
    UNTOUCHED(st, c == SENT64);
    if (st == FM_OK) fm_map_free(c);
    return st;
}
static fm_status h_map_schema(fm_handle h) {
    uint32_t k = 77, v = 77;
    fm_status st = fm_map_schema(h, &k, &v);
    UNTOUCHED(st, k == 77 && v == 77);
    return st;
}
static fm_status h_map_stats(fm_handle h) {
    fm_stats s;
    memset(&s, 0x5A, sizeof s);
    fm_status st = fm_map_stats(h, &s);
    UNTOUCHED(st, s.len == SENT64 && s.writes == SENT64);
    return st;
}
static fm_status h_insert_i64_i64(fm_handle h) {
    bool r = true;
    fm_status st = fm_insert_i64_i64(h, 1, 1, &r);
    UNTOUCHED(st, r == true);
    return st;
}
static fm_status h_insert_i64_f64(fm_handle h) { return fm_insert_i64_f64(h, 1, 1.0, NULL); }
static fm_status h_insert_i64_buf(fm_handle h) { return fm_insert_i64_buf(h, 1, LIT("x"), NULL); }
static fm_status h_insert_buf_i64(fm_handle h) { return fm_insert_buf_i64(h, LIT("x"), 1, NULL); }
static fm_status h_insert_buf_f64(fm_handle h) { return fm_insert_buf_f64(h, LIT("x"), 1.0, NULL); }
static fm_status h_insert_buf_buf(fm_handle h) { return fm_insert_buf_buf(h, LIT("x"), LIT("y"), NULL); }
static fm_status h_get_i64_i64(fm_handle h) {
    int64_t v = (int64_t)SENT64;
    fm_status st = fm_get_i64_i64(h, 1, &v);
    UNTOUCHED(st, v == (int64_t)SENT64);
    return st;
}
static fm_status h_get_i64_f64(fm_handle h) {
    double v = -3.5;
    fm_status st = fm_get_i64_f64(h, 1, &v);
    UNTOUCHED(st, v == -3.5);
    return st;
}
static fm_status h_get_i64_buf(fm_handle h) {
    uint8_t b[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    size_t n = SENT64;
    fm_status st = fm_get_i64_buf(h, 1, b, sizeof b, &n);
    UNTOUCHED(st, n == SENT64 && b[0] == 9);
    return st;
}
static fm_status h_get_buf_i64(fm_handle h) {
    int64_t v = (int64_t)SENT64;
    fm_status st = fm_get_buf_i64(h, LIT("alpha"), &v);
    UNTOUCHED(st, v == (int64_t)SENT64);
    return st;
}
static fm_status h_get_buf_f64(fm_handle h) {
    double v = -3.5;
    fm_status st = fm_get_buf_f64(h, LIT("alpha"), &v);
    UNTOUCHED(st, v == -3.5);
    return st;
}
static fm_status h_get_buf_buf(fm_handle h) {
    uint8_t b[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    size_t n = SENT64;
    fm_status st = fm_get_buf_buf(h, LIT("alpha"), b, sizeof b, &n);
    UNTOUCHED(st, n == SENT64 && b[0] == 9);
    return st;
}
static fm_status h_contains_i64(fm_handle h) {
    bool f = true;
    fm_status st = fm_contains_i64(h, 1, &f);
    UNTOUCHED(st, f == true);
    return st;
}
static fm_status h_contains_buf(fm_handle h) {
    bool f = true;
    fm_status st = fm_contains_buf(h, LIT("alpha"), &f);
    UNTOUCHED(st, f == true);
    return st;
}
static fm_status h_remove_i64(fm_handle h) {
    bool r = true;
    fm_status st = fm_remove_i64(h, 1, &r);
    UNTOUCHED(st, r == true);
    return st;
}
static fm_status h_remove_buf(fm_handle h) { return fm_remove_buf(h, LIT("alpha"), NULL); }
static fm_status h_add_i64_i64(fm_handle h) {
    int64_t v = (int64_t)SENT64;
    fm_status st = fm_add_i64_i64(h, 1, 1, &v);
    UNTOUCHED(st, v == (int64_t)SENT64);
    return st;
}
static fm_status h_add_i64_f64(fm_handle h) { return fm_add_i64_f64(h, 1, 1.0, NULL); }
static fm_status h_add_buf_i64(fm_handle h) { return fm_add_buf_i64(h, LIT("alpha"), 1, NULL); }
static fm_status h_add_buf_f64(fm_handle h) {
    double v = -3.5;
    fm_status st = fm_add_buf_f64(h, LIT("alpha"), 1.0, &v);
    UNTOUCHED(st, v == -3.5);
    return st;
}
static fm_status h_update_i64(fm_handle h) { return fm_update_i64(h, 1, count_update, NULL); }
static fm_status h_update_buf(fm_handle h) { return fm_update_buf(h, LIT("alpha"), count_update, NULL); }
static fm_status h_insert_many_i64_i64(fm_handle h) {
    int64_t k[2] = {1, 2}, v[2] = {5, 6};
    size_t r = SENT64;
    fm_status st = fm_insert_many_i64_i64(h, k, v, 2, &r);
    UNTOUCHED(st, r == SENT64);
    return st;
}
static fm_status h_insert_many_i64_f64(fm_handle h) {
    int64_t k[1] = {1};
    double v[1] = {2.0};
    return fm_insert_many_i64_f64(h, k, v, 1, NULL);
}
static fm_status h_insert_many(fm_handle h) {
    fm_entry e = {.key_int = 1, .key_ptr = (const uint8_t *)"alpha", .key_len = 5, .value_int = 1,
                  .value_ptr = (const uint8_t *)"v", .value_len = 1};
    size_t r = SENT64;
    fm_status st = fm_insert_many(h, &e, 1, &r);
    UNTOUCHED(st, r == SENT64);
    return st;
}
static fm_status h_get_many_i64_i64(fm_handle h) {
    int64_t k[2] = {1, 2}, v[2] = {7, 7};
    uint8_t f[2] = {9, 9};
    size_t c = SENT64;
    fm_status st = fm_get_many_i64_i64(h, k, 2, v, f, &c);
    UNTOUCHED(st, v[0] == 7 && v[1] == 7 && f[0] == 9 && f[1] == 9 && c == SENT64);
    return st;
}
static fm_status h_get_many_i64_f64(fm_handle h) {
    int64_t k[1] = {1};
    double v[1] = {7.5};
    uint8_t f[1] = {9};
    fm_status st = fm_get_many_i64_f64(h, k, 1, v, f, NULL);
    UNTOUCHED(st, v[0] == 7.5 && f[0] == 9);
    return st;
}
static fm_status h_get_many_buf_i64(fm_handle h) {
    fm_buf k[1] = {{(const uint8_t *)"alpha", 5}};
    int64_t v[1] = {7};
    uint8_t f[1] = {9};
    size_t c = SENT64;
    fm_status st = fm_get_many_buf_i64(h, k, 1, v, f, &c);
    UNTOUCHED(st, v[0] == 7 && f[0] == 9 && c == SENT64);
    return st;
}
static fm_status h_remove_many_i64(fm_handle h) {
    int64_t k[2] = {1, 2};
    size_t r = SENT64;
    fm_status st = fm_remove_many_i64(h, k, 2, &r);
    UNTOUCHED(st, r == SENT64);
    return st;
}
static fm_status h_remove_many_buf(fm_handle h) {
    fm_buf k[1] = {{(const uint8_t *)"alpha", 5}};
    size_t r = SENT64;
    fm_status st = fm_remove_many_buf(h, k, 1, &r);
    UNTOUCHED(st, r == SENT64);
    return st;
}
static fm_status h_iter_new(fm_handle h) {
    fm_handle it = SENT64;
    fm_status st = fm_iter_new(h, &it);
    UNTOUCHED(st, it == SENT64);
    if (st == FM_OK) fm_iter_free(it);
    return st;
}
static fm_status h_for_each(fm_handle h) { return fm_for_each(h, count_each, NULL); }
static fm_status h_view_i64(fm_handle h) {
    fm_handle v = SENT64;
    const uint8_t *p = POISON;
    size_t n = SENT64;
    fm_status st = fm_view_i64(h, 1, &v, &p, &n);
    UNTOUCHED(st, v == SENT64 && p == POISON && n == SENT64);
    if (st == FM_OK) fm_view_release(v);
    return st;
}
static fm_status h_view_buf(fm_handle h) {
    fm_handle v = SENT64;
    fm_status st = fm_view_buf(h, LIT("alpha"), &v, NULL, NULL);
    UNTOUCHED(st, v == SENT64);
    if (st == FM_OK) fm_view_release(v);
    return st;
}
static fm_status h_export(fm_handle h) {
    fm_handle v = SENT64;
    const uint8_t *p = POISON;
    size_t n = SENT64;
    fm_status st = fm_export(h, &v, &p, &n);
    UNTOUCHED(st, v == SENT64 && p == POISON && n == SENT64);
    if (st == FM_OK) fm_view_release(v);
    return st;
}
static fm_status h_iter_len(fm_handle h) {
    size_t n = SENT64;
    fm_status st = fm_iter_len(h, &n);
    UNTOUCHED(st, n == SENT64);
    return st;
}
static fm_status h_iter_next(fm_handle h) {
    fm_entry e;
    memset(&e, 0x5A, sizeof e);
    fm_status st = fm_iter_next(h, &e);
    UNTOUCHED(st, e.key_int == (int64_t)SENT64 && e.value_len == SENT64);
    return st;
}
static fm_status h_iter_next_batch(fm_handle h) {
    fm_entry e[2];
    memset(e, 0x5A, sizeof e);
    size_t n = SENT64;
    fm_status st = fm_iter_next_batch(h, e, 2, &n);
    UNTOUCHED(st, n == SENT64 && e[0].key_int == (int64_t)SENT64);
    return st;
}
static fm_status h_iter_next_i64(fm_handle h) {
    int64_t k[2] = {7, 7}, v[2] = {7, 7};
    size_t n = SENT64;
    fm_status st = fm_iter_next_i64(h, k, v, 2, &n);
    UNTOUCHED(st, n == SENT64 && k[0] == 7 && v[0] == 7);
    return st;
}
static fm_status h_iter_free(fm_handle h) { return fm_iter_free(h); }
static fm_status h_view_bytes(fm_handle h) {
    const uint8_t *p = POISON;
    size_t n = SENT64;
    fm_status st = fm_view_bytes(h, &p, &n);
    UNTOUCHED(st, p == POISON && n == SENT64);
    return st;
}
static fm_status h_view_release(fm_handle h) { return fm_view_release(h); }
static fm_status h_bridge_status(fm_handle h) { return fm_bridge_status(h); }
static fm_status h_bridge_seq(fm_handle h) {
    uint64_t seq = SENT64;
    fm_status st = fm_bridge_seq(h, &seq);
    UNTOUCHED(st, seq == SENT64);
    return st;
}
static fm_status h_submit(fm_handle h) {
    fm_request r = {.op = FM_OP_LEN};
    fm_handle t = SENT64;
    fm_status st = fm_submit(h, &r, 1, 0, &t);
    UNTOUCHED(st, t == SENT64);
    if (st == FM_OK) fm_ticket_free(t);
    return st;
}
static fm_status h_subscribe(fm_handle h) {
    fm_handle sub = SENT64;
    fm_status st = fm_subscribe(h, 4, &sub);
    UNTOUCHED(st, sub == SENT64);
    if (st == FM_OK) fm_sub_free(sub);
    return st;
}
static fm_status h_ticket_poll(fm_handle h) {
    bool done = true;
    fm_status st = fm_ticket_poll(h, &done);
    UNTOUCHED(st, done == true);
    return st;
}
static fm_status h_ticket_wait(fm_handle h) { return fm_ticket_wait(h, 0); }
static fm_status h_ticket_results(fm_handle h) {
    fm_result r[2];
    memset(r, 0x5A, sizeof r);
    size_t n = SENT64;
    fm_status st = fm_ticket_results(h, r, 2, &n);
    UNTOUCHED(st, n == SENT64 && r[0].seq == SENT64);
    return st;
}
static fm_status h_ticket_free(fm_handle h) { return fm_ticket_free(h); }
static fm_status h_sub_next(fm_handle h) {
    fm_event e;
    memset(&e, 0x5A, sizeof e);
    fm_status st = fm_sub_next(h, 0, &e);
    UNTOUCHED(st, e.seq == SENT64);
    return st;
}
static fm_status h_sub_free(fm_handle h) { return fm_sub_free(h); }

/* What a call takes. A bridge map is a map, and the only kind of map the
 * bridge calls take. */
enum {
    TAKES_MAP = FM_HANDLE_MAP,
    TAKES_ITER = FM_HANDLE_ITERATOR,
    TAKES_VIEW = FM_HANDLE_VIEW,
    TAKES_SUB = FM_HANDLE_SUBSCRIPTION,
    TAKES_TICKET = FM_HANDLE_TICKET,
    TAKES_BRIDGE = 100,
};

/* Whether a live object of kind `have` (TAKES_BRIDGE for a bridge map) fits a call taking `takes`. */
static bool fits(int takes, int have) {
    return takes == have || (takes == TAKES_MAP && have == TAKES_BRIDGE);
}

static const struct hcall {
    const char *name;
    int takes;
    bool frees; /* handle 0 is a no-op returning FM_OK */
    fm_status (*fn)(fm_handle);
} HCALLS[] = {
#define MAPCALL(f) {#f, TAKES_MAP, false, h_##f}
    {"map_free", TAKES_MAP, true, h_map_free},
    MAPCALL(map_len), MAPCALL(map_clear), MAPCALL(map_reserve), MAPCALL(map_clone), MAPCALL(map_schema),
    MAPCALL(map_stats), MAPCALL(insert_i64_i64), MAPCALL(insert_i64_f64), MAPCALL(insert_i64_buf),
    MAPCALL(insert_buf_i64), MAPCALL(insert_buf_f64), MAPCALL(insert_buf_buf), MAPCALL(get_i64_i64),
    MAPCALL(get_i64_f64), MAPCALL(get_i64_buf), MAPCALL(get_buf_i64), MAPCALL(get_buf_f64), MAPCALL(get_buf_buf),
    MAPCALL(contains_i64), MAPCALL(contains_buf), MAPCALL(remove_i64), MAPCALL(remove_buf), MAPCALL(add_i64_i64),
    MAPCALL(add_i64_f64), MAPCALL(add_buf_i64), MAPCALL(add_buf_f64), MAPCALL(update_i64), MAPCALL(update_buf),
    MAPCALL(insert_many_i64_i64), MAPCALL(insert_many_i64_f64), MAPCALL(insert_many), MAPCALL(get_many_i64_i64),
    MAPCALL(get_many_i64_f64), MAPCALL(get_many_buf_i64), MAPCALL(remove_many_i64), MAPCALL(remove_many_buf),
    MAPCALL(iter_new), MAPCALL(for_each), MAPCALL(view_i64), MAPCALL(view_buf), MAPCALL(export),
#undef MAPCALL
    {"iter_len", TAKES_ITER, false, h_iter_len},
    {"iter_next", TAKES_ITER, false, h_iter_next},
    {"iter_next_batch", TAKES_ITER, false, h_iter_next_batch},
    {"iter_next_i64", TAKES_ITER, false, h_iter_next_i64},
    {"iter_free", TAKES_ITER, true, h_iter_free},
    {"view_bytes", TAKES_VIEW, false, h_view_bytes},
    {"view_release", TAKES_VIEW, true, h_view_release},
    {"bridge_status", TAKES_BRIDGE, false, h_bridge_status},
    {"bridge_seq", TAKES_BRIDGE, false, h_bridge_seq},
    {"submit", TAKES_BRIDGE, false, h_submit},
    {"subscribe", TAKES_BRIDGE, false, h_subscribe},
    {"ticket_poll", TAKES_TICKET, false, h_ticket_poll},
    {"ticket_wait", TAKES_TICKET, false, h_ticket_wait},
    {"ticket_results", TAKES_TICKET, false, h_ticket_results},
    {"ticket_free", TAKES_TICKET, true, h_ticket_free},
    {"sub_next", TAKES_SUB, false, h_sub_next},
    {"sub_free", TAKES_SUB, true, h_sub_free},
};

/* Calls everything with handle `h`; `strict`: only FM_INVALID_HANDLE will do
 * (else FM_WRONG_KIND is accepted too, for forgeries that may look like a
 * live handle of another kind). Handle 0 gives FM_OK to the free calls. */
static void all_calls_reject(fm_handle h, bool strict, const char *what) {
    for (size_t i = 0; i < COUNT(HCALLS); i++) {
        callback_calls = 0;
        long got = HCALLS[i].fn(h);
        bool ok = h == 0 && HCALLS[i].frees ? got == FM_OK
                  : strict                  ? got == FM_INVALID_HANDLE
                                            : got == FM_INVALID_HANDLE || got == FM_WRONG_KIND;
        CHECK_MSG(ok, "fm_%s(%s = %#" PRIx64 ") returned %ld (%s)", HCALLS[i].name, what, h, got,
                  fm_status_str((int32_t)got));
        CHECK_MSG(callback_calls == 0, "fm_%s called its callback with a bad handle", HCALLS[i].name);
        CHECK_U64(fm_census_total(), fx.census);
    }
    fixture_unchanged(what);
}

/* Whether `h` is one of the live handles of the test. */
static bool is_live(fm_handle h, const fm_handle *live, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (live[i] == h) return true;
    return false;
}

static void test_bad_handles(void) {
    /* A bridge map with a finished ticket and a subscription, for this part only. */
    fm_handle br = 0, tk = 0, sb = 0;
    fm_request len_req = {.op = FM_OP_LEN};
    OK(fm_bridge_new(FM_INT, FM_INT, 0, 16, &br));
    OK(fm_subscribe(br, 8, &sb));
    OK(fm_submit(br, &len_req, 1, -1, &tk));
    OK(fm_ticket_wait(tk, -1));
    fx.census = fm_census_total();
    const fm_handle live[] = {fx.ii, fx.if_, fx.ss, fx.si, fx.sf, fx.ib, fx.it, fx.vw, br, tk, sb};
    const int live_kind[] = {TAKES_MAP, TAKES_MAP,  TAKES_MAP,    TAKES_MAP,    TAKES_MAP, TAKES_MAP,
                             TAKES_ITER, TAKES_VIEW, TAKES_BRIDGE, TAKES_TICKET, TAKES_SUB};
    const char *kind_names[] = {"", "map", "iterator", "view", "subscription", "ticket"};

    all_calls_reject(0, true, "0");

    /* Stale and double-freed handles of each kind. */
    fm_handle m = 0, it = 0, v = 0, ex = 0, b2 = 0, t2 = 0, s2 = 0;
    OK(fm_map_new(FM_INT, FM_BYTES, 0, &m));
    OK(fm_insert_i64_buf(m, 1, LIT("abc"), NULL));
    OK(fm_iter_new(m, &it));
    OK(fm_view_i64(m, 1, &v, NULL, NULL));
    OK(fm_export(m, &ex, NULL, NULL));
    OK(fm_bridge_new(FM_STR, FM_STR, 0, 4, &b2));
    OK(fm_subscribe(b2, 4, &s2));
    OK(fm_submit(b2, &len_req, 1, -1, &t2));
    OK(fm_view_release(ex));
    OK(fm_view_release(v));
    OK(fm_iter_free(it));
    OK(fm_map_free(m));
    OK(fm_ticket_free(t2));
    OK(fm_sub_free(s2));
    OK(fm_map_free(b2));
    EXPECT(fm_map_free(m), FM_INVALID_HANDLE);
    EXPECT(fm_iter_free(it), FM_INVALID_HANDLE);
    EXPECT(fm_view_release(v), FM_INVALID_HANDLE);
    EXPECT(fm_view_release(ex), FM_INVALID_HANDLE);
    EXPECT(fm_ticket_free(t2), FM_INVALID_HANDLE);
    EXPECT(fm_sub_free(s2), FM_INVALID_HANDLE);
    EXPECT(fm_map_free(b2), FM_INVALID_HANDLE);
    CHECK(strlen(fm_last_error()) > 0);
    all_calls_reject(m, true, "stale map");
    all_calls_reject(it, true, "stale iterator");
    all_calls_reject(v, true, "stale view");
    all_calls_reject(ex, true, "stale export view");
    all_calls_reject(b2, true, "stale bridge map");
    all_calls_reject(t2, true, "stale ticket");
    all_calls_reject(s2, true, "stale subscription");
    fixture_unchanged("stale handles");

    /* A slot reused by a new object never revives its old handle. */
    fm_handle again = 0;
    OK(fm_map_new(FM_INT, FM_INT, 0, &again));
    CHECK(again != m);
    int64_t out = 5;
    EXPECT(fm_get_i64_i64(m, 1, &out), FM_INVALID_HANDLE);
    EXPECT(fm_map_free(m), FM_INVALID_HANDLE);
    OK(fm_map_len(again, &(size_t){0}));
    OK(fm_map_free(again));

    /* Many create/free cycles: every handle is new, non-zero, and dead once freed. */
    enum { CYCLES = 3000 };
    fm_handle *seen = malloc(CYCLES * sizeof *seen);
    if (CHECK(seen != NULL)) {
        for (int i = 0; i < CYCLES; i++) {
            OK(fm_map_new(FM_INT, FM_INT, 0, &seen[i]));
            CHECK(seen[i] != 0);
            OK(fm_map_free(seen[i]));
        }
        for (int i = 0; i < CYCLES; i++) {
            for (int j = 0; j < i; j++)
                if (seen[j] == seen[i]) {
                    CHECK_MSG(false, "handle %#" PRIx64 " handed out twice", seen[i]);
                    break;
                }
        }
        for (int i = 0; i < CYCLES; i += 97) EXPECT(fm_map_len(seen[i], &(size_t){0}), FM_INVALID_HANDLE);
        free(seen);
    }

    /* Forged: random bits. */
    uint64_t rng = 0x1234567887654321ull;
    for (int i = 0; i < 200; i++) {
        fm_handle h = check_rand(&rng);
        if (h == 0 || is_live(h, live, COUNT(live))) continue;
        all_calls_reject(h, false, "random bits");
    }
    /* Forged from live handles: off by one, and every single bit flipped
     * (whatever the layout, that covers the generation, tag, kind and index
     * fields). */
    for (size_t l = 0; l < COUNT(live); l++) {
        const fm_handle near[] = {live[l] + 1, live[l] - 1, live[l] + ((fm_handle)1 << 40),
                                  live[l] - ((fm_handle)1 << 40), ~live[l]};
        for (size_t i = 0; i < COUNT(near); i++)
            if (!is_live(near[i], live, COUNT(live))) all_calls_reject(near[i], false, "near a live handle");
        for (int bit = 0; bit < 64; bit++) {
            fm_handle h = live[l] ^ ((fm_handle)1 << bit);
            if (h == 0 || is_live(h, live, COUNT(live))) continue;
            all_calls_reject(h, false, "live handle with one bit flipped");
        }
    }
    fixture_unchanged("forged handles");

    /* Wrong kind: a live handle where another kind is expected (a direct
     * map where a bridge map is). */
    for (size_t i = 0; i < COUNT(HCALLS); i++) {
        for (size_t l = 0; l < COUNT(live); l++) {
            int kind = live_kind[l];
            if (fits(HCALLS[i].takes, kind)) continue;
            callback_calls = 0;
            long got = HCALLS[i].fn(live[l]);
            CHECK_MSG(got == FM_WRONG_KIND, "fm_%s(live %s handle) returned %ld (%s), expected FM_WRONG_KIND",
                      HCALLS[i].name, kind == TAKES_BRIDGE ? "bridge map" : kind_names[kind], got,
                      fm_status_str((int32_t)got));
            CHECK(callback_calls == 0);
        }
    }
    fixture_unchanged("wrong-kind handles");
    /* The bridge objects were left alone too. */
    fm_event ev;
    EXPECT(fm_sub_next(sb, 0, &ev), FM_TIMEOUT);
    fm_result res;
    size_t n = 0;
    OK(fm_ticket_results(tk, &res, 1, &n));
    CHECK(n == 1 && res.status == FM_OK && res.len == 0);
    OK(fm_ticket_free(tk));
    OK(fm_sub_free(sb));
    OK(fm_map_free(br));
    fx.census = fm_census_total();
}

/* ---- NULL pointers --------------------------------------------------------------- */

static void test_null_arguments(void) {
    fm_handle ii = fx.ii, ss = fx.ss, ib = fx.ib;
    uint64_t census = fm_census_total();

    /* Required out-parameters. */
    EXPECT(fm_map_new(FM_INT, FM_INT, 0, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_map_len(ii, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_map_clone(ii, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_map_stats(ii, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_get_i64_i64(ii, 1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_get_i64_f64(ii, 1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_get_buf_i64(fx.si, LIT("alpha"), NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_get_buf_f64(fx.sf, LIT("alpha"), NULL), FM_NULL_ARGUMENT);
    uint8_t buf[8];
    EXPECT(fm_get_i64_buf(ib, 1, buf, sizeof buf, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_get_buf_buf(ss, LIT("alpha"), buf, sizeof buf, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_contains_i64(ii, 1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_contains_buf(ss, LIT("alpha"), NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_iter_new(ii, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_iter_len(fx.it, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_iter_next(fx.it, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_iter_next_batch(fx.it, NULL, 4, &(size_t){0}), FM_NULL_ARGUMENT);
    fm_entry ents[4];
    EXPECT(fm_iter_next_batch(fx.it, ents, 4, NULL), FM_NULL_ARGUMENT);
    int64_t ks[4], vs[4];
    size_t n = SENT64;
    EXPECT(fm_iter_next_i64(fx.it, NULL, vs, 4, &n), FM_NULL_ARGUMENT);
    EXPECT(fm_iter_next_i64(fx.it, ks, NULL, 4, &n), FM_NULL_ARGUMENT);
    EXPECT(fm_iter_next_i64(fx.it, ks, vs, 4, NULL), FM_NULL_ARGUMENT);
    CHECK_U64(n, SENT64);
    EXPECT(fm_view_i64(ib, 1, NULL, NULL, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_view_buf(ss, LIT("alpha"), NULL, NULL, NULL), FM_NULL_ARGUMENT);
    const uint8_t *p = POISON;
    EXPECT(fm_view_bytes(fx.vw, NULL, &n), FM_NULL_ARGUMENT);
    EXPECT(fm_view_bytes(fx.vw, &p, NULL), FM_NULL_ARGUMENT);
    CHECK(p == POISON && n == SENT64);
    EXPECT(fm_export(ii, NULL, NULL, NULL), FM_NULL_ARGUMENT);
    uint8_t data[64] = "FMAP";
    fm_handle out = SENT64;
    EXPECT(fm_import(data, sizeof data, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_import(NULL, 30, &out), FM_NULL_ARGUMENT);
    EXPECT(fm_import(NULL, 0, &out), FM_CORRUPT_DATA); /* NULL with length 0: empty input */
    CHECK_U64(out, SENT64);
    EXPECT(fm_census(FM_HANDLE_MAP, NULL), FM_NULL_ARGUMENT);
    /* Required callbacks. */
    EXPECT(fm_update_i64(ii, 1, NULL, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_update_buf(ss, LIT("alpha"), NULL, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_for_each(ii, NULL, NULL), FM_NULL_ARGUMENT);
    /* Input pointers that are NULL with a non-zero length. */
    EXPECT(fm_insert_i64_buf(ib, 9, NULL, 3, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_insert_buf_i64(fx.si, NULL, 3, 1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_insert_buf_f64(fx.sf, NULL, 3, 1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_add_buf_i64(fx.si, NULL, 3, 1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_add_buf_f64(fx.sf, NULL, 3, 1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_get_buf_i64(fx.si, NULL, 5, &(int64_t){0}), FM_NULL_ARGUMENT);
    EXPECT(fm_get_buf_f64(fx.sf, NULL, 5, &(double){0}), FM_NULL_ARGUMENT);
    EXPECT(fm_insert_buf_buf(ss, NULL, 3, LIT("v"), NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_insert_buf_buf(ss, LIT("gamma"), NULL, 2, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_get_buf_buf(ss, NULL, 5, buf, sizeof buf, &n), FM_NULL_ARGUMENT);
    EXPECT(fm_contains_buf(ss, NULL, 5, &(bool){false}), FM_NULL_ARGUMENT);
    EXPECT(fm_remove_buf(ss, NULL, 5, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_update_buf(ss, NULL, 5, count_update, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_view_buf(ss, NULL, 5, &out, NULL, NULL), FM_NULL_ARGUMENT);
    CHECK_U64(out, SENT64);
    /* A NULL output buffer with room claimed for the value. */
    n = SENT64;
    EXPECT(fm_get_i64_buf(ib, 1, NULL, 8, &n), FM_NULL_ARGUMENT);
    /* Batches: NULL arrays with n > 0. */
    int64_t k2[2] = {1, 2}, v2[2] = {100, 200};
    double f2[2] = {1, 2};
    size_t r = SENT64;
    EXPECT(fm_insert_many_i64_i64(ii, NULL, v2, 2, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_insert_many_i64_i64(ii, k2, NULL, 2, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_insert_many_i64_f64(fx.if_, NULL, f2, 2, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_insert_many_i64_f64(fx.if_, k2, NULL, 2, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_insert_many(ii, NULL, 2, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_get_many_i64_i64(ii, NULL, 2, v2, NULL, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_get_many_i64_i64(ii, k2, 2, NULL, NULL, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_get_many_i64_f64(fx.if_, k2, 2, NULL, NULL, &r), FM_NULL_ARGUMENT);
    fm_buf kb[2] = {{(const uint8_t *)"alpha", 5}, {NULL, 4}};
    int64_t vb[2] = {7, 7};
    EXPECT(fm_get_many_buf_i64(fx.si, NULL, 2, vb, NULL, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_get_many_buf_i64(fx.si, kb, 1, NULL, NULL, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_get_many_buf_i64(fx.si, kb, 2, vb, NULL, &r), FM_NULL_ARGUMENT);
    CHECK(vb[0] == 7 && vb[1] == 7);
    EXPECT(fm_remove_many_i64(ii, NULL, 2, &r), FM_NULL_ARGUMENT);
    EXPECT(fm_remove_many_buf(ss, NULL, 2, &r), FM_NULL_ARGUMENT);
    /* A NULL key inside a batch: the whole call fails, nothing is removed. */
    EXPECT(fm_remove_many_buf(ss, kb, 2, &r), FM_NULL_ARGUMENT);
    fm_entry bad[2] = {{.key_ptr = (const uint8_t *)"k1", .key_len = 2, .value_ptr = (const uint8_t *)"v", .value_len = 1},
                       {.key_ptr = NULL, .key_len = 2, .value_ptr = (const uint8_t *)"v", .value_len = 1}};
    EXPECT(fm_insert_many(ss, bad, 2, &r), FM_NULL_ARGUMENT);
    bad[1].key_ptr = (const uint8_t *)"k2";
    bad[1].value_ptr = NULL;
    EXPECT(fm_insert_many(ss, bad, 2, &r), FM_NULL_ARGUMENT);
    CHECK_U64(r, SENT64);
    CHECK_U64(fm_census_total(), census);
    fixture_unchanged("NULL arguments");
    fixture_iterator_untouched();
    OK(fm_iter_free(fx.it));
    OK(fm_iter_new(fx.ii, &fx.it));

    /* Optional pointers: NULL works and the call takes effect. */
    fm_handle m = 0;
    OK(fm_map_new(FM_STR, FM_INT, 0, &m));
    OK(fm_insert_buf_i64(m, LIT("a"), 1, NULL));
    OK(fm_insert_buf_i64(m, NULL, 0, 2, NULL)); /* NULL with length 0: the empty key */
    OK(fm_add_buf_i64(m, LIT("a"), 5, NULL));
    OK(fm_remove_buf(m, LIT("zzz"), NULL));
    int64_t got = 0;
    OK(fm_get_buf_i64(m, LIT("a"), &got));
    CHECK_I64(got, 6);
    OK(fm_get_buf_i64(m, NULL, 0, &got));
    CHECK_I64(got, 2);
    OK(fm_map_schema(m, NULL, NULL));
    OK(fm_update_buf(m, LIT("a"), count_update, NULL)); /* ctx may be anything */
    fm_buf keys[2] = {{(const uint8_t *)"a", 1}, {NULL, 0}};
    int64_t vals[2] = {0, 0};
    OK(fm_get_many_buf_i64(m, keys, 2, vals, NULL, NULL));
    CHECK(vals[0] == 6 && vals[1] == 2);
    fm_handle v = 0;
    OK(fm_export(m, &v, NULL, NULL));
    OK(fm_view_release(v));
    OK(fm_remove_many_buf(m, keys, 2, NULL));
    size_t len = 9;
    OK(fm_map_len(m, &len));
    CHECK_U64(len, 0);
    OK(fm_map_free(m));
    OK(fm_map_new(FM_INT, FM_FLOAT, 0, &m));
    OK(fm_insert_i64_f64(m, 1, 1.5, NULL));
    OK(fm_add_i64_f64(m, 1, 1.0, NULL));
    OK(fm_insert_many_i64_f64(m, k2, f2, 2, NULL));
    double fv[2];
    OK(fm_get_many_i64_f64(m, k2, 2, fv, NULL, NULL));
    CHECK(fv[0] == 1 && fv[1] == 2);
    OK(fm_remove_i64(m, 1, NULL));
    OK(fm_remove_many_i64(m, k2, 2, NULL));
    OK(fm_map_free(m));
    CHECK_U64(fm_census_total(), census);

    /* Bridge calls: required pointers; nothing queued, no handle made. */
    fm_handle b = 0, t = SENT64, sub = SENT64;
    OK(fm_bridge_new(FM_STR, FM_INT, 0, 8, &b));
    census = fm_census_total();
    EXPECT(fm_bridge_new(FM_INT, FM_INT, 0, 8, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_bridge_seq(b, NULL), FM_NULL_ARGUMENT);
    fm_request rq = {.op = FM_OP_INSERT, .key_ptr = (const uint8_t *)"k", .key_len = 1, .value_int = 5};
    fm_request rq_null[2] = {rq, {.op = FM_OP_INSERT, .key_ptr = NULL, .key_len = 3, .value_int = 5}};
    EXPECT(fm_submit(b, NULL, 1, 0, &t), FM_NULL_ARGUMENT);
    EXPECT(fm_submit(b, &rq, 1, 0, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_submit(b, rq_null, 2, 0, &t), FM_NULL_ARGUMENT);
    EXPECT(fm_subscribe(b, 4, NULL), FM_NULL_ARGUMENT);
    CHECK(t == SENT64);
    CHECK_U64(fm_census_total(), census);
    len = 9;
    OK(fm_map_len(b, &len)); /* runs after anything queued before it */
    CHECK_U64(len, 0);
    uint64_t seq = 9;
    OK(fm_bridge_seq(b, &seq));
    CHECK_U64(seq, 0);
    OK(fm_submit(b, &rq, 1, -1, &t));
    OK(fm_subscribe(b, 4, &sub));
    EXPECT(fm_ticket_poll(t, NULL), FM_NULL_ARGUMENT);
    OK(fm_ticket_wait(t, -1));
    n = SENT64;
    EXPECT(fm_ticket_results(t, NULL, 1, &n), FM_NULL_ARGUMENT);
    CHECK_U64(n, SENT64);
    fm_result res[1];
    EXPECT(fm_ticket_results(t, res, 1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_sub_next(sub, 0, NULL), FM_NULL_ARGUMENT);
    OK(fm_ticket_free(t));
    OK(fm_sub_free(sub));
    OK(fm_map_free(b));
}

/* ---- wrong key / value kinds -------------------------------------------------------- */

enum need { ANY = 0, NEED_INT = 1, NEED_FLOAT = 2, NEED_BUF = 3 };

static int32_t touch_cb(void *ctx, uint8_t *v, size_t n) {
    (void)ctx, (void)v, (void)n;
    return 0;
}

typedef struct kind_op {
    const char *name;
    int key;   /* NEED_INT or NEED_BUF */
    int val;   /* ANY, NEED_INT, NEED_FLOAT or NEED_BUF */
    bool iter; /* takes an iterator of the map */
    fm_status (*fn)(fm_handle);
} kind_op;

static fm_status k_insert_i64_i64(fm_handle m) { return fm_insert_i64_i64(m, 1, 1, NULL); }
static fm_status k_insert_i64_f64(fm_handle m) { return fm_insert_i64_f64(m, 1, 1, NULL); }
static fm_status k_insert_i64_buf(fm_handle m) { return fm_insert_i64_buf(m, 1, LIT("v"), NULL); }
static fm_status k_insert_buf_i64(fm_handle m) { return fm_insert_buf_i64(m, LIT("k"), 1, NULL); }
static fm_status k_insert_buf_f64(fm_handle m) { return fm_insert_buf_f64(m, LIT("k"), 1, NULL); }
static fm_status k_insert_buf_buf(fm_handle m) { return fm_insert_buf_buf(m, LIT("k"), LIT("v"), NULL); }
static fm_status k_get_i64_i64(fm_handle m) { int64_t v; return fm_get_i64_i64(m, 1, &v); }
static fm_status k_get_i64_f64(fm_handle m) { double v; return fm_get_i64_f64(m, 1, &v); }
static fm_status k_get_i64_buf(fm_handle m) { uint8_t b[8]; size_t n; return fm_get_i64_buf(m, 1, b, 8, &n); }
static fm_status k_get_buf_i64(fm_handle m) { int64_t v; return fm_get_buf_i64(m, LIT("k"), &v); }
static fm_status k_get_buf_f64(fm_handle m) { double v; return fm_get_buf_f64(m, LIT("k"), &v); }
static fm_status k_get_buf_buf(fm_handle m) { uint8_t b[8]; size_t n; return fm_get_buf_buf(m, LIT("k"), b, 8, &n); }
static fm_status k_contains_i64(fm_handle m) { bool f; return fm_contains_i64(m, 1, &f); }
static fm_status k_contains_buf(fm_handle m) { bool f; return fm_contains_buf(m, LIT("k"), &f); }
static fm_status k_add_i64_i64(fm_handle m) { return fm_add_i64_i64(m, 1, 1, NULL); }
static fm_status k_add_i64_f64(fm_handle m) { return fm_add_i64_f64(m, 1, 1, NULL); }
static fm_status k_add_buf_i64(fm_handle m) { return fm_add_buf_i64(m, LIT("k"), 1, NULL); }
static fm_status k_add_buf_f64(fm_handle m) { return fm_add_buf_f64(m, LIT("k"), 1, NULL); }
static fm_status k_update_i64(fm_handle m) { return fm_update_i64(m, 1, touch_cb, NULL); }
static fm_status k_update_buf(fm_handle m) { return fm_update_buf(m, LIT("k"), touch_cb, NULL); }
static fm_status k_view_i64(fm_handle m) {
    fm_handle v = 0;
    fm_status st = fm_view_i64(m, 1, &v, NULL, NULL);
    if (st == FM_OK) fm_view_release(v);
    return st;
}
static fm_status k_view_buf(fm_handle m) {
    fm_handle v = 0;
    fm_status st = fm_view_buf(m, LIT("k"), &v, NULL, NULL);
    if (st == FM_OK) fm_view_release(v);
    return st;
}
static fm_status k_insert_many_i64_i64(fm_handle m) {
    int64_t k = 1, v = 1;
    return fm_insert_many_i64_i64(m, &k, &v, 1, NULL);
}
static fm_status k_insert_many_i64_f64(fm_handle m) {
    int64_t k = 1;
    double v = 1;
    return fm_insert_many_i64_f64(m, &k, &v, 1, NULL);
}
static fm_status k_get_many_i64_i64(fm_handle m) {
    int64_t k = 1, v;
    return fm_get_many_i64_i64(m, &k, 1, &v, NULL, NULL);
}
static fm_status k_get_many_i64_f64(fm_handle m) {
    int64_t k = 1;
    double v;
    return fm_get_many_i64_f64(m, &k, 1, &v, NULL, NULL);
}
static fm_status k_get_many_buf_i64(fm_handle m) {
    fm_buf k = {(const uint8_t *)"k", 1};
    int64_t v;
    return fm_get_many_buf_i64(m, &k, 1, &v, NULL, NULL);
}
static fm_status k_remove_i64(fm_handle m) { return fm_remove_i64(m, 1, NULL); }
static fm_status k_remove_buf(fm_handle m) { return fm_remove_buf(m, LIT("k"), NULL); }
static fm_status k_remove_many_i64(fm_handle m) {
    int64_t k = 1;
    return fm_remove_many_i64(m, &k, 1, NULL);
}
static fm_status k_remove_many_buf(fm_handle m) {
    fm_buf k = {(const uint8_t *)"k", 1};
    return fm_remove_many_buf(m, &k, 1, NULL);
}
static fm_status k_iter_next_i64(fm_handle it) {
    int64_t k[2], v[2];
    size_t n;
    fm_status st = fm_iter_next_i64(it, k, v, 2, &n);
    return st == FM_END ? FM_OK : st;
}

/* Removals last: matching ones change the map, which is fine by then. */
static const kind_op KIND_OPS[] = {
    {"insert_i64_i64", NEED_INT, NEED_INT, false, k_insert_i64_i64},
    {"insert_i64_f64", NEED_INT, NEED_FLOAT, false, k_insert_i64_f64},
    {"insert_i64_buf", NEED_INT, NEED_BUF, false, k_insert_i64_buf},
    {"insert_buf_i64", NEED_BUF, NEED_INT, false, k_insert_buf_i64},
    {"insert_buf_f64", NEED_BUF, NEED_FLOAT, false, k_insert_buf_f64},
    {"insert_buf_buf", NEED_BUF, NEED_BUF, false, k_insert_buf_buf},
    {"get_i64_i64", NEED_INT, NEED_INT, false, k_get_i64_i64},
    {"get_i64_f64", NEED_INT, NEED_FLOAT, false, k_get_i64_f64},
    {"get_i64_buf", NEED_INT, NEED_BUF, false, k_get_i64_buf},
    {"get_buf_i64", NEED_BUF, NEED_INT, false, k_get_buf_i64},
    {"get_buf_f64", NEED_BUF, NEED_FLOAT, false, k_get_buf_f64},
    {"get_buf_buf", NEED_BUF, NEED_BUF, false, k_get_buf_buf},
    {"contains_i64", NEED_INT, ANY, false, k_contains_i64},
    {"contains_buf", NEED_BUF, ANY, false, k_contains_buf},
    {"add_i64_i64", NEED_INT, NEED_INT, false, k_add_i64_i64},
    {"add_i64_f64", NEED_INT, NEED_FLOAT, false, k_add_i64_f64},
    {"add_buf_i64", NEED_BUF, NEED_INT, false, k_add_buf_i64},
    {"add_buf_f64", NEED_BUF, NEED_FLOAT, false, k_add_buf_f64},
    {"update_i64", NEED_INT, ANY, false, k_update_i64},
    {"update_buf", NEED_BUF, ANY, false, k_update_buf},
    {"view_i64", NEED_INT, NEED_BUF, false, k_view_i64},
    {"view_buf", NEED_BUF, NEED_BUF, false, k_view_buf},
    {"insert_many_i64_i64", NEED_INT, NEED_INT, false, k_insert_many_i64_i64},
    {"insert_many_i64_f64", NEED_INT, NEED_FLOAT, false, k_insert_many_i64_f64},
    {"get_many_i64_i64", NEED_INT, NEED_INT, false, k_get_many_i64_i64},
    {"get_many_i64_f64", NEED_INT, NEED_FLOAT, false, k_get_many_i64_f64},
    {"get_many_buf_i64", NEED_BUF, NEED_INT, false, k_get_many_buf_i64},
    {"iter_next_i64", NEED_INT, ANY /* INT or FLOAT, below */, true, k_iter_next_i64},
    {"remove_i64", NEED_INT, ANY, false, k_remove_i64},
    {"remove_buf", NEED_BUF, ANY, false, k_remove_buf},
    {"remove_many_i64", NEED_INT, ANY, false, k_remove_many_i64},
    {"remove_many_buf", NEED_BUF, ANY, false, k_remove_many_buf},
};

static bool op_fits(const kind_op *op, uint32_t kk, uint32_t vk) {
    bool key_ok = op->key == NEED_INT ? kk == FM_INT : kk != FM_INT;
    bool val_ok = op->val == ANY          ? true
                  : op->val == NEED_INT   ? vk == FM_INT
                  : op->val == NEED_FLOAT ? vk == FM_FLOAT
                                          : vk == FM_STR || vk == FM_BYTES;
    if (op->iter) val_ok = vk == FM_INT || vk == FM_FLOAT;
    return key_ok && val_ok;
}

static void test_wrong_kinds(void) {
    const uint32_t kinds[] = {FM_INT, FM_FLOAT, FM_STR, FM_BYTES};
    for (size_t a = 0; a < COUNT(kinds); a++) {
        if (kinds[a] == FM_FLOAT) continue;
        for (size_t b = 0; b < COUNT(kinds); b++) {
            uint32_t kk = kinds[a], vk = kinds[b];
            fm_handle m = 0;
            if (!OK(fm_map_new(kk, vk, 0, &m))) continue;
            /* One entry, put there by the fitting insert. */
            for (size_t i = 0; i < 6; i++)
                if (op_fits(&KIND_OPS[i], kk, vk)) OK(KIND_OPS[i].fn(m));
            uint64_t d = digest(m);
            size_t len = 0;
            OK(fm_map_len(m, &len));
            CHECK_U64(len, 1);
            /* Everything that does not fit: FM_WRONG_KIND, nothing changes. */
            for (size_t i = 0; i < COUNT(KIND_OPS); i++) {
                const kind_op *op = &KIND_OPS[i];
                if (op_fits(op, kk, vk)) continue;
                fm_handle target = m;
                if (op->iter) OK(fm_iter_new(m, &target));
                long got = op->fn(target);
                CHECK_MSG(got == FM_WRONG_KIND, "fm_%s on a %u->%u map returned %ld (%s)", op->name, kk, vk, got,
                          fm_status_str((int32_t)got));
                if (op->iter) OK(fm_iter_free(target));
            }
            CHECK_U64(digest(m), d);
            /* Everything that fits works (FM_OK, or FM_NOT_FOUND once removed). */
            for (size_t i = 0; i < COUNT(KIND_OPS); i++) {
                const kind_op *op = &KIND_OPS[i];
                if (!op_fits(op, kk, vk)) continue;
                fm_handle target = m;
                if (op->iter) OK(fm_iter_new(m, &target));
                long got = op->fn(target);
                CHECK_MSG(got == FM_OK || got == FM_NOT_FOUND, "fm_%s on a %u->%u map returned %ld (%s)", op->name,
                          kk, vk, got, fm_status_str((int32_t)got));
                if (op->iter) OK(fm_iter_free(target));
            }
            OK(fm_map_free(m));
        }
    }
    fixture_unchanged("wrong kinds");
}

/* ---- invalid UTF-8 ------------------------------------------------------------------ */

typedef struct bad_utf8 {
    const char *what;
    const char *s;
    size_t n;
} bad_utf8;

#define BAD(what, lit) {what, lit, sizeof(lit) - 1}
static const bad_utf8 BAD_UTF8[] = {
    BAD("overlong NUL", "\xC0\x80"),
    BAD("overlong 2-byte", "\xC1\xBF"),
    BAD("overlong 3-byte", "\xE0\x80\xAF"),
    BAD("overlong 4-byte", "\xF0\x80\x80\xAF"),
    BAD("overlong U+FFFF as 4 bytes", "\xF0\x8F\xBF\xBF"),
    BAD("lone high surrogate U+D800", "\xED\xA0\x80"),
    BAD("lone low surrogate U+DFFF", "\xED\xBF\xBF"),
    BAD("surrogate pair as CESU-8 (Java's modified UTF-8 emoji)", "\xED\xA0\xBD\xED\xB8\x80"),
    BAD("truncated 2-byte", "\xC3"),
    BAD("truncated 3-byte", "\xE2\x82"),
    BAD("truncated 4-byte", "\xF0\x9F\x98"),
    BAD("truncated at the end", "abc\xE2\x82"),
    BAD("lone continuation byte", "\x80"),
    BAD("continuation byte in ASCII", "ab\xBF" "cd"),
    BAD("byte 0xFF", "\xFF"),
    BAD("byte 0xFE", "\xFE"),
    BAD("above U+10FFFF", "\xF4\x90\x80\x80"),
    BAD("5-byte form", "\xF8\x88\x80\x80\x80"),
    BAD("start byte 0xF5", "\xF5\x80\x80\x80"),
    BAD("valid then invalid", "h\xC3\xA9llo\xC0\x80"),
    BAD("missing continuation", "\xE2\x28\xA1"),
};

/* Edge cases that are valid UTF-8 and must be accepted. */
static const bad_utf8 GOOD_UTF8[] = {
    BAD("NUL", "\0"),          BAD("U+0080", "\xC2\x80"),         BAD("U+07FF", "\xDF\xBF"),
    BAD("U+0800", "\xE0\xA0\x80"), BAD("U+D7FF", "\xED\x9F\xBF"), BAD("U+E000", "\xEE\x80\x80"),
    BAD("U+FFFF", "\xEF\xBF\xBF"), BAD("U+10000", "\xF0\x90\x80\x80"), BAD("U+10FFFF", "\xF4\x8F\xBF\xBF"),
};

static void test_invalid_utf8(void) {
    fm_handle si = 0, is = 0, bb = 0, sf = 0;
    OK(fm_map_new(FM_STR, FM_INT, 0, &si));
    OK(fm_map_new(FM_INT, FM_STR, 0, &is));
    OK(fm_map_new(FM_BYTES, FM_BYTES, 0, &bb));
    OK(fm_map_new(FM_STR, FM_FLOAT, 0, &sf));
    OK(fm_insert_buf_i64(si, LIT("ok"), 1, NULL));
    OK(fm_insert_i64_buf(is, 1, LIT("ok"), NULL));
    OK(fm_insert_buf_f64(sf, LIT("ok"), 1, NULL));
    fm_handle ss = fx.ss;
    uint64_t d_si = digest(si), d_is = digest(is), d_sf = digest(sf);
    for (size_t i = 0; i < COUNT(BAD_UTF8); i++) {
        const uint8_t *s = (const uint8_t *)BAD_UTF8[i].s;
        size_t n = BAD_UTF8[i].n;
        const char *what = BAD_UTF8[i].what;
        long before = atomic_load(&check_failures);
        /* Stores. */
        EXPECT(fm_insert_buf_i64(si, s, n, 5, NULL), FM_INVALID_UTF8);
        EXPECT(fm_insert_buf_f64(sf, s, n, 5, NULL), FM_INVALID_UTF8);
        EXPECT(fm_insert_buf_buf(ss, s, n, LIT("v"), NULL), FM_INVALID_UTF8);
        EXPECT(fm_insert_buf_buf(ss, LIT("alpha"), s, n, NULL), FM_INVALID_UTF8);
        EXPECT(fm_insert_buf_buf(ss, LIT("new"), s, n, NULL), FM_INVALID_UTF8);
        EXPECT(fm_insert_i64_buf(is, 1, s, n, NULL), FM_INVALID_UTF8);
        EXPECT(fm_insert_i64_buf(is, 2, s, n, NULL), FM_INVALID_UTF8);
        EXPECT(fm_add_buf_i64(si, s, n, 1, NULL), FM_INVALID_UTF8);
        EXPECT(fm_add_buf_f64(sf, s, n, 1, NULL), FM_INVALID_UTF8);
        CHECK(strstr(fm_last_error(), "UTF-8") != NULL);
        /* Lookups and removals with an invalid key. */
        int64_t v = 77;
        EXPECT(fm_get_buf_i64(si, s, n, &v), FM_INVALID_UTF8);
        CHECK_I64(v, 77);
        bool f = true;
        EXPECT(fm_contains_buf(si, s, n, &f), FM_INVALID_UTF8);
        CHECK(f == true);
        EXPECT(fm_remove_buf(si, s, n, NULL), FM_INVALID_UTF8);
        EXPECT(fm_update_buf(si, s, n, count_update, NULL), FM_INVALID_UTF8);
        fm_handle view = SENT64;
        EXPECT(fm_view_buf(ss, s, n, &view, NULL, NULL), FM_INVALID_UTF8);
        CHECK_U64(view, SENT64);
        /* Batches: one bad entry among good ones fails the whole call. */
        fm_entry es[3] = {
            {.key_ptr = (const uint8_t *)"good1", .key_len = 5, .value_ptr = (const uint8_t *)"v", .value_len = 1},
            {.key_ptr = (const uint8_t *)"good2", .key_len = 5, .value_ptr = s, .value_len = n},
            {.key_ptr = (const uint8_t *)"good3", .key_len = 5, .value_ptr = (const uint8_t *)"v", .value_len = 1},
        };
        size_t r = SENT64;
        EXPECT(fm_insert_many(ss, es, 3, &r), FM_INVALID_UTF8);
        es[1].value_ptr = (const uint8_t *)"v";
        es[1].value_len = 1;
        es[2].key_ptr = s;
        es[2].key_len = n;
        EXPECT(fm_insert_many(ss, es, 3, &r), FM_INVALID_UTF8);
        fm_entry ie[2] = {{.key_int = 10, .value_ptr = (const uint8_t *)"fine", .value_len = 4},
                          {.key_int = 11, .value_ptr = s, .value_len = n}};
        EXPECT(fm_insert_many(is, ie, 2, &r), FM_INVALID_UTF8);
        CHECK_U64(r, SENT64);
        fm_buf keys[2] = {{(const uint8_t *)"ok", 2}, {s, n}};
        EXPECT(fm_remove_many_buf(si, keys, 2, &r), FM_INVALID_UTF8);
        CHECK_U64(r, SENT64);
        int64_t vals[2] = {-9, -9};
        uint8_t found[2] = {7, 7};
        size_t fc = SENT64;
        EXPECT(fm_get_many_buf_i64(si, keys, 2, vals, found, &fc), FM_INVALID_UTF8);
        CHECK_MSG(vals[0] == -9 && found[0] == 7 && fc == SENT64,
                  "fm_get_many_buf_i64 failed but wrote outputs (values[0]=%" PRId64 ", found[0]=%d)", vals[0],
                  found[0]);
        /* Nothing was stored or removed anywhere. */
        CHECK_U64(digest(si), d_si);
        CHECK_U64(digest(is), d_is);
        CHECK_U64(digest(sf), d_sf);
        CHECK_U64(digest(ss), fx.d_ss);
        /* The same bytes are fine as BYTES. */
        bool replaced = true;
        OK(fm_insert_buf_buf(bb, s, n, s, n, &replaced));
        CHECK(!replaced);
        uint8_t back[16];
        size_t bn = 0;
        OK(fm_get_buf_buf(bb, s, n, back, sizeof back, &bn));
        CHECK_MEM(back, bn, s, n);
        if (atomic_load(&check_failures) != before) fprintf(stderr, "  ^ with invalid UTF-8: %s\n", what);
    }
    /* Valid edge cases are accepted and round-trip, as keys and values. */
    for (size_t i = 0; i < COUNT(GOOD_UTF8); i++) {
        const uint8_t *s = (const uint8_t *)GOOD_UTF8[i].s;
        size_t n = GOOD_UTF8[i].n;
        bool replaced = true;
        CHECK_MSG(fm_insert_buf_buf(ss, s, n, s, n, &replaced) == FM_OK && !replaced, "valid UTF-8 %s refused",
                  GOOD_UTF8[i].what);
        uint8_t back[8];
        size_t bn = 0;
        OK(fm_get_buf_buf(ss, s, n, back, sizeof back, &bn));
        CHECK_MEM(back, bn, s, n);
        OK(fm_remove_buf(ss, s, n, NULL));
    }
    OK(fm_map_free(si));
    OK(fm_map_free(is));
    OK(fm_map_free(bb));
    OK(fm_map_free(sf));
    fixture_unchanged("invalid UTF-8");
}

/* ---- absurd lengths ------------------------------------------------------------------- */

static size_t absurd; /* the length under test, set before each child runs */

static void expect_invalid_argument(fm_status st, const char *call) {
    CHECK_MSG(st == FM_INVALID_ARGUMENT, "%s with length %#zx returned %d (%s), expected FM_INVALID_ARGUMENT", call,
              absurd, st, fm_status_str(st));
}

#define ABSURD_CASE(name, call)                                  \
    static void name(const void *arg) {                          \
        (void)arg;                                               \
        size_t L = absurd;                                       \
        size_t out_n = SENT64;                                   \
        fm_handle out_h = SENT64;                                \
        (void)out_n, (void)out_h;                                \
        expect_invalid_argument(call, #call);                    \
        CHECK_U64(out_h, SENT64);                                \
        fixture_unchanged(#call);                                \
    }

ABSURD_CASE(a_insert_i64_buf, fm_insert_i64_buf(fx.ib, 5, POISON, L, NULL))
ABSURD_CASE(a_insert_buf_i64, fm_insert_buf_i64(fx.si, POISON, L, 1, NULL))
ABSURD_CASE(a_insert_buf_f64, fm_insert_buf_f64(fx.sf, POISON, L, 1, NULL))
ABSURD_CASE(a_insert_buf_buf_key, fm_insert_buf_buf(fx.ss, POISON, L, LIT("v"), NULL))
ABSURD_CASE(a_insert_buf_buf_val, fm_insert_buf_buf(fx.ss, LIT("alpha"), POISON, L, NULL))
ABSURD_CASE(a_get_buf_i64, fm_get_buf_i64(fx.si, POISON, L, (int64_t *)&out_n))
ABSURD_CASE(a_get_buf_f64, fm_get_buf_f64(fx.sf, POISON, L, (double *)&out_n))
ABSURD_CASE(a_get_buf_buf_key, fm_get_buf_buf(fx.ss, POISON, L, (uint8_t *)&out_h, 8, &out_n))
ABSURD_CASE(a_get_buf_buf_cap, fm_get_buf_buf(fx.ss, LIT("alpha"), (uint8_t *)POISON, L, &out_n))
ABSURD_CASE(a_get_i64_buf_cap, fm_get_i64_buf(fx.ib, 1, (uint8_t *)POISON, L, &out_n))
ABSURD_CASE(a_contains_buf, fm_contains_buf(fx.ss, POISON, L, (bool *)&out_n))
ABSURD_CASE(a_remove_buf, fm_remove_buf(fx.ss, POISON, L, NULL))
ABSURD_CASE(a_add_buf_i64, fm_add_buf_i64(fx.si, POISON, L, 1, NULL))
ABSURD_CASE(a_add_buf_f64, fm_add_buf_f64(fx.sf, POISON, L, 1, NULL))
ABSURD_CASE(a_update_buf, fm_update_buf(fx.ss, POISON, L, count_update, NULL))
ABSURD_CASE(a_view_buf, fm_view_buf(fx.ss, POISON, L, &out_h, NULL, NULL))
ABSURD_CASE(a_import, fm_import(POISON, L, &out_h))
ABSURD_CASE(a_insert_many_i64_i64, fm_insert_many_i64_i64(fx.ii, (const int64_t *)POISON, (const int64_t *)POISON, L, NULL))
ABSURD_CASE(a_insert_many_i64_f64, fm_insert_many_i64_f64(fx.if_, (const int64_t *)POISON, (const double *)POISON, L, NULL))
ABSURD_CASE(a_insert_many, fm_insert_many(fx.ss, (const fm_entry *)POISON, L, NULL))
ABSURD_CASE(a_get_many_i64_i64, fm_get_many_i64_i64(fx.ii, (const int64_t *)POISON, L, (int64_t *)POISON, NULL, NULL))
ABSURD_CASE(a_get_many_i64_f64, fm_get_many_i64_f64(fx.if_, (const int64_t *)POISON, L, (double *)POISON, NULL, NULL))
ABSURD_CASE(a_get_many_buf_i64, fm_get_many_buf_i64(fx.si, (const fm_buf *)POISON, L, (int64_t *)POISON, NULL, NULL))
ABSURD_CASE(a_remove_many_i64, fm_remove_many_i64(fx.ii, (const int64_t *)POISON, L, NULL))
ABSURD_CASE(a_remove_many_buf, fm_remove_many_buf(fx.ss, (const fm_buf *)POISON, L, NULL))
ABSURD_CASE(a_iter_next_batch, fm_iter_next_batch(fx.it, (fm_entry *)POISON, L, &out_n))
ABSURD_CASE(a_iter_next_i64, fm_iter_next_i64(fx.it, (int64_t *)POISON, (int64_t *)POISON, L, &out_n))

/* Bridge submissions and results. Each child makes its own bridge map (an
 * owner thread does not survive fork) with one finished ticket, and closes it. */
static fm_handle abs_bridge, abs_ticket;

static void child_bridge_open(void) {
    fm_request len_req = {.op = FM_OP_LEN};
    OK(fm_bridge_new(FM_STR, FM_STR, 0, 8, &abs_bridge));
    OK(fm_submit(abs_bridge, &len_req, 1, -1, &abs_ticket));
    OK(fm_ticket_wait(abs_ticket, -1));
}

static void child_bridge_close(void) {
    size_t len = 9;
    OK(fm_map_len(abs_bridge, &len)); /* after anything a bad call might have queued */
    CHECK_U64(len, 0);
    OK(fm_ticket_free(abs_ticket));
    OK(fm_map_free(abs_bridge));
}

static void a_submit_count(const void *arg) {
    (void)arg;
    child_bridge_open();
    fm_handle t = SENT64;
    expect_invalid_argument(fm_submit(abs_bridge, (const fm_request *)POISON, absurd, 0, &t), "fm_submit(n)");
    CHECK_U64(t, SENT64);
    child_bridge_close();
}
static void a_submit_key_len(const void *arg) {
    (void)arg;
    child_bridge_open();
    fm_request r[2] = {{.op = FM_OP_INSERT, .key_ptr = (const uint8_t *)"k", .key_len = 1, .value_ptr = (const uint8_t *)"v", .value_len = 1},
                       {.op = FM_OP_GET, .key_ptr = POISON, .key_len = absurd}};
    fm_handle t = SENT64;
    expect_invalid_argument(fm_submit(abs_bridge, r, 2, 0, &t), "fm_submit(requests[1].key_len)");
    CHECK_U64(t, SENT64);
    child_bridge_close();
}
static void a_submit_value_len(const void *arg) {
    (void)arg;
    child_bridge_open();
    fm_request r = {.op = FM_OP_INSERT, .key_ptr = (const uint8_t *)"k", .key_len = 1, .value_ptr = POISON, .value_len = absurd};
    fm_handle t = SENT64;
    expect_invalid_argument(fm_submit(abs_bridge, &r, 1, 0, &t), "fm_submit(requests[0].value_len)");
    CHECK_U64(t, SENT64);
    child_bridge_close();
}
static void a_ticket_results_cap(const void *arg) {
    (void)arg;
    child_bridge_open();
    size_t n = SENT64;
    expect_invalid_argument(fm_ticket_results(abs_ticket, (fm_result *)POISON, absurd, &n), "fm_ticket_results(cap)");
    child_bridge_close();
}

/* Lengths inside batch elements. */
static void a_entry_key_len(const void *arg) {
    (void)arg;
    fm_entry e[2] = {{.key_ptr = (const uint8_t *)"k", .key_len = 1, .value_ptr = (const uint8_t *)"v", .value_len = 1},
                     {.key_ptr = POISON, .key_len = absurd, .value_ptr = (const uint8_t *)"v", .value_len = 1}};
    expect_invalid_argument(fm_insert_many(fx.ss, e, 2, NULL), "fm_insert_many(entry key_len)");
    fixture_unchanged("fm_insert_many with an absurd key_len");
}
static void a_entry_value_len(const void *arg) {
    (void)arg;
    fm_entry e[1] = {{.key_int = 9, .value_ptr = POISON, .value_len = absurd}};
    expect_invalid_argument(fm_insert_many(fx.ib, e, 1, NULL), "fm_insert_many(entry value_len)");
    fixture_unchanged("fm_insert_many with an absurd value_len");
}
static void a_buf_len_get_many(const void *arg) {
    (void)arg;
    fm_buf k[2] = {{(const uint8_t *)"alpha", 5}, {POISON, absurd}};
    int64_t v[2] = {3, 3};
    expect_invalid_argument(fm_get_many_buf_i64(fx.si, k, 2, v, NULL, NULL), "fm_get_many_buf_i64(keys[1].len)");
    CHECK(v[0] == 3 && v[1] == 3);
    fixture_unchanged("fm_get_many_buf_i64 with an absurd key length");
}
static void a_buf_len_remove_many(const void *arg) {
    (void)arg;
    fm_buf k[2] = {{(const uint8_t *)"alpha", 5}, {POISON, absurd}};
    expect_invalid_argument(fm_remove_many_buf(fx.ss, k, 2, NULL), "fm_remove_many_buf(keys[1].len)");
    fixture_unchanged("fm_remove_many_buf with an absurd key length");
}

static const struct {
    const char *name;
    void (*fn)(const void *);
} ABSURD_CASES[] = {
#define A(f) {#f, f}
    A(a_insert_i64_buf), A(a_insert_buf_i64), A(a_insert_buf_f64), A(a_insert_buf_buf_key), A(a_insert_buf_buf_val),
    A(a_get_buf_i64), A(a_get_buf_f64), A(a_get_buf_buf_key), A(a_get_buf_buf_cap), A(a_get_i64_buf_cap),
    A(a_contains_buf), A(a_remove_buf), A(a_add_buf_i64), A(a_add_buf_f64), A(a_update_buf), A(a_view_buf),
    A(a_import), A(a_insert_many_i64_i64), A(a_insert_many_i64_f64), A(a_insert_many), A(a_get_many_i64_i64),
    A(a_get_many_i64_f64), A(a_get_many_buf_i64), A(a_remove_many_i64), A(a_remove_many_buf), A(a_iter_next_batch),
    A(a_iter_next_i64), A(a_entry_key_len), A(a_entry_value_len), A(a_buf_len_get_many), A(a_buf_len_remove_many),
    A(a_submit_count), A(a_submit_key_len), A(a_submit_value_len), A(a_ticket_results_cap),
#undef A
};

/* Children are forked with no bridge map alive: only the forking thread
 * exists in a child, and a bridge's owner thread would be missing there. */
static void test_absurd_lengths(void) {
    /* Just above the documented 4 GiB - 1 limit, and far above it. */
    const size_t lengths[] = {SIZE_MAX, (size_t)1 << 40, (size_t)UINT32_MAX + 1};
    for (size_t l = 0; l < COUNT(lengths); l++) {
        absurd = lengths[l];
        for (size_t i = 0; i < COUNT(ABSURD_CASES); i++) {
            char what[96];
            snprintf(what, sizeof what, "%s, length %#zx", ABSURD_CASES[i].name, absurd);
            isolated(what, ABSURD_CASES[i].fn, NULL);
        }
    }
    fixture_unchanged("absurd lengths");
}

/* ---- map creation and sizing ----------------------------------------------------------- */

/* Threads of this process (Linux), to see owner threads come and go. */
static int thread_count(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    if (f) fclose(f);
    return n;
}

static void test_creation_arguments(void) {
    uint64_t census = fm_census_total();
    int threads = thread_count();
    const uint32_t bad_kinds[] = {0, 5, 6, 7, 255, 256, 0x80000001u, UINT32_MAX};
    for (size_t i = 0; i < COUNT(bad_kinds); i++) {
        fm_handle m = SENT64;
        EXPECT(fm_map_new(bad_kinds[i], FM_INT, 0, &m), FM_INVALID_ARGUMENT);
        EXPECT(fm_map_new(FM_INT, bad_kinds[i], 0, &m), FM_INVALID_ARGUMENT);
        EXPECT(fm_map_new(bad_kinds[i], bad_kinds[i], 0, &m), FM_INVALID_ARGUMENT);
        CHECK_U64(m, SENT64);
    }
    /* FLOAT is a value kind only. */
    const uint32_t vals[] = {FM_INT, FM_FLOAT, FM_STR, FM_BYTES};
    for (size_t i = 0; i < COUNT(vals); i++) {
        fm_handle m = SENT64;
        EXPECT(fm_map_new(FM_FLOAT, vals[i], 0, &m), FM_INVALID_ARGUMENT);
        CHECK_U64(m, SENT64);
    }
    CHECK(strstr(fm_last_error(), "FLOAT") != NULL);
    /* Absurd capacities: refused, or out of memory; never a map. */
    fm_handle m = SENT64;
    EXPECT(fm_map_new(FM_INT, FM_INT, SIZE_MAX, &m), FM_INVALID_ARGUMENT);
    EXPECT_ANY(fm_map_new(FM_INT, FM_INT, (size_t)1 << 40, &m), FM_INVALID_ARGUMENT, FM_OUT_OF_MEMORY);
    EXPECT_ANY(fm_map_new(FM_STR, FM_BYTES, (size_t)1 << 50, &m), FM_INVALID_ARGUMENT, FM_OUT_OF_MEMORY);
    EXPECT(fm_map_new(FM_STR, FM_BYTES, SIZE_MAX / 2, &m), FM_INVALID_ARGUMENT);
    CHECK_U64(m, SENT64);
    CHECK_U64(fm_census_total(), census);
    /* Bridge maps: the same kinds and capacities, and a queue of 1 to 16M
     * requests; a refused bridge leaves no owner thread behind. */
    const size_t bad_queues[] = {0, ((size_t)1 << 24) + 1, SIZE_MAX};
    for (size_t i = 0; i < COUNT(bad_queues); i++) EXPECT(fm_bridge_new(FM_INT, FM_INT, 0, bad_queues[i], &m), FM_INVALID_ARGUMENT);
    EXPECT(fm_bridge_new(FM_FLOAT, FM_INT, 0, 8, &m), FM_INVALID_ARGUMENT);
    EXPECT(fm_bridge_new(0, FM_INT, 0, 8, &m), FM_INVALID_ARGUMENT);
    EXPECT(fm_bridge_new(FM_INT, 9, 0, 8, &m), FM_INVALID_ARGUMENT);
    EXPECT(fm_bridge_new(FM_INT, FM_INT, SIZE_MAX, 8, &m), FM_INVALID_ARGUMENT);
    CHECK_U64(m, SENT64);
    CHECK_U64(fm_census_total(), census);
    CHECK_MSG(thread_count() == threads, "threads: %d before, %d after refused bridges", threads, thread_count());
    fm_handle b = 0;
    OK(fm_bridge_new(FM_INT, FM_INT, 0, 1, &b));
    CHECK_MSG(thread_count() == threads + 1, "a bridge map has one owner thread (%d -> %d)", threads, thread_count());
    OK(fm_map_free(b));
    CHECK_MSG(thread_count() == threads, "the owner thread outlived fm_map_free (%d -> %d)", threads, thread_count());

    /* reserve: the same, and the map is unchanged and still usable. */
    EXPECT(fm_map_reserve(fx.ii, SIZE_MAX), FM_INVALID_ARGUMENT);
    EXPECT_ANY(fm_map_reserve(fx.ii, (size_t)1 << 40), FM_INVALID_ARGUMENT, FM_OUT_OF_MEMORY);
    fixture_unchanged("absurd capacities");
    OK(fm_insert_i64_i64(fx.ii, 99, 99, NULL));
    OK(fm_remove_i64(fx.ii, 99, NULL));
}

/* ---- buffer too small -------------------------------------------------------------------- */

static void too_small_protocol(fm_handle m, bool int_key) {
    const uint8_t value[10] = "0123456789";
    OK(int_key ? fm_insert_i64_buf(m, 7, value, 10, NULL) : fm_insert_buf_buf(m, LIT("seven"), value, 10, NULL));
#define GET(buf, cap, lenp) \
    (int_key ? fm_get_i64_buf(m, 7, buf, cap, lenp) : fm_get_buf_buf(m, LIT("seven"), buf, cap, lenp))
    /* No buffer at all: the needed length comes back. */
    size_t need = SENT64;
    EXPECT(GET(NULL, 0, &need), FM_BUFFER_TOO_SMALL);
    CHECK_U64(need, 10);
    CHECK(strlen(fm_last_error()) > 0);
    /* One byte short: buffer untouched. */
    uint8_t buf[32];
    memset(buf, 0xAA, sizeof buf);
    need = SENT64;
    EXPECT(GET(buf, 9, &need), FM_BUFFER_TOO_SMALL);
    CHECK_U64(need, 10);
    bool untouched = true;
    for (size_t i = 0; i < sizeof buf; i++) untouched &= buf[i] == 0xAA;
    CHECK_MSG(untouched, "buffer written on FM_BUFFER_TOO_SMALL");
    /* Retry with exactly the size: the bytes, and nothing past them. */
    size_t got = SENT64;
    OK(GET(buf, need, &got));
    CHECK_MEM(buf, got, value, 10);
    CHECK(buf[10] == 0xAA);
    /* A bigger buffer: still exactly the value, no terminator added. */
    memset(buf, 0xAA, sizeof buf);
    OK(GET(buf, sizeof buf, &got));
    CHECK_MEM(buf, got, value, 10);
    CHECK(buf[10] == 0xAA);
    /* Absent key: FM_NOT_FOUND, the length untouched. */
    got = SENT64;
    EXPECT(int_key ? fm_get_i64_buf(m, 8, buf, sizeof buf, &got) : fm_get_buf_buf(m, LIT("eight"), buf, sizeof buf, &got),
           FM_NOT_FOUND);
    CHECK_U64(got, SENT64);
    /* An empty value fits in no buffer at all. */
    OK(int_key ? fm_insert_i64_buf(m, 7, NULL, 0, NULL) : fm_insert_buf_buf(m, LIT("seven"), NULL, 0, NULL));
    got = SENT64;
    OK(GET(NULL, 0, &got));
    CHECK_U64(got, 0);
#undef GET
}

static void test_buffer_too_small(void) {
    fm_handle m = 0;
    OK(fm_map_new(FM_INT, FM_BYTES, 0, &m));
    too_small_protocol(m, true);
    OK(fm_map_free(m));
    OK(fm_map_new(FM_BYTES, FM_STR, 0, &m));
    too_small_protocol(m, false);
    OK(fm_map_free(m));
}

/* ---- corrupted imports ---------------------------------------------------------------------- */

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32), written here from the definition. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    static bool ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = true;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* A hand-built export (format version 1, little-endian). */
typedef struct enc {
    uint8_t d[1024];
    size_t n;
} enc;

static void e_bytes(enc *e, const void *p, size_t n) {
    if (e->n + n <= sizeof e->d) memcpy(e->d + e->n, p, n);
    e->n += n;
}
static void e_le(enc *e, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        uint8_t b = (uint8_t)(v >> (8 * i));
        e_bytes(e, &b, 1);
    }
}
static void e_header(enc *e, const char *magic, uint16_t version, uint8_t kk, uint8_t vk, uint64_t count) {
    e->n = 0;
    e_bytes(e, magic, 4);
    e_le(e, version, 2);
    e_le(e, kk, 1);
    e_le(e, vk, 1);
    e_le(e, count, 8);
}
static void e_blob(enc *e, const char *s, size_t n) {
    e_le(e, n, 4);
    e_bytes(e, s, n);
}
#define E_BLOB(e, lit) e_blob((e), (lit), sizeof(lit) - 1)
static void e_crc(enc *e) {
    e_le(e, crc32_ieee(e->d, e->n), 4);
}
/* Recomputes the trailer of a whole export after a change. */
static void fix_crc(uint8_t *d, size_t n) {
    uint32_t c = crc32_ieee(d, n - 4);
    for (int i = 0; i < 4; i++) d[n - 4 + i] = (uint8_t)(c >> (8 * i));
}

/* Imports `d`; expects `want` (or `alt`, if not FM_OK) and no map unless FM_OK. */
static fm_status import_expect(const uint8_t *d, size_t n, fm_status want, fm_status alt, const char *what) {
    uint64_t census = fm_census_total();
    fm_handle m = SENT64;
    fm_status st = fm_import(d, n, &m);
    CHECK_MSG(st == want || st == alt, "import of %s returned %d (%s), expected %d (%s)", what, st, fm_status_str(st),
              want, fm_status_str(want));
    if (st == FM_OK) {
        OK(fm_map_free(m));
    } else {
        CHECK_MSG(m == SENT64, "failed import of %s wrote a handle", what);
        CHECK_MSG(fm_census_total() == census, "failed import of %s left a handle alive", what);
        if (st != FM_UNSUPPORTED_VERSION) CHECK(strlen(fm_last_error()) > 0);
    }
    return st;
}

/* Every single-bit flip and every truncation of a real export fails. */
static void corrupt_real_export(fm_handle m, const char *name) {
    fm_handle v = 0;
    const uint8_t *p = NULL;
    size_t n = 0;
    if (!OK(fm_export(m, &v, &p, &n))) return;
    uint8_t *d = malloc(n + 8);
    if (!CHECK(d != NULL)) return;
    memcpy(d, p, n);
    import_expect(d, n, FM_OK, FM_OK, name); /* the control */
    CHECK_U64(crc32_ieee(d, n - 4), (uint32_t)d[n - 4] | (uint32_t)d[n - 3] << 8 | (uint32_t)d[n - 2] << 16 |
                                        (uint32_t)d[n - 1] << 24);
    char what[96];
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            d[i] ^= (uint8_t)(1u << bit);
            snprintf(what, sizeof what, "%s with bit %d of byte %zu flipped", name, bit, i);
            /* A flipped version field may be read as an unknown version. */
            import_expect(d, n, FM_CORRUPT_DATA, (i == 4 || i == 5) ? FM_UNSUPPORTED_VERSION : FM_CORRUPT_DATA, what);
            d[i] ^= (uint8_t)(1u << bit);
        }
    }
    for (size_t len = 0; len < n; len++) {
        snprintf(what, sizeof what, "%s truncated to %zu of %zu bytes", name, len, n);
        import_expect(d, len, FM_CORRUPT_DATA, FM_CORRUPT_DATA, what);
    }
    /* Extra bytes after the trailer. */
    memcpy(d + n, "\0\0\0\0\0\0\0\0", 8);
    import_expect(d, n + 1, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "an export with one byte appended");
    import_expect(d, n + 8, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "an export with eight bytes appended");
    /* ... even with a checksum that covers them. */
    fix_crc(d, n + 4);
    import_expect(d, n + 4, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "an export with trailing bytes and a matching CRC");
    free(d);
    OK(fm_view_release(v));
}

static void test_corrupt_imports(void) {
    /* The CRC written here is the standard one. */
    CHECK_U64(crc32_ieee((const uint8_t *)"123456789", 9), 0xCBF43926u);

    /* Real exports of several schemas. */
    fm_handle m = 0;
    OK(fm_map_new(FM_STR, FM_BYTES, 0, &m));
    OK(fm_insert_buf_buf(m, LIT("\xF0\x9F\x98\x80"), LIT("\0\1"), NULL));
    OK(fm_insert_buf_buf(m, LIT(""), NULL, 0, NULL));
    OK(fm_insert_buf_buf(m, LIT("k\0y"), LIT("value"), NULL));
    corrupt_real_export(m, "STR->BYTES export");
    OK(fm_map_free(m));
    OK(fm_map_new(FM_INT, FM_INT, 0, &m));
    OK(fm_insert_i64_i64(m, 0, -1, NULL));
    OK(fm_insert_i64_i64(m, INT64_MIN, INT64_MAX, NULL));
    corrupt_real_export(m, "INT->INT export");
    OK(fm_map_free(m));
    OK(fm_map_new(FM_BYTES, FM_FLOAT, 0, &m));
    OK(fm_insert_buf_f64(m, LIT("\xff"), 2.5, NULL));
    corrupt_real_export(m, "BYTES->FLOAT export");
    OK(fm_map_free(m));
    OK(fm_map_new(FM_INT, FM_STR, 0, &m));
    corrupt_real_export(m, "empty INT->STR export");
    OK(fm_map_free(m));

    /* Hand-built data with a valid CRC: the parser's own checks. First the
     * controls, which must import, so the failures below are about content. */
    enc e;
    e_header(&e, "FMAP", 1, FM_STR, FM_BYTES, 2);
    E_BLOB(&e, "a");
    E_BLOB(&e, "x");
    E_BLOB(&e, "\xF0\x9F\x98\x80");
    E_BLOB(&e, "");
    e_crc(&e);
    {
        fm_handle got = 0;
        if (OK(fm_import(e.d, e.n, &got))) {
            uint8_t buf[8];
            size_t n = 0;
            OK(fm_get_buf_buf(got, LIT("a"), buf, sizeof buf, &n));
            CHECK_MEM(buf, n, "x", 1);
            OK(fm_get_buf_buf(got, LIT("\xF0\x9F\x98\x80"), buf, sizeof buf, &n));
            CHECK_U64(n, 0);
            OK(fm_map_len(got, &n));
            CHECK_U64(n, 2);
            OK(fm_map_free(got));
        }
    }
    e_header(&e, "FMAP", 1, FM_INT, FM_FLOAT, 0);
    e_crc(&e);
    import_expect(e.d, e.n, FM_OK, FM_OK, "an empty INT->FLOAT map");

    /* Header fields. */
    e_header(&e, "FMAX", 1, FM_INT, FM_INT, 0);
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "bad magic");
    e_header(&e, "fmap", 1, FM_INT, FM_INT, 0);
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "lower-case magic");
    const uint16_t future[] = {2, 3, 0x100, 0xFFFF};
    for (size_t i = 0; i < COUNT(future); i++) {
        e_header(&e, "FMAP", future[i], FM_INT, FM_INT, 0);
        e_crc(&e);
        import_expect(e.d, e.n, FM_UNSUPPORTED_VERSION, FM_UNSUPPORTED_VERSION, "a future format version");
        CHECK(strlen(fm_last_error()) > 0);
    }
    e_header(&e, "FMAP", 0, FM_INT, FM_INT, 0);
    e_crc(&e);
    import_expect(e.d, e.n, FM_UNSUPPORTED_VERSION, FM_CORRUPT_DATA, "format version 0");
    const uint8_t bad_keys[] = {0, FM_FLOAT, 5, 6, 255};
    for (size_t i = 0; i < COUNT(bad_keys); i++) {
        e_header(&e, "FMAP", 1, bad_keys[i], FM_INT, 0);
        e_crc(&e);
        import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "a bad key kind");
    }
    const uint8_t bad_vals[] = {0, 5, 6, 255};
    for (size_t i = 0; i < COUNT(bad_vals); i++) {
        e_header(&e, "FMAP", 1, FM_INT, bad_vals[i], 0);
        e_crc(&e);
        import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "a bad value kind");
    }

    /* Counts that do not match the entries. */
    const uint64_t counts[] = {0, 1, 3, 4, 100, (uint64_t)1 << 32, (uint64_t)1 << 40, (uint64_t)1 << 61, UINT64_MAX};
    for (size_t i = 0; i < COUNT(counts); i++) {
        e_header(&e, "FMAP", 1, FM_INT, FM_INT, counts[i]);
        e_le(&e, 1, 8), e_le(&e, 10, 8);
        e_le(&e, 2, 8), e_le(&e, 20, 8);
        e_crc(&e);
        char what[64];
        snprintf(what, sizeof what, "2 entries with count %" PRIu64, counts[i]);
        import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, what);
    }
    /* Blob lengths beyond the data, and cut in the middle. */
    const uint32_t blob_lens[] = {2, 5, 100, 0x7FFFFFFF, 0xFFFFFFFF};
    for (size_t i = 0; i < COUNT(blob_lens); i++) {
        e_header(&e, "FMAP", 1, FM_BYTES, FM_INT, 1);
        e_le(&e, blob_lens[i], 4);
        e_bytes(&e, "k", 1);
        e_le(&e, 7, 8);
        e_crc(&e);
        import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "a key length beyond the data");
    }
    e_header(&e, "FMAP", 1, FM_BYTES, FM_BYTES, 1);
    E_BLOB(&e, "k");
    e_le(&e, 3, 2); /* half a length */
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "a value length cut short");
    e_header(&e, "FMAP", 1, FM_INT, FM_INT, 1);
    e_le(&e, 1, 8);
    e_le(&e, 10, 7); /* a 7-byte integer */
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "an integer value cut short");
    /* The header's kinds do not match the entries' shapes. */
    e_header(&e, "FMAP", 1, FM_STR, FM_STR, 1);
    e_le(&e, 1, 8), e_le(&e, 10, 8);
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "INT entries under a STR->STR header");
    /* Duplicate keys. */
    e_header(&e, "FMAP", 1, FM_INT, FM_INT, 2);
    e_le(&e, 5, 8), e_le(&e, 1, 8);
    e_le(&e, 5, 8), e_le(&e, 2, 8);
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "a duplicate INT key");
    CHECK(strstr(fm_last_error(), "duplicate") != NULL);
    e_header(&e, "FMAP", 1, FM_STR, FM_INT, 3);
    E_BLOB(&e, "same"), e_le(&e, 1, 8);
    E_BLOB(&e, "other"), e_le(&e, 2, 8);
    E_BLOB(&e, "same"), e_le(&e, 3, 8);
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "a duplicate STR key");
    e_header(&e, "FMAP", 1, FM_BYTES, FM_BYTES, 2);
    E_BLOB(&e, ""), E_BLOB(&e, "a");
    E_BLOB(&e, ""), E_BLOB(&e, "b");
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "a duplicate empty BYTES key");
    /* Invalid UTF-8 in STR keys and values (and the same bytes as BYTES: fine). */
    for (size_t i = 0; i < COUNT(BAD_UTF8); i++) {
        const bad_utf8 *b = &BAD_UTF8[i];
        e_header(&e, "FMAP", 1, FM_STR, FM_INT, 2);
        E_BLOB(&e, "fine"), e_le(&e, 1, 8);
        e_blob(&e, b->s, b->n), e_le(&e, 2, 8);
        e_crc(&e);
        import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, b->what);
        e_header(&e, "FMAP", 1, FM_INT, FM_STR, 2);
        e_le(&e, 1, 8), E_BLOB(&e, "fine");
        e_le(&e, 2, 8), e_blob(&e, b->s, b->n);
        e_crc(&e);
        import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, b->what);
        e_header(&e, "FMAP", 1, FM_BYTES, FM_BYTES, 1);
        e_blob(&e, b->s, b->n), e_blob(&e, b->s, b->n);
        e_crc(&e);
        import_expect(e.d, e.n, FM_OK, FM_OK, "invalid UTF-8 as BYTES");
    }
    /* Trailing bytes inside the checksummed part. */
    e_header(&e, "FMAP", 1, FM_INT, FM_INT, 1);
    e_le(&e, 1, 8), e_le(&e, 10, 8);
    e_bytes(&e, "\0", 1);
    e_crc(&e);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "one trailing byte");
    /* Too short to be anything, and a checksum that does not match. */
    import_expect((const uint8_t *)"FMAP", 4, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "4 bytes");
    import_expect((const uint8_t *)"", 0, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "0 bytes");
    e_header(&e, "FMAP", 1, FM_INT, FM_INT, 0);
    e_le(&e, 0, 4);
    import_expect(e.d, e.n, FM_CORRUPT_DATA, FM_CORRUPT_DATA, "a zero checksum");

    /* Random mutations with a recomputed checksum: any outcome but a crash,
     * a half-built map or a leaked handle. */
    OK(fm_map_new(FM_STR, FM_STR, 0, &m));
    OK(fm_insert_buf_buf(m, LIT("one"), LIT("1"), NULL));
    OK(fm_insert_buf_buf(m, LIT("two"), LIT("\xC3\xA9"), NULL));
    OK(fm_insert_buf_buf(m, LIT(""), LIT(""), NULL));
    fm_handle v = 0;
    const uint8_t *p = NULL;
    size_t n = 0;
    OK(fm_export(m, &v, &p, &n));
    OK(fm_map_free(m));
    uint8_t *d = malloc(n);
    uint64_t rng = 42;
    long rounds = check_scaled(3000, 200), accepted = 0;
    for (long r = 0; d && r < rounds; r++) {
        memcpy(d, p, n);
        int changes = 1 + (int)(check_rand(&rng) % 3);
        for (int c = 0; c < changes; c++) {
            size_t at = check_rand(&rng) % (n - 4);
            d[at] = (uint8_t)(check_rand(&rng) % 3 == 0 ? d[at] ^ (1u << (check_rand(&rng) % 8)) : check_rand(&rng));
        }
        fix_crc(d, n);
        uint64_t census = fm_census_total();
        fm_handle got = SENT64;
        fm_status st = fm_import(d, n, &got);
        CHECK_MSG(st == FM_OK || st == FM_CORRUPT_DATA || st == FM_UNSUPPORTED_VERSION,
                  "import of mutated data returned %d (%s)", st, fm_status_str(st));
        if (st == FM_OK) {
            /* Whatever was accepted is a whole, consistent map. */
            accepted++;
            size_t len = 0, seen = 0;
            OK(fm_map_len(got, &len));
            fm_handle it = 0;
            OK(fm_iter_new(got, &it));
            fm_entry ent;
            while (fm_iter_next(it, &ent) == FM_OK) seen++;
            CHECK_U64(seen, len);
            OK(fm_iter_free(it));
            OK(fm_map_free(got));
        } else {
            CHECK_U64(got, SENT64);
        }
        CHECK_U64(fm_census_total(), census);
    }
    free(d);
    OK(fm_view_release(v));
    printf("random import mutations: %ld rounds, %ld accepted as valid maps\n", rounds, accepted);
    fixture_unchanged("corrupt imports");
}

int main(void) {
    fixture_make();
    test_bad_handles();
    test_null_arguments();
    test_wrong_kinds();
    test_invalid_utf8();
    test_absurd_lengths();
    test_creation_arguments();
    test_buffer_too_small();
    test_corrupt_imports();
    fixture_unchanged("the whole run");
    fixture_iterator_untouched();
    fixture_free();
    return check_finish("test_bad_input");
}
