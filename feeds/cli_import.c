/*
 * revoca import: bulk re-sync from the CA's own records.  The whole input is
 * parsed and validated first, so bad input writes nothing; then events go to
 * the stream in pipelined chunks.  Events are idempotent, so an interrupted
 * import is resumed by running it again.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/inotify.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "issuer.h"
#include "keys.h"
#include "policy.h"
#include "record.h"
#include "serial.h"
#include "shard.h"

#define IMPORT_LINE_MAX 8192
#define IMPORT_CHUNK 2000
#define IMPORT_PROGRESS_MS 5000 /* a progress line this often without a tty */
#define IMPORT_TTY_MS 250       /* the tty progress line refreshes this often */
#define IMPORT_STATE_MAX 96     /* a row's recorded state (row_state()) */
#define IMPORT_INTERVAL 60      /* --follow: stat() the index this often */
#define IMPORT_SETTLE_MS 100    /* --follow: quiet after a change, then read */
#define IMPORT_REPORT_MAX 1000  /* --follow: changes listed one a line */
#define IMPORT_META "@file"     /* state field: "SIZE SHA256" of the index */

/* What a row says about its certificate beyond its issuance. */
typedef enum { ROW_ISSUED = 0, ROW_REVOKED, ROW_HELD } row_kind_e;

/* One parsed row: what it says about one certificate. */
typedef struct {
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    int64_t not_before, not_after;
    row_kind_e kind;
    int release; /* ROW_ISSUED, and the store holds it: release it */
    int reason;
    int64_t rev_time, invalidity;
    unsigned shard;     /* from the certificate's CDP, or OCSP_SHARD_ANY */
    unsigned char *der; /* owned (certs import), or NULL */
    size_t der_len;
    size_t lineno;    /* index rows: the line it was read from */
    int send;         /* its events are to be sent (--follow: it changed) */
    const char *what; /* --follow: the change reported */
    char state[IMPORT_STATE_MAX]; /* index rows: what --follow records */
} row_t;

typedef struct {
    row_t *rows;
    size_t n, cap;
} rows_t;

static row_t *rows_add(rows_t *rs)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 4096;
        row_t *p = realloc(rs->rows, cap * sizeof(row_t));
        if (p == NULL) {
            return NULL;
        }
        rs->rows = p;
        rs->cap = cap;
    }
    memset(&rs->rows[rs->n], 0, sizeof(row_t));
    rs->rows[rs->n].shard = OCSP_SHARD_ANY;
    rs->rows[rs->n].send = 1;
    return &rs->rows[rs->n++];
}

static void rows_free(rows_t *rs)
{
    size_t i;

    for (i = 0; i < rs->n; i++) {
        free(rs->rows[i].der);
    }
    free(rs->rows);
}

/* A row's events: its issuance, then its revocation or hold if any. */
typedef struct {
    Revoca__Event ev[2];
    Revoca__Issued is;
    Revoca__Revoked rv;
    Revoca__Hold hd;
    Revoca__Release rl;
    char id[2][40];
    size_t n;
} row_events_t;

/* Builds ROW's events at NOW into *re (which points into ROW).  0, or -1
 * after a message. */
static int row_events(const ocsp_issuer_conf_t *ic, row_t *row, int64_t now,
                      row_events_t *re)
{
    static const Revoca__Event ev_init = REVOCA__EVENT__INIT;
    static const Revoca__Issued is_init = REVOCA__ISSUED__INIT;
    static const Revoca__Revoked rv_init = REVOCA__REVOKED__INIT;
    static const Revoca__Hold hd_init = REVOCA__HOLD__INIT;
    static const Revoca__Release rl_init = REVOCA__RELEASE__INIT;
    size_t k;

    re->n = row->kind == ROW_ISSUED && !row->release ? 1 : 2;
    for (k = 0; k < re->n; k++) {
        re->ev[k] = ev_init;
        if (ocsp_event_new_id(re->id[k]) != 0) {
            cli_err("no randomness for event ids");
            return -1;
        }
        re->ev[k].id = re->id[k];
        re->ev[k].issuer = (char *)ic->name;
        re->ev[k].serial = row->serial;
        re->ev[k].time = now;
    }
    re->is = is_init;
    re->is.not_before = row->not_before;
    re->is.not_after = row->not_after;
    if (row->shard != OCSP_SHARD_ANY) {
        re->is.has_shard = 1;
        re->is.shard = row->shard;
    }
    if (row->der != NULL) {
        re->is.has_cert_der = 1;
        re->is.cert_der.data = row->der;
        re->is.cert_der.len = row->der_len;
    }
    re->ev[0].kind_case = REVOCA__EVENT__KIND_ISSUED;
    re->ev[0].issued = &re->is;
    if (row->kind == ROW_REVOKED) {
        re->rv = rv_init;
        re->rv.revocation_time = row->rev_time;
        re->rv.has_reason = 1;
        re->rv.reason = (Revoca__Reason)row->reason;
        re->rv.has_invalidity_date = row->invalidity != 0;
        re->rv.invalidity_date = row->invalidity;
        re->ev[1].kind_case = REVOCA__EVENT__KIND_REVOKED;
        re->ev[1].revoked = &re->rv;
    } else if (row->kind == ROW_HELD) {
        re->hd = hd_init;
        re->hd.hold_time = row->rev_time;
        re->ev[1].kind_case = REVOCA__EVENT__KIND_HOLD;
        re->ev[1].hold = &re->hd;
    } else if (row->release) {
        re->rl = rl_init;
        re->rl.release_time = now;
        re->ev[1].kind_case = REVOCA__EVENT__KIND_RELEASE;
        re->ev[1].release = &re->rl;
    }
    return 0;
}

