/* revoca: the CA's hook.  See cli.h and `revoca --help`. */
#include "cli.h"

#include <getopt.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "issuer.h"
#include "keys.h"
#include "policy.h"
#include "record.h"
#include "serial.h"

#define DEFAULT_CONF "/etc/revoca/revoca.conf"
#define DEFAULT_WAIT 10
#define POLL_MS 5

static const char usage_text[] =
    "usage: revoca [-c FILE] COMMAND [OPTIONS]\n"
    "\n"
    "  issue   --issuer N (--cert FILE | --serial HEX --not-after TIME)\n"
    "          [--not-before TIME] [--shard N] [--no-wait]\n"
    "  revoke  --issuer N (--serial HEX | --cert FILE) [--reason NAME]\n"
    "          [--time TIME] [--invalidity-date TIME] [--wait]\n"
    "  hold    --issuer N (--serial HEX | --cert FILE) [--time TIME] [--wait]\n"
    "  release --issuer N (--serial HEX | --cert FILE) [--time TIME] [--wait]\n"
    "  status  --issuer N (--serial HEX | --cert FILE)\n"
    "  import  --issuer N (--openssl-index FILE | --certs PATH...)\n"
    "\n"
    "  -c FILE   configuration (default $REVOCA_CONF, else " DEFAULT_CONF ")\n"
    "  TIME      now | unix seconds | YYYY-MM-DD | YYYY-MM-DDTHH:MM:SSZ\n"
    "  NAME      keyCompromise, cACompromise, affiliationChanged, superseded,\n"
    "            cessationOfOperation, privilegeWithdrawn, aACompromise,\n"
    "            unspecified\n";

void cli_err(const char *fmt, ...)
{
    va_list ap;

    fputs("revoca: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    const char *end;
    char *e;
    long long v;

    if (strcmp(s, "now") == 0) {
        *out = (int64_t)time(NULL);
        return 0;
    }
    if (s[0] >= '0' && s[0] <= '9' && strchr(s, '-') == NULL) {
        v = strtoll(s, &e, 10);
        if (*e != '\0' || v < 0 || v > 253402300799LL) {
            return -1;
        }
        *out = v;
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0') {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, "%Y-%m-%d", &tm);
        if (end == NULL || *end != '\0') {
            return -1;
        }
    }
    *out = (int64_t)timegm(&tm);
    return *out >= 0 ? 0 : -1;
}

int cli_connect(cli_t *cli)
{
    ocsp_rconn_init(&cli->rc, &cli->cf);
    if (ocsp_rconn_ensure(&cli->rc, NULL, ocsp_now_ms() + 3000) != 0) {
        cli_err("%s", cli->rc.err);
        return -1;
    }
    return 0;
}

X509 *cli_load_issued_cert(const char *file, X509 *issuer)
{
    int unreadable;
    X509 *x = ocsp_cert_load(file, &unreadable);

    if (x == NULL) {
        cli_err(unreadable ? "%s: cannot open"
                           : "%s: not a PEM or DER certificate",
                file);
        return NULL;
    }
    if (cli_check_issued(x, issuer, file) != 0) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int cli_check_issued(X509 *x, X509 *issuer, const char *file)
{
    EVP_PKEY *pk = X509_get0_pubkey(issuer);

    if (X509_check_issued(issuer, x) != X509_V_OK || pk == NULL ||
        X509_verify(x, pk) != 1) {
        ERR_clear_error();
        cli_err("%s: a certificate not issued by this issuer's CA", file);
        return -1;
    }
    return 0;
}

static int asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return -1;
    }
    *out = (int64_t)timegm(&tm);
    return 0;
}

int cli_issued_from_cert(X509 *cert, char *serial, Revoca__Issued *is,
                         unsigned char **der)
{
    int len;

    if (ocsp_serial_from_asn1(X509_get0_serialNumber(cert), serial) != 0) {
        cli_err("certificate serial is zero, negative or over 20 octets");
        return -1;
    }
    if (asn1_time_unix(X509_get0_notBefore(cert), &is->not_before) != 0 ||
        asn1_time_unix(X509_get0_notAfter(cert), &is->not_after) != 0) {
        cli_err("certificate validity unreadable");
        return -1;
    }
    *der = NULL;
    len = i2d_X509(cert, der);
    if (len <= 0) {
        cli_err("certificate cannot be encoded");
        return -1;
    }
    is->has_cert_der = 1;
    is->cert_der.data = *der;
    is->cert_der.len = (size_t)len;
    return 0;
}

