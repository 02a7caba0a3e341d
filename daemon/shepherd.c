/*
 * shepherd.c: one run of one supervised command. The daemon forks a
 * shepherd (no exec) that becomes the command's parent: it starts the
 * command in a process group of its own, appends its stdout and stderr to
 * ID.log (rotated to ID.log.1), records ID.run and, once the command has
 * ended, ID.exit. The shepherd has a session of its own and no death
 * signal, so the command outlives a daemon killed with SIGKILL; the
 * command has PR_SET_PDEATHSIG, so it never outlives its shepherd.
 * A command that cannot start (exec, chdir, the log, fork) leaves no
 * ID.run and an ID.exit with code 127 and the reason. With --lines the
 * command's stdin and stdout are a pty, and the shepherd is what passes
 * lines between it and the supervisor (below: "--lines").
 *
 * Output a grandchild writes after the command itself has been reaped
 * is not waited for: the shepherd takes what the pipe holds and exits.
 *
 * The shepherd is a copy of the daemon: it never touches libevent or the
 * library's loop, only plain memory, files and iso_msg values, and it
 * ends with _exit.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "cgroup.h"
#include "daemon.h"
#include "pty.h"
#include "rlimit.h"
#include "wire.h"

extern char	**environ;

/* What the command's child tells the shepherd before exec fails. */
struct shep_report {
	int	stage;		/* SHEP_CHDIR or SHEP_EXEC */
	int	error;		/* errno */
};
#define SHEP_CHDIR	1
#define SHEP_EXEC	2
#define SHEP_LIMIT	3		/* error: which limit << 16 | errno */
#define SHEP_CGROUP	4		/* ... "which" of entering the cgroup */
#define SHEP_ATTR	5		/* its sandbox (attr_child) */

#define SHEP_DIR_FD	3		/* the state directory, in a shepherd */
#define SHEP_NOTE_FD	4		/* the command's note (lib/attr.h) */
#define SHEP_HIGH_FD	10		/* out of the way of 3 and 4 */

/* A growing byte buffer. */
struct buf {
	char	*p;
	size_t	 len, cap;
};

/* A line for the command's stdin: its seq in the mailbox, and where it
   ends in the bytes ever queued for the pty. */
struct pend {
	uint64_t	 seq;
	uint64_t	 end;
};

/* With --lines: the pty and the link to the supervisor. */
struct lines {
	int		 master;	/* -1 once the command is gone */
	int		 slave;		/* our own, to ask what it holds */
	int		 link;		/* -1 while not connected */
	long		 retry;		/* ms clock of the next connect */
	uint64_t	 run;		/* this run's id: names its output */
	/* output */
	struct buf	 line;		/* read, not yet cut into lines */
	struct buf	 out;		/* frames not acknowledged */
	size_t		 nout;		/* how many */
	uint64_t	 first;		/* the number of out's first */
	struct buf	 wire;		/* bytes for the link */
	int		 resend;	/* wire lost a frame: reconnect */
	/* input */
	struct buf	 in;		/* bytes from the link */
	struct buf	 tty;		/* bytes for the command's stdin */
	uint64_t	 queued;	/* bytes ever put in tty */
	uint64_t	 written;	/* bytes ever written to the pty */
	uint64_t	 consumed;	/* bytes known read by the command */
	struct pend	*pend;		/* lines not known read, in order */
	size_t		 npend, pcap;
	uint64_t	 have;		/* the last seq received */
	uint64_t	 read;		/* the last seq read by the command */
	long		 check_at;	/* ms clock of the next look; 0: none */
	int		 check_ms;
};

struct shep {
	const struct shep_spec	*spec;
	struct lines		 ln;
	char			 path_run[PATH_MAX], path_exit[PATH_MAX];
	char			 path_log[PATH_MAX], path_log1[PATH_MAX];
	int			 logfd;
	size_t			 logsize;
	char			 reason[2 * ATTR_NOTE_MAX + 8];	/* "" */
};

/* Read, retrying on EINTR. */
static ssize_t
shep_read(int fd, void *buf, size_t len)
{
	ssize_t	n;

	do
		n = read(fd, buf, len);
	while (n == -1 && errno == EINTR);
	return (n);
}

/* Write ID.exit: code or signal (-1: null) and error (NULL: null);
   with lines (taken over), what a --lines run leaves. */
static int
shep_exit_file(struct shep *sh, int code, int sig, const char *error,
    iso_msg *lines)
{
	iso_msg	*m;
	int	 r;

	if (code >= 0)
		m = iso_msg_pack("{s i s n s s?}", "code", code, "signal",
		    "error", error);
	else
		m = iso_msg_pack("{s n s i s s?}", "code", "signal", sig,
		    "error", error);
	if (m != NULL && sh->reason[0] != '\0' && iso_msg_put(m,
	    iso_msg_pack("s", "reason"), iso_msg_pack("s", sh->reason)) == -1) {
		iso_msg_free(m);
		m = NULL;
	}
	if (m != NULL && lines != NULL && iso_msg_put(m, iso_msg_pack("s",
	    "lines"), lines) == -1) {
		iso_msg_free(m);
		return (-1);
	}
	if (m == NULL) {
		iso_msg_free(lines);
		return (-1);
	}
	r = state_write(sh->path_exit, m);
	iso_msg_free(m);
	return (r);
}