/*
 * Why ROW's events would be refused by their readers: the event rules
 * (event.h) and the issuer's profile (policy.h), or NULL.  *failed is set
 * when it could not tell (a message was printed).
 */
static const char *row_refused(const ocsp_issuer_conf_t *ic, row_t *row,
                               int *failed)
{
    row_events_t re;
    const char *why = NULL;
    size_t k;

    *failed = row_events(ic, row, (int64_t)time(NULL), &re) != 0;
    for (k = 0; !*failed && why == NULL && k < re.n; k++) {
        why = ocsp_event_check(&re.ev[k]);
        if (why == NULL) {
            why = ocsp_profile_refuses(ic->profile, &re.ev[k]);
        }
    }
    return why;
}

/* openssl ca's index times: YYMMDDHHMMSSZ (UTCTime) or YYYYMMDDHHMMSSZ. */
static int index_time(const char *s, size_t len, int64_t *out)
{
    struct tm tm;
    int v[7], i, off = 0, year;

    if (len != 13 && len != 15) {
        return -1;
    }
    if (s[len - 1] != 'Z') {
        return -1;
    }
    for (i = 0; i < (int)len - 1; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
    }
    if (len == 13) {
        year = (s[0] - '0') * 10 + (s[1] - '0');
        year += year >= 50 ? 1900 : 2000; /* RFC 5280 4.1.2.5.1 */
        off = 2;
    } else {
        year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
               (s[3] - '0');
        off = 4;
    }
    for (i = 0; i < 5; i++) {
        v[i] = (s[off + 2 * i] - '0') * 10 + (s[off + 2 * i + 1] - '0');
    }
    if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > 31 || v[2] > 23 ||
        v[3] > 59 || v[4] > 60) {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = v[0] - 1;
    tm.tm_mday = v[1];
    tm.tm_hour = v[2];
    tm.tm_min = v[3];
    tm.tm_sec = v[4];
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* The revocation field: "time[,reason[,time-or-oid]]" (openssl ca). */
static const char *index_revocation(char *f, row_t *row)
{
    char *reason = strchr(f, ','), *extra = NULL;

    if (reason != NULL) {
        *reason++ = '\0';
        extra = strchr(reason, ',');
        if (extra != NULL) {
            *extra++ = '\0';
        }
    }
    if (index_time(f, strlen(f), &row->rev_time) != 0) {
        return "bad revocation time";
    }
    row->kind = ROW_REVOKED;
    row->reason = 0;
    if (reason == NULL) {
        return NULL;
    }
    if (strcmp(reason, "keyTime") == 0 || strcmp(reason, "CAkeyTime") == 0) {
        /* openssl ca: compromise with the time it happened. */
        row->reason = reason[0] == 'k' ? 1 : 2;
        if (extra == NULL ||
            index_time(extra, strlen(extra), &row->invalidity) != 0) {
            return "bad compromise time";
        }
        return NULL;
    }
    if (strcmp(reason, "holdInstruction") == 0 ||
        strcmp(reason, "certificateHold") == 0) {
        row->kind = ROW_HELD;
        return NULL;
    }
    if (strcmp(reason, "removeFromCRL") == 0) {
        row->kind = ROW_ISSUED; /* released: on no CRL */
        return NULL;
    }
    row->reason = ocsp_reason_from_name(reason);
    if (row->reason < 0 || row->reason == REVOCA__REASON__CERTIFICATE_HOLD ||
        row->reason == REVOCA__REASON__REMOVE_FROM_CRL) {
        return "unknown revocation reason";
    }
    return NULL;
}

/* What --follow records of a row: what its events say, so that a row
 * whose status, expiry or revocation changed is told from one that did
 * not (the file and subject columns change nothing). */
static void row_state(row_t *row)
{
    switch (row->kind) {
    case ROW_REVOKED:
        snprintf(row->state, sizeof(row->state), "r:%lld:%lld:%d:%lld",
                 (long long)row->not_after, (long long)row->rev_time,
                 row->reason, (long long)row->invalidity);
        break;
    case ROW_HELD:
        snprintf(row->state, sizeof(row->state), "h:%lld:%lld",
                 (long long)row->not_after, (long long)row->rev_time);
        break;
    default:
        snprintf(row->state, sizeof(row->state), "v:%lld",
                 (long long)row->not_after);
    }
}

/* How an index is read, and what reading it found. */
typedef struct {
    const char *file;
    int strict;     /* a bad row fails the whole read */
    int follow;     /* a last line without its newline is still being written:
                       left for the next read */
    size_t bad;     /* rows skipped */
    long long size; /* octets read: whole lines */
    char sha[2 * 32 + 1]; /* their SHA-256, hex */
} index_read_t;

/* Why the row in LINE (its newline cut) is refused, or NULL with ROW
 * filled.  *broken when it could not tell (a message was printed). */
static const char *index_row(const ocsp_issuer_conf_t *ic, char *line,
                             row_t *row, int *broken)
{
    char *fld[6], *p = line;
    const char *why;
    size_t k;

    *broken = 0;
    for (k = 0; k < 6; k++) {
        fld[k] = p;
        p = strchr(p, '\t');
        if (p == NULL) {
            break;
        }
        *p++ = '\0';
    }
    if (k < 3) {
        return "expected tab-separated status, expiry, revocation, serial";
    }
    if (ocsp_serial_from_hex(fld[3], row->serial) != 0) {
        return "bad serial";
    }
    if (index_time(fld[1], strlen(fld[1]), &row->not_after) != 0) {
        return "bad expiry time";
    }
    switch (fld[0][0] == '\0' || fld[0][1] != '\0' ? '?' : fld[0][0]) {
    case 'V':
    case 'E':
        row->kind = ROW_ISSUED;
        if (fld[2][0] != '\0') {
            return "revocation time on a row that is not revoked";
        }
        break;
    case 'R':
        why = index_revocation(fld[2], row);
        if (why != NULL) {
            return why;
        }
        break;
    default:
        return "status must be V, E or R";
    }
    row_state(row);
    /* As the signer will judge them (event.h, policy.h). */
    return row_refused(ic, row, broken);
}

/*
 * Reads the openssl ca index RD->file: every good row into RS; a bad one
 * named by file and line and skipped (RD->bad), or with RD->strict, every
 * bad one named and then -1.  0, or -1 after a message.
 */
static int parse_index(index_read_t *rd, const ocsp_issuer_conf_t *ic,
                       rows_t *rs)
{
    FILE *f = fopen(rd->file, "r");
    char line[IMPORT_LINE_MAX];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    size_t lineno = 0;
    int failed = 1, broken;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();

    rd->bad = 0;
    rd->size = 0;
    if (f == NULL || sha == NULL ||
        EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        cli_err("%s: cannot open: %s", rd->file,
                f == NULL ? strerror(errno) : "no SHA-256");
        if (f != NULL) {
            fclose(f);
        }
        EVP_MD_CTX_free(sha);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *why = NULL;
        size_t n = strlen(line);
        row_t *row;

        lineno++;
        if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
            /* the rest of it is skipped too */
            int c;
            EVP_DigestUpdate(sha, line, n);
            rd->size += (long long)n;
            while ((c = fgetc(f)) != EOF) {
                char ch = (char)c;
                EVP_DigestUpdate(sha, &ch, 1);
                rd->size++;
                if (c == '\n') {
                    break;
                }
            }
            if (c == EOF && rd->follow) {
                break; /* still being written */
            }
            why = "line too long";
            goto bad;
        }
        if (rd->follow && n > 0 && line[n - 1] != '\n') {
            break; /* still being written: read next time */
        }
        EVP_DigestUpdate(sha, line, n);
        rd->size += (long long)n;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') {
            continue;
        }
        row = rows_add(rs);
        if (row == NULL) {
            cli_err("out of memory");
            goto done;
        }
        row->lineno = lineno;
        why = index_row(ic, line, row, &broken);
        if (broken) {
            goto done;
        }
        if (why == NULL) {
            continue;
        }
        rs->n--; /* an index row owns nothing */
    bad:
        cli_err("%s:%zu: %s%s", rd->file, lineno, why,
                rd->strict ? "" : " (skipped)");
        rd->bad++;
    }
    if (ferror(f)) {
        cli_err("%s: read error", rd->file);
        goto done;
    }
    if (rd->strict && rd->bad > 0) {
        cli_err("%s: %zu bad row%s, nothing sent (--strict)", rd->file, rd->bad,
                rd->bad == 1 ? "" : "s");
        goto done;
    }
    if (EVP_DigestFinal_ex(sha, md, &mdlen) != 1 || mdlen != 32) {
        cli_err("%s: no SHA-256", rd->file);
        goto done;
    }
    for (i = 0; i < mdlen; i++) {
        snprintf(rd->sha + 2 * i, 3, "%02x", md[i]);
    }
    failed = 0;
