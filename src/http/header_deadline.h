/*
 * header_deadline — a deadline for the whole request header. libmicrohttpd's connection
 * timeout restarts on every byte, so a client sending one header byte a second holds its
 * connection (and, thread per connection, a thread) for ever. This module knows, for every
 * open connection, since when it has been waiting for request headers (since it was accepted,
 * or since its previous request ended on a kept-alive connection), and a watcher thread shuts
 * down (shutdown(2), both ways) any connection still waiting after the deadline: the
 * connection's own thread or event loop then sees the end and closes it.
 *
 * Wiring: pass header_deadline_notify and the object to MHD_OPTION_NOTIFY_CONNECTION, call
 * header_deadline_began when the access handler first sees a request (its headers are
 * complete) and header_deadline_ended from the completion callback. Works in every threading
 * mode of libmicrohttpd (the calls only touch a mutex-guarded list).
 */
#ifndef HEADER_DEADLINE_H
#define HEADER_DEADLINE_H

#include <microhttpd.h>
#include <stdint.h>

struct header_deadline;

/* New watcher with a deadline of `seconds`, its thread started; NULL when out of resources. */
struct header_deadline *header_deadline_new(unsigned seconds);
/* Stop the thread and free; call after MHD_stop_daemon (which reports every close). NULL ok. */
void header_deadline_free(struct header_deadline *hd);

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is the header_deadline. */
void header_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode code);
/* The connection's request headers are complete / its request is over. */
void header_deadline_began(struct header_deadline *hd, struct MHD_Connection *conn);
void header_deadline_ended(struct header_deadline *hd, struct MHD_Connection *conn);

/* Connections cut at the deadline so far. */
uint64_t header_deadline_cut(const struct header_deadline *hd);

#endif
