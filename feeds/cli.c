/* revoca: the CA's hook.  See cli.h and `revoca --help`. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <pwd.h>
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
#include "history.h"
#include "issued.h"
#include "issuer.h"
#include "keys.h"
#include "stored.h"
#include "policy.h"
#include "record.h"
#include "serial.h"
#include "shard.h"
#include "signer.h" /* SIGNER_GROUP */

#define DEFAULT_CONF "/etc/revoca/revoca.conf"
#define DEFAULT_WAIT 10
#define POLL_MS 5

/* One usage line per command: `revoca --help` prints them all, `revoca
 * COMMAND --help` its own. */
static const struct {
    const char *name;
    const char *usage;
} commands[] = {
    {"issue",
     "issue   --issuer N (--cert FILE | --serial HEX --not-after TIME\n"
     "          [--not-before TIME]) [--shard N] [--no-wait]\n"},
    {"revoke",
     "revoke  --issuer N (--serial HEX | --cert FILE) [--reason NAME]\n"
     "          [--time TIME] [--invalidity-date TIME] [--wait]\n"},
    {"hold", "hold    --issuer N (--serial HEX | --cert FILE) [--time TIME] "
             "[--wait]\n"},
    {"release", "release --issuer N (--serial HEX | --cert FILE) [--time TIME] "
                "[--wait]\n"},
    {"status", "status  --issuer N (--serial HEX | --cert FILE) [--json]\n"
               "          (the record, the stored response, the history)\n"},
    {"import",
     "import  --issuer N --openssl-index FILE [--follow [--interval S]]\n"
     "          [--strict] [--wait [--wait-timeout S]] [--progress S]\n"
     "  import  --issuer N --certs PATH... [--wait [--wait-timeout S]]\n"
     "          [--progress S]\n"
     "  import  --issuer N --crl FILE|URL [--follow [--interval S]] "
     "[--strict]\n          [--ca-file FILE] [--wait [--wait-timeout S]]\n"
     "  import  --issuer N --cfssl-db FILE [--follow [--interval S]]\n"
     "          [--wait [--wait-timeout S]]\n"
     "          (--follow: until SIGTERM; --wait: until signed, exit 3 "
     "after\n          --wait-timeout, default 600 s; a bad row is skipped, "
     "--strict:\n          nothing is sent)\n"},
    {"inventory",
     "inventory --issuer N [--status S[,S...]]... [--expiring-within D]\n"
     "          [--format table|csv|json]\n"},
    {"resign", "resign  --issuer N (--all | --serial HEX | --status) "
               "[--rate N]\n"},
    {"rebuild", "rebuild --issuer N [--force] [--from ID]\n"
                "          (replays the issuer's events into Redis; with the\n"
                "          signer's configuration; refused over live data\n"
                "          unless --force)\n"},
    {"health", "health  [--format table|json] [--max-lag N] "
               "[--max-overdue SECONDS]\n"
               "          (exit 1: unhealthy, each problem printed)\n"},
    {"audit", "audit verify [--since ID] [--archive DIR]\n"
              "          (exit 1: the first entry or segment deleted, "
              "inserted,\n"
              "          reordered or changed)\n"},
};

static const char usage_notes[] =
    "\n"
    "  -c FILE   configuration (default $REVOCA_CONF, else " DEFAULT_CONF ")\n"
    "  TIME      now | unix seconds | YYYY-MM-DD | YYYY-MM-DDTHH:MM:SSZ\n"
    "  NAME      keyCompromise, cACompromise, affiliationChanged, superseded,\n"
    "            cessationOfOperation, privilegeWithdrawn, aACompromise,\n"
    "            unspecified\n"
    "  --shard N the certificate's CRL shard; with --cert it must be the one\n"
    "            its cRLDistributionPoints names (docs/crl.md)\n"
    "  --rate N  resign: re-signs a second asked of the signer (default 50)\n"
    "  S         inventory: good (live), revoked, held, expired, unknown\n"
    "            (never reported as issued)\n"
    "  D         a duration: a whole number with s, m, h or d (\"7d\"):\n"
    "            notAfter no later than that from now, and not past\n"
    "  --format  inventory: json is one array, written row by row; csv is\n"
    "            RFC 4180 (CRLF, quoted subjects); exit 1 when a record is\n"
    "            invalid (named on stderr, not listed) or Redis fails\n"
    "\n"
    "  --from ID rebuild: resume at stream entry ID (the last= of a run "
    "that\n"
    "            failed or was stopped); needs --force\n"
    "\n"
    "Exit status: 0 done, 1 Redis failure, 2 bad input (rebuild: refused "
    "over\n"
    "live data), 3 no response in time, 4 written but fewer than\n"
    "redis.min_replica_acks replicas acknowledged it.\n";

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Usage of command CMD (NULL: every command) to OUT. */
static void usage(FILE *out, const char *cmd)
{
    size_t i;

    fputs("usage: revoca [-c FILE] COMMAND [OPTIONS]\n\n", out);
    for (i = 0; i < NCOMMANDS; i++) {
        if (cmd == NULL || strcmp(cmd, commands[i].name) == 0) {
            fprintf(out, "  %s", commands[i].usage);
        }
    }
    fputs(usage_notes, out);
}

