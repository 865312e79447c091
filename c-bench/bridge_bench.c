/* Bridge-mode benchmark from C: synchronous round-trip latency (p50, p99,
 * p99.9) beside the direct map, pipelined tickets from one producer, batched
 * submissions, two producers, and the CPU an idle bridge uses. Beside the
 * pipelined figure it times a cache line passed between two threads by
 * plain C, no ferrymap: what moving a line between the cores costs right
 * now, which on this VM changes by 3-4x from one second to the next.
 * Reports numbers only; asserts nothing about speed.
 * Usage: bridge_bench [scale [only]]   (scale 1 = default sizes; smaller for a smoke run;
 * `only` runs one part: latency, pipelined, batched, two, idle, e.g. under a profiler) */
#include <stdatomic.h>
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ferrymap.h"

#define CHECK(call)                                                                   \
    do {                                                                              \
        fm_status st_ = (call);                                                       \
        if (st_ != FM_OK) {                                                           \
            fprintf(stderr, "%s:%d %s: %s (%s)\n", __FILE__, __LINE__, #call,         \
                    fm_status_str(st_), fm_last_error());                             \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { KEYS = 1 << 16 };
static double scale = 1.0;

static fm_handle filled(int bridge) {
    fm_handle m;
    if (bridge)
        CHECK(fm_bridge_new(FM_INT, FM_INT, KEYS, 1024, &m));
    else
        CHECK(fm_map_new(FM_INT, FM_INT, KEYS, &m));
    for (int64_t k = 0; k < KEYS; k++) CHECK(fm_insert_i64_i64(m, k, k, NULL));
    return m;
}

/* Round-trip latency of synchronous gets, one at a time. */
static void latency(const char *name, fm_handle m) {
    size_t n = (size_t)(200000 * scale);
    double *lat = malloc(n * sizeof *lat);
    int64_t v, sum = 0;
    for (size_t i = 0; i < n / 10; i++) CHECK(fm_get_i64_i64(m, (int64_t)(i % KEYS), &v)); /* warm */
    for (size_t i = 0; i < n; i++) {
        double t0 = now_ns();
        CHECK(fm_get_i64_i64(m, (int64_t)((i * 7919) % KEYS), &v));
        lat[i] = now_ns() - t0;
        sum += v;
    }
    qsort(lat, n, sizeof *lat, cmp_double);
    printf("%-28s p50 %8.0f ns   p99 %8.0f ns   p99.9 %8.0f ns   (n=%zu, sum %" PRId64 ")\n", name,
           lat[n / 2], lat[n * 99 / 100], lat[n * 999 / 1000], n, sum);
    free(lat);
}

/* `n` single-request GET tickets, at most `window` in flight; seconds taken. */
static double pipelined_round(fm_handle m, size_t n, size_t window, fm_handle *tickets) {
    fm_request r;
    memset(&r, 0, sizeof r);
    r.op = FM_OP_GET;
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        size_t slot = i % window;
        if (tickets[slot]) {
            CHECK(fm_ticket_wait(tickets[slot], -1));
            CHECK(fm_ticket_free(tickets[slot]));
        }
        r.key_int = (int64_t)(i % KEYS);
        CHECK(fm_submit(m, &r, 1, -1, &tickets[slot]));
    }
    for (size_t i = 0; i < window; i++)
        if (tickets[i]) {
            CHECK(fm_ticket_wait(tickets[i], -1));
            CHECK(fm_ticket_free(tickets[i]));
            tickets[i] = 0;
        }
    return (now_ns() - t0) / 1e9;
}

static _Alignas(128) atomic_long pingpong_turn;
enum { PINGPONG_ROUNDS = 100000 };

static void *pong(void *arg) {
    (void)arg;
    for (long i = 0; i < PINGPONG_ROUNDS; i++) {
        while (atomic_load_explicit(&pingpong_turn, memory_order_acquire) != 2 * i + 1) {
        }
        atomic_store_explicit(&pingpong_turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

/* Round trip of one cache line between this thread and another (no
 * ferrymap): the floor under anything that crosses cores one at a time. */
static void pingpong(void) {
    usleep(200000); /* a spinning bridge owner would share the cores */
    pthread_t t;
    atomic_store(&pingpong_turn, 0);
    if (pthread_create(&t, NULL, pong, NULL) != 0) {
        perror("pthread_create");
        exit(1);
    }
    double t0 = now_ns();
    for (long i = 0; i < PINGPONG_ROUNDS; i++) {
        atomic_store_explicit(&pingpong_turn, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&pingpong_turn, memory_order_acquire) != 2 * i + 2) {
        }
    }
    double ns = (now_ns() - t0) / PINGPONG_ROUNDS;
    pthread_join(t, NULL);
    printf("%-28s %8.0f ns (plain C, no ferrymap)\n", "cache line round trip", ns);
}

/* One producer keeps up to `window` single-request tickets in flight. An
 * untimed round first, as the latency loop warms up: the first tickets also
 * pay for registry segments, the ticket pool and the first epoch bags. */
static void pipelined(fm_handle m) {
    size_t n = (size_t)(200000 * scale), window = 256;
    fm_handle *tickets = calloc(window, sizeof *tickets);
    pipelined_round(m, n / 5 + window, window, tickets);
    double secs = pipelined_round(m, n, window, tickets);
    printf("%-28s %8.2f M ops/s\n", "pipelined tickets (1 prod.)", (double)n / secs / 1e6);
    free(tickets);
}

enum { BATCH = 1024, INFLIGHT = 4 };

/* `rounds` submissions of the BATCH requests in `reqs`, INFLIGHT at a time,
 * each one's results read back; adds the found flags of each batch's last
 * result to `*found`; seconds taken. */
static double batched_round(fm_handle m, const fm_request *reqs, fm_result *res, size_t rounds, size_t *found) {
    fm_handle t[INFLIGHT] = {0};
    size_t got;
    double t0 = now_ns();
    for (size_t i = 0; i < rounds; i++) {
        size_t s = i % INFLIGHT;
        if (t[s]) {
            CHECK(fm_ticket_wait(t[s], -1));
            CHECK(fm_ticket_results(t[s], res, BATCH, &got));
            *found += res[got - 1].flag;
            CHECK(fm_ticket_free(t[s]));
        }
        CHECK(fm_submit(m, reqs, BATCH, -1, &t[s]));
    }
    for (size_t s = 0; s < INFLIGHT; s++)
        if (t[s]) {
            CHECK(fm_ticket_wait(t[s], -1));
            CHECK(fm_ticket_free(t[s]));
        }
    return (now_ns() - t0) / 1e9;
}

/* Batches of 1024 gets per submission, several in flight, after an untimed
 * tenth as warm-up. */
static void batched(fm_handle m) {
    size_t rounds = (size_t)(400 * scale) + INFLIGHT;
    fm_request *reqs = calloc(BATCH, sizeof *reqs);
    fm_result *res = calloc(BATCH, sizeof *res);
    for (size_t i = 0; i < BATCH; i++) {
        reqs[i].op = FM_OP_GET;
        reqs[i].key_int = (int64_t)((i * 31) % KEYS);
    }
    size_t found = 0;
    batched_round(m, reqs, res, rounds / 10 + INFLIGHT, &found);
    found = 0;
    double secs = batched_round(m, reqs, res, rounds, &found);
    printf("%-28s %8.2f M ops/s  (batches of %d, %zu found)\n", "batched submissions",
           (double)(rounds * BATCH) / secs / 1e6, BATCH, found);
    free(reqs);
    free(res);
}

struct producer {
    fm_handle map;
    size_t n;
};

static void *sync_producer(void *arg) {
    struct producer *p = arg;
    int64_t v;
    for (size_t i = 0; i < p->n; i++) CHECK(fm_get_i64_i64(p->map, (int64_t)(i % KEYS), &v));
    return NULL;
}

static void two_producers(fm_handle m) {
    struct producer p = {m, (size_t)(100000 * scale)};
    pthread_t a, b;
    double t0 = now_ns();
    pthread_create(&a, NULL, sync_producer, &p);
    pthread_create(&b, NULL, sync_producer, &p);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    double secs = (now_ns() - t0) / 1e9;
    printf("%-28s %8.2f M ops/s  (synchronous gets, both threads)\n", "two producers",
           (double)(2 * p.n) / secs / 1e6);
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void idle(fm_handle m) {
    int64_t v;
    CHECK(fm_get_i64_i64(m, 1, &v));
    usleep(200000); /* let the owner finish its spin and park */
    double c0 = cpu_seconds(), t0 = now_ns();
    sleep(2);
    double cpu = cpu_seconds() - c0, wall = (now_ns() - t0) / 1e9;
    printf("%-28s %8.3f %% of a core over %.1f s\n", "idle bridge CPU", 100.0 * cpu / wall, wall);
}

int main(int argc, char **argv) {
    if (argc > 1) scale = atof(argv[1]);
    if (scale <= 0) scale = 1;
    const char *only = argc > 2 ? argv[2] : NULL;
#define PART(name) (!only || strcmp(only, name) == 0)
    fm_handle direct = filled(0), bridge = filled(1);
    printf("ferrymap %s bridge benchmark, %d INT->INT keys, scale %.2f\n", fm_version_string(), KEYS,
           scale);
    if (PART("latency")) {
        latency("direct map, sync get", direct);
        latency("bridge map, sync get", bridge);
    }
    if (PART("pipelined")) {
        pingpong();
        pipelined(bridge);
        pingpong();
    }
    if (PART("batched")) batched(bridge);
    if (PART("two")) two_producers(bridge);
    if (PART("idle")) idle(bridge);
    CHECK(fm_map_free(bridge));
    CHECK(fm_map_free(direct));
    return fm_census_total() == 0 ? 0 : 1;
}