/* The command could not start: ID.exit says why, with code 127. */
static void __attribute__((noreturn, format(printf, 2, 3)))
shep_fail(struct shep *sh, const char *fmt, ...)
{
	char	why[PATH_MAX + 256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	_exit(shep_exit_file(sh, 127, -1, why, NULL) == 0 ? 0 : 1);
}

/* Open ID.log for appending; truncate: start a fresh one. */
static void
shep_log_open(struct shep *sh, int truncate)
{
	struct stat	st;

	sh->logfd = open(sh->path_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW | (truncate ? O_TRUNC : 0), 0600);
	sh->logsize = 0;
	if (sh->logfd != -1 && fstat(sh->logfd, &st) == 0)
		sh->logsize = (size_t)st.st_size;
}

/* Append p[0..n) to ID.log, rotating so that no file exceeds log_max. */
static void
shep_log(struct shep *sh, const char *p, size_t n)
{
	size_t	max = sh->spec->log_max, k;
	ssize_t	w;

	while (n > 0) {
		if (max > 0 && sh->logsize >= max) {
			if (sh->logfd != -1)
				close(sh->logfd);
			(void)rename(sh->path_log, sh->path_log1);
			shep_log_open(sh, 1);
		}
		k = n;
		if (max > 0 && k > max - sh->logsize)
			k = max - sh->logsize;
		if (sh->logfd != -1) {
			do
				w = write(sh->logfd, p, k);
			while (w == -1 && errno == EINTR);
			if (w > 0)
				k = (size_t)w;	/* short: the rest next turn */
		}
		sh->logsize += k;	/* dropped bytes (ENOSPC) count too */
		p += k;
		n -= k;
	}
}

/* Copy one read of the pipe to the log: its size, 0 at end of file,
   -1 on error (EAGAIN included). */
static ssize_t
shep_drain(struct shep *sh, int fd)
{
	char	buf[16384];
	ssize_t	n;

	if ((n = shep_read(fd, buf, sizeof buf)) > 0)
		shep_log(sh, buf, (size_t)n);
	return (n);
}

/* ---- --lines ------------------------------------------------------------- */

/*
 * Input. Each message the supervisor sends ("line", its mailbox seq) is
 * queued for the pty as a line of JSON (bytes as they are, a newline
 * added unless they end with one); the shepherd tells the
 * supervisor ("read") the last seq whose whole line the command has
 * read, and only then does the message leave the mailbox. The terminal
 * says how much of what was written it still holds: TIOCINQ on a
 * descriptor of the slave side that the shepherd keeps. That count
 * misses bytes still in the pty's flip buffer, on their way to the
 * queue (just after a write, it is often 0); poll() on the slave pushes
 * them through when the queue is empty. So "nothing left" (TIOCINQ 0,
 * then poll without POLLIN, then TIOCINQ 0 again) is exact, and that is
 * when lines are acknowledged: at most LINES_WINDOW bytes are written
 * beyond what is known read, so a command that keeps reading gets there.
 * Once the command has ended, the shepherd reads what the terminal
 * still holds: those lines were not read and stay in the mailbox.
 *
 * Output. Each line the command prints is numbered (1, 2, ... in this
 * run, whose id is random) and kept until the supervisor says ("took")
 * that the outbox has it; after a reconnect every line kept is sent
 * again (the outbox drops one it has, by "RUN:N"). At most LINES_HELD
 * lines and LINES_MAX bytes are kept: then the pty is not read and the
 * command blocks in write. When the command ends, what is kept, with
 * the last seq read, goes into ID.exit for the supervisor to take.
 */

#define LINES_MAX	(1024 * 1024)	/* bytes waiting each way */
#define LINES_HELD	256		/* output lines not yet acknowledged */
#define LINES_WINDOW	(16 * 1024)	/* bytes written, not known read */
#define CHECK_MAX_MS	64		/* between two looks at the pty */
#define RECONNECT_MS	200

static long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int
buf_add(struct buf *b, const void *p, size_t n)
{
	char	*q;
	size_t	 cap;

	if (n == 0)
		return (0);
	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		if ((q = realloc(b->p, cap)) == NULL)
			return (-1);
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return (0);
}

static void
buf_drop(struct buf *b, size_t n)
{
	if (n == 0)
		return;
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* Append m as one frame to b. */
static int
buf_frame(struct buf *b, const iso_msg *m)
{
	unsigned char	 hdr[4];
	void		*p;
	size_t		 n;
	int		 r;

	if (iso_msg_encode(m, &p, &n) == -1)
		return (-1);
	wire_frame_hdr(hdr, n);
	r = buf_add(b, hdr, WIRE_HDR) == -1 || buf_add(b, p, n) == -1 ? -1 : 0;
	free(p);
	return (r);
}

/* The length of the whole frame at the start of p (one of ours). */
static size_t
frame_size(const char *p)
{
	size_t	len;

	(void)wire_frame_len(p, &len);
	return (WIRE_HDR + len);
}

/* Queue a frame for the supervisor, if one is there. */
static void
lines_send(struct shep *sh, const iso_msg *frame)
{
	if (sh->ln.link != -1)
		(void)buf_frame(&sh->ln.wire, frame);
}

/* One line of output (without its newline) becomes output frame N. */
static void
lines_output(struct shep *sh, char *line, size_t n)
{
	size_t	 start = sh->ln.out.len;
	iso_msg	*m, *f;

	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	if ((m = iso_msg_from_json(line)) == NULL &&
	    (m = iso_msg_pack("s#", line, n)) == NULL)
		m = iso_msg_pack("y#", line, n);	/* not UTF-8 */
	f = m != NULL ? iso_msg_pack("[s U O]", "out", sh->ln.first +
	    sh->ln.nout, m) : NULL;
	if (f != NULL && buf_frame(&sh->ln.out, f) == 0) {
		sh->ln.nout++;
		if (sh->ln.link != -1 && buf_add(&sh->ln.wire,
		    sh->ln.out.p + start, sh->ln.out.len - start) == -1)
			sh->ln.wire.len = 0, sh->ln.resend = 1;
	}
	iso_msg_free(f);
	iso_msg_free(m);
}

/* Room for another line of output. */
static int
lines_room(const struct shep *sh)
{
	return (sh->ln.nout < LINES_HELD && sh->ln.out.len < LINES_MAX);
}

/*
 * Cut whole lines of output from what was read while there is room (all:
 * every one, at the end). A line that never ends is passed on in pieces
 * of LINES_MAX.
 */
static void
lines_cut(struct shep *sh, int all)
{
	struct buf	*b = &sh->ln.line;
	char		*nl;
	size_t		 i, off = 0;

	while (off < b->len && (all || lines_room(sh)) &&
	    (nl = memchr(b->p + off, '\n', b->len - off)) != NULL) {
		i = (size_t)(nl - (b->p + off));
		lines_output(sh, b->p + off, i);
		off += i + 1;
	}
	if ((all || lines_room(sh)) && b->len - off >= LINES_MAX) {
		lines_output(sh, b->p + off, LINES_MAX);
		off += LINES_MAX;
	}
	buf_drop(b, off);
}

/* Whether to read the master: room for output and no whole line left. */
static int
lines_want_tty(const struct shep *sh)
{
	return (lines_room(sh) && (sh->ln.line.len == 0 ||
	    (sh->ln.line.len < LINES_MAX &&
	    memchr(sh->ln.line.p, '\n', sh->ln.line.len) == NULL)));
}

/* Take what the master has: 2 after a read, 1 when there is nothing
   now, 0 on an error. */
static int
lines_read_tty(struct shep *sh)
{
	char	 buf[16384];
	ssize_t	 n;

	n = shep_read(sh->ln.master, buf, sizeof buf);
	if (n == -1 && errno == EAGAIN)
		return (1);
	if (n <= 0)
		return (0);
	/* One more byte: lines_output writes a NUL at a line's end. */
	if (buf_add(&sh->ln.line, buf, (size_t)n) == -1 ||
	    buf_add(&sh->ln.line, "", 1) == -1)
		return (0);
	sh->ln.line.len--;
	lines_cut(sh, 0);
	return (2);
}

/* "took" N: output up to N is in the outbox. */
static void
lines_took(struct shep *sh, uint64_t n)
{
	size_t	drop = 0;

	while (sh->ln.nout > 0 && sh->ln.first <= n) {
		drop += frame_size(sh->ln.out.p + drop);
		sh->ln.first++;
		sh->ln.nout--;
	}
	buf_drop(&sh->ln.out, drop);
	lines_cut(sh, 0);
}

/* The command has read every byte written up to upto: acknowledge the
   lines that ended there or before. */
static void
lines_consumed(struct shep *sh, uint64_t upto)
{
	iso_msg	*f;
	size_t	 i;

	for (i = 0; i < sh->ln.npend && sh->ln.pend[i].end <= upto; i++)
		sh->ln.read = sh->ln.pend[i].seq;
	if (i > 0) {
		memmove(sh->ln.pend, sh->ln.pend + i, (sh->ln.npend - i) *
		    sizeof *sh->ln.pend);
		sh->ln.npend -= i;
	}
	if (upto > sh->ln.consumed)
		sh->ln.consumed = upto;
	if (i > 0 && (f = iso_msg_pack("[s U]", "read", sh->ln.read)) !=
	    NULL) {
		lines_send(sh, f);
		iso_msg_free(f);
	}
}

/*
 * Has the command read everything written to the pty? When it has, the
 * lines written are acknowledged; else the next look is set, later each
 * time (timer: this look was the timer's).
 */
static void
lines_check(struct shep *sh, int timer)
{
	struct pollfd	pfd;
	int		n = -1;

	if (sh->ln.consumed == sh->ln.written) {
		sh->ln.check_at = 0;
		return;
	}
	pfd.fd = sh->ln.slave;
	pfd.events = POLLIN;
	if (ioctl(sh->ln.slave, TIOCINQ, &n) == 0 && n == 0 &&
	    poll(&pfd, 1, 0) == 0 &&
	    ioctl(sh->ln.slave, TIOCINQ, &n) == 0 && n == 0) {
		lines_consumed(sh, sh->ln.written);
		sh->ln.check_at = 0;
		sh->ln.check_ms = 0;
		return;
	}
	if (timer || sh->ln.check_at == 0) {
		sh->ln.check_ms = sh->ln.check_ms == 0 ? 1 :
		    sh->ln.check_ms * 2 > CHECK_MAX_MS ? CHECK_MAX_MS :
		    sh->ln.check_ms * 2;
		sh->ln.check_at = now_ms() + sh->ln.check_ms;
	}
}

/* Write queued input to the pty, no further than LINES_WINDOW beyond
   what is known read. */
static void
lines_write_tty(struct shep *sh)
{
	uint64_t	ahead = sh->ln.written - sh->ln.consumed;
	size_t		n = sh->ln.tty.len;
	ssize_t		w;

	if (ahead >= LINES_WINDOW || n == 0)
		return;
	if (n > LINES_WINDOW - ahead)
		n = (size_t)(LINES_WINDOW - ahead);
	do
		w = write(sh->ln.master, sh->ln.tty.p, n);
	while (w == -1 && errno == EINTR);
	if (w <= 0)
		return;
	buf_drop(&sh->ln.tty, (size_t)w);
	sh->ln.written += (uint64_t)w;
	if (sh->ln.check_at == 0) {
		sh->ln.check_ms = 1;
		sh->ln.check_at = now_ms() + 1;
	}
}

static void
lines_disconnect(struct shep *sh)
{
	close(sh->ln.link);
	sh->ln.link = -1;
	sh->ln.wire.len = 0;
	sh->ln.in.len = 0;
	sh->ln.retry = now_ms() + RECONNECT_MS;
}

/* Connect and attach, saying what this run has; then every line of
   output not acknowledged goes again. */
static void
lines_connect(struct shep *sh)
{
	struct sockaddr_un	 sun;
	struct buf		 hello = { NULL, 0, 0 };
	iso_msg			*m;
	char			 hex[17], run[17];
	int			 fd;

	sh->ln.retry = now_ms() + RECONNECT_MS;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(sh->spec->sock) >= sizeof sun.sun_path)
		return;
	strcpy(sun.sun_path, sh->spec->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);
		return;
	}
	snprintf(hex, sizeof hex, "%016" PRIx64, sh->spec->id);
	snprintf(run, sizeof run, "%016" PRIx64, sh->ln.run);
	m = iso_msg_pack("{s:s s:s s:s s:U s:U}", "op", "attach", "id", hex,
	    "run", run, "have", sh->ln.have, "read", sh->ln.read);
	if (m == NULL || buf_frame(&hello, m) == -1 ||
	    send(fd, hello.p, hello.len, MSG_NOSIGNAL) != (ssize_t)hello.len) {
		close(fd);
		fd = -1;
	}
	iso_msg_free(m);
	free(hello.p);
	if (fd == -1)
		return;
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	sh->ln.link = fd;
	sh->ln.wire.len = 0;
	sh->ln.resend = 0;
	if (buf_add(&sh->ln.wire, sh->ln.out.p, sh->ln.out.len) == -1)
		lines_disconnect(sh);
}