done:
    EVP_MD_CTX_free(sha);
    fclose(f);
    return failed ? -1 : 0;
}

static int add_cert(X509 *x, X509 *ca, const ocsp_issuer_conf_t *ic,
                    const char *file, rows_t *rs)
{
    Revoca__Issued is = REVOCA__ISSUED__INIT;
    ocsp_shard_t sr;
    const char *why;
    int broken;
    row_t *row;

    if (cli_check_issued(x, ca, file) != 0) {
        return -1;
    }
    row = rows_add(rs);
    if (row == NULL) {
        cli_err("out of memory");
        return -1;
    }
    if (cli_issued_from_cert(x, row->serial, &is, &row->der) != 0) {
        return -1;
    }
    /* As revoca issue --cert: the shard its CRL clients read (shard.h). */
    if (ocsp_shard_from_cert(ic, x, OCSP_SHARD_ANY, &sr) != 0) {
        cli_err("%s: certificate %s: %s", file, row->serial, sr.err);
        return -1;
    }
    row->shard = sr.shard;
    row->kind = ROW_ISSUED;
    row->not_before = is.not_before;
    row->not_after = is.not_after;
    row->der_len = is.cert_der.len;
    why = row_refused(ic, row, &broken);
    if (why != NULL) {
        cli_err("%s: certificate %s: %s", file, row->serial, why);
    }
    return why != NULL || broken ? -1 : 0;
}

