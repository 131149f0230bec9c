/*
 * revoca health: the whole service as Redis and the configuration show it
 * (docs/operations.md, "revoca health").  The queries are health.h's, the
 * ones revoca-signer's metrics make; this file only judges and prints.
 *
 * Exit status: 0 healthy, 1 something is wrong (each problem printed with
 * what to do), 2 bad input.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "health.h"
#include "issuer.h"

#define HEALTH_PROBLEMS_MAX 64
#define HEALTH_DEFAULT_MAX_LAG 100
#define HEALTH_DEFAULT_MAX_OVERDUE 3600
#define HEALTH_CERT_CRITICAL (2 * 86400) /* as the alert rules */
#define HEALTH_CERT_WARNING (14 * 86400)

typedef struct {
    char what[320];
    char action[200];
} health_note_t;

typedef struct {
    const char *name;
    int64_t cert_expiry;
    ocsp_health_due_t due;
    ocsp_health_crl_t crl;
    int queried; /* the Redis part was read */
} health_issuer_t;

typedef struct {
    int64_t now;
    int reachable;
    char redis_err[OCSP_ERR_MAX];
    char redis_addr[300];
    ocsp_health_repl_t repl;
    ocsp_health_group_t signer, crlgen;
    health_issuer_t *issuers; /* owned */
    size_t nissuers;
    health_note_t problems[HEALTH_PROBLEMS_MAX];
    size_t nproblems;
    health_note_t warnings[HEALTH_PROBLEMS_MAX];
    size_t nwarnings;
} health_t;

