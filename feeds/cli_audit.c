/*
 * revoca audit verify [--since ID] [--archive DIR]: recomputes the chain
 * over the archive segments (audit.archive_dir) then the event stream and
 * compares it with the chain store revoca-audit keeps, and checks every
 * signed checkpoint (docs/audit.md "Verification").  0 and a summary when
 * intact; 1 naming the first entry (or segment) deleted, inserted,
 * reordered or changed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_chain.h"
#include "audit_archive.h"
#include "audit_checkpoint.h"
#include "audit_segment.h"
#include "issuer.h"
#include "cli.h"

#define AUDIT_PAGE 1000

typedef struct {
    cli_t *cli;
    char chain_key[OCSP_KEY_MAX];
    uint64_t head_count;
    char head_id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char head_link[OCSP_AUDIT_LINK_LEN];
    int have_head;
    /* the walk */
    char prev_id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char link[OCSP_AUDIT_LINK_LEN];
    int started;
    uint64_t checked, pending;
    int head_seen;
    /* the archive: the last entry it holds (from the segments, or from
     * <prefix>:audit:archive when they are not read) */
    int have_archive;
    uint64_t ar_count;
    char ar_last[OCSP_AUDIT_ID_MAX + 1];
    unsigned char ar_link[OCSP_AUDIT_LINK_LEN];
    uint64_t ar_entries, ar_segments, also_in_stream;
    long t0;
} audit_verify_t;

static int tampered(const char *fmt, const char *a, const char *b)
{
    printf("TAMPERED: ");
    printf(fmt, a, b);
    printf("\n");
    return CLI_EXIT_FAIL;
}

