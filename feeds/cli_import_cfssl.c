/*
 * revoca import --cfssl-db: issuance and revocations from CFSSL's SQLite
 * certificate database (certdb, table `certificates`).
 *
 * Only rows whose authority_key_identifier is the configured issuer's
 * subject key identifier are read (or empty: Debian's CFSSL 1.2 built with
 * Go >= 1.15 stores none, then the certificate's issuer name and AKI
 * decide), and each row's PEM must be signed by the issuer
 * (cli_check_issued), and be of the row's serial_number, before it counts.
 * A row's PEM is parsed only while its serial has not been reported: a
 * later round compares the columns (status, reason, revoked_at) alone.  The
 * database is opened read-only.  What was last reported for each serial is kept
 * in Redis (a hash per issuer and database, ocsp_key_import()), so a run, or a
 * restarted --follow, sends only what changed since.  --follow polls the
 * database and its WAL file and re-reads them when either changed.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "policy.h"
#include "serial.h"
#include "shard.h"

#define CFSSL_PEM_MAX 65536     /* one certificate's PEM, octets */
#define CFSSL_ROWS_MAX 10000000 /* rows of one issuer read per round */
#define CFSSL_BATCH 500         /* serials per HMGET / pipeline */
#define CFSSL_INTERVAL 5        /* default --interval, seconds */
#define CFSSL_STATE_MAX 64      /* "revoked:REASON:TIME" */

/* One row read, before it is compared with what was reported. */
typedef struct {
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    char state[CFSSL_STATE_MAX];
    Revoca__Issued is;
    unsigned char *der; /* owned */
    char *pem;          /* owned copy, parsed only when the state changed */
    size_t pem_len;
    int revoked, reason;
    int64_t rev_time;
} cfssl_row_t;

typedef struct {
    cli_t *cli;
    const ocsp_issuer_conf_t *ic;
    X509 *ca;
    const char *db;
    char aki[2 * EVP_MAX_MD_SIZE + 1]; /* issuer's SKI, lower-case hex */
    char state_key[OCSP_KEY_MAX];
    int connected;
    int wait;                  /* --wait */
    long wait_ms;              /* --wait-timeout */
    struct stat st_db, st_wal; /* as last read (--follow) */
    int have_st;
    size_t rows, other, bad, sent, unchanged; /* of the last round */
} cfssl_import_t;

static void row_free(cfssl_row_t *r)
{
    free(r->der);
    free(r->pem);
    r->der = NULL;
    r->pem = NULL;
}

/* The canonical hex serial (serial.h) of CFSSL's serial_number, a
 * decimal string.  0 or -1. */
static int db_serial(const char *dec, char *out)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    size_t i, n = dec ? strlen(dec) : 0;
    int rv = -1;

    if (n == 0 || n > 3 * OCSP_SERIAL_MAX_OCTETS) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (dec[i] < '0' || dec[i] > '9') {
            return -1;
        }
    }
    if (BN_dec2bn(&bn, dec) == (int)n &&
        (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
        ocsp_serial_from_asn1(ai, out) == 0) {
        rv = 0;
    }
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    ERR_clear_error();
    return rv;
}

/* Fills R from one database row's columns: serial, state and a copy of its
 * PEM, not yet parsed.  0; 1 for a row to skip (a message was printed); -1
 * on failure. */
