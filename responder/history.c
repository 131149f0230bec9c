#include "history.h"

#include <string.h>

static int time_ok(int64_t t)
{
    return t >= 0 && t <= OCSP_TIME_MAX;
}

int ocsp_stream_id_valid(const char *s)
{
    size_t ms = strspn(s, "0123456789"), seq;

    if (ms == 0 || ms > 20 || s[ms] != '-') {
        return 0;
    }
    seq = strspn(s + ms + 1, "0123456789");
    return seq > 0 && seq <= 20 && s[ms + 1 + seq] == '\0';
}

size_t ocsp_history_pack(const Revoca__Event *ev, const char *stream_id,
                         int64_t applied, unsigned char *out)
{
    Revoca__HistoryEntry h = REVOCA__HISTORY_ENTRY__INIT;
    size_t n;

    if (!ocsp_stream_id_valid(stream_id)) {
        return 0;
    }
    h.stream_id = (char *)stream_id;
    h.event_id = ev->id;
    h.reported = ev->time;
    h.origin = ev->origin;
    h.has_applied = 1;
    h.applied = applied;
    switch (ev->kind_case) {
    case REVOCA__EVENT__KIND_ISSUED:
        h.kind = REVOCA__HISTORY_KIND__H_ISSUED;
        h.at = ev->issued->not_before;
        h.has_not_after = 1;
        h.not_after = ev->issued->not_after;
        break;
    case REVOCA__EVENT__KIND_REVOKED:
        h.kind = REVOCA__HISTORY_KIND__H_REVOKED;
        h.at = ev->revoked->revocation_time;
        h.has_reason = 1;
        h.reason = ev->revoked->has_reason ? ev->revoked->reason
                                           : REVOCA__REASON__UNSPECIFIED;
        h.has_invalidity_date = ev->revoked->has_invalidity_date;
        h.invalidity_date = ev->revoked->invalidity_date;
        break;
    case REVOCA__EVENT__KIND_HOLD:
        h.kind = REVOCA__HISTORY_KIND__H_HOLD;
        h.at = ev->hold->hold_time;
        h.has_invalidity_date = ev->hold->has_invalidity_date;
        h.invalidity_date = ev->hold->invalidity_date;
        break;
    case REVOCA__EVENT__KIND_RELEASE:
        h.kind = REVOCA__HISTORY_KIND__H_RELEASE;
        h.at = ev->release->release_time;
        break;
    default:
        return 0;
    }
    n = revoca__history_entry__get_packed_size(&h);
    if (n > OCSP_HISTORY_ENTRY_MAX) {
        return 0; /* cannot happen with a valid event: its fields are bounded */
    }
    return revoca__history_entry__pack(&h, out);
}

static const char *history_check(const Revoca__HistoryEntry *h)
{
    size_t idlen = strlen(h->event_id);

    if (!ocsp_stream_id_valid(h->stream_id)) {
        return "bad stream id";
    }
    if (idlen == 0 || idlen > OCSP_EVENT_ID_MAX) {
        return "bad event id";
    }
    if (h->kind < REVOCA__HISTORY_KIND__H_ISSUED ||
        h->kind > REVOCA__HISTORY_KIND__H_RELEASE) {
        return "unknown kind";
    }
    if (!time_ok(h->reported) || !time_ok(h->at) ||
        (h->has_not_after && !time_ok(h->not_after)) ||
        (h->has_invalidity_date && !time_ok(h->invalidity_date)) ||
        (h->has_applied && !time_ok(h->applied))) {
        return "time out of range";
    }
    if (h->has_reason && (h->kind != REVOCA__HISTORY_KIND__H_REVOKED ||
                          !ocsp_revocation_reason_valid((int)h->reason))) {
        return "bad reason";
    }
    return h->origin != NULL ? ocsp_origin_check(h->origin) : NULL;
}

Revoca__HistoryEntry *ocsp_history_decode(const void *p, size_t len,
                                          const char **why)
{
    Revoca__HistoryEntry *h;

    if (len == 0 || len > OCSP_HISTORY_ENTRY_MAX) {
        *why = "entry size out of bounds";
        return NULL;
    }
    h = revoca__history_entry__unpack(NULL, len, p);
    if (h == NULL) {
        *why = "not a protobuf HistoryEntry";
        return NULL;
    }
    /* As ocsp_event_decode(): a NUL inside a string would be checked only
     * up to it. */
    if (revoca__history_entry__get_packed_size(h) != len) {
        *why = "not a canonical HistoryEntry";
    } else {
        *why = history_check(h);
    }
    if (*why != NULL) {
        revoca__history_entry__free_unpacked(h, NULL);
        return NULL;
    }
    return h;
}

void ocsp_history_free(Revoca__HistoryEntry *h)
{
    if (h != NULL) {
        revoca__history_entry__free_unpacked(h, NULL);
    }
}

const char *ocsp_history_kind_name(int kind)
{
    switch (kind) {
    case REVOCA__HISTORY_KIND__H_ISSUED:
        return "issued";
    case REVOCA__HISTORY_KIND__H_REVOKED:
        return "revoked";
    case REVOCA__HISTORY_KIND__H_HOLD:
        return "hold";
    case REVOCA__HISTORY_KIND__H_RELEASE:
        return "release";
    default:
        return "?";
    }
}

int ocsp_history_same(const Revoca__HistoryEntry *a,
                      const Revoca__HistoryEntry *b)
{
    return strcmp(a->stream_id, b->stream_id) == 0 &&
           strcmp(a->event_id, b->event_id) == 0;
}