static void note(health_note_t *v, size_t *n, const char *action,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void note(health_note_t *v, size_t *n, const char *action,
                 const char *fmt, ...)
{
    va_list ap;

    if (*n == HEALTH_PROBLEMS_MAX) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(v[*n].what, sizeof(v[*n].what), fmt, ap);
    va_end(ap);
    snprintf(v[*n].action, sizeof(v[*n].action), "%s", action);
    (*n)++;
}

#define PROBLEM(h, action, ...)                                                \
    note((h)->problems, &(h)->nproblems, action, __VA_ARGS__)
#define WARNING(h, action, ...)                                                \
    note((h)->warnings, &(h)->nwarnings, action, __VA_ARGS__)

/* Everything from Redis; a failure is a problem, not an error. */
static void health_query(health_t *h, cli_t *cli)
{
    char err[OCSP_ERR_MAX];

    int up;

    ocsp_rconn_init(&cli->redis, &cli->cf);
    cli->redis.quiet = 1;
    up = ocsp_rconn_ensure(&cli->redis, NULL, ocsp_now_ms() + 3000) == 0;
    /* the server reached or last tried: with Sentinel, the primary they
     * named (or a Sentinel), not redis.host */
    if (cli->redis.host[0] != '\0') {
        if (cli->redis.port == 0) {
            snprintf(h->redis_addr, sizeof(h->redis_addr), "unix:%s",
                     cli->redis.host);
        } else {
            snprintf(h->redis_addr, sizeof(h->redis_addr), "%s:%d",
                     cli->redis.host, cli->redis.port);
        }
    }
    if (!up) {
        snprintf(h->redis_err, sizeof(h->redis_err), "%s", cli->redis.err);
        return;
    }
    if (ocsp_health_replication(&cli->redis, &h->repl, err) != 0 ||
        ocsp_health_group(&cli->redis, cli->events_key, "signer", &h->signer,
                          err) != 0 ||
        ocsp_health_group(&cli->redis, cli->events_key, "crlgen", &h->crlgen,
                          err) != 0) {
        snprintf(h->redis_err, sizeof(h->redis_err), "%s", err);
        return;
    }
    for (size_t i = 0; i < h->nissuers; i++) {
        health_issuer_t *hi = &h->issuers[i];
        if (ocsp_health_due(&cli->redis, cli->cf.prefix, hi->name, &hi->due,
                            err) != 0 ||
            ocsp_health_crl(&cli->redis, cli->cf.prefix, hi->name, &hi->crl,
                            err) != 0) {
            snprintf(h->redis_err, sizeof(h->redis_err), "%s", err);
            return;
        }
        hi->queried = 1;
    }
    h->reachable = 1;
}

/* A CRL of ISSUER (KIND) whose nextUpdate is past or within a quarter of
 * its lifetime, as the RevocaCRLNextUpdateClose alert. */
static void judge_crl(health_t *h, const char *issuer, const char *kind,
                      uint64_t number, int64_t this_update, int64_t next_update)
{
    if (number == 0 || next_update == 0) {
        return;
    }
    if (next_update <= h->now) {
        PROBLEM(h,
                "check revoca-crlgen (journalctl -u revoca-crlgen); "
                "docs/crl.md",
                "issuer %s: the %s CRL (number %llu) expired %llds ago", issuer,
                kind, (unsigned long long)number,
                (long long)(h->now - next_update));
    } else if ((next_update - h->now) * 4 < next_update - this_update) {
        PROBLEM(h,
                "check revoca-crlgen (journalctl -u revoca-crlgen); "
                "docs/crl.md",
                "issuer %s: the %s CRL (number %llu) expires in %llds, less "
                "than a quarter of its lifetime",
                issuer, kind, (unsigned long long)number,
                (long long)(next_update - h->now));
    }
}

static void health_judge(health_t *h, int64_t max_lag, int64_t max_overdue)
{
    if (!h->reachable) {
        PROBLEM(h,
                "start redis-server, or check redis.* in the configuration "
                "(docs/redis.md)",
                "redis %s: %s", h->redis_addr, h->redis_err);
    } else {
        if (strcmp(h->repl.role, "slave") == 0) {
            PROBLEM(h,
                    "point redis.host at the primary (docs/ha.md); writes "
                    "go there",
                    "redis %s is a replica (link to its primary: %s)",
                    h->redis_addr,
                    h->repl.master_link[0] ? h->repl.master_link : "?");
        }
        for (size_t i = 0; i < h->repl.nreplicas; i++) {
            if (strcmp(h->repl.replicas[i].state, "online") != 0) {
                PROBLEM(h, "check the replica's redis log (docs/ha.md)",
                        "redis replica %s is %s", h->repl.replicas[i].addr,
                        h->repl.replicas[i].state);
            }
        }
        if (!h->signer.exists) {
            PROBLEM(h, "start revoca-signer (systemctl start revoca-signer)",
                    "no signer has read the event stream yet (no group "
                    "\"signer\")");
        } else if ((h->signer.lag < 0 ? 0 : h->signer.lag) + h->signer.pending >
                   max_lag) {
            PROBLEM(h,
                    "is revoca-signer running? journalctl -u "
                    "revoca-signer; docs/operations.md#revocasignerlag",
                    "signer: %lld events behind the stream (lag %lld, "
                    "pending %lld, consumers %lld)",
                    (long long)((h->signer.lag < 0 ? 0 : h->signer.lag) +
                                h->signer.pending),
                    (long long)h->signer.lag, (long long)h->signer.pending,
                    (long long)h->signer.consumers);
        }
        if (h->crlgen.exists &&
            (h->crlgen.lag < 0 ? 0 : h->crlgen.lag) + h->crlgen.pending >
                max_lag) {
            PROBLEM(h, "is revoca-crlgen running? journalctl -u revoca-crlgen",
                    "crlgen: %lld events behind the stream (lag %lld, "
                    "pending %lld)",
                    (long long)((h->crlgen.lag < 0 ? 0 : h->crlgen.lag) +
                                h->crlgen.pending),
                    (long long)h->crlgen.lag, (long long)h->crlgen.pending);
        }
    }
    for (size_t i = 0; i < h->nissuers; i++) {
        const health_issuer_t *hi = &h->issuers[i];
        int64_t overdue = ocsp_health_overdue(&hi->due, h->now);

        if (hi->cert_expiry < HEALTH_CERT_CRITICAL) {
            PROBLEM(h, "rotate the responder key: docs/keys.md#rotation",
                    "issuer %s: the responder certificate %s %llds", hi->name,
                    hi->cert_expiry < 0 ? "expired" : "expires in",
                    (long long)(hi->cert_expiry < 0 ? -hi->cert_expiry
                                                    : hi->cert_expiry));
        } else if (hi->cert_expiry < HEALTH_CERT_WARNING) {
            WARNING(h, "rotate the responder key: docs/keys.md#rotation",
                    "issuer %s: the responder certificate expires in %lld "
                    "days",
                    hi->name, (long long)(hi->cert_expiry / 86400));
        }
        if (!hi->queried) {
            continue;
        }
        if (overdue > max_overdue) {
            PROBLEM(h,
                    "is revoca-signer running and able to sign? "
                    "docs/operations.md#revocaresponsesabouttoexpire",
                    "issuer %s: a re-sign is %llds overdue", hi->name,
                    (long long)overdue);
        }
        judge_crl(h, hi->name, "full", hi->crl.full_number,
                  hi->crl.full_this_update, hi->crl.full_next_update);
        judge_crl(h, hi->name, "delta", hi->crl.delta_number,
                  hi->crl.delta_this_update, hi->crl.delta_next_update);
        if (hi->crl.full_number != 0 && hi->crl.lease_holder[0] == '\0') {
            PROBLEM(h, "is revoca-crlgen running? journalctl -u revoca-crlgen",
                    "issuer %s: no CRL generator holds the lease", hi->name);
        } else if (hi->crl.full_number == 0 && h->crlgen.exists) {
            WARNING(h, "see revoca-crlgen's log",
                    "issuer %s: no CRL published yet", hi->name);
        }
    }
}

/* V seconds for a reader ("45s", "3m20s", "5h2m", "364d23h"; "-" when
 * not KNOWN). */
static const char *secs(char *buf, size_t cap, int known, int64_t v)
{
    const char *sign = v < 0 ? "-" : "";
    long long a = v < 0 ? -(long long)v : (long long)v;

    if (!known) {
        return "-";
    }
    if (a < 60) {
        snprintf(buf, cap, "%s%llds", sign, a);
    } else if (a < 3600) {
        snprintf(buf, cap, "%s%lldm%llds", sign, a / 60, a % 60);
    } else if (a < 86400) {
        snprintf(buf, cap, "%s%lldh%lldm", sign, a / 3600, a % 3600 / 60);
    } else {
        snprintf(buf, cap, "%s%lldd%lldh", sign, a / 86400, a % 86400 / 3600);
    }
    return buf;
}

static void print_group(const char *name, const ocsp_health_group_t *g)
{
    if (!g->exists) {
        printf("  %-7s -\n", name);
        return;
    }
    printf("  %-7s lag=%lld pending=%lld consumers=%lld\n", name,
           (long long)g->lag, (long long)g->pending, (long long)g->consumers);
}

static void print_notes(const char *title, const health_note_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        printf("%s: %s\n    action: %s\n", title, v[i].what, v[i].action);
    }
}

