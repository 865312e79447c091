/* test_api.c — every function of ferrymap.h, with checked results.
 *
 * - For all twelve schemas (INT/STR/BYTES keys x INT/FLOAT/STR/BYTES values):
 *   insert (replaced), get, contains, remove (removed), fm_insert_many, the
 *   typed batch calls, iterators (next, next_batch, next_i64, len), for_each,
 *   export/import, clone independence, clear; every step is compared with a
 *   model of what the map must hold. Keys and values include INT 0, -1,
 *   INT64_MIN/MAX, -0.0, infinities, a NaN payload, empty strings and bytes,
 *   embedded NULs and 4-byte UTF-8 (emoji).
 * - Per value kind: add (absent key starts at 0, overflow leaves the value
 *   unchanged), update (commit, stop, invalid UTF-8 refused), views (bytes
 *   stay identical after overwrite, remove and map free).
 * - Re-entrancy from update and for_each callbacks; status strings; the
 *   thread-local last error; version and registry identity; census; stats;
 *   reserve.
 * - Bridge maps, briefly: map calls through the owner thread, re-entrancy
 *   from a callback running there, tickets, the change feed (including lost
 *   events), closing by fm_map_free. */
#include "check.h"

#include <math.h>
#include <pthread.h>

/* ---- keys and values ------------------------------------------------------ */

/* One key or value of any kind: INT in `i`, FLOAT in `f`, STR/BYTES in `b`/`n`. */
typedef struct sample {
    int64_t i;
    double f;
    uint8_t b[64];
    size_t n;
} sample;

typedef struct bytes_lit {
    const char *s;
    size_t n;
} bytes_lit;

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NKEYS 40

static const int64_t INT_KEYS[] = {0, -1, 1, INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, 256, -256};
static const bytes_lit STR_KEYS[] = {
    {"", 0},        {"\0", 1}, {"a\0b", 3}, {"\xF0\x9F\x98\x80", 4} /* emoji */, {"\xE6\x97\xA5\xE6\x9C\xAC", 6},
    {"k", 1},       {"K", 1},  {"\xC3\x9F", 2},                    {"a\0", 2},
};
static const bytes_lit BYTES_KEYS[] = {
    {"", 0},       {"\0", 1}, {"\0\0", 2}, {"\xff", 1}, {"\xff\xfe\x00\x01", 4}, {"\xc0\x80", 2}, {"\xed\xa0\x80", 3},
};

static void set_bytes(sample *o, const char *s, size_t n) {
    memcpy(o->b, s, n);
    o->n = n;
}

/* A string literal's bytes, without the terminating NUL. */
#define SET_LIT(o, lit) set_bytes((o), (lit), sizeof(lit) - 1)

static void make_key(uint32_t kind, int idx, sample *o) {
    memset(o, 0, sizeof *o);
    switch (kind) {
    case FM_INT:
        o->i = idx < (int)COUNT(INT_KEYS) ? INT_KEYS[idx] : 1000 + (int64_t)idx * 7919;
        break;
    case FM_STR:
        if (idx < (int)COUNT(STR_KEYS))
            set_bytes(o, STR_KEYS[idx].s, STR_KEYS[idx].n);
        else
            o->n = (size_t)snprintf((char *)o->b, sizeof o->b, "key-%d", idx);
        break;
    default:
        if (idx < (int)COUNT(BYTES_KEYS)) {
            set_bytes(o, BYTES_KEYS[idx].s, BYTES_KEYS[idx].n);
        } else {
            o->n = (size_t)snprintf((char *)o->b, sizeof o->b, "b-%d", idx);
            o->b[o->n++] = 0xff;
            o->b[o->n++] = 0x00;
        }
    }
}