/* The chain record of ID: 1 found, 0 none, -1 failure (said). */
static int get_rec(audit_verify_t *v, const char *id, char *prev,
                   unsigned char *link)
{
    const char *argv[] = {"HGET", v->chain_key, id};
    redisReply *r = ocsp_rconn_cmd(&v->cli->redis, 3, argv, NULL);
    int rc = -1;

    if (r == NULL) {
        cli_err("%s", v->cli->redis.err);
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (r->type == REDIS_REPLY_STRING &&
               ocsp_audit_rec_decode(r->str, r->len, prev, link) == 0) {
        rc = 1;
    } else {
        printf("TAMPERED: %s field %s: not a chain record\n", v->chain_key, id);
        rc = -2;
    }
    freeReplyObject(r);
    return rc;
}

/* One entry of the stream.  0 to go on, or an exit status. */
/* The chain record REC (an element of HMGET's reply) of ID: 1 found, 0
 * none, -2 not a record (said). */
static int parse_rec(audit_verify_t *v, const redisReply *rec, const char *id,
                     char *prev, unsigned char *link)
{
    if (rec->type == REDIS_REPLY_NIL) {
        return 0;
    }
    if (rec->type == REDIS_REPLY_STRING &&
        ocsp_audit_rec_decode(rec->str, rec->len, prev, link) == 0) {
        return 1;
    }
    printf("TAMPERED: %s field %s: not a chain record\n", v->chain_key, id);
    return -2;
}

static int check_entry(audit_verify_t *v, const char *id, size_t idlen,
                       const unsigned char *field, size_t flen,
                       const redisReply *rec)
{
    char rprev[OCSP_AUDIT_ID_MAX + 1], sid[OCSP_AUDIT_ID_MAX + 1];
    unsigned char rlink[OCSP_AUDIT_LINK_LEN], want[OCSP_AUDIT_LINK_LEN];
    int got;

    memcpy(sid, id, idlen);
    sid[idlen] = '\0';
    if (v->have_archive && ocsp_audit_id_cmp(sid, v->ar_last) <= 0) {
        /* archived, not trimmed yet (a consumer group still needs it): the
         * segment holding it was checked */
        v->also_in_stream++;
        return 0;
    }
    if (v->have_head && ocsp_audit_id_cmp(sid, v->head_id) > 0) {
        v->pending++; /* after the head: not chained yet */
        return 0;
    }
    got = parse_rec(v, rec, sid, rprev, rlink);
    if (got < 0) {
        return CLI_EXIT_FAIL;
    }
    if (got == 0) {
        return tampered("entry %s of %s is not in the chain (inserted)", sid,
                        v->cli->events_key);
    }
    if (!v->started) {
        /* The first entry read: from the genesis, or (--since, or a
         * stream trimmed) from its predecessor's chained link. */
        snprintf(v->prev_id, sizeof(v->prev_id), "%s", rprev);
        if (strcmp(rprev, "0-0") == 0) {
            ocsp_audit_genesis(v->link);
        } else if (v->have_archive && strcmp(rprev, v->ar_last) == 0) {
            memcpy(v->link, v->ar_link, sizeof(v->link));
        } else {
            char pp[OCSP_AUDIT_ID_MAX + 1];
            got = get_rec(v, rprev, pp, v->link);
            if (got < 0) {
                return CLI_EXIT_FAIL;
            }
            if (got == 0) {
                return tampered("entry %s: its predecessor %s has no chain "
                                "record",
                                sid, rprev);
            }
        }
        v->started = 1;
    }
    if (strcmp(rprev, v->prev_id) != 0) {
        /* The chain says something came between: deleted. */
        return tampered("entry %s was chained after %s, which is missing "
                        "from the stream (deleted)",
                        sid, rprev);
    }
    if (ocsp_audit_link(v->link, id, idlen, field, flen, want) != 0) {
        return tampered("entry %s%s: field too long", sid, "");
    }
    if (memcmp(want, rlink, sizeof(want)) != 0) {
        return tampered("entry %s: its bytes differ from those chained "
                        "(changed; chain record %s)",
                        sid, "mismatch");
    }
    memcpy(v->link, want, sizeof(want));
    memcpy(v->prev_id, sid, idlen + 1);
    v->checked++;
    if (v->have_head && strcmp(sid, v->head_id) == 0) {
        v->head_seen = 1;
        if (memcmp(v->link, v->head_link, sizeof(v->link)) != 0) {
            return tampered("entry %s: the chain head disagrees with its "
                            "record%s",
                            sid, "");
        }
    }
    return 0;
}

/* Every checkpoint: its signature, and its head against the chain
 * record of its last entry.  0, or an exit status (said). */
static int check_checkpoints(audit_verify_t *v, X509 *cert, uint64_t *n)
{
    char key[OCSP_KEY_MAX], start[OCSP_AUDIT_ID_MAX + 2] = "-";

    if (ocsp_audit_key_checkpoints(key, v->cli->cf.prefix) < 0) {
        return CLI_EXIT_FAIL;
    }
    for (;;) {
        const char *argv[] = {"XRANGE", key, start, "+", "COUNT", "1000"};
        redisReply *r = ocsp_rconn_cmd(&v->cli->redis, 6, argv, NULL);
        size_t got;

        if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
            cli_err("XRANGE %s: %s", key,
                    cli_reply_why(v->cli, r, "not an array"));
            freeReplyObject(r);
            return CLI_EXIT_FAIL;
        }
        got = r->elements;
        for (size_t i = 0; i < got; i++) {
            const redisReply *e = r->element[i], *f;
            const redisReply *c = NULL, *s = NULL;
            ocsp_audit_checkpoint_t cp;
            char prev[OCSP_AUDIT_ID_MAX + 1];
            unsigned char link[OCSP_AUDIT_LINK_LEN];
            int rec;

            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING ||
                e->element[1]->type != REDIS_REPLY_ARRAY) {
                freeReplyObject(r);
                printf("TAMPERED: %s: not a stream entry\n", key);
                return CLI_EXIT_FAIL;
            }
            f = e->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2) {
                if (f->element[k]->type != REDIS_REPLY_STRING ||
                    f->element[k + 1]->type != REDIS_REPLY_STRING) {
                    continue;
                }
                if (strcmp(f->element[k]->str, "c") == 0) {
                    c = f->element[k + 1];
                } else if (strcmp(f->element[k]->str, "s") == 0) {
                    s = f->element[k + 1];
                }
            }
            if (c == NULL || s == NULL ||
                ocsp_audit_checkpoint_decode(c->str, c->len, &cp) != 0) {
                printf("TAMPERED: checkpoint %s of %s: not a checkpoint\n",
                       e->element[0]->str, key);
                freeReplyObject(r);
                return CLI_EXIT_FAIL;
            }
            if (audit_checkpoint_verify(cert, (const unsigned char *)c->str,
                                        c->len, (const unsigned char *)s->str,
                                        s->len) != 0) {
                printf("TAMPERED: checkpoint %s of %s (count=%llu last=%s): "
                       "bad signature\n",
                       e->element[0]->str, key, (unsigned long long)cp.count,
                       cp.last_id);
                freeReplyObject(r);
                return CLI_EXIT_FAIL;
            }
            if (v->have_archive &&
                ocsp_audit_id_cmp(cp.last_id, v->ar_last) <= 0) {
                /* covered by the archive (the daemon removes these): its
                 * signature is checked; its head only at the archive's
                 * last entry, whose link is known */
                if (strcmp(cp.last_id, v->ar_last) == 0 &&
                    memcmp(cp.head, v->ar_link, sizeof(cp.head)) != 0) {
                    printf("TAMPERED: checkpoint %s of %s: its head at "
                           "entry %s differs from the archive\n",
                           e->element[0]->str, key, cp.last_id);
                    freeReplyObject(r);
                    return CLI_EXIT_FAIL;
                }
                (*n)++;
                if (i + 1 == got) {
                    snprintf(start, sizeof(start), "(%s", e->element[0]->str);
                }
                continue;
            }
            rec = get_rec(v, cp.last_id, prev, link);
            if (rec < 0) {
                freeReplyObject(r);
                return CLI_EXIT_FAIL;
            }
            if (rec == 0 || memcmp(link, cp.head, sizeof(link)) != 0) {
                printf("TAMPERED: checkpoint %s of %s: its head at entry %s "
                       "differs from the chain (%s)\n",
                       e->element[0]->str, key, cp.last_id,
                       rec == 0 ? "no record" : "changed");
                freeReplyObject(r);
                return CLI_EXIT_FAIL;
            }
            (*n)++;
            if (i + 1 == got) {
                snprintf(start, sizeof(start), "(%s", e->element[0]->str);
            }
        }
        freeReplyObject(r);
        if (got < 1000) {
            return 0;
        }
    }
}