static void print_table(const health_t *h)
{
    char b[6][32];

    printf("redis %s: %s", h->redis_addr,
           h->reachable ? "reachable" : "UNREACHABLE");
    if (h->reachable) {
        printf(" role=%s replicas=%lld", h->repl.role,
               (long long)h->repl.connected_replicas);
    }
    printf("\n");
    for (size_t i = 0; i < h->repl.nreplicas; i++) {
        printf("  replica %s state=%s lag=%llds behind=%lld bytes\n",
               h->repl.replicas[i].addr, h->repl.replicas[i].state,
               (long long)h->repl.replicas[i].lag,
               (long long)h->repl.replicas[i].offset_behind);
    }
    if (h->reachable) {
        printf("stream groups (all issuers share the stream):\n");
        print_group("signer", &h->signer);
        print_group("crlgen", &h->crlgen);
    }
    printf("%-16s %8s %10s %10s %12s %14s %14s %s\n", "ISSUER", "DUE",
           "OVERDUE", "OLDEST", "RESPONDER", "FULL CRL", "DELTA CRL", "LEASE");
    for (size_t i = 0; i < h->nissuers; i++) {
        const health_issuer_t *hi = &h->issuers[i];
        char full[40], delta[40], due[24];

        snprintf(due, sizeof(due), "%lld", (long long)hi->due.due);
        snprintf(full, sizeof(full), "#%llu %s",
                 (unsigned long long)hi->crl.full_number,
                 secs(b[3], sizeof(b[3]), hi->crl.full_next_update != 0,
                      hi->crl.full_next_update - h->now));
        snprintf(delta, sizeof(delta), "#%llu %s",
                 (unsigned long long)hi->crl.delta_number,
                 secs(b[4], sizeof(b[4]), hi->crl.delta_next_update != 0,
                      hi->crl.delta_next_update - h->now));
        printf("%-16s %8s %10s %10s %12s %14s %14s %s\n", hi->name,
               hi->queried ? due : "-",
               secs(b[0], sizeof(b[0]), hi->queried,
                    ocsp_health_overdue(&hi->due, h->now)),
               secs(b[1], sizeof(b[1]),
                    hi->queried && hi->due.oldest_this_update != 0,
                    h->now - hi->due.oldest_this_update),
               secs(b[2], sizeof(b[2]), 1, hi->cert_expiry),
               hi->queried && hi->crl.full_number ? full : "-",
               hi->queried && hi->crl.delta_number ? delta : "-",
               hi->crl.lease_holder[0] ? hi->crl.lease_holder : "-");
    }
    printf("(OVERDUE: most overdue re-sign; OLDEST: age of the response due "
           "first;\n RESPONDER: until the responder certificate expires; "
           "CRL: number, until nextUpdate)\n");
    print_notes("PROBLEM", h->problems, h->nproblems);
    print_notes("warning", h->warnings, h->nwarnings);
    printf("%s\n", h->nproblems == 0 ? "healthy" : "UNHEALTHY");
}