static int row_peek(cfssl_import_t *im, sqlite3_stmt *st, cfssl_row_t *r)
{
    const unsigned char *pem = sqlite3_column_blob(st, 0);
    int pem_len = sqlite3_column_bytes(st, 0);
    const unsigned char *status = sqlite3_column_text(st, 1);
    const char *dbserial = (const char *)sqlite3_column_text(st, 4);

    memset(r, 0, sizeof(*r));
    if (db_serial(dbserial, r->serial) != 0) {
        cli_err("%s: row serial_number %.40s: not a valid serial (skipped)",
                im->db, dbserial ? dbserial : "NULL");
        return 1;
    }
    if (pem == NULL || pem_len <= 0 || pem_len > CFSSL_PEM_MAX) {
        cli_err("%s: certificate %s: pem missing or larger than %d octets "
                "(skipped)",
                im->db, r->serial, CFSSL_PEM_MAX);
        return 1;
    }
    if (status != NULL && strcmp((const char *)status, "revoked") == 0) {
        r->revoked = 1;
        r->reason = sqlite3_column_int(st, 2);
        r->rev_time = sqlite3_column_int64(st, 3);
        if (r->reason < 0 || r->reason > 10 || r->reason == 7) {
            cli_err("%s: certificate %s: reason %d is not a CRL reason code "
                    "(skipped)",
                    im->db, r->serial, r->reason);
            return 1;
        }
        if (r->rev_time <= 0) {
            cli_err("%s: certificate %s: revoked_at missing or unreadable "
                    "(skipped)",
                    im->db, r->serial);
            return 1;
        }
        snprintf(r->state, sizeof(r->state), "revoked:%d:%lld", r->reason,
                 (long long)r->rev_time);
    } else if (status != NULL && strcmp((const char *)status, "good") == 0) {
        strcpy(r->state, "good");
    } else {
        cli_err("%s: certificate %s: status %.16s is neither good nor revoked "
                "(skipped)",
                im->db, r->serial, status ? (const char *)status : "NULL");
        return 1;
    }
    r->pem = malloc((size_t)pem_len);
    if (r->pem == NULL) {
        cli_err("out of memory");
        return -1;
    }
    memcpy(r->pem, pem, (size_t)pem_len);
    r->pem_len = (size_t)pem_len;
    return 0;
}

/* Parses and checks R's PEM: the issuer's, signed by it, of R's serial;
 * fills the issuance.  0; 1 for a row to skip (a message was printed), 2 for
 * a certificate of another CA; -1 on failure. */