static double bits_to_double(uint64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void make_value(uint32_t kind, int idx, int ver, sample *o) {
    static const int64_t ints[] = {INT64_MIN, INT64_MAX, 0, -1};
    static const uint64_t floats[] = {0x8000000000000000u /* -0.0 */, 0x7ff0000000000000u /* inf */,
                                      0xfff0000000000000u /* -inf */, 1 /* smallest subnormal */,
                                      0x7ff8000000000123u /* NaN with a payload */};
    static const bytes_lit strs[] = {{"", 0}, {"\0", 1}, {"v\0al", 4}, {"\xF0\x9F\xA6\x80\xF0\x9F\x9A\x80 \xC3\xBC", 11}};
    static const bytes_lit bytes[] = {{"", 0}, {"\0\0\0", 3}, {"\xff\x00\xfe", 3}, {"\xed\xa0\x80", 3}};
    memset(o, 0, sizeof *o);
    switch (kind) {
    case FM_INT:
        o->i = ver == 0 && idx < (int)COUNT(ints) ? ints[idx] : (int64_t)idx * 1000 + ver;
        break;
    case FM_FLOAT:
        o->f = ver == 0 && idx < (int)COUNT(floats) ? bits_to_double(floats[idx]) : idx + ver * 0.25 + 0.5;
        break;
    case FM_STR:
        if (ver == 0 && idx < (int)COUNT(strs))
            set_bytes(o, strs[idx].s, strs[idx].n);
        else
            o->n = (size_t)snprintf((char *)o->b, sizeof o->b, "val-%d-%d", idx, ver);
        break;
    default:
        if (ver == 0 && idx < (int)COUNT(bytes)) {
            set_bytes(o, bytes[idx].s, bytes[idx].n);
        } else {
            o->n = (size_t)snprintf((char *)o->b, sizeof o->b, "\x01v%d-%d", idx, ver);
            o->b[o->n++] = 0xff;
        }
    }
}

static bool same_value(uint32_t kind, const sample *a, const sample *b) {
    switch (kind) {
    case FM_INT: return a->i == b->i;
    case FM_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0; /* bitwise: -0.0 and NaN payloads */
    default: return a->n == b->n && memcmp(a->b, b->b, a->n) == 0;
    }
}

static bool is_blob(uint32_t kind) {
    return kind == FM_STR || kind == FM_BYTES;
}

static const char *kind_name(uint32_t kind) {
    switch (kind) {
    case FM_INT: return "INT";
    case FM_FLOAT: return "FLOAT";
    case FM_STR: return "STR";
    case FM_BYTES: return "BYTES";
    default: return "?";
    }
}

/* ---- typed calls for any schema ---------------------------------------------- */

typedef struct schema {
    uint32_t key, val;
    char name[20];
} schema;

static sample KEYS[5][NKEYS]; /* by key kind */

static const sample *key_of(const schema *s, int idx) {
    return &KEYS[s->key][idx];
}

static fm_status put(fm_handle m, const schema *s, const sample *k, const sample *v, bool *replaced) {
    bool ik = s->key == FM_INT;
    switch (s->val) {
    case FM_INT:
        return ik ? fm_insert_i64_i64(m, k->i, v->i, replaced) : fm_insert_buf_i64(m, k->b, k->n, v->i, replaced);
    case FM_FLOAT:
        return ik ? fm_insert_i64_f64(m, k->i, v->f, replaced) : fm_insert_buf_f64(m, k->b, k->n, v->f, replaced);
    default:
        return ik ? fm_insert_i64_buf(m, k->i, v->b, v->n, replaced)
                  : fm_insert_buf_buf(m, k->b, k->n, v->b, v->n, replaced);
    }
}

static fm_status get(fm_handle m, const schema *s, const sample *k, sample *out) {
    bool ik = s->key == FM_INT;
    switch (s->val) {
    case FM_INT: return ik ? fm_get_i64_i64(m, k->i, &out->i) : fm_get_buf_i64(m, k->b, k->n, &out->i);
    case FM_FLOAT: return ik ? fm_get_i64_f64(m, k->i, &out->f) : fm_get_buf_f64(m, k->b, k->n, &out->f);
    default:
        return ik ? fm_get_i64_buf(m, k->i, out->b, sizeof out->b, &out->n)
                  : fm_get_buf_buf(m, k->b, k->n, out->b, sizeof out->b, &out->n);
    }
}

static fm_status has(fm_handle m, const schema *s, const sample *k, bool *found) {
    return s->key == FM_INT ? fm_contains_i64(m, k->i, found) : fm_contains_buf(m, k->b, k->n, found);
}

static fm_status del(fm_handle m, const schema *s, const sample *k, bool *removed) {
    return s->key == FM_INT ? fm_remove_i64(m, k->i, removed) : fm_remove_buf(m, k->b, k->n, removed);
}

/* ---- the model: which sample keys a map holds, with which value version ------ */

typedef struct model {
    bool present[NKEYS];
    int ver[NKEYS];
    size_t count;
} model;

static void model_set(model *md, int idx, int ver) {
    if (!md->present[idx]) md->count++;
    md->present[idx] = true;
    md->ver[idx] = ver;
}

static void model_del(model *md, int idx) {
    if (md->present[idx]) md->count--;
    md->present[idx] = false;
}

/* Which sample key an entry holds, or -1. */
static int entry_key(const schema *s, const fm_entry *e) {
    for (int idx = 0; idx < NKEYS; idx++) {
        const sample *k = key_of(s, idx);
        if (s->key == FM_INT ? e->key_int == k->i
                             : e->key_len == k->n && (k->n == 0 || memcmp(e->key_ptr, k->b, k->n) == 0))
            return idx;
    }
    return -1;
}

/* Whether an entry carries value `v`, and the fields of other kinds are 0 / NULL. */
static bool entry_value_is(const schema *s, const fm_entry *e, const sample *v) {
    bool unused_ok = s->key == FM_INT ? e->key_ptr == NULL && e->key_len == 0 : e->key_int == 0;
    switch (s->val) {
    case FM_INT:
        return unused_ok && e->value_int == v->i && e->value_float == 0.0 && e->value_ptr == NULL && e->value_len == 0;
    case FM_FLOAT:
        return unused_ok && memcmp(&e->value_float, &v->f, 8) == 0 && e->value_int == 0 && e->value_ptr == NULL &&
               e->value_len == 0;
    default:
        return unused_ok && e->value_int == 0 && e->value_float == 0.0 && e->value_len == v->n &&
               (v->n == 0 || memcmp(e->value_ptr, v->b, v->n) == 0);
    }
}

/* Checks one entry handed out by an iterator or for_each against the model. */
static bool check_entry(const schema *s, const model *md, const fm_entry *e, bool *seen) {
    int idx = entry_key(s, e);
    if (!CHECK_MSG(idx >= 0, "%s: entry with an unknown key", s->name)) return false;
    if (!CHECK_MSG(md->present[idx], "%s: entry for key %d, which the map does not hold", s->name, idx)) return false;
    if (!CHECK_MSG(!seen[idx], "%s: key %d handed out twice", s->name, idx)) return false;
    seen[idx] = true;
    sample want;
    make_value(s->val, idx, md->ver[idx], &want);
    return CHECK_MSG(entry_value_is(s, e, &want), "%s: wrong value (or unused fields set) for key %d", s->name, idx);
}

/* Compares a map with the model: len, every get and contains, and a full iteration. */
static void verify(fm_handle m, const schema *s, const model *md, const char *where) {
    long before = atomic_load(&check_failures);
    size_t len = 12345;
    OK(fm_map_len(m, &len));
    CHECK_U64(len, md->count);
    for (int idx = 0; idx < NKEYS; idx++) {
        sample got;
        memset(&got, 0xA5, sizeof got);
        got.n = 777;
        bool found = !md->present[idx];
        OK(has(m, s, key_of(s, idx), &found));
        CHECK(found == md->present[idx]);
        if (md->present[idx]) {
            sample want;
            make_value(s->val, idx, md->ver[idx], &want);
            if (OK(get(m, s, key_of(s, idx), &got)))
                CHECK_MSG(same_value(s->val, &got, &want), "%s: key %d has the wrong value", s->name, idx);
        } else {
            EXPECT(get(m, s, key_of(s, idx), &got), FM_NOT_FOUND);
            CHECK_MSG(got.n == 777 && got.b[0] == 0xA5, "%s: output written on FM_NOT_FOUND", s->name);
        }
    }
    fm_handle it = 0;
    if (OK(fm_iter_new(m, &it))) {
        size_t n = 0;
        OK(fm_iter_len(it, &n));
        CHECK_U64(n, md->count);
        bool seen[NKEYS] = {false};
        size_t count = 0;
        fm_entry e;
        fm_status st;
        while ((st = fm_iter_next(it, &e)) == FM_OK) count += check_entry(s, md, &e, seen);
        EXPECT(st, FM_END);
        EXPECT(fm_iter_next(it, &e), FM_END); /* stays at the end */
        CHECK_U64(count, md->count);
        OK(fm_iter_free(it));
    }
    if (atomic_load(&check_failures) != before) fprintf(stderr, "  ^ while verifying %s: %s\n", s->name, where);
}

/* ---- for_each -------------------------------------------------------------- */

typedef struct walk {
    const schema *s;
    const model *md;
    bool seen[NKEYS];
    size_t calls;
    size_t stop_after; /* 0: never */
    fm_handle self;    /* map being walked (re-entry must fail) */
    fm_handle other;   /* another map (must work) */
} walk;

static int32_t walk_cb(void *ctx, const fm_entry *e) {
    walk *w = ctx;
    w->calls++;
    check_entry(w->s, w->md, e, w->seen);
    if (w->self) {
        size_t len;
        EXPECT(fm_map_len(w->self, &len), FM_REENTRANT);
        EXPECT(fm_for_each(w->self, walk_cb, ctx), FM_REENTRANT);
        OK(fm_map_len(w->other, &len));
    }
    return w->stop_after && w->calls == w->stop_after ? 42 : 0;
}

static void test_for_each(fm_handle m, const schema *s, const model *md) {
    walk w = {.s = s, .md = md};
    OK(fm_for_each(m, walk_cb, &w));
    CHECK_U64(w.calls, md->count);
    /* From the callback: this map refuses (FM_REENTRANT), another one works. */
    walk re = {.s = s, .md = md, .self = m};
    OK(fm_map_new(FM_INT, FM_INT, 0, &re.other));
    OK(fm_for_each(m, walk_cb, &re));
    CHECK_U64(re.calls, md->count);
    for (int idx = 0; idx < NKEYS; idx++) CHECK(re.seen[idx] == md->present[idx]);
    OK(fm_map_free(re.other));
    if (md->count >= 3) {
        walk stop = {.s = s, .md = md, .stop_after = 2};
        EXPECT(fm_for_each(m, walk_cb, &stop), FM_CALLBACK_STOPPED);
        CHECK_U64(stop.calls, 2);
    }
}

/* ---- one schema, start to end ------------------------------------------------ */

static void test_export_import(fm_handle m, const schema *s, const model *md) {
    fm_handle view = 0, copy = 0;
    const uint8_t *p = NULL;
    size_t n = 0;
    uint64_t views_before = 0, views_after = 0;
    OK(fm_census(FM_HANDLE_VIEW, &views_before));
    if (!OK(fm_export(m, &view, &p, &n))) return;
    OK(fm_census(FM_HANDLE_VIEW, &views_after));
    CHECK_U64(views_after, views_before + 1);
    const uint8_t *p2 = NULL;
    size_t n2 = 0;
    OK(fm_view_bytes(view, &p2, &n2));
    CHECK(p2 == p && n2 == n);
    /* The documented layout: magic, version 1, kinds, entry count. */
    if (CHECK(n >= 20)) {
        CHECK(memcmp(p, "FMAP", 4) == 0);
        CHECK(p[4] == 1 && p[5] == 0);
        CHECK(p[6] == s->key && p[7] == s->val);
        uint64_t count = 0;
        for (int i = 0; i < 8; i++) count |= (uint64_t)p[8 + i] << (8 * i);
        CHECK_U64(count, md->count);
    }
    if (OK(fm_import(p, n, &copy))) {
        uint32_t kk = 0, vk = 0;
        OK(fm_map_schema(copy, &kk, &vk));
        CHECK(kk == s->key && vk == s->val);
        verify(copy, s, md, "imported copy");
        OK(fm_map_free(copy));
    }
    OK(fm_view_release(view));
    EXPECT(fm_view_release(view), FM_INVALID_HANDLE);

    /* Optional outputs left out: fm_view_bytes gives them. */
    if (OK(fm_export(m, &view, NULL, NULL))) {
        OK(fm_view_bytes(view, &p, &n));
        if (OK(fm_import(p, n, &copy))) {
            verify(copy, s, md, "imported copy (export without ptr/len)");
            OK(fm_map_free(copy));
        }
        OK(fm_view_release(view));
    }
}

static void test_clone(fm_handle m, const schema *s, model *md) {
    fm_handle c = 0;
    if (!OK(fm_map_clone(m, &c))) return;
    CHECK(c != m);
    uint32_t kk = 0, vk = 0;
    OK(fm_map_schema(c, &kk, &vk));
    CHECK(kk == s->key && vk == s->val);
    model cm = *md;
    verify(c, s, &cm, "fresh clone");

    /* Write the original: the clone does not change. */
    sample v;
    for (int idx = 0; idx < NKEYS; idx += 4) {
        make_value(s->val, idx, 7, &v);
        OK(put(m, s, key_of(s, idx), &v, NULL));
        model_set(md, idx, 7);
    }
    for (int idx = 1; idx < NKEYS; idx += 5) {
        OK(del(m, s, key_of(s, idx), NULL));
        model_del(md, idx);
    }
    verify(m, s, md, "original after writes");
    verify(c, s, &cm, "clone after writes to the original");

    /* Write the clone: the original does not change. */
    for (int idx = 2; idx < NKEYS; idx += 3) {
        make_value(s->val, idx, 9, &v);
        OK(put(c, s, key_of(s, idx), &v, NULL));
        model_set(&cm, idx, 9);
    }
    OK(del(c, s, key_of(s, 0), NULL));
    model_del(&cm, 0);
    verify(c, s, &cm, "clone after its own writes");
    verify(m, s, md, "original after writes to the clone");

    /* A clone of the clone, then the clone freed: the second one lives on. */
    fm_handle cc = 0;
    if (OK(fm_map_clone(c, &cc))) {
        OK(fm_map_clear(c));
        OK(fm_map_free(c));
        verify(cc, s, &cm, "clone of a clone, after the clone was cleared and freed");
        OK(fm_map_free(cc));
    } else {
        OK(fm_map_free(c));
    }
    verify(m, s, md, "original after its clones were freed");
}

/* fm_insert_many with every schema; fields of other kinds hold junk that
 * must not be read. */
static void test_insert_many(fm_handle m, const schema *s, model *md, int ver) {
    fm_entry entries[NKEYS];
    sample keys[NKEYS], vals[NKEYS];
    size_t n = 0, expect_replaced = 0;
    for (int idx = 0; idx < NKEYS; idx += 2) {
        keys[n] = *key_of(s, idx);
        make_value(s->val, idx, ver, &vals[n]);
        fm_entry *e = &entries[n];
        e->key_int = (int64_t)0x7777777777777777;
        e->key_ptr = (const uint8_t *)(uintptr_t)8; /* junk: never read for INT keys */
        e->key_len = SIZE_MAX;
        e->value_int = (int64_t)0x6666666666666666;
        e->value_float = -1234.5;
        e->value_ptr = (const uint8_t *)(uintptr_t)8;
        e->value_len = SIZE_MAX;
        if (s->key == FM_INT) {
            e->key_int = keys[n].i;
        } else {
            e->key_ptr = keys[n].b;
            e->key_len = keys[n].n;
        }
        switch (s->val) {
        case FM_INT: e->value_int = vals[n].i; break;
        case FM_FLOAT: e->value_float = vals[n].f; break;
        default: e->value_ptr = vals[n].b; e->value_len = vals[n].n;
        }
        expect_replaced += md->present[idx];
        model_set(md, idx, ver);
        n++;
    }
    size_t replaced = 999;
    OK(fm_insert_many(m, entries, n, &replaced));
    CHECK_U64(replaced, expect_replaced);
    OK(fm_insert_many(m, entries, n, NULL)); /* again, replaced not wanted: all replace */
    OK(fm_insert_many(m, entries, n, &replaced));
    CHECK_U64(replaced, n);
    OK(fm_insert_many(m, NULL, 0, &replaced));
    CHECK_U64(replaced, 0);
    verify(m, s, md, "after fm_insert_many");
}

/* The typed batch calls that fit the schema. */
static void test_typed_batches(fm_handle m, const schema *s, model *md) {
    if (s->key == FM_INT && (s->val == FM_INT || s->val == FM_FLOAT)) {
        int64_t keys[NKEYS];
        int64_t ivals[NKEYS];
        double fvals[NKEYS];
        size_t n = 0, expect_replaced = 0;
        for (int idx = 1; idx < NKEYS; idx += 3) {
            sample v;
            make_value(s->val, idx, 11, &v);
            keys[n] = key_of(s, idx)->i;
            ivals[n] = v.i;
            fvals[n] = v.f;
            expect_replaced += md->present[idx];
            model_set(md, idx, 11);
            n++;
        }
        size_t replaced = 999;
        if (s->val == FM_INT)
            OK(fm_insert_many_i64_i64(m, keys, ivals, n, &replaced));
        else
            OK(fm_insert_many_i64_f64(m, keys, fvals, n, &replaced));
        CHECK_U64(replaced, expect_replaced);
        verify(m, s, md, "after fm_insert_many_i64_*");

        /* get_many over every sample key plus an absent one. */
        int64_t all[NKEYS + 1];
        int64_t got_i[NKEYS + 1];
        double got_f[NKEYS + 1];
        uint8_t found[NKEYS + 1];
        for (int idx = 0; idx < NKEYS; idx++) all[idx] = key_of(s, idx)->i;
        all[NKEYS] = 999999999;
        for (int i = 0; i <= NKEYS; i++) {
            got_i[i] = -5;
            got_f[i] = -5.0;
            found[i] = 77;
        }
        size_t found_count = 999;
        if (s->val == FM_INT)
            OK(fm_get_many_i64_i64(m, all, NKEYS + 1, got_i, found, &found_count));
        else
            OK(fm_get_many_i64_f64(m, all, NKEYS + 1, got_f, found, &found_count));
        CHECK_U64(found_count, md->count);
        for (int idx = 0; idx <= NKEYS; idx++) {
            bool present = idx < NKEYS && md->present[idx];
            CHECK_MSG(found[idx] == (present ? 1 : 0), "%s: found[%d] = %d", s->name, idx, found[idx]);
            sample want, got = {.i = got_i[idx], .f = got_f[idx]};
            if (present) {
                make_value(s->val, idx, md->ver[idx], &want);
                CHECK_MSG(same_value(s->val, &got, &want), "%s: get_many value %d", s->name, idx);
            } else {
                CHECK_MSG(s->val == FM_INT ? got.i == -5 : got.f == -5.0, "%s: value written for absent key",
                          s->name);
            }
        }
        /* found and found_count are optional. */
        if (s->val == FM_INT)
            OK(fm_get_many_i64_i64(m, all, NKEYS + 1, got_i, NULL, NULL));
        else
            OK(fm_get_many_i64_f64(m, all, NKEYS + 1, got_f, NULL, NULL));
        if (s->val == FM_INT)
            OK(fm_get_many_i64_i64(m, NULL, 0, NULL, NULL, &found_count));
        else
            OK(fm_get_many_i64_f64(m, NULL, 0, NULL, NULL, &found_count));
        CHECK_U64(found_count, 0);
    }
    if (s->key != FM_INT && s->val == FM_INT) {
        fm_buf keys[NKEYS + 1];
        int64_t vals[NKEYS + 1];
        uint8_t found[NKEYS + 1];
        for (int idx = 0; idx < NKEYS; idx++) keys[idx] = (fm_buf){key_of(s, idx)->b, key_of(s, idx)->n};
        keys[NKEYS] = (fm_buf){(const uint8_t *)"absent-key", 10};
        for (int i = 0; i <= NKEYS; i++) vals[i] = -5, found[i] = 77;
        size_t found_count = 999;
        OK(fm_get_many_buf_i64(m, keys, NKEYS + 1, vals, found, &found_count));
        CHECK_U64(found_count, md->count);
        for (int idx = 0; idx <= NKEYS; idx++) {
            bool present = idx < NKEYS && md->present[idx];
            CHECK(found[idx] == (present ? 1 : 0));
            sample want;
            if (present) {
                make_value(s->val, idx, md->ver[idx], &want);
                CHECK_I64(vals[idx], want.i);
            } else {
                CHECK_I64(vals[idx], -5);
            }
        }
        OK(fm_get_many_buf_i64(m, keys, NKEYS + 1, vals, NULL, NULL));
        OK(fm_get_many_buf_i64(m, NULL, 0, NULL, NULL, &found_count));
        CHECK_U64(found_count, 0);
    }
    if (s->key != FM_INT && s->val == FM_FLOAT) {
        fm_buf keys[NKEYS + 1];
        double vals[NKEYS + 1];
        uint8_t found[NKEYS + 1];
        for (int idx = 0; idx < NKEYS; idx++) keys[idx] = (fm_buf){key_of(s, idx)->b, key_of(s, idx)->n};
        keys[NKEYS] = (fm_buf){(const uint8_t *)"absent-key", 10};
        for (int i = 0; i <= NKEYS; i++) vals[i] = -5.0, found[i] = 77;
        size_t found_count = 999;
        OK(fm_get_many_buf_f64(m, keys, NKEYS + 1, vals, found, &found_count));
        CHECK_U64(found_count, md->count);
        for (int idx = 0; idx <= NKEYS; idx++) {
            bool present = idx < NKEYS && md->present[idx];
            CHECK(found[idx] == (present ? 1 : 0));
            sample want, got = {.f = vals[idx]};
            if (present) {
                make_value(s->val, idx, md->ver[idx], &want);
                CHECK(same_value(s->val, &got, &want));
            } else {
                CHECK(vals[idx] == -5.0);
            }
        }
    }
    if (s->val == FM_STR || s->val == FM_BYTES) {
        /* Values copied back to back into one buffer: first too small, then enough. */
        int64_t ikeys[NKEYS + 1];
        fm_buf bkeys[NKEYS + 1];
        for (int idx = 0; idx < NKEYS; idx++) {
            if (s->key == FM_INT)
                ikeys[idx] = key_of(s, idx)->i;
            else
                bkeys[idx] = (fm_buf){key_of(s, idx)->b, key_of(s, idx)->n};
        }
        ikeys[NKEYS] = 999999999;
        bkeys[NKEYS] = (fm_buf){(const uint8_t *)"absent-key", 10};
        fm_buf out[NKEYS + 1];
        size_t needed = 0;
        uint8_t tiny[1];
        fm_status st = s->key == FM_INT ? fm_get_many_i64_buf(m, ikeys, NKEYS + 1, tiny, 0, out, &needed)
                                        : fm_get_many_buf_buf(m, bkeys, NKEYS + 1, tiny, 0, out, &needed);
        size_t total = 0;
        for (int idx = 0; idx < NKEYS; idx++)
            if (md->present[idx]) {
                sample want;
                make_value(s->val, idx, md->ver[idx], &want);
                total += want.n;
            }
        if (total > 0) EXPECT(st, FM_BUFFER_TOO_SMALL);
        CHECK_U64(needed, total);
        uint8_t *buf = malloc(needed + 1);
        if (s->key == FM_INT)
            OK(fm_get_many_i64_buf(m, ikeys, NKEYS + 1, buf, needed + 1, out, &needed));
        else
            OK(fm_get_many_buf_buf(m, bkeys, NKEYS + 1, buf, needed + 1, out, &needed));
        CHECK_U64(needed, total);
        for (int idx = 0; idx <= NKEYS; idx++) {
            bool present = idx < NKEYS && md->present[idx];
            CHECK_MSG((out[idx].ptr != NULL) == present, "%s: get_many buf %d presence", s->name, idx);
            if (present) {
                sample want;
                make_value(s->val, idx, md->ver[idx], &want);
                CHECK_MEM(out[idx].ptr, out[idx].len, want.b, want.n);
            }
        }
        free(buf);
    }

    /* remove_many: some present, some absent, one twice. */
    size_t expect_removed = 0;
    int picks[] = {3, 5, 7, 7, 11, 13, 17, 19};
    model after = *md;
    for (size_t i = 0; i < COUNT(picks); i++) {
        expect_removed += after.present[picks[i]];
        model_del(&after, picks[i]);
    }
    size_t removed = 999;
    if (s->key == FM_INT) {
        int64_t keys[COUNT(picks) + 1];
        for (size_t i = 0; i < COUNT(picks); i++) keys[i] = key_of(s, picks[i])->i;
        keys[COUNT(picks)] = 424242; /* absent */
        OK(fm_remove_many_i64(m, keys, COUNT(picks) + 1, &removed));
        OK(fm_remove_many_i64(m, keys, COUNT(picks) + 1, NULL));
    } else {
        fm_buf keys[COUNT(picks) + 1];
        for (size_t i = 0; i < COUNT(picks); i++) keys[i] = (fm_buf){key_of(s, picks[i])->b, key_of(s, picks[i])->n};
        keys[COUNT(picks)] = (fm_buf){(const uint8_t *)"absent", 6};
        OK(fm_remove_many_buf(m, keys, COUNT(picks) + 1, &removed));
        OK(fm_remove_many_buf(m, keys, COUNT(picks) + 1, NULL));
    }
    CHECK_U64(removed, expect_removed);
    *md = after;
    verify(m, s, md, "after remove_many");
    if (s->key == FM_INT)
        OK(fm_remove_many_i64(m, NULL, 0, &removed));
    else
        OK(fm_remove_many_buf(m, NULL, 0, &removed));
    CHECK_U64(removed, 0);
}

/* Iterator calls other than fm_iter_next, mixed on one iterator. */
static void test_iter_forms(fm_handle m, const schema *s, const model *md) {
    fm_handle it = 0;
    if (!OK(fm_iter_new(m, &it))) return;
    bool seen[NKEYS] = {false};
    size_t count = 0, n = 0;
    fm_entry batch[7];
    /* cap 0 with NULL entries is allowed and consumes nothing. */
    n = 99;
    EXPECT_ANY(fm_iter_next_batch(it, NULL, 0, &n), FM_OK, FM_END);
    CHECK_U64(n, 0);
    /* One by one, then in batches of 7, then through the INT fast path. */
    fm_entry e;
    for (int i = 0; i < 3 && fm_iter_next(it, &e) == FM_OK; i++) count += check_entry(s, md, &e, seen);
    if (OK(fm_iter_next_batch(it, batch, 7, &n))) {
        CHECK(n >= 1 && n <= 7);
        for (size_t i = 0; i < n; i++) count += check_entry(s, md, &batch[i], seen);
    }
    int64_t ks[5], vs[5];
    fm_status st;
    if (s->key == FM_INT && (s->val == FM_INT || s->val == FM_FLOAT)) {
        while ((st = fm_iter_next_i64(it, ks, vs, 5, &n)) == FM_OK) {
            CHECK(n >= 1 && n <= 5);
            for (size_t i = 0; i < n; i++) {
                fm_entry fake = {.key_int = ks[i]};
                if (s->val == FM_INT)
                    fake.value_int = vs[i];
                else
                    memcpy(&fake.value_float, &vs[i], 8);
                count += check_entry(s, md, &fake, seen);
            }
        }
        EXPECT(st, FM_END);
        n = 99;
        EXPECT(fm_iter_next_i64(it, ks, vs, 5, &n), FM_END);
        CHECK_U64(n, 0);
    } else {
        EXPECT(fm_iter_next_i64(it, ks, vs, 5, &n), FM_WRONG_KIND);
        while ((st = fm_iter_next_batch(it, batch, 7, &n)) == FM_OK)
            for (size_t i = 0; i < n; i++) count += check_entry(s, md, &batch[i], seen);
        EXPECT(st, FM_END);
    }
    n = 99;
    EXPECT(fm_iter_next_batch(it, batch, 7, &n), FM_END);
    CHECK_U64(n, 0);
    CHECK_U64(count, md->count);
    size_t len = 0;
    OK(fm_iter_len(it, &len)); /* all of the snapshot, not what is left */
    CHECK_U64(len, md->count);
    OK(fm_iter_free(it));
    EXPECT(fm_iter_free(it), FM_INVALID_HANDLE);
}

static void test_schema(uint32_t key_kind, uint32_t val_kind) {
    schema s = {key_kind, val_kind, ""};
    snprintf(s.name, sizeof s.name, "%s->%s", kind_name(key_kind), kind_name(val_kind));
    fm_handle m = 0;
    if (!OK(fm_map_new(key_kind, val_kind, 0, &m))) return;
    CHECK(m != 0);
    uint32_t kk = 0, vk = 0;
    OK(fm_map_schema(m, &kk, &vk));
    CHECK(kk == key_kind && vk == val_kind);
    OK(fm_map_schema(m, NULL, &vk));
    OK(fm_map_schema(m, &kk, NULL));
    OK(fm_map_schema(m, NULL, NULL));

    model md = {0};
    verify(m, &s, &md, "empty map");
    test_export_import(m, &s, &md);

    /* Insert every sample key: nothing is replaced. */
    for (int idx = 0; idx < NKEYS; idx++) {
        sample v;
        make_value(val_kind, idx, 0, &v);
        bool replaced = true;
        OK(put(m, &s, key_of(&s, idx), &v, &replaced));
        CHECK_MSG(!replaced, "%s: fresh key %d reported as replaced", s.name, idx);
        model_set(&md, idx, 0);
    }
    verify(m, &s, &md, "after first inserts");

    /* Overwrite the even keys: replaced; NULL `replaced` is fine. */
    for (int idx = 0; idx < NKEYS; idx += 2) {
        sample v;
        make_value(val_kind, idx, 1, &v);
        bool replaced = false;
        OK(put(m, &s, key_of(&s, idx), &v, &replaced));
        CHECK_MSG(replaced, "%s: overwrite of key %d not reported", s.name, idx);
        OK(put(m, &s, key_of(&s, idx), &v, NULL));
        model_set(&md, idx, 1);
    }
    verify(m, &s, &md, "after overwrites");

    /* Remove every third key: removed once, then not. */
    for (int idx = 0; idx < NKEYS; idx += 3) {
        bool removed = false;
        OK(del(m, &s, key_of(&s, idx), &removed));
        CHECK(removed);
        removed = true;
        OK(del(m, &s, key_of(&s, idx), &removed));
        CHECK(!removed);
        OK(del(m, &s, key_of(&s, idx), NULL));
        model_del(&md, idx);
    }
    verify(m, &s, &md, "after removes");

    test_for_each(m, &s, &md);
    test_iter_forms(m, &s, &md);
    test_export_import(m, &s, &md);
    test_clone(m, &s, &md);
    test_insert_many(m, &s, &md, 3);
    test_typed_batches(m, &s, &md);
    test_export_import(m, &s, &md);

    /* Clear: the map is empty at once; an iterator made before keeps all. */
    fm_handle it = 0;
    OK(fm_iter_new(m, &it));
    OK(fm_map_clear(m));
    model empty = {0};
    verify(m, &s, &empty, "after clear");
    OK(fm_map_clear(m)); /* clearing an empty map is fine */
    sample v;
    make_value(val_kind, 5, 4, &v);
    bool replaced = true;
    OK(put(m, &s, key_of(&s, 5), &v, &replaced)); /* usable after clear */
    CHECK(!replaced);
    model_set(&empty, 5, 4);
    verify(m, &s, &empty, "insert after clear");
    OK(fm_map_free(m));
    EXPECT(fm_map_free(m), FM_INVALID_HANDLE);
    size_t len = 0;
    EXPECT(fm_map_len(m, &len), FM_INVALID_HANDLE);
    /* The iterator from before the clear outlives the map, with everything. */
    bool seen[NKEYS] = {false};
    size_t count = 0;
    fm_entry e;
    while (fm_iter_next(it, &e) == FM_OK) count += check_entry(&s, &md, &e, seen);
    CHECK_U64(count, md.count);
    OK(fm_iter_free(it));
}

/* ---- add, update, views ------------------------------------------------------ */

static fm_status add_i(fm_handle m, const schema *s, const sample *k, int64_t d, int64_t *out) {
    return s->key == FM_INT ? fm_add_i64_i64(m, k->i, d, out) : fm_add_buf_i64(m, k->b, k->n, d, out);
}

static fm_status add_f(fm_handle m, const schema *s, const sample *k, double d, double *out) {
    return s->key == FM_INT ? fm_add_i64_f64(m, k->i, d, out) : fm_add_buf_f64(m, k->b, k->n, d, out);
}

static fm_status upd(fm_handle m, const schema *s, const sample *k, fm_update_fn f, void *ctx) {
    return s->key == FM_INT ? fm_update_i64(m, k->i, f, ctx) : fm_update_buf(m, k->b, k->n, f, ctx);
}

typedef struct upd_ctx {
    uint32_t val_kind;
    int calls;
    size_t len_seen;
    int32_t ret;      /* what the callback returns */
    int mode;         /* 0: transform, 1: make invalid UTF-8 */
} upd_ctx;

/* Changes a value in place: INT +10, FLOAT x2, STR upper-cases ASCII, BYTES inverts. */
static int32_t upd_cb(void *vctx, uint8_t *value, size_t len) {
    upd_ctx *c = vctx;
    c->calls++;
    c->len_seen = len;
    switch (c->val_kind) {
    case FM_INT: {
        int64_t x;
        CHECK_U64(len, 8);
        memcpy(&x, value, 8);
        x += 10;
        memcpy(value, &x, 8);
        break;
    }
    case FM_FLOAT: {
        double x;
        CHECK_U64(len, 8);
        memcpy(&x, value, 8);
        x *= 2;
        memcpy(value, &x, 8);
        break;
    }
    case FM_STR:
        if (c->mode == 1 && len > 0) {
            value[len - 1] = 0xff; /* no longer UTF-8 */
        } else {
            for (size_t i = 0; i < len; i++)
                if (value[i] >= 'a' && value[i] <= 'z') value[i] = (uint8_t)(value[i] - 'a' + 'A');
        }
        break;
    default:
        for (size_t i = 0; i < len; i++) value[i] = (uint8_t)~value[i];
    }
    return c->ret;
}

static void test_value_ops(uint32_t key_kind, uint32_t val_kind) {
    schema s = {key_kind, val_kind, ""};
    snprintf(s.name, sizeof s.name, "%s->%s", kind_name(key_kind), kind_name(val_kind));
    fm_handle m = 0;
    if (!OK(fm_map_new(key_kind, val_kind, 4, &m))) return;
    const sample *k = key_of(&s, 3), *k0 = key_of(&s, 0), *k5 = key_of(&s, 5);
    size_t len = 0;

    if (val_kind == FM_INT) {
        int64_t out = 0;
        OK(add_i(m, &s, k, 5, &out)); /* absent: starts at 0 */
        CHECK_I64(out, 5);
        OK(add_i(m, &s, k, -7, &out));
        CHECK_I64(out, -2);
        OK(add_i(m, &s, k, 1, NULL));
        sample got;
        OK(get(m, &s, k, &got));
        CHECK_I64(got.i, -1);
        OK(add_i(m, &s, k0, 0, &out)); /* delta 0 on an absent key stores 0 */
        CHECK_I64(out, 0);
        bool found = false;
        OK(has(m, &s, k0, &found));
        CHECK(found);
        /* Overflow upwards and downwards: FM_OVERFLOW, value and output unchanged. */
        sample big = {.i = INT64_MAX - 1};
        OK(put(m, &s, k, &big, NULL));
        OK(add_i(m, &s, k, 1, &out));
        CHECK_I64(out, INT64_MAX);
        out = 31337;
        EXPECT(add_i(m, &s, k, 1, &out), FM_OVERFLOW);
        CHECK_I64(out, 31337);
        CHECK(strlen(fm_last_error()) > 0);
        EXPECT(add_i(m, &s, k, INT64_MAX, NULL), FM_OVERFLOW);
        OK(get(m, &s, k, &got));
        CHECK_I64(got.i, INT64_MAX);
        OK(add_i(m, &s, k5, INT64_MIN, &out)); /* absent key, most negative delta */
        CHECK_I64(out, INT64_MIN);
        EXPECT(add_i(m, &s, k5, -1, &out), FM_OVERFLOW);
        OK(get(m, &s, k5, &got));
        CHECK_I64(got.i, INT64_MIN);
        OK(add_i(m, &s, k5, INT64_MAX, &out));
        CHECK_I64(out, -1);
        OK(fm_map_len(m, &len));
        CHECK_U64(len, 3);
    }
    if (val_kind == FM_FLOAT) {
        double out = 0;
        OK(add_f(m, &s, k, 1.5, &out)); /* absent: starts at 0.0 */
        CHECK(out == 1.5);
        OK(add_f(m, &s, k, 2.25, &out));
        CHECK(out == 3.75);
        OK(add_f(m, &s, k, -3.75, NULL));
        sample got;
        OK(get(m, &s, k, &got));
        CHECK(got.f == 0.0);
        OK(add_f(m, &s, k, INFINITY, &out));
        CHECK(isinf(out) && out > 0);
        OK(add_f(m, &s, k0, -0.5, &out));
        CHECK(out == -0.5);
        OK(fm_map_len(m, &len));
        CHECK_U64(len, 2);
    }
    if (val_kind != FM_INT) {
        int64_t out = 5;
        EXPECT(add_i(m, &s, k, 1, &out), FM_WRONG_KIND);
        CHECK_I64(out, 5);
    }
    if (val_kind != FM_FLOAT) {
        double out = 5;
        EXPECT(add_f(m, &s, k, 1, &out), FM_WRONG_KIND);
        CHECK(out == 5);
    }

    /* update: commit, stop, absent key, invalid UTF-8. */
    sample start, want, got;
    switch (val_kind) {
    case FM_INT: start.i = 32; want.i = 42; break;
    case FM_FLOAT: start.f = 1.25; want.f = 2.5; break;
    case FM_STR:
        SET_LIT(&start, "hello, w\xC3\xB6rld \xF0\x9F\x98\x80");
        SET_LIT(&want, "HELLO, W\xC3\xB6RLD \xF0\x9F\x98\x80");
        break;
    default:
        SET_LIT(&start, "\x00\xff\x0f");
        SET_LIT(&want, "\xff\x00\xf0");
    }
    OK(put(m, &s, k, &start, NULL));
    upd_ctx c = {.val_kind = val_kind};
    OK(upd(m, &s, k, upd_cb, &c));
    CHECK(c.calls == 1);
    OK(get(m, &s, k, &got));
    CHECK_MSG(same_value(val_kind, &got, &want), "%s: update result", s.name);
    if (is_blob(val_kind)) CHECK_U64(c.len_seen, start.n);
    /* A callback that changes the value and then says stop changes nothing. */
    c = (upd_ctx){.val_kind = val_kind, .ret = 3};
    EXPECT(upd(m, &s, k, upd_cb, &c), FM_CALLBACK_STOPPED);
    CHECK(c.calls == 1);
    OK(get(m, &s, k, &got));
    CHECK_MSG(same_value(val_kind, &got, &want), "%s: value changed by a stopped update", s.name);
    /* Absent key: the callback is not called. */
    c = (upd_ctx){.val_kind = val_kind};
    OK(del(m, &s, k5, NULL));
    EXPECT(upd(m, &s, k5, upd_cb, &c), FM_NOT_FOUND);
    CHECK(c.calls == 0);
    if (val_kind == FM_STR) {
        c = (upd_ctx){.val_kind = val_kind, .mode = 1};
        EXPECT(upd(m, &s, k, upd_cb, &c), FM_INVALID_UTF8);
        OK(get(m, &s, k, &got));
        CHECK_MSG(same_value(val_kind, &got, &want), "%s: invalid UTF-8 stored by update", s.name);
    }
    if (is_blob(val_kind)) {
        /* An empty value reaches the callback with length 0. */
        sample empty = {.n = 0};
        OK(put(m, &s, k0, &empty, NULL));
        c = (upd_ctx){.val_kind = val_kind};
        OK(upd(m, &s, k0, upd_cb, &c));
        CHECK(c.calls == 1 && c.len_seen == 0);
        OK(get(m, &s, k0, &got));
        CHECK_U64(got.n, 0);
    }

    /* Views onto STR/BYTES values. */
    if (is_blob(val_kind)) {
        sample big = {.n = 0};
        for (int i = 0; i < 60; i++) big.b[big.n++] = (uint8_t)('a' + i % 26);
        OK(put(m, &s, k, &big, NULL));
        fm_handle v1 = 0, v2 = 0, v3 = 0;
        const uint8_t *p1 = NULL, *p2 = NULL;
        size_t n1 = 0, n2 = 0;
        OK(s.key == FM_INT ? fm_view_i64(m, k->i, &v1, &p1, &n1) : fm_view_buf(m, k->b, k->n, &v1, &p1, &n1));
        CHECK(v1 != 0);
        CHECK_MEM(p1, n1, big.b, big.n);
        fm_stats st;
        OK(fm_map_stats(m, &st));
        CHECK_U64(st.open_views, 1);
        /* Overwrite: the view keeps the old bytes, a new view sees the new ones. */
        sample other;
        SET_LIT(&other, "other value");
        bool replaced = false;
        OK(put(m, &s, k, &other, &replaced));
        CHECK(replaced);
        CHECK_MEM(p1, n1, big.b, big.n);
        OK(s.key == FM_INT ? fm_view_i64(m, k->i, &v2, NULL, NULL) : fm_view_buf(m, k->b, k->n, &v2, NULL, NULL));
        OK(fm_view_bytes(v2, &p2, &n2));
        CHECK_MEM(p2, n2, other.b, other.n);
        OK(fm_map_stats(m, &st));
        CHECK_U64(st.open_views, 2);
        /* A view of the empty value. */
        OK(s.key == FM_INT ? fm_view_i64(m, k0->i, &v3, NULL, &n2) : fm_view_buf(m, k0->b, k0->n, &v3, NULL, &n2));
        CHECK_U64(n2, 0);
        /* Absent key: FM_NOT_FOUND, no view. */
        fm_handle none = 12345;
        EXPECT(s.key == FM_INT ? fm_view_i64(m, k5->i, &none, NULL, NULL)
                               : fm_view_buf(m, k5->b, k5->n, &none, NULL, NULL),
               FM_NOT_FOUND);
        CHECK_U64(none, 12345);
        /* Remove, then free the map: both views still hold their bytes. */
        OK(del(m, &s, k, NULL));
        CHECK_MEM(p1, n1, big.b, big.n);
        OK(fm_map_free(m));
        m = 0;
        const uint8_t *q = NULL;
        size_t qn = 0;
        OK(fm_view_bytes(v1, &q, &qn));
        CHECK(q == p1 && qn == n1);
        CHECK_MEM(q, qn, big.b, big.n);
        OK(fm_view_bytes(v2, &q, &qn));
        CHECK_MEM(q, qn, other.b, other.n);
        OK(fm_view_release(v1));
        OK(fm_view_release(v2));
        OK(fm_view_release(v3));
        EXPECT(fm_view_release(v1), FM_INVALID_HANDLE);
        EXPECT(fm_view_bytes(v1, &q, &qn), FM_INVALID_HANDLE);
    } else {
        fm_handle none = 12345;
        EXPECT(s.key == FM_INT ? fm_view_i64(m, k->i, &none, NULL, NULL)
                               : fm_view_buf(m, k->b, k->n, &none, NULL, NULL),
               FM_WRONG_KIND);
        CHECK_U64(none, 12345);
    }
    OK(fm_map_free(m));
}

/* ---- re-entrancy ---------------------------------------------------------------- */

typedef struct reenter {
    fm_handle self, other, clone;
    int calls;
    int inner_calls;
} reenter;

static void *reader_thread(void *arg) {
    reenter *r = arg;
    int64_t v = 0;
    size_t len = 0;
    /* Another thread is not re-entering: readers do not wait for the callback. */
    OK(fm_get_i64_i64(r->self, 1, &v));
    CHECK_I64(v, 10);
    OK(fm_map_len(r->self, &len));
    CHECK_U64(len, 1);
    return NULL;
}

static int32_t inner_cb(void *ctx, uint8_t *value, size_t len) {
    reenter *r = ctx;
    r->inner_calls++;
    int64_t v;
    EXPECT(fm_get_i64_i64(r->self, 1, &v), FM_REENTRANT);  /* outer callback's map */
    EXPECT(fm_get_i64_i64(r->other, 5, &v), FM_REENTRANT); /* own map */
    OK(fm_get_i64_i64(r->clone, 1, &v));
    int64_t x;
    memcpy(&x, value, 8);
    x += 1;
    memcpy(value, &x, len);
    return 0;
}

static int32_t reenter_cb(void *ctx, uint8_t *value, size_t len) {
    reenter *r = ctx;
    r->calls++;
    fm_handle self = r->self, h = 777;
    int64_t v = -1;
    size_t n = 99;
    bool b = false;
    fm_stats st;
    /* Everything on the map being updated is refused, nothing deadlocks. */
    EXPECT(fm_get_i64_i64(self, 1, &v), FM_REENTRANT);
    CHECK_I64(v, -1);
    CHECK(strstr(fm_last_error(), "re-entrant") != NULL || strlen(fm_last_error()) > 0);
    EXPECT(fm_insert_i64_i64(self, 2, 2, NULL), FM_REENTRANT);
    EXPECT(fm_remove_i64(self, 1, NULL), FM_REENTRANT);
    EXPECT(fm_contains_i64(self, 1, &b), FM_REENTRANT);
    EXPECT(fm_add_i64_i64(self, 1, 1, NULL), FM_REENTRANT);
    EXPECT(fm_update_i64(self, 1, reenter_cb, ctx), FM_REENTRANT);
    EXPECT(fm_map_len(self, &n), FM_REENTRANT);
    CHECK_U64(n, 99);
    EXPECT(fm_map_stats(self, &st), FM_REENTRANT);
    EXPECT(fm_map_clear(self), FM_REENTRANT);
    EXPECT(fm_map_reserve(self, 100), FM_REENTRANT);
    EXPECT(fm_map_clone(self, &h), FM_REENTRANT);
    EXPECT(fm_iter_new(self, &h), FM_REENTRANT);
    EXPECT(fm_export(self, &h, NULL, NULL), FM_REENTRANT);
    EXPECT(fm_for_each(self, walk_cb, NULL), FM_REENTRANT);
    int64_t keys[1] = {1};
    EXPECT(fm_insert_many_i64_i64(self, keys, keys, 1, NULL), FM_REENTRANT);
    EXPECT(fm_get_many_i64_i64(self, keys, 1, &v, NULL, NULL), FM_REENTRANT);
    /* Not even freeing it: the update under way would outlive its map. */
    EXPECT(fm_map_free(self), FM_REENTRANT);
    CHECK(strstr(fm_last_error(), "free") != NULL);
    CHECK_U64(h, 777);
    /* Other maps work, including a clone of this one and a nested update. */
    OK(fm_insert_i64_i64(r->other, 5, 50, NULL));
    OK(fm_get_i64_i64(r->other, 5, &v));
    CHECK_I64(v, 50);
    OK(fm_get_i64_i64(r->clone, 1, &v));
    CHECK_I64(v, 10);
    OK(fm_update_i64(r->other, 5, inner_cb, ctx));
    /* Another thread may read the map meanwhile. */
    pthread_t t;
    if (CHECK(pthread_create(&t, NULL, reader_thread, r) == 0)) pthread_join(t, NULL);
    int64_t x;
    memcpy(&x, value, 8);
    x += 1;
    memcpy(value, &x, len);
    return 0;
}

typedef struct each_reenter {
    fm_handle self, other;
    int calls, inner;
} each_reenter;

static int32_t each_inner(void *ctx, const fm_entry *e) {
    each_reenter *r = ctx;
    (void)e;
    r->inner++;
    int64_t v;
    EXPECT(fm_get_i64_i64(r->self, 1, &v), FM_REENTRANT);
    return 0;
}

static int32_t each_reenter_cb(void *ctx, const fm_entry *e) {
    each_reenter *r = ctx;
    (void)e;
    r->calls++;
    int64_t v;
    EXPECT(fm_get_i64_i64(r->self, 1, &v), FM_REENTRANT);
    EXPECT(fm_insert_i64_i64(r->self, 99, 99, NULL), FM_REENTRANT);
    EXPECT(fm_for_each(r->self, each_inner, ctx), FM_REENTRANT);
    OK(fm_insert_i64_i64(r->other, 7, 7, NULL));
    OK(fm_for_each(r->other, each_inner, ctx)); /* nested walk of another map */
    return 0;
}

static void test_reentrancy(void) {
    reenter r = {0};
    OK(fm_map_new(FM_INT, FM_INT, 0, &r.self));
    OK(fm_map_new(FM_INT, FM_INT, 0, &r.other));
    OK(fm_insert_i64_i64(r.self, 1, 10, NULL));
    OK(fm_map_clone(r.self, &r.clone));
    uint64_t iters = 0;
    OK(fm_update_i64(r.self, 1, reenter_cb, &r));
    CHECK(r.calls == 1 && r.inner_calls == 1);
    int64_t v = 0;
    OK(fm_get_i64_i64(r.self, 1, &v)); /* the map works again, with the update committed */
    CHECK_I64(v, 11);
    OK(fm_get_i64_i64(r.other, 5, &v));
    CHECK_I64(v, 51);
    size_t len = 0;
    OK(fm_map_len(r.self, &len));
    CHECK_U64(len, 1);
    OK(fm_census(FM_HANDLE_ITERATOR, &iters));
    CHECK_U64(iters, 0);
    OK(fm_insert_i64_i64(r.self, 2, 20, NULL));

    each_reenter e = {r.self, r.other, 0, 0};
    OK(fm_for_each(r.self, each_reenter_cb, &e));
    CHECK(e.calls == 2);
    CHECK(e.inner == 2 * 2); /* `other` (keys 5 and 7) walked once per entry of `self` */
    OK(fm_map_len(r.self, &len));
    CHECK_U64(len, 2);
    OK(fm_map_free(r.self));
    OK(fm_map_free(r.other));
    OK(fm_map_free(r.clone));
}

/* ---- bridge maps (every bridge function once, with checked results) -------------- */

typedef struct bridge_ctx {
    fm_handle self, direct;
    int calls;
} bridge_ctx;

/* Runs on the bridge's owner thread: its own map refuses, others work. */
static int32_t bridge_update_cb(void *vctx, uint8_t *value, size_t len) {
    bridge_ctx *c = vctx;
    c->calls++;
    int64_t v = -1;
    EXPECT(fm_get_i64_i64(c->self, 1, &v), FM_REENTRANT);
    EXPECT(fm_map_free(c->self), FM_REENTRANT);
    OK(fm_insert_i64_i64(c->direct, 1, 1, NULL));
    int64_t x;
    memcpy(&x, value, 8);
    x += 1;
    memcpy(value, &x, len);
    return 0;
}

static void expect_event(fm_handle sub, uint64_t seq, uint32_t op, int64_t key, int64_t value, uint64_t lost) {
    fm_event ev;
    memset(&ev, 0, sizeof ev);
    if (!OK(fm_sub_next(sub, 5000000, &ev))) return;
    CHECK_MSG(ev.seq == seq && ev.op == op && ev.key_int == key && ev.lost == lost,
              "event seq %" PRIu64 " op %u key %" PRId64 " lost %" PRIu64 ", expected seq %" PRIu64 " op %u key %" PRId64
              " lost %" PRIu64,
              ev.seq, ev.op, ev.key_int, ev.lost, seq, op, key, lost);
    if (op != FM_OP_REMOVE) CHECK_I64(ev.value_int, value);
}

static void test_bridge(void) {
    fm_handle b = 0, direct = 0, sub = 0, t = 0;
    if (!OK(fm_bridge_new(FM_INT, FM_INT, 0, 64, &b))) return;
    OK(fm_map_new(FM_INT, FM_INT, 0, &direct));
    OK(fm_bridge_status(b));
    EXPECT(fm_bridge_status(direct), FM_WRONG_KIND);
    uint64_t seq = 99;
    OK(fm_bridge_seq(b, &seq));
    CHECK_U64(seq, 0);
    OK(fm_subscribe(b, 16, &sub));

    /* Ordinary map calls on a bridge map; mutations are numbered 1, 2, ... */
    bool replaced = true;
    OK(fm_insert_i64_i64(b, 1, 10, &replaced));
    CHECK(!replaced);
    CHECK_U64(fm_last_seq(), 1);
    int64_t v = 0;
    OK(fm_add_i64_i64(b, 1, 5, &v));
    CHECK_I64(v, 15);
    CHECK_U64(fm_last_seq(), 2);
    OK(fm_get_i64_i64(b, 1, &v));
    CHECK_I64(v, 15);
    CHECK_U64(fm_last_seq(), 2); /* reads are not numbered */
    bridge_ctx c = {b, direct, 0};
    OK(fm_update_i64(b, 1, bridge_update_cb, &c));
    CHECK(c.calls == 1);
    CHECK_U64(fm_last_seq(), 3);
    size_t len = 0;
    OK(fm_map_len(b, &len));
    CHECK_U64(len, 1);

    /* An asynchronous batch, answered in order. */
    fm_request reqs[4] = {
        {.op = FM_OP_INSERT, .key_int = 2, .value_int = 20},
        {.op = FM_OP_GET, .key_int = 1},
        {.op = FM_OP_REMOVE, .key_int = 1},
        {.op = FM_OP_LEN},
    };
    if (OK(fm_submit(b, reqs, 4, -1, &t))) {
        OK(fm_ticket_wait(t, -1));
        bool done = false;
        OK(fm_ticket_poll(t, &done));
        CHECK(done);
        fm_result res[4];
        size_t n = 0;
        EXPECT(fm_ticket_results(t, res, 2, &n), FM_BUFFER_TOO_SMALL);
        CHECK_U64(n, 4);
        if (OK(fm_ticket_results(t, res, 4, &n)) && CHECK_U64(n, 4)) {
            CHECK(res[0].status == FM_OK && !res[0].flag && res[0].seq == 4);
            CHECK(res[1].status == FM_OK && res[1].flag && res[1].value_int == 16 && res[1].seq == 0);
            CHECK(res[2].status == FM_OK && res[2].flag && res[2].seq == 5);
            CHECK(res[3].status == FM_OK && res[3].len == 1);
        }
        OK(fm_ticket_free(t));
        EXPECT(fm_ticket_free(t), FM_INVALID_HANDLE);
    }
    /* Bad submissions queue nothing and make no ticket. */
    fm_handle none = 12345;
    fm_request bad = {.op = 99};
    EXPECT(fm_submit(b, &bad, 1, 0, &none), FM_INVALID_ARGUMENT);
    EXPECT(fm_submit(b, reqs, 0, 0, &none), FM_INVALID_ARGUMENT);
    EXPECT(fm_submit(direct, reqs, 1, 0, &none), FM_WRONG_KIND);
    CHECK_U64(none, 12345);
    OK(fm_bridge_seq(b, &seq));
    CHECK_U64(seq, 5);

    /* The change feed saw every mutation, in order. */
    expect_event(sub, 1, FM_OP_INSERT, 1, 10, 0);
    expect_event(sub, 2, FM_OP_ADD, 1, 15, 0);
    expect_event(sub, 3, FM_OP_UPDATE, 1, 16, 0);
    expect_event(sub, 4, FM_OP_INSERT, 2, 20, 0);
    expect_event(sub, 5, FM_OP_REMOVE, 1, 0, 0);
    fm_event ev;
    EXPECT(fm_sub_next(sub, 0, &ev), FM_TIMEOUT);

    /* A subscriber that falls behind its bound is told how much it lost. */
    fm_handle slow = 0;
    OK(fm_subscribe(b, 2, &slow));
    for (int64_t k = 10; k < 15; k++) OK(fm_insert_i64_i64(b, k, k, NULL));
    expect_event(slow, 9, FM_OP_INSERT, 13, 13, 3);
    expect_event(slow, 10, FM_OP_INSERT, 14, 14, 0);
    OK(fm_sub_free(slow));

    /* Freeing closes: the feed drains, then says closed. */
    OK(fm_map_free(b));
    for (int64_t k = 10; k < 15; k++) expect_event(sub, (uint64_t)k - 4, FM_OP_INSERT, k, k, 0);
    EXPECT(fm_sub_next(sub, 0, &ev), FM_CLOSED);
    OK(fm_sub_free(sub));
    EXPECT(fm_sub_free(sub), FM_INVALID_HANDLE);
    EXPECT(fm_bridge_status(b), FM_INVALID_HANDLE);
    OK(fm_map_free(direct));
}

/* ---- library-wide calls ---------------------------------------------------------- */

static void *fresh_thread_error(void *arg) {
    (void)arg;
    CHECK_MSG(strcmp(fm_last_error(), "") == 0, "new thread starts with last error \"%s\"", fm_last_error());
    size_t len;
    EXPECT(fm_map_len(0, &len), FM_INVALID_HANDLE);
    CHECK(strlen(fm_last_error()) > 0);
    return NULL;
}

static void test_status_and_errors(void) {
    /* Every code has its own static description; unknown codes share one. */
    enum { CODES = FM_BRIDGE_FAILED + 1 };
    const char *texts[CODES];
    for (int32_t code = 0; code < CODES; code++) {
        texts[code] = fm_status_str(code);
        if (!CHECK(texts[code] != NULL)) return;
        CHECK_MSG(strlen(texts[code]) > 0 && strcmp(texts[code], "unknown status") != 0, "fm_status_str(%d) = \"%s\"",
                  code, texts[code]);
        CHECK(fm_status_str(code) == texts[code]); /* static: the same pointer every time */
        for (int32_t other = 0; other < code; other++)
            CHECK_MSG(strcmp(texts[other], texts[code]) != 0, "codes %d and %d share \"%s\"", other, code, texts[code]);
    }
    const int32_t unknown[] = {FM_BRIDGE_FAILED + 1, 31, 32, 63, 64, 1000, -1, -16, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < COUNT(unknown); i++)
        CHECK_MSG(fm_status_str(unknown[i]) && strcmp(fm_status_str(unknown[i]), "unknown status") == 0,
                  "fm_status_str(%d) = \"%s\"", unknown[i], fm_status_str(unknown[i]));

    /* The last error: details of the failure, kept through successes. */
    fm_handle m = 0;
    EXPECT(fm_map_new(99, FM_INT, 0, &m), FM_INVALID_ARGUMENT);
    CHECK(m == 0);
    char saved[512];
    snprintf(saved, sizeof saved, "%s", fm_last_error());
    CHECK_MSG(strstr(saved, "99") != NULL, "message \"%s\" does not name the bad kind", saved);
    OK(fm_map_new(FM_INT, FM_INT, 0, &m));
    int64_t v;
    EXPECT(fm_get_i64_i64(m, 5, &v), FM_NOT_FOUND);
    fm_handle it;
    OK(fm_iter_new(m, &it));
    fm_entry e;
    EXPECT(fm_iter_next(it, &e), FM_END);
    OK(fm_iter_free(it));
    CHECK_MSG(strcmp(fm_last_error(), saved) == 0, "success/NOT_FOUND/END changed the message to \"%s\"",
              fm_last_error());
    EXPECT(fm_map_len(m, NULL), FM_NULL_ARGUMENT);
    CHECK_MSG(strstr(fm_last_error(), "len_out") != NULL, "message \"%s\" does not name the argument",
              fm_last_error());
    EXPECT(fm_insert_buf_i64(m, (const uint8_t *)"k", 1, 1, NULL), FM_WRONG_KIND);
    CHECK(strcmp(fm_last_error(), saved) != 0 && strlen(fm_last_error()) > 0);
    snprintf(saved, sizeof saved, "%s", fm_last_error());
    /* Another thread's failures do not touch this thread's message. */
    pthread_t t;
    if (CHECK(pthread_create(&t, NULL, fresh_thread_error, NULL) == 0)) pthread_join(t, NULL);
    CHECK(strcmp(fm_last_error(), saved) == 0);
    OK(fm_map_free(m));
    EXPECT(fm_map_free(m), FM_INVALID_HANDLE);
    CHECK(strstr(fm_last_error(), "freed") != NULL || strstr(fm_last_error(), "stale") != NULL);
}

static void test_library_calls(void) {
    CHECK_U64(fm_version(), FM_VERSION);
    CHECK_U64(FM_VERSION, (FM_VERSION_MAJOR << 16) | (FM_VERSION_MINOR << 8) | FM_VERSION_PATCH);
    CHECK(strcmp(fm_version_string(), FM_VERSION_STRING) == 0);
    CHECK(fm_version_string() == fm_version_string());
    unsigned a = 99, b = 99, c = 99;
    CHECK(sscanf(fm_version_string(), "%u.%u.%u", &a, &b, &c) == 3);
    CHECK(a == FM_VERSION_MAJOR && b == FM_VERSION_MINOR && c == FM_VERSION_PATCH);

    CHECK(fm_registry_id() != 0);
    CHECK_U64(fm_registry_id(), fm_registry_id());
    const char *path = fm_library_path();
    /* Linked with -lferrymap, the program loaded the library by its soname. */
    const char *soname = "/libferrymap.so." FM_STR(FM_VERSION_MAJOR);
    size_t n = strlen(path), s = strlen(soname);
    CHECK_MSG(n >= s && strcmp(path + n - s, soname) == 0, "fm_library_path() = \"%s\"", path);

    /* Census: each kind counted on its own; unknown kinds refused. */
    uint64_t maps = 9, iters = 9, views = 9, total = fm_census_total();
    CHECK_U64(total, 0);
    fm_handle m = 0, it = 0, v = 0, ex = 0;
    OK(fm_map_new(FM_INT, FM_STR, 0, &m));
    OK(fm_insert_i64_buf(m, 1, (const uint8_t *)"one", 3, NULL));
    OK(fm_iter_new(m, &it));
    OK(fm_view_i64(m, 1, &v, NULL, NULL));
    OK(fm_export(m, &ex, NULL, NULL));
    OK(fm_census(FM_HANDLE_MAP, &maps));
    OK(fm_census(FM_HANDLE_ITERATOR, &iters));
    OK(fm_census(FM_HANDLE_VIEW, &views));
    CHECK(maps == 1 && iters == 1 && views == 2);
    CHECK_U64(fm_census_total(), 4);
    uint64_t reserved = 9;
    OK(fm_census(FM_HANDLE_SUBSCRIPTION, &reserved));
    CHECK_U64(reserved, 0);
    OK(fm_census(FM_HANDLE_TICKET, &reserved));
    CHECK_U64(reserved, 0);
    uint64_t untouched = 555;
    EXPECT(fm_census(0, &untouched), FM_INVALID_ARGUMENT);
    EXPECT(fm_census(6, &untouched), FM_INVALID_ARGUMENT);
    EXPECT(fm_census(UINT32_MAX, &untouched), FM_INVALID_ARGUMENT);
    CHECK_U64(untouched, 555);
    OK(fm_view_release(ex));
    OK(fm_view_release(v));
    OK(fm_iter_free(it));
    OK(fm_map_free(m));
    CHECK_U64(fm_census_total(), 0);
}

static void test_stats_and_reserve(void) {
    fm_handle m = 0;
    OK(fm_map_new(FM_INT, FM_BYTES, 0, &m));
    fm_stats st;
    memset(&st, 0xff, sizeof st);
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.len, 0);
    CHECK_U64(st.open_iterators, 0);
    CHECK_U64(st.open_views, 0);
    CHECK_U64(st.writes, 0);
    CHECK(st.load_factor == 0.0);
    CHECK(st.memory_bytes > 0);
    uint64_t mem0 = st.memory_bytes;

    for (int64_t k = 0; k < 100; k++) OK(fm_insert_i64_buf(m, k, (const uint8_t *)"0123456789", 10, NULL));
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.len, 100);
    CHECK_U64(st.writes, 100);
    CHECK(st.capacity >= 100);
    CHECK(st.capacity > 0 && fabs(st.load_factor - (double)st.len / (double)st.capacity) < 1e-12);
    CHECK(st.load_factor > 0 && st.load_factor <= 1.0);
    CHECK(st.memory_bytes > mem0 + 100 * 10);
    uint64_t mem1 = st.memory_bytes;
    /* Reads are not writes. */
    uint8_t buf[16];
    size_t n;
    OK(fm_get_i64_buf(m, 5, buf, sizeof buf, &n));
    bool found;
    OK(fm_contains_i64(m, 5, &found));
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.writes, 100);
    /* A big value shows in memory_bytes, and goes with its key. */
    enum { BIG = 200000 };
    uint8_t *big = malloc(BIG);
    if (!CHECK(big != NULL)) return;
    memset(big, 0x5c, BIG);
    OK(fm_insert_i64_buf(m, 1000, big, BIG, NULL));
    OK(fm_map_stats(m, &st));
    CHECK(st.memory_bytes >= mem1 + BIG);
    CHECK_U64(st.writes, 101);
    /* The map copied the bytes: changing ours changes nothing. */
    memset(big, 0, BIG);
    fm_handle view;
    const uint8_t *p;
    OK(fm_view_i64(m, 1000, &view, &p, &n));
    CHECK(n == BIG && p[0] == 0x5c && p[BIG - 1] == 0x5c);
    OK(fm_view_release(view));
    free(big);
    bool removed = false;
    OK(fm_remove_i64(m, 1000, &removed));
    CHECK(removed);
    OK(fm_remove_i64(m, 1000, &removed)); /* nothing removed: not a write */
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.writes, 102);
    CHECK(st.memory_bytes < mem1 + BIG);

    /* Open iterators and views are counted per map. */
    fm_handle i1, i2, v1;
    OK(fm_iter_new(m, &i1));
    OK(fm_iter_new(m, &i2));
    OK(fm_view_i64(m, 3, &v1, NULL, NULL));
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.open_iterators, 2);
    CHECK_U64(st.open_views, 1);
    /* A freed iterator or released view is no longer open (the census
     * already says so; the map's figures must agree). */
    OK(fm_iter_free(i1));
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.open_iterators, 1);
    OK(fm_iter_free(i2));
    OK(fm_view_release(v1));
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.open_iterators, 0);
    CHECK_U64(st.open_views, 0);

    OK(fm_map_clear(m));
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.len, 0);
    CHECK(st.writes > 102);
    OK(fm_map_free(m));

    /* reserve: room made up front, then the inserts do not grow the tables. */
    OK(fm_map_new(FM_INT, FM_INT, 0, &m));
    OK(fm_map_reserve(m, 0));
    OK(fm_map_reserve(m, 5000));
    OK(fm_map_stats(m, &st));
    CHECK(st.capacity >= 5000);
    uint64_t cap = st.capacity;
    uint64_t seed = 7;
    for (int i = 0; i < 5000; i++) OK(fm_insert_i64_i64(m, (int64_t)check_rand(&seed), i, NULL));
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.len, 5000);
    CHECK_U64(st.capacity, cap);
    OK(fm_map_reserve(m, 1)); /* small reserve on a roomy map: nothing to do */
    OK(fm_map_free(m));

    /* A capacity hint at creation works the same way. */
    OK(fm_map_new(FM_STR, FM_INT, 3000, &m));
    OK(fm_map_stats(m, &st));
    CHECK(st.capacity >= 3000);
    cap = st.capacity;
    for (int i = 0; i < 3000; i++) {
        char key[32];
        int kn = snprintf(key, sizeof key, "reserved-%d", i);
        OK(fm_insert_buf_i64(m, (const uint8_t *)key, (size_t)kn, i, NULL));
    }
    OK(fm_map_stats(m, &st));
    CHECK_U64(st.capacity, cap);
    OK(fm_map_free(m));
}

