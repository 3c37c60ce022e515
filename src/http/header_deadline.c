#include "http/header_deadline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "base/log.h"

#define WATCH_MS 200

struct tracked {
    MHD_socket fd;
    int64_t waiting_since; /* monotonic ms; meaningful while !in_request */
    bool in_request;
    bool cut;
    struct tracked *prev, *next;
};

struct header_deadline {
    int64_t deadline_ms;
    pthread_mutex_t lock; /* the list and stop */
    pthread_cond_t wake;
    struct tracked *head;
    bool stop;
    pthread_t thread;
    uint64_t cut; /* atomic */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watch(void *arg)
{
    struct header_deadline *hd = arg;
    pthread_mutex_lock(&hd->lock);
    while (!hd->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&hd->wake, &hd->lock, &ts);
        int64_t now = mono_ms();
        for (struct tracked *t = hd->head; t != NULL; t = t->next) {
            if (t->in_request || t->cut || now - t->waiting_since < hd->deadline_ms)
                continue;
            /* The socket stays open until the close notification, which needs this lock:
             * the descriptor cannot have been reused. */
            shutdown(t->fd, SHUT_RDWR);
            t->cut = true;
            __atomic_add_fetch(&hd->cut, 1, __ATOMIC_RELAXED);
            log_debug("http: request header not complete within %lld s, connection closed",
                      (long long)(hd->deadline_ms / 1000));
        }
    }
    pthread_mutex_unlock(&hd->lock);
    return NULL;
}

struct header_deadline *header_deadline_new(unsigned seconds)
{
    struct header_deadline *hd = calloc(1, sizeof(*hd));
    if (hd == NULL)
        return NULL;
    hd->deadline_ms = (int64_t)seconds * 1000;
    pthread_mutex_init(&hd->lock, NULL);
    pthread_cond_init(&hd->wake, NULL);
    if (pthread_create(&hd->thread, NULL, watch, hd) != 0) {
        pthread_mutex_destroy(&hd->lock);
        pthread_cond_destroy(&hd->wake);
        free(hd);
        return NULL;
    }
    return hd;
}

void header_deadline_free(struct header_deadline *hd)
{
    if (hd == NULL)
        return;
    pthread_mutex_lock(&hd->lock);
    hd->stop = true;
    pthread_cond_signal(&hd->wake);
    pthread_mutex_unlock(&hd->lock);
    pthread_join(hd->thread, NULL);
    while (hd->head != NULL) { /* none after MHD_stop_daemon; defensive */
        struct tracked *t = hd->head;
        hd->head = t->next;
        free(t);
    }
    pthread_mutex_destroy(&hd->lock);
    pthread_cond_destroy(&hd->wake);
    free(hd);
}

void header_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode code)
{
    struct header_deadline *hd = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct tracked *t = ci != NULL ? calloc(1, sizeof(*t)) : NULL;
        *socket_context = t;
        if (t == NULL)
            return; /* untracked: only the idle timeout applies to it */
        t->fd = ci->connect_fd;
        t->waiting_since = mono_ms();
        pthread_mutex_lock(&hd->lock);
        t->next = hd->head;
        if (hd->head != NULL)
            hd->head->prev = t;
        hd->head = t;
        pthread_mutex_unlock(&hd->lock);
        return;
    }
    struct tracked *t = *socket_context;
    if (code != MHD_CONNECTION_NOTIFY_CLOSED || t == NULL)
        return;
    pthread_mutex_lock(&hd->lock);
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        hd->head = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&hd->lock);
    free(t);
    *socket_context = NULL;
}

static void mark(struct header_deadline *hd, struct MHD_Connection *conn, bool in_request)
{
    if (hd == NULL)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct tracked *t = ci != NULL ? ci->socket_context : NULL;
    if (t == NULL)
        return;
    pthread_mutex_lock(&hd->lock);
    t->in_request = in_request;
    t->waiting_since = mono_ms();
    pthread_mutex_unlock(&hd->lock);
}

void header_deadline_began(struct header_deadline *hd, struct MHD_Connection *conn)
{
    mark(hd, conn, true);
}

void header_deadline_ended(struct header_deadline *hd, struct MHD_Connection *conn)
{
    mark(hd, conn, false);
}

uint64_t header_deadline_cut(const struct header_deadline *hd)
{
    return hd != NULL ? __atomic_load_n(&hd->cut, __ATOMIC_RELAXED) : 0;
}
