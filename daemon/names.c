/*
 * names.c: the name registry, Flutter's IsolateNameServer: a name maps to
 * a SendPort until it is removed or the isolate that owns the port ends.
 * Saved to names.json in the state directory on every change, so a
 * restarted supervisor knows them again. An isolate's end is learnt from
 * lifecycle.c, or found at lookup: its socket refuses connections.
 * In a cluster, cnames.c makes them cluster-wide: it hears of every
 * change here (names_save), and lookup, register and names ask it.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "records.h"

struct name {
	char		*name;
	iso_sendport	 port;
	int64_t		 since;		/* ms, real time: older wins a clash */
};

static struct name	*names;
static size_t		 nnames, names_cap;
static char		 names_file[PATH_MAX];

static void
names_save(void)
{
	iso_msg	*m;
	size_t	 i;

	cnames_changed();
	if (names_file[0] == '\0')
		return;
	if ((m = iso_msg_pack("{}")) == NULL)
		goto fail;
	for (i = 0; i < nnames; i++)
		if (iso_msg_put(m, iso_msg_pack("s", names[i].name),
		    iso_msg_pack("P", names[i].port)) == -1)
			goto fail;
	if (state_write(names_file, m) == -1)
		goto fail;
	iso_msg_free(m);
	return;
fail:
	log_warn("cannot save names to %s: %s", names_file, strerror(errno));
	iso_msg_free(m);
}

static void
names_drop(size_t i)
{
	events_emit("unname", "{s:s s:P}", "name", names[i].name, "port",
	    names[i].port);
	free(names[i].name);
	names[i] = names[--nnames];
}

/* 1 if port's isolate is still there. */
static int
names_alive(iso_sendport port)
{
	return (rec_running(port.isolate) || sock_alive(port.isolate));
}

/* Forget names whose isolates have gone; 1 if any was. */
static int
names_sweep(void)
{
	size_t	i = 0;
	int	changed = 0;

	while (i < nnames) {
		if (!names_alive(names[i].port)) {
			names_drop(i);
			changed = 1;
		} else
			i++;
	}
	if (changed)
		names_save();
	return (changed);
}

/* Add name (copied) for port. 0, or -1 with ENOMEM. */
static int
names_add(const char *name, iso_sendport port)
{
	struct name	*p;
	struct timespec	 ts;
	size_t		 cap;

	if (nnames == names_cap) {
		cap = names_cap ? names_cap * 2 : 16;
		if ((p = realloc(names, cap * sizeof *p)) == NULL)
			return (-1);
		names = p;
		names_cap = cap;
	}
	if ((names[nnames].name = strdup(name)) == NULL)
		return (-1);
	clock_gettime(CLOCK_REALTIME, &ts);
	names[nnames].since = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	names[nnames++].port = port;
	return (0);
}

static ssize_t
names_index(const char *name)
{
	size_t	i;

	for (i = 0; i < nnames; i++)
		if (strcmp(names[i].name, name) == 0)
			return ((ssize_t)i);
	return (-1);
}

void
names_isolate_ended(uint64_t id)
{
	size_t	i = 0;
	int	changed = 0;

	while (i < nnames) {
		if (names[i].port.isolate == id) {
			names_drop(i);
			changed = 1;
		} else
			i++;
	}
	if (changed)
		names_save();
}

void
names_clear(void)
{
	while (nnames > 0)
		names_drop(nnames - 1);
	free(names);
	names = NULL;
	names_cap = 0;
}

