/*
 * revoca import --crl: revocations taken from a CA's own CRL (a file, or an
 * http(s) URL), for CAs that offer nothing else (AD CS, EJBCA, Vault PKI,
 * step-ca).  The CRL is verified against the issuer's certificate (name and
 * signature) before anything is read from it; every entry becomes the event
 * `revoca revoke`, `hold` or `release` would send, judged by the same rules
 * (event.h, policy.h), with an id derived from what the entry says, so a
 * re-import sends the same events again and changes nothing.  The whole CRL
 * is judged first: a bad CRL, or a bad entry under --strict, writes nothing.
 * With --follow the source is fetched again before its nextUpdate (ETag and
 * Last-Modified honoured) and new entries are reported.  A CRL whose number
 * is below the highest one imported from the same source, by this run or
 * an earlier one (kept in Redis, ocsp_key_import()), is refused.
 */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "issuer.h"
#include "policy.h"
#include "serial.h"

#define CRL_INPUT_MAX (512L * 1024 * 1024) /* bytes of CRL, file or URL */
#define CRL_ENTRIES_MAX 20000000           /* revoked entries in one CRL */
#define CRL_CHUNK 2000                     /* events per pipelined chunk */
#define CRL_HEADER_MAX 1024                /* an ETag or Last-Modified kept */
#define CRL_FETCH_TIMEOUT 120              /* seconds for one transfer */
#define CRL_FOLLOW_INTERVAL 300            /* default --interval, seconds */
#define CRL_FOLLOW_MARGIN 60 /* refetched this long before nextUpdate */
#define CRL_ID_OCTETS 16
#define CRL_PROGRESS_MS 5000 /* a progress line this often on long imports */

/* The source and what the last fetch of it said. */
typedef struct {
    const char *src;
    const char *ca_file; /* --ca-file: trust for https, else the system's */
    int url;
    char etag[CRL_HEADER_MAX], last_modified[CRL_HEADER_MAX];
    struct stat st; /* files: unchanged when inode, size and mtime are */
    int have_st;
    long requests;
} crl_src_t;

/* A growing buffer of at most CRL_INPUT_MAX bytes. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    int too_large;
} crl_buf_t;

static int buf_add(crl_buf_t *b, const void *data, size_t len)
{
    if (len > (size_t)CRL_INPUT_MAX - b->n) {
        b->too_large = 1;
        return -1;
    }
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        unsigned char *p;
        while (cap < b->n + len) {
            cap *= 2;
        }
        if (cap > (size_t)CRL_INPUT_MAX) {
            cap = CRL_INPUT_MAX;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

/* Fetch results. */
enum { CRL_GOT = 0, CRL_UNCHANGED = 1, CRL_FETCH_FAILED = -1 };

static int read_file(crl_src_t *s, crl_buf_t *b)
{
    unsigned char chunk[65536];
    struct stat st;
    size_t n;
    FILE *f = fopen(s->src, "rb");

    if (f == NULL) {
        cli_err("%s: cannot open (%s)", s->src, strerror(errno));
        return CRL_FETCH_FAILED;
    }
    if (fstat(fileno(f), &st) == 0) {
        if (s->have_st && st.st_ino == s->st.st_ino &&
            st.st_size == s->st.st_size &&
            st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
            st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec) {
            fclose(f);
            return CRL_UNCHANGED;
        }
        s->st = st;
        s->have_st = 1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_add(b, chunk, n) != 0) {
            cli_err(b->too_large ? "%s: larger than %ld bytes"
                                 : "%s: out of memory (%ld bytes max)",
                    s->src, CRL_INPUT_MAX);
            fclose(f);
            s->have_st = 0;
            return CRL_FETCH_FAILED;
        }
    }
    if (ferror(f)) {
        cli_err("%s: read error", s->src);
        fclose(f);
        s->have_st = 0;
        return CRL_FETCH_FAILED;
    }
    fclose(f);
    return CRL_GOT;
}