static int row_parse(cfssl_import_t *im, cfssl_row_t *r)
{
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    BIO *bio = BIO_new_mem_buf(r->pem, (int)r->pem_len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    ocsp_shard_t sr;
    int rv = 1;

    if (x == NULL) {
        cli_err("%s: certificate %s: pem is not a certificate (skipped)",
                im->db, r->serial);
        goto done;
    }
    if (X509_check_issued(im->ca, x) != X509_V_OK) {
        /* A row with no authority_key_identifier (Debian's CFSSL 1.2 stores
         * none) of another CA in the same database. */
        rv = 2;
        goto done;
    }
    if (cli_check_issued(x, im->ca, im->db) != 0) {
        goto done; /* named by cli_check_issued */
    }
    r->is = (Revoca__Issued)REVOCA__ISSUED__INIT;
    if (cli_issued_from_cert(x, serial, &r->is, &r->der) != 0) {
        goto done;
    }
    if (strcmp(serial, r->serial) != 0) {
        cli_err("%s: certificate %s: its row says serial %s (skipped)", im->db,
                serial, r->serial);
        goto done;
    }
    if (ocsp_shard_from_cert(im->ic, x, OCSP_SHARD_ANY, &sr) != 0) {
        cli_err("%s: certificate %s: %s (skipped)", im->db, r->serial, sr.err);
        goto done;
    }
    if (sr.shard != OCSP_SHARD_ANY) {
        r->is.has_shard = 1;
        r->is.shard = sr.shard;
    }
    rv = 0;

done:
    ERR_clear_error();
    X509_free(x);
    BIO_free(bio);
    return rv;
}

/* Builds the events that take the reported state PREV (NULL: none) to R's,
 * into ev (room for 2).  Returns how many, or -1 after a message. */
typedef struct {
    Revoca__Event ev[2];
    Revoca__Revoked rv;
    Revoca__Hold hd;
    Revoca__Release rl;
    char id[2][40];
} cfssl_events_t;

static int row_events(cfssl_import_t *im, cfssl_row_t *r, const char *prev,
                      int64_t now, cfssl_events_t *e)
{
    static const Revoca__Event ev_init = REVOCA__EVENT__INIT;
    static const Revoca__Revoked rv_init = REVOCA__REVOKED__INIT;
    static const Revoca__Hold hd_init = REVOCA__HOLD__INIT;
    static const Revoca__Release rl_init = REVOCA__RELEASE__INIT;
    int n = 0, k;

    if (prev == NULL) {
        e->ev[n] = ev_init;
        e->ev[n].kind_case = REVOCA__EVENT__KIND_ISSUED;
        e->ev[n++].issued = &r->is;
    }
    if (r->revoked && r->reason == 6) {
        /* certificateHold: a hold, which a later "good" releases */
        e->hd = hd_init;
        e->hd.hold_time = r->rev_time;
        e->ev[n] = ev_init;
        e->ev[n].kind_case = REVOCA__EVENT__KIND_HOLD;
        e->ev[n++].hold = &e->hd;
    } else if (r->revoked) {
        e->rv = rv_init;
        e->rv.revocation_time = r->rev_time;
        e->rv.has_reason = 1;
        e->rv.reason = (Revoca__Reason)r->reason;
        e->ev[n] = ev_init;
        e->ev[n].kind_case = REVOCA__EVENT__KIND_REVOKED;
        e->ev[n++].revoked = &e->rv;
    } else if (prev != NULL && strncmp(prev, "revoked:6:", 10) == 0) {
        e->rl = rl_init;
        e->rl.release_time = now;
        e->ev[n] = ev_init;
        e->ev[n].kind_case = REVOCA__EVENT__KIND_RELEASE;
        e->ev[n++].release = &e->rl;
    }
    for (k = 0; k < n; k++) {
        const char *why;
        if (ocsp_event_new_id(e->id[k]) != 0) {
            cli_err("no randomness for event ids");
            return -1;
        }
        e->ev[k].id = e->id[k];
        e->ev[k].issuer = (char *)im->ic->name;
        e->ev[k].serial = r->serial;
        e->ev[k].time = now;
        why = ocsp_event_check(&e->ev[k]);
        if (why == NULL) {
            why = ocsp_profile_refuses(im->ic->profile, &e->ev[k]);
        }
        if (why != NULL) {
            cli_err("%s: certificate %s: %s (skipped)", im->db, r->serial, why);
            return -2;
        }
    }
    return n;
}

/* Compares a batch of rows with what was reported and sends what changed,
 * then records it.  0, -1 after a message, or CLI_EXIT_REPLICAS (the events
 * are in the stream; not recorded, so they are sent again next time). */
static int send_batch(cfssl_import_t *im, cfssl_row_t *rows, size_t n)
{
    cli_t *cli = im->cli;
    const char *argv[2 + CFSSL_BATCH * 2];
    size_t argl[2 + CFSSL_BATCH * 2];
    char prev[CFSSL_BATCH][CFSSL_STATE_MAX];
    int have[CFSSL_BATCH], changed[CFSSL_BATCH];
    redisReply *rep;
    size_t i, nset = 0, pending;
    int64_t now = (int64_t)time(NULL);

    if (n == 0) {
        return 0;
    }
    argv[0] = "HMGET";
    argv[1] = im->state_key;
    for (i = 0; i < n; i++) {
        argv[2 + i] = rows[i].serial;
    }
    rep = ocsp_rconn_cmd(&cli->redis, (int)(2 + n), argv, NULL);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        cli_err("HMGET %s: %s", im->state_key,
                cli_reply_why(cli, rep, "unexpected reply"));
        freeReplyObject(rep);
        return -1;
    }
    for (i = 0; i < n; i++) {
        redisReply *e = rep->element[i];
        have[i] = e->type == REDIS_REPLY_STRING && e->len < CFSSL_STATE_MAX;
        if (have[i]) {
            memcpy(prev[i], e->str, e->len);
            prev[i][e->len] = '\0';
        }
    }
    freeReplyObject(rep);
    for (i = 0; i < n; i++) {
        cfssl_events_t ev;
        int k, ne;

        changed[i] = 0;
        if (have[i] && strcmp(prev[i], rows[i].state) == 0) {
            im->unchanged++;
            continue;
        }
        if (have[i] && strncmp(prev[i], "revoked:", 8) == 0 &&
            strncmp(prev[i], "revoked:6:", 10) != 0) {
            /* Revoked is final: whatever the row says now changes nothing. */
            im->unchanged++;
            continue;
        }
        if (!have[i]) {
            /* Only a certificate not reported yet needs its PEM: a
             * reported one's was checked when it was. */
            int got = row_parse(im, &rows[i]);
            if (got < 0) {
                return -1;
            }
            if (got > 0) {
                im->rows--; /* read, but not counted as the issuer's */
                if (got == 2) {
                    im->other++;
                } else {
                    im->bad++;
                }
                continue;
            }
        }
        ne = row_events(im, &rows[i], have[i] ? prev[i] : NULL, now, &ev);
        if (ne == -1) {
            return -1;
        }
        if (ne < 0) {
            im->bad++;
            continue;
        }
        for (k = 0; k < ne; k++) {
            if (cli_append_event(cli, &ev.ev[k]) != 0) {
                return -1;
            }
        }
        changed[i] = 1;
    }
    pending = ocsp_rconn_pending(&cli->redis);
    if (cli_read_replies(cli) != 0) {
        return -1;
    }
    im->sent += pending;
    if (pending > 0) {
        char what[128];
        int rv;
        snprintf(what, sizeof(what), "import --cfssl-db: %zu events", pending);
        /* Short: not recorded as reported, so the next round sends again. */
        rv = cli_wait_replicas(cli, what);
        if (rv != 0) {
            return rv;
        }
    }
    argv[0] = "HSET";
    argv[1] = im->state_key;
    for (i = 0; i < n; i++) {
        if (changed[i]) {
            argv[2 + 2 * nset] = rows[i].serial;
            argv[3 + 2 * nset] = rows[i].state;
            nset++;
        }
    }
    if (nset > 0) {
        for (i = 0; i < 2 + 2 * nset; i++) {
            argl[i] = strlen(argv[i]);
        }
        rep = ocsp_rconn_cmd(&cli->redis, (int)(2 + 2 * nset), argv, argl);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            cli_err("HSET %s: %s", im->state_key,
                    rep == NULL ? cli->redis.err : rep->str);
            freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
    }
    return 0;
}