/* Every certificate in FILE (PEM, possibly several, or one DER). */
static int load_cert_file(const char *file, X509 *ca,
                          const ocsp_issuer_conf_t *ic, rows_t *rs)
{
    int unreadable, i, failed = 0;
    STACK_OF(X509) *sk = ocsp_certs_load(file, &unreadable);

    if (sk == NULL) {
        cli_err(unreadable ? "%s: cannot open"
                           : "%s: no PEM or DER certificate",
                file);
        return -1;
    }
    for (i = 0; i < sk_X509_num(sk) && !failed; i++) {
        failed = add_cert(sk_X509_value(sk, i), ca, ic, file, rs) != 0;
    }
    sk_X509_pop_free(sk, X509_free);
    return failed ? -1 : 0;
}

static int load_cert_path(const char *path, X509 *ca,
                          const ocsp_issuer_conf_t *ic, rows_t *rs)
{
    struct stat st;
    struct dirent **names = NULL;
    int i, n, failed = 0;

    if (stat(path, &st) != 0) {
        cli_err("%s: no such file or directory", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        return load_cert_file(path, ca, ic, rs);
    }
    n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        cli_err("%s: cannot read directory", path);
        return -1;
    }
    for (i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        size_t l = strlen(nm);
        char full[4096];
        if (!failed && nm[0] != '.' &&
            ((l > 4 && (strcmp(nm + l - 4, ".pem") == 0 ||
                        strcmp(nm + l - 4, ".crt") == 0 ||
                        strcmp(nm + l - 4, ".der") == 0 ||
                        strcmp(nm + l - 4, ".cer") == 0)))) {
            if ((size_t)snprintf(full, sizeof(full), "%s/%s", path, nm) >=
                sizeof(full)) {
                cli_err("%s/%s: path too long", path, nm);
                failed = 1;
            } else {
                failed = load_cert_file(full, ca, ic, rs) != 0;
            }
        }
        free(names[i]);
    }
    free(names);
    return failed ? -1 : 0;
}

/*
 * Marks the rows to send that the index shows valid whose store record
 * (revoca:cert:, record.c) is on hold: a re-sync releases them, as the CA
 * lifted the hold. The reads go in pipelined chunks.  0, or -1 after a message.
 */
static int find_released(cli_t *cli, const ocsp_issuer_conf_t *ic, rows_t *rs)
{
    size_t i = 0, j, k;

    while (i < rs->n) {
        size_t sent[IMPORT_CHUNK], n = 0;

        for (j = i; j < rs->n && n < IMPORT_CHUNK; j++) {
            char key[OCSP_KEY_MAX];
            /* MGET, as the signer reads records: a key of another type
             * is nil, no record */
            const char *get[] = {"MGET", key};

            if (rs->rows[j].kind != ROW_ISSUED || !rs->rows[j].send ||
                rs->rows[j].release) {
                continue;
            }
            if (ocsp_key_cert(key, cli->cf.prefix, ic->name,
                              rs->rows[j].serial) < 0) {
                cli_err("serial %s: record key too long", rs->rows[j].serial);
                ocsp_rconn_skip(&cli->redis, n);
                return -1;
            }
            if (ocsp_rconn_append(&cli->redis, 2, get, NULL) != 0) {
                cli_err("redis: %s", cli->redis.err);
                return -1;
            }
            sent[n++] = j;
        }
        i = j;
        for (k = 0; k < n; k++) {
            row_t *row = &rs->rows[sent[k]];
            redisReply *r = ocsp_rconn_reply(&cli->redis);
            ocsp_record_t *rec;
            const char *why;

            if (r == NULL || r->type == REDIS_REPLY_ERROR) {
                cli_err("redis: %s", r != NULL ? r->str : cli->redis.err);
                freeReplyObject(r);
                ocsp_rconn_skip(&cli->redis, n - k - 1);
                return -1;
            }
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                r->element[0]->type == REDIS_REPLY_STRING) {
                rec = ocsp_record_decode(r->element[0]->str, r->element[0]->len,
                                         row->serial, NULL, &why);
                if (rec == NULL) {
                    /* left alone, as the signer leaves it */
                    fprintf(stderr,
                            "revoca: record of serial %s is invalid (%s); "
                            "not released\n",
                            row->serial, why);
                } else {
                    row->release = rec->status == REVOCA__STATUS__HELD;
                    ocsp_record_free(rec, NULL);
                }
            }
            freeReplyObject(r);
        }
    }
    return 0;
}

/* One import: what it reads, how, and what it did. */
typedef struct {
    cli_t *cli;
    const ocsp_issuer_conf_t *ic;
    const char *src; /* the index, or the first certificate path */
    int index, follow, wait, strict; /* --openssl-index, --follow, --wait,
                                        --strict */
    long every_ms, wait_ms;          /* --progress, --wait-timeout */
    char state_key[OCSP_KEY_MAX];    /* --follow: what was sent, per serial */
    char meta[96]; /* --follow: "SIZE SHA256" of the index sent */
    /* of the last round */
    size_t nrows, nsent, nevents, nreleased, nskipped, nsigned;
    int stopped; /* told to stop between two chunks (--follow) */
} import_t;