void cli_json_str(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

const char *cli_reply_why(const cli_t *cli, const redisReply *r,
                          const char *otherwise)
{
    if (r == NULL) {
        return cli->redis.err;
    }
    return r->type == REDIS_REPLY_ERROR ? r->str : otherwise;
}

void cli_err(const char *fmt, ...)
{
    va_list ap;

    fputs("revoca: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static volatile sig_atomic_t follow_stop;

static void follow_on_signal(int sig)
{
    (void)sig;
    follow_stop = 1;
}

int cli_follow_interval(const char *arg, int follow, int64_t *out)
{
    char *e;
    long long v;

    errno = 0;
    v = strtoll(arg, &e, 10);
    if (!follow || e == arg || *e != '\0' || errno != 0 || v < 1 || v > 86400) {
        cli_err("--interval %s: seconds 1..86400, with --follow", arg);
        return -1;
    }
    *out = v;
    return 0;
}

void cli_follow_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = follow_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int cli_follow_stopped(void)
{
    return follow_stop != 0;
}

void cli_follow_sleep_until(int64_t t)
{
    while (!follow_stop && (int64_t)time(NULL) < t) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
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
    ocsp_rconn_init(&cli->redis, &cli->cf);
    cli->redis.quiet = 1; /* the CLI says why itself, once */
    if (ocsp_rconn_ensure(&cli->redis, NULL, ocsp_now_ms() + 3000) != 0) {
        cli_err("%s", cli->redis.err);
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
    if (ocsp_cert_issued_by(x, issuer) != 0) {
        cli_err("%s: a certificate not issued by this issuer's CA", file);
        return -1;
    }
    return 0;
}

int cli_issued_from_cert(X509 *cert, char *serial, Revoca__Issued *is,
                         unsigned char **der)
{
    const char *why;

    *der = NULL;
    if (ocsp_issued_from_cert(cert, serial, is, &why) != 0) {
        cli_err("%s", why);
        return -1;
    }
    *der = is->cert_der.data;
    return 0;
}

/* Copies S into OUT (SIZE bytes with its NUL), control characters made
 * '?' so that the result passes ocsp_origin_text_valid(). */
static void origin_copy(char *out, size_t size, const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i + 1 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : s[i];
    }
    out[i] = '\0';
}

void cli_set_origin(cli_t *cli, const char *via, const char *source)
{
    origin_copy(cli->origin_via, sizeof(cli->origin_via), via);
    cli->origin.via = cli->origin_via;
    if (source != NULL) {
        origin_copy(cli->origin_source, sizeof(cli->origin_source), source);
        cli->origin.source = cli->origin_source;
    } else {
        cli->origin.source = NULL;
    }
}

/* The user and host running this command: the principal of its events
 * (issue 14: who sent it, as the component that received it saw it). */
static void origin_init(cli_t *cli)
{
    char host[256] = "?", who[OCSP_ORIGIN_PRINCIPAL_MAX + 1];
    const struct passwd *pw = getpwuid(geteuid());

    revoca__origin__init(&cli->origin);
    if (gethostname(host, sizeof(host) - 1) != 0) {
        strcpy(host, "?");
    }
    host[sizeof(host) - 1] = '\0';
    if (pw != NULL && pw->pw_name != NULL) {
        snprintf(who, sizeof(who), "%s@%s", pw->pw_name, host);
    } else {
        snprintf(who, sizeof(who), "uid %lu@%s", (unsigned long)geteuid(),
                 host);
    }
    origin_copy(cli->origin_principal, sizeof(cli->origin_principal), who);
    cli->origin.principal = cli->origin_principal;
    cli_set_origin(cli, "cli", NULL);
}

int cli_append_event(cli_t *cli, const Revoca__Event *in)
{
    unsigned char buf[OCSP_EVENT_MAX];
    Revoca__Event stamped = *in, *ev = &stamped;
    size_t n;

    /* Whatever origin the event came with is replaced: it is this
     * component's to say who sent it. */
    stamped.origin = &cli->origin;
    n = revoca__event__get_packed_size(ev);
    const char *argv[] = {"XADD", cli->events_key, "*", OCSP_STREAM_FIELD,
                          (const char *)buf};
    size_t lens[] = {4, strlen(cli->events_key), 1, strlen(OCSP_STREAM_FIELD),
                     n};

    if (n > sizeof(buf)) {
        cli_err("event too large (%zu bytes)", n);
        return -1;
    }
    revoca__event__pack(ev, buf);
    if (ocsp_rconn_append(&cli->redis, 5, argv, lens) != 0) {
        cli_err("%s", cli->redis.err);
        return -1;
    }
    return 0;
}

/* WHAT is on the primary, on too few replicas (cli->redis.err says how
 * many): said, and CLI_EXIT_REPLICAS. */
static int replicas_short(cli_t *cli, const char *what)
{
    cli_err("%s: %s; it is in the stream anyway and will be applied, and "
            "repeating the command is safe (events are idempotent by id)",
            what, cli->redis.err);
    return CLI_EXIT_REPLICAS;
}

int cli_wait_replicas(cli_t *cli, const char *what)
{
    int rv = ocsp_rconn_wait(&cli->redis, NULL);

    if (rv == 1) {
        return replicas_short(cli, what);
    }
    if (rv != 0) {
        cli_err("%s", cli->redis.err);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* A stream entry ID ("MS-SEQ") as two numbers.  0, or -1. */
static int entry_id_parse(const char *s, size_t len, int64_t id[2])
{
    const char *dash = memchr(s, '-', len);

    return dash != NULL &&
                   ocsp_parse_int64(s, (size_t)(dash - s), 0, &id[0]) == 0 &&
                   ocsp_parse_int64(dash + 1, len - (size_t)(dash - s) - 1, 0,
                                    &id[1]) == 0
               ? 0
               : -1;
}

static int entry_cmp(const int64_t a[2], const int64_t b[2])
{
    return a[0] != b[0] ? (a[0] < b[0] ? -1 : 1)
                        : (a[1] != b[1] ? (a[1] < b[1] ? -1 : 1) : 0);
}

/* Notes R if it is an XADD's reply (an entry ID); an EXEC's reply is
 * looked into.  The first error reply, in it or R, into *err (borrowed). */
static void note_reply(cli_sent_t *sent, const redisReply *r,
                       const redisReply **err)
{
    int64_t id[2];

    if (r->type == REDIS_REPLY_ERROR) {
        if (*err == NULL) {
            *err = r;
        }
    } else if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]->type != REDIS_REPLY_ARRAY) {
                note_reply(sent, r->element[i], err);
            }
        }
    } else if (r->type == REDIS_REPLY_STRING &&
               entry_id_parse(r->str, r->len, id) == 0) {
        if (sent->events == 0) {
            memcpy(sent->first, id, sizeof(id));
        }
        memcpy(sent->last, id, sizeof(id));
        sent->events++;
    }
}

int cli_read_replies(cli_t *cli)
{
    cli_sent_t *sent = &cli->sent;
    size_t n = ocsp_rconn_pending(&cli->redis), before = sent->events;
    int failed = 0;

    while (n-- > 0) {
        redisReply *r = ocsp_rconn_reply(&cli->redis);
        const redisReply *err = NULL;

        if (r == NULL) {
            cli_err("redis: %s", cli->redis.err);
            return -1;
        }
        note_reply(sent, r, &err);
        if (err != NULL && !failed) {
            cli_err("redis: %.*s", (int)(err->len > 200 ? 200 : err->len),
                    err->str);
            failed = 1;
        }
        freeReplyObject(r);
    }
    if (sent->events > before) {
        if (sent->nmarks == sent->cap) {
            size_t cap = sent->cap ? sent->cap * 2 : 64;
            cli_mark_t *m = realloc(sent->marks, cap * sizeof(*m));
            if (m == NULL) {
                cli_err("out of memory");
                return -1;
            }
            sent->marks = m;
            sent->cap = cap;
        }
        memcpy(sent->marks[sent->nmarks].id, sent->last, sizeof(sent->last));
        sent->marks[sent->nmarks++].events = sent->events;
    }
    return failed ? -1 : 0;
}

void cli_sent_reset(cli_t *cli)
{
    cli->sent.events = 0;
    cli->sent.nmarks = 0;
}

/* Options shared by the per-certificate commands. */
typedef struct {
    const char *issuer, *serial, *cert, *reason, *time, *invalidity, *not_after,
        *not_before, *shard;
    int wait, no_wait, json;
} cli_opts_t;

int cli_getopt(int argc, char **argv, const struct option *longopts)
{
    int c;

    /* Our own messages, naming the command and the option. */
    opterr = 0;
    c = getopt_long(argc, argv, ":", longopts, NULL);
    if (c == '?') {
        cli_err("%s: unknown option %s", argv[0], argv[optind - 1]);
    } else if (c == ':') {
        cli_err("%s: option %s needs a value", argv[0], argv[optind - 1]);
    }
    return c;
}

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
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    int c;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((c = cli_getopt(argc, argv, longopts)) != -1) {
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
        case 'j':
            o->json = 1;
            break;
        default:
            return -1;
        }
    }
    if (optind != argc) {
        cli_err("%s: unexpected argument: %s", argv[0], argv[optind]);
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

/* The signer group's last-delivered-id into LAST: 1, 0 if there is no
 * such group yet; -1 on a failure, -2 on an error reply (said). */
static int group_delivered(cli_t *cli, int64_t last[2])
{
    const char *argv[] = {"XINFO", "GROUPS", cli->events_key};
    redisReply *r = ocsp_rconn_cmd(&cli->redis, 3, argv, NULL);
    int rv = 0;

    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        cli_err("redis: XINFO GROUPS: %.*s", (int)(r->len > 200 ? 200 : r->len),
                r->str);
        freeReplyObject(r);
        return -2;
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *g = r->element[i];
        const redisReply *name = NULL, *ld = NULL;

        for (size_t k = 0; g->type == REDIS_REPLY_ARRAY && k + 1 < g->elements;
             k += 2) {
            const redisReply *key = g->element[k];
            if (key->type != REDIS_REPLY_STRING) {
                continue;
            }
            if (strcmp(key->str, "name") == 0) {
                name = g->element[k + 1];
            } else if (strcmp(key->str, "last-delivered-id") == 0) {
                ld = g->element[k + 1];
            }
        }
        if (name != NULL && ld != NULL && name->type == REDIS_REPLY_STRING &&
            strcmp(name->str, SIGNER_GROUP) == 0 &&
            ld->type == REDIS_REPLY_STRING &&
            entry_id_parse(ld->str, ld->len, last) == 0) {
            rv = 1;
        }
    }
    freeReplyObject(r);
    return rv;
}

