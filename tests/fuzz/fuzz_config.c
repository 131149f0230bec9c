/*
 * libFuzzer target for the configuration loader (config.h): the input is
 * written to a file in a private directory and loaded as the daemons load
 * theirs.  libconfig parses; what is fuzzed is everything config.c does
 * with the result.  A configuration that loads keeps the loader's promises.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[] = "/tmp/revoca-fuzz-config.XXXXXX";
static char path[sizeof(dir) + 16];

static void conf_remove(void)
{
    unlink(path);
    rmdir(dir);
}

/* The file every input is written to, in a directory of its own. */
static const char *conf_path(void)
{
    if (path[0] == '\0') {
        if (mkdtemp(dir) == NULL) {
            abort();
        }
        snprintf(path, sizeof(path), "%s/revoca.conf", dir);
        atexit(conf_remove);
    }
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *file = conf_path();
    char err[OCSP_ERR_MAX];
    ocsp_config_t cf;
    FILE *f = fopen(file, "wb");
    size_t i;

    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        abort();
    }
    err[0] = '\0';
    if (ocsp_config_load(&cf, file, err) != 0) {
        if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
            __builtin_trap(); /* every refusal says why */
        }
        return 0;
    }
    if (cf.nissuers == 0 || cf.prefix[0] == '\0' || cf.redis_host == NULL) {
        __builtin_trap();
    }
    for (i = 0; i < cf.nissuers; i++) {
        const ocsp_issuer_conf_t *ic = &cf.issuers[i];
        if (!ocsp_issuer_name_valid(ic->name) || ic->shards == 0 ||
            ic->validity <= 0 || ic->cert_path == NULL ||
            ocsp_config_issuer(&cf, ic->name) != ic) {
            __builtin_trap();
        }
    }
    ocsp_config_free(&cf);
    return 0;
}
