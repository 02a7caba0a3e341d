/*
 * compute.c: the compute service. Each computation is a fresh process
 * forked from the daemon, run asynchronously on the daemon's loop: the
 * daemon never waits for one.
 *
 * so form: the child loads the module (dlopen), finds the function
 * (dlsym), calls it with its copy of the argument (fork carried it) and
 * writes one frame to a pipe: [0, result], or [1, why] when the module
 * cannot be loaded, the function is missing, returned NULL or its result
 * cannot be sent. The msgpack of a two-item list starts 0x92 then the tag,
 * so the parent decodes the value in place after those two bytes.
 *
 * command form: the child execs argv with stdin a socket carrying the
 * argument as one line of JSON (written from the loop with MSG_NOSIGNAL,
 * so a program that never reads it neither blocks the daemon nor raises
 * SIGPIPE) and stdout a pipe read from the loop; an exec failure comes
 * back as an errno on a close-on-exec pipe, read once the child is reaped.
 *
 * Either way the child is in a process group of its own and dies with the
 * daemon (PR_SET_PDEATHSIG). Output is read as it comes, bounded by
 * ISO_LIMIT_FRAME. When the child is reaped (child_watch) the group is
 * killed, so that nothing the computation started outlives it, what is
 * left in the pipe is drained and done is called. At the timeout the
 * group is killed with SIGKILL and done is called once the child is
 * reaped.
 */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "attr.h"
#include "daemon.h"
#include "sandbox.h"

#define DC_HDR		4	/* a frame's length field */
#define DC_CHUNK	65536	/* bytes read at a time */
#define DC_TURN		16	/* chunks read in one turn of the loop */
#define DC_FD_FLOOR	10	/* the child moves its descriptors above this */

#define DC_TAG_OK	0	/* [0, result] */
#define DC_TAG_ERROR	1	/* [1, why] */

struct dc {
	LIST_ENTRY(dc)	 entry;
	pid_t		 pid;		/* also the process group */
	int		 command;	/* command form, else so form */
	char		*name;		/* argv[0] or the module, for errors */
	char		*cwd;		/* command form: where; NULL: here */
	int		 timeout_ms;

	int		 out_fd;	/* stdout or the result pipe; -1 */
	struct event	*out_ev;
	char		*out;		/* what was read */
	size_t		 out_len;
	size_t		 out_cap;

	int		 in_fd;		/* the command's stdin; -1 */
	struct event	*in_ev;
	char		*in;		/* the argument's JSON line */
	size_t		 in_len;
	size_t		 in_off;

	int		 exec_fd;	/* exec failure's errno; -1 */
	struct event	*timer;

	int		 reaped;
	int		 status;
	int		 timed_out;
	char		*error;		/* first failure seen by the parent */

	void		(*done)(iso_msg *, const char *, void *);
	void		*arg;
};

static LIST_HEAD(, dc)	dcs = LIST_HEAD_INITIALIZER(dcs);

/* The payload length in a frame's header (the child wrote it). */
static uint32_t
dc_frame_len(const char *p)
{
	const unsigned char	*u = (const unsigned char *)p;

	return ((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | (uint32_t)u[3]);
}

/* In a so child: its nil argument, held here so that what the child
   still holds at _exit stays reachable (valgrind checks forked children
   for leaks too, and turns their exit status into its own). */
static iso_msg		*dc_child_nil;

static void	dc_finish(struct dc *);

/* Close fd, keeping errno; the slot becomes -1. */
static void
dc_close(int *fd)
{
	int	saved = errno;

	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
	errno = saved;
}

/* Stop reading the output and writing the input. */
static void
dc_close_io(struct dc *c)
{
	if (c->out_ev != NULL) {
		event_free(c->out_ev);
		c->out_ev = NULL;
	}
	dc_close(&c->out_fd);
	if (c->in_ev != NULL) {
		event_free(c->in_ev);
		c->in_ev = NULL;
	}
	dc_close(&c->in_fd);
	free(c->in);
	c->in = NULL;
}

/* Free c and everything it holds; the child must be reaped already. */
static void
dc_free(struct dc *c)
{
	dc_close_io(c);
	dc_close(&c->exec_fd);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->out);
	free(c->error);
	free(c->name);
	free(c->cwd);
	free(c);
}

/* Kill the computation's process group (and the child, should it not
   have made the group yet). */
static void
dc_kill(struct dc *c)
{
	if (kill(-c->pid, SIGKILL) == -1 && !c->reaped)
		(void)kill(c->pid, SIGKILL);
}

