/*
 * The post-publish hook (crl.post_publish, docs/crl.md): an operator's
 * command run after each file is published, e.g. to push it to a CDN.
 */
#ifndef CRL_POST_PUBLISH_H
#define CRL_POST_PUBLISH_H

#include <stdint.h>

/*
 * Runs CMD with /bin/sh -c after a file was published, the file's path as
 * $1 and REVOCA_CRL_FILE, REVOCA_CRL_ISSUER, REVOCA_CRL_KIND,
 * REVOCA_CRL_NUMBER in the environment; kills it after TIMEOUT seconds.
 * TICK(ARG), if given, is called about every second while it runs (the
 * daemon renews its lease).  Returns 0 if it exited 0, -1 with err.
 */
int crl_post_publish_run(const char *cmd, const char *path, const char *issuer,
                         const char *kind, uint64_t number, int64_t timeout,
                         void (*tick)(void *), void *arg, char *err);

#endif