int cli_append_event(cli_t *cli, const Revoca__Event *ev)
{
    unsigned char buf[OCSP_EVENT_MAX];
    size_t n = revoca__event__get_packed_size(ev);
    const char *argv[] = {"XADD", cli->events_key, "*", OCSP_STREAM_FIELD,
                          (const char *)buf};
    size_t lens[5];

    if (n > sizeof(buf)) {
        cli_err("event too large (%zu bytes)", n);
        return -1;
    }
    revoca__event__pack(ev, buf);
    lens[0] = 4;
    lens[1] = strlen(cli->events_key);
    lens[2] = 1;
    lens[3] = 1;
    lens[4] = n;
    if (redisAppendCommandArgv(cli->rc.c, 5, argv, lens) != REDIS_OK) {
        cli_err("out of memory");
        return -1;
    }
    return 0;
}

int cli_read_replies(cli_t *cli, size_t n)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(cli->rc.c, &r) != REDIS_OK) {
            cli_err("redis: %s", cli->rc.c->errstr);
            return -1;
        }
        if (((redisReply *)r)->type == REDIS_REPLY_ERROR) {
            cli_err("redis: %s", ((redisReply *)r)->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

/* Options shared by the per-certificate commands. */
typedef struct {
    const char *issuer, *serial, *cert, *reason, *time, *invalidity, *not_after,
        *not_before, *shard;
    int wait, no_wait;
} cli_opts_t;

static int parse_opts(int argc, char **argv, cli_opts_t *o)
{
    static const struct option longopts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"serial", required_argument, NULL, 's'},
        {"cert", required_argument, NULL, 'C'},
        {"reason", required_argument, NULL, 'r'},
        {"time", required_argument, NULL, 't'},
        {"invalidity-date", required_argument, NULL, 'I'},
        {"not-after", required_argument, NULL, 'A'},
        {"not-before", required_argument, NULL, 'B'},
        {"shard", required_argument, NULL, 'S'},
        {"wait", no_argument, NULL, 'w'},
        {"no-wait", no_argument, NULL, 'W'},
        {NULL, 0, NULL, 0}};
    int c;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            o->issuer = optarg;
            break;
        case 's':
            o->serial = optarg;
            break;
        case 'C':
            o->cert = optarg;
            break;
        case 'r':
            o->reason = optarg;
            break;
        case 't':
            o->time = optarg;
            break;
        case 'I':
            o->invalidity = optarg;
            break;
        case 'A':
            o->not_after = optarg;
            break;
        case 'B':
            o->not_before = optarg;
            break;
        case 'S':
            o->shard = optarg;
            break;
        case 'w':
            o->wait = 1;
            break;
        case 'W':
            o->no_wait = 1;
            break;
        default:
            return -1;
        }
    }
    if (optind != argc) {
        cli_err("unexpected argument: %s", argv[optind]);
        return -1;
    }
    return 0;
}

const ocsp_issuer_conf_t *cli_issuer(cli_t *cli, const char *name, X509 **ca)
{
    const ocsp_issuer_conf_t *ic;

    if (name == NULL) {
        cli_err("--issuer is required");
        return NULL;
    }
    ic = ocsp_config_issuer(&cli->cf, name);
    if (ic == NULL) {
        cli_err("issuer \"%s\" is not in %s", name, cli->cf.path);
        return NULL;
    }
    if (ca != NULL) {
        *ca = ocsp_cert_load(ic->cert_path, NULL);
        if (*ca == NULL) {
            cli_err("issuer %s: cannot load %s", name, ic->cert_path);
            return NULL;
        }
    }
    return ic;
}

/*
 * Waits until the signer has applied EV: the record reflects it (the status
 * model's own test, ocsp_record_apply() finding nothing to change), and with
 * it the responses, written in the same transaction.  0, 1 on time-out, -1
 * on a Redis error.
 */