/* One read of the whole database.  0, or a CLI_EXIT_* status. */
static int import_round(cfssl_import_t *im)
{
    /* revoked_at is a Go time ("2006-01-02 15:04:05.999999999-07:00"),
     * which SQLite's own date functions read. */
    static const char *sql =
        "SELECT pem, CAST(status AS TEXT), reason, "
        "CAST(strftime('%s', revoked_at) AS INTEGER), "
        "CAST(serial_number AS TEXT) FROM certificates "
        "WHERE lower(CAST(authority_key_identifier AS TEXT)) IN (?1, '')";
    static const char *sql_other =
        "SELECT count(*) FROM certificates "
        "WHERE lower(CAST(authority_key_identifier AS TEXT)) NOT IN (?1, '')";
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    cfssl_row_t *rows = NULL;
    size_t nb = 0, i;
    int rc, status = CLI_EXIT_FAIL;
    long t0 = ocsp_now_ms();

    im->rows = im->other = im->bad = im->sent = im->unchanged = 0;
    cli_sent_reset(im->cli);
    if (access(im->db, R_OK) != 0) {
        cli_err("%s: cannot read the CFSSL database: %s", im->db,
                strerror(errno));
        return CLI_EXIT_FAIL;
    }
    rc = sqlite3_open_v2(im->db, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        cli_err("%s: cannot open the CFSSL database: %s", im->db,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto done;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 4 * CFSSL_PEM_MAX);
    if (sqlite3_prepare_v2(db, sql_other, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, im->aki, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        cli_err("%s: not a CFSSL certificate database: %s", im->db,
                sqlite3_errmsg(db));
        goto done;
    }
    im->other = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, im->aki, -1, SQLITE_STATIC) != SQLITE_OK) {
        cli_err("%s: not a CFSSL certificate database: %s", im->db,
                sqlite3_errmsg(db));
        goto done;
    }
    rows = calloc(CFSSL_BATCH, sizeof(*rows));
    if (rows == NULL) {
        cli_err("out of memory");
        goto done;
    }
    if (!im->connected) {
        im->connected = 1;
        if (cli_connect(im->cli) != 0) {
            goto done;
        }
    } else if (ocsp_rconn_ensure(&im->cli->redis, NULL, ocsp_now_ms() + 3000) !=
               0) {
        cli_err("%s", im->cli->redis.err);
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int got;
        if (++im->rows > CFSSL_ROWS_MAX) {
            cli_err("%s: more than %d certificates of issuer %s", im->db,
                    CFSSL_ROWS_MAX, im->ic->name);
            goto done;
        }
        got = row_peek(im, st, &rows[nb]);
        if (got < 0) {
            goto done;
        }
        if (got > 0) {
            row_free(&rows[nb]);
            im->bad++;
            continue;
        }
        if (++nb == CFSSL_BATCH) {
            if ((got = send_batch(im, rows, nb)) != 0) {
                status = got > 0 ? got : CLI_EXIT_FAIL;
                goto done;
            }
            for (i = 0; i < nb; i++) {
                row_free(&rows[i]);
            }
            nb = 0;
        }
    }
    if (rc != SQLITE_DONE) {
        cli_err("%s: reading the CFSSL database: %s", im->db,
                sqlite3_errmsg(db));
        goto done;
    }
    if ((rc = send_batch(im, rows, nb)) != 0) {
        status = rc > 0 ? rc : CLI_EXIT_FAIL;
        goto done;
    }
    if (im->wait &&
        (rc = cli_wait_signed(im->cli, im->wait_ms, NULL, NULL)) != 0) {
        status = rc;
        goto done;
    }
    printf("cfssl issuer=%s certificates=%zu events=%zu unchanged=%zu "
           "skipped=%zu other_issuers=%zu%s ms=%ld\n",
           im->ic->name, im->rows, im->sent, im->unchanged, im->bad, im->other,
           im->wait ? " signed=all" : "", ocsp_now_ms() - t0);
    status = 0;

done:
    fflush(stdout);
    for (i = 0; rows != NULL && i < nb; i++) {
        row_free(&rows[i]);
    }
    free(rows);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return status;
}