/* 1 if the signer group was delivered ENTRY (its last-delivered-id is not
 * before it), 0 if not (or there is no such group yet); -1 on a failure,
 * -2 on an error reply (said). */
static int entry_delivered(cli_t *cli, const int64_t entry[2])
{
    int64_t last[2];
    int rv = group_delivered(cli, last);

    return rv == 1 ? entry_cmp(last, entry) >= 0 : rv;
}

/*
 * With redis.min_replica_acks: 1 while the stream entry ENTRY is still to
 * be acknowledged by a signer (not yet delivered to the signer group, or
 * pending there: its batch committed but not yet on the replicas, since
 * the signer acknowledges only after its WAIT), 0 once it is acknowledged,
 * -1 on a failure, -2 on an error reply (said).
 */
static int entry_pending(cli_t *cli, const char *entry)
{
    const char *argv[] = {"XPENDING", cli->events_key, SIGNER_GROUP,
                          entry,      entry,           "1"};
    int64_t id[2];
    redisReply *r;
    int rv;

    if (!ocsp_rconn_wait_wanted(&cli->redis) ||
        entry_id_parse(entry, strlen(entry), id) != 0) {
        return 0;
    }
    rv = entry_delivered(cli, id);
    if (rv <= 0) {
        return rv < 0 ? rv : 1;
    }
    if ((r = ocsp_rconn_cmd(&cli->redis, 6, argv, NULL)) == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        cli_err("redis: XPENDING: %.*s", (int)(r->len > 200 ? 200 : r->len),
                r->str);
        rv = -2;
    } else {
        rv = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    }
    freeReplyObject(r);
    return rv;
}

/* The signer group's pending count, all of it (XPENDING's summary) into
 * *n.  0, or -1 after a message. */