static void json_group(const char *name, const ocsp_health_group_t *g)
{
    printf("\"%s\":", name);
    if (!g->exists) {
        printf("null");
        return;
    }
    printf("{\"lag\":%lld,\"pending\":%lld,\"consumers\":%lld}",
           (long long)g->lag, (long long)g->pending, (long long)g->consumers);
}

static void json_notes(const char *name, const health_note_t *v, size_t n)
{
    printf("\"%s\":[", name);
    for (size_t i = 0; i < n; i++) {
        printf("%s{\"what\":", i ? "," : "");
        cli_json_str(stdout, v[i].what);
        printf(",\"action\":");
        cli_json_str(stdout, v[i].action);
        printf("}");
    }
    printf("]");
}

static void print_json(const health_t *h)
{
    printf("{\"healthy\":%s,\"time\":%lld,\"redis\":{\"address\":",
           h->nproblems == 0 ? "true" : "false", (long long)h->now);
    cli_json_str(stdout, h->redis_addr);
    printf(",\"reachable\":%s", h->reachable ? "true" : "false");
    if (!h->reachable) {
        printf(",\"error\":");
        cli_json_str(stdout, h->redis_err);
    } else {
        printf(",\"role\":");
        cli_json_str(stdout, h->repl.role);
        printf(",\"connected_replicas\":%lld,\"replicas\":[",
               (long long)h->repl.connected_replicas);
        for (size_t i = 0; i < h->repl.nreplicas; i++) {
            printf("%s{\"address\":", i ? "," : "");
            cli_json_str(stdout, h->repl.replicas[i].addr);
            printf(",\"state\":");
            cli_json_str(stdout, h->repl.replicas[i].state);
            printf(",\"lag_seconds\":%lld,\"behind_bytes\":%lld}",
                   (long long)h->repl.replicas[i].lag,
                   (long long)h->repl.replicas[i].offset_behind);
        }
        printf("]");
        if (h->repl.master_link[0]) {
            printf(",\"master_link\":");
            cli_json_str(stdout, h->repl.master_link);
        }
    }
    printf("},\"groups\":{");
    json_group("signer", &h->signer);
    printf(",");
    json_group("crlgen", &h->crlgen);
    printf("},\"issuers\":[");
    for (size_t i = 0; i < h->nissuers; i++) {
        const health_issuer_t *hi = &h->issuers[i];
        printf("%s{\"name\":", i ? "," : "");
        cli_json_str(stdout, hi->name);
        printf(",\"responder_cert_expiry_seconds\":%lld",
               (long long)hi->cert_expiry);
        if (hi->queried) {
            printf(",\"due\":%lld,\"resign_overdue_seconds\":%lld",
                   (long long)hi->due.due,
                   (long long)ocsp_health_overdue(&hi->due, h->now));
            if (hi->due.oldest_this_update != 0) {
                printf(",\"oldest_response_age_seconds\":%lld",
                       (long long)(h->now - hi->due.oldest_this_update));
            }
            printf(",\"crl\":{\"full_number\":%llu,\"full_this_update\":%lld,"
                   "\"full_next_update\":%lld,\"delta_number\":%llu,"
                   "\"delta_this_update\":%lld,\"delta_next_update\":%lld,"
                   "\"lease_holder\":",
                   (unsigned long long)hi->crl.full_number,
                   (long long)hi->crl.full_this_update,
                   (long long)hi->crl.full_next_update,
                   (unsigned long long)hi->crl.delta_number,
                   (long long)hi->crl.delta_this_update,
                   (long long)hi->crl.delta_next_update);
            if (hi->crl.lease_holder[0]) {
                cli_json_str(stdout, hi->crl.lease_holder);
            } else {
                printf("null");
            }
            printf("}");
        }
        printf("}");
    }
    printf("],");
    json_notes("problems", h->problems, h->nproblems);
    printf(",");
    json_notes("warnings", h->warnings, h->nwarnings);
    printf("}\n");
}