static int verify(audit_verify_t *v, const char *since)
{
    char start[OCSP_AUDIT_ID_MAX + 2], count[16];
    long t0 = v->t0, ms;

    snprintf(start, sizeof(start), "%s", since ? since : "-");
    snprintf(count, sizeof(count), "%d", AUDIT_PAGE);
    if (v->have_archive && since == NULL) {
        /* the stream goes on from the archive's last entry */
        v->started = 1;
        memcpy(v->prev_id, v->ar_last, sizeof(v->prev_id));
        memcpy(v->link, v->ar_link, sizeof(v->link));
    }
    for (;;) {
        const char *argv[] = {"XRANGE", v->cli->events_key, start, "+", "COUNT",
                              count};
        redisReply *r = ocsp_rconn_cmd(&v->cli->redis, 6, argv, NULL);
        redisReply *recs = NULL;
        size_t n;

        if (r == NULL) {
            cli_err("%s", v->cli->redis.err);
            return CLI_EXIT_FAIL;
        }
        if (r->type != REDIS_REPLY_ARRAY) {
            cli_err("XRANGE %s: %s", v->cli->events_key,
                    cli_reply_why(v->cli, r, "not an array"));
            freeReplyObject(r);
            return CLI_EXIT_FAIL;
        }
        n = r->elements;
        /* The page's chain records, in one HMGET. */
        if (n > 0) {
            const char *hargv[2 + AUDIT_PAGE];
            size_t hlen[2 + AUDIT_PAGE];

            hargv[0] = "HMGET";
            hargv[1] = v->chain_key;
            hlen[0] = 5;
            hlen[1] = strlen(v->chain_key);
            for (size_t i = 0; i < n; i++) {
                const redisReply *e = r->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                    e->element[0]->type != REDIS_REPLY_STRING) {
                    cli_err("XRANGE %s: not a stream entry",
                            v->cli->events_key);
                    freeReplyObject(r);
                    return CLI_EXIT_FAIL;
                }
                hargv[2 + i] = e->element[0]->str;
                hlen[2 + i] = e->element[0]->len;
            }
            recs = ocsp_rconn_cmd(&v->cli->redis, (int)(2 + n), hargv, hlen);
            if (recs == NULL || recs->type != REDIS_REPLY_ARRAY ||
                recs->elements != n) {
                cli_err("HMGET %s: %s", v->chain_key,
                        cli_reply_why(v->cli, recs, "not an array"));
                freeReplyObject(recs);
                freeReplyObject(r);
                return CLI_EXIT_FAIL;
            }
        }
        for (size_t i = 0; i < n; i++) {
            const char *id;
            const unsigned char *field;
            size_t idlen, flen;
            int rc;

            if (ocsp_audit_entry(r->element[i], &id, &idlen, &field, &flen) !=
                0) {
                cli_err("XRANGE %s: not a stream entry", v->cli->events_key);
                freeReplyObject(recs);
                freeReplyObject(r);
                return CLI_EXIT_FAIL;
            }
            rc = check_entry(v, id, idlen, field, flen, recs->element[i]);
            if (rc != 0) {
                freeReplyObject(recs);
                freeReplyObject(r);
                return rc;
            }
            if (i + 1 == n) {
                snprintf(start, sizeof(start), "(%.*s", (int)idlen, id);
            }
        }
        freeReplyObject(recs);
        freeReplyObject(r);
        if (n < AUDIT_PAGE) {
            break;
        }
    }
    if (v->have_head && v->have_archive && !v->head_seen &&
        ocsp_audit_id_cmp(v->head_id, v->ar_last) <= 0) {
        /* everything chained is archived */
        if (strcmp(v->head_id, v->ar_last) != 0 ||
            memcmp(v->head_link, v->ar_link, sizeof(v->ar_link)) != 0) {
            return tampered("the chain head %s disagrees with the archive "
                            "(last %s)",
                            v->head_id, v->ar_last);
        }
        v->head_seen = 1;
    }
    if (v->have_head && !v->head_seen && v->head_count > 0) {
        return tampered("the chain head entry %s is missing from %s "
                        "(deleted)",
                        v->head_id, v->cli->events_key);
    }
    ms = ocsp_now_ms() - t0;
    printf("intact: %llu entries verified, %llu not yet chained, head=%s "
           "count=%llu, %.0f entries/s\n",
           (unsigned long long)(v->checked + v->ar_entries),
           (unsigned long long)v->pending, v->have_head ? v->head_id : "none",
           (unsigned long long)v->head_count,
           ms > 0 ? (double)(v->checked + v->ar_entries) * 1000.0 / (double)ms
                  : 0.0);
    return 0;
}

