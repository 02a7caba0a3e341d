/*
 * benchutil.h: what the C benchmarks share: the clock, QUICK, the output
 * contract (one JSON object a measurement on stdout, nothing else), raw
 * frames and blocking I/O for the raw baselines, and failing loudly with
 * no process left behind.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <sys/types.h>

#include <stddef.h>

#define BENCH_ROUNDS_MAX	31
#define BENCH_SMALL_FRAME	11	/* {"msg": n}, n < 128, as isolate
					   frames it: length, port 1, map */

/* Name for messages, SIGPIPE ignored, descriptors raised to the hard
   limit, a watchdog of `seconds` (SIGALRM ends a hung benchmark). */
void	 bench_init(const char *name, unsigned seconds);
/* Restart the watchdog. */
void	 bench_watchdog(unsigned seconds);
/* 1 if QUICK is set and not "0". */
int	 bench_quick(void);
/* CLOCK_MONOTONIC in seconds. */
double	 bench_now(void);

/*
 * One line of the contract for n samples (sorted in place): median, min,
 * max, rounds. better: "lower" or "higher". Flushed at once.
 */
void	 bench_emit(const char *bench, const char *impl, const char *unit,
	    const char *better, double *v, int n);

/* Print to stderr, kill and reap the raw children, exit 1 (isolates go
   with the process: the library kills them at exit). */
void	 bench_fail(const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));

/* Raw children: fork (stdout flushed first), remembered until reaped so
   that bench_fail can kill them. In the child it returns 0. */
pid_t	 bench_fork(void);
/* waitpid a raw child; fails the benchmark unless it exited 0. */
void	 bench_reap(pid_t pid);

/* Blocking I/O that either completes or fails the benchmark (in a raw
   child: _exit(1)). read_all returns 0 at a clean end of stream. */
void	 bench_write_all(int fd, const void *p, size_t n);
int	 bench_read_all(int fd, void *p, size_t n);

/* The frame isolate sends for {"msg": n} to port 1 (n & 0x7f). */
void	 bench_small_frame(unsigned char *buf, int n);
/* The raw baseline of a round trip: a small frame over a blocking
   socketpair to an echoing child and back, iters times; us a trip. */
double	 bench_raw_rt(long iters);

/* The Pss of /proc/PID/smaps_rollup in KiB; fails the benchmark when it
   cannot be read. */
long	 bench_pss_kib(pid_t pid);

/* In an isolate of a benchmark: say what failed (with iso_error()) on
   stderr and end it with status 1. */
void	 bench_child_fail(const char *what) __attribute__((noreturn));

/* Isolates. */
struct iso_isolate;
struct iso_port;
struct iso_msg;
/* iso_port_first with a timeout, or fail saying what was awaited. */
struct iso_msg *bench_first(struct iso_port *p, int timeout_ms,
	    const char *what);
/* Wait until iso has ended (its exit listener), then free the handle. */
void	 bench_end(struct iso_isolate *iso, int timeout_ms);

/*
 * A producer isolate (pi, saying hello with its SendPort on ph) and a
 * consumer (ci, hello on ch, its count on done): tell the producer to send
 * `count` messages to the consumer, time until the consumer has them all,
 * say "bye" to the producer and wait for both to end. Seconds taken.
 */
double	 bench_pipeline(struct iso_isolate *pi, struct iso_port *ph,
	    struct iso_isolate *ci, struct iso_port *ch, struct iso_port *done,
	    long count, int timeout_ms);

#endif /* BENCHUTIL_H */