/* A frame from the supervisor. 0, or -1 when it makes no sense. */
static int
lines_frame(struct shep *sh, const iso_msg *f)
{
	const char	*what, *raw;
	const iso_msg	*m;
	uint64_t	 n;
	char		*json;
	size_t		 len;
	int		 nl;

	if (iso_msg_unpack(f, "[s U]", &what, &n) == -1)
		return (-1);
	if (strcmp(what, "took") == 0) {
		lines_took(sh, n);
		return (0);
	}
	if (strcmp(what, "line") != 0 || iso_msg_unpack(f, "[s U O]", &what,
	    &n, &m) == -1)
		return (-1);
	if (n <= sh->ln.have)
		return (0);	/* we have it */
	if (sh->ln.npend == sh->ln.pcap) {
		struct pend	*p;
		size_t		 cap = sh->ln.pcap ? sh->ln.pcap * 2 : 64;

		if ((p = reallocarray(sh->ln.pend, cap, sizeof *p)) == NULL)
			return (-1);
		sh->ln.pend = p;
		sh->ln.pcap = cap;
	}
	if (iso_msg_type(m) == ISO_BYTES) {
		/* Text as it is (isoctl send --text), a newline added
		   unless it ends with one. */
		raw = iso_msg_bytes(m, &len);
		nl = len == 0 || raw[len - 1] != '\n';
		json = NULL;
	} else {
		if ((json = iso_msg_to_json(m)) == NULL)
			return (-1);
		raw = json;
		len = strlen(json);
		nl = 1;
	}
	if (buf_add(&sh->ln.tty, raw, len) == -1 ||
	    (nl && buf_add(&sh->ln.tty, "\n", 1) == -1)) {
		free(json);
		return (-1);
	}
	sh->ln.queued += len + (size_t)nl;
	free(json);
	sh->ln.pend[sh->ln.npend].seq = n;
	sh->ln.pend[sh->ln.npend].end = sh->ln.queued;
	sh->ln.npend++;
	sh->ln.have = n;
	return (0);
}