/* One segment, continuing the archive state of V.  0, or an exit status
 * (said). */
static int check_segment(audit_verify_t *v, const char *dir, const char *name,
                         X509 *cert)
{
    char path[4096], want[OCSP_AUDIT_SEG_NAME_MAX];
    ocsp_audit_seg_t s;
    ocsp_audit_seg_rec_t rec;
    int got, rc = CLI_EXIT_FAIL;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (ocsp_audit_seg_open_file(&s, path) != 0) {
        printf("TAMPERED: segment %s: %s\n", path, s.err);
        goto done;
    }
    if (strcmp(s.prev_id, v->ar_last) != 0 || s.first_count != v->ar_count ||
        memcmp(s.prev_link, v->ar_link, sizeof(v->ar_link)) != 0) {
        printf("TAMPERED: segment %s: starts after entry %s (count %llu), "
               "but the archive before it ends at %s (count %llu): a segment "
               "is missing, reordered or rewritten\n",
               path, s.prev_id, (unsigned long long)s.first_count, v->ar_last,
               (unsigned long long)v->ar_count);
        goto done;
    }
    while ((got = ocsp_audit_seg_next(&s, &rec)) == 1) {
    }
    if (got != 0) {
        printf("TAMPERED: segment %s: %s\n", path, s.err);
        goto done;
    }
    if (ocsp_audit_seg_name(s.first_id, want) != 0 || strcmp(want, name) != 0) {
        printf("TAMPERED: segment %s: its first entry is %s (it would be "
               "named %s: renamed or reordered)\n",
               path, s.first_id, want);
        goto done;
    }
    if (cert != NULL &&
        (s.sig_len == 0 || audit_checkpoint_verify(cert, s.cp_text, s.cp_len,
                                                   s.sig, s.sig_len) != 0)) {
        printf("TAMPERED: segment %s (count=%llu last=%s): %s\n", path,
               (unsigned long long)s.cp.count, s.cp.last_id,
               s.sig_len == 0 ? "its checkpoint is not signed"
                              : "bad checkpoint signature");
        goto done;
    }
    v->ar_count = s.cp.count;
    memcpy(v->ar_last, s.cp.last_id, sizeof(v->ar_last));
    memcpy(v->ar_link, s.cp.head, sizeof(v->ar_link));
    v->ar_entries += s.n;
    v->ar_segments++;
    rc = 0;
done:
    ocsp_audit_seg_close(&s);
    return rc;
}