/* Key kinds in a NULL/empty form: a NULL pointer with length 0 is the empty key. */
static void test_empty_forms(void) {
    fm_handle m = 0;
    OK(fm_map_new(FM_STR, FM_STR, 0, &m));
    bool replaced = true;
    OK(fm_insert_buf_buf(m, NULL, 0, NULL, 0, &replaced));
    CHECK(!replaced);
    OK(fm_insert_buf_buf(m, (const uint8_t *)"", 0, (const uint8_t *)"x", 1, &replaced));
    CHECK(replaced); /* the same empty key */
    uint8_t buf[4] = {0};
    size_t n = 0;
    OK(fm_get_buf_buf(m, NULL, 0, buf, sizeof buf, &n));
    CHECK(n == 1 && buf[0] == 'x');
    bool found = false;
    OK(fm_contains_buf(m, NULL, 0, &found));
    CHECK(found);
    bool removed = false;
    OK(fm_remove_buf(m, NULL, 0, &removed));
    CHECK(removed);
    OK(fm_map_free(m));
}

/* Atomic remove-and-return and insert-if-absent, for each key/value family. */
static void test_take_and_insert_if_absent(void) {
    const uint8_t *k = (const uint8_t *)"key\0x";
    const size_t kn = 5;
    fm_handle ii, if_, ib, bi, bf, bb;
    OK(fm_map_new(FM_INT, FM_INT, 0, &ii));
    OK(fm_map_new(FM_INT, FM_FLOAT, 0, &if_));
    OK(fm_map_new(FM_INT, FM_BYTES, 0, &ib));
    OK(fm_map_new(FM_STR, FM_INT, 0, &bi));
    OK(fm_map_new(FM_BYTES, FM_FLOAT, 0, &bf));
    OK(fm_map_new(FM_STR, FM_STR, 0, &bb));
    bool present = true;
    OK(fm_insert_if_absent_i64_i64(ii, 1, 10, &present));
    CHECK(!present);
    OK(fm_insert_if_absent_i64_i64(ii, 1, 20, &present));
    CHECK(present);
    OK(fm_insert_if_absent_i64_i64(ii, 1, 30, NULL));
    int64_t iv = 0;
    OK(fm_take_i64_i64(ii, 1, &iv));
    CHECK_I64(iv, 10); /* the first value stayed */
    EXPECT(fm_take_i64_i64(ii, 1, &iv), FM_NOT_FOUND);
    EXPECT(fm_take_i64_i64(ii, 1, NULL), FM_NULL_ARGUMENT);

    OK(fm_insert_if_absent_i64_f64(if_, 2, 1.5, &present));
    OK(fm_insert_if_absent_i64_f64(if_, 2, 9.5, &present));
    CHECK(present);
    double fv = 0;
    OK(fm_take_i64_f64(if_, 2, &fv));
    CHECK(fv == 1.5);

    OK(fm_insert_if_absent_i64_buf(ib, 3, (const uint8_t *)"hello", 5, &present));
    OK(fm_insert_if_absent_i64_buf(ib, 3, (const uint8_t *)"other", 5, &present));
    CHECK(present);
    uint8_t buf[8];
    size_t n = 0;
    EXPECT(fm_take_i64_buf(ib, 3, buf, 2, &n), FM_BUFFER_TOO_SMALL);
    CHECK_U64(n, 5);
    size_t len = 0;
    OK(fm_map_len(ib, &len));
    CHECK_U64(len, 1); /* a too-small buffer removes nothing */
    OK(fm_take_i64_buf(ib, 3, buf, sizeof buf, &n));
    CHECK_MEM(buf, n, "hello", 5);
    OK(fm_map_len(ib, &len));
    CHECK_U64(len, 0);

    OK(fm_insert_if_absent_buf_i64(bi, k, kn, 7, &present));
    EXPECT(fm_insert_if_absent_buf_i64(bi, (const uint8_t *)"\xff", 1, 7, &present), FM_INVALID_UTF8);
    OK(fm_take_buf_i64(bi, k, kn, &iv));
    CHECK_I64(iv, 7);
    EXPECT(fm_take_buf_i64(bi, k, kn, &iv), FM_NOT_FOUND);

    OK(fm_insert_if_absent_buf_f64(bf, (const uint8_t *)"\xff", 1, 2.25, &present));
    OK(fm_take_buf_f64(bf, (const uint8_t *)"\xff", 1, &fv));
    CHECK(fv == 2.25);

    OK(fm_insert_if_absent_buf_buf(bb, k, kn, (const uint8_t *)"", 0, &present));
    CHECK(!present);
    OK(fm_insert_if_absent_buf_buf(bb, k, kn, (const uint8_t *)"x", 1, &present));
    CHECK(present);
    OK(fm_take_buf_buf(bb, k, kn, NULL, 0, &n));
    CHECK_U64(n, 0); /* the empty value that was there first */
    EXPECT(fm_take_buf_buf(bb, k, kn, buf, sizeof buf, &n), FM_NOT_FOUND);
    EXPECT(fm_take_i64_i64(bb, 1, &iv), FM_WRONG_KIND);
    EXPECT(fm_insert_if_absent_i64_i64(bb, 1, 1, NULL), FM_WRONG_KIND);
    fm_handle all[] = {ii, if_, ib, bi, bf, bb};
    for (size_t i = 0; i < COUNT(all); i++) OK(fm_map_free(all[i]));
}