/* Frames from the supervisor. 0, or -1 to disconnect. */
static int
lines_read_link(struct shep *sh)
{
	char		 buf[16384];
	ssize_t		 n;
	size_t		 len;
	iso_msg		*f;
	int		 r;

	n = shep_read(sh->ln.link, buf, sizeof buf);
	if (n == -1 && errno == EAGAIN)
		return (0);
	if (n <= 0 || buf_add(&sh->ln.in, buf, (size_t)n) == -1)
		return (-1);
	while (sh->ln.in.len >= WIRE_HDR) {
		if (wire_frame_len(sh->ln.in.p, &len) == -1)
			return (-1);
		if (sh->ln.in.len < WIRE_HDR + len)
			break;
		if ((f = iso_msg_decode(sh->ln.in.p + WIRE_HDR, len)) == NULL)
			return (-1);
		r = lines_frame(sh, f);
		iso_msg_free(f);
		if (r == -1)
			return (-1);
		buf_drop(&sh->ln.in, WIRE_HDR + len);
	}
	return (0);
}

static int
lines_write_link(struct shep *sh)
{
	ssize_t	n;

	n = send(sh->ln.link, sh->ln.wire.p, sh->ln.wire.len, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0)
		return (-1);
	buf_drop(&sh->ln.wire, (size_t)n);
	return (0);
}