/* Record the first failure, stop the I/O and kill the computation: done
   follows once it is reaped. */
static void
dc_fail(struct dc *c, const char *fmt, ...)
{
	va_list	ap;

	if (c->error == NULL) {
		va_start(ap, fmt);
		if (vasprintf(&c->error, fmt, ap) == -1)
			c->error = NULL;
		va_end(ap);
		if (c->error == NULL)
			c->error = strdup("out of memory");
	}
	dc_close_io(c);
	dc_kill(c);
}

/*
 * Read what the output holds: 1 at end of stream (drain: or when nothing
 * more is there), 0 when more may come, -1 after dc_fail. Bounded: a frame
 * (so form) by its header and ISO_LIMIT_FRAME, output (command form) by
 * ISO_LIMIT_FRAME. Unless draining, at most DC_TURN chunks at a time, so
 * that a fast writer does not keep the loop to itself.
 */
static int
dc_read(struct dc *c, int drain)
{
	size_t	 limit = iso_limit_get(ISO_LIMIT_FRAME), want, n;
	ssize_t	 r;
	char	*p;
	uint32_t len;
	int	 turns = 0;

	for (;;) {
		if (!drain && turns++ == DC_TURN)
			return (0);
		if (c->command)
			want = limit + 1;	/* one more: too much */
		else if (c->out_len < DC_HDR)
			want = DC_HDR;
		else {
			len = dc_frame_len(c->out);
			if (len > limit) {
				dc_fail(c, "result of %u bytes, more than the "
				    "frame limit of %zu", len, limit);
				return (-1);
			}
			want = DC_HDR + (size_t)len + 1; /* one more: junk */
		}
		if (c->out_len >= want) {
			dc_fail(c, c->command ? "output of more than %zu "
			    "bytes" : "more than one result frame", limit);
			return (-1);
		}
		n = want - c->out_len;
		if (n > DC_CHUNK)
			n = DC_CHUNK;
		if (c->out_cap - c->out_len < n) {
			size_t	cap = c->out_cap == 0 ? DC_CHUNK : c->out_cap;

			while (cap - c->out_len < n)
				cap *= 2;
			if ((p = realloc(c->out, cap)) == NULL) {
				dc_fail(c, "out of memory");
				return (-1);
			}
			c->out = p;
			c->out_cap = cap;
		}
		r = read(c->out_fd, c->out + c->out_len, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return (drain ? 1 : 0);
		if (r == -1) {
			dc_fail(c, "cannot read: %s", strerror(errno));
			return (-1);
		}
		if (r == 0)
			return (1);
		c->out_len += (size_t)r;
	}
}

/* The output is readable. */
static void
dc_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dc	*c = arg;

	(void)fd;
	(void)what;
	if (dc_read(c, 0) == 1) {
		event_free(c->out_ev);
		c->out_ev = NULL;
		/* Keep out_fd: drained once more at the reap. */
	}
}

/* The command's stdin is writable. A program that does not read its
   input, or ended, only stops the writing. */
static void
dc_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dc	*c = arg;
	ssize_t		 w;

	(void)fd;
	(void)what;
	while (c->in_off < c->in_len) {
		w = send(c->in_fd, c->in + c->in_off, c->in_len - c->in_off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return;
		if (w == -1)
			break;		/* EPIPE, ECONNRESET: it will not read */
		c->in_off += (size_t)w;
	}
	event_free(c->in_ev);
	c->in_ev = NULL;
	dc_close(&c->in_fd);	/* end of input */
	free(c->in);
	c->in = NULL;
}

/* The timeout: kill it; done follows the reap. */
static void
dc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dc	*c = arg;

	(void)fd;
	(void)what;
	c->timed_out = 1;
	dc_close_io(c);
	dc_kill(c);
}

/* The child has been reaped: take down what it left in its group, drain
   the output and finish. */
static void
dc_reap_cb(pid_t pid, int status, void *arg)
{
	struct dc	*c = arg;

	(void)pid;
	c->reaped = 1;
	c->status = status;
	(void)kill(-c->pid, SIGKILL);
	if (c->out_fd != -1 && !c->timed_out)
		(void)dc_read(c, 1);
	dc_finish(c);
}

