/*
 * chaos_slow_reader: an isolate that ends writes out everything iso_send
 * accepted, for as long as its reader keeps reading. A producer sends N
 * numbers as fast as it can (iso_send, then iso_send_wait when its queue
 * is full) and ends at once, by returning or by iso_exit; its reader
 * takes them slowly, pausing every 1,000 messages, so that the producer's
 * end comes long before the reader is done (seconds more than the stall
 * limit of 2 s). Every number must arrive, once, in order, before the
 * exit notice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

struct tally {
	int64_t	 next;
	int64_t	 dup, reordered;
	int	 pause_ms;
	int64_t	 at_notice;
};

static void
die(const char *what)
{
	fprintf(stderr, "chaos_slow_reader: %s: %s\n", what, iso_error());
	exit(2);
}

static void
producer(const iso_msg *arg)
{
	iso_sendport	 to;
	int64_t		 n, i, use_exit;
	iso_msg		*m;

	if (iso_msg_unpack(arg, "[PII]", &to, &n, &use_exit) == -1)
		_exit(3);
	for (i = 0; i < n; i++) {
		if ((m = iso_msg_pack("I", i)) == NULL)
			_exit(4);
		if (iso_send(to, m) == -1 && (errno != ENOBUFS ||
		    iso_send_wait(to, m, -1) == -1)) {
			fprintf(stderr, "producer: %s\n", iso_error());
			_exit(5);
		}
		iso_msg_free(m);
	}
	if (use_exit)
		iso_exit(to, NULL);
}

static void
reader_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct tally	*t = arg;
	int64_t		 v;

	if (iso_msg_int(m, &v) == 0) {
		if (v < t->next)
			t->dup++;
		else if (v > t->next)
			t->reordered++;
		t->next = v + 1;
		if (v % 1000 == 999)
			tu_sleep_ms(t->pause_ms);
		return;
	}
	if (iso_msg_type(m) == ISO_STR) {	/* the exit notice */
		t->at_notice = t->next;
		iso_port_close(p);
	}
}

static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* One producer of n messages; returns the messages lost. */
static int64_t
run(int64_t n, int use_exit, int pause_ms, int64_t *dup, int64_t *reord,
    int64_t *ms)
{
	struct tally	 t;
	iso_port	*p;
	iso_isolate	*iso;
	iso_msg		*arg, *bye;
	int64_t		 start = now_ms();

	memset(&t, 0, sizeof t);
	t.pause_ms = pause_ms;
	t.at_notice = -1;
	if ((p = iso_port_new()) == NULL ||
	    (arg = iso_msg_pack("[PII]", iso_port_sendport(p), n,
	    (int64_t)use_exit)) == NULL || iso_spawn(producer, arg, &iso) == -1)
		die("spawn");
	iso_msg_free(arg);
	if ((bye = iso_msg_pack("s", "exit")) == NULL ||
	    iso_on_exit(iso, iso_port_sendport(p), bye) == -1)
		die("on_exit");
	iso_msg_free(bye);
	iso_isolate_free(iso);
	iso_port_listen(p, reader_cb, &t);
	if (iso_run() == -1)
		die("run");
	*dup += t.dup;
	*reord += t.reordered;
	*ms += now_ms() - start;
	return (n - t.at_notice);
}

int
main(void)
{
	const char	*e = getenv("CHAOS_LONG");
	int		 lng = e != NULL && strcmp(e, "1") == 0;
	int64_t		 n = lng ? 1000000 : 200000, lost = 0, dup = 0;
	int64_t		 reord = 0, ms = 0;
	int		 pause_ms = lng ? 5 : 12;

	tu_runtime_dir();
	lost += run(n, 0, pause_ms, &dup, &reord, &ms);
	lost += run(n, 1, pause_ms, &dup, &reord, &ms);
	printf("chaos slow_reader: producers=2 messages=%lld read_ms=%lld "
	    "stall_limit_ms=%zu lost=%lld dup=%lld reordered=%lld\n",
	    (long long)(2 * n), (long long)ms, iso_limit_get(ISO_LIMIT_STALL),
	    (long long)lost, (long long)dup, (long long)reord);
	return (lost == 0 && dup == 0 && reord == 0 ? 0 : 1);
}
