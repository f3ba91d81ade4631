/*
 * hosts: show which terminals a selection names and how fleetctl will reach each one
 * (user@address:port, groups, jump host), without connecting.  --json gives every effective
 * setting; --explain says where each value came from (fleet.ini:LINE, ssh_config, -o, default).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/inventory.h"
#include "../lib/select.h"
#include "../lib/util.h"
#include "cmd.h"

#define HOSTS_OPT_JSON    2000
#define HOSTS_OPT_EXPLAIN 2001

/* IPv6 literals need brackets before ":port". */
static void
hosts_add_target(struct buf *b, const struct inv_host *h)
{
	const char *addr = inv_get(h, INV_ADDRESS);

	if (addr != NULL && strchr(addr, ':') != NULL)
		buf_addf(b, "%s@[%s]:%s", inv_get(h, INV_USER) ? inv_get(h, INV_USER) : "?", addr,
		    inv_get(h, INV_PORT));
	else
		buf_addf(b, "%s@%s:%s", inv_get(h, INV_USER) ? inv_get(h, INV_USER) : "?",
		    addr != NULL ? addr : h->name, inv_get(h, INV_PORT));
}

/* Is h some terminal's relay?  (Relays are few: a short scan keeps --explain linear in the hosts.) */
static bool
hosts_is_relay(const struct inv_host *h, struct inv_host *const *all, size_t nall)
{
	for (size_t i = 0; i < nall; i++)
		if (all[i]->relay == h)
			return true;
	return false;
}

/* --explain for a relay: the terminals of the inventory it serves. */
static void
hosts_add_served(struct buf *line, const struct inv_host *h, struct inv_host *const *all, size_t nall)
{
	size_t i, count = 0;

	if (!hosts_is_relay(h, all, nall))
		return;
	for (i = 0; i < nall; i++) {
		if (all[i]->relay != h)
			continue;
		buf_adds(line, count == 0 ? "    relay for: " : ",");
		buf_adds(line, all[i]->name);
		count++;
	}
	if (count > 0)
		buf_addf(line, " (%zu terminal%s)\n", count, count == 1 ? "" : "s");
}

static void
hosts_print_human(struct inv_host **hosts, size_t n, bool explain, struct inv_host *const *all, size_t nall)
{
	size_t i, j, wname = 0, wtarget = 0;
	struct buf line, target;
	int k;

	buf_init(&line, 0);
	buf_init(&target, 0);
	for (i = 0; i < n; i++) {
		if (strlen(hosts[i]->name) > wname)
			wname = strlen(hosts[i]->name);
		buf_reset(&target);
		hosts_add_target(&target, hosts[i]);
		if (target.len > wtarget)
			wtarget = target.len;
	}
	for (i = 0; i < n; i++) {
		const struct inv_host *h = hosts[i];

		buf_reset(&line);
		buf_reset(&target);
		hosts_add_target(&target, h);
		buf_addf(&line, "%-*s  %-*s  ", (int)wname, h->name, (int)wtarget, target.data);
		if (h->groups != NULL && h->groups[0] != NULL) {
			buf_adds(&line, "groups=");
			for (j = 0; h->groups[j] != NULL; j++)
				buf_addf(&line, "%s%s", j > 0 ? "," : "", h->groups[j]);
		} else
			buf_adds(&line, "groups=-");
		if (h->jump != NULL) {
			const struct inv_host *hop;

			buf_adds(&line, "  jump=");
			/* the chain, nearest first: ssh goes through the last one first */
			for (hop = h->jump, j = 0; hop != NULL && j < 16; hop = hop->jump, j++)
				buf_addf(&line, "%s%s", j > 0 ? "<-" : "", hop->name);
		}
		if (h->relay != NULL)
			buf_addf(&line, "  relay=%s (bulk transfer; client %s)", h->relay->name, inv_get(h, INV_RELAY_CLIENT));
		if (h->warning != NULL)
			buf_addf(&line, "  warning: %s", h->warning);
		buf_adds(&line, "\n");
		if (explain)
			hosts_add_served(&line, h, all, nall);
		if (explain) {
			for (k = 0; k < INV__COUNT; k++) {
				const struct inv_setting *s = &h->set[k];
				struct buf v;
				const char *c;

				if (s->value == NULL)
					continue;
				/* a multi-line command shows its line breaks as \n; --json has it whole */
				buf_init(&v, 0);
				for (c = s->value; *c != '\0'; c++) {
					if (*c == '\n')
						buf_adds(&v, "\\n");
					else
						buf_add(&v, c, 1);
				}
				buf_addf(&line, "    %-20s %-40s %s\n", inv_key_name(k), v.data, s->origin ? s->origin : "");
				buf_free(&v);
			}
		}
		fwrite(line.data, 1, line.len, stdout);
	}
	buf_free(&line);
	buf_free(&target);
}