/* Swap, compare-and-swap, remove-if-equal and get-or-insert, for every
 * key and value form, on a direct or a bridge map. */
static fm_handle cond_map(bool bridge, uint32_t kk, uint32_t vk) {
    fm_handle m = 0;
    if (bridge)
        OK(fm_bridge_new(kk, vk, 0, 64, &m));
    else
        OK(fm_map_new(kk, vk, 0, &m));
    return m;
}

typedef struct cas_counter {
    fm_handle map;
    int rounds;
} cas_counter;

/* Adds 1 to key 5, `rounds` times, by read and compare-and-swap. */
static void *cas_increments(void *arg) {
    cas_counter *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        int64_t cur = 0;
        OK(fm_get_i64_i64(c->map, 5, &cur));
        bool swapped = false;
        while (fm_compare_and_swap_i64_i64(c->map, 5, cur, cur + 1, &swapped, &cur) == FM_OK && !swapped) {
        }
        CHECK(swapped);
    }
    return NULL;
}

static void test_conditional_ops(bool bridge) {
    const uint8_t *k = (const uint8_t *)"k\0ey";
    const size_t kn = 4;
    uint8_t buf[16];
    size_t n = 0;
    bool flag = false, present = false;
    int64_t iv = 0;
    double fv = 0;

    /* INT -> INT: every operation and outcome. */
    fm_handle ii = cond_map(bridge, FM_INT, FM_INT);
    OK(fm_swap_i64_i64(ii, 1, 10, &iv, &present));
    CHECK(!present);
    OK(fm_swap_i64_i64(ii, 1, 11, &iv, &present));
    CHECK(present);
    CHECK_I64(iv, 10);
    OK(fm_swap_i64_i64(ii, 1, 12, NULL, NULL));
    OK(fm_compare_and_swap_i64_i64(ii, 1, 12, 13, &flag, &iv));
    CHECK(flag);
    iv = 0;
    OK(fm_compare_and_swap_i64_i64(ii, 1, 99, 14, &flag, &iv));
    CHECK(!flag);
    CHECK_I64(iv, 13);
    OK(fm_compare_and_swap_i64_i64(ii, 1, 99, 14, &flag, NULL));
    EXPECT(fm_compare_and_swap_i64_i64(ii, 2, 0, 1, &flag, &iv), FM_NOT_FOUND);
    EXPECT(fm_compare_and_swap_i64_i64(ii, 1, 13, 14, NULL, &iv), FM_NULL_ARGUMENT);
    OK(fm_get_i64_i64(ii, 1, &iv));
    CHECK_I64(iv, 13); /* the refused calls changed nothing */
    OK(fm_remove_if_equal_i64_i64(ii, 1, 12, &flag));
    CHECK(!flag);
    OK(fm_remove_if_equal_i64_i64(ii, 1, 13, &flag));
    CHECK(flag);
    EXPECT(fm_remove_if_equal_i64_i64(ii, 1, 13, &flag), FM_NOT_FOUND);
    EXPECT(fm_remove_if_equal_i64_i64(ii, 1, 13, NULL), FM_NULL_ARGUMENT);
    OK(fm_get_or_insert_i64_i64(ii, 3, 30, &iv, &flag));
    CHECK(flag);
    iv = 0;
    OK(fm_get_or_insert_i64_i64(ii, 3, 31, &iv, &flag));
    CHECK(!flag);
    CHECK_I64(iv, 30);
    EXPECT(fm_get_or_insert_i64_i64(ii, 3, 31, &iv, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_swap_i64_f64(ii, 1, 1.0, &fv, &present), FM_WRONG_KIND);
    EXPECT(fm_swap_buf_i64(ii, k, kn, 1, &iv, &present), FM_WRONG_KIND);

    /* Threads that count by compare-and-swap lose no increment. */
    OK(fm_insert_i64_i64(ii, 5, 0, NULL));
    enum { THREADS = 4 };
    cas_counter c = {ii, bridge ? 200 : 2000};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, cas_increments, &c);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    OK(fm_get_i64_i64(ii, 5, &iv));
    CHECK_I64(iv, THREADS * c.rounds);

    /* INT -> FLOAT: bits decide equality. */
    fm_handle if_ = cond_map(bridge, FM_INT, FM_FLOAT);
    OK(fm_swap_i64_f64(if_, 1, 0.0, &fv, &present));
    OK(fm_compare_and_swap_i64_f64(if_, 1, -0.0, 1.0, &flag, &fv));
    CHECK(!flag); /* 0.0 is not -0.0 */
    OK(fm_swap_i64_f64(if_, 1, NAN, &fv, &present));
    CHECK(present && fv == 0.0);
    OK(fm_compare_and_swap_i64_f64(if_, 1, NAN, 2.5, &flag, &fv));
    CHECK(flag); /* the same NaN */
    OK(fm_remove_if_equal_i64_f64(if_, 1, 2.5, &flag));
    CHECK(flag);
    OK(fm_get_or_insert_i64_f64(if_, 1, 4.5, &fv, &flag));
    CHECK(flag);
    OK(fm_get_or_insert_i64_f64(if_, 1, 5.5, &fv, &flag));
    CHECK(!flag && fv == 4.5);

    /* INT -> BYTES: buffers, and a too-small one changes nothing. */
    fm_handle ib = cond_map(bridge, FM_INT, FM_BYTES);
    OK(fm_swap_i64_buf(ib, 1, (const uint8_t *)"hello", 5, buf, sizeof buf, &n, &present));
    CHECK(!present);
    EXPECT(fm_swap_i64_buf(ib, 1, (const uint8_t *)"x", 1, buf, 2, &n, &present), FM_BUFFER_TOO_SMALL);
    CHECK_U64(n, 5);
    OK(fm_swap_i64_buf(ib, 1, (const uint8_t *)"world", 5, buf, sizeof buf, &n, &present));
    CHECK(present);
    CHECK_MEM(buf, n, "hello", 5); /* not "x": the refused swap stored nothing */
    EXPECT(fm_swap_i64_buf(ib, 1, (const uint8_t *)"x", 1, buf, sizeof buf, NULL, &present), FM_NULL_ARGUMENT);
    OK(fm_compare_and_swap_i64_buf(ib, 1, (const uint8_t *)"hello", 5, (const uint8_t *)"", 0, &flag, buf,
                                   sizeof buf, &n));
    CHECK(!flag);
    CHECK_MEM(buf, n, "world", 5);
    OK(fm_compare_and_swap_i64_buf(ib, 1, (const uint8_t *)"world", 5, (const uint8_t *)"", 0, &flag, buf,
                                   sizeof buf, &n));
    CHECK(flag);
    OK(fm_remove_if_equal_i64_buf(ib, 1, (const uint8_t *)"x", 1, &flag));
    CHECK(!flag);
    OK(fm_remove_if_equal_i64_buf(ib, 1, NULL, 0, &flag));
    CHECK(flag);
    OK(fm_get_or_insert_i64_buf(ib, 2, (const uint8_t *)"\0\xff", 2, buf, sizeof buf, &n, &flag));
    CHECK(flag);
    OK(fm_get_or_insert_i64_buf(ib, 2, (const uint8_t *)"zz", 2, buf, sizeof buf, &n, &flag));
    CHECK(!flag);
    CHECK_MEM(buf, n, "\0\xff", 2);

    /* STR keys, each value form; STR values must be UTF-8. */
    fm_handle bi = cond_map(bridge, FM_STR, FM_INT);
    OK(fm_swap_buf_i64(bi, k, kn, 7, &iv, &present));
    EXPECT(fm_swap_buf_i64(bi, (const uint8_t *)"\xff", 1, 7, &iv, &present), FM_INVALID_UTF8);
    OK(fm_compare_and_swap_buf_i64(bi, k, kn, 7, 8, &flag, &iv));
    CHECK(flag);
    OK(fm_remove_if_equal_buf_i64(bi, k, kn, 8, &flag));
    CHECK(flag);
    OK(fm_get_or_insert_buf_i64(bi, k, kn, 9, &iv, &flag));
    CHECK(flag);
    fm_handle bf = cond_map(bridge, FM_BYTES, FM_FLOAT);
    OK(fm_swap_buf_f64(bf, (const uint8_t *)"\xff", 1, 1.25, &fv, &present));
    OK(fm_compare_and_swap_buf_f64(bf, (const uint8_t *)"\xff", 1, 1.25, 2.25, &flag, &fv));
    CHECK(flag);
    OK(fm_remove_if_equal_buf_f64(bf, (const uint8_t *)"\xff", 1, 2.25, &flag));
    CHECK(flag);
    OK(fm_get_or_insert_buf_f64(bf, (const uint8_t *)"\xff", 1, 3.25, &fv, &flag));
    CHECK(flag);
    fm_handle bb = cond_map(bridge, FM_STR, FM_STR);
    OK(fm_swap_buf_buf(bb, k, kn, (const uint8_t *)"a", 1, buf, sizeof buf, &n, &present));
    EXPECT(fm_swap_buf_buf(bb, k, kn, (const uint8_t *)"\xc3", 1, buf, sizeof buf, &n, &present),
           FM_INVALID_UTF8);
    EXPECT(fm_compare_and_swap_buf_buf(bb, k, kn, (const uint8_t *)"\xc3", 1, (const uint8_t *)"b", 1, &flag,
                                       buf, sizeof buf, &n),
           FM_INVALID_UTF8);
    OK(fm_compare_and_swap_buf_buf(bb, k, kn, (const uint8_t *)"a", 1, (const uint8_t *)"b", 1, &flag, buf,
                                   sizeof buf, &n));
    CHECK(flag);
    OK(fm_remove_if_equal_buf_buf(bb, k, kn, (const uint8_t *)"b", 1, &flag));
    CHECK(flag);
    OK(fm_get_or_insert_buf_buf(bb, k, kn, (const uint8_t *)"c", 1, buf, sizeof buf, &n, &flag));
    CHECK(flag);
    OK(fm_get_buf_buf(bb, k, kn, buf, sizeof buf, &n));
    CHECK_MEM(buf, n, "c", 1);
    EXPECT(fm_remove_if_equal_buf_buf(bb, k, (size_t)1 << 40, k, kn, &flag), FM_INVALID_ARGUMENT);
    EXPECT(fm_get_or_insert_buf_buf(bb, k, kn, k, (size_t)1 << 40, buf, sizeof buf, &n, &flag),
           FM_INVALID_ARGUMENT);

    fm_handle all[] = {ii, if_, ib, bi, bf, bb};
    for (size_t i = 0; i < COUNT(all); i++) OK(fm_map_free(all[i]));
    /* A freed map's handle and a forged one are refused. */
    EXPECT(fm_swap_i64_i64(ii, 1, 1, NULL, NULL), FM_INVALID_HANDLE);
    EXPECT(fm_compare_and_swap_i64_i64(0x5eed1234, 1, 1, 2, &flag, NULL), FM_INVALID_HANDLE);
    EXPECT(fm_get_or_insert_i64_i64(ii, 1, 1, NULL, &flag), FM_INVALID_HANDLE);
}