/* The progress of a long import on stderr: a line rewritten in place on a
 * terminal, else a line every IMPORT_PROGRESS_MS (--progress). */
typedef struct {
    import_t *im;
    int tty;
    long t0, last;
    size_t rows, total, events;
} progress_t;

static void progress_line(progress_t *pg, size_t signed_n, int force)
{
    import_t *im = pg->im;
    long now = ocsp_now_ms(), ms = now - pg->t0;
    double rate = ms > 0 ? (double)pg->events * 1000.0 / (double)ms : 0.0;
    char sgn[48] = "";

    if (!force && now - pg->last < (pg->tty ? IMPORT_TTY_MS : im->every_ms)) {
        return;
    }
    pg->last = now;
    if (im->wait) {
        snprintf(sgn, sizeof(sgn), pg->tty ? " signed %zu" : " signed=%zu",
                 signed_n);
    }
    fprintf(stderr,
            pg->tty ? "\rrevoca: %s: rows %zu/%zu events %zu (%.0f/s)%s   "
                    : "revoca: %s: progress rows=%zu/%zu events=%zu "
                      "events_per_s=%.0f%s\n",
            im->src, pg->rows, pg->total, pg->events, rate, sgn);
}

/* Between two chunks: a line when one is due, with --wait what the signer
 * has done so far (nothing is pending on the connection then). */
static void progress_show(progress_t *pg)
{
    import_t *im = pg->im;
    size_t n = 0;
    long now = ocsp_now_ms();

    if (now - pg->last < (pg->tty ? IMPORT_TTY_MS : im->every_ms)) {
        return;
    }
    if (im->wait && cli_sent_signed(im->cli, &n) != 0) {
        n = 0;
    }
    progress_line(pg, n, 0);
}

/* cli_wait_signed()'s tick. */
static void progress_tick(void *arg, size_t signed_n)
{
    progress_t *pg = arg;

    pg->im->nsigned = signed_n;
    progress_line(pg, signed_n, 0);
}

static void progress_end(const progress_t *pg)
{
    if (pg->tty && pg->last != pg->t0) {
        fputc('\n', stderr);
    }
}

/*
 * Sends the events of the rows to send in pipelined chunks.  With
 * --follow, each chunk is one transaction (MULTI/EXEC) with the recording
 * of its rows' states, the last one with the index's META: a follower
 * killed at any point has recorded exactly what it sent, so a restart
 * sends neither twice nor less.  Told to stop, it ends after a chunk
 * (im->stopped).  0, or -1 after a message.
 */
static int send_rows(import_t *im, rows_t *rs, progress_t *pg)
{
    cli_t *cli = im->cli;
    const char **hset = NULL;
    size_t i = 0, k, nset, pending;
    int64_t now = (int64_t)time(NULL);
    int tx = im->follow, failed = -1;

    im->nevents = im->nsent = im->nreleased = 0;
    hset = malloc((2 + 2 * (IMPORT_CHUNK + 2)) * sizeof(*hset));
    if (hset == NULL) {
        cli_err("out of memory");
        return -1;
    }
    hset[0] = "HSET";
    hset[1] = im->state_key;
    int meta_sent = !tx; /* --follow: the index's META is yet to go */

    while (i < rs->n || !meta_sent) {
        static const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};

        if (tx && ocsp_rconn_append(&cli->redis, 1, multi, NULL) != 0) {
            cli_err("redis: %s", cli->redis.err);
            goto done;
        }
        nset = 0;
        for (; i < rs->n && nset < IMPORT_CHUNK; i++) {
            row_t *row = &rs->rows[i];
            row_events_t re;

            if (!row->send) {
                continue;
            }
            if (row_events(im->ic, row, now, &re) != 0) {
                goto done;
            }
            for (k = 0; k < re.n; k++) {
                if (cli_append_event(cli, &re.ev[k]) != 0) {
                    goto done;
                }
            }
            im->nevents += re.n;
            im->nsent++;
            im->nreleased += row->release != 0;
            hset[2 + 2 * nset] = row->serial;
            hset[3 + 2 * nset] = row->state;
            nset++;
        }
        if (tx) {
            if (i == rs->n) {
                /* the whole index is sent: its META with the last rows */
                hset[2 + 2 * nset] = IMPORT_META;
                hset[3 + 2 * nset] = im->meta;
                nset++;
                meta_sent = 1;
            }
            if ((nset > 0 && ocsp_rconn_append(&cli->redis, (int)(2 + 2 * nset),
                                               hset, NULL) != 0) ||
                ocsp_rconn_append(&cli->redis, 1, exec, NULL) != 0) {
                cli_err("redis: %s", cli->redis.err);
                goto done;
            }
        }
        pending = ocsp_rconn_pending(&cli->redis);
        if (pending > 0 && cli_read_replies(cli) != 0) {
            goto done;
        }
        pg->rows = i;
        pg->events = im->nevents;
        progress_show(pg);
        if (im->follow && cli_follow_stopped() && i < rs->n) {
            im->stopped = 1;
            break;
        }
    }
    failed = 0;