static int wait_applied(cli_t *cli, const Revoca__Event *ev, int64_t secs)
{
    char ck[OCSP_KEY_MAX];
    long deadline = ocsp_now_ms() + (long)secs * 1000;
    const char *get[] = {"GET", ck};

    ocsp_key_cert(ck, cli->cf.prefix, ev->issuer, ev->serial);
    for (;;) {
        redisReply *r = ocsp_rconn_cmd(&cli->rc, 2, get, NULL);
        int done = 0;

        if (r == NULL) {
            cli_err("%s", cli->rc.err);
            return -1;
        }
        if (r->type == REDIS_REPLY_STRING) {
            const char *why;
            Revoca__CertRecord *rec =
                ocsp_record_decode(r->str, r->len, ev->serial, NULL, &why);
            if (rec == NULL) {
                /* The signer leaves it alone: waiting cannot succeed. */
                cli_err("record %s is invalid (%s); repair it first", ck, why);
                freeReplyObject(r);
                return -1;
            }
            done = ocsp_record_reflects(rec, ev);
            ocsp_record_free(rec, NULL);
        }
        freeReplyObject(r);
        if (done) {
            return 0;
        }
        if (ocsp_now_ms() >= deadline) {
            return 1;
        }
        usleep(POLL_MS * 1000);
    }
}

/* The "cli" group of the config file. */
static const char *const cli_known[] = {"issue_wait", NULL};

