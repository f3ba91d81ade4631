/*
 * relay: bulk transfer through a site node, so a bundle crosses a site's uplink once.
 *
 * A terminal with `relay = HOST` is deployed through HOST: the controller keeps one SSH connection to
 * the relay per terminal it serves, stages each archive once in the relay's cache (resumable, checked
 * with SHA-256 before it may be used), and runs each of the terminal's commands with the relay's own
 * SSH client (OpenSSH `ssh` or Dropbear `dbclient`), the archive read from the cache on the relay.
 * Everything else about the deploy (probe, lock, verify, switch, health, results) is the direct one.
 *
 * The relay's client checks the terminal's host key strictly against the controller's known_hosts
 * entries for it, written for each command into a private file on the relay; it authenticates with
 * `relay_identity` (a key on the relay) or the client's own defaults.  No key leaves the controller.
 *
 * A struct relay_table is shared by the workers of one run (its own lock); nothing else here is.
 */
#ifndef FLEET_RELAY_H
#define FLEET_RELAY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "inventory.h"
#include "transport.h"

struct relay_table;
struct relay_site;

struct relay_table *relay_table_new(void);
void relay_table_free(struct relay_table *t);

/* The run's state for relay host h (created on first use). */
struct relay_site *relay_site_get(struct relay_table *t, const struct inv_host *h);

/* Wait for one of the site's `max` fan-out slots.  0, or -1 when cancelled. */
int relay_slot_acquire(struct relay_site *s, long max, volatile sig_atomic_t *cancel);
void relay_slot_release(struct relay_site *s);

/* An archive in the relay's cache: "b.SHA256" for a bundle, "d.SHA256" for a delta (caller frees). */
char *relay_cache_name(bool delta, const char *sha256);

/*
 * Make sure the file at local path (size bytes, sha256) is in the relay's cache under name: one worker
 * uploads it (resuming a partial one) and checks it; the others wait for that.  tp is the caller's
 * connection to the relay.  *staged: bytes this call sent over the uplink.  TP_OK, or a tp_status
 * with *cause.
 */
int relay_stage(struct relay_site *s, struct transport *tp, const struct inv_host *terminal, const char *path,
    const char *name, const char *sha256, uint64_t size, volatile sig_atomic_t *cancel, uint64_t *staged,
    char **cause);

/*
 * Run x->command on terminal (whose relay tp is connected to) with the relay's client.  When
 * cache_name is set the command's input is that cached file from offset; else x's own input (if any)
 * is passed through.  Results as transport_exec; a failure of the relay's client to reach the
 * terminal maps to TP_UNREACHABLE / TP_HOSTKEY / TP_AUTH, the relay named in *cause.
 */
int relay_exec(struct transport *tp, const struct inv_host *terminal, struct tp_exec *x, const char *cache_name,
    uint64_t offset, char **cause);

/*
 * The shell command the relay runs for one of terminal's commands (what relay_exec sends; exposed for
 * the tests): its client to the terminal with a private known_hosts file made of the controller's
 * entries (as tp's run parsed them; tp NULL: read from the files), command passed as one word, input
 * from the cached file at offset when cache_name is set.
 * TP_OK with *out (caller frees), or TP_HOSTKEY (no key on record) / TP_ERROR with *cause.
 */
int relay_command(const struct transport *tp, const struct inv_host *terminal, const char *command,
    const char *cache_name, uint64_t offset, char **out, char **cause);

/* relay_exec capturing output, like transport_run.  *reached (may be NULL): the command started on the
 * terminal (false: the relay's client never got there, so the command did nothing). */
int relay_run(struct transport *tp, const struct inv_host *terminal, const char *command, long timeout_ms,
    struct buf *out, struct buf *err, int *exit_code, bool *reached, char **cause);

#endif