/*
 * Set up pfd[first..] for the pty and the link; the poll timeout (ms,
 * -1 for none) for a reconnect or a look at the pty. Returns the
 * number of entries.
 */
static int
lines_poll(struct shep *sh, struct pollfd *pfd, int *timeout)
{
	long	t, at = 0;
	int	n = 0;

	if (sh->ln.link != -1 && sh->ln.resend)
		lines_disconnect(sh);	/* out of memory: start over */
	if (sh->ln.link == -1 && sh->spec->sock != NULL) {
		if (now_ms() >= sh->ln.retry)
			lines_connect(sh);
		if (sh->ln.link == -1)
			at = sh->ln.retry;
	}
	if (sh->ln.check_at != 0 && (at == 0 || sh->ln.check_at < at))
		at = sh->ln.check_at;
	if (at != 0) {
		t = at - now_ms();
		*timeout = t < 0 ? 0 : (int)t;
	}
	pfd[n].fd = sh->ln.master;
	pfd[n].events = (lines_want_tty(sh) ? POLLIN : 0) |
	    (sh->ln.tty.len > 0 && sh->ln.written - sh->ln.consumed <
	    LINES_WINDOW ? POLLOUT : 0);
	n++;
	pfd[n].fd = sh->ln.link;
	pfd[n].events = (sh->ln.tty.len < LINES_MAX ? POLLIN : 0) |
	    (sh->ln.wire.len > 0 ? POLLOUT : 0);
	n++;
	return (n);
}

static void
lines_events(struct shep *sh, const struct pollfd *pfd)
{
	int	got = 0;

	if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    lines_want_tty(sh))
		got = lines_read_tty(sh) == 2;
	if (pfd[0].revents & POLLOUT)
		lines_write_tty(sh);
	if (sh->ln.link != -1 && (pfd[1].revents & (POLLIN | POLLHUP |
	    POLLERR)) && lines_read_link(sh) == -1)
		lines_disconnect(sh);
	if (sh->ln.link != -1 && (pfd[1].revents & POLLOUT) &&
	    lines_write_link(sh) == -1)
		lines_disconnect(sh);
	/* Output is a sign that input was read. */
	if (got)
		lines_check(sh, 0);
	if (sh->ln.check_at != 0 && now_ms() >= sh->ln.check_at)
		lines_check(sh, 1);
}

/*
 * The command has ended: take what it printed last (no more than the
 * terminal can hold: a grandchild may still write) and what it left
 * unread. What ID.exit is to say: {"run", "read", "first", "out"}.
 */
static iso_msg *
lines_finish(struct shep *sh)
{
	char		 buf[16384];
	iso_msg		*lines, *outs, *f;
	const iso_msg	*m;
	char		 run[17];
	uint64_t	 unread = 0;
	size_t		 off;
	ssize_t		 n;
	int		 reads = LINES_MAX / sizeof buf;

	while (reads-- > 0 && lines_read_tty(sh) == 2)
		;
	lines_cut(sh, 1);
	if (sh->ln.line.len > 0)
		lines_output(sh, sh->ln.line.p, sh->ln.line.len);
	/* What it has not read: the rest of the bytes written. */
	while ((n = shep_read(sh->ln.slave, buf, sizeof buf)) > 0)
		unread += (uint64_t)n;
	if (unread <= sh->ln.written)
		lines_consumed(sh, sh->ln.written - unread);
	close(sh->ln.master);
	close(sh->ln.slave);
	sh->ln.master = sh->ln.slave = -1;
	if (sh->ln.link != -1)
		lines_disconnect(sh);

	snprintf(run, sizeof run, "%016" PRIx64, sh->ln.run);
	if ((outs = iso_msg_pack("[]")) == NULL)
		return (NULL);
	for (off = 0; off < sh->ln.out.len; off += frame_size(sh->ln.out.p +
	    off)) {
		f = iso_msg_decode(sh->ln.out.p + off + WIRE_HDR,
		    frame_size(sh->ln.out.p + off) - WIRE_HDR);
		if (f == NULL || iso_msg_unpack(f, "[s U O]", &(const char *){
		    NULL }, &(uint64_t){ 0 }, &m) == -1 ||
		    iso_msg_append(outs, iso_msg_copy(m)) == -1) {
			iso_msg_free(f);
			iso_msg_free(outs);
			return (NULL);
		}
		iso_msg_free(f);
	}
	lines = iso_msg_pack("{s:s s:U s:U s:O}", "run", run, "read",
	    sh->ln.read, "first", sh->ln.first, "out", outs);
	iso_msg_free(outs);
	return (lines);
}