void
dc_status_text(int status, int result_expected, char *buf, size_t len)
{
	const char	*abbrev;

	if (WIFSIGNALED(status)) {
		abbrev = sigabbrev_np(WTERMSIG(status));
		if (abbrev != NULL)
			snprintf(buf, len, "crashed: SIG%s%s", abbrev,
			    WCOREDUMP(status) ? " (core dumped)" : "");
		else
			snprintf(buf, len, "crashed: signal %d%s",
			    WTERMSIG(status),
			    WCOREDUMP(status) ? " (core dumped)" : "");
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    result_expected)
		snprintf(buf, len, "exited with status 0 without a result");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else
		snprintf(buf, len, "ended with wait status %#x", status);
}

int
dc_result_frame(const void *frame, size_t n, iso_msg **result, char **why)
{
	const unsigned char	*p = frame;
	iso_msg			*m;
	const char		*s;
	size_t			 len;

	*result = NULL;
	*why = NULL;
	if (n < DC_HDR + 2)
		return (-1);
	len = dc_frame_len((const char *)p);
	if (n != DC_HDR + len)
		return (-1);		/* truncated: it died writing */
	if (p[DC_HDR] != 0x92 ||
	    (p[DC_HDR + 1] != DC_TAG_OK && p[DC_HDR + 1] != DC_TAG_ERROR)) {
		*why = strdup("bad result frame");
		return (-1);
	}
	m = iso_msg_decode(p + DC_HDR + 2, len - 2);
	if (m == NULL) {
		if (asprintf(why, "bad result: %s", iso_error()) == -1)
			*why = NULL;
		return (-1);
	}
	if (p[DC_HDR + 1] == DC_TAG_OK) {
		*result = m;
		return (0);
	}
	s = iso_msg_str(m, NULL);
	*why = strdup(s != NULL ? s : "failed");
	iso_msg_free(m);
	return (-1);
}

/* The command form's result: its output, as JSON if it is JSON, else as
   a string (bytes if it is not UTF-8) without one trailing newline. */
static iso_msg *
dc_command_result(struct dc *c)
{
	iso_msg	*m;
	size_t	 len = c->out_len;
	char	*p;

	if (c->out_cap == 0 || c->out_len == c->out_cap) {
		if ((p = realloc(c->out, c->out_len + 1)) == NULL)
			return (NULL);
		c->out = p;
		c->out_cap = c->out_len + 1;
	}
	c->out[c->out_len] = '\0';
	if (strlen(c->out) == len && (m = iso_msg_from_json(c->out)) != NULL)
		return (m);
	if (len > 0 && c->out[len - 1] == '\n')
		len--;
	if ((m = iso_msg_pack("s#", c->out, len)) != NULL)
		return (m);
	return (iso_msg_pack("y#", c->out, len));
}

/* Out of the list, then done with what came of it, then free. */
static void
dc_finish(struct dc *c)
{
	iso_msg	*result = NULL;
	char	 text[256], *why = NULL;
	int	 e;
	ssize_t	 r;

	LIST_REMOVE(c, entry);
	if (c->timed_out)
		snprintf(text, sizeof text, "timed out after %d ms",
		    c->timeout_ms);
	else if (c->error != NULL)
		snprintf(text, sizeof text, "%s", c->error);
	else if (c->command) {
		do
			r = read(c->exec_fd, &e, sizeof e);
		while (r == -1 && errno == EINTR);
		if (r == (ssize_t)sizeof e && e < 0)
			snprintf(text, sizeof text, "cannot chdir to %s: %s",
			    c->cwd, strerror(-e));
		else if (r == (ssize_t)sizeof e)
			snprintf(text, sizeof text, "cannot run %s: %s",
			    c->name, strerror(e));
		else if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0) {
			if ((result = dc_command_result(c)) == NULL)
				snprintf(text, sizeof text, "bad output: %s",
				    iso_error());
		} else
			dc_status_text(c->status, 0, text, sizeof text);
	} else if (dc_result_frame(c->out, c->out_len, &result, &why) == -1) {
		if (why != NULL)
			snprintf(text, sizeof text, "%s", why);
		else
			dc_status_text(c->status, 1, text, sizeof text);
	}
	free(why);
	if (result != NULL)
		c->done(result, NULL, c->arg);
	else
		c->done(NULL, text, c->arg);
	dc_free(c);
}

