/* test_bridge.c — bridge mode from C: every map function on a bridge map,
 * per-thread FIFO and one total order under pthread producers (checked
 * through the change feed), tickets (poll, wait, timeout, results), a full
 * queue (try and timed submits), close with thousands of requests in flight
 * (every accepted one answered), lag reporting, and bad input. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static fm_handle new_bridge(uint32_t key, uint32_t value, size_t queue) {
    fm_handle m = 0;
    OK(fm_bridge_new(key, value, 0, queue, &m));
    return m;
}

static fm_request get_req(int64_t key) {
    fm_request r;
    memset(&r, 0, sizeof r);
    r.op = FM_OP_GET;
    r.key_int = key;
    return r;
}

static void same_operations_as_a_direct_map(void) {
    fm_handle m = new_bridge(FM_STR, FM_BYTES, 8);
    bool replaced = true;
    OK(fm_insert_buf_buf(m, (const uint8_t *)"k", 1, (const uint8_t *)"a\0b", 3, &replaced));
    CHECK(!replaced);
    uint8_t buf[8];
    size_t n = 0;
    OK(fm_get_buf_buf(m, (const uint8_t *)"k", 1, buf, sizeof buf, &n));
    CHECK_MEM(buf, n, "a\0b", 3);
    EXPECT(fm_get_buf_buf(m, (const uint8_t *)"k", 1, buf, 1, &n), FM_BUFFER_TOO_SMALL);
    CHECK_U64(n, 3);
    fm_handle view = 0;
    const uint8_t *p = NULL;
    OK(fm_view_buf(m, (const uint8_t *)"k", 1, &view, &p, &n));
    OK(fm_insert_buf_buf(m, (const uint8_t *)"k", 1, (const uint8_t *)"zz", 2, NULL));
    CHECK_MEM(p, n, "a\0b", 3); /* the view keeps the old bytes */
    OK(fm_view_release(view));
    fm_handle exported = 0;
    OK(fm_export(m, &exported, &p, &n));
    fm_handle copy = 0;
    OK(fm_import(p, n, &copy));
    OK(fm_view_release(exported));
    size_t len = 0;
    OK(fm_map_len(copy, &len));
    CHECK_U64(len, 1);
    OK(fm_map_free(copy));
    EXPECT(fm_insert_buf_buf(m, (const uint8_t *)"\xff", 1, (const uint8_t *)"x", 1, NULL), FM_INVALID_UTF8);
    EXPECT(fm_insert_i64_i64(m, 1, 1, NULL), FM_WRONG_KIND);
    OK(fm_bridge_status(m));
    OK(fm_map_free(m));
    EXPECT(fm_map_free(m), FM_INVALID_HANDLE);
}

enum { PRODUCERS = 4 };

struct producer {
    fm_handle map;
    int64_t id, count;
};

static void *produce(void *arg) {
    struct producer *p = arg;
    uint64_t last = 0;
    for (int64_t i = 0; i < p->count; i++) {
        OK(fm_insert_i64_i64(p->map, p->id * 1000000 + i, i, NULL));
        uint64_t seq = fm_last_seq();
        CHECK_MSG(seq > last, "sequence went from %llu to %llu", (unsigned long long)last,
                  (unsigned long long)seq);
        last = seq;
    }
    return NULL;
}