/* The environment of the command: envp or environ, with our id (and
   ISO_NOTE_FD when it has limits or a sandbox). */
static char **
shep_env(const struct shep_spec *spec, char *idvar, size_t len)
{
	char *const	 *from = spec->envp != NULL ? spec->envp : environ;
	char		**env;
	size_t		  n = 0, i, k = 0;
	static char	  notevar[] = "ISO_NOTE_FD=4";

	while (from != NULL && from[n] != NULL)
		n++;
	if ((env = calloc(n + 3, sizeof *env)) == NULL)
		return (NULL);
	for (i = 0; i < n; i++)
		if (strncmp(from[i], "ISO_ISOLATE_ID=", 15) != 0 &&
		    strncmp(from[i], "ISO_NOTE_FD=", 12) != 0)
			env[k++] = from[i];
	snprintf(idvar, len, "ISO_ISOLATE_ID=%016" PRIx64, spec->id);
	env[k++] = idvar;
	if (spec->limits != 0 || spec->sandbox != NULL)
		env[k++] = notevar;
	env[k] = NULL;
	return (env);
}

/* In the command's child: its group, stdio, signals, cwd, exec. */
static void __attribute__((noreturn))
shep_child(const struct shep_spec *spec, const iso_spawn_attr *attr,
    char **env, pid_t parent, int out, int efd, int slave, int note)
{
	struct shep_report	rep = { SHEP_EXEC, 0 };
	struct sigaction	sa;
	sigset_t		none;
	int			sig;

	(void)setpgid(0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);		/* the shepherd is already gone */
	if (slave != -1 && (dup2(slave, STDIN_FILENO) == -1 ||
	    dup2(slave, STDOUT_FILENO) == -1))
		goto fail;
	if ((slave == -1 && dup2(out, STDOUT_FILENO) == -1) ||
	    dup2(out, STDERR_FILENO) == -1)
		goto fail;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (spec->cwd != NULL && chdir(spec->cwd) == -1) {
		rep.stage = SHEP_CHDIR;
		goto fail;
	}
	if (note != -1) {
		/* efd may sit where the note goes */
		if ((efd = fcntl(efd, F_DUPFD_CLOEXEC, SHEP_HIGH_FD)) == -1)
			_exit(127);
		if (dup2(note, SHEP_NOTE_FD) == -1)	/* not CLOEXEC */
			goto fail;
	}
	if (spec->limits != 0) {
		int	which;

		rep.stage = SHEP_LIMIT;
		if (spec->cgroup != NULL && cg_enter(spec->cgroup) == -1) {
			rep.error = SHEP_CGROUP << 16 | errno;
			goto limit;
		}
		if ((which = rlimit_apply(spec->limits, spec->limit)) != 0) {
			rep.error = (which - 1) << 16 | errno;
			goto limit;
		}
		rep.stage = SHEP_EXEC;
	}
	if (spec->paused) {
		/* Stopped, hold nothing exec would have closed but efd (the
		   shepherd's pipe to the daemon must end when it says so). */
		attr_close_cloexec(efd);
		(void)raise(SIGSTOP);	/* isoctl resume goes on */
	}
	/* Last: the sandbox may forbid what comes before. */
	if (attr_child(attr, 1) == -1) {
		rep.stage = SHEP_ATTR;
		goto fail;
	}
	execvpe(spec->argv[0], spec->argv, env);
fail:
	rep.error = errno;
limit:
	(void)!write(efd, &rep, sizeof rep);
	_exit(127);
}

/* In the order of enum iso_rlimit, then the cgroup. */
static const char *const shep_limit_names[] = { "memory", "CPU",
    "open files", "processes", "cgroup" };

/* A command with limits or a sandbox has ended with status: why, in
   words, when a limit or the sandbox is what ended it (the kernel's
   SIGXCPU at our CPU limit, or the note a library in it left: out of
   memory, a blocked system call). */
static void
shep_reason(struct shep *sh, int status, int note)
{
	char	desc[ATTR_NOTE_MAX], detail[ATTR_NOTE_MAX];

	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU &&
	    (sh->spec->limits & (1u << ISO_RLIMIT_CPU))) {
		snprintf(sh->reason, sizeof sh->reason, "SIGXCPU: CPU limit of "
		    "%" PRIu64 " s reached", sh->spec->limit[ISO_RLIMIT_CPU]);
		return;
	}
	if ((WIFSIGNALED(status) || WEXITSTATUS(status) != 0) &&
	    attr_note_read(note, desc, sizeof desc, detail, sizeof detail))
		snprintf(sh->reason, sizeof sh->reason, "%s: %s", desc,
		    detail);
}

