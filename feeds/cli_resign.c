/*
 * revoca resign: makes an issuer's stored responses due for re-signing now,
 * after a responder certificate rotation (docs/keys.md), and counts which
 * responder signed them (--status).
 *
 * Re-signing is the signer's: this command only lowers scores in the due
 * set P:due:ISSUER (keys.h), which the signer claims from by time.  The
 * scores are spread over a window of count / rate seconds, so that the
 * re-signs take at most RATE signatures a second from the signer and new
 * events keep their turn.  ZADD XX LT: only certificates already in the set
 * (an expired one dropped from it stays dropped), and a score is only ever
 * made earlier (a response due sooner keeps its time).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "issuer.h"
#include "keys.h"
#include "serial.h"
#include "stored.h"

#define RESIGN_DEFAULT_RATE 50 /* re-signs a second */
#define RESIGN_MAX_RATE 100000
#define RESIGN_PAGE "500"       /* SCAN COUNT */
#define RESIGN_PAGE_MAX 4096    /* members one page may hold */
#define RESIGN_PROGRESS_EVERY 5 /* seconds between lines off a terminal */

typedef struct {
    int tty;
    time_t last;
} progress_t;

static void progress(progress_t *p, const char *what, long long done, int end)
{
    time_t now = time(NULL);

    if (p->tty) {
        fprintf(stderr, "\rresign: %s %lld%s", what, done, end ? "\n" : "");
    } else if (end || now - p->last >= RESIGN_PROGRESS_EVERY) {
        fprintf(stderr, "resign: %s %lld\n", what, done);
        p->last = now;
    }
}

/* A SCAN-family reply: [cursor, [elements...]]. */
static int scan_page(const redisReply *r, char *cursor, size_t cap,
                     const redisReply **elems)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[0]->len >= cap || r->element[1]->type != REDIS_REPLY_ARRAY ||
        r->element[1]->elements > RESIGN_PAGE_MAX) {
        return -1;
    }
    memcpy(cursor, r->element[0]->str, r->element[0]->len);
    cursor[r->element[0]->len] = '\0';
    *elems = r->element[1];
    return 0;
}

/* Lowers the scores of N serials SERIALS (from i0 on in the spread) in
 * DUE_KEY; adds how many changed to *moved.  0, or -1 after a message. */
static int schedule(cli_t *cli, const char *due_key, const redisReply *const *m,
                    size_t n, int64_t start, long long i0, long rate,
                    long long *moved)
{
    const char **argv = calloc(5 + 2 * n, sizeof(char *));
    size_t *lens = calloc(5 + 2 * n, sizeof(size_t));
    char(*scores)[24] = calloc(n ? n : 1, sizeof(*scores));
    redisReply *r = NULL;
    size_t k, argc = 0;
    int ret = -1;
    int64_t v;

    if (argv == NULL || lens == NULL || scores == NULL) {
        cli_err("out of memory");
        goto done;
    }
    argv[argc] = "ZADD", lens[argc++] = 4;
    argv[argc] = due_key, lens[argc++] = strlen(due_key);
    argv[argc] = "XX", lens[argc++] = 2;
    argv[argc] = "LT", lens[argc++] = 2;
    argv[argc] = "CH", lens[argc++] = 2;
    for (k = 0; k < n; k++) {
        snprintf(scores[k], sizeof(scores[k]), "%lld",
                 (long long)(start + (i0 + (long long)k) / rate));
        argv[argc] = scores[k], lens[argc++] = strlen(scores[k]);
        argv[argc] = m[k]->str, lens[argc++] = m[k]->len;
    }
    if (n == 0) {
        ret = 0;
        goto done;
    }
    r = ocsp_rconn_cmd(&cli->redis, (int)argc, argv, lens);
    if (r == NULL || ocsp_reply_int64(r, 0, &v) != 0) {
        cli_err("redis: %s", cli_reply_why(cli, r, "unexpected reply"));
        goto done;
    }
    *moved += v;
    ret = 0;

done:
    if (r != NULL) {
        freeReplyObject(r);
    }
    free(scores);
    free(lens);
    free(argv);
    return ret;
}