static void total_order_and_fifo(void) {
    fm_handle m = new_bridge(FM_INT, FM_INT, 64);
    int64_t each = check_scaled(3000, 100);
    fm_handle sub = 0;
    OK(fm_subscribe(m, (size_t)(PRODUCERS * each + 10), &sub));
    pthread_t t[PRODUCERS];
    struct producer p[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){m, i, each};
        pthread_create(&t[i], NULL, produce, &p[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) pthread_join(t[i], NULL);
    int64_t next[PRODUCERS] = {0};
    for (uint64_t want = 1; want <= (uint64_t)(PRODUCERS * each); want++) {
        fm_event e;
        if (!OK(fm_sub_next(sub, 5000000, &e))) break;
        CHECK_U64(e.seq, want);
        CHECK_U64(e.lost, 0);
        CHECK_U64(e.op, FM_OP_INSERT);
        int id = (int)(e.key_int / 1000000);
        if (!CHECK(id >= 0 && id < PRODUCERS)) break;
        CHECK_I64(e.key_int % 1000000, next[id]);
        next[id]++;
    }
    uint64_t seq = 0;
    OK(fm_bridge_seq(m, &seq));
    CHECK_U64(seq, (uint64_t)(PRODUCERS * each));
    OK(fm_map_free(m));
    fm_event e;
    EXPECT(fm_sub_next(sub, -1, &e), FM_CLOSED);
    OK(fm_sub_free(sub));
}

/* Holds the owner thread inside an update callback until `release` is set. */
struct stall {
    fm_handle map;
    atomic_int started, release;
};

static int32_t hold_owner(void *ctx, uint8_t *value, size_t len) {
    (void)value;
    (void)len;
    struct stall *s = ctx;
    atomic_store(&s->started, 1);
    while (!atomic_load(&s->release)) usleep(200);
    return 0;
}

static void *stall_thread(void *arg) {
    struct stall *s = arg;
    OK(fm_update_i64(s->map, -1, hold_owner, s));
    return NULL;
}

static void start_stall(struct stall *s, pthread_t *t) {
    OK(fm_insert_i64_i64(s->map, -1, 0, NULL));
    atomic_store(&s->started, 0);
    atomic_store(&s->release, 0);
    pthread_create(t, NULL, stall_thread, s);
    while (!atomic_load(&s->started)) usleep(100);
}

static void tickets_and_backpressure(void) {
    fm_handle m = new_bridge(FM_INT, FM_INT, 2);
    OK(fm_insert_i64_i64(m, 7, 70, NULL));
    struct stall s = {.map = m};
    pthread_t staller;
    start_stall(&s, &staller);

    fm_request r = get_req(7);
    fm_handle tickets[4] = {0};
    int accepted = 0;
    while (accepted < 4) {
        fm_status st = fm_submit(m, &r, 1, 0, &tickets[accepted]);
        if (st == FM_QUEUE_FULL) break;
        if (!OK(st)) break;
        accepted++;
    }
    CHECK_I64(accepted, 2); /* the queue holds two */
    fm_handle extra = 0;
    EXPECT(fm_submit(m, &r, 1, 10000, &extra), FM_TIMEOUT);
    CHECK_U64(extra, 0);
    bool done = true;
    OK(fm_ticket_poll(tickets[0], &done));
    CHECK(!done);
    EXPECT(fm_ticket_wait(tickets[0], 1000), FM_TIMEOUT);
    fm_result res[2];
    size_t n = 99;
    EXPECT(fm_ticket_results(tickets[0], res, 2, &n), FM_TIMEOUT);

    atomic_store(&s.release, 1);
    pthread_join(staller, NULL);
    for (int i = 0; i < accepted; i++) {
        OK(fm_ticket_wait(tickets[i], -1));
        OK(fm_ticket_results(tickets[i], res, 2, &n));
        CHECK_U64(n, 1);
        CHECK_I64(res[0].status, FM_OK);
        CHECK(res[0].flag);
        CHECK_I64(res[0].value_int, 70);
        OK(fm_ticket_free(tickets[i]));
    }

    /* A batch: insert, add, len; buffer-too-small protocol for results. */
    fm_request batch[3];
    memset(batch, 0, sizeof batch);
    batch[0].op = FM_OP_INSERT, batch[0].key_int = 1, batch[0].value_int = 10;
    batch[1].op = FM_OP_ADD, batch[1].key_int = 1, batch[1].value_int = 5;
    batch[2].op = FM_OP_LEN;
    fm_handle t = 0;
    OK(fm_submit(m, batch, 3, -1, &t));
    OK(fm_ticket_wait(t, -1));
    EXPECT(fm_ticket_results(t, res, 2, &n), FM_BUFFER_TOO_SMALL);
    CHECK_U64(n, 3);
    fm_result all[3];
    OK(fm_ticket_results(t, all, 3, &n));
    CHECK_I64(all[1].value_int, 15);
    CHECK_U64(all[1].seq, all[0].seq + 1);
    CHECK_U64(all[2].len, 3);
    OK(fm_ticket_free(t));
    OK(fm_map_free(m));
}

struct flood {
    fm_handle map;
    int64_t n;
    long accepted, answered, refused;
};

static void *flood(void *arg) {
    struct flood *f = arg;
    fm_handle *mine = calloc((size_t)f->n, sizeof *mine);
    for (int64_t i = 0; i < f->n; i++) {
        fm_request r;
        memset(&r, 0, sizeof r);
        r.op = FM_OP_INSERT, r.key_int = i, r.value_int = i;
        fm_status st = fm_submit(f->map, &r, 1, -1, &mine[i]);
        if (st == FM_OK)
            f->accepted++;
        else if (EXPECT_ANY(st, FM_CLOSED, FM_INVALID_HANDLE))
            f->refused++;
    }
    for (int64_t i = 0; i < f->n; i++) {
        if (!mine[i]) continue;
        if (OK(fm_ticket_wait(mine[i], 20000000))) {
            fm_result res;
            size_t n;
            OK(fm_ticket_results(mine[i], &res, 1, &n));
            if (CHECK_I64(res.status, FM_OK)) f->answered++;
        }
        OK(fm_ticket_free(mine[i]));
    }
    free(mine);
    return NULL;
}

static void close_drains(void) {
    fm_handle m = new_bridge(FM_INT, FM_INT, 256);
    struct flood f[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        f[i] = (struct flood){m, check_scaled(2000, 200), 0, 0, 0};
        pthread_create(&t[i], NULL, flood, &f[i]);
    }
    usleep(2000);
    OK(fm_map_free(m));
    long accepted = 0, answered = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        accepted += f[i].accepted;
        answered += f[i].answered;
        CHECK_I64(f[i].accepted + f[i].refused, f[i].n);
    }
    CHECK_I64(answered, accepted); /* every accepted request was answered */
}