typedef struct {
    crl_src_t *s;
    crl_buf_t *b;
    char etag[CRL_HEADER_MAX], last_modified[CRL_HEADER_MAX];
} crl_xfer_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    crl_xfer_t *x = arg;

    /* A short count makes curl stop the transfer with CURLE_WRITE_ERROR. */
    return buf_add(x->b, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* "Name: value\r\n" into out when NAME matches. */
static void header_value(const char *h, size_t len, const char *name, char *out)
{
    size_t nl = strlen(name), vl;

    if (len <= nl || strncasecmp(h, name, nl) != 0) {
        return;
    }
    h += nl;
    len -= nl;
    while (len > 0 && (*h == ' ' || *h == '\t')) {
        h++;
        len--;
    }
    while (len > 0 &&
           (h[len - 1] == '\r' || h[len - 1] == '\n' || h[len - 1] == ' ')) {
        len--;
    }
    vl = len < CRL_HEADER_MAX - 1 ? len : 0; /* an oversized one is dropped */
    memcpy(out, h, vl);
    out[vl] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    crl_xfer_t *x = arg;
    size_t len = size * nmemb;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a redirect): its headers only. */
        x->etag[0] = x->last_modified[0] = '\0';
    }
    header_value(data, len, "ETag:", x->etag);
    header_value(data, len, "Last-Modified:", x->last_modified);
    return len;
}

/* Aborts a transfer when the follower is told to stop. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    (void)arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return cli_follow_stopped() ? 1 : 0;
}

static int fetch_url(crl_src_t *s, crl_buf_t *b)
{
    char hdr[2][CRL_HEADER_MAX + 32], err[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL, *h2;
    crl_xfer_t x;
    CURLcode rc;
    long code = 0;
    int result = CRL_FETCH_FAILED;
    CURL *c = curl_easy_init();

    if (c == NULL) {
        cli_err("%s: cannot start a transfer", s->src);
        return CRL_FETCH_FAILED;
    }
    memset(&x, 0, sizeof(x));
    x.s = s;
    x.b = b;
    if (s->etag[0] != '\0') {
        snprintf(hdr[0], sizeof(hdr[0]), "If-None-Match: %s", s->etag);
        h2 = curl_slist_append(h, hdr[0]);
        h = h2 ? h2 : h;
    }
    if (s->last_modified[0] != '\0') {
        snprintf(hdr[1], sizeof(hdr[1]), "If-Modified-Since: %s",
                 s->last_modified);
        h2 = curl_slist_append(h, hdr[1]);
        h = h2 ? h2 : h;
    }
    curl_easy_setopt(c, CURLOPT_URL, s->src);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CRL_INPUT_MAX);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)CRL_FETCH_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "revoca-import");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    if (s->ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    }
    s->requests++;
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        cli_err("%s: %s", s->src,
                b->too_large ? "larger than 512 MB"
                             : (err[0] ? err : curl_easy_strerror(rc)));
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code == 304) {
        result = CRL_UNCHANGED;
        goto done;
    }
    if (code != 200) {
        cli_err("%s: HTTP status %ld", s->src, code);
        goto done;
    }
    /* Kept for the next request, once this CRL has been read. */
    memcpy(s->etag, x.etag, sizeof(s->etag));
    memcpy(s->last_modified, x.last_modified, sizeof(s->last_modified));
    result = CRL_GOT;

done:
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return result;
}

