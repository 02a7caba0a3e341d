/*
 * cmd_cluster.c: isoctl nodes, and the rows of every node for ps
 * --cluster (each node asked in turn through ours, iso_sup_set_node).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int
cli_cluster_list(const iso_sup_list_opts *o, iso_msg **rows, int *failed)
{
	iso_msg		*nodes, *list, *all, *row;
	const char	*node, *state;
	size_t		 i, j;

	*failed = 0;
	if (iso_sup_nodes(&nodes) == -1)
		return (-1);
	if ((all = iso_msg_pack("[]")) == NULL) {
		iso_msg_free(nodes);
		return (-1);
	}
	for (i = 0; i < iso_msg_len(nodes); i++) {
		if ((node = cli_row_str(iso_msg_at(nodes, i), "node")) == NULL ||
		    (state = cli_row_str(iso_msg_at(nodes, i), "state")) ==
		    NULL || strcmp(state, "up") != 0)
			continue;
		if (iso_sup_set_node(node) == -1 ||
		    iso_sup_list_filter(o, &list) == -1) {
			fprintf(stderr, "isoctl: ps: node %s: %s\n", node,
			    iso_error());
			*failed = 1;
			continue;
		}
		for (j = 0; j < iso_msg_len(list); j++) {
			if ((row = iso_msg_copy(iso_msg_at(list, j))) == NULL ||
			    iso_msg_put(row, iso_msg_pack("s", "node"),
			    iso_msg_pack("s", node)) == -1 ||
			    iso_msg_append(all, row) == -1) {
				iso_msg_free(list);
				iso_msg_free(all);
				iso_msg_free(nodes);
				(void)iso_sup_set_node(NULL);
				return (-1);
			}
		}
		iso_msg_free(list);
	}
	(void)iso_sup_set_node(NULL);
	iso_msg_free(nodes);
	*rows = all;
	return (0);
}

static int
cmd_nodes(const struct cli_cmd *self, struct cli_args *a)
{
	iso_msg		*nodes;
	const iso_msg	*row;
	const char	*name, *state;
	int64_t		 isolates, last;
	double		 load;
	size_t		 i;
	int		 self_node, r = CLI_OK;

	if (iso_sup_nodes(&nodes) == -1)
		return (cli_fail(self, "cannot list"));
	if (cli_has(a, "json")) {
		r = cli_print_json(self, nodes) == 0 ? CLI_OK : CLI_FAIL;
		iso_msg_free(nodes);
		return (r);
	}
	printf("%-20s %-6s %8s %6s %s\n", "NODE", "STATE", "ISOLATES", "LOAD",
	    "LAST");
	for (i = 0; i < iso_msg_len(nodes); i++) {
		row = iso_msg_at(nodes, i);
		isolates = last = 0;
		load = 0;
		self_node = 0;
		if ((name = cli_row_str(row, "node")) == NULL ||
		    (state = cli_row_str(row, "state")) == NULL ||
		    iso_msg_unpack(row, "{s:I s:f s:I s:b}", "isolates",
		    &isolates, "load", &load, "last_ms", &last, "self",
		    &self_node) == -1)
			continue;
		if (self_node)
			printf("%-20s %-6s %8" PRId64 " %6.2f %s\n", name, state,
			    isolates, load, "(this node)");
		else
			printf("%-20s %-6s %8" PRId64 " %6.2f %.1f s ago\n",
			    name, state, isolates, load, (double)last / 1000);
	}
	iso_msg_free(nodes);
	return (r);
}

static const struct cli_opt nodes_opts[] = {
	{ .name = "json", .letter = 'j', .type = CLI_FLAG,
	  .help = "one JSON array of the supervisor's rows instead" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_nodes = {
	.name = "nodes",
	.summary = "list the nodes of the cluster",
	.help =
	    "List the nodes the supervisor knows in its cluster (isolated\n"
	    "--nats URL --node NAME): this one first, then each node heard\n"
	    "from, with its state (up, or lost: no heartbeat for 3.5 s), the\n"
	    "isolates it runs, its load average and when it was last heard.\n"
	    "Fails when the supervisor is in no cluster.\n",
	.opts = nodes_opts,
	.exec = cmd_nodes
};
