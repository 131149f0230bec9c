/* Archive segments of the audit chain: see audit_segment.h. */
#include "audit_segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC_LEN 8

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* N bytes at the read position, or NULL when fewer remain. */
static const unsigned char *take(ocsp_audit_seg_t *s, size_t n)
{
    const unsigned char *p;

    if (s->len - s->off < n) {
        return NULL;
    }
    p = s->p + s->off;
    s->off += n;
    return p;
}

/* be32 length then that many bytes, at most MAX. */
static const unsigned char *take_var(ocsp_audit_seg_t *s, size_t max,
                                     size_t *len)
{
    const unsigned char *l = take(s, 4);

    if (l == NULL || get32(l) > max) {
        return NULL;
    }
    *len = get32(l);
    return take(s, *len);
}

static int take_id(ocsp_audit_seg_t *s, char *out, const char **raw,
                   size_t *rlen)
{
    size_t n;
    const unsigned char *p = take_var(s, OCSP_AUDIT_ID_MAX, &n);

    if (p == NULL || ocsp_audit_id_check((const char *)p, n) != 0) {
        return -1;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    if (raw != NULL) {
        *raw = (const char *)p;
        *rlen = n;
    }
    return 0;
}

int ocsp_audit_seg_open_mem(ocsp_audit_seg_t *s, const unsigned char *p,
                            size_t len)
{
    const unsigned char *h;

    memset(s, 0, sizeof(*s));
    s->p = p;
    s->len = len;
    h = take(s, MAGIC_LEN + 4 + 8);
    if (h == NULL || memcmp(h, OCSP_AUDIT_SEG_MAGIC, MAGIC_LEN) != 0) {
        snprintf(s->err, sizeof(s->err), "not an audit segment (no magic)");
        return -1;
    }
    s->version = get32(h + MAGIC_LEN);
    if (s->version != OCSP_AUDIT_SEG_VERSION) {
        snprintf(s->err, sizeof(s->err),
                 "segment version %" PRIu32 " (this reader knows 1)",
                 s->version);
        return -1;
    }
    s->first_count = get64(h + MAGIC_LEN + 4);
    if (take_id(s, s->prev_id, NULL, NULL) != 0 ||
        (h = take(s, OCSP_AUDIT_LINK_LEN)) == NULL) {
        snprintf(s->err, sizeof(s->err), "header: bad previous entry");
        return -1;
    }
    memcpy(s->prev_link, h, OCSP_AUDIT_LINK_LEN);
    memcpy(s->link, h, OCSP_AUDIT_LINK_LEN);
    memcpy(s->last_id, s->prev_id, sizeof(s->last_id));
    return 0;
}

int ocsp_audit_seg_open_file(ocsp_audit_seg_t *s, const char *path)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    memset(s, 0, sizeof(*s));
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(s->err, sizeof(s->err), "%s", strerror(errno));
        goto failed;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > OCSP_AUDIT_SEG_MAX) {
        snprintf(s->err, sizeof(s->err), "not a regular file of 1..%zu bytes",
                 OCSP_AUDIT_SEG_MAX);
        goto failed;
    }
    buf = malloc((size_t)st.st_size);
    if (buf == NULL) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        goto failed;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            snprintf(s->err, sizeof(s->err), "read: %s",
                     r < 0 ? strerror(errno) : "short");
            goto failed;
        }
        got += (size_t)r;
    }
    close(fd);
    if (ocsp_audit_seg_open_mem(s, buf, got) != 0) {
        s->owned = buf;
        return -1;
    }
    s->owned = buf;
    return 0;
failed:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return -1;
}

void ocsp_audit_seg_close(ocsp_audit_seg_t *s)
{
    free(s->owned);
    s->owned = NULL;
    s->p = NULL;
}

static int trailer(ocsp_audit_seg_t *s)
{
    const unsigned char *p = take(s, 8);

    if (p == NULL || get64(p) != s->n) {
        snprintf(s->err, sizeof(s->err),
                 "trailer: record count differs from the %" PRIu64
                 " records read (truncated or a record removed)",
                 s->n);
        return -1;
    }
    s->cp_text = take_var(s, OCSP_AUDIT_CHECKPOINT_MAX, &s->cp_len);
    if (s->cp_text == NULL ||
        ocsp_audit_checkpoint_decode((const char *)s->cp_text, s->cp_len,
                                     &s->cp) != 0) {
        snprintf(s->err, sizeof(s->err), "trailer: not a checkpoint");
        return -1;
    }
    if (s->cp.count != s->first_count + s->n ||
        strcmp(s->cp.last_id, s->last_id) != 0 ||
        memcmp(s->cp.head, s->link, OCSP_AUDIT_LINK_LEN) != 0) {
        snprintf(s->err, sizeof(s->err),
                 "trailer: its checkpoint (count=%" PRIu64
                 " last=%s) is not of the last record (count=%" PRIu64
                 " last=%s)",
                 s->cp.count, s->cp.last_id, s->first_count + s->n, s->last_id);
        return -1;
    }
    s->sig = take_var(s, OCSP_AUDIT_SIG_MAX, &s->sig_len);
    if (s->sig == NULL || s->off != s->len) {
        snprintf(s->err, sizeof(s->err), "trailer: %s",
                 s->sig == NULL ? "bad signature field"
                                : "bytes after the end");
        return -1;
    }
    s->done = 1;
    return 0;
}

