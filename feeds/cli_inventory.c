/*
 * revoca inventory: an issuer's certificates, one row each, printed as they
 * are read (inventory.h: one page of records held at a time, so a million
 * rows take the memory of one page).  Formats: an aligned table, CSV (RFC
 * 4180: CRLF line ends, a field with a comma, quote or line end quoted and
 * its quotes doubled) and JSON (one array, written row by row).
 */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "inventory.h"

typedef enum { FMT_TABLE, FMT_CSV, FMT_JSON } inv_format_e;

typedef struct {
    const char *issuer;
    unsigned statuses; /* bit per ocsp_inv_status_e; 0: all */
    int64_t within;    /* --expiring-within seconds; -1: not given */
    inv_format_e format;
} inv_opts_t;

/* Longest --expiring-within: ten years. */
#define INV_WITHIN_MAX (3650LL * 86400)

/* --status LIST (comma-separated, repeatable) into o->statuses.  0, or -1
 * after a message naming the flag. */
static int parse_statuses(const char *arg, inv_opts_t *o)
{
    const char *p = arg;

    for (;;) {
        size_t n = strcspn(p, ",");
        int st = ocsp_inv_status_parse(p, n);

        if (st < 0) {
            cli_err("--status %s: each of good, revoked, held, expired, "
                    "unknown (comma-separated)",
                    arg);
            return -1;
        }
        o->statuses |= 1u << st;
        if (p[n] == '\0') {
            return 0;
        }
        p += n + 1;
    }
}

static int parse_inv_opts(int argc, char **argv, inv_opts_t *o)
{
    static const struct option longopts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"status", required_argument, NULL, 's'},
        {"expiring-within", required_argument, NULL, 'e'},
        {"format", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0}};
    int c;

    memset(o, 0, sizeof(*o));
    o->within = -1;
    optind = 1;
    while ((c = cli_getopt(argc, argv, longopts)) != -1) {
        switch (c) {
        case 'i':
            o->issuer = optarg;
            break;
        case 's':
            if (parse_statuses(optarg, o) != 0) {
                return -1;
            }
            break;
        case 'e':
            if (ocsp_parse_duration(optarg, &o->within) != 0 || o->within < 1 ||
                o->within > INV_WITHIN_MAX) {
                cli_err("--expiring-within %s: a duration of 1s..3650d "
                        "(a whole number with s, m, h or d)",
                        optarg);
                return -1;
            }
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0) {
                o->format = FMT_TABLE;
            } else if (strcmp(optarg, "csv") == 0) {
                o->format = FMT_CSV;
            } else if (strcmp(optarg, "json") == 0) {
                o->format = FMT_JSON;
            } else {
                cli_err("--format %s: table, csv or json", optarg);
                return -1;
            }
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

/* T as RFC 3339 UTC into buf (21 bytes), or "" when !HAS. */
static const char *fmt_time(char *buf, int has, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    buf[0] = '\0';
    if (has && gmtime_r(&tt, &tm) != NULL) {
        strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return buf;
}

/* RFC 4180 2.6, 2.7: quoted when it holds a comma, a quote or a line end;
 * quotes doubled. */
static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static void print_header(FILE *f, inv_format_e format)
{
    if (format == FMT_TABLE) {
        fprintf(f, "%-40s %-7s %-20s %-20s %5s  %s\n", "SERIAL", "STATUS",
                "NOT_BEFORE", "NOT_AFTER", "SHARD", "SUBJECT");
    } else if (format == FMT_CSV) {
        fputs("serial,status,not_before,not_after,shard,subject\r\n", f);
    } else {
        fputs("[", f);
    }
}

static void print_row(FILE *f, inv_format_e format, const ocsp_record_t *r,
                      const char *status, unsigned shard, uint64_t nth)
{
    char nb[24], na[24];

    fmt_time(nb, r->has_not_before, r->not_before);
    fmt_time(na, r->has_not_after, r->not_after);
    switch (format) {
    case FMT_TABLE:
        fprintf(f, "%-40s %-7s %-20s %-20s %5u  %s\n", r->serial, status,
                nb[0] ? nb : "-", na[0] ? na : "-", shard,
                r->subject ? r->subject : "-");
        break;
    case FMT_CSV:
        fprintf(f, "%s,%s,%s,%s,%u,", r->serial, status, nb, na, shard);
        csv_field(f, r->subject ? r->subject : "");
        fputs("\r\n", f);
        break;
    default:
        fputs(nth ? ",\n" : "\n", f);
        fputs("{\"serial\":", f);
        cli_json_str(f, r->serial);
        fprintf(f, ",\"status\":\"%s\",\"not_before\":", status);
        cli_json_str(f, nb[0] ? nb : NULL);
        fputs(",\"not_after\":", f);
        cli_json_str(f, na[0] ? na : NULL);
        fprintf(f, ",\"shard\":%u,\"subject\":", shard);
        cli_json_str(f, r->subject);
        fputc('}', f);
        break;
    }
}

int cli_inventory(cli_t *cli, int argc, char **argv)
{
    inv_opts_t o;
    const ocsp_issuer_conf_t *ic;
    ocsp_inv_scan_t scan;
    const ocsp_record_t *r;
    uint64_t rows = 0, refused = 0;
    int64_t now = (int64_t)time(NULL);
    int rv, status = CLI_EXIT_FAIL;

    if (parse_inv_opts(argc, argv, &o) != 0 ||
        (ic = cli_issuer(cli, o.issuer, NULL)) == NULL) {
        return CLI_EXIT_USAGE;
    }
    if (cli_connect(cli) != 0) {
        return CLI_EXIT_FAIL;
    }
    if (ocsp_inv_scan_start(&scan, &cli->redis, cli->cf.prefix, ic->name) !=
        0) {
        cli_err("redis: %s", scan.err);
        return CLI_EXIT_FAIL;
    }
    print_header(stdout, o.format);
    while ((rv = ocsp_inv_scan_next(&scan, &r)) > 0) {
        ocsp_inv_status_e st;

        if (rv == 2) {
            /* said, not listed: `revoca status` shows it too */
            cli_err("record %s is invalid (%s); not listed", scan.key,
                    scan.why);
            refused++;
            continue;
        }
        st = ocsp_inv_status(r, now);
        if ((o.statuses != 0 && !(o.statuses & (1u << st))) ||
            (o.within >= 0 && !ocsp_inv_expiring(r, now, o.within))) {
            continue;
        }
        print_row(stdout, o.format, r, ocsp_inv_status_names[st],
                  ocsp_record_shard(r, ic->shards), rows);
        rows++;
    }
    if (rv < 0) {
        /* the rows printed stand; the document is left unfinished, so
         * that no reader takes it for the whole inventory */
        fflush(stdout);
        cli_err("redis: %s (after %llu rows; the listing is incomplete)",
                scan.err, (unsigned long long)rows);
        goto done;
    }
    if (o.format == FMT_JSON) {
        fputs(rows ? "\n]\n" : "]\n", stdout);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_err("inventory: writing the output failed");
        goto done;
    }
    status = refused ? CLI_EXIT_FAIL : 0;

done:
    ocsp_inv_scan_free(&scan);
    return status;
}
