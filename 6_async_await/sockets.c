/* Socket operations, after asyncio's loop.sock_* and curio's read_wait: each is
 * a future that the loop finishes when its fd is ready, so no call ever blocks
 * and no task can hold up the loop. */
#define _POSIX_C_SOURCE 200809L
#include "loop_private.h"

#include <errno.h>
#include <unistd.h>

static const char *const ready_names[] = { "", "readable", "writable" };

static int would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Done or cancelled: stop watching, so the fd's callback never touches op
 * again. The loop keeps the fd registered until it next waits: if the task
 * watches it again by then, as a server does, the kernel hears nothing. */
static void stop_watching(struct sock_op *op)
{
    if (op->events == SEL_READ)
        loop_remove_reader(op->fut.loop, op->fd);
    else if (op->events == SEL_WRITE)
        loop_remove_writer(op->fut.loop, op->fd);
    op->events = 0;
}

static int sock_op_cancel(struct fut *fut)
{
    stop_watching((struct sock_op *)fut);
    return 1;
}

static void sock_op_finish(struct sock_op *op, int error)
{
    const char *waiter;
    if (op->events && op->fut.loop->trace && (waiter = fut_waiter_name(&op->fut))) /* woken by the fd */
        TRACE(op->fut.loop, "fd %d %s: wakes task %s", op->fd, ready_names[op->events], waiter);
    stop_watching(op);
    if (error)
        fut_set_error(&op->fut, error);
    else
        fut_set_result(&op->fut, NULL);
}

static void sock_op_wait(struct sock_op *op, int events, loop_callback *retry)
{
    int rc;
    if (op->events)
        return; /* watching already */
    rc = events == SEL_READ ? loop_add_reader(op->fut.loop, op->fd, retry, op)
                            : loop_add_writer(op->fut.loop, op->fd, retry, op);
    if (rc < 0) {
        sock_op_finish(op, errno);
        return;
    }
    op->events = events;
    TRACE(op->fut.loop, "task %s awaits fd %d %s", loop_current_name(op->fut.loop), op->fd, ready_names[events]);
}

static struct fut *sock_op_start(struct loop *loop, struct sock_op *op, int fd, const void *buf, size_t len)
{
    fut_init(&op->fut, loop);
    op->fut.cancel_op = sock_op_cancel;
    op->fd = fd;
    op->events = 0;
    op->buf = (char *)buf; /* sendall only reads it */
    op->len = len;
    op->n = 0;
    op->conn = -1;
    return &op->fut;
}

static void read_wait_ready(void *arg)
{
    sock_op_finish(arg, 0);
}

struct fut *sock_read_wait(struct loop *loop, struct sock_op *op, int fd)
{
    sock_op_start(loop, op, fd, NULL, 0);
    sock_op_wait(op, SEL_READ, read_wait_ready);
    return &op->fut;
}

static void accept_ready(void *arg)
{
    struct sock_op *op = arg;
    int fd = accept(op->fd, NULL, NULL);
    if (fd >= 0) {
        /* A new fd: whatever the loop knew of an fd by this number was a closed one's. */
        loop_forget_fd(op->fut.loop, fd);
        op->conn = fd;
        sock_op_finish(op, 0);
    } else if (would_block(errno) || errno == ECONNABORTED) { /* gone before accepted: wait for the next */
        sock_op_wait(op, SEL_READ, accept_ready);
    } else {
        sock_op_finish(op, errno);
    }
}

/* accept() is tried at once: under a burst of connections one is usually waiting. */
struct fut *sock_accept(struct loop *loop, struct sock_op *op, int listen_fd)
{
    sock_op_start(loop, op, listen_fd, NULL, 0);
    accept_ready(op);
    return &op->fut;
}

static void recv_ready(void *arg)
{
    struct sock_op *op = arg;
    ssize_t n = recv(op->fd, op->buf, op->len, 0);
    if (n >= 0) {
        op->n = (size_t)n;
        sock_op_finish(op, 0);
    } else if (would_block(errno)) {
        sock_op_wait(op, SEL_READ, recv_ready);
    } else {
        sock_op_finish(op, errno);
    }
}

/* As asyncio's sock_recv, it tries recv() at once, and the buffer must live
 * until the future is done: a server's idle clients are better served by
 * sock_read_wait() and one recv() into a buffer they need not keep. */
struct fut *sock_recv(struct loop *loop, struct sock_op *op, int fd, void *buf, size_t len)
{
    sock_op_start(loop, op, fd, buf, len);
    recv_ready(op);
    return &op->fut;
}

static void send_ready(void *arg)
{
    struct sock_op *op = arg;
    while (op->n < op->len) {
        ssize_t n = send(op->fd, op->buf + op->n, op->len - op->n, 0);
        if (n < 0 && would_block(errno)) { /* the socket's buffer is full: go on when writable */
            sock_op_wait(op, SEL_WRITE, send_ready);
            return;
        }
        if (n < 0) {
            sock_op_finish(op, errno);
            return;
        }
        op->n += (size_t)n;
    }
    sock_op_finish(op, 0);
}

/* send() is tried at once: a socket's buffer nearly always has room. */
struct fut *sock_sendall(struct loop *loop, struct sock_op *op, int fd, const void *buf, size_t len)
{
    sock_op_start(loop, op, fd, buf, len);
    send_ready(op);
    return &op->fut;
}

/* Writable: the connection is made or failed; SO_ERROR says which. */
static void connect_ready(void *arg)
{
    struct sock_op *op = arg;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    sock_op_finish(op, err);
}

struct fut *sock_connect(struct loop *loop, struct sock_op *op, int fd, const struct sockaddr *addr,
                         socklen_t addrlen)
{
    sock_op_start(loop, op, fd, NULL, 0);
    loop_forget_fd(loop, fd); /* a new socket, as after accept() */
    if (connect(fd, addr, addrlen) == 0)
        sock_op_finish(op, 0);
    else if (errno == EINPROGRESS || errno == EINTR) /* under way: done when writable */
        sock_op_wait(op, SEL_WRITE, connect_ready);
    else
        sock_op_finish(op, errno);
    return &op->fut;
}
