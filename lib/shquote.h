/* shquote: quote values for a remote POSIX shell.  Every value fleetctl puts into a remote command goes through here. */
#ifndef FLEET_SHQUOTE_H
#define FLEET_SHQUOTE_H

#include "util.h"

/* Append s to b as one single-quoted shell word ('it'\''s'); the empty string becomes ''. */
void shquote_add(struct buf *b, const char *s);
/* Return s quoted as one shell word; caller frees. */
char *shquote(const char *s);
/* Join argv with single spaces, unquoted, the way ssh hands its arguments to the remote shell; caller frees. */
char *shquote_join_raw(char *const *argv, int argc);

#endif
