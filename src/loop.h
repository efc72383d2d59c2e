/* The event loop: one epoll instance, a timer heap and a queue of deferred
 * work. One loop per process; this is the only file that calls epoll_*. */
#ifndef WEBSERV_LOOP_H
#define WEBSERV_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct loop_io loop_io_t;
typedef void (*loop_io_fn)(loop_io_t *io, uint32_t events);

/* Embedded in whatever owns the descriptor. */
struct loop_io {
    int fd;
    loop_io_fn fn;
    void *data;
    bool urgent;  /* dispatched before the other events of its batch */
};

typedef struct loop_timer loop_timer_t;
typedef void (*loop_timer_fn)(loop_timer_t *t);

struct loop_timer {
    uint64_t when;   /* monotonic ms */
    size_t slot;     /* heap index + 1; 0 when not armed */
    loop_timer_fn fn;
    void *data;
};

/* Work to run after the current batch of events, e.g. a connection that
 * used up its turn, or memory to free once no event can refer to it. */
typedef struct loop_task loop_task_t;
struct loop_task {
    loop_task_t *next;
    void (*fn)(loop_task_t *t);
    void *data;
    bool queued;
};

#define LOOP_IN 0x001u    /* EPOLLIN */
#define LOOP_OUT 0x004u   /* EPOLLOUT */
#define LOOP_ERR 0x008u   /* EPOLLERR */
#define LOOP_HUP 0x010u   /* EPOLLHUP */
#define LOOP_RDHUP 0x2000u
#define LOOP_ET (1u << 31)

int loop_init(void);
int loop_add(loop_io_t *io, uint32_t events);
int loop_mod(loop_io_t *io, uint32_t events);
void loop_del(loop_io_t *io);

void loop_timer_set(loop_timer_t *t, uint64_t delay_ms);
void loop_timer_at(loop_timer_t *t, uint64_t when_ms);
void loop_timer_stop(loop_timer_t *t);
static inline bool loop_timer_armed(const loop_timer_t *t) { return t->slot != 0; }

void loop_defer(loop_task_t *t);

/* Run until loop_stop; returns 0, or -1 on an epoll failure. */
int loop_run(void);
void loop_stop(void);
/* One round of the loop, waiting at most max_wait_ms for an event (for a
 * harness that drives the loop itself). Returns the number of events, or
 * -1 on an epoll failure. */
int loop_run_once(int max_wait_ms);
/* Run the deferred work still queued (after loop_run: memory to free). */
void loop_flush_tasks(void);
/* Drop every registration (in a forked child that will not use the loop). */
void loop_close(void);

#endif