static void lag_is_reported(void) {
    fm_handle m = new_bridge(FM_INT, FM_FLOAT, 8);
    fm_handle sub = 0;
    OK(fm_subscribe(m, 4, &sub));
    for (int i = 0; i < 20; i++) OK(fm_add_i64_f64(m, 1, 0.5, NULL));
    fm_event e;
    OK(fm_sub_next(sub, 0, &e));
    CHECK_U64(e.lost, 16);
    CHECK_U64(e.seq, 17);
    CHECK_U64(e.op, FM_OP_ADD);
    CHECK(e.value_float == 8.5);
    for (int i = 0; i < 3; i++) {
        OK(fm_sub_next(sub, 0, &e));
        CHECK_U64(e.lost, 0);
    }
    CHECK(e.value_float == 10.0);
    EXPECT(fm_sub_next(sub, 0, &e), FM_TIMEOUT);
    OK(fm_sub_free(sub));
    OK(fm_map_free(m));
}

/* From the owner thread (inside an update callback) nothing may wait on the
 * bridge itself: blocking submits and ticket waits return FM_REENTRANT. */
struct owner_calls {
    fm_handle map, ticket;
    fm_status blocking_submit, try_submit, wait, sync_get;
};

static int32_t call_back_in(void *ctx, uint8_t *value, size_t len) {
    (void)value;
    (void)len;
    struct owner_calls *c = ctx;
    fm_request r = get_req(1);
    fm_handle t = 0;
    c->blocking_submit = fm_submit(c->map, &r, 1, -1, &t);
    c->try_submit = fm_submit(c->map, &r, 1, 0, &c->ticket);
    c->wait = fm_ticket_wait(c->ticket, -1);
    int64_t v;
    c->sync_get = fm_get_i64_i64(c->map, 1, &v);
    return 0;
}

static void owner_thread_cannot_wait_on_itself(void) {
    fm_handle m = new_bridge(FM_INT, FM_INT, 8);
    OK(fm_insert_i64_i64(m, 1, 1, NULL));
    struct owner_calls c = {.map = m};
    OK(fm_update_i64(m, 1, call_back_in, &c));
    CHECK_I64(c.blocking_submit, FM_REENTRANT);
    CHECK_I64(c.try_submit, FM_OK);
    CHECK_I64(c.wait, FM_REENTRANT);
    CHECK_I64(c.sync_get, FM_REENTRANT);
    OK(fm_ticket_wait(c.ticket, -1)); /* runs once the callback is over */
    OK(fm_ticket_free(c.ticket));
    fm_request u = get_req(1);
    u.op = FM_OP_UPDATE; /* needs a callback: refused before queueing */
    fm_handle t = 0;
    EXPECT(fm_submit(m, &u, 1, -1, &t), FM_INVALID_ARGUMENT);
    OK(fm_map_free(m));
}