/* --all: every member of the due set, page by page. */
static int resign_all(cli_t *cli, const char *due_key, long rate)
{
    char cursor[32] = "0";
    const char *argv[] = {"ZSCAN", due_key, cursor, "COUNT", RESIGN_PAGE};
    const redisReply *m[RESIGN_PAGE_MAX / 2];
    int64_t start = (int64_t)time(NULL);
    long long seen = 0, moved = 0;
    progress_t p = {isatty(2), 0};
    redisReply *r;
    const redisReply *el;

    do {
        size_t n = 0;
        r = ocsp_rconn_cmd(&cli->redis, 5, argv, NULL);
        if (r == NULL || scan_page(r, cursor, sizeof(cursor), &el) != 0) {
            cli_err("redis: ZSCAN %s: %s", due_key,
                    cli_reply_why(cli, r, "unexpected reply"));
            if (r != NULL) {
                freeReplyObject(r);
            }
            return CLI_EXIT_FAIL;
        }
        /* ZSCAN's page: member, score, member, score... */
        for (size_t k = 0; k + 1 < el->elements; k += 2) {
            const redisReply *e = el->element[k];
            if (e->type == REDIS_REPLY_STRING &&
                e->len <= OCSP_SERIAL_HEX_MAX) {
                m[n++] = e;
            }
        }
        if (schedule(cli, due_key, m, n, start, seen, rate, &moved) != 0) {
            freeReplyObject(r);
            return CLI_EXIT_FAIL;
        }
        seen += (long long)n;
        freeReplyObject(r);
        progress(&p, "scheduled", seen, 0);
    } while (strcmp(cursor, "0") != 0);
    progress(&p, "scheduled", seen, 1);
    /* ZSCAN may return a member twice: its second score, later, was not
     * taken (LT), so MOVED counts each certificate once. */
    printf("resign: %lld certificates scheduled for re-signing over %lld s "
           "(%ld a second); %lld made earlier, the others were due sooner\n",
           seen, seen ? (seen - 1) / rate + 1 : 0LL, rate, moved);
    return 0;
}

/* --status: which responder signed each stored response. */
static int resign_status(cli_t *cli, const ocsp_issuer_conf_t *ic)
{
    ocsp_registry_t reg;
    const ocsp_issuer_t *iss;
    char pattern[OCSP_KEY_MAX + 2], cursor[32] = "0";
    const char *argv[] = {"SCAN",  cursor,  "MATCH",
                          pattern, "COUNT", RESIGN_PAGE};
    long long by[1 + OCSP_PREVIOUS_RESPONDERS_MAX] = {0}, other = 0;
    progress_t p = {isatty(2), 0};
    long long seen = 0;
    int status = CLI_EXIT_FAIL;
    redisReply *r = NULL;
    const redisReply *el;

    if (ocsp_registry_load(&reg, &cli->cf, 0) != 0) {
        cli_err("%s", reg.err);
        return CLI_EXIT_USAGE;
    }
    iss = ocsp_registry_by_name(&reg, ic->name);
    /* P:ocsp:ISSUER:SERIAL with SERIAL '*': the issuer name is
     * [a-z0-9-] and the prefix validated, no glob character in them. */
    ocsp_key_ocsp(pattern, cli->cf.prefix, ic->name, "1");
    pattern[strlen(pattern) - 1] = '*';
    do {
        size_t n = 0;
        r = ocsp_rconn_cmd(&cli->redis, 6, argv, NULL);
        if (r == NULL || scan_page(r, cursor, sizeof(cursor), &el) != 0) {
            cli_err("redis: SCAN: %s", r && r->type == REDIS_REPLY_ERROR
                                           ? r->str
                                           : cli->redis.err);
            goto done;
        }
        for (size_t k = 0; k < el->elements; k++) {
            const char *get[] = {"GET", el->element[k]->str};
            size_t lens[] = {3, el->element[k]->len};
            if (el->element[k]->type == REDIS_REPLY_STRING &&
                ocsp_rconn_append(&cli->redis, 2, get, lens) == 0) {
                n++;
            }
        }
        for (size_t k = 0; k < n; k++) {
            redisReply *v = ocsp_rconn_reply(&cli->redis);
            ocsp_stored_t st;
            const char *why;
            int who = -1;
            if (v == NULL) {
                cli_err("redis: %s", cli->redis.err);
                goto done;
            }
            if (v->type == REDIS_REPLY_STRING &&
                ocsp_stored_decode((const unsigned char *)v->str, v->len, &st,
                                   &why) == 0) {
                who = ocsp_stored_signer(iss, &st);
            }
            if (v->type != REDIS_REPLY_NIL) {
                seen++;
                if (who < 0) {
                    other++;
                } else {
                    by[who]++;
                }
            }
            freeReplyObject(v);
        }
        freeReplyObject(r);
        r = NULL;
        progress(&p, "counted", seen, 0);
    } while (strcmp(cursor, "0") != 0);
    progress(&p, "counted", seen, 1);
    printf("issuer %s: %lld stored responses\n", ic->name, seen);
    printf("  current responder %s: %lld\n",
           ic->responder_cert_path ? ic->responder_cert_path
                                   : "(the CA itself)",
           by[0]);
    for (size_t i = 0; i < ic->nprevious_responders; i++) {
        printf("  previous responder %s: %lld\n",
               ic->previous_responder_cert_paths[i], by[i + 1]);
    }
    printf("  other or invalid: %lld\n", other);
    status = 0;

done:
    if (r != NULL) {
        freeReplyObject(r);
    }
    ocsp_registry_free(&reg);
    return status;
}