int ocsp_audit_seg_next(ocsp_audit_seg_t *s, ocsp_audit_seg_rec_t *rec)
{
    const unsigned char *tag, *l;
    char id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char want[OCSP_AUDIT_LINK_LEN];
    uint64_t idx = s->n + 1;

    if (s->done) {
        return 0;
    }
    tag = take(s, 1);
    if (tag != NULL && *tag == 'T' && s->n > 0) {
        return trailer(s);
    }
    if (tag == NULL || *tag != 'R') {
        snprintf(s->err, sizeof(s->err), "record %" PRIu64 " (after %s): %s",
                 idx, s->last_id,
                 tag == NULL ? "truncated (no trailer)" : "not a record");
        return -1;
    }
    memset(rec, 0, sizeof(*rec));
    if (take_id(s, id, &rec->id, &rec->idlen) != 0) {
        snprintf(s->err, sizeof(s->err),
                 "record %" PRIu64 " (after %s): bad id", idx, s->last_id);
        return -1;
    }
    rec->field = take_var(s, OCSP_AUDIT_FIELD_MAX, &rec->flen);
    l = rec->field ? take(s, OCSP_AUDIT_LINK_LEN) : NULL;
    if (l == NULL) {
        snprintf(s->err, sizeof(s->err), "record %" PRIu64 " (id %s): %s", idx,
                 id, "truncated");
        return -1;
    }
    if (ocsp_audit_id_cmp(id, s->last_id) <= 0) {
        snprintf(s->err, sizeof(s->err),
                 "record %" PRIu64 " (id %s): not after %s (reordered)", idx,
                 id, s->last_id);
        return -1;
    }
    if (ocsp_audit_link(s->link, rec->id, rec->idlen, rec->field, rec->flen,
                        want) != 0 ||
        memcmp(want, l, OCSP_AUDIT_LINK_LEN) != 0) {
        snprintf(s->err, sizeof(s->err),
                 "record %" PRIu64 " (id %s): its link differs from the one "
                 "recomputed (changed, inserted or reordered)",
                 idx, id);
        return -1;
    }
    rec->link = l;
    rec->index = idx;
    memcpy(s->link, want, sizeof(want));
    memcpy(s->last_id, id, sizeof(id));
    if (s->n == 0) {
        memcpy(s->first_id, id, sizeof(id));
    }
    s->n = idx;
    return 1;
}

static int split_id(const char *id, uint64_t *ms, uint64_t *seq)
{
    const char *d = strchr(id, '-');

    if (d == NULL || ocsp_audit_id_check(id, strlen(id)) != 0) {
        return -1;
    }
    *ms = strtoull(id, NULL, 10);
    *seq = strtoull(d + 1, NULL, 10);
    return 0;
}

int ocsp_audit_seg_name(const char *first_id, char *buf)
{
    uint64_t ms, seq;
    int n;

    if (split_id(first_id, &ms, &seq) != 0) {
        return -1;
    }
    n = snprintf(buf, OCSP_AUDIT_SEG_NAME_MAX,
                 "audit-%020" PRIu64 "-%020" PRIu64 ".seg", ms, seq);
    return n < 0 || n >= OCSP_AUDIT_SEG_NAME_MAX ? -1 : 0;
}

int ocsp_audit_seg_name_check(const char *name)
{
    size_t len = strlen(name);

    if (len != 6 + 20 + 1 + 20 + 4 || memcmp(name, "audit-", 6) != 0 ||
        name[26] != '-' || memcmp(name + 47, ".seg", 4) != 0) {
        return -1;
    }
    for (size_t i = 6; i < 47; i++) {
        if (i != 26 && (name[i] < '0' || name[i] > '9')) {
            return -1;
        }
    }
    return 0;
}

/* Room for N more bytes, within max. */
static int grow(ocsp_audit_segw_t *w, size_t n)
{
    size_t cap;
    unsigned char *b;

    if (w->cap - w->len >= n) {
        return 0;
    }
    cap = w->cap ? w->cap : 4096;
    while (cap - w->len < n) {
        cap *= 2;
    }
    b = realloc(w->buf, cap);
    if (b == NULL) {
        return -1;
    }
    w->buf = b;
    w->cap = cap;
    return 0;
}

static void put_var(ocsp_audit_segw_t *w, const void *p, size_t n)
{
    put32(w->buf + w->len, (uint32_t)n);
    memcpy(w->buf + w->len + 4, p, n);
    w->len += 4 + n;
}