/* DER or PEM in B to a CRL, or NULL after a message. */
static X509_CRL *crl_parse(const char *src, const crl_buf_t *b)
{
    X509_CRL *crl = NULL;
    static const char pem[] = "-----BEGIN X509 CRL-----";
    const unsigned char *p = b->p;

    if (b->n > 0 &&
        memmem(b->p, b->n < 4096 ? b->n : 4096, pem, sizeof(pem) - 1) != NULL) {
        BIO *bio = BIO_new_mem_buf(b->p, (int)b->n);
        if (b->n <= INT32_MAX && bio != NULL) {
            crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        }
        BIO_free(bio);
    } else if (b->n > 0) {
        crl = d2i_X509_CRL(NULL, &p, (long)b->n);
        if (crl != NULL && p != b->p + b->n) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    ERR_clear_error();
    if (crl == NULL) {
        cli_err("%s: not a DER or PEM CRL", src);
    }
    return crl;
}

/* Issued by CA and signed with its key: 0, or -1 after a message. */
static int crl_verify(const char *src, X509_CRL *crl, X509 *ca,
                      const char *issuer)
{
    EVP_PKEY *pk = X509_get0_pubkey(ca);
    const char *why = NULL;

    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) !=
        0) {
        why = "its issuer name is not the subject of the issuer certificate";
    } else if ((X509_get_extension_flags(ca) & EXFLAG_KUSAGE) &&
               !(X509_get_key_usage(ca) & KU_CRL_SIGN)) {
        why = "the issuer certificate's keyUsage lacks cRLSign";
    } else if (pk == NULL || X509_CRL_verify(crl, pk) != 1) {
        why = "its signature does not verify with the issuer certificate's "
              "key";
    }
    ERR_clear_error();
    if (why != NULL) {
        cli_err("%s: CRL refused for issuer %s: %s", src, issuer, why);
        return -1;
    }
    return 0;
}

/*
 * What the CRL may carry to be read here (RFC 5280 5.2): a critical
 * extension not understood, or an indirect CRL (entries of other CAs), makes
 * it unusable.  NULL, or the reason.
 */
static const char *crl_scope(X509_CRL *crl)
{
    static const int known[] = {NID_crl_number,
                                NID_delta_crl,
                                NID_issuing_distribution_point,
                                NID_authority_key_identifier,
                                NID_freshest_crl,
                                NID_info_access};
    ISSUING_DIST_POINT *idp;
    int i, crit, indirect;
    size_t k;

    for (i = 0; i < X509_CRL_get_ext_count(crl); i++) {
        X509_EXTENSION *ext = X509_CRL_get_ext(crl, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        for (k = 0; k < sizeof(known) / sizeof(known[0]) && known[k] != nid;
             k++) {
        }
        if (X509_EXTENSION_get_critical(ext) &&
            k == sizeof(known) / sizeof(known[0])) {
            return "a critical CRL extension not understood (RFC 5280 5.2)";
        }
    }
    idp =
        X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit, NULL);
    if (idp == NULL && crit != -1) {
        return "issuingDistributionPoint malformed or repeated";
    }
    indirect = idp != NULL && idp->indirectCRL;
    ISSUING_DIST_POINT_free(idp);
    return indirect ? "an indirect CRL (entries of other CAs), not supported"
                    : NULL;
}

/* A critical entry extension not understood (RFC 5280 5.3): NULL, or the
 * reason the entry cannot be read. */
static const char *entry_scope(X509_REVOKED *r)
{
    const STACK_OF(X509_EXTENSION) *exts = X509_REVOKED_get0_extensions(r);
    int i;

    for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
        int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        if (X509_EXTENSION_get_critical(ext) && nid != NID_crl_reason &&
            nid != NID_invalidity_date && nid != NID_hold_instruction_code) {
            return "a critical entry extension not understood (RFC 5280 "
                   "5.3)";
        }
    }
    return NULL;
}

static int asn1_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return -1;
    }
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* An integer extension of the CRL (cRLNumber, deltaCRLIndicator). */
static int crl_number(X509_CRL *crl, int nid, int64_t *out, int *present)
{
    int crit;
    ASN1_INTEGER *ai = X509_CRL_get_ext_d2i(crl, nid, &crit, NULL);

    *present = ai != NULL;
    if (ai == NULL) {
        return crit == -1 ? 0 : -1; /* absent, or malformed / repeated */
    }
    if (ASN1_INTEGER_get_int64(out, ai) != 1 || *out < 0) {
        ASN1_INTEGER_free(ai);
        return -1;
    }
    ASN1_INTEGER_free(ai);
    return 0;
}

/* One entry's event. */
typedef struct {
    Revoca__Event ev;
    Revoca__Revoked rv;
    Revoca__Hold hd;
    Revoca__Release rl;
    char serial[OCSP_SERIAL_HEX_MAX + 1], id[2 * CRL_ID_OCTETS + 1];
    unsigned char digest[CRL_ID_OCTETS];
} crl_event_t;