/*
 * The archive in DIR, from the genesis, then what <prefix>:audit:archive
 * says was archived (KEY_*, have_key).  Leaves its last entry in V.  0, or
 * an exit status (said).
 */
static int check_archive(audit_verify_t *v, const char *dir, X509 *cert,
                         int have_key, uint64_t key_count, const char *key_id,
                         const unsigned char *key_link, const char *key)
{
    char **names, err[OCSP_ERR_MAX];
    long n = ocsp_audit_seg_list(dir, &names, err);
    int rc = 0;

    if (n < 0) {
        cli_err("%s", err);
        return CLI_EXIT_FAIL;
    }
    v->ar_count = 0;
    snprintf(v->ar_last, sizeof(v->ar_last), "0-0");
    ocsp_audit_genesis(v->ar_link);
    for (long i = 0; i < n && rc == 0; i++) {
        rc = check_segment(v, dir, names[i], cert);
    }
    ocsp_audit_seg_list_free(names, n);
    if (rc != 0) {
        return rc;
    }
    if (have_key) {
        int c = ocsp_audit_id_cmp(v->ar_last, key_id);

        if (c < 0) {
            printf("TAMPERED: the archive in %s ends at entry %s (count "
                   "%llu) but %s records %s (count %llu) archived: a "
                   "segment is missing (deleted)\n",
                   dir, v->ar_last, (unsigned long long)v->ar_count, key,
                   key_id, (unsigned long long)key_count);
            return CLI_EXIT_FAIL;
        }
        if (c == 0 && (v->ar_count != key_count ||
                       memcmp(v->ar_link, key_link, sizeof(v->ar_link)) != 0)) {
            printf("TAMPERED: the archive in %s ends at entry %s, whose link "
                   "differs from the one %s records\n",
                   dir, v->ar_last, key);
            return CLI_EXIT_FAIL;
        }
    }
    v->have_archive = n > 0;
    printf("archive: %llu segments, %llu entries verified, last=%s%s\n",
           (unsigned long long)v->ar_segments,
           (unsigned long long)v->ar_entries, v->ar_last,
           (n > 0 && !have_key) ||
                   (have_key && ocsp_audit_id_cmp(v->ar_last, key_id) > 0)
               ? " (its last segment not yet committed: revoca-audit "
                 "commits it at its next start)"
               : "");
    return 0;
}

