/*
 * revoca import: bulk re-sync from the CA's own records.  The whole input is
 * parsed and validated first, so bad input writes nothing; then events go to
 * the stream in pipelined chunks.  Events are idempotent, so an interrupted
 * import is resumed by running it again.
 */
#include "cli.h"

#include <dirent.h>
#include <getopt.h>
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

static int parse_index(const char *file, const ocsp_issuer_conf_t *ic,
                       rows_t *rs)
{
    FILE *f = fopen(file, "r");
    char line[IMPORT_LINE_MAX];
    size_t lineno = 0;
    int failed = 1, broken;

    if (f == NULL) {
        cli_err("%s: cannot open", file);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *fld[6], *p = line;
        const char *why = NULL;
        size_t n = strlen(line), k;
        row_t *row;

        lineno++;
        if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
            why = "line too long";
            goto bad;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') {
            continue;
        }
        for (k = 0; k < 6; k++) {
            fld[k] = p;
            p = strchr(p, '\t');
            if (p == NULL) {
                break;
            }
            *p++ = '\0';
        }
        if (k < 3) {
            why = "expected tab-separated status, expiry, revocation, serial";
            goto bad;
        }
        row = rows_add(rs);
        if (row == NULL) {
            cli_err("out of memory");
            goto done;
        }
        if (ocsp_serial_from_hex(fld[3], row->serial) != 0) {
            why = "bad serial";
            goto bad;
        }
        if (index_time(fld[1], strlen(fld[1]), &row->not_after) != 0) {
            why = "bad expiry time";
            goto bad;
        }
        switch (fld[0][0] == '\0' || fld[0][1] != '\0' ? '?' : fld[0][0]) {
        case 'V':
        case 'E':
            row->kind = ROW_ISSUED;
            if (fld[2][0] != '\0') {
                why = "revocation time on a row that is not revoked";
                goto bad;
            }
            break;
        case 'R':
            why = index_revocation(fld[2], row);
            if (why != NULL) {
                goto bad;
            }
            break;
        default:
            why = "status must be V, E or R";
            goto bad;
        }
        /* As the signer will judge them (event.h, policy.h). */
        why = row_refused(ic, row, &broken);
        if (broken) {
            goto done;
        }
        if (why != NULL) {
            goto bad;
        }
        continue;
    bad:
        cli_err("%s:%zu: %s", file, lineno, why);
        goto done;
    }
    if (ferror(f)) {
        cli_err("%s: read error", file);
        goto done;
    }
    failed = 0;
done:
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
 * Marks the rows the index shows valid whose store record (revoca:cert:,
 * record.c) is on hold: a re-sync releases them, as the CA lifted the hold.
 * The reads go in pipelined chunks.  0, or -1 after a message.
 */
static int find_released(cli_t *cli, const ocsp_issuer_conf_t *ic, rows_t *rs,
                         size_t *nreleased)
{
    size_t i = 0, j, k;

    *nreleased = 0;
    while (i < rs->n) {
        size_t sent[IMPORT_CHUNK], n = 0;

        for (j = i; j < rs->n && n < IMPORT_CHUNK; j++) {
            char key[OCSP_KEY_MAX];
            /* MGET, as the signer reads records: a key of another type
             * is nil, no record */
            const char *get[] = {"MGET", key};

            if (rs->rows[j].kind != ROW_ISSUED) {
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
                    *nreleased += row->release != 0;
                    ocsp_record_free(rec, NULL);
                }
            }
            freeReplyObject(r);
        }
    }
    return 0;
}

/* The progress of a long import on stderr: a line rewritten in place on a
 * terminal, else a line every IMPORT_PROGRESS_MS. */
typedef struct {
    const char *src;
    int tty;
    long t0, last, every; /* ms between lines without a tty */
} progress_t;

static void progress_show(progress_t *pg, size_t rows, size_t total,
                          size_t events)
{
    long now = ocsp_now_ms(), ms = now - pg->t0;
    double rate = ms > 0 ? events * 1000.0 / (double)ms : 0.0;

    if (now - pg->last < (pg->tty ? IMPORT_TTY_MS : pg->every)) {
        return;
    }
    pg->last = now;
    fprintf(stderr,
            pg->tty ? "\rrevoca: %s: rows %zu/%zu events %zu (%.0f/s)   "
                    : "revoca: %s: progress rows=%zu/%zu events=%zu "
                      "events_per_s=%.0f\n",
            pg->src, rows, total, events, rate);
}

