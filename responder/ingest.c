/* JSON ingest bodies to validated events (ingest.h). */
#include "ingest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "issued.h"
#include "issuer.h"
#include "policy.h"
#include "serial.h"
#include "shard.h"

static void ingest_err(struct ocsp_ingest_error *err, size_t i,
                       const char *field, const char *reason)
{
    if (field == NULL)
        snprintf(err->field, sizeof err->field, "events[%zu]", i);
    else
        snprintf(err->field, sizeof err->field, "events[%zu].%s", i, field);
    snprintf(err->reason, sizeof err->reason, "%.*s",
             (int)(sizeof err->reason - 1), reason);
}

static void ingest_event_free(Revoca__Event *ev)
{
    if (ev == NULL)
        return;
    free(ev->id);
    free(ev->issuer);
    free(ev->serial);
    if (ev->origin != NULL) {
        free(ev->origin->via);
        free(ev->origin->principal);
        free(ev->origin);
    }
    /* The kinds share a union (oneof): free the one that is set. */
    switch (ev->kind_case) {
    case REVOCA__EVENT__KIND_ISSUED:
        if (ev->issued != NULL)
            free(ev->issued->cert_der.data);
        free(ev->issued);
        break;
    case REVOCA__EVENT__KIND_REVOKED:
        free(ev->revoked);
        break;
    case REVOCA__EVENT__KIND_HOLD:
        free(ev->hold);
        break;
    case REVOCA__EVENT__KIND_RELEASE:
        free(ev->release);
        break;
    default:
        break;
    }
    free(ev);
}

void ocsp_ingest_batch_free(struct ocsp_ingest_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        ingest_event_free(b->ev[i]);
    free(b->ev);
    b->ev = NULL;
    b->n = 0;
}

/* The optional "shard" member of issue event I into ISSUED: 0, or -1
 * with err. */
static int ingest_shard(const json_t *o, Revoca__Issued *issued,
                        struct ocsp_ingest_error *err, size_t i)
{
    const json_t *sh = json_object_get(o, "shard");

    if (sh == NULL) {
        return 0;
    }
    if (!json_is_integer(sh) || json_integer_value(sh) < 0 ||
        json_integer_value(sh) > 0xffffffffLL) {
        ingest_err(err, i, "shard", "not a shard number");
        return -1;
    }
    issued->has_shard = 1;
    issued->shard = (uint32_t)json_integer_value(sh);
    return 0;
}

/* An optional integer time member: 0 absent, 1 present, -1 wrong type. */
static int ingest_time(const json_t *o, const char *name, long long *out)
{
    const json_t *v = json_object_get(o, name);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > OCSP_TIME_MAX)
        return -1;
    *out = json_integer_value(v);
    return 1;
}

static const char *const ingest_known[] = {
    "kind",       "id",          "issuer", "serial", "time",
    "not_before", "not_after",   "shard",  "reason", "invalidity_date",
    "wait",       "certificate", NULL};