static int group_pending(cli_t *cli, size_t *n)
{
    const char *argv[] = {"XPENDING", cli->events_key, SIGNER_GROUP};
    redisReply *r = ocsp_rconn_cmd(&cli->redis, 3, argv, NULL);
    int64_t v = 0;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* NOGROUP: no signer ever ran, nothing is pending */
        int nogroup = r != NULL && strncmp(r->str, "NOGROUP", 7) == 0;
        if (!nogroup) {
            cli_err("redis: XPENDING: %s", r != NULL ? r->str : cli->redis.err);
        }
        freeReplyObject(r);
        *n = 0;
        return nogroup ? 0 : -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
        (void)ocsp_reply_int64(r->element[0], 0, &v);
    }
    freeReplyObject(r);
    *n = (size_t)v;
    return 0;
}

int cli_sent_signed(cli_t *cli, size_t *n)
{
    const cli_sent_t *sent = &cli->sent;
    int64_t last[2];
    size_t delivered = 0, pending, lo = 0, hi = sent->nmarks;
    int rv = group_delivered(cli, last);

    *n = 0;
    if (rv < 0) {
        if (rv == -1) {
            cli_err("redis: %s", cli->redis.err);
        }
        return -1;
    }
    if (rv == 0 || sent->events == 0) {
        return 0;
    }
    /* the last mark at or before the group's last delivery */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entry_cmp(sent->marks[mid].id, last) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    delivered = lo > 0 ? sent->marks[lo - 1].events : 0;
    if (group_pending(cli, &pending) != 0) {
        return -1;
    }
    *n = delivered > pending ? delivered - pending : 0;
    return 0;
}

/* 1 if none of cli->sent's entries is pending in the signer group and the
 * group was delivered the last; 0 if not yet; -1 after a message. */
static int sent_applied(cli_t *cli)
{
    char first[48], last[48];
    const char *argv[] = {
        "XPENDING", cli->events_key, SIGNER_GROUP, first, last, "1"};
    redisReply *r;
    int rv = entry_delivered(cli, cli->sent.last);

    if (rv <= 0) {
        if (rv == -1) {
            cli_err("redis: %s", cli->redis.err);
        }
        return rv < 0 ? -1 : 0;
    }
    snprintf(first, sizeof(first), "%lld-%lld", (long long)cli->sent.first[0],
             (long long)cli->sent.first[1]);
    snprintf(last, sizeof(last), "%lld-%lld", (long long)cli->sent.last[0],
             (long long)cli->sent.last[1]);
    if ((r = ocsp_rconn_cmd(&cli->redis, 6, argv, NULL)) == NULL ||
        r->type == REDIS_REPLY_ERROR) {
        cli_err("redis: XPENDING: %s", r != NULL ? r->str : cli->redis.err);
        freeReplyObject(r);
        return -1;
    }
    rv = r->type == REDIS_REPLY_ARRAY && r->elements == 0;
    freeReplyObject(r);
    return rv;
}

int cli_wait_signed(cli_t *cli, long timeout_ms,
                    void (*tick)(void *arg, size_t signed_n), void *arg)
{
    long deadline = ocsp_now_ms() + timeout_ms;
    size_t n = 0;

    if (cli->sent.events == 0) {
        return 0;
    }
    for (;;) {
        int rv = sent_applied(cli);

        if (rv < 0) {
            return CLI_EXIT_FAIL;
        }
        if (rv == 1) {
            if (tick != NULL) {
                tick(arg, cli->sent.events);
            }
            return 0;
        }
        if (cli_sent_signed(cli, &n) != 0) {
            return CLI_EXIT_FAIL;
        }
        if (tick != NULL) {
            tick(arg, n);
        }
        if (cli_follow_stopped()) {
            cli_err("--wait: stopped with %zu of %zu events signed", n,
                    cli->sent.events);
            return CLI_EXIT_TIMEOUT;
        }
        if (ocsp_now_ms() >= deadline) {
            cli_err("--wait: %zu of %zu events signed after %lds (is "
                    "revoca-signer running?); the rest are in the stream and "
                    "will be applied when it runs",
                    n, cli->sent.events, timeout_ms / 1000);
            return CLI_EXIT_TIMEOUT;
        }
        usleep(50 * 1000);
    }
}

int cli_wait_timeout(const char *arg, int wait, long *ms)
{
    char *e;
    long long v;

    errno = 0;
    v = strtoll(arg, &e, 10);
    if (!wait || e == arg || *e != '\0' || errno != 0 || v < 1 || v > 86400) {
        cli_err("--wait-timeout %s: seconds 1..86400, with --wait", arg);
        return -1;
    }
    *ms = (long)v * 1000;
    return 0;
}

/*
 * Waits until the signer has applied EV: the record reflects it (the status
 * model's own test, ocsp_record_apply() finding nothing to change), and with
 * it the responses, written in the same transaction; with
 * redis.min_replica_acks, until the signer has also acknowledged ENTRY
 * (EV's stream entry), which it does once the replicas have its writes, so
 * that a responder reading a replica answers before the CA hands the
 * certificate out.  0, 1 on time-out, -1 on a Redis error.
 */