int cli_resign(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"serial", required_argument, NULL, 's'},
        {"all", no_argument, NULL, 'a'},
        {"status", no_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0}};
    const char *issuer = NULL, *serial_arg = NULL, *rate_arg = NULL;
    char serial[OCSP_SERIAL_HEX_MAX + 1], due_key[OCSP_KEY_MAX], *e;
    int all = 0, show = 0, c, status;
    long rate = RESIGN_DEFAULT_RATE;
    const ocsp_issuer_conf_t *ic;

    optind = 1;
    while ((c = cli_getopt(argc, argv, longopts)) != -1) {
        switch (c) {
        case 'i':
            issuer = optarg;
            break;
        case 's':
            serial_arg = optarg;
            break;
        case 'a':
            all = 1;
            break;
        case 'S':
            show = 1;
            break;
        case 'r':
            rate_arg = optarg;
            break;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_err("resign: unexpected argument %s", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if ((serial_arg != NULL) + all + show != 1) {
        cli_err("resign: one of --all, --serial HEX or --status");
        return CLI_EXIT_USAGE;
    }
    if (rate_arg != NULL) {
        rate = strtol(rate_arg, &e, 10);
        if (*rate_arg == '\0' || *e != '\0' || rate < 1 ||
            rate > RESIGN_MAX_RATE) {
            cli_err("resign: --rate: re-signs a second, 1..%d",
                    RESIGN_MAX_RATE);
            return CLI_EXIT_USAGE;
        }
    }
    if (serial_arg != NULL && ocsp_serial_from_hex(serial_arg, serial) != 0) {
        cli_err("resign: --serial HEX (positive, at most 20 octets)");
        return CLI_EXIT_USAGE;
    }
    if ((ic = cli_issuer(cli, issuer, NULL)) == NULL) {
        return CLI_EXIT_USAGE;
    }
    if (cli_connect(cli) != 0) {
        return CLI_EXIT_FAIL;
    }
    if (show) {
        return resign_status(cli, ic);
    }
    ocsp_key_due(due_key, cli->cf.prefix, ic->name);
    if (all) {
        return resign_all(cli, due_key, rate);
    }
    {
        redisReply one = {
            .type = REDIS_REPLY_STRING, .str = serial, .len = strlen(serial)};
        const redisReply *m[] = {&one};
        const char *zscore[] = {"ZSCORE", due_key, serial};
        long long moved = 0;
        redisReply *r = ocsp_rconn_cmd(&cli->redis, 3, zscore, NULL);

        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            cli_err("redis: %s", r ? r->str : cli->redis.err);
            status = CLI_EXIT_FAIL;
        } else if (r->type == REDIS_REPLY_NIL) {
            cli_err("resign: issuer %s has no certificate %s to re-sign "
                    "(never issued, or expired and dropped)",
                    ic->name, serial);
            status = CLI_EXIT_USAGE;
        } else {
            status = schedule(cli, due_key, m, 1, (int64_t)time(NULL), 0, 1,
                              &moved) != 0
                         ? CLI_EXIT_FAIL
                         : 0;
            if (status == 0) {
                printf("resign: %s scheduled for re-signing now\n", serial);
            }
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    return status;
}