static Revoca__Event *ingest_one(const json_t *o, size_t i, long long now,
                                 int *wait, struct ocsp_ingest_error *err)
{
    const char *key;
    const json_t *v;
    if (!json_is_object(o)) {
        ingest_err(err, i, NULL, "not a JSON object");
        return NULL;
    }
    json_object_foreach((json_t *)o, key, v)
    {
        size_t k;
        for (k = 0; ingest_known[k] != NULL; k++)
            if (strcmp(key, ingest_known[k]) == 0)
                break;
        if (ingest_known[k] == NULL) {
            char f[48];
            snprintf(f, sizeof f, "%.40s", key);
            ingest_err(err, i, f, "unknown member");
            return NULL;
        }
    }
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const char *issuer = json_string_value(json_object_get(o, "issuer"));
    const char *serial = json_string_value(json_object_get(o, "serial"));
    const json_t *idv = json_object_get(o, "id");
    const json_t *wv = json_object_get(o, "wait");
    if (kind == NULL) {
        ingest_err(err, i, "kind", "missing or not a string");
        return NULL;
    }
    if (issuer == NULL) {
        ingest_err(err, i, "issuer", "missing or not a string");
        return NULL;
    }
    const json_t *cv = json_object_get(o, "certificate");
    if (cv != NULL && (!json_is_string(cv) || strcmp(kind, "issue") != 0)) {
        ingest_err(err, i, "certificate",
                   "a PEM or base64 DER string, with kind \"issue\" only");
        return NULL;
    }
    if (serial == NULL && (cv == NULL || json_object_get(o, "serial"))) {
        ingest_err(err, i, "serial", "missing or not a string");
        return NULL;
    }
    if (idv != NULL && (!json_is_string(idv) || json_string_length(idv) == 0 ||
                        json_string_length(idv) > OCSP_EVENT_ID_MAX)) {
        ingest_err(err, i, "id", "not a string of 1..64 characters");
        return NULL;
    }
    if (wv != NULL && !json_is_boolean(wv)) {
        ingest_err(err, i, "wait", "not a boolean");
        return NULL;
    }
    if (json_is_true(wv))
        *wait = 1;

    char canon[OCSP_SERIAL_HEX_MAX + 1] = "";
    if (serial != NULL && (strlen(serial) > 3 * OCSP_SERIAL_HEX_MAX ||
                           ocsp_serial_from_hex(serial, canon) != 0)) {
        ingest_err(err, i, "serial", "not a serial (hex, at most 20 octets)");
        return NULL;
    }
    long long t = now, inv = 0, nb = 0, na = 0;
    int r, has_inv;
    if ((r = ingest_time(o, "time", &t)) < 0) {
        ingest_err(err, i, "time", "not unix seconds (0..year 9999)");
        return NULL;
    }
    if ((has_inv = ingest_time(o, "invalidity_date", &inv)) < 0) {
        ingest_err(err, i, "invalidity_date",
                   "not unix seconds (0..year 9999)");
        return NULL;
    }

    Revoca__Event *ev = calloc(1, sizeof *ev);
    if (ev == NULL) {
        ingest_err(err, i, NULL, "out of memory");
        return NULL;
    }
    revoca__event__init(ev);
    char idbuf[OCSP_EVENT_ID_MAX + 1];
    if (idv != NULL)
        snprintf(idbuf, sizeof idbuf, "%s", json_string_value(idv));
    else if (ocsp_event_new_id(idbuf) != 0) {
        ingest_err(err, i, "id", "no random id available");
        goto fail;
    }
    ev->id = strdup(idbuf);
    ev->issuer = strdup(issuer);
    ev->time = t;
    if (ev->id == NULL || ev->issuer == NULL) {
        ingest_err(err, i, NULL, "out of memory");
        goto fail;
    }
    if (strcmp(kind, "issue") == 0 && cv != NULL) {
        /* What the certificate says is what the CLI's --cert takes: its
         * serial, validity and DER (issued.h); that it is the issuer's,
         * and its shard, are checked against the configuration
         * (ocsp_ingest_check). */
        const char *why = NULL;
        char from_cert[OCSP_SERIAL_HEX_MAX + 1];
        X509 *x;
        if (json_object_get(o, "not_after") != NULL ||
            json_object_get(o, "not_before") != NULL) {
            ingest_err(err, i,
                       json_object_get(o, "not_after") != NULL ? "not_after"
                                                               : "not_before",
                       "comes from the certificate; not given with it");
            goto fail;
        }
        x = ocsp_cert_parse((const unsigned char *)json_string_value(cv),
                            json_string_length(cv));
        if (x == NULL) {
            ingest_err(err, i, "certificate",
                       "not a PEM or base64 DER certificate");
            goto fail;
        }
        ev->issued = calloc(1, sizeof *ev->issued);
        if (ev->issued == NULL) {
            X509_free(x);
            goto oom;
        }
        ev->kind_case = REVOCA__EVENT__KIND_ISSUED;
        revoca__issued__init(ev->issued);
        int rc = ocsp_issued_from_cert(x, from_cert, ev->issued, &why);
        X509_free(x);
        if (rc != 0) {
            ingest_err(err, i, "certificate", why);
            goto fail;
        }
        if (canon[0] != '\0' && strcmp(canon, from_cert) != 0) {
            ingest_err(err, i, "serial", "not the certificate's serial");
            goto fail;
        }
        snprintf(canon, sizeof canon, "%s", from_cert);
        if (ingest_shard(o, ev->issued, err, i) != 0) {
            goto fail;
        }
    } else if (strcmp(kind, "issue") == 0) {
        int a = ingest_time(o, "not_after", &na);
        int b = ingest_time(o, "not_before", &nb);
        if (a <= 0) {
            ingest_err(err, i, "not_after",
                       "missing or not unix seconds (0..year 9999)");
            goto fail;
        }
        if (b < 0) {
            ingest_err(err, i, "not_before", "not unix seconds");
            goto fail;
        }
        if (b == 0) {
            nb = t;
        }
        ev->issued = calloc(1, sizeof *ev->issued);
        if (ev->issued == NULL)
            goto oom;
        ev->kind_case = REVOCA__EVENT__KIND_ISSUED;
        revoca__issued__init(ev->issued);
        ev->issued->not_before = nb;
        ev->issued->not_after = na;
        const char *late = ocsp_issued_refuses_new(ev->issued, now);
        if (late != NULL) {
            ingest_err(err, i, "not_after", late);
            goto fail;
        }
        if (ingest_shard(o, ev->issued, err, i) != 0) {
            goto fail;
        }
        ev->kind_case = REVOCA__EVENT__KIND_ISSUED;
    } else if (strcmp(kind, "revoke") == 0) {
        int reason = 0;
        const json_t *rv = json_object_get(o, "reason");
        if (rv != NULL) {
            if (!json_is_string(rv) ||
                (reason = ocsp_reason_from_name(json_string_value(rv))) < 0 ||
                !ocsp_revocation_reason_valid(reason)) {
                ingest_err(err, i, "reason",
                           "not a revocation reason name (RFC 5280 5.3.1; "
                           "certificateHold is kind \"hold\")");
                goto fail;
            }
        }
        ev->revoked = calloc(1, sizeof *ev->revoked);
        if (ev->revoked == NULL)
            goto oom;
        ev->kind_case = REVOCA__EVENT__KIND_REVOKED;
        revoca__revoked__init(ev->revoked);
        ev->revoked->revocation_time = t;
        ev->revoked->has_reason = 1;
        ev->revoked->reason = (Revoca__Reason)reason;
        ev->revoked->has_invalidity_date = has_inv > 0;
        ev->revoked->invalidity_date = inv;
        ev->kind_case = REVOCA__EVENT__KIND_REVOKED;
    } else if (strcmp(kind, "hold") == 0) {
        ev->hold = calloc(1, sizeof *ev->hold);
        if (ev->hold == NULL)
            goto oom;
        ev->kind_case = REVOCA__EVENT__KIND_HOLD;
        revoca__hold__init(ev->hold);
        ev->hold->hold_time = t;
        ev->hold->has_invalidity_date = has_inv > 0;
        ev->hold->invalidity_date = inv;
        ev->kind_case = REVOCA__EVENT__KIND_HOLD;
    } else if (strcmp(kind, "release") == 0) {
        ev->release = calloc(1, sizeof *ev->release);
        if (ev->release == NULL)
            goto oom;
        ev->kind_case = REVOCA__EVENT__KIND_RELEASE;
        revoca__release__init(ev->release);
        ev->release->release_time = t;
        ev->kind_case = REVOCA__EVENT__KIND_RELEASE;
    } else {
        ingest_err(err, i, "kind", "not one of issue, revoke, hold, release");
        goto fail;
    }
    ev->serial = strdup(canon);
    if (ev->serial == NULL)
        goto oom;
    /* The rules the signer applies (event.h), before anything is written. */
    const char *why = ocsp_event_check(ev);
    if (why != NULL) {
        ingest_err(err, i, NULL, why);
        goto fail;
    }
    return ev;
oom:
    ingest_err(err, i, NULL, "out of memory");
fail:
    ingest_event_free(ev);
    return NULL;
}