int
names_load(const char *dir)
{
	iso_msg		*m;
	iso_sendport	 port;
	const char	*name;
	size_t		 i, len;
	int		 n;

	n = snprintf(names_file, sizeof names_file, "%s/names.json", dir);
	if (n < 0 || (size_t)n >= sizeof names_file) {
		names_file[0] = '\0';
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((m = state_read(names_file)) == NULL && errno == ELOOP) {
		/* Planted: not followed, and replaced by the next save. */
		log_warn("%s is a symlink: ignored", names_file);
		return (0);
	}
	if (m == NULL)
		return (errno == ENOENT ? 0 : -1);
	for (i = 0; i < iso_msg_len(m); i++) {
		if ((name = iso_msg_str(iso_msg_key_at(m, i), &len)) == NULL ||
		    iso_msg_sendport(iso_msg_value_at(m, i), &port) == -1 ||
		    len == 0 || len > NAME_MAX_LEN || names_index(name) != -1)
			continue;
		if (names_add(name, port) == -1)
			break;
	}
	iso_msg_free(m);
	(void)names_sweep();
	return (0);
}

int
names_get(const char *name, iso_sendport *out)
{
	ssize_t	i;

	if ((i = names_index(name)) != -1 && !names_alive(names[i].port)) {
		names_drop((size_t)i);
		names_save();
		i = -1;
	}
	if (i == -1) {
		errno = ENOENT;
		return (-1);
	}
	*out = names[i].port;
	return (0);
}

size_t
names_count(void)
{
	return (nnames);
}

const char *
names_at(size_t i, iso_sendport *port, int64_t *since)
{
	*port = names[i].port;
	*since = names[i].since;
	return (names[i].name);
}

int
names_remove(const char *name)
{
	ssize_t	i;

	if ((i = names_index(name)) == -1) {
		errno = ENOENT;
		return (-1);
	}
	names_drop((size_t)i);
	names_save();
	return (0);
}

struct name_args {
	const char	*name;
	iso_sendport	 port;
	int		 local;
};

static void
op_register(struct sv_conn *c, const struct rq *r)
{
	const struct name_args	*a = r->args;
	const char		*node;
	ssize_t			 i;

	if ((node = cnames_holder(a->name)) != NULL) {
		sv_error(c, EEXIST, "register: name \"%s\" is taken on node "
		    "%s", a->name, node);
		return;
	}
	if ((i = names_index(a->name)) != -1) {
		if (names_alive(names[i].port)) {
			sv_error(c, EEXIST, "register: name \"%s\" is taken",
			    a->name);
			return;
		}
		names_drop((size_t)i);
	}
	if (names_add(a->name, a->port) == -1) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	names_save();
	events_emit("name", "{s:s s:P}", "name", a->name, "port", a->port);
	sv_ok(c);
}

static const struct rq_field register_fields[] = {
	RQ_FIELD(struct name_args, name, "name", RQ_STR, RQ_REQ, 1,
	    NAME_MAX_LEN),
	RQ_FIELD(struct name_args, port, "port", RQ_PORT, RQ_REQ, 0, 0),
	RQ_END
};

const struct rq_entry rq_register = {
	.name = "register", .exec = op_register,
	.size = sizeof(struct name_args), .fields = register_fields
};

/* A registered name, else a supervised command's mailbox (the target's
   rules: target.c); in a cluster, then the other nodes' names (unless
   "local": another node asking). */
static void
op_lookup(struct sv_conn *c, const struct rq *r)
{
	const struct name_args	*a = r->args;
	struct target		 t;
	iso_sendport		 port;
	char			 err[256];

	if (target_resolve(a->name, TGT_PORT | TGT_LIVE, &t, err,
	    sizeof err) == 0 && (t.has_port || rec_box(t.rec) != NULL)) {
		port = t.has_port ? t.port : mbox_port(rec_box(t.rec));
		sv_reply(c, iso_msg_pack("{s:b s:P}", "ok", 1, "port", port));
		return;
	}
	if (strncmp(err, "no node", 7) != 0)
		snprintf(err, sizeof err, "no name \"%.64s\"", a->name);
	if (cluster_on() && !a->local)
		cnames_lookup(c, a->name, err);
	else
		sv_error(c, ENOENT, "%s", err);
}

static const struct rq_field lookup_fields[] = {
	RQ_FIELD(struct name_args, name, "name", RQ_STR, RQ_REQ, 0, 0),
	RQ_FIELD(struct name_args, local, "local", RQ_BOOL, 0, 0, 0),
	RQ_END
};

const struct rq_entry rq_lookup = {
	.name = "lookup", .exec = op_lookup,
	.size = sizeof(struct name_args), .fields = lookup_fields
};

static void
op_unregister(struct sv_conn *c, const struct rq *r)
{
	const struct name_args	*a = r->args;
	ssize_t			 i;

	if ((i = names_index(a->name)) == -1) {
		sv_error(c, ENOENT, "no name \"%s\"", a->name);
		return;
	}
	names_drop((size_t)i);
	names_save();
	sv_ok(c);
}

static const struct rq_field unregister_fields[] = {
	RQ_FIELD(struct name_args, name, "name", RQ_STR, RQ_REQ, 0, 0),
	RQ_END
};

const struct rq_entry rq_unregister = {
	.name = "unregister", .exec = op_unregister,
	.size = sizeof(struct name_args), .fields = unregister_fields
};

static void
op_names(struct sv_conn *c, const struct rq *r)
{
	iso_msg	*m;
	size_t	 i;

	(void)r;
	(void)names_sweep();
	if (cluster_on()) {
		sv_reply_with(c, "names", cnames_list());
		return;
	}
	if ((m = iso_msg_pack("{}")) == NULL) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	for (i = 0; i < nnames; i++) {
		if (iso_msg_put(m, iso_msg_pack("s", names[i].name),
		    iso_msg_pack("P", names[i].port)) == -1) {
			iso_msg_free(m);
			sv_error(c, ENOMEM, "out of memory");
			return;
		}
	}
	sv_reply(c, iso_msg_pack("{s:b s:O}", "ok", 1, "names", m));
	iso_msg_free(m);
}

const struct rq_entry rq_names = { .name = "names", .exec = op_names };