int ocsp_audit_segw_begin(ocsp_audit_segw_t *w, uint64_t first_count,
                          const char *prev_id,
                          const unsigned char prev_link[OCSP_AUDIT_LINK_LEN],
                          size_t max)
{
    size_t il = strlen(prev_id);

    memset(w, 0, sizeof(*w));
    if (ocsp_audit_id_check(prev_id, il) != 0 || max > OCSP_AUDIT_SEG_MAX ||
        grow(w, MAGIC_LEN + 12 + 4 + il + OCSP_AUDIT_LINK_LEN) != 0) {
        return -1;
    }
    w->max = max;
    w->first_count = first_count;
    memcpy(w->buf, OCSP_AUDIT_SEG_MAGIC, MAGIC_LEN);
    put32(w->buf + MAGIC_LEN, OCSP_AUDIT_SEG_VERSION);
    put64(w->buf + MAGIC_LEN + 4, first_count);
    w->len = MAGIC_LEN + 12;
    put_var(w, prev_id, il);
    memcpy(w->buf + w->len, prev_link, OCSP_AUDIT_LINK_LEN);
    w->len += OCSP_AUDIT_LINK_LEN;
    memcpy(w->last_id, prev_id, il + 1);
    memcpy(w->link, prev_link, OCSP_AUDIT_LINK_LEN);
    return 0;
}

/* What a trailer takes at most. */
#define TRAILER_MAX                                                            \
    (1 + 8 + 4 + OCSP_AUDIT_CHECKPOINT_MAX + 4 + OCSP_AUDIT_SIG_MAX)

int ocsp_audit_segw_add(ocsp_audit_segw_t *w, const char *id, size_t idlen,
                        const unsigned char *field, size_t flen)
{
    unsigned char link[OCSP_AUDIT_LINK_LEN];
    size_t need = 1 + 4 + idlen + 4 + flen + OCSP_AUDIT_LINK_LEN;
    char sid[OCSP_AUDIT_ID_MAX + 1];

    if (ocsp_audit_link(w->link, id, idlen, field, flen, link) != 0) {
        return -1;
    }
    memcpy(sid, id, idlen);
    sid[idlen] = '\0';
    if (ocsp_audit_id_cmp(sid, w->last_id) <= 0) {
        return -1;
    }
    if (w->n > 0 && w->len + need + TRAILER_MAX > w->max) {
        return 1;
    }
    if (grow(w, need) != 0) {
        return -1;
    }
    w->buf[w->len++] = 'R';
    put_var(w, id, idlen);
    put_var(w, field, flen);
    memcpy(w->buf + w->len, link, OCSP_AUDIT_LINK_LEN);
    w->len += OCSP_AUDIT_LINK_LEN;
    memcpy(w->link, link, sizeof(link));
    memcpy(w->last_id, sid, idlen + 1);
    if (w->n == 0) {
        memcpy(w->first_id, sid, idlen + 1);
    }
    w->n++;
    return 0;
}

void ocsp_audit_segw_checkpoint(const ocsp_audit_segw_t *w, int64_t time_ms,
                                ocsp_audit_checkpoint_t *cp)
{
    memset(cp, 0, sizeof(*cp));
    cp->count = w->first_count + w->n;
    memcpy(cp->last_id, w->last_id, sizeof(cp->last_id));
    memcpy(cp->head, w->link, sizeof(cp->head));
    cp->time_ms = time_ms;
}

int ocsp_audit_segw_finish(ocsp_audit_segw_t *w, const char *cp_text,
                           size_t cp_len, const unsigned char *sig,
                           size_t sig_len)
{
    if (w->n == 0 || cp_len > OCSP_AUDIT_CHECKPOINT_MAX ||
        sig_len > OCSP_AUDIT_SIG_MAX || grow(w, TRAILER_MAX) != 0) {
        return -1;
    }
    w->buf[w->len++] = 'T';
    put64(w->buf + w->len, w->n);
    w->len += 8;
    put_var(w, cp_text, cp_len);
    put_var(w, sig_len ? (const void *)sig : "", sig_len);
    return 0;
}

void ocsp_audit_segw_free(ocsp_audit_segw_t *w)
{
    free(w->buf);
    w->buf = NULL;
}

static int seg_list_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ocsp_audit_seg_list_free(char **names, long n)
{
    long i;

    for (i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

long ocsp_audit_seg_list(const char *dir, char ***out, char *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    long n = 0, cap = 0;

    *out = NULL;
    if (d == NULL) {
        snprintf(err, OCSP_ERR_MAX, "archive %.400s: %s", dir, strerror(errno));
        return -1;
    }
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (ocsp_audit_seg_name_check(de->d_name) != 0) {
            continue;
        }
        if (n == cap) {
            long ncap = cap != 0 ? cap * 2 : 64;
            char **nn = realloc(names, (size_t)ncap * sizeof(*names));
            if (nn == NULL) {
                break;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            break;
        }
        n++;
    }
    closedir(d);
    if (de != NULL) {
        ocsp_audit_seg_list_free(names, n);
        snprintf(err, OCSP_ERR_MAX, "archive %.400s: out of memory", dir);
        return -1;
    }
    if (n > 0) {
        qsort(names, (size_t)n, sizeof(*names), seg_list_cmp);
    }
    *out = names;
    return n;
}