done:
    free(hset);
    return failed;
}

/*
 * --follow: marks the rows whose state differs from what was recorded as
 * sent (HMGET on the state hash, in chunks), and those once on hold and
 * valid now as released.  0, or -1 after a message.
 */
static int index_diff(import_t *im, rows_t *rs)
{
    cli_t *cli = im->cli;
    const char **argv = malloc((2 + IMPORT_CHUNK) * sizeof(*argv));
    size_t i = 0, j, n;
    int failed = -1;

    if (argv == NULL) {
        cli_err("out of memory");
        return -1;
    }
    argv[0] = "HMGET";
    argv[1] = im->state_key;
    while (i < rs->n) {
        redisReply *r;

        n = rs->n - i < IMPORT_CHUNK ? rs->n - i : IMPORT_CHUNK;
        for (j = 0; j < n; j++) {
            argv[2 + j] = rs->rows[i + j].serial;
        }
        r = ocsp_rconn_cmd(&cli->redis, (int)(2 + n), argv, NULL);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
            cli_err("HMGET %s: %s", im->state_key,
                    cli_reply_why(cli, r, "unexpected reply"));
            freeReplyObject(r);
            goto done;
        }
        for (j = 0; j < n; j++) {
            const redisReply *e = r->element[j];
            row_t *row = &rs->rows[i + j];
            int have = e->type == REDIS_REPLY_STRING;

            row->send = !have || e->len != strlen(row->state) ||
                        memcmp(e->str, row->state, e->len) != 0;
            if (!row->send) {
                continue;
            }
            row->release = have && e->len > 0 && e->str[0] == 'h' &&
                           row->kind == ROW_ISSUED;
            row->what = !have                      ? "issued"
                        : row->release             ? "released"
                        : row->kind == ROW_REVOKED ? "revoked"
                        : row->kind == ROW_HELD    ? "held"
                                                   : "changed";
        }
        freeReplyObject(r);
        i += n;
    }
    failed = 0;
done:
    free(argv);
    return failed;
}

/*
 * One reading of the index (or of the certificates) and the sending of
 * what it says: everything, or with --follow what changed since it was
 * last sent.  0, or a CLI_EXIT_* status after a message.
 */
static int import_round(import_t *im, X509 *ca, int argc, char **argv,
                        int first)
{
    cli_t *cli = im->cli;
    rows_t rs = {NULL, 0, 0};
    index_read_t rd;
    progress_t pg;
    long t0 = ocsp_now_ms(), ms;
    int i, status = CLI_EXIT_USAGE;
    size_t k;

    memset(&rd, 0, sizeof(rd));
    rd.file = im->src;
    rd.strict = im->strict;
    rd.follow = im->follow;
    im->nrows = im->nsent = im->nevents = im->nreleased = im->nsigned = 0;
    im->nskipped = 0;
    if (im->index) {
        if (parse_index(&rd, im->ic, &rs) != 0) {
            goto done;
        }
        im->nskipped = rd.bad;
    } else {
        for (i = 0; i < argc; i++) {
            if (load_cert_path(argv[i], ca, im->ic, &rs) != 0) {
                goto done;
            }
        }
    }
    im->nrows = rs.n;
    status = CLI_EXIT_FAIL;
    if (first
            ? cli_connect(cli) != 0
            : ocsp_rconn_ensure(&cli->redis, NULL, ocsp_now_ms() + 3000) != 0) {
        if (!first) {
            cli_err("%s", cli->redis.err);
        }
        goto done;
    }
    if (im->follow) {
        char meta[sizeof(im->meta)];
        snprintf(meta, sizeof(meta), "%lld %s", rd.size, rd.sha);
        if (strcmp(meta, im->meta) == 0) {
            /* as sent last: not compared row by row */
            printf("index issuer=%s unchanged rows=%zu\n", im->ic->name, rs.n);
            status = 0;
            goto done;
        }
        if (index_diff(im, &rs) != 0) {
            goto done;
        }
        memcpy(im->meta, meta, sizeof(meta));
    }
    /* only the index tells a hold was lifted; certificates do not */
    if (im->index && find_released(cli, im->ic, &rs) != 0) {
        goto done;
    }
    memset(&pg, 0, sizeof(pg));
    pg.im = im;
    pg.tty = isatty(STDERR_FILENO);
    pg.t0 = pg.last = ocsp_now_ms();
    pg.total = rs.n;
    cli_sent_reset(cli);
    if (send_rows(im, &rs, &pg) != 0) {
        progress_end(&pg);
        im->meta[0] = '\0'; /* read again next time */
        goto done;
    }
    /* each change as soon as it is in the stream (--follow) */
    if (im->follow && im->nsent <= IMPORT_REPORT_MAX) {
        for (k = 0; k < rs.n; k++) {
            if (rs.rows[k].send && k < pg.rows) {
                printf("index issuer=%s line=%zu serial=%s change=%s\n",
                       im->ic->name, rs.rows[k].lineno, rs.rows[k].serial,
                       rs.rows[k].what != NULL ? rs.rows[k].what : "issued");
            }
        }
    }
    fflush(stdout);
    if (im->nevents > 0) {
        char what[96];
        snprintf(what, sizeof(what), "import: %zu events", im->nevents);
        /* the last WAIT covers every event sent before it */
        if ((status = cli_wait_replicas(cli, what)) != 0) {
            progress_end(&pg);
            goto done;
        }
    }
    if (im->wait) {
        status = cli_wait_signed(cli, im->wait_ms, progress_tick, &pg);
        if (status != 0) {
            progress_end(&pg);
            goto done;
        }
    }
    progress_end(&pg);
    ms = ocsp_now_ms() - t0;
    printf("imported issuer=%s certificates=%zu events=%zu released=%zu "
           "skipped=%zu",
           im->ic->name, im->nrows, im->nevents, im->nreleased, im->nskipped);
    if (im->follow) {
        printf(" changed=%zu%s", im->nsent, im->stopped ? " stopped" : "");
    }
    if (im->wait) {
        printf(" signed=%zu", im->nsigned);
    }
    printf(" ms=%ld events_per_s=%.0f\n", ms,
           ms > 0 ? (double)im->nevents * 1000.0 / (double)ms
                  : (double)im->nevents);
    status = 0;
done:
    fflush(stdout);
    rows_free(&rs);
    return status;
}