/* In the child: write the one frame [tag, m] (m taken over) and end. */
static void __attribute__((noreturn))
dc_so_reply(int fd, int tag, iso_msg *m)
{
	iso_msg	*frame, *why;
	char	 text[256];

	if (m == NULL || (frame = iso_msg_pack("[i]", tag)) == NULL ||
	    iso_msg_append(frame, m) == -1)
		_exit(70);
	if (iso_msg_write(fd, frame) == -1 && tag == DC_TAG_OK &&
	    errno != EPIPE) {
		snprintf(text, sizeof text, "cannot send the result: %s",
		    iso_error());
		iso_msg_free(frame);
		if ((why = iso_msg_pack("[is]", DC_TAG_ERROR, text)) == NULL ||
		    iso_msg_write(fd, why) == -1)
			_exit(70);
		iso_msg_free(why);
		_exit(0);
	}
	iso_msg_free(frame);
	_exit(0);
}

/* In a sandboxed so child: the frame [1, "blocked system call X"] on
   3, written by the SIGSYS handler (no allocation, one write). */
static void
dc_trap_frame(const char *detail)
{
	unsigned char	buf[DC_HDR + 4 + 255];
	size_t		n = strlen(detail), len;

	if (n > 255)
		n = 255;
	len = 4 + n;
	buf[0] = buf[1] = 0;
	buf[2] = (unsigned char)(len >> 8);
	buf[3] = (unsigned char)len;
	buf[DC_HDR] = 0x92;			/* fixarray of 2 */
	buf[DC_HDR + 1] = DC_TAG_ERROR;
	buf[DC_HDR + 2] = 0xd9;			/* str 8 */
	buf[DC_HDR + 3] = (unsigned char)n;
	memcpy(buf + DC_HDR + 4, detail, n);
	(void)!write(3, buf, DC_HDR + len);
}

int
dc_sandbox_check(const char *profile)
{
	iso_spawn_attr	*a;
	int		 rc, saved;

	if ((a = iso_spawn_attr_new()) == NULL)
		return (-1);
	rc = iso_spawn_attr_set_sandbox(a, profile);
	saved = errno;
	iso_spawn_attr_free(a);
	errno = saved;
	return (rc);
}

/* In the child: req's sandbox taken (after what it needs to load), or
   end with [1, why] (fd: the so form's frame pipe) or exit 127. */
static void
dc_sandbox(const struct dc_req *req, int fd)
{
	iso_spawn_attr	*a;
	char		 text[1024];

	if (req->sandbox == NULL)
		return;
	if ((a = iso_spawn_attr_new()) != NULL &&
	    iso_spawn_attr_set_sandbox(a, req->sandbox) == 0) {
		if (fd != -1)
			sandbox_on_trap(dc_trap_frame);
		if (attr_child(a, 0) == 0)
			return;		/* a stays: the filter is loaded */
	}
	snprintf(text, sizeof text, "cannot take the sandbox: %s",
	    iso_error());
	if (fd == -1) {
		(void)!write(STDERR_FILENO, text, strlen(text));
		_exit(127);
	}
	dc_so_reply(fd, DC_TAG_ERROR, iso_msg_pack("s", text));
}

/* In the child: the so form. */
static void __attribute__((noreturn))
dc_so_child(const struct dc_req *req, int fd)
{
	iso_msg		*(*fn)(const iso_msg *);
	iso_msg		*r;
	void		*h;
	char		 text[1024];

	if ((h = dlopen(req->module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(text, sizeof text, "cannot load %s: %s", req->module,
		    dlerror());
		dc_so_reply(fd, DC_TAG_ERROR, iso_msg_pack("s", text));
	}
	dlerror();
	*(void **)&fn = dlsym(h, req->function);
	if (fn == NULL) {
		snprintf(text, sizeof text, "no function %s in %s",
		    req->function, req->module);
		dc_so_reply(fd, DC_TAG_ERROR, iso_msg_pack("s", text));
	}
	if (req->arg == NULL && (dc_child_nil = iso_msg_pack("n")) == NULL)
		_exit(70);
	dc_sandbox(req, fd);
	r = fn(req->arg != NULL ? req->arg : dc_child_nil);
	if (r == NULL) {
		snprintf(text, sizeof text, "function %s returned NULL",
		    req->function);
		dc_so_reply(fd, DC_TAG_ERROR, iso_msg_pack("s", text));
	}
	dc_so_reply(fd, DC_TAG_OK, r);
}

/* In the child: fd to target, close-on-exec cleared (unless keep). */
static void
dc_move_fd(int fd, int target, int cloexec)
{
	if (dup3(fd, target, cloexec ? O_CLOEXEC : 0) == -1)
		_exit(70);
}

void
dc_child_setup(pid_t parent, const int fds[3])
{
	struct sigaction	sa;
	sigset_t		set;
	int			sig, moved[3], i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	}
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(70);
	(void)setpgid(0, 0);

	/* Above the targets first, so that no move overwrites a source. */
	for (i = 0; i < 3; i++) {
		moved[i] = -1;
		if (fds[i] != -1 &&
		    (moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, DC_FD_FLOOR)) ==
		    -1)
			_exit(70);
	}
	for (i = 0; i < 3; i++) {
		if (moved[i] != -1)
			dc_move_fd(moved[i], i == 2 ? 3 : i, i == 2);
	}
	closefrom(moved[2] != -1 ? 4 : 3);
}

