/* test_paused_callback.c — a callback that never returns holds back no
 * memory it cannot reach (issue 20, defect 2).
 *
 * Threads pause, for the whole run, inside: an fm_for_each callback, a
 * direct map's fm_update_i64 callback, and a bridge map's update callback
 * (on its owner thread), with two more threads waiting on that bridge (one
 * for its answer, one for room in its one-request queue). Meanwhile the
 * main thread creates, fills with 100K entries and frees maps, over and
 * over. The allocator's memory in use must stay below three such maps'
 * worth above where it started. The main thread also frees the maps two
 * of the callbacks run on, while they run: the frees succeed, later calls
 * on those handles fail, and the paused calls finish normally.
 *
 * Memory in use is read from the allocator: glibc's mallinfo2 in plain
 * mode, the sanitizer allocator's count under ASan. Under valgrind, which
 * replaces malloc and reports neither, the scenario runs (checked for
 * memory errors) with a small count and no memory bound. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Present only in ASan builds. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

enum { ENTRIES = 100000 };

static int mode_has_memory_count(void) {
    const char *m = getenv("FM_TEST_MODE");
    return !(m && strcmp(m, "valgrind") == 0);
}

static size_t in_use(void) {
    if (__sanitizer_get_current_allocated_bytes) return __sanitizer_get_current_allocated_bytes();
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Every paused callback posts `paused` once, then waits on `resume`. */
static sem_t paused, resume;

static int32_t pause_in_for_each(void *ctx, const fm_entry *e) {
    (void)ctx;
    (void)e;
    sem_post(&paused);
    sem_wait(&resume);
    return 0;
}

static int32_t pause_in_update(void *ctx, uint8_t *value, size_t len) {
    (void)ctx;
    CHECK(len == 8);
    sem_post(&paused);
    sem_wait(&resume);
    int64_t v;
    memcpy(&v, value, 8);
    v += 1;
    memcpy(value, &v, 8);
    return 0;
}

typedef struct paused_call {
    pthread_t thread;
    fm_handle map;
    int kind; /* 0: for_each, 1: update, 2: insert (waits behind the update) */
    fm_status status;
} paused_call;

static void *run_paused(void *arg) {
    paused_call *c = arg;
    switch (c->kind) {
    case 0: c->status = fm_for_each(c->map, pause_in_for_each, NULL); break;
    case 1: c->status = fm_update_i64(c->map, 1, pause_in_update, NULL); break;
    default: c->status = fm_insert_i64_i64(c->map, 2, 2, NULL); break;
    }
    return NULL;
}

static fm_handle one_entry_map(int bridge) {
    fm_handle m = 0;
    if (bridge)
        OK(fm_bridge_new(FM_INT, FM_INT, 0, 1, &m));
    else
        OK(fm_map_new(FM_INT, FM_INT, 0, &m));
    OK(fm_insert_i64_i64(m, 1, 41, NULL));
    return m;
}

/* Creates a map of ENTRIES random keys and returns it. */
static fm_handle filled_map(int64_t *keys, uint64_t *rng) {
    for (size_t i = 0; i < ENTRIES; i++) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        keys[i] = (int64_t)(*rng ^ (*rng >> 29));
    }
    fm_handle m = 0;
    OK(fm_map_new(FM_INT, FM_INT, 0, &m));
    OK(fm_insert_many_i64_i64(m, keys, keys, ENTRIES, NULL));
    return m;
}

int main(void) {
    int counted = mode_has_memory_count();
    long rounds = counted ? check_scaled(1000, 20) : 12;
    int64_t *keys = malloc(ENTRIES * sizeof *keys);
    if (!CHECK(keys != NULL)) return check_finish("test_paused_callback");
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    sem_init(&paused, 0, 0);
    sem_init(&resume, 0, 0);

    /* One map's worth, measured the way the loop below makes them. */
    size_t base = in_use();
    fm_handle probe = filled_map(keys, &rng);
    size_t one_map = in_use() - base;
    OK(fm_map_free(probe));

    fm_handle walked = one_entry_map(0), updated = one_entry_map(0), bridged = one_entry_map(1);
    paused_call calls[] = {
        {.map = walked, .kind = 0},
        {.map = updated, .kind = 1},
        {.map = bridged, .kind = 1},
    };
    enum { PAUSING = sizeof calls / sizeof calls[0] };
    for (int i = 0; i < PAUSING; i++) pthread_create(&calls[i].thread, NULL, run_paused, &calls[i]);
    for (int i = 0; i < PAUSING; i++) sem_wait(&paused);
    /* Two more callers of the bridge, behind its paused owner: the first
     * fills its one-request queue and waits for its answer, the second
     * waits for room. Neither can finish before the owner resumes. */
    paused_call waiting[2] = {{.map = bridged, .kind = 2}, {.map = bridged, .kind = 2}};
    for (int i = 0; i < 2; i++) pthread_create(&waiting[i].thread, NULL, run_paused, &waiting[i]);

    /* The maps two callbacks run on are freed under them. */
    OK(fm_map_free(walked));
    OK(fm_map_free(updated));
    size_t len = 0;
    EXPECT(fm_map_len(walked, &len), FM_INVALID_HANDLE);
    EXPECT(fm_map_free(updated), FM_INVALID_HANDLE);

    size_t start = in_use(), peak = start;
    for (long r = 0; r < rounds; r++) {
        fm_handle m = filled_map(keys, &rng);
        size_t now = in_use();
        if (now > peak) peak = now;
        OK(fm_map_free(m));
    }
    size_t grown = peak > start ? peak - start : 0;
    printf("one map of %d entries: %zu bytes; %ld maps made and freed with %d callbacks "
           "paused: peak %zu bytes above the start (%.2f maps)\n",
           ENTRIES, one_map, rounds, PAUSING, grown, one_map ? (double)grown / one_map : 0.0);
    if (counted) {
        CHECK(one_map > (size_t)ENTRIES * 16);
        CHECK_MSG(grown < 3 * one_map, "memory in use grew by %zu bytes, %.2f maps' worth", grown,
                  (double)grown / one_map);
    }

    for (int i = 0; i < PAUSING; i++) sem_post(&resume);
    for (int i = 0; i < PAUSING; i++) {
        pthread_join(calls[i].thread, NULL);
        CHECK_MSG(calls[i].status == FM_OK, "paused call %d returned %s", i,
                  fm_status_str(calls[i].status));
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(waiting[i].thread, NULL);
        CHECK_MSG(waiting[i].status == FM_OK, "waiting bridge call %d returned %s", i,
                  fm_status_str(waiting[i].status));
    }
    int64_t v = 0;
    OK(fm_get_i64_i64(bridged, 1, &v));
    CHECK_I64(v, 42);
    OK(fm_get_i64_i64(bridged, 2, &v));
    CHECK_I64(v, 2);
    OK(fm_map_free(bridged));
    free(keys);
    return check_finish("test_paused_callback");
}