/* --follow: the index's identity when last read, to tell a change inotify
 * missed (a file system without it). */
typedef struct {
    struct stat st;
    int have;
} index_seen_t;

static int index_moved(const char *file, index_seen_t *seen)
{
    struct stat st;
    int moved;

    memset(&st, 0, sizeof(st));
    if (stat(file, &st) != 0) {
        return 0; /* gone for now (replaced by rename): wait */
    }
    moved = !seen->have || st.st_ino != seen->st.st_ino ||
            st.st_size != seen->st.st_size ||
            st.st_mtim.tv_sec != seen->st.st_mtim.tv_sec ||
            st.st_mtim.tv_nsec != seen->st.st_mtim.tv_nsec;
    seen->st = st;
    seen->have = 1;
    return moved;
}

/* Watches DIR for changes of the entry BASE: openssl ca and Easy-RSA
 * write index.txt.new and rename it over index.txt, which a watch on the
 * file itself would lose.  The descriptor, or -1 after a message. */
static int index_watch(int fd, const char *dir)
{
    int wd = inotify_add_watch(fd, dir,
                               IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO |
                                   IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                   IN_DELETE_SELF | IN_MOVE_SELF);
    if (wd < 0) {
        cli_err("%s: cannot watch: %s", dir, strerror(errno));
    }
    return wd;
}

/* Reads the pending inotify events: 1 if one was about BASE (or the
 * directory itself went away: *lost), else 0. */
static int index_events(int fd, const char *base, int *lost)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    int hit = 0;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        char *p = buf;
        while (p < buf + n) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                *lost = 1;
                hit = 1;
            } else if (e->len > 0 && strcmp(e->name, base) == 0) {
                hit = 1;
            }
            p += sizeof(*e) + e->len;
        }
    }
    return hit;
}

/*
 * --follow: the first round, then a round each time the index changed
 * (inotify on its directory, a stat() every IMPORT_INTERVAL seconds
 * too), after IMPORT_SETTLE_MS of quiet.  A failed round is logged and
 * tried again at the next change or check.  Ends on SIGTERM or SIGINT,
 * after the chunk in hand; 0.
 */
static int index_follow(import_t *im, int64_t every)
{
    cli_t *cli = im->cli;
    char dir[PATH_MAX], base[NAME_MAX + 1];
    const char *slash = strrchr(im->src, '/');
    index_seen_t seen = {{0}, 0};
    int fd, wd = -1, dirty = 1, lost = 0, status;
    long changed_at = 0;
    int64_t next_check = (int64_t)time(NULL) + every;

    if (slash == NULL) {
        strcpy(dir, ".");
        snprintf(base, sizeof(base), "%s", im->src);
    } else {
        snprintf(dir, sizeof(dir), "%.*s",
                 (int)(slash - im->src > 0 ? slash - im->src : 1), im->src);
        snprintf(base, sizeof(base), "%s", slash + 1);
    }
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0 || (wd = index_watch(fd, dir)) < 0) {
        cli_err("%s: cannot follow: %s", im->src, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return CLI_EXIT_FAIL;
    }
    printf("index issuer=%s following %s\n", im->ic->name, im->src);
    fflush(stdout);
    while (!cli_follow_stopped()) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long now;

        if (!dirty && poll(&pfd, 1, 500) > 0 && index_events(fd, base, &lost)) {
            dirty = 1;
            changed_at = ocsp_now_ms();
        }
        now = ocsp_now_ms();
        if (dirty && changed_at > 0 &&
            now - changed_at < 20 * IMPORT_SETTLE_MS &&
            poll(&pfd, 1, IMPORT_SETTLE_MS) > 0) {
            /* still being written: read once it is quiet */
            (void)index_events(fd, base, &lost);
            continue;
        }
        if (lost) {
            /* the directory itself was replaced: watch the new one */
            inotify_rm_watch(fd, wd);
            wd = index_watch(fd, dir);
            lost = wd < 0;
            dirty = 1;
        }
        if (!dirty && (int64_t)time(NULL) >= next_check) {
            next_check = (int64_t)time(NULL) + every;
            dirty = index_moved(im->src, &seen);
        }
        if (!dirty || cli_follow_stopped()) {
            continue;
        }
        dirty = 0;
        changed_at = 0;
        (void)index_moved(im->src, &seen);
        status = import_round(im, NULL, 0, NULL, 0);
        if (status != 0 && status != CLI_EXIT_TIMEOUT) {
            /* logged; tried again at the next change or check */
            ocsp_rconn_drop(&cli->redis);
            im->meta[0] = '\0';
        }
        if (im->stopped) {
            break;
        }
    }
    close(fd);
    printf("index issuer=%s follow stopped\n", im->ic->name);
    return 0;
}