/* A non-negative integer option.  0, or -1 after a message. */
static int health_number(const char *opt, const char *s, int64_t *v)
{
    if (ocsp_parse_int64(s, strlen(s), 0, v) != 0) {
        cli_err("health: %s wants a non-negative integer, not \"%s\"", opt, s);
        return -1;
    }
    return 0;
}

int cli_health(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"max-lag", required_argument, NULL, 'l'},
        {"max-overdue", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    int64_t max_lag = HEALTH_DEFAULT_MAX_LAG;
    int64_t max_overdue = HEALTH_DEFAULT_MAX_OVERDUE;
    int json = 0, c;
    ocsp_registry_t reg;
    health_t *h;

    optind = 1;
    while ((c = cli_getopt(argc, argv, longopts)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "json") == 0) {
                json = 1;
            } else if (strcmp(optarg, "table") != 0) {
                cli_err("health: --format is table or json, not \"%s\"",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'l':
            if (health_number("--max-lag", optarg, &max_lag) != 0) {
                return CLI_EXIT_USAGE;
            }
            break;
        case 'o':
            if (health_number("--max-overdue", optarg, &max_overdue) != 0) {
                return CLI_EXIT_USAGE;
            }
            break;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_err("health: unexpected argument %s", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    /* the certificates only: no keys are needed to look */
    if (ocsp_registry_load(&reg, &cli->cf, 0) != 0) {
        cli_err("%s: %s", cli->cf.path, reg.err);
        return CLI_EXIT_USAGE;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL ||
        (h->issuers = calloc(reg.n ? reg.n : 1, sizeof(*h->issuers))) == NULL) {
        cli_err("out of memory");
        free(h);
        ocsp_registry_free(&reg);
        return CLI_EXIT_FAIL;
    }
    h->now = (int64_t)time(NULL);
    if (cli->cf.redis_port == 0) {
        snprintf(h->redis_addr, sizeof(h->redis_addr), "unix:%s",
                 cli->cf.redis_host);
    } else {
        snprintf(h->redis_addr, sizeof(h->redis_addr), "%s:%d",
                 cli->cf.redis_host, cli->cf.redis_port);
    }
    h->nissuers = reg.n;
    for (size_t i = 0; i < reg.n; i++) {
        h->issuers[i].name = reg.issuers[i].conf->name;
        h->issuers[i].cert_expiry =
            ocsp_issuer_responder_expiry(&reg.issuers[i], (time_t)h->now);
    }
    health_query(h, cli);
    health_judge(h, max_lag, max_overdue);
    if (json) {
        print_json(h);
    } else {
        print_table(h);
    }
    c = h->nproblems == 0 ? 0 : CLI_EXIT_FAIL;
    free(h->issuers);
    free(h);
    ocsp_registry_free(&reg);
    return c;
}