/* The id: what the entry says, hashed (so re-reading it gives the same). */
static int entry_id(crl_event_t *e, int kind, int reason, int64_t t,
                    int64_t inv)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    char buf[256];
    unsigned mdlen = 0;
    int n = snprintf(buf, sizeof(buf), "revoca-crl\n%s\n%s\n%d\n%d\n%lld\n%lld",
                     e->ev.issuer, e->serial, kind, reason, (long long)t,
                     (long long)inv);

    if (n < 0 || (size_t)n >= sizeof(buf) ||
        EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1) {
        return -1;
    }
    memcpy(e->digest, md, CRL_ID_OCTETS);
    for (n = 0; n < CRL_ID_OCTETS; n++) {
        snprintf(e->id + 2 * n, 3, "%02x", md[n]);
    }
    e->ev.id = e->id;
    return 0;
}

/*
 * Entry R of a CRL (DELTA: a delta CRL) as the event revoke, hold or release
 * would send, judged by the same rules.  NULL and *e filled, or the reason
 * the entry is refused.
 */
static const char *entry_event(const ocsp_issuer_conf_t *ic, X509_REVOKED *r,
                               int delta, int64_t now, crl_event_t *e)
{
    static const Revoca__Event ev_init = REVOCA__EVENT__INIT;
    static const Revoca__Revoked rv_init = REVOCA__REVOKED__INIT;
    static const Revoca__Hold hd_init = REVOCA__HOLD__INIT;
    static const Revoca__Release rl_init = REVOCA__RELEASE__INIT;
    ASN1_ENUMERATED *re;
    ASN1_GENERALIZEDTIME *gt;
    GENERAL_NAMES *gn;
    int64_t t, inv = 0;
    int crit, reason = 0, has_inv = 0;
    long v;
    const char *why;

    e->ev = ev_init;
    e->ev.issuer = (char *)ic->name;
    e->ev.serial = e->serial;
    e->ev.time = now;
    if (ocsp_serial_from_asn1(X509_REVOKED_get0_serialNumber(r), e->serial) !=
        0) {
        return "serial is zero, negative or over 20 octets";
    }
    if (asn1_unix(X509_REVOKED_get0_revocationDate(r), &t) != 0) {
        return "revocationDate unreadable";
    }
    why = entry_scope(r);
    if (why != NULL) {
        return why;
    }
    gn = X509_REVOKED_get_ext_d2i(r, NID_certificate_issuer, &crit, NULL);
    GENERAL_NAMES_free(gn);
    if (gn != NULL || crit != -1) {
        return "certificateIssuer entry extension (indirect CRL) not supported";
    }
    re = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
    if (re != NULL) {
        v = ASN1_ENUMERATED_get(re);
        ASN1_ENUMERATED_free(re);
        if (v < 0 || v > 10 || !ocsp_reason_valid((int)v)) {
            return "reasonCode not a CRLReason of RFC 5280 5.3.1";
        }
        reason = (int)v;
    } else if (crit != -1) {
        return "reasonCode extension malformed or repeated";
    }
    gt = X509_REVOKED_get_ext_d2i(r, NID_invalidity_date, &crit, NULL);
    if (gt != NULL) {
        int bad = asn1_unix(gt, &inv) != 0;
        ASN1_GENERALIZEDTIME_free(gt);
        if (bad) {
            return "invalidityDate unreadable";
        }
        has_inv = 1;
    } else if (crit != -1) {
        return "invalidityDate extension malformed or repeated";
    }
    ERR_clear_error();
    if (reason == REVOCA__REASON__REMOVE_FROM_CRL) {
        if (!delta) {
            return "removeFromCRL on a CRL that is not a delta (RFC 5280 "
                   "5.3.1)";
        }
        e->rl = rl_init;
        e->rl.release_time = t;
        e->ev.kind_case = REVOCA__EVENT__KIND_RELEASE;
        e->ev.release = &e->rl;
    } else if (reason == REVOCA__REASON__CERTIFICATE_HOLD) {
        e->hd = hd_init;
        e->hd.hold_time = t;
        e->hd.has_invalidity_date = has_inv;
        e->hd.invalidity_date = inv;
        e->ev.kind_case = REVOCA__EVENT__KIND_HOLD;
        e->ev.hold = &e->hd;
    } else {
        e->rv = rv_init;
        e->rv.revocation_time = t;
        e->rv.has_reason = 1;
        e->rv.reason = (Revoca__Reason)reason;
        e->rv.has_invalidity_date = has_inv;
        e->rv.invalidity_date = inv;
        e->ev.kind_case = REVOCA__EVENT__KIND_REVOKED;
        e->ev.revoked = &e->rv;
    }
    if (entry_id(e, (int)e->ev.kind_case, reason, t, has_inv ? inv : -1) != 0) {
        return "no digest for the event id";
    }
    /* As `revoca revoke`, `hold` and `release` judge theirs, and the signer
     * will (event.h, policy.h). */
    why = ocsp_event_check(&e->ev);
    return why != NULL ? why : ocsp_profile_refuses(ic->profile, &e->ev);
}