/* --follow: the state recorded by the last run, if any: what was sent of
 * the index as a whole (its META).  0, or -1 after a message. */
static int index_resume(import_t *im)
{
    const char *argv[] = {"HGET", im->state_key, IMPORT_META};
    redisReply *r;

    if (cli_connect(im->cli) != 0) {
        return -1;
    }
    r = ocsp_rconn_cmd(&im->cli->redis, 3, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        cli_err("HGET %s: %s", im->state_key,
                r == NULL ? im->cli->redis.err : r->str);
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING && r->len < sizeof(im->meta)) {
        memcpy(im->meta, r->str, r->len);
        im->meta[r->len] = '\0';
    }
    freeReplyObject(r);
    return 0;
}

int cli_import(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"openssl-index", required_argument, NULL, 'x'},
        {"certs", no_argument, NULL, 'c'},
        {"progress", required_argument, NULL, 'p'},
        {"follow", no_argument, NULL, 'f'},
        {"interval", required_argument, NULL, 'n'},
        {"strict", no_argument, NULL, 's'},
        {"wait", no_argument, NULL, 'w'},
        {"wait-timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    const char *issuer = NULL, *index = NULL, *interval = NULL,
               *wait_timeout = NULL;
    char *real = NULL;
    import_t im;
    X509 *ca = NULL;
    int c, certs = 0, i, status = CLI_EXIT_USAGE;
    int64_t every = IMPORT_INTERVAL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--crl") == 0 ||
            strncmp(argv[i], "--crl=", 6) == 0) {
            return cli_import_crl(cli, argc, argv);
        }
        if (strcmp(argv[i], "--cfssl-db") == 0 ||
            strncmp(argv[i], "--cfssl-db=", 11) == 0) {
            return cli_import_cfssl(cli, argc, argv);
        }
    }
    memset(&im, 0, sizeof(im));
    im.cli = cli;
    im.every_ms = IMPORT_PROGRESS_MS;
    im.wait_ms = CLI_IMPORT_WAIT * 1000L;
    optind = 1;
    while ((c = cli_getopt(argc, argv, longopts)) != -1) {
        switch (c) {
        case 'i':
            issuer = optarg;
            break;
        case 'x':
            index = optarg;
            break;
        case 'c':
            certs = 1;
            break;
        case 'f':
            im.follow = 1;
            break;
        case 'n':
            interval = optarg;
            break;
        case 's':
            im.strict = 1;
            break;
        case 'w':
            im.wait = 1;
            break;
        case 't':
            wait_timeout = optarg;
            break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 0 || v > 3600) {
                cli_err("--progress %s: must be 0..3600 seconds", optarg);
                return CLI_EXIT_USAGE;
            }
            im.every_ms = v * 1000;
            break;
        }
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (issuer == NULL || (index != NULL) == certs ||
        (certs && optind >= argc) || (!certs && optind != argc) ||
        (certs && im.follow)) {
        cli_err("import --issuer N (--openssl-index FILE [--follow] | --certs "
                "PATH...) [--strict] [--wait [--wait-timeout S]] "
                "[--progress S]");
        return CLI_EXIT_USAGE;
    }
    if ((interval != NULL &&
         cli_follow_interval(interval, im.follow, &every) != 0) ||
        (wait_timeout != NULL &&
         cli_wait_timeout(wait_timeout, im.wait, &im.wait_ms) != 0)) {
        return CLI_EXIT_USAGE;
    }
    im.ic = cli_issuer(cli, issuer, certs ? &ca : NULL);
    if (im.ic == NULL) {
        return CLI_EXIT_USAGE;
    }
    im.index = index != NULL;
    im.src = index != NULL ? index : argv[optind];
    cli_set_origin(cli, index != NULL ? "import-index" : "import-certs",
                   im.src);
    if (!im.follow) {
        status = import_round(&im, ca, argc - optind, argv + optind, 1);
        goto done;
    }
    /* The state is the index's, wherever it is named from. */
    real = realpath(index, NULL);
    if (real == NULL) {
        cli_err("%s: cannot follow: %s", index, strerror(errno));
        status = CLI_EXIT_FAIL;
        goto done;
    }
    if (ocsp_key_import(im.state_key, cli->cf.prefix, im.ic->name, "index",
                        real) < 0) {
        cli_err("%s: no key for its state", index);
        goto done;
    }
    cli_follow_signals();
    status = CLI_EXIT_FAIL;
    if (index_resume(&im) != 0) {
        goto done;
    }
    status = index_follow(&im, every);

done:
    free(real);
    X509_free(ca);
    return status;
}
