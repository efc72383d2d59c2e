/* The event loop: epoll + a binary min-heap of timers + deferred tasks.
 *
 * One iteration: wait for events (no longer than the nearest timer, not at
 * all if tasks are queued), dispatch them, run the tasks queued so far,
 * then fire the timers that are due. Freed objects go through a deferred
 * task, so no event of the same batch can point at freed memory. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

#define MAX_EVENTS 512

static int epfd = -1;
static bool stopping;
static loop_timer_t **heap;
static size_t heap_len, heap_cap;
static loop_task_t *tasks_head, *tasks_tail;

int loop_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    clock_update();
    return epfd < 0 ? -1 : 0;
}

void loop_close(void)
{
    if (epfd >= 0)
        close(epfd);
    epfd = -1;
}

static int ctl(int op, loop_io_t *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(epfd, op, io->fd, &ev);
}

int loop_add(loop_io_t *io, uint32_t events) { return ctl(EPOLL_CTL_ADD, io, events); }
int loop_mod(loop_io_t *io, uint32_t events) { return ctl(EPOLL_CTL_MOD, io, events); }

void loop_del(loop_io_t *io)
{
    if (io->fd >= 0)
        epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* ---- timer heap (slot = index + 1) ---- */

static void heap_place(size_t i, loop_timer_t *t)
{
    heap[i] = t;
    t->slot = i + 1;
}

static void sift_up(size_t i)
{
    loop_timer_t *t = heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (heap[p]->when <= t->when)
            break;
        heap_place(i, heap[p]);
        i = p;
    }
    heap_place(i, t);
}

static void sift_down(size_t i)
{
    loop_timer_t *t = heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= heap_len)
            break;
        if (c + 1 < heap_len && heap[c + 1]->when < heap[c]->when)
            c++;
        if (heap[c]->when >= t->when)
            break;
        heap_place(i, heap[c]);
        i = c;
    }
    heap_place(i, t);
}

void loop_timer_stop(loop_timer_t *t)
{
    if (!t->slot)
        return;
    size_t i = t->slot - 1;
    t->slot = 0;
    loop_timer_t *last = heap[--heap_len];
    if (i == heap_len)
        return;
    heap_place(i, last);
    sift_up(i);
    sift_down(last->slot - 1);
}

void loop_timer_at(loop_timer_t *t, uint64_t when)
{
    if (t->slot) {
        /* re-arming to a later time is the common case (activity on a
         * connection): move it down without a remove/insert pair */
        uint64_t old = t->when;
        t->when = when;
        if (when < old)
            sift_up(t->slot - 1);
        else
            sift_down(t->slot - 1);
        return;
    }
    if (heap_len == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 1024;
        loop_timer_t **h = realloc(heap, heap_cap * sizeof(*heap));
        if (!h) {
            log_msg(LOG_ERR, "out of memory for timers");
            abort();
        }
        heap = h;
    }
    t->when = when;
    heap_place(heap_len++, t);
    sift_up(heap_len - 1);
}

void loop_timer_set(loop_timer_t *t, uint64_t delay_ms) { loop_timer_at(t, clock_ms() + delay_ms); }

void loop_defer(loop_task_t *t)
{
    if (t->queued)
        return;
    t->queued = true;
    t->next = NULL;
    if (tasks_tail)
        tasks_tail->next = t;
    else
        tasks_head = t;
    tasks_tail = t;
}

static void run_tasks(void)
{
    /* only the tasks queued so far: a task that queues itself again waits
     * for the next iteration, so others get their turn */
    loop_task_t *t = tasks_head, *end = tasks_tail;
    tasks_head = tasks_tail = NULL;
    while (t) {
        loop_task_t *next = t->next;
        bool last = t == end;
        t->queued = false;
        t->fn(t);
        if (last)
            break;
        t = next;
    }
}

static void run_timers(void)
{
    uint64_t now = clock_ms();
    while (heap_len && heap[0]->when <= now) {
        loop_timer_t *t = heap[0];
        loop_timer_stop(t);
        t->fn(t);
    }
}

void loop_stop(void) { stopping = true; }

void loop_flush_tasks(void)
{
    while (tasks_head)
        run_tasks();
}

/* One round: wait for events (at most max_wait_ms, -1 = until the next
 * timer), dispatch them, run the deferred tasks and the due timers. */
static int run_once(int max_wait_ms)
{
    struct epoll_event events[MAX_EVENTS];
    int timeout = max_wait_ms;
    if (tasks_head)
        timeout = 0;
    else if (heap_len) {
        uint64_t now = clock_ms();
        uint64_t wait = heap[0]->when <= now ? 0 : heap[0]->when - now;
        if (wait > 60000)
            wait = 60000;
        if (timeout < 0 || (int)wait < timeout)
            timeout = (int)wait;
    }
    int n = epoll_wait(epfd, events, MAX_EVENTS, timeout);
    clock_update();
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        log_msg(LOG_ERR, "epoll_wait: %s", strerror(errno));
        return -1;
    }
    for (int pass = 0; pass < 2; pass++)  /* urgent ones first (cache invalidation) */
        for (int i = 0; i < n; i++) {
            loop_io_t *io = events[i].data.ptr;
            if (io->urgent == (pass == 0))
                io->fn(io, events[i].events);
        }
    run_tasks();
    run_timers();
    return n;
}

int loop_run(void)
{
    while (!stopping)
        if (run_once(-1) < 0)
            return -1;
    return 0;
}

int loop_run_once(int max_wait_ms) { return run_once(max_wait_ms); }