static void bad_input(void) {
    fm_handle m = new_bridge(FM_INT, FM_INT, 4), direct = 0, h = 0;
    OK(fm_map_new(FM_INT, FM_INT, 0, &direct));
    EXPECT(fm_bridge_new(FM_INT, FM_INT, 0, 0, &h), FM_INVALID_ARGUMENT);
    EXPECT(fm_bridge_new(FM_INT, FM_INT, 0, 4, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_bridge_new(FM_FLOAT, FM_INT, 0, 4, &h), FM_INVALID_ARGUMENT);
    fm_request r = get_req(1);
    EXPECT(fm_submit(direct, &r, 1, -1, &h), FM_WRONG_KIND);
    EXPECT(fm_submit(m, NULL, 1, -1, &h), FM_NULL_ARGUMENT);
    EXPECT(fm_submit(m, &r, 1, -1, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_submit(m, &r, 0, -1, &h), FM_INVALID_ARGUMENT);
    r.op = 77;
    EXPECT(fm_submit(m, &r, 1, -1, &h), FM_INVALID_ARGUMENT);
    EXPECT(fm_submit(0, &r, 1, -1, &h), FM_INVALID_HANDLE);
    EXPECT(fm_subscribe(direct, 4, &h), FM_WRONG_KIND);
    EXPECT(fm_subscribe(m, 0, &h), FM_INVALID_ARGUMENT);
    EXPECT(fm_ticket_wait(m, 0), FM_WRONG_KIND);
    EXPECT(fm_ticket_free(m), FM_WRONG_KIND);
    EXPECT(fm_sub_free(m), FM_WRONG_KIND);
    EXPECT(fm_ticket_wait(0x1234567, 0), FM_INVALID_HANDLE);
    fm_event e;
    EXPECT(fm_sub_next(direct, 0, &e), FM_WRONG_KIND);
    EXPECT(fm_bridge_seq(direct, NULL), FM_NULL_ARGUMENT);
    EXPECT(fm_bridge_status(direct), FM_WRONG_KIND);
    CHECK(h == 0);
    OK(fm_map_free(direct));
    OK(fm_map_free(m));
}

static int32_t slow_cb(void *ctx, uint8_t *value, size_t len) {
    (void)ctx;
    (void)value;
    (void)len;
    usleep(500 * 1000);
    return 0;
}

static void *slow_update(void *arg) {
    fm_handle m = *(fm_handle *)arg;
    OK(fm_update_i64(m, 1, slow_cb, NULL));
    return NULL;
}

/* A fork child has no owner thread: every bridge call fails at once with
 * FM_CLOSED (a ticket queued before the fork, the feed, new requests),
 * freeing the bridge succeeds without waiting, and direct maps work. The
 * parent's bridge is untouched. SIGALRM ends a child that would hang. */
static void fork_child_fails_fast(void) {
    fm_handle m = new_bridge(FM_INT, FM_INT, 16), direct = 0, sub = 0, ticket = 0;
    OK(fm_map_new(FM_INT, FM_INT, 0, &direct));
    OK(fm_insert_i64_i64(direct, 7, 70, NULL));
    OK(fm_insert_i64_i64(m, 1, 10, NULL));
    OK(fm_subscribe(m, 8, &sub));
    /* Keep the owner busy so that a ticket is still queued at the fork. */
    pthread_t busy;
    if (!CHECK(pthread_create(&busy, NULL, slow_update, &m) == 0)) return;
    usleep(100 * 1000);
    fm_request r = get_req(1);
    OK(fm_submit(m, &r, 1, -1, &ticket));
    bool done = true;
    OK(fm_ticket_poll(ticket, &done));
    CHECK(!done);
    int report[2];
    if (!CHECK(pipe(report) == 0)) return;
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        long before = atomic_load(&check_failures);
        int64_t v = 0;
        fm_event e;
        EXPECT(fm_ticket_wait(ticket, -1), FM_CLOSED);
        CHECK(strstr(fm_last_error(), "fork") != NULL);
        EXPECT(fm_insert_i64_i64(m, 2, 20, NULL), FM_CLOSED);
        EXPECT(fm_get_i64_i64(m, 1, &v), FM_CLOSED);
        fm_handle t2 = 0;
        EXPECT(fm_submit(m, &r, 1, -1, &t2), FM_CLOSED);
        EXPECT(fm_sub_next(sub, -1, &e), FM_CLOSED);
        OK(fm_get_i64_i64(direct, 7, &v));
        CHECK_I64(v, 70);
        OK(fm_insert_i64_i64(direct, 8, 80, NULL));
        OK(fm_ticket_free(ticket));
        OK(fm_sub_free(sub));
        OK(fm_map_free(m));
        /* Report through the pipe, then end without exit handlers: what
         * the parent's other threads held mid-call is gone here, and a
         * leak checker (valgrind mode) would count it against the child. */
        long failures = atomic_load(&check_failures) - before;
        if (write(report[1], &failures, sizeof failures) != sizeof failures) failures = -1;
        raise(SIGKILL);
    }
    if (!CHECK(pid > 0)) return;
    close(report[1]);
    long child_failures = -1;
    CHECK(read(report[0], &child_failures, sizeof child_failures) == sizeof child_failures);
    close(report[0]);
    CHECK(child_failures == 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL); /* not SIGALRM: no hang */
    pthread_join(busy, NULL);
    /* The parent's bridge carries on. */
    OK(fm_ticket_wait(ticket, -1));
    OK(fm_ticket_free(ticket));
    int64_t v = 0;
    OK(fm_get_i64_i64(m, 1, &v));
    CHECK_I64(v, 10);
    OK(fm_sub_free(sub));
    OK(fm_map_free(m));
    OK(fm_map_free(direct));
}

/* Swap, get-or-insert and remove-if-equal as requests: results, the map
 * after them, and what the change feed shows. */
static void conditional_requests(void) {
    fm_handle m = 0, sub = 0;
    OK(fm_bridge_new(FM_INT, FM_STR, 0, 64, &m));
    OK(fm_subscribe(m, 64, &sub));
    fm_request rq[8];
    memset(rq, 0, sizeof rq);
    const char *v[] = {"five", "six", "nine", "seven"};
#define REQ(i, o, k, s) (rq[i].op = (o), rq[i].key_int = (k), rq[i].value_ptr = (const uint8_t *)(s), \
                         rq[i].value_len = (s) ? strlen(s) : 0)
    REQ(0, FM_OP_SWAP, 1, v[0]);            /* absent: inserted, flag false */
    REQ(1, FM_OP_SWAP, 1, v[1]);            /* replaced "five" */
    REQ(2, FM_OP_GET_OR_INSERT, 1, v[2]);   /* present: "six", nothing inserted */
    REQ(3, FM_OP_GET_OR_INSERT, 2, v[3]);   /* absent: inserted, flag true */
    REQ(4, FM_OP_REMOVE_IF_EQUAL, 1, v[0]); /* "six" is not "five" */
    REQ(5, FM_OP_REMOVE_IF_EQUAL, 1, v[1]); /* removed */
    REQ(6, FM_OP_REMOVE_IF_EQUAL, 3, v[1]); /* absent: FM_NOT_FOUND */
    REQ(7, FM_OP_REMOVE_IF_EQUAL, 2, "\xff"); /* not UTF-8: refused */
#undef REQ
    fm_handle t = 0;
    OK(fm_submit(m, rq, 8, -1, &t));
    OK(fm_ticket_wait(t, -1));
    fm_result r[8];
    size_t n = 0;
    OK(fm_ticket_results(t, r, 8, &n));
    CHECK_U64(n, 8);
    CHECK(r[0].status == FM_OK && !r[0].flag && r[0].seq != 0);
    CHECK(r[1].status == FM_OK && r[1].flag);
    CHECK_MEM(r[1].value_ptr, r[1].value_len, "five", 4);
    CHECK(r[2].status == FM_OK && !r[2].flag && r[2].seq == 0);
    CHECK_MEM(r[2].value_ptr, r[2].value_len, "six", 3);
    CHECK(r[3].status == FM_OK && r[3].flag);
    CHECK(r[4].status == FM_OK && !r[4].flag && r[4].seq == 0);
    CHECK(r[5].status == FM_OK && r[5].flag && r[5].seq != 0);
    EXPECT(r[6].status, FM_NOT_FOUND);
    EXPECT(r[7].status, FM_INVALID_UTF8);
    OK(fm_ticket_free(t));
    uint8_t buf[16];
    EXPECT(fm_get_i64_buf(m, 1, buf, sizeof buf, &n), FM_NOT_FOUND);
    OK(fm_get_i64_buf(m, 2, buf, sizeof buf, &n));
    CHECK_MEM(buf, n, "seven", 5);
    /* The feed: insert, insert, insert (get-or-insert), remove. */
    const uint32_t ops[] = {FM_OP_INSERT, FM_OP_INSERT, FM_OP_INSERT, FM_OP_REMOVE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        fm_event e;
        OK(fm_sub_next(sub, 1000000, &e));
        CHECK_U64(e.op, ops[i]);
    }
    fm_event e;
    EXPECT(fm_sub_next(sub, 0, &e), FM_TIMEOUT);
    OK(fm_sub_free(sub));
    OK(fm_map_free(m));
}

int main(void) {
    same_operations_as_a_direct_map();
    total_order_and_fifo();
    tickets_and_backpressure();
    close_drains();
    lag_is_reported();
    owner_thread_cannot_wait_on_itself();
    bad_input();
    fork_child_fails_fast();
    conditional_requests();
    return check_finish("test_bridge");
}