/* Ignore SIGPIPE/SIGHUP/SIGINT, default the rest; a signalfd for ours. */
static int
shep_signals(void)
{
	struct sigaction	sa;
	sigset_t		set;
	int			sig, fd;

	memset(&sa, 0, sizeof sa);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sig == SIGPIPE || sig == SIGHUP || sig == SIGINT)
			sa.sa_handler = SIG_IGN;
		else
			sa.sa_handler = SIG_DFL;
		(void)sigaction(sig, &sa, NULL);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR2);
	/* All are still blocked from the fork: nothing is lost. */
	if ((fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		return (-1);
	sigprocmask(SIG_SETMASK, &set, NULL);
	return (fd);
}

/*
 * Wait for the command: copy its output to the log, pass signals on,
 * and once it is reaped take what the pipe still holds without waiting
 * for end of file (a grandchild may keep the pipe open). Its status;
 * with --lines, *lines what ID.exit is to say of them.
 */
static int
shep_wait(struct shep *sh, pid_t pid, int out, int sigfd, iso_msg **lines)
{
	struct signalfd_siginfo	si;
	struct pollfd		pfd[4];
	ssize_t			n;
	int			status = 0, left, npfd, timeout;

	for (;;) {
		pfd[0].fd = sigfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = out;	/* -1 once at end: ignored by poll */
		pfd[1].events = POLLIN;
		npfd = 2;
		timeout = -1;
		if (sh->ln.master != -1)
			npfd += lines_poll(sh, pfd + 2, &timeout);
		if (poll(pfd, (nfds_t)npfd, timeout) == -1) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (npfd > 2)
			lines_events(sh, pfd + 2);
		if (out != -1 && pfd[1].revents != 0 && shep_drain(sh, out) <= 0) {
			close(out);
			out = -1;
		}
		while (shep_read(sigfd, &si, sizeof si) == sizeof si) {
			/* Unreaped, the pid and its group cannot be reused. */
			if (si.ssi_signo == SIGTERM) {
				(void)kill(-pid, SIGTERM);
				/* a paused group takes it once it runs */
				(void)kill(-pid, SIGCONT);
			}
			else if (si.ssi_signo == SIGUSR2)
				(void)kill(-pid, SIGKILL);
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	if (out != -1) {
		/* No more than the pipe holds: a grandchild may still write. */
		left = fcntl(out, F_GETPIPE_SZ);
		(void)fcntl(out, F_SETFL, O_NONBLOCK);
		while (left > 0 && (n = shep_drain(sh, out)) > 0)
			left -= n;
		close(out);
	}
	if (sh->ln.master != -1)
		*lines = lines_finish(sh);
	return (status);
}

/* 1 once the command, started paused, has stopped itself; 0 if it ended
   first (left unreaped). */
static int
shep_stopped(pid_t pid)
{
	siginfo_t	si;
	int		rc;

	memset(&si, 0, sizeof si);
	while ((rc = waitid(P_PID, (id_t)pid, &si, WSTOPPED | WEXITED |
	    WNOWAIT)) == -1 && errno == EINTR)
		;
	return (rc == 0 && si.si_code == CLD_STOPPED);
}

/*
 * The shepherd itself. tell is the pipe the daemon waits on: a byte once
 * nothing of the daemon's is left here, its end once the command runs
 * (ID.run written) or could not start. Never returns.
 */
static void __attribute__((noreturn))
shep_main(const struct shep_spec *spec, int tell)
{
	struct shep		 sh = { .spec = spec, .logfd = -1 };
	const char		*dir = spec->dir;
	int			 slave = -1;
	struct shep_report	 rep;
	iso_spawn_attr		*attr = NULL;
	char			 idvar[64], **env;
	int			 fd, sigfd, out[2], efd[2], status;
	int			 note[2] = { -1, -1 };
	int			 paused_efd = -1;
	char			 why[PATH_MAX + 256];
	pid_t			 pid, self = getpid();
	ssize_t			 n;
	iso_msg			*m, *lines = NULL;

	(void)setsid();
	/* Nothing of the daemon's: stdio on /dev/null, the rest closed. */
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		_exit(1);
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	(void)dup2(fd, STDERR_FILENO);
	/* The pipe above 3 and 4 first, so that the moves below keep it. */
	if ((tell = fcntl(tell, F_DUPFD_CLOEXEC, SHEP_DIR_FD + 2)) == -1)
		_exit(1);
	/* But the state directory, reached through its descriptor. */
	if (spec->dirfd != -1) {
		if (spec->dirfd != SHEP_DIR_FD &&
		    dup2(spec->dirfd, SHEP_DIR_FD) == -1)
			_exit(1);
		(void)fcntl(SHEP_DIR_FD, F_SETFD, FD_CLOEXEC);
		dir = "/proc/self/fd/3";
	}
	fd = spec->dirfd != -1 ? SHEP_DIR_FD + 1 : STDERR_FILENO + 1;
	if (dup3(tell, fd, O_CLOEXEC) == -1)
		_exit(1);
	tell = fd;
	closefrom(tell + 1);
	/*
	 * The daemon's descriptors are close-on-exec, which a fork without
	 * exec ignores: until now this process held its listening sockets
	 * and its lock. The daemon waits for this byte, so that none of
	 * them outlives its own copy (a supervisor killed after a spawn
	 * must leave no listener here taking connections nobody serves).
	 */
	while (write(tell, "", 1) == -1 && errno == EINTR)
		;
	if ((sigfd = shep_signals()) == -1)
		_exit(1);

#define SHEP_PATH(suffix, buf) \
	(state_path(dir, spec->id, suffix, buf, sizeof buf) == -1)
	if (SHEP_PATH(".run", sh.path_run) ||
	    SHEP_PATH(".exit", sh.path_exit) ||
	    SHEP_PATH(".log", sh.path_log) ||
	    SHEP_PATH(".log.1", sh.path_log1))
		_exit(1);
#undef SHEP_PATH
	(void)unlink(sh.path_run);
	(void)unlink(sh.path_exit);

	shep_log_open(&sh, 0);
	if (sh.logfd == -1)
		shep_fail(&sh, "cannot open %s: %s", sh.path_log,
		    strerror(errno));
	sh.ln.master = sh.ln.slave = sh.ln.link = -1;
	sh.ln.first = 1;
	if (getrandom(&sh.ln.run, sizeof sh.ln.run, 0) != sizeof sh.ln.run)
		sh.ln.run = (uint64_t)self << 32 ^ (uint64_t)now_ms();
	if (spec->lines && (sh.ln.master = pty_open(&slave,
	    &sh.ln.slave)) == -1)
		shep_fail(&sh, "cannot make a pseudo-terminal: %s",
		    strerror(errno));
	/* Built here: the sandbox's Landlock ruleset is a descriptor. */
	if (spec->sandbox != NULL && ((attr = iso_spawn_attr_new()) == NULL ||
	    iso_spawn_attr_set_sandbox(attr, spec->sandbox) == -1))
		shep_fail(&sh, "cannot start: %s", iso_error());
	if ((env = shep_env(spec, idvar, sizeof idvar)) == NULL ||
	    pipe2(out, O_CLOEXEC) == -1 || pipe2(efd, O_CLOEXEC) == -1 ||
	    ((spec->limits != 0 || spec->sandbox != NULL) &&
	    attr_note_pipe(note) == -1) ||
	    (pid = fork()) == -1)
		shep_fail(&sh, "cannot start: %s", strerror(errno));
	if (pid == 0)
		shep_child(spec, attr, env, self, out[1], efd[1], slave,
		    note[1]);
	(void)setpgid(pid, pid);	/* as the child does: no race */
	iso_spawn_attr_free(attr);
	if (slave != -1)
		close(slave);
	close(out[1]);
	close(efd[1]);
	if (note[1] != -1)
		close(note[1]);
	free(env);

	/* Paused: stopped before exec (its exec's failure, if any, is read
	   once it has ended), or ended already (read below). */
	if (spec->paused && shep_stopped(pid)) {
		(void)fcntl(efd[0], F_SETFL, O_NONBLOCK);
		paused_efd = efd[0];
		n = 0;
	} else {
		/* End of file on efd: exec worked. */
		n = shep_read(efd[0], &rep, sizeof rep);
		close(efd[0]);
	}
	if (n == sizeof rep) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		while (shep_drain(&sh, out[0]) > 0)
			;
		if (rep.stage == SHEP_CHDIR)
			shep_fail(&sh, "cannot chdir to %s: %s", spec->cwd,
			    strerror(rep.error));
		if (rep.stage == SHEP_LIMIT)
			shep_fail(&sh, "cannot set its %s limit: %s",
			    shep_limit_names[(rep.error >> 16) % 5],
			    strerror(rep.error & 0xffff));
		if (rep.stage == SHEP_ATTR)
			shep_fail(&sh, "cannot take its options (sandbox): %s",
			    strerror(rep.error));
		shep_fail(&sh, "cannot run %s: %s", spec->argv[0],
		    strerror(rep.error));
	}

	m = iso_msg_pack("{s i s i}", "pid", (int)pid, "shepherd", (int)self);
	if (m != NULL)
		(void)state_write(sh.path_run, m);
	iso_msg_free(m);
	close(tell);		/* the command runs: spawn can answer */

	status = shep_wait(&sh, pid, out[0], sigfd, &lines);
	if (note[0] != -1) {
		shep_reason(&sh, status, note[0]);
		close(note[0]);
	}
	if (paused_efd != -1) {
		n = shep_read(paused_efd, &rep, sizeof rep);
		close(paused_efd);
		if (n == sizeof rep) {
			snprintf(why, sizeof why, "cannot %s %s: %s",
			    rep.stage == SHEP_CHDIR ? "chdir to" : "run",
			    rep.stage == SHEP_CHDIR ? spec->cwd :
			    spec->argv[0], strerror(rep.error));
			n = shep_exit_file(&sh, 127, -1, why, lines);
			_exit(n == 0 ? 0 : 1);
		}
	}
	if (WIFSIGNALED(status))
		n = shep_exit_file(&sh, -1, WTERMSIG(status), NULL, lines);
	else
		n = shep_exit_file(&sh, WEXITSTATUS(status), -1, NULL, lines);
	_exit(n == 0 ? 0 : 1);
}

pid_t
shep_start(const struct shep_spec *spec, int *ready)
{
	sigset_t	all, old;
	pid_t		pid;
	ssize_t		n;
	char		c;
	int		tell[2], saved;

	if (pipe2(tell, O_CLOEXEC) == -1)
		return (-1);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == 0)
		shep_main(spec, tell[1]);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(tell[1]);
	if (pid == -1) {
		close(tell[0]);
		errno = saved;
		return (-1);
	}
	/* Its byte (or its end): it holds nothing of ours any more. */
	do
		n = read(tell[0], &c, 1);
	while (n == -1 && errno == EINTR);
	if (ready != NULL)
		*ready = tell[0];
	else
		close(tell[0]);
	return (pid);
}