/* A compute callback driven by a script: what it saw, what it returns. */
typedef struct compute_step {
    int32_t ret;
    const char *set; /* bytes to store (with set_len), or NULL */
    size_t set_len;
    bool saw_present;
    char seen[32];
    size_t seen_len;
    fm_handle reenter; /* if not 0, a map to call into from the callback */
    fm_status reenter_status;
} compute_step;

static int32_t scripted_compute(void *ctx, const uint8_t *current, size_t len, const uint8_t **new_value,
                                size_t *new_len) {
    compute_step *s = ctx;
    s->saw_present = current != NULL;
    s->seen_len = len;
    if (current && len <= sizeof s->seen) memcpy(s->seen, current, len);
    if (s->reenter) s->reenter_status = fm_insert_i64_i64(s->reenter, 99, 99, NULL);
    if (s->set) {
        *new_value = (const uint8_t *)s->set;
        *new_len = s->set_len;
    }
    return s->ret;
}

static void test_compute(bool bridge) {
    bool present = false;
    int64_t iv = 0;
    /* INT -> INT: absent, set, keep, remove, stop, bad sizes. */
    fm_handle ii = cond_map(bridge, FM_INT, FM_INT);
    int64_t seven = 7, eight = 8;
    compute_step s = {.ret = FM_COMPUTE_SET, .set = (const char *)&seven, .set_len = 8};
    OK(fm_compute_i64(ii, 1, scripted_compute, &s, &present));
    CHECK(!s.saw_present && present);
    OK(fm_get_i64_i64(ii, 1, &iv));
    CHECK_I64(iv, 7);
    s = (compute_step){.ret = FM_COMPUTE_SET, .set = (const char *)&eight, .set_len = 8};
    OK(fm_compute_i64(ii, 1, scripted_compute, &s, &present));
    CHECK(s.saw_present && s.seen_len == 8);
    memcpy(&iv, s.seen, 8);
    CHECK_I64(iv, 7);
    s = (compute_step){.ret = FM_COMPUTE_SET, .set = (const char *)&eight, .set_len = 4};
    EXPECT(fm_compute_i64(ii, 1, scripted_compute, &s, &present), FM_INVALID_ARGUMENT);
    s = (compute_step){.ret = FM_COMPUTE_SET, .set = NULL, .set_len = 0};
    EXPECT(fm_compute_i64(ii, 1, scripted_compute, &s, &present), FM_INVALID_ARGUMENT);
    s = (compute_step){.ret = 42};
    EXPECT(fm_compute_i64(ii, 1, scripted_compute, &s, &present), FM_CALLBACK_STOPPED);
    s = (compute_step){.ret = FM_COMPUTE_KEEP};
    OK(fm_compute_i64(ii, 1, scripted_compute, &s, &present));
    CHECK(present);
    OK(fm_get_i64_i64(ii, 1, &iv));
    CHECK_I64(iv, 8); /* the failed and stopped calls changed nothing */
    s = (compute_step){.ret = FM_COMPUTE_KEEP, .reenter = ii};
    OK(fm_compute_i64(ii, 1, scripted_compute, &s, NULL));
    EXPECT(s.reenter_status, FM_REENTRANT);
    s = (compute_step){.ret = FM_COMPUTE_REMOVE};
    OK(fm_compute_i64(ii, 1, scripted_compute, &s, &present));
    CHECK(!present);
    EXPECT(fm_get_i64_i64(ii, 1, &iv), FM_NOT_FOUND);
    OK(fm_compute_i64(ii, 1, scripted_compute, &s, &present)); /* removing an absent key */
    CHECK(!present);
    EXPECT(fm_compute_i64(ii, 1, NULL, NULL, &present), FM_NULL_ARGUMENT);
    EXPECT(fm_compute_buf(ii, (const uint8_t *)"k", 1, scripted_compute, &s, &present), FM_WRONG_KIND);

    /* STR -> STR: a value grows and shrinks; UTF-8 is checked. */
    fm_handle ss = cond_map(bridge, FM_STR, FM_STR);
    OK(fm_insert_buf_buf(ss, (const uint8_t *)"k", 1, (const uint8_t *)"ab", 2, NULL));
    s = (compute_step){.ret = FM_COMPUTE_SET, .set = "a much longer value", .set_len = 19};
    OK(fm_compute_buf(ss, (const uint8_t *)"k", 1, scripted_compute, &s, &present));
    CHECK(s.saw_present);
    CHECK_MEM(s.seen, s.seen_len, "ab", 2);
    uint8_t buf[32];
    size_t n = 0;
    OK(fm_get_buf_buf(ss, (const uint8_t *)"k", 1, buf, sizeof buf, &n));
    CHECK_MEM(buf, n, "a much longer value", 19);
    s = (compute_step){.ret = FM_COMPUTE_SET, .set = "\xc3", .set_len = 1};
    EXPECT(fm_compute_buf(ss, (const uint8_t *)"k", 1, scripted_compute, &s, &present), FM_INVALID_UTF8);
    s = (compute_step){.ret = FM_COMPUTE_SET, .set = "", .set_len = 0};
    OK(fm_compute_buf(ss, (const uint8_t *)"k", 1, scripted_compute, &s, &present));
    OK(fm_get_buf_buf(ss, (const uint8_t *)"k", 1, buf, sizeof buf, &n));
    CHECK_U64(n, 0);
    s = (compute_step){.ret = FM_COMPUTE_KEEP};
    OK(fm_compute_buf(ss, (const uint8_t *)"k", 1, scripted_compute, &s, &present));
    CHECK(s.saw_present && s.seen_len == 0); /* present and empty: not NULL */
    EXPECT(fm_compute_buf(ss, (const uint8_t *)"\xff", 1, scripted_compute, &s, &present), FM_INVALID_UTF8);
    OK(fm_map_free(ii));
    OK(fm_map_free(ss));
    EXPECT(fm_compute_i64(ii, 1, scripted_compute, &s, &present), FM_INVALID_HANDLE);
}