static json_t *
hosts_json(const struct inv_host *h, bool explain, struct inv_host *const *all, size_t nall)
{
	json_t *o = json_object(), *groups = json_array(), *origin = NULL;
	size_t j;
	int k;

	json_object_set_new(o, "name", json_string(h->name));
	for (j = 0; h->groups != NULL && h->groups[j] != NULL; j++)
		json_array_append_new(groups, json_string(h->groups[j]));
	json_object_set_new(o, "groups", groups);
	json_object_set_new(o, "jump", h->jump != NULL ? json_string(h->jump->name) : json_null());
	json_object_set_new(o, "relay", h->relay != NULL ? json_string(h->relay->name) : json_null());
	if (explain) {
		json_t *served = json_array();
		bool relay = hosts_is_relay(h, all, nall);

		for (j = 0; relay && j < nall; j++)
			if (all[j]->relay == h)
				json_array_append_new(served, json_string(all[j]->name));
		json_object_set_new(o, "relay_for", served);
	}
	if (h->warning != NULL)
		json_object_set_new(o, "warning", json_string(h->warning));
	if (explain)
		origin = json_object();
	for (k = 0; k < INV__COUNT; k++) {
		const struct inv_setting *s = &h->set[k];

		if (s->value == NULL)
			continue;
		if (explain && s->origin != NULL)
			json_object_set_new(origin, inv_key_name(k), json_string(s->origin));
		if (k == INV_JUMP || k == INV_RELAY)
			continue;   /* "jump" is the resolved host above; the raw value is in origin's key */
		if (inv_key_is_number(k))
			json_object_set_new(o, inv_key_name(k), json_integer(inv_get_long(h, k)));
		else
			json_object_set_new(o, inv_key_name(k), json_string(s->value));
	}
	if (explain)
		json_object_set_new(o, "origin", origin);
	return o;
}

static int
hosts_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONG,
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, HOSTS_OPT_JSON },
		{ "explain", no_argument, NULL, HOSTS_OPT_EXPLAIN },
		{ NULL, 0, NULL, 0 }
	};
	struct inv_host **hosts = NULL;
	const char *pattern = NULL;
	bool json = false, explain = false;
	size_t n = 0, i;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, CMD_COMMON_SHORT "hl:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return cmd_usage(ctx, true);
		case 'l':
			pattern = optarg;
			break;
		case HOSTS_OPT_JSON:
			json = true;
			break;
		case HOSTS_OPT_EXPLAIN:
			explain = true;
			break;
		default:
			if ((rc = cmd_other_option(ctx, opt, optarg)) != 0)
				return rc;
			break;
		}
	}
	if (optind < argc) {
		cmd_error("hosts: unexpected argument '%s'", argv[optind]);
		return cmd_usage(ctx, false);
	}
	if ((rc = cmd_select(ctx, pattern, &hosts, &n)) != 0)
		return rc;
	if (json) {
		json_t *arr = json_array();

		for (i = 0; i < n; i++)
			json_array_append_new(arr, hosts_json(hosts[i], explain, ctx->inv->hosts, ctx->inv->nhosts));
		rc = json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? EXIT_OK : EXIT_FAILED;
		fputc('\n', stdout);
		json_decref(arr);
	} else {
		hosts_print_human(hosts, n, explain, ctx->inv->hosts, ctx->inv->nhosts);
		rc = EXIT_OK;
	}
	free(hosts);
	if (fflush(stdout) != 0)
		rc = EXIT_FAILED;
	return rc;
}

const struct cmd_entry cmd_hosts_entry = {
	.name = "hosts",
	.usage = "[-l SEL] [--json] [--explain]",
	.summary = "list the selected terminals and how each is reached",
	.help = "  -l, --limit SEL   hosts, groups, globs (kiosk0*), all; !term excludes; comma-separated\n"
	    "      --json        one JSON array, one object per host with every effective setting\n"
	    "      --explain     say where each value comes from (fleet.ini:LINE, ssh_config, -o, default)\n",
	.flags = 0,
	.exec = hosts_exec,
};