void
dc_exec(char *const argv[], const char *cwd)
{
	int	e;

	if (cwd != NULL && chdir(cwd) == -1)
		e = -errno;
	else {
		execvp(argv[0], argv);
		e = errno;
	}
	while (write(3, &e, sizeof e) == -1 && errno == EINTR)
		;
	_exit(127);
}

/* In the child: the command form. */
static void __attribute__((noreturn))
dc_command_child(const struct dc_req *req)
{
	dc_sandbox(req, -1);
	dc_exec(req->argv, req->cwd);
}

/* Make fd non-blocking. 0/-1. */
static int
dc_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

/* One form or the other, whole. */
static int
dc_valid(const struct dc_req *req)
{
	if (req == NULL)
		return (0);
	if (req->argv != NULL)
		return (req->argv[0] != NULL && req->module == NULL &&
		    req->function == NULL);
	return (req->module != NULL && req->function != NULL);
}

/*
 * The descriptors of a computation being started, [0] the daemon's end
 * and [1] the child's; -1 when not open. The command form has all three,
 * the so form out only.
 */
struct dc_pipes {
	int	out[2];		/* stdout, or the result pipe */
	int	in[2];		/* the command's stdin, a socket */
	int	ex[2];		/* the command's exec failure */
};

/* Close whatever of p is open, keeping errno. */
static void
dc_pipes_close(struct dc_pipes *p)
{
	dc_close(&p->out[0]);
	dc_close(&p->out[1]);
	dc_close(&p->in[0]);
	dc_close(&p->in[1]);
	dc_close(&p->ex[0]);
	dc_close(&p->ex[1]);
}

/* A record for req, with nothing open yet; NULL on failure. */
static struct dc *
dc_new(const struct dc_req *req,
    void (*done)(iso_msg *, const char *, void *), void *arg)
{
	struct dc	*c;
	int		 saved;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return (NULL);
	c->out_fd = c->in_fd = c->exec_fd = -1;
	c->command = req->argv != NULL;
	c->timeout_ms = req->timeout_ms;
	c->done = done;
	c->arg = arg;
	if ((c->name = strdup(c->command ? req->argv[0] : req->module)) ==
	    NULL || (c->command && req->cwd != NULL &&
	    (c->cwd = strdup(req->cwd)) == NULL)) {
		saved = errno;
		dc_free(c);
		errno = saved;
		return (NULL);
	}
	return (c);
}

/* The command's stdin in c->in: arg (NULL: null) as one line of JSON.
   0/-1. */
static int
dc_json_line(struct dc *c, const iso_msg *arg)
{
	char	*json;

	json = arg != NULL ? iso_msg_to_json(arg) : strdup("null");
	if (json == NULL)
		return (-1);
	c->in_len = strlen(json) + 1;
	c->in = json;
	if ((json = realloc(c->in, c->in_len + 1)) == NULL)
		return (-1);
	c->in = json;
	c->in[c->in_len - 1] = '\n';
	c->in[c->in_len] = '\0';
	return (0);
}

/* Open p for c's form, close-on-exec, the daemon's ends non-blocking (and
   the stdin socket's shut for reading). 0/-1. */
static int
dc_pipes_open(const struct dc *c, struct dc_pipes *p)
{
	if (pipe2(p->out, O_CLOEXEC) == -1 || dc_nonblock(p->out[0]) == -1)
		return (-1);
	if (!c->command)
		return (0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->in) == -1 ||
	    dc_nonblock(p->in[0]) == -1 || shutdown(p->in[0], SHUT_RD) == -1)
		return (-1);
	if (pipe2(p->ex, O_CLOEXEC) == -1 || dc_nonblock(p->ex[0]) == -1)
		return (-1);
	return (0);
}

/* c's events on base, not added yet: the output, the command's stdin,
   the timeout if it has one. 0/-1. */
