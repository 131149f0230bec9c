#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "event.h"

#define SNAP_MAGIC "RVCSNAP1"

typedef struct {
    char magic[8];
    uint32_t entry_size; /* sizeof(crl_entry_t): a layout change invalidates */
    uint32_t nshards;    /* a change of crl shards invalidates */
    int64_t cutoff_ms;
    uint64_t count;
} crl_snap_hdr_t;

static int crl_read_all(int fd, void *p, size_t len)
{
    unsigned char *b = p;

    while (len > 0) {
        ssize_t n = read(fd, b, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A full CRL's entry: revoked (a CRLReason, or none) or held, in range. */
static int crl_snapshot_entry_ok(const crl_entry_t *e, unsigned nshards)
{
    return e->pad == 0 && e->shard < nshards && e->revoked_at >= 0 &&
           (e->reason == CRL_REASON_ABSENT || e->reason == CRL_REASON_HOLD ||
            (e->reason != 0 && e->reason != CRL_REASON_REMOVE &&
             ocsp_reason_valid(e->reason)));
}

int crl_snapshot_load(const char *path, unsigned nshards, crl_entries_t *a,
                      size_t extra, int64_t *cutoff_ms, char *err)
{
    crl_snap_hdr_t h;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    memset(a, 0, sizeof(*a));
    if (fd < 0) {
        if (errno == ENOENT) {
            return 1;
        }
        snprintf(err, OCSP_ERR_MAX, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || crl_read_all(fd, &h, sizeof(h)) != 0 ||
        memcmp(h.magic, SNAP_MAGIC, 8) != 0 ||
        h.entry_size != sizeof(crl_entry_t) || h.nshards != nshards ||
        h.count > (uint64_t)(SIZE_MAX / sizeof(crl_entry_t)) - extra ||
        (uint64_t)st.st_size != sizeof(h) + h.count * sizeof(crl_entry_t)) {
        close(fd);
        return 1; /* not ours, or torn: rescan */
    }
    a->cap = (size_t)h.count + extra;
    a->v = malloc((a->cap ? a->cap : 1) * sizeof(crl_entry_t));
    if (a->v == NULL) {
        close(fd);
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    if (crl_read_all(fd, a->v, (size_t)h.count * sizeof(crl_entry_t)) != 0) {
        close(fd);
        crl_entries_free(a);
        return 1;
    }
    close(fd);
    a->n = (size_t)h.count;
    /* Sorted, unique and every entry one crl_fetch could have made, or
     * not used: the CRL depends on it. */
    for (size_t i = 0; i < a->n; i++) {
        if (!crl_snapshot_entry_ok(&a->v[i], nshards) ||
            (i > 0 &&
             memcmp(a->v[i - 1].serial, a->v[i].serial, CRL_SERIAL_LEN) >= 0)) {
            crl_entries_free(a);
            return 1;
        }
    }
    *cutoff_ms = h.cutoff_ms;
    return 0;
}

static int crl_snapshot_tmp(const char *path, char *tmp, size_t cap)
{
    return (size_t)snprintf(tmp, cap, "%s.tmp-%ld", path, (long)getpid()) < cap
               ? 0
               : -1;
}

int crl_snapshot_write(const char *path, unsigned nshards,
                       const crl_entries_t *a, int64_t cutoff_ms, char *err)
{
    char tmp[4096];
    crl_snap_hdr_t h;
    FILE *f;

    if (crl_snapshot_tmp(path, tmp, sizeof(tmp)) != 0) {
        snprintf(err, OCSP_ERR_MAX, "%s: path too long", path);
        return -1;
    }
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, SNAP_MAGIC, 8);
    h.entry_size = sizeof(crl_entry_t);
    h.cutoff_ms = cutoff_ms;
    h.nshards = nshards;
    h.count = a->n;
    f = fopen(tmp, "wb");
    if (f == NULL) {
        snprintf(err, OCSP_ERR_MAX, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    if (fwrite(&h, sizeof(h), 1, f) != 1 ||
        (a->n > 0 && fwrite(a->v, sizeof(crl_entry_t), a->n, f) != a->n) ||
        fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        unlink(tmp);
        snprintf(err, OCSP_ERR_MAX, "%s: write failed", tmp);
        return -1;
    }
    fclose(f);
    return 0;
}

int crl_snapshot_commit(const char *path, char *err)
{
    char tmp[4096];

    if (crl_snapshot_tmp(path, tmp, sizeof(tmp)) != 0) {
        snprintf(err, OCSP_ERR_MAX, "%s: path too long", path);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, OCSP_ERR_MAX, "rename %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

void crl_snapshot_discard(const char *path)
{
    char tmp[4096];

    if (crl_snapshot_tmp(path, tmp, sizeof(tmp)) == 0) {
        unlink(tmp);
    }
}

int crl_snapshot_save(const char *path, unsigned nshards,
                      const crl_entries_t *a, int64_t cutoff_ms, char *err)
{
    if (crl_snapshot_write(path, nshards, a, cutoff_ms, err) != 0) {
        return -1;
    }
    return crl_snapshot_commit(path, err);
}

int crl_snapshot_apply(crl_entries_t *a, const crl_entries_t *changes)
{
    size_t nins = 0, w, i, j, k;
    crl_entry_t *ins = NULL;

    /* Replace or delete in place; collect inserts (sorted, as changes). */
    if (changes->n > 0) {
        ins = malloc(changes->n * sizeof(crl_entry_t));
        if (ins == NULL) {
            return -1;
        }
    }
    for (i = 0; i < changes->n; i++) {
        const crl_entry_t *c = &changes->v[i];
        crl_entry_t *e = (crl_entry_t *)crl_entries_find(a, c->serial);

        if (c->reason == CRL_REASON_REMOVE) {
            if (e != NULL) {
                e->pad = 1; /* deleted, compacted below */
            }
        } else if (e != NULL) {
            *e = *c;
        } else {
            ins[nins++] = *c;
        }
    }
    for (w = 0, i = 0; i < a->n; i++) {
        if (a->v[i].pad) {
            continue;
        }
        a->v[w++] = a->v[i];
    }
    a->n = w;
    if (nins > 0) {
        if (a->cap < a->n + nins) {
            crl_entry_t *v = realloc(a->v, (a->n + nins) * sizeof(*v));
            if (v == NULL) {
                free(ins);
                return -1;
            }
            a->v = v;
            a->cap = a->n + nins;
        }
        /* Merge from the back, in place. */
        i = a->n;
        j = nins;
        k = a->n + nins;
        while (j > 0) {
            if (i > 0 && memcmp(a->v[i - 1].serial, ins[j - 1].serial,
                                CRL_SERIAL_LEN) > 0) {
                a->v[--k] = a->v[--i];
            } else {
                a->v[--k] = ins[--j];
            }
        }
        a->n += nins;
    }
    free(ins);
    return 0;
}