/* The ids sent from the previous CRL (--follow sends only what is new). */
typedef struct {
    unsigned char *d; /* n sorted digests of CRL_ID_OCTETS */
    size_t n;
} crl_seen_t;

static int digest_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CRL_ID_OCTETS);
}

static int seen_has(const crl_seen_t *s, const unsigned char *d)
{
    return s->n > 0 &&
           bsearch(d, s->d, s->n, CRL_ID_OCTETS, digest_cmp) != NULL;
}

typedef struct {
    const ocsp_issuer_conf_t *ic;
    X509 *ca;
    int strict, follow, connected;
    int wait;     /* --wait */
    long wait_ms; /* --wait-timeout */
    crl_src_t src;
    crl_seen_t seen;
    int64_t last_number;   /* the highest cRLNumber imported, -1: none */
    int number_loaded;     /* stored_number read from Redis (state_key) */
    int64_t stored_number; /* the highest imported by any run, -1: none */
    char state_key[OCSP_KEY_MAX];
    int64_t next_update; /* of the last CRL read, 0: none */
} crl_import_t;

/* Connects the first time, or again after a failure.  0 or -1 after a
 * message. */
static int crl_connect(cli_t *cli, crl_import_t *im)
{
    if (!im->connected) {
        im->connected = 1; /* cli_connect() set the connection up */
        return cli_connect(cli);
    }
    if (ocsp_rconn_ensure(&cli->redis, NULL, ocsp_now_ms() + 3000) != 0) {
        cli_err("%s", cli->redis.err);
        return -1;
    }
    return 0;
}

/* The highest CRL number imported from this source, kept in Redis so that
 * a restarted --follow (or the next run) refuses an older CRL.  0, or
 * CLI_EXIT_FAIL after a message. */
static int load_number(cli_t *cli, crl_import_t *im)
{
    const char *argv[3] = {"HGET", im->state_key, "number"};
    redisReply *r;
    int64_t v;

    if (crl_connect(cli, im) != 0) {
        return CLI_EXIT_FAIL;
    }
    r = ocsp_rconn_cmd(&cli->redis, 3, argv, NULL);
    if (r == NULL || (r->type != REDIS_REPLY_NIL &&
                      (r->type != REDIS_REPLY_STRING ||
                       ocsp_parse_int64(r->str, r->len, 0, &v) != 0))) {
        cli_err("HGET %s number: %s", im->state_key,
                r == NULL ? cli->redis.err : "not a CRL number");
        freeReplyObject(r);
        return CLI_EXIT_FAIL;
    }
    im->stored_number = r->type == REDIS_REPLY_STRING ? v : -1;
    freeReplyObject(r);
    im->number_loaded = 1;
    return 0;
}

