#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

crl_metric_t *crl_metrics_get(crl_metrics_t *m, const char *issuer,
                              const char *kind, const char *file)
{
    crl_metric_t *e;

    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->v[i].file, file) == 0 &&
            strcmp(m->v[i].issuer, issuer) == 0) {
            return &m->v[i];
        }
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        crl_metric_t *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        m->v = v;
        m->cap = cap;
    }
    e = &m->v[m->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->issuer, sizeof(e->issuer), "%s", issuer);
    snprintf(e->file, sizeof(e->file), "%s", file);
    e->kind = kind;
    return e;
}

void crl_metrics_leader(crl_metrics_t *m, const char *issuer, int leader)
{
    size_t i;

    for (i = 0; i < m->nleaders; i++) {
        if (strcmp(m->leaders[i], issuer) == 0) {
            break;
        }
    }
    if (leader && i == m->nleaders) {
        char(*l)[40] = realloc(m->leaders, (m->nleaders + 1) * sizeof(*l));
        if (l == NULL) {
            return;
        }
        m->leaders = l;
        snprintf(m->leaders[m->nleaders++], 40, "%s", issuer);
    } else if (!leader && i < m->nleaders) {
        memmove(m->leaders[i], m->leaders[i + 1],
                (m->nleaders - i - 1) * sizeof(*m->leaders));
        m->nleaders--;
    }
}

#define HELP(f, name, type, help)                                              \
    fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")

int crl_metrics_write(const crl_metrics_t *m, const char *path, char *err)
{
    char tmp[4096];
    FILE *f;
    size_t i;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path,
                         (long)getpid()) >= sizeof(tmp)) {
        snprintf(err, OCSP_ERR_MAX, "%s: path too long", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        snprintf(err, OCSP_ERR_MAX, "%s: %s", tmp, strerror(errno));
        return -1;
    }
#define EACH(name, fmt, expr)                                                  \
    for (i = 0; i < m->n; i++) {                                               \
        const crl_metric_t *e = &m->v[i];                                      \
        fprintf(f, name "{issuer=\"%s\",kind=\"%s\",file=\"%s\"} " fmt "\n",   \
                e->issuer, e->kind, e->file, expr);                            \
    }
    HELP(f, "revoca_crl_size_bytes", "gauge", "Size of the published CRL.");
    EACH("revoca_crl_size_bytes", "%zu", e->bytes);
    HELP(f, "revoca_crl_entries", "gauge", "Entries of the published CRL.");
    EACH("revoca_crl_entries", "%zu", e->entries);
    HELP(f, "revoca_crl_number", "gauge", "cRLNumber of the published CRL.");
    EACH("revoca_crl_number", "%llu", (unsigned long long)e->number);
    HELP(f, "revoca_crl_this_update_seconds", "gauge",
         "thisUpdate of the published CRL (age: time() - this).");
    EACH("revoca_crl_this_update_seconds", "%lld", (long long)e->this_update);
    HELP(f, "revoca_crl_next_update_seconds", "gauge",
         "nextUpdate of the published CRL.");
    EACH("revoca_crl_next_update_seconds", "%lld", (long long)e->next_update);
    HELP(f, "revoca_crl_published_seconds", "gauge",
         "When this generator last published the file.");
    EACH("revoca_crl_published_seconds", "%lld", (long long)e->published_at);
    HELP(f, "revoca_crl_build_seconds", "gauge",
         "Time to read, encode, sign and check the last CRL.");
    EACH("revoca_crl_build_seconds", "%.6f", e->build_seconds);
    HELP(f, "revoca_crl_publish_failures_total", "counter",
         "CRLs that failed to build, check or publish.");
    EACH("revoca_crl_publish_failures_total", "%llu",
         (unsigned long long)e->failures);
#undef EACH
    HELP(f, "revoca_crl_ca_cert_expiry_seconds", "gauge",
         "Seconds until the CA certificate's notAfter, when last written.");
    for (i = 0; i < m->n; i++) {
        size_t j;
        /* one line per issuer: its first file's */
        for (j = 0; j < i && strcmp(m->v[j].issuer, m->v[i].issuer) != 0; j++) {
        }
        if (j == i && m->v[i].ca_not_after != 0) {
            fprintf(f,
                    "revoca_crl_ca_cert_expiry_seconds{issuer=\"%s\"} %lld\n",
                    m->v[i].issuer,
                    (long long)(m->v[i].ca_not_after - (int64_t)time(NULL)));
        }
    }
    HELP(f, "revoca_crlgen_leader", "gauge",
         "1 for each issuer whose lease this generator holds.");
    for (i = 0; i < m->nleaders; i++) {
        fprintf(f, "revoca_crlgen_leader{issuer=\"%s\"} 1\n", m->leaders[i]);
    }
    if (fflush(f) != 0 || ferror(f)) {
        fclose(f);
        unlink(tmp);
        snprintf(err, OCSP_ERR_MAX, "%s: write failed", tmp);
        return -1;
    }
    fclose(f);
    if (rename(tmp, path) != 0) {
        snprintf(err, OCSP_ERR_MAX, "rename %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

void crl_metrics_free(crl_metrics_t *m)
{
    free(m->v);
    free(m->leaders);
    memset(m, 0, sizeof(*m));
}