/* issue, revoke, hold, release: one event each. */
static int cmd_event(cli_t *cli, const char *cmd, int argc, char **argv)
{
    cli_opts_t o;
    const ocsp_issuer_conf_t *ic;
    X509 *ca = NULL, *cert = NULL;
    Revoca__Event ev = REVOCA__EVENT__INIT;
    Revoca__Issued is = REVOCA__ISSUED__INIT;
    Revoca__Revoked rv = REVOCA__REVOKED__INIT;
    Revoca__Hold hd = REVOCA__HOLD__INIT;
    Revoca__Release rl = REVOCA__RELEASE__INIT;
    char serial[OCSP_SERIAL_HEX_MAX + 1], id[40], werr[OCSP_ERR_MAX];
    unsigned char *der = NULL;
    int64_t t, wait = DEFAULT_WAIT, v;
    int rc = CLI_EXIT_USAGE, issue = strcmp(cmd, "issue") == 0, w;

    if (parse_opts(argc, argv, &o) != 0) {
        goto done;
    }
    ic = cli_issuer(cli, o.issuer, &ca);
    if (ic == NULL) {
        goto done;
    }
    if ((o.cert != NULL) == (o.serial != NULL)) {
        cli_err("%s: give exactly one of --cert and --serial", cmd);
        goto done;
    }
    if (o.cert != NULL) {
        cert = cli_load_issued_cert(o.cert, ca);
        if (cert == NULL || cli_issued_from_cert(cert, serial, &is, &der)) {
            goto done;
        }
    } else if (ocsp_serial_from_hex(o.serial, serial) != 0) {
        cli_err("--serial %s: not a positive hex serial of at most 20 octets",
                o.serial);
        goto done;
    }
    t = (int64_t)time(NULL);
    if (o.time != NULL && cli_parse_time(o.time, &t) != 0) {
        cli_err("--time %s: not a time", o.time);
        goto done;
    }

    ev.issuer = (char *)ic->name;
    ev.serial = serial;
    ev.time = (int64_t)time(NULL);
    if (ocsp_event_new_id(id) != 0) {
        cli_err("no randomness for an event id");
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    ev.id = id;

    if (issue) {
        if (o.cert == NULL) {
            if (o.not_after == NULL ||
                cli_parse_time(o.not_after, &is.not_after) != 0) {
                cli_err("issue: --not-after TIME is required with --serial");
                goto done;
            }
            is.not_before = ev.time;
            if (o.not_before != NULL &&
                cli_parse_time(o.not_before, &is.not_before) != 0) {
                cli_err("--not-before %s: not a time", o.not_before);
                goto done;
            }
            if (is.not_after < is.not_before) {
                cli_err("issue: --not-after is before --not-before");
                goto done;
            }
            if (is.not_after <= ev.time) {
                /* It would be dropped as expired, never answerable. */
                cli_err("issue: --not-after is in the past");
                goto done;
            }
        }
        if (o.shard != NULL) {
            char *e;
            v = strtoll(o.shard, &e, 10);
            if (*e != '\0' || v < 0 || (unsigned)v >= ic->shards) {
                cli_err("--shard %s: must be 0..%u", o.shard, ic->shards - 1);
                goto done;
            }
            is.has_shard = 1;
            is.shard = (uint32_t)v;
        }
        ev.kind_case = REVOCA__EVENT__KIND_ISSUED;
        ev.issued = &is;
    } else if (strcmp(cmd, "revoke") == 0) {
        int reason = 0;
        if (o.reason != NULL) {
            reason = ocsp_reason_from_name(o.reason);
            if (reason < 0 || reason == 6 || reason == 8) {
                cli_err("--reason %s: not a revocation reason%s", o.reason,
                        reason == 6 ? " (use revoca hold)" : "");
                goto done;
            }
            if (!ocsp_profile_allows_reason(ic->profile, reason)) {
                cli_err("--reason %s: not allowed by the cabf profile "
                        "(Baseline Requirements 7.2.2)",
                        o.reason);
                goto done;
            }
        }
        rv.revocation_time = t;
        rv.has_reason = 1;
        rv.reason = (Revoca__Reason)reason;
        if (o.invalidity != NULL) {
            if (cli_parse_time(o.invalidity, &rv.invalidity_date) != 0) {
                cli_err("--invalidity-date %s: not a time", o.invalidity);
                goto done;
            }
            rv.has_invalidity_date = 1;
        }
        ev.kind_case = REVOCA__EVENT__KIND_REVOKED;
        ev.revoked = &rv;
    } else if (strcmp(cmd, "hold") == 0) {
        if (!ocsp_profile_allows_hold(ic->profile)) {
            cli_err("hold: certificateHold is not allowed by the cabf "
                    "profile");
            goto done;
        }
        hd.hold_time = t;
        ev.kind_case = REVOCA__EVENT__KIND_HOLD;
        ev.hold = &hd;
    } else {
        rl.release_time = t;
        ev.kind_case = REVOCA__EVENT__KIND_RELEASE;
        ev.release = &rl;
    }
    if (o.reason != NULL && ev.kind_case != REVOCA__EVENT__KIND_REVOKED) {
        cli_err("%s: --reason only goes with revoke", cmd);
        goto done;
    }

    if (config_lookup(&cli->cf.lc, "cli") != NULL &&
        (ocsp_conf_known(config_lookup(&cli->cf.lc, "cli"), cli_known,
                         cli->cf.path, werr) != 0 ||
         ocsp_conf_duration(config_lookup(&cli->cf.lc, "cli"), "issue_wait",
                            &wait, cli->cf.path, werr) != 0)) {
        cli_err("%s", werr);
        goto done;
    }

    rc = CLI_EXIT_FAIL;
    if (cli_connect(cli) != 0 || cli_append_event(cli, &ev) != 0 ||
        cli_read_replies(cli, 1) != 0) {
        goto done;
    }
    if ((issue && !o.no_wait) || o.wait) {
        w = wait_applied(cli, &ev, wait);
        if (w > 0) {
            cli_err("%s %s: event queued, but no response in Redis after "
                    "%llds (is revoca-signer running?)",
                    cmd, serial, (long long)wait);
            rc = CLI_EXIT_TIMEOUT;
            goto done;
        }
        if (w < 0) {
            goto done;
        }
    }
    printf("%s %s %s\n", cmd, ic->name, serial);
    rc = 0;

done:
    OPENSSL_free(der);
    X509_free(cert);
    X509_free(ca);
    return rc;
}

static void print_time(const char *label, int64_t t)
{
    char buf[32];
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-16s %s\n", label, buf);
}

static int cmd_status(cli_t *cli, int argc, char **argv)
{
    static const char *st[] = {"good", "revoked", "hold"};
    cli_opts_t o;
    const ocsp_issuer_conf_t *ic;
    char serial[OCSP_SERIAL_HEX_MAX + 1], ck[OCSP_KEY_MAX], ok[OCSP_KEY_MAX];
    const char *get[] = {"GET", ck};
    const char *hget[] = {"HMGET", ok, OCSP_FIELD_STATUS,
                          OCSP_FIELD_THIS_UPDATE, OCSP_FIELD_NEXT_UPDATE};
    redisReply *r = NULL, *h = NULL;
    Revoca__CertRecord *rec = NULL;
    X509 *ca = NULL, *cert = NULL;
    unsigned char *der = NULL;
    Revoca__Issued is = REVOCA__ISSUED__INIT;
    int rc = CLI_EXIT_USAGE;

    if (parse_opts(argc, argv, &o) != 0 ||
        (ic = cli_issuer(cli, o.issuer, o.cert ? &ca : NULL)) == NULL) {
        goto done;
    }
    if (o.cert != NULL) {
        cert = cli_load_issued_cert(o.cert, ca);
        if (cert == NULL || cli_issued_from_cert(cert, serial, &is, &der)) {
            goto done;
        }
    } else if (o.serial == NULL || ocsp_serial_from_hex(o.serial, serial)) {
        cli_err("status: --serial HEX (positive, at most 20 octets) or --cert");
        goto done;
    }
    rc = CLI_EXIT_FAIL;
    if (cli_connect(cli) != 0) {
        goto done;
    }
    ocsp_key_cert(ck, cli->cf.prefix, ic->name, serial);
    ocsp_key_ocsp(ok, cli->cf.prefix, ic->name, serial);
    r = ocsp_rconn_cmd(&cli->rc, 2, get, NULL);
    h = r ? ocsp_rconn_cmd(&cli->rc, 5, hget, NULL) : NULL;
    if (r == NULL || h == NULL) {
        cli_err("%s", cli->rc.err);
        goto done;
    }
    printf("%-16s %s\n%-16s %s\n", "issuer", ic->name, "serial", serial);
    if (r->type == REDIS_REPLY_STRING) {
        const char *why;

        rec = ocsp_record_decode(r->str, r->len, serial, NULL, &why);
        if (rec == NULL) {
            printf("%-16s invalid (%s)\n", "record", why);
            cli_err("record %s is invalid (%s)", ck, why);
            goto done;
        }
    }
    if (rec == NULL) {
        printf("%-16s %s\n", "record", "none (never reported)");
    } else {
        printf("%-16s %s\n", "record", st[rec->status]);
        if (rec->has_not_after) {
            print_time("not_before", rec->not_before);
            print_time("not_after", rec->not_after);
        } else {
            printf("%-16s %s\n", "issued", "never reported");
        }
        if (rec->status != REVOCA__STATUS__GOOD) {
            print_time("revocation_time", rec->revocation_time);
            printf("%-16s %s\n", "reason", ocsp_reason_name(rec->reason));
        }
        if (rec->has_invalidity_date) {
            print_time("invalidity_date", rec->invalidity_date);
        }
    }
    if (h->type == REDIS_REPLY_ARRAY && h->elements == 3 &&
        h->element[0]->type == REDIS_REPLY_STRING) {
        printf("%-16s %s\n", "ocsp_status", h->element[0]->str);
        if (h->element[1]->type == REDIS_REPLY_STRING) {
            print_time("this_update", strtoll(h->element[1]->str, NULL, 10));
        }
        if (h->element[2]->type == REDIS_REPLY_STRING) {
            print_time("next_update", strtoll(h->element[2]->str, NULL, 10));
        }
    } else {
        printf("%-16s %s\n", "ocsp_status", "no response stored");
    }
    rc = 0;

done:
    ocsp_record_free(rec, NULL);
    if (r) {
        freeReplyObject(r);
    }
    if (h) {
        freeReplyObject(h);
    }
    OPENSSL_free(der);
    X509_free(cert);
    X509_free(ca);
    return rc;
}

int main(int argc, char **argv)
{
    cli_t cli;
    const char *file = getenv("REVOCA_CONF");
    char err[OCSP_ERR_MAX];
    const char *cmd;
    int i = 1, rc;

    if (file == NULL || *file == '\0') {
        file = DEFAULT_CONF;
    }
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else {
            cli_err("unknown option %s", argv[i]);
            fputs(usage_text, stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    cmd = argv[i];
    if (strcmp(cmd, "issue") != 0 && strcmp(cmd, "revoke") != 0 &&
        strcmp(cmd, "hold") != 0 && strcmp(cmd, "release") != 0 &&
        strcmp(cmd, "status") != 0 && strcmp(cmd, "import") != 0) {
        cli_err("unknown command \"%s\"", cmd);
        fputs(usage_text, stderr);
        return CLI_EXIT_USAGE;
    }
    memset(&cli, 0, sizeof(cli));
    if (ocsp_config_load(&cli.cf, file, err) != 0) {
        cli_err("%s", err);
        return CLI_EXIT_USAGE;
    }
    ocsp_key_events(cli.events_key, cli.cf.prefix);

    if (strcmp(cmd, "status") == 0) {
        rc = cmd_status(&cli, argc - i, argv + i);
    } else if (strcmp(cmd, "import") == 0) {
        rc = cli_import(&cli, argc - i, argv + i);
    } else {
        rc = cmd_event(&cli, cmd, argc - i, argv + i);
    }
    ocsp_rconn_close(&cli.rc);
    ocsp_config_free(&cli.cf);
    return rc;
}