static int
dc_events_new(struct dc *c, struct event_base *base,
    const struct dc_pipes *p)
{
	if (c->timeout_ms > 0 &&
	    (c->timer = evtimer_new(base, dc_timer_cb, c)) == NULL)
		return (-1);
	if ((c->out_ev = event_new(base, p->out[0], EV_READ | EV_PERSIST,
	    dc_out_cb, c)) == NULL)
		return (-1);
	if (c->command && (c->in_ev = event_new(base, p->in[0],
	    EV_WRITE | EV_PERSIST, dc_in_cb, c)) == NULL)
		return (-1);
	return (0);
}

/*
 * Fork c's child with every signal blocked around it and put c on the
 * list (where the child sees it too). The child sets itself up and runs
 * req, never returning. The parent gets the pid, or -1 with c off the
 * list.
 */
static pid_t
dc_fork(struct dc *c, const struct dc_req *req, const struct dc_pipes *p)
{
	sigset_t	all, old;
	pid_t		pid, parent = getpid();
	int		fds[3], saved;

	LIST_INSERT_HEAD(&dcs, c, entry);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		fds[0] = c->command ? p->in[1] : -1;
		fds[1] = c->command ? p->out[1] : -1;
		fds[2] = c->command ? p->ex[1] : p->out[1];
		dc_child_setup(parent, fds);
		if (c->command)
			dc_command_child(req);
		dc_so_child(req, 3);
	}
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1)
		LIST_REMOVE(c, entry);
	errno = saved;
	return (pid);
}

/* Make pid, just forked, c's child and have it reaped through child.c.
   When it cannot be watched it is killed and reaped here, and c taken
   off the list: -1. */
static int
dc_watch(struct dc *c, pid_t pid)
{
	int	saved;

	(void)setpgid(pid, pid);	/* whichever of us is first */
	c->pid = pid;
	if (child_watch(pid, dc_reap_cb, c) == 0)
		return (0);
	saved = errno;
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	LIST_REMOVE(c, entry);
	errno = saved;
	return (-1);
}

/* The child runs: close its ends, hand the daemon's to c (p's slots
   become -1) and start the events and the timeout. */
static void
dc_arm(struct dc *c, struct dc_pipes *p)
{
	struct timeval	tv;

	dc_close(&p->out[1]);
	dc_close(&p->in[1]);
	dc_close(&p->ex[1]);
	c->out_fd = p->out[0];
	c->in_fd = p->in[0];
	c->exec_fd = p->ex[0];
	p->out[0] = p->in[0] = p->ex[0] = -1;
	/* Cannot fail for a new event with a valid descriptor. */
	(void)event_add(c->out_ev, NULL);
	if (c->in_ev != NULL)
		(void)event_add(c->in_ev, NULL);
	if (c->timer != NULL) {
		tv.tv_sec = c->timeout_ms / 1000;
		tv.tv_usec = (c->timeout_ms % 1000) * 1000;
		(void)evtimer_add(c->timer, &tv);
	}
}

int
dc_start(const struct dc_req *req,
    void (*done)(iso_msg *, const char *, void *), void *arg)
{
	struct dc_pipes		 p = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	struct event_base	*base;
	struct dc		*c;
	pid_t			 pid;
	int			 saved;

	if (!dc_valid(req) || done == NULL) {
		errno = EINVAL;
		return (-1);
	}
	if ((base = iso_event_base()) == NULL)
		return (-1);
	if ((c = dc_new(req, done, arg)) == NULL)
		return (-1);
	if (c->command && dc_json_line(c, req->arg) == -1)
		goto fail;
	if (dc_pipes_open(c, &p) == -1 || dc_events_new(c, base, &p) == -1)
		goto fail;
	if ((pid = dc_fork(c, req, &p)) == -1 || dc_watch(c, pid) == -1)
		goto fail;
	dc_arm(c, &p);
	return (0);

fail:
	saved = errno;
	dc_pipes_close(&p);
	dc_free(c);
	errno = saved;
	return (-1);
}

void
dc_stop_all(void)
{
	struct dc	*c;
	int		 status;

	LIST_FOREACH(c, &dcs, entry)
		dc_kill(c);
	/* done may start another: it is killed in its turn. */
	while ((c = LIST_FIRST(&dcs)) != NULL) {
		dc_kill(c);
		child_unwatch(c->pid);
		while (waitpid(c->pid, &status, 0) == -1 && errno == EINTR)
			;
		(void)kill(-c->pid, SIGKILL);
		c->reaped = 1;
		c->status = status;
		LIST_REMOVE(c, entry);
		c->done(NULL, "supervisor stopping", c->arg);
		dc_free(c);
	}
}