static int wait_applied(cli_t *cli, const Revoca__Event *ev, const char *entry,
                        long deadline)
{
    char cert_key[OCSP_KEY_MAX];
    const char *get[] = {"GET", cert_key};

    ocsp_key_cert(cert_key, cli->cf.prefix, ev->issuer, ev->serial);
    for (;;) {
        redisReply *reply = NULL;
        int done = 0;

        /* A failover meanwhile: the event is on the replicas, the new
         * primary is asked (rconn.h). */
        if (ocsp_rconn_ensure(&cli->redis, NULL, deadline) != 0 ||
            (reply = ocsp_rconn_cmd(&cli->redis, 2, get, NULL)) == NULL) {
            if (ocsp_now_ms() < deadline) {
                continue;
            }
            cli_err("%s", cli->redis.err);
            return -1;
        }
        if (reply->type == REDIS_REPLY_STRING) {
            const char *why;
            Revoca__CertRecord *rec = ocsp_record_decode(
                reply->str, reply->len, ev->serial, NULL, &why);
            if (rec == NULL) {
                /* The signer leaves it alone: waiting cannot succeed. */
                cli_err("record %s is invalid (%s); repair it first", cert_key,
                        why);
                freeReplyObject(reply);
                return -1;
            }
            done = ocsp_record_reflects(rec, ev);
            ocsp_record_free(rec, NULL);
        }
        freeReplyObject(reply);
        if (done) {
            int pending = entry_pending(cli, entry);
            if (pending == 0) {
                return 0;
            }
            if (pending == -2) {
                return -1;
            }
            /* pending == -1: the connection failed, asked again */
        }
        if (ocsp_now_ms() >= deadline) {
            return 1;
        }
        usleep(POLL_MS * 1000);
    }
}

/*
 * Writes EV (XADD) and, with redis.min_replica_acks, waits for the
 * replicas (WAIT).  A connection that fails meanwhile (a failover: the
 * Sentinels name the new primary) is replaced and EV written again until
 * DEADLINE: a repeated event is applied once (events are idempotent by
 * id).  0, or an exit status after a message.
 */
static int write_event(cli_t *cli, const char *cmd, const char *serial,
                       const Revoca__Event *ev, char *entry, size_t size,
                       long deadline)
{
    char what[160];

    snprintf(what, sizeof(what), "%s %s: event %s", cmd, serial, ev->id);
    for (;;) {
        redisReply *r;
        int rv;

        if (ocsp_rconn_ensure(&cli->redis, NULL, deadline) != 0) {
            cli_err("%s", cli->redis.err);
            return CLI_EXIT_FAIL;
        }
        if (cli_append_event(cli, ev) != 0) {
            return CLI_EXIT_FAIL;
        }
        r = ocsp_rconn_reply(&cli->redis);
        if (r != NULL && r->type == REDIS_REPLY_ERROR) {
            /* refused (NOPERM, ...): repeating would not help */
            cli_err("redis: XADD: %.*s", (int)(r->len > 200 ? 200 : r->len),
                    r->str);
            freeReplyObject(r);
            return CLI_EXIT_FAIL;
        }
        if (r != NULL) {
            /* the stream entry's ID, for wait_applied() */
            entry[0] = '\0';
            if (r->type == REDIS_REPLY_STRING && r->len < size &&
                strspn(r->str, "0123456789-") == r->len) {
                memcpy(entry, r->str, r->len);
                entry[r->len] = '\0';
            }
            freeReplyObject(r);
            rv = ocsp_rconn_wait(&cli->redis, NULL);
            if (rv == 1) {
                return replicas_short(cli, what);
            }
            if (rv == 0) {
                return 0;
            }
        }
        if (ocsp_now_ms() >= deadline) {
            cli_err("%s", cli->redis.err);
            return CLI_EXIT_FAIL;
        }
    }
}