int cli_audit(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"since", required_argument, NULL, 's'},
        {"archive", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0}};
    const char *since = NULL, *archive = NULL;
    char head_key[OCSP_KEY_MAX], ar_key[OCSP_KEY_MAX];
    char ar_id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char ar_link[OCSP_AUDIT_LINK_LEN];
    uint64_t ar_count = 0;
    int have_ar_key = 0;
    audit_verify_t v;
    audit_conf_t ac;
    char err[OCSP_ERR_MAX] = "";
    X509 *cert = NULL;
    uint64_t ncp = 0;
    redisReply *r;
    int opt, rc, unreadable;

    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        cli_err("audit: expected \"verify\"");
        return CLI_EXIT_USAGE;
    }
    argc--;
    argv++;
    optind = 1;
    while ((opt = cli_getopt(argc, argv, longopts)) != -1) {
        if (opt == 'a') {
            archive = optarg;
            continue;
        }
        if (opt != 's') {
            return CLI_EXIT_USAGE;
        }
        if (ocsp_audit_id_check(optarg, strlen(optarg)) != 0) {
            cli_err("--since %s: not a stream id MS-SEQ", optarg);
            return CLI_EXIT_USAGE;
        }
        since = optarg;
    }
    if (optind != argc) {
        cli_err("audit verify: unexpected argument %s", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    memset(&v, 0, sizeof(v));
    v.cli = cli;
    v.t0 = ocsp_now_ms();
    if (ocsp_audit_key_chain(v.chain_key, cli->cf.prefix) < 0 ||
        ocsp_audit_key_head(head_key, cli->cf.prefix) < 0 ||
        ocsp_audit_key_archive(ar_key, cli->cf.prefix) < 0) {
        cli_err("prefix too long");
        return CLI_EXIT_USAGE;
    }
    if (audit_conf_read(&cli->cf, &ac, err) != 0) {
        cli_err("%s", err);
        return CLI_EXIT_USAGE;
    }
    if (archive == NULL) {
        archive = ac.archive_dir;
    }
    if (cli_connect(cli) != 0) {
        return CLI_EXIT_FAIL;
    }
    {
        const char *hargv[] = {"GET", head_key};
        r = ocsp_rconn_cmd(&cli->redis, 2, hargv, NULL);
    }
    if (r == NULL) {
        cli_err("%s", cli->redis.err);
        return CLI_EXIT_FAIL;
    }
    if (r->type == REDIS_REPLY_STRING) {
        if (ocsp_audit_head_decode(r->str, r->len, &v.head_count, v.head_id,
                                   v.head_link) != 0) {
            freeReplyObject(r);
            printf("TAMPERED: %s: not a chain head\n", head_key);
            return CLI_EXIT_FAIL;
        }
        v.have_head = 1;
    } else if (r->type != REDIS_REPLY_NIL) {
        freeReplyObject(r);
        cli_err("GET %s: not a string", head_key);
        return CLI_EXIT_FAIL;
    }
    freeReplyObject(r);
    if (!v.have_head) {
        cli_err("%s: no chain yet (is revoca-audit running?)", head_key);
        return CLI_EXIT_FAIL;
    }
    {
        const char *aargv[] = {"GET", ar_key};
        r = ocsp_rconn_cmd(&cli->redis, 2, aargv, NULL);
    }
    if (r == NULL) {
        cli_err("%s", cli->redis.err);
        return CLI_EXIT_FAIL;
    }
    if (r->type == REDIS_REPLY_STRING) {
        if (ocsp_audit_head_decode(r->str, r->len, &ar_count, ar_id, ar_link) !=
            0) {
            freeReplyObject(r);
            printf("TAMPERED: %s: not COUNT ID LINK\n", ar_key);
            return CLI_EXIT_FAIL;
        }
        have_ar_key = 1;
    }
    freeReplyObject(r);
    if (ac.cert != NULL) {
        cert = ocsp_cert_load(ac.cert, &unreadable);
        if (cert == NULL) {
            cli_err("audit.cert %s: %s", ac.cert,
                    unreadable ? "cannot open" : "not a certificate");
            return CLI_EXIT_USAGE;
        }
    }
    if (archive != NULL && since == NULL) {
        rc = check_archive(&v, archive, cert, have_ar_key, ar_count, ar_id,
                           ar_link, ar_key);
        if (rc != 0) {
            X509_free(cert);
            return rc;
        }
    } else if (have_ar_key) {
        /* the stream goes on from what the key says was archived */
        v.have_archive = 1;
        v.ar_count = ar_count;
        memcpy(v.ar_last, ar_id, sizeof(v.ar_last));
        memcpy(v.ar_link, ar_link, sizeof(v.ar_link));
        printf("archive: not checked (%s), entries up to %s archived\n",
               since ? "--since" : "no audit.archive_dir nor --archive", ar_id);
    }
    rc = verify(&v, since);
    if (rc != 0 || cert == NULL) {
        if (rc == 0) {
            printf("checkpoints: not checked (no audit.cert)\n");
        }
        X509_free(cert);
        return rc;
    }
    rc = check_checkpoints(&v, cert, &ncp);
    X509_free(cert);
    if (rc == 0) {
        printf("checkpoints: %llu verified\n", (unsigned long long)ncp);
    }
    return rc;
}