/* 1 if the database or its WAL changed since the last round (--follow). */
static int db_changed(cfssl_import_t *im)
{
    char wal[4096];
    struct stat a, b;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    if (stat(im->db, &a) != 0) {
        return 1; /* let the round say why */
    }
    if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", im->db) < sizeof(wal)) {
        (void)stat(wal, &b);
    }
    if (im->have_st && a.st_mtim.tv_sec == im->st_db.st_mtim.tv_sec &&
        a.st_mtim.tv_nsec == im->st_db.st_mtim.tv_nsec &&
        a.st_size == im->st_db.st_size && a.st_ino == im->st_db.st_ino &&
        b.st_mtim.tv_sec == im->st_wal.st_mtim.tv_sec &&
        b.st_mtim.tv_nsec == im->st_wal.st_mtim.tv_nsec &&
        b.st_size == im->st_wal.st_size) {
        return 0;
    }
    im->st_db = a;
    im->st_wal = b;
    im->have_st = 1;
    return 1;
}

/* The issuer's subject key identifier, lower-case hex, as CFSSL stores
 * authority_key_identifier.  0 or -1 after a message. */
static int issuer_aki(cfssl_import_t *im)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(im->ca);
    int i, n;

    if (ski == NULL || (n = ASN1_STRING_length(ski)) <= 0 ||
        (size_t)n * 2 >= sizeof(im->aki)) {
        cli_err("issuer %s: its certificate has no subject key identifier "
                "to match CFSSL's authority_key_identifier",
                im->ic->name);
        return -1;
    }
    for (i = 0; i < n; i++) {
        snprintf(im->aki + 2 * i, 3, "%02x", ASN1_STRING_get0_data(ski)[i]);
    }
    return 0;
}