static int save_number(cli_t *cli, crl_import_t *im, int64_t number)
{
    char num[24];
    const char *argv[4] = {"HSET", im->state_key, "number", num};
    redisReply *r;

    snprintf(num, sizeof(num), "%lld", (long long)number);
    r = ocsp_rconn_cmd(&cli->redis, 4, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        cli_err("HSET %s number: %s", im->state_key,
                r == NULL ? cli->redis.err : r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Reads, verifies and imports the CRL in B.  0, or a CLI_EXIT_* status. */
static int import_crl(cli_t *cli, crl_import_t *im, const crl_buf_t *b)
{
    X509_CRL *crl = crl_parse(im->src.src, b);
    STACK_OF(X509_REVOKED) * sk;
    int64_t number = -1, base = -1, now = (int64_t)time(NULL);
    int has_number, delta, i, n, status = CLI_EXIT_USAGE;
    size_t skipped = 0, unchanged = 0, sent = 0, pending, ndig = 0;
    unsigned char *digests = NULL;
    long t0 = ocsp_now_ms(), last_progress = t0;

    if (crl == NULL) {
        return CLI_EXIT_USAGE;
    }
    cli_sent_reset(cli); /* --wait: for what this round sends */
    if (crl_verify(im->src.src, crl, im->ca, im->ic->name) != 0) {
        goto done;
    }
    if (crl_scope(crl) != NULL) {
        cli_err("%s: CRL refused: %s", im->src.src, crl_scope(crl));
        goto done;
    }
    if (crl_number(crl, NID_crl_number, &number, &has_number) != 0 ||
        crl_number(crl, NID_delta_crl, &base, &delta) != 0) {
        cli_err("%s: cRLNumber or deltaCRLIndicator malformed", im->src.src);
        goto done;
    }
    if (!has_number) {
        number = -1;
    }
    if (has_number && !im->number_loaded &&
        (status = load_number(cli, im)) != 0) {
        goto done;
    }
    status = CLI_EXIT_USAGE;
    if (has_number && number < im->stored_number) {
        /* An older CRL than a run before this one imported (a restarted
         * --follow, a stale mirror): its entries may be gone since. */
        cli_err("%s: CRL number %lld is below %lld already imported: "
                "refused",
                im->src.src, (long long)number, (long long)im->stored_number);
        goto done;
    }
    if (has_number && im->last_number >= 0 && number <= im->last_number) {
        if (number < im->last_number) {
            cli_err("%s: CRL number %lld is below %lld already imported: "
                    "refused",
                    im->src.src, (long long)number, (long long)im->last_number);
            goto done;
        }
        printf("crl issuer=%s number=%lld unchanged\n", im->ic->name,
               (long long)number);
        status = 0;
        goto done;
    }
    im->next_update = 0;
    if (X509_CRL_get0_nextUpdate(crl) != NULL &&
        asn1_unix(X509_CRL_get0_nextUpdate(crl), &im->next_update) != 0) {
        im->next_update = 0;
    }
    if (im->next_update > 0 && im->next_update < now) {
        /* Its revocations still hold; the CA has stopped publishing. */
        cli_err("%s: warning: CRL nextUpdate has passed (the CA is not "
                "publishing it?)",
                im->src.src);
    }
    sk = X509_CRL_get_REVOKED(crl);
    n = sk ? sk_X509_REVOKED_num(sk) : 0;
    if (n > CRL_ENTRIES_MAX) {
        cli_err("%s: %d entries, more than %d", im->src.src, n,
                CRL_ENTRIES_MAX);
        goto done;
    }
    digests = malloc((size_t)(n > 0 ? n : 1) * CRL_ID_OCTETS);
    if (digests == NULL) {
        cli_err("%s: out of memory for %d entries", im->src.src, n);
        status = CLI_EXIT_FAIL;
        goto done;
    }
    /* Judged whole before anything is sent. */
    for (i = 0; i < n; i++) {
        crl_event_t e;
        const char *why =
            entry_event(im->ic, sk_X509_REVOKED_value(sk, i), delta, now, &e);
        if (why != NULL) {
            char hex[2 * OCSP_SERIAL_MAX_OCTETS + 8] = "?";
            BIGNUM *bn = ASN1_INTEGER_to_BN(
                X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(sk, i)),
                NULL);
            char *h = bn ? BN_bn2hex(bn) : NULL;
            if (h != NULL && strlen(h) < sizeof(hex)) {
                strcpy(hex, h);
            }
            OPENSSL_free(h);
            BN_free(bn);
            ERR_clear_error();
            cli_err("%s: entry %d serial %s: %s%s", im->src.src, i + 1, hex,
                    why, im->strict ? "" : " (skipped)");
            skipped++;
        }
    }
    if (skipped > 0 && im->strict) {
        cli_err("%s: %zu bad entr%s, nothing sent (--strict)", im->src.src,
                skipped, skipped == 1 ? "y" : "ies");
        goto done;
    }
    status = CLI_EXIT_FAIL;
    if (crl_connect(cli, im) != 0) {
        goto done;
    }
    for (i = 0; i < n; i++) {
        crl_event_t e;
        if (entry_event(im->ic, sk_X509_REVOKED_value(sk, i), delta, now, &e) !=
            NULL) {
            continue;
        }
        memcpy(digests + ndig++ * CRL_ID_OCTETS, e.digest, CRL_ID_OCTETS);
        if (seen_has(&im->seen, e.digest)) {
            unchanged++;
            continue;
        }
        if (cli_append_event(cli, &e.ev) != 0) {
            goto done;
        }
        pending = ocsp_rconn_pending(&cli->redis);
        if (pending >= CRL_CHUNK) {
            if (cli_read_replies(cli) != 0) {
                goto done;
            }
            sent += pending;
            if (ocsp_now_ms() - last_progress >= CRL_PROGRESS_MS) {
                last_progress = ocsp_now_ms();
                fprintf(stderr,
                        "revoca: %s: progress entries=%d/%d events=%zu\n",
                        im->src.src, i + 1, n, sent);
            }
        }
    }
    pending = ocsp_rconn_pending(&cli->redis);
    if (cli_read_replies(cli) != 0) {
        goto done;
    }
    sent += pending;
    if (sent > 0) {
        char what[128];
        int rv;

        /* The last WAIT covers every event sent before it.  Short: not
         * taken as imported, so the next round sends them again. */
        snprintf(what, sizeof(what), "import --crl: %zu events", sent);
        rv = cli_wait_replicas(cli, what);
        if (rv != 0) {
            status = rv;
            goto done;
        }
    }
    if (has_number) {
        if (number > im->stored_number && save_number(cli, im, number) != 0) {
            status = CLI_EXIT_FAIL;
            goto done;
        }
        im->last_number = number;
        if (number > im->stored_number) {
            im->stored_number = number;
        }
    }
    if (im->follow) {
        qsort(digests, ndig, CRL_ID_OCTETS, digest_cmp);
        free(im->seen.d);
        im->seen.d = digests;
        im->seen.n = ndig;
        digests = NULL;
    }
    if (im->wait) {
        int rv = cli_wait_signed(cli, im->wait_ms, NULL, NULL);
        if (rv != 0) {
            status = rv;
            goto done;
        }
    }
    {
        long ms = ocsp_now_ms() - t0;
        printf("crl issuer=%s number=%lld%s entries=%d events=%zu "
               "unchanged=%zu skipped=%zu%s ms=%ld\n",
               im->ic->name, (long long)number, delta ? " delta" : "", n, sent,
               unchanged, skipped, im->wait ? " signed=all" : "", ms);
    }
    status = 0;

done:
    fflush(stdout);
    ERR_clear_error();
    free(digests);
    X509_CRL_free(crl);
    return status;
}

/* One fetch and import.  0, or a CLI_EXIT_* status. */
static int import_once(cli_t *cli, crl_import_t *im)
{
    crl_buf_t b = {NULL, 0, 0, 0};
    int got, status;

    got = im->src.url ? fetch_url(&im->src, &b) : read_file(&im->src, &b);
    if (got == CRL_UNCHANGED) {
        printf("crl issuer=%s not modified\n", im->ic->name);
        fflush(stdout);
        free(b.p);
        return 0;
    }
    if (got != CRL_GOT) {
        free(b.p);
        return CLI_EXIT_FAIL;
    }
    status = import_crl(cli, im, &b);
    if (status != 0) {
        /* Read again next time, even if it does not change. */
        im->src.have_st = 0;
        im->src.etag[0] = im->src.last_modified[0] = '\0';
    }
    free(b.p);
    return status;
}

int cli_import_crl(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"crl", required_argument, NULL, 'l'},
        {"follow", no_argument, NULL, 'f'},
        {"strict", no_argument, NULL, 's'},
        {"interval", required_argument, NULL, 'n'},
        {"ca-file", required_argument, NULL, 'a'},
        {"wait", no_argument, NULL, 'w'},
        {"wait-timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    crl_import_t im;
    const char *issuer = NULL, *interval = NULL, *wait_timeout = NULL;
    int c, status = CLI_EXIT_USAGE;
    int64_t every = CRL_FOLLOW_INTERVAL;

    memset(&im, 0, sizeof(im));
    im.last_number = im.stored_number = -1;
    im.wait_ms = CLI_IMPORT_WAIT * 1000L;
    optind = 1;
    while ((c = cli_getopt(argc, argv, longopts)) != -1) {
        switch (c) {
        case 'i':
            issuer = optarg;
            break;
        case 'l':
            im.src.src = optarg;
            break;
        case 'f':
            im.follow = 1;
            break;
        case 's':
            im.strict = 1;
            break;
        case 'n':
            interval = optarg;
            break;
        case 'a':
            im.src.ca_file = optarg;
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
    if (issuer == NULL || im.src.src == NULL || optind != argc) {
        cli_err("import --issuer N --crl FILE|URL [--follow [--interval "
                "SECONDS]] [--strict] [--ca-file FILE] [--wait "
                "[--wait-timeout S]]");
        return CLI_EXIT_USAGE;
    }
    if (wait_timeout != NULL &&
        cli_wait_timeout(wait_timeout, im.wait, &im.wait_ms) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (interval != NULL &&
        cli_follow_interval(interval, im.follow, &every) != 0) {
        return CLI_EXIT_USAGE;
    }
    if (strncasecmp(im.src.src, "http://", 7) == 0 ||
        strncasecmp(im.src.src, "https://", 8) == 0) {
        im.src.url = 1;
    } else if (strstr(im.src.src, "://") != NULL) {
        cli_err("--crl %s: only http and https URLs, or a file", im.src.src);
        return CLI_EXIT_USAGE;
    }
    if (im.src.ca_file != NULL &&
        (!im.src.url || access(im.src.ca_file, R_OK) != 0)) {
        cli_err("--ca-file %s: %s", im.src.ca_file,
                im.src.url ? "cannot read it" : "only with an https URL");
        return CLI_EXIT_USAGE;
    }
    im.ic = cli_issuer(cli, issuer, &im.ca);
    if (im.ic == NULL) {
        return CLI_EXIT_USAGE;
    }
    if (ocsp_key_import(im.state_key, cli->cf.prefix, im.ic->name, "crl",
                        im.src.src) < 0) {
        cli_err("--crl %s: no key for its state", im.src.src);
        X509_free(im.ca);
        return CLI_EXIT_USAGE;
    }
    cli_set_origin(cli, "import-crl", im.src.src);
    if (im.src.url && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        cli_err("cannot initialise libcurl");
        X509_free(im.ca);
        return CLI_EXIT_FAIL;
    }
    if (im.follow) {
        /* SIGTERM ends the follower between two imports, or a transfer. */
        cli_follow_signals();
    }
    status = import_once(cli, &im);
    if (im.follow) {
        while (!cli_follow_stopped()) {
            int64_t now = (int64_t)time(NULL), next = now + every;

            if (im.next_update > 0 &&
                im.next_update - CRL_FOLLOW_MARGIN < next) {
                next = im.next_update - CRL_FOLLOW_MARGIN;
            }
            if (next < now + 1) {
                next = now + 1;
            }
            cli_follow_sleep_until(next);
            if (cli_follow_stopped()) {
                break;
            }
            /* Failures are logged; the next round tries again. */
            if (import_once(cli, &im) == CLI_EXIT_FAIL) {
                ocsp_rconn_drop(&cli->redis);
            }
        }
        printf("crl issuer=%s follow stopped requests=%ld\n", im.ic->name,
               im.src.requests);
        status = 0;
    }
    if (im.src.url) {
        curl_global_cleanup();
    }
    free(im.seen.d);
    X509_free(im.ca);
    return status;
}