int main(void) {
    /* Before anything failed on this thread, the message is empty. */
    CHECK_MSG(strcmp(fm_last_error(), "") == 0, "initial last error \"%s\"", fm_last_error());
    for (int idx = 0; idx < NKEYS; idx++) {
        make_key(FM_INT, idx, &KEYS[FM_INT][idx]);
        make_key(FM_STR, idx, &KEYS[FM_STR][idx]);
        make_key(FM_BYTES, idx, &KEYS[FM_BYTES][idx]);
    }
    test_library_calls();
    test_status_and_errors();
    const uint32_t key_kinds[] = {FM_INT, FM_STR, FM_BYTES};
    const uint32_t val_kinds[] = {FM_INT, FM_FLOAT, FM_STR, FM_BYTES};
    for (size_t i = 0; i < COUNT(key_kinds); i++) {
        for (size_t j = 0; j < COUNT(val_kinds); j++) {
            test_schema(key_kinds[i], val_kinds[j]);
            test_value_ops(key_kinds[i], val_kinds[j]);
        }
    }
    test_take_and_insert_if_absent();
    test_conditional_ops(false);
    test_conditional_ops(true);
    test_compute(false);
    test_compute(true);
    test_reentrancy();
    test_bridge();
    test_stats_and_reserve();
    test_empty_forms();
    return check_finish("test_api");
}