/* Deeper than MAX anywhere under V. */
static int ingest_too_deep(const json_t *v, int max)
{
    if (max < 0)
        return 1;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) if (ingest_too_deep(e, max - 1)) return 1;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k,
                            e) if (ingest_too_deep(e, max - 1)) return 1;
    }
    return 0;
}

int ocsp_ingest_parse_json(const char *buf, size_t len, long long now,
                           struct ocsp_ingest_batch *b,
                           struct ocsp_ingest_error *err)
{
    memset(b, 0, sizeof *b);
    memset(err, 0, sizeof *err);
    if (len > OCSP_INGEST_BODY_MAX) {
        snprintf(err->reason, sizeof err->reason, "body over %d bytes",
                 OCSP_INGEST_BODY_MAX);
        return -1;
    }
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(err->reason, sizeof err->reason,
                 "not JSON: %.100s (offset %d)", je.text, je.position);
        return -1;
    }
    int rc = -1;
    if (ingest_too_deep(root, OCSP_INGEST_DEPTH_MAX)) {
        snprintf(err->reason, sizeof err->reason, "nested deeper than %d",
                 OCSP_INGEST_DEPTH_MAX);
        goto done;
    }
    const json_t *list = root;
    int single = 0;
    if (json_is_object(root)) {
        const json_t *evs = json_object_get(root, "events");
        if (evs != NULL) {
            if (!json_is_array(evs) || json_object_size(root) > 2 ||
                (json_object_size(root) == 2 &&
                 json_object_get(root, "wait") == NULL)) {
                snprintf(err->field, sizeof err->field, "events");
                snprintf(err->reason, sizeof err->reason,
                         "an array, beside at most \"wait\"");
                goto done;
            }
            const json_t *w = json_object_get(root, "wait");
            if (w != NULL && !json_is_boolean(w)) {
                snprintf(err->field, sizeof err->field, "wait");
                snprintf(err->reason, sizeof err->reason, "not a boolean");
                goto done;
            }
            b->wait = json_is_true(w);
            list = evs;
        } else
            single = 1;
    } else if (!json_is_array(root)) {
        snprintf(err->reason, sizeof err->reason,
                 "not an event, an array of events or {\"events\": [...]}");
        goto done;
    }
    size_t n = single ? 1 : json_array_size(list);
    if (n == 0 || n > OCSP_INGEST_BATCH_MAX) {
        snprintf(err->field, sizeof err->field, "events");
        snprintf(err->reason, sizeof err->reason, "1..%d events",
                 OCSP_INGEST_BATCH_MAX);
        goto done;
    }
    b->ev = calloc(n, sizeof *b->ev);
    if (b->ev == NULL) {
        snprintf(err->reason, sizeof err->reason, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *o = single ? root : json_array_get(list, i);
        b->ev[i] = ingest_one(o, i, now, &b->wait, err);
        if (b->ev[i] == NULL) {
            ocsp_ingest_batch_free(b);
            goto done;
        }
        b->n = i + 1;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int ocsp_ingest_parse_pb(const unsigned char *buf, size_t len,
                         struct ocsp_ingest_batch *b,
                         struct ocsp_ingest_error *err)
{
    const char *why = NULL;

    memset(b, 0, sizeof *b);
    memset(err, 0, sizeof *err);
    b->ev = calloc(1, sizeof *b->ev);
    if (b->ev == NULL) {
        snprintf(err->reason, sizeof err->reason, "out of memory");
        return -1;
    }
    Revoca__Event *ev = ocsp_event_decode(buf, len, &why);
    if (ev == NULL) {
        free(b->ev);
        b->ev = NULL;
        snprintf(err->field, sizeof err->field, "events[0]");
        snprintf(err->reason, sizeof err->reason, "not an Event: %s",
                 why != NULL ? why : "invalid");
        return -1;
    }
    /* Our own copy, freed by ingest_event_free() like a JSON one. */
    Revoca__Event *own = calloc(1, sizeof *own);
    if (own == NULL)
        goto oom;
    revoca__event__init(own);
    own->id = strdup(ev->id);
    own->issuer = strdup(ev->issuer);
    own->serial = strdup(ev->serial);
    own->time = ev->time;
    own->kind_case = ev->kind_case;
    size_t sz = 0;
    void *src = NULL;
    switch (ev->kind_case) {
    case REVOCA__EVENT__KIND_ISSUED:
        sz = sizeof *ev->issued;
        src = ev->issued;
        break;
    case REVOCA__EVENT__KIND_REVOKED:
        sz = sizeof *ev->revoked;
        src = ev->revoked;
        break;
    case REVOCA__EVENT__KIND_HOLD:
        sz = sizeof *ev->hold;
        src = ev->hold;
        break;
    case REVOCA__EVENT__KIND_RELEASE:
        sz = sizeof *ev->release;
        src = ev->release;
        break;
    default:
        break;
    }
    void *kind = sz != 0 ? malloc(sz) : NULL;
    if (own->id == NULL || own->issuer == NULL || own->serial == NULL ||
        kind == NULL) {
        free(kind);
        ingest_event_free(own);
        goto oom;
    }
    memcpy(kind, src, sz);
    own->issued = kind; /* the kinds share the union */
    if (own->kind_case == REVOCA__EVENT__KIND_ISSUED &&
        own->issued->cert_der.len != 0) {
        unsigned char *der = malloc(own->issued->cert_der.len);
        if (der == NULL) {
            own->issued->cert_der.data = NULL;
            ingest_event_free(own);
            goto oom;
        }
        memcpy(der, ev->issued->cert_der.data, own->issued->cert_der.len);
        own->issued->cert_der.data = der;
    } else if (own->kind_case == REVOCA__EVENT__KIND_ISSUED) {
        own->issued->cert_der.data = NULL;
    }
    revoca__event__free_unpacked(ev, NULL);
    b->ev[0] = own;
    b->n = 1;
    return 0;
oom:
    revoca__event__free_unpacked(ev, NULL);
    free(b->ev);
    b->ev = NULL;
    snprintf(err->reason, sizeof err->reason, "out of memory");
    return -1;
}

int ocsp_ingest_check(const ocsp_registry_t *reg, struct ocsp_ingest_batch *b,
                      struct ocsp_ingest_error *err)
{
    for (size_t i = 0; i < b->n; i++) {
        Revoca__Event *ev = b->ev[i];
        const ocsp_issuer_t *iss = ocsp_registry_by_name(reg, ev->issuer);
        const char *why;
        if (iss == NULL) {
            ingest_err(err, i, "issuer", "not an issuer of this Revoca");
            return -1;
        }
        /* The issuer's profile (policy.h), as the CLI judges it. */
        why = ocsp_profile_refuses(iss->conf->profile, ev);
        if (why != NULL) {
            ingest_err(err, i,
                       ev->kind_case == REVOCA__EVENT__KIND_REVOKED ? "reason"
                                                                    : "kind",
                       why);
            return -1;
        }
        if (ev->kind_case != REVOCA__EVENT__KIND_ISSUED)
            continue;
        Revoca__Issued *is = ev->issued;
        unsigned requested = is->has_shard ? is->shard : OCSP_SHARD_ANY;
        if (is->has_shard && is->shard >= iss->conf->shards) {
            ingest_err(err, i, "shard", "not below the issuer's shard count");
            return -1;
        }
        if (!is->has_cert_der || is->cert_der.len == 0)
            continue;
        const unsigned char *p = is->cert_der.data;
        X509 *x = d2i_X509(NULL, &p, (long)is->cert_der.len);
        if (x == NULL || p != is->cert_der.data + is->cert_der.len ||
            ocsp_cert_issued_by(x, iss->cert) != 0) {
            X509_free(x);
            ingest_err(err, i, "certificate",
                       "not a certificate issued by this issuer's CA");
            return -1;
        }
        /* Its CRL clients read the CRL its distribution point names: the
         * shard is that one, never a guess (shard.h). */
        ocsp_shard_t sr;
        int rc = ocsp_shard_from_cert(iss->conf, x, requested, &sr);
        X509_free(x);
        if (rc != 0) {
            ingest_err(err, i, "certificate", sr.err);
            return -1;
        }
        is->has_shard = sr.shard != OCSP_SHARD_ANY;
        is->shard = is->has_shard ? sr.shard : 0;
    }
    return 0;
}

int ocsp_ingest_stamp(struct ocsp_ingest_batch *b, const char *principal)
{
    if (!ocsp_origin_text_valid(principal, OCSP_ORIGIN_PRINCIPAL_MAX))
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        Revoca__Event *ev = b->ev[i];
        Revoca__Origin *og = ev->origin;
        if (og == NULL) {
            og = calloc(1, sizeof *og);
            if (og == NULL)
                return -1;
            revoca__origin__init(og);
            ev->origin = og;
        }
        free(og->via);
        free(og->principal);
        og->via = strdup("ingest");
        og->principal = strdup(principal);
        if (og->via == NULL || og->principal == NULL)
            return -1;
    }
    return 0;
}