static void progress_end(const progress_t *pg)
{
    if (pg->tty && pg->last != pg->t0) {
        fputc('\n', stderr);
    }
}

/* Sends the rows' events in pipelined chunks. */
static int send_rows(cli_t *cli, const ocsp_issuer_conf_t *ic, rows_t *rs,
                     const char *src, long every_ms, size_t *nevents)
{
    size_t i, k, pending;
    int64_t now = (int64_t)time(NULL);
    progress_t pg;

    pg.src = src;
    pg.tty = isatty(STDERR_FILENO);
    pg.every = every_ms;
    pg.t0 = pg.last = ocsp_now_ms();
    *nevents = 0;
    for (i = 0; i < rs->n; i++) {
        row_events_t re;

        if (row_events(ic, &rs->rows[i], now, &re) != 0) {
            return -1;
        }
        for (k = 0; k < re.n; k++) {
            if (cli_append_event(cli, &re.ev[k]) != 0) {
                return -1;
            }
        }
        pending = ocsp_rconn_pending(&cli->redis);
        if (pending >= IMPORT_CHUNK) {
            if (cli_read_replies(cli) != 0) {
                return -1;
            }
            *nevents += pending;
            progress_show(&pg, i + 1, rs->n, *nevents);
        }
    }
    pending = ocsp_rconn_pending(&cli->redis);
    if (cli_read_replies(cli) != 0) {
        progress_end(&pg);
        return -1;
    }
    *nevents += pending;
    progress_end(&pg);
    return 0;
}

int cli_import(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"openssl-index", required_argument, NULL, 'x'},
        {"certs", no_argument, NULL, 'c'},
        {"progress", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0}};
    const char *issuer = NULL, *index = NULL;
    const ocsp_issuer_conf_t *ic;
    rows_t rs = {NULL, 0, 0};
    X509 *ca = NULL;
    int c, certs = 0, i, status = CLI_EXIT_USAGE;
    size_t nevents = 0, nreleased = 0;
    long t0, every_ms = IMPORT_PROGRESS_MS;

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
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 0 || v > 3600) {
                cli_err("--progress %s: must be 0..3600 seconds", optarg);
                return CLI_EXIT_USAGE;
            }
            every_ms = v * 1000;
            break;
        }
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (issuer == NULL || (index != NULL) == certs ||
        (certs && optind >= argc) || (!certs && optind != argc)) {
        cli_err("import --issuer N (--openssl-index FILE | --certs PATH...)");
        return CLI_EXIT_USAGE;
    }
    ic = cli_issuer(cli, issuer, certs ? &ca : NULL);
    if (ic == NULL) {
        return CLI_EXIT_USAGE;
    }
    cli_set_origin(cli, index != NULL ? "import-index" : "import-certs",
                   index != NULL ? index : argv[optind]);
    t0 = ocsp_now_ms();
    if (index != NULL) {
        if (parse_index(index, ic, &rs) != 0) {
            goto done;
        }
    } else {
        for (i = optind; i < argc; i++) {
            if (load_cert_path(argv[i], ca, ic, &rs) != 0) {
                goto done;
            }
        }
    }
    status = CLI_EXIT_FAIL;
    /* only the index tells a hold was lifted; certificates do not */
    if (cli_connect(cli) != 0 ||
        (index != NULL && find_released(cli, ic, &rs, &nreleased) != 0) ||
        send_rows(cli, ic, &rs, index != NULL ? index : argv[optind], every_ms,
                  &nevents) != 0) {
        goto done;
    }
    {
        char what[96];
        snprintf(what, sizeof(what), "import: %zu events", nevents);
        /* the last WAIT covers every event sent before it */
        if ((status = cli_wait_replicas(cli, what)) != 0) {
            goto done;
        }
        status = CLI_EXIT_FAIL;
    }
    {
        long ms = ocsp_now_ms() - t0;
        printf("imported issuer=%s certificates=%zu events=%zu released=%zu "
               "ms=%ld events_per_s=%.0f\n",
               issuer, rs.n, nevents, nreleased, ms,
               ms > 0 ? nevents * 1000.0 / (double)ms : (double)nevents);
    }
    status = 0;

done:
    X509_free(ca);
    rows_free(&rs);
    return status;
}