/* --shard N: 0 and *out, or -1 after a message naming the option. */
static int parse_shard(const char *s, const ocsp_issuer_conf_t *ic,
                       unsigned *out)
{
    unsigned long v = 0;
    size_t i;

    for (i = 0; s[i] >= '0' && s[i] <= '9' && v < ic->shards; i++) {
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (i == 0 || s[i] != '\0' || v >= ic->shards) {
        cli_err("--shard %s: must be 0..%u (issuer %s has %u shard%s)", s,
                ic->shards - 1, ic->name, ic->shards,
                ic->shards > 1 ? "s" : "");
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* Refuses options that CMD does not take, rather than ignoring them. */
static int check_opts(const char *cmd, const cli_opts_t *o)
{
    int issue = strcmp(cmd, "issue") == 0;
    const struct {
        const char *name, *value;
        int allowed;
        const char *with;
    } only[] = {
        {"--reason", o->reason, strcmp(cmd, "revoke") == 0, "revoke"},
        {"--invalidity-date", o->invalidity, strcmp(cmd, "revoke") == 0,
         "revoke"},
        {"--shard", o->shard, issue, "issue"},
        {"--not-after", o->not_after, issue && o->cert == NULL,
         "issue --serial"},
        {"--not-before", o->not_before, issue && o->cert == NULL,
         "issue --serial"},
        {"--time", o->time, !issue, "revoke, hold and release"},
        {"--no-wait", o->no_wait ? "" : NULL, issue, "issue"},
        {"--json", o->json ? "" : NULL, strcmp(cmd, "status") == 0, "status"},
    };
    size_t i;

    for (i = 0; i < sizeof(only) / sizeof(only[0]); i++) {
        if (only[i].value != NULL && !only[i].allowed) {
            cli_err("%s: %s only goes with %s", cmd, only[i].name,
                    only[i].with);
            return -1;
        }
    }
    return 0;
}

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
    char serial[OCSP_SERIAL_HEX_MAX + 1], id[40], entry[48] = "";
    unsigned char *der = NULL;
    const char *refused;
    int64_t t;
    int status = CLI_EXIT_USAGE, issue = strcmp(cmd, "issue") == 0, waited;
    long deadline;

    if (parse_opts(argc, argv, &o) != 0 || check_opts(cmd, &o) != 0) {
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
        status = CLI_EXIT_FAIL;
        goto done;
    }
    ev.id = id;

    if (issue) {
        unsigned shard = OCSP_SHARD_ANY;

        if (o.cert == NULL) {
            if (o.not_after == NULL) {
                cli_err("issue: --not-after TIME is required with --serial");
                goto done;
            }
            if (cli_parse_time(o.not_after, &is.not_after) != 0) {
                cli_err("--not-after %s: not a time", o.not_after);
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
            refused = ocsp_issued_refuses_new(&is, ev.time);
            if (refused != NULL) {
                cli_err("issue: --not-after: %s", refused);
                goto done;
            }
        }
        if (o.shard != NULL && parse_shard(o.shard, ic, &shard) != 0) {
            goto done;
        }
        if (cert != NULL) {
            /* Its CRL clients read the CRL its distribution point names:
             * the shard is that one, never a guess (shard.h). */
            ocsp_shard_t sr;
            if (ocsp_shard_from_cert(ic, cert, shard, &sr) != 0) {
                cli_err("%s: %s", o.cert, sr.err);
                goto done;
            }
            shard = sr.shard;
        }
        if (shard != OCSP_SHARD_ANY) {
            is.has_shard = 1;
            is.shard = shard;
        }
        ev.kind_case = REVOCA__EVENT__KIND_ISSUED;
        ev.issued = &is;
    } else if (strcmp(cmd, "revoke") == 0) {
        int reason = 0;
        if (o.reason != NULL) {
            reason = ocsp_reason_from_name(o.reason);
            if (reason < 0 || reason == REVOCA__REASON__CERTIFICATE_HOLD ||
                reason == REVOCA__REASON__REMOVE_FROM_CRL) {
                cli_err("--reason %s: not a revocation reason%s", o.reason,
                        reason == REVOCA__REASON__CERTIFICATE_HOLD
                            ? " (use revoca hold)"
                            : "");
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
        hd.hold_time = t;
        ev.kind_case = REVOCA__EVENT__KIND_HOLD;
        ev.hold = &hd;
    } else {
        rl.release_time = t;
        ev.kind_case = REVOCA__EVENT__KIND_RELEASE;
        ev.release = &rl;
    }
    /* Judged as the signer will (event.h, policy.h), before anything is
     * written. */
    refused = ocsp_event_check(&ev);
    if (refused != NULL) {
        cli_err("%s %s: %s", cmd, serial, refused);
        goto done;
    }
    refused = ocsp_profile_refuses(ic->profile, &ev);
    if (refused != NULL) {
        if (o.reason != NULL) {
            cli_err("--reason %s: %s", o.reason, refused);
        } else {
            cli_err("%s: %s", cmd, refused);
        }
        goto done;
    }

    /* cli.issue_wait bounds the whole command: writing (through a
     * failover) and waiting for the signer. */
    deadline = ocsp_now_ms() + (long)cli->issue_wait * 1000;
    ocsp_rconn_init(&cli->redis, &cli->cf);
    cli->redis.quiet = 1; /* the CLI says why itself, once */
    status = write_event(cli, cmd, serial, &ev, entry, sizeof(entry), deadline);
    if (status != 0) {
        goto done;
    }
    status = CLI_EXIT_FAIL;
    if ((issue && !o.no_wait) || o.wait) {
        waited = wait_applied(cli, &ev, entry, deadline);
        if (waited > 0) {
            cli_err("%s %s: event queued, but no response in Redis%s after "
                    "%llds (is revoca-signer running?)",
                    cmd, serial,
                    ocsp_rconn_wait_wanted(&cli->redis)
                        ? " acknowledged by redis.min_replica_acks replicas"
                        : "",
                    (long long)cli->issue_wait);
            status = CLI_EXIT_TIMEOUT;
            goto done;
        }
        if (waited < 0) {
            goto done;
        }
    }
    printf("%s %s %s\n", cmd, ic->name, serial);
    status = 0;

done:
    free(der);
    X509_free(cert);
    X509_free(ca);
    return status;
}

/* T as "YYYY-MM-DDTHH:MM:SSZ" into buf (32 bytes). */
static const char *fmt_time(char *buf, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* What `revoca status` prints, gathered first: text or JSON. */
typedef struct {
    const char *issuer;
    const char *serial;
    const Revoca__CertRecord *rec; /* NULL: none */
    const ocsp_stored_t *st;       /* NULL: no response stored */
    Revoca__HistoryEntry **hist;   /* oldest first, each stream id once */
    size_t nhist;
    size_t hist_stored; /* entries in the list (repeats included) */
} status_view_t;

static const char *const status_names[] = {"good", "revoked", "hold"};

static void print_time(const char *label, int64_t t)
{
    char buf[32];

    printf("%-16s %s\n", label, fmt_time(buf, t));
}

static void status_text(const status_view_t *v)
{
    const Revoca__CertRecord *rec = v->rec;
    char t1[32], t2[32];
    size_t i;

    printf("%-16s %s\n%-16s %s\n", "issuer", v->issuer, "serial", v->serial);
    if (rec == NULL) {
        printf("%-16s %s\n", "record", "none (never reported)");
    } else {
        printf("%-16s %s\n", "record", status_names[rec->status]);
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
    if (v->st != NULL) {
        printf("%-16s %s\n", "ocsp_status", ocsp_status_field(v->st->status));
        print_time("this_update", v->st->this_update);
        print_time("next_update", v->st->next_update);
    } else {
        printf("%-16s %s\n", "ocsp_status", "no response stored");
    }
    printf("%-16s %zu event%s (newest last)\n", "history", v->nhist,
           v->nhist == 1 ? "" : "s");
    for (i = 0; i < v->nhist; i++) {
        const Revoca__HistoryEntry *h = v->hist[i];
        const Revoca__Origin *o = h->origin;

        /* when reported, what, its own time, by whom */
        printf("  %s %-8s", fmt_time(t1, h->reported),
               ocsp_history_kind_name(h->kind));
        if (h->kind == REVOCA__HISTORY_KIND__H_ISSUED) {
            printf(" not_before=%s not_after=%s", fmt_time(t1, h->at),
                   fmt_time(t2, h->not_after));
        } else {
            printf(" at=%s", fmt_time(t1, h->at));
        }
        if (h->has_reason) {
            printf(" reason=%s", ocsp_reason_name(h->reason));
        }
        if (h->has_invalidity_date) {
            printf(" invalidity_date=%s", fmt_time(t1, h->invalidity_date));
        }
        if (o != NULL) {
            printf(" via=%s principal=%s", o->via,
                   o->principal ? o->principal : "-");
            if (o->source != NULL) {
                printf(" source=%s", o->source);
            }
        } else {
            printf(" via=-");
        }
        printf(" stream=%s\n", h->stream_id);
    }
}

static void json_time(const char *name, int64_t t, int comma)
{
    char buf[32];

    printf("\"%s\":\"%s\"%s", name, fmt_time(buf, t), comma ? "," : "");
}

static void status_json(const status_view_t *v)
{
    const Revoca__CertRecord *rec = v->rec;
    size_t i;

    printf("{\"issuer\":");
    cli_json_str(stdout, v->issuer);
    printf(",\"serial\":");
    cli_json_str(stdout, v->serial);
    printf(",\"record\":");
    if (rec == NULL) {
        printf("null");
    } else {
        printf("{\"status\":\"%s\"", status_names[rec->status]);
        if (rec->has_not_after) {
            printf(",");
            json_time("not_before", rec->not_before, 1);
            json_time("not_after", rec->not_after, 0);
        }
        if (rec->status != REVOCA__STATUS__GOOD) {
            printf(",");
            json_time("revocation_time", rec->revocation_time, 0);
            printf(",\"reason\":\"%s\"", ocsp_reason_name(rec->reason));
        }
        if (rec->has_invalidity_date) {
            printf(",");
            json_time("invalidity_date", rec->invalidity_date, 0);
        }
        printf("}");
    }
    printf(",\"ocsp\":");
    if (v->st == NULL) {
        printf("null");
    } else {
        printf("{\"status\":\"%s\",", ocsp_status_field(v->st->status));
        json_time("this_update", v->st->this_update, 1);
        json_time("next_update", v->st->next_update, 0);
        printf("}");
    }
    printf(",\"history\":[");
    for (i = 0; i < v->nhist; i++) {
        const Revoca__HistoryEntry *h = v->hist[i];

        printf("%s{\"kind\":\"%s\",", i ? "," : "",
               ocsp_history_kind_name(h->kind));
        json_time("reported", h->reported, 1);
        json_time("at", h->at, 0);
        if (h->has_not_after) {
            printf(",");
            json_time("not_after", h->not_after, 0);
        }
        if (h->has_reason) {
            printf(",\"reason\":\"%s\"", ocsp_reason_name(h->reason));
        }
        if (h->has_invalidity_date) {
            printf(",");
            json_time("invalidity_date", h->invalidity_date, 0);
        }
        if (h->has_applied) {
            printf(",");
            json_time("applied", h->applied, 0);
        }
        printf(",\"stream_id\":");
        cli_json_str(stdout, h->stream_id);
        printf(",\"event_id\":");
        cli_json_str(stdout, h->event_id);
        if (h->origin != NULL) {
            printf(",\"origin\":{\"via\":");
            cli_json_str(stdout, h->origin->via);
            if (h->origin->principal != NULL) {
                printf(",\"principal\":");
                cli_json_str(stdout, h->origin->principal);
            }
            if (h->origin->source != NULL) {
                printf(",\"source\":");
                cli_json_str(stdout, h->origin->source);
            }
            printf("}");
        }
        printf("}");
    }
    printf("]}\n");
}

/*
 * The history list REPLY (LRANGE) into v->hist: each entry decoded and
 * validated (history.h), shown once per stream id (an event applied twice:
 * a redelivery, a rebuild over live data).  An entry that does not decode
 * is reported and skipped: the rest is still the history.  0, or -1 (out
 * of memory).
 */
static int status_history(const redisReply *reply, const char *key,
                          status_view_t *v)
{
    size_t i, j;

    v->hist_stored = reply->elements;
    if (reply->elements == 0) {
        return 0;
    }
    v->hist = calloc(reply->elements, sizeof(*v->hist));
    if (v->hist == NULL) {
        cli_err("out of memory");
        return -1;
    }
    for (i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        Revoca__HistoryEntry *h;
        const char *why = "not a string";

        h = e->type == REDIS_REPLY_STRING
                ? ocsp_history_decode(e->str, e->len, &why)
                : NULL;
        if (h == NULL) {
            cli_err("history %s: entry %zu skipped (%s)", key, i, why);
            continue;
        }
        for (j = 0; j < v->nhist && !ocsp_history_same(v->hist[j], h); j++) {
        }
        if (j < v->nhist) {
            ocsp_history_free(h);
            continue;
        }
        v->hist[v->nhist++] = h;
    }
    return 0;
}

static int cmd_status(cli_t *cli, int argc, char **argv)
{
    cli_opts_t o;
    const ocsp_issuer_conf_t *ic;
    char serial[OCSP_SERIAL_HEX_MAX + 1], cert_key[OCSP_KEY_MAX],
        ocsp_key[OCSP_KEY_MAX], hist_key[OCSP_KEY_MAX];
    const char *get[] = {"GET", cert_key};
    const char *get_resp[] = {"GET", ocsp_key};
    const char *lrange[] = {"LRANGE", hist_key, "0", "-1"};
    redisReply *rep[3] = {NULL, NULL, NULL};
    Revoca__CertRecord *rec = NULL;
    X509 *ca = NULL, *cert = NULL;
    unsigned char *der = NULL;
    Revoca__Issued is = REVOCA__ISSUED__INIT;
    status_view_t v;
    ocsp_stored_t st;
    int status = CLI_EXIT_USAGE;
    size_t i;

    memset(&v, 0, sizeof(v));
    if (parse_opts(argc, argv, &o) != 0 || check_opts("status", &o) != 0 ||
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
    status = CLI_EXIT_FAIL;
    if (cli_connect(cli) != 0) {
        goto done;
    }
    ocsp_key_cert(cert_key, cli->cf.prefix, ic->name, serial);
    ocsp_key_ocsp(ocsp_key, cli->cf.prefix, ic->name, serial);
    ocsp_key_history(hist_key, cli->cf.prefix, ic->name, serial);
    /* One round trip: the commands pipelined (rconn.h). */
    if (ocsp_rconn_append(&cli->redis, 2, get, NULL) == 0 &&
        ocsp_rconn_append(&cli->redis, 2, get_resp, NULL) == 0 &&
        ocsp_rconn_append(&cli->redis, 4, lrange, NULL) == 0) {
        for (i = 0; i < 3; i++) {
            if ((rep[i] = ocsp_rconn_reply(&cli->redis)) == NULL) {
                break;
            }
        }
    }
    for (i = 0; i < 3; i++) {
        if (rep[i] == NULL) {
            cli_err("%s", cli->redis.err);
            goto done;
        }
        if (rep[i]->type == REDIS_REPLY_ERROR) {
            cli_err("redis: %s", rep[i]->str);
            goto done;
        }
    }
    v.issuer = ic->name;
    v.serial = serial;
    if (rep[0]->type == REDIS_REPLY_STRING) {
        const char *why;

        rec = ocsp_record_decode(rep[0]->str, rep[0]->len, serial, NULL, &why);
        if (rec == NULL) {
            printf("%-16s %s\n%-16s %s\n%-16s invalid (%s)\n", "issuer",
                   ic->name, "serial", serial, "record", why);
            cli_err("record %s is invalid (%s)", cert_key, why);
            goto done;
        }
        v.rec = rec;
    }
    if (rep[1]->type == REDIS_REPLY_STRING) {
        const char *why;

        if (ocsp_stored_decode((const unsigned char *)rep[1]->str, rep[1]->len,
                               &st, &why) != 0) {
            printf("%-16s invalid (%s)\n", "ocsp_status", why);
            cli_err("stored responses %s are invalid (%s)", ocsp_key, why);
            goto done;
        }
        v.st = &st;
    }
    if (rep[2]->type == REDIS_REPLY_ARRAY &&
        status_history(rep[2], hist_key, &v) != 0) {
        goto done;
    }
    if (o.json) {
        status_json(&v);
    } else {
        status_text(&v);
    }
    status = 0;

done:
    for (i = 0; i < v.nhist; i++) {
        ocsp_history_free(v.hist[i]);
    }
    free(v.hist);
    ocsp_record_free(rec, NULL);
    for (i = 0; i < 3; i++) {
        if (rep[i] != NULL) {
            freeReplyObject(rep[i]);
        }
    }
    free(der);
    X509_free(cert);
    X509_free(ca);
    return status;
}

/* The "cli" group of the config file. */
static int cli_settings(cli_t *cli, char *err)
{
    static const char *const known[] = {"issue_wait", NULL};
    const config_setting_t *g = config_lookup(&cli->cf.lc, "cli");

    cli->issue_wait = DEFAULT_WAIT;
    if (g == NULL) {
        return 0;
    }
    if (!config_setting_is_group(g)) {
        ocsp_conf_error(err, cli->cf.path, g, "cli: expected a group");
        return -1;
    }
    return ocsp_conf_known(g, known, cli->cf.path, err) != 0 ||
                   ocsp_conf_duration(g, "issue_wait", &cli->issue_wait,
                                      cli->cf.path, err) != 0
               ? -1
               : 0;
}

int main(int argc, char **argv)
{
    cli_t cli;
    const char *file = getenv("REVOCA_CONF");
    char err[OCSP_ERR_MAX];
    const char *cmd;
    int i = 1, status, known = 0;
    size_t k;

    if (file == NULL || *file == '\0') {
        file = DEFAULT_CONF;
    }
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(stdout, NULL);
            return 0;
        } else {
            cli_err("unknown option %s", argv[i]);
            usage(stderr, NULL);
            return CLI_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr, NULL);
        return CLI_EXIT_USAGE;
    }
    cmd = argv[i];
    for (k = 0; k < NCOMMANDS; k++) {
        known |= strcmp(cmd, commands[k].name) == 0;
    }
    if (!known) {
        cli_err("unknown command \"%s\"", cmd);
        usage(stderr, NULL);
        return CLI_EXIT_USAGE;
    }
    /* COMMAND --help needs no configuration. */
    for (k = (size_t)i + 1; k < (size_t)argc; k++) {
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            usage(stdout, cmd);
            return 0;
        }
    }
    memset(&cli, 0, sizeof(cli));
    origin_init(&cli);
    if (ocsp_config_load(&cli.cf, file, err) != 0) {
        cli_err("%s", err);
        return CLI_EXIT_USAGE;
    }
    if (cli_settings(&cli, err) != 0) {
        cli_err("%s", err);
        ocsp_config_free(&cli.cf);
        return CLI_EXIT_USAGE;
    }
    ocsp_key_events(cli.events_key, cli.cf.prefix);

    if (strcmp(cmd, "status") == 0) {
        status = cmd_status(&cli, argc - i, argv + i);
    } else if (strcmp(cmd, "import") == 0) {
        status = cli_import(&cli, argc - i, argv + i);
    } else if (strcmp(cmd, "inventory") == 0) {
        status = cli_inventory(&cli, argc - i, argv + i);
    } else if (strcmp(cmd, "resign") == 0) {
        status = cli_resign(&cli, argc - i, argv + i);
    } else if (strcmp(cmd, "rebuild") == 0) {
        status = cli_rebuild(&cli, argc - i, argv + i);
    } else if (strcmp(cmd, "health") == 0) {
        status = cli_health(&cli, argc - i, argv + i);
    } else if (strcmp(cmd, "audit") == 0) {
        status = cli_audit(&cli, argc - i, argv + i);
    } else {
        status = cmd_event(&cli, cmd, argc - i, argv + i);
    }
    ocsp_rconn_close(&cli.redis);
    ocsp_config_free(&cli.cf);
    free(cli.sent.marks);
    return status;
}