int cli_import_cfssl(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"cfssl-db", required_argument, NULL, 'd'},
        {"follow", no_argument, NULL, 'f'},
        {"interval", required_argument, NULL, 'n'},
        {"wait", no_argument, NULL, 'w'},
        {"wait-timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    cfssl_import_t im;
    const char *issuer = NULL, *interval = NULL, *wait_timeout = NULL;
    char *real = NULL;
    int c, follow = 0, status = CLI_EXIT_USAGE;
    int64_t every = CFSSL_INTERVAL;

    memset(&im, 0, sizeof(im));
    im.cli = cli;
    im.wait_ms = CLI_IMPORT_WAIT * 1000L;
    optind = 1;
    while ((c = cli_getopt(argc, argv, longopts)) != -1) {
        switch (c) {
        case 'i':
            issuer = optarg;
            break;
        case 'd':
            im.db = optarg;
            break;
        case 'f':
            follow = 1;
            break;
        case 'n':
            interval = optarg;
            break;
        case 'w':
            im.wait = 1;
            break;
        case 't':
            wait_timeout = optarg;
            break;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (issuer == NULL || im.db == NULL || optind != argc) {
        cli_err("import --issuer N --cfssl-db FILE [--follow [--interval "
                "SECONDS]] [--wait [--wait-timeout S]]");
        return CLI_EXIT_USAGE;
    }
    if (wait_timeout != NULL &&
        cli_wait_timeout(wait_timeout, im.wait, &im.wait_ms) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (interval != NULL &&
        cli_follow_interval(interval, follow, &every) != 0) {
        return CLI_EXIT_USAGE;
    }
    im.ic = cli_issuer(cli, issuer, &im.ca);
    if (im.ic == NULL) {
        return CLI_EXIT_USAGE;
    }
    if (issuer_aki(&im) != 0) {
        goto done;
    }
    /* The state is the database's, wherever it is named from. */
    real = realpath(im.db, NULL);
    if (real == NULL) {
        cli_err("%s: cannot read the CFSSL database: %s", im.db,
                strerror(errno));
        status = CLI_EXIT_FAIL;
        goto done;
    }
    if (ocsp_key_import(im.state_key, cli->cf.prefix, im.ic->name, "cfssl",
                        real) < 0) {
        cli_err("%s: no key for its state", im.db);
        goto done;
    }
    cli_set_origin(cli, "import-cfssl", im.db);
    if (follow) {
        cli_follow_signals();
    }
    (void)db_changed(&im);
    status = import_round(&im);
    if (follow) {
        while (!cli_follow_stopped()) {
            cli_follow_sleep_until((int64_t)time(NULL) + every);
            if (cli_follow_stopped() || !db_changed(&im)) {
                continue;
            }
            /* Failures are logged; the next round tries again. */
            if (import_round(&im) != 0) {
                ocsp_rconn_drop(&cli->redis);
                im.have_st = 0;
            }
        }
        printf("cfssl issuer=%s follow stopped\n", im.ic->name);
        status = 0;
    }

done:
    free(real);
    X509_free(im.ca);
    return status;
}
