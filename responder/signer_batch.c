#include "signer_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void signer_item_forget(signer_item_t *it)
{
    for (int h = 0; h < OCSP_HASH_COUNT; h++) {
        free(it->der[h]);
        it->der[h] = NULL;
    }
}

void signer_batch_reset(signer_batch_t *b)
{
    size_t i;

    for (i = 0; i < b->nentries; i++) {
        if (b->entries[i].ev) {
            revoca__event__free_unpacked(b->entries[i].ev, NULL);
        }
    }
    for (i = 0; i < b->nitems; i++) {
        if (b->items[i].loaded) {
            ocsp_record_free(b->items[i].loaded, NULL);
        }
        signer_item_forget(&b->items[i]);
    }
    memset(b->slot, 0, sizeof(b->slot));
    b->nentries = 0;
    b->nitems = 0;
}

static size_t batch_hash(const ocsp_issuer_t *iss, const char *serial)
{
    uint64_t h = 14695981039346656037ULL ^ (uint64_t)(uintptr_t)iss;

    for (; *serial; serial++) {
        h = (h ^ (unsigned char)*serial) * 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29)) & (SIGNER_BATCH_SLOTS - 1);
}

/* Where (iss, serial) is in b's index: the slot of its item, or the free
 * slot it would take.  At most half the slots are taken: the probe ends. */
static size_t batch_slot(const signer_batch_t *b, const ocsp_issuer_t *iss,
                         const char *serial)
{
    size_t h = batch_hash(iss, serial);

    for (; b->slot[h] != 0; h = (h + 1) & (SIGNER_BATCH_SLOTS - 1)) {
        const signer_item_t *it = &b->items[b->slot[h] - 1];
        if (it->iss == iss && strcmp(it->serial, serial) == 0) {
            break;
        }
    }
    return h;
}

long signer_batch_find(const signer_batch_t *b, const ocsp_issuer_t *iss,
                       const char *serial)
{
    return (long)b->slot[batch_slot(b, iss, serial)] - 1;
}

signer_item_t *signer_batch_item(signer_batch_t *b, const ocsp_issuer_t *iss,
                                 const char *serial, const char *prefix,
                                 size_t *index)
{
    size_t h = batch_slot(b, iss, serial);
    signer_item_t *it;

    if (b->slot[h] != 0) {
        *index = (size_t)(b->slot[h] - 1);
        return &b->items[*index];
    }
    if (b->nitems == SIGNER_BATCH_MAX) {
        return NULL;
    }
    it = &b->items[b->nitems];
    memset(it, 0, sizeof(*it));
    it->iss = iss;
    snprintf(it->serial, sizeof(it->serial), "%s", serial);
    ocsp_key_cert(it->cert_key, prefix, iss->conf->name, serial);
    *index = b->nitems++;
    b->slot[h] = (uint16_t)(*index + 1);
    return it;
}

void signer_batch_drop_held(signer_batch_t *b, const signer_batch_t *held)
{
    size_t i, j, kept = 0;

    if (held == NULL || held->nentries == 0) {
        return;
    }
    for (i = 0; i < b->nentries; i++) {
        signer_entry_t *en = &b->entries[i];
        if (en->redelivered) {
            /* rare (a claim that found entries): a scan is enough */
            for (j = 0;
                 j < held->nentries && strcmp(held->entries[j].id, en->id) != 0;
                 j++) {
            }
            if (j < held->nentries) {
                if (en->ev != NULL) {
                    revoca__event__free_unpacked(en->ev, NULL);
                }
                continue;
            }
        }
        b->entries[kept++] = *en;
    }
    b->nentries = kept;
}

int signer_batch_overlaps(const signer_batch_t *a, const signer_batch_t *b)
{
    for (size_t i = 0; i < b->nitems; i++) {
        if (signer_batch_find(a, b->items[i].iss, b->items[i].serial) >= 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Moves the events of NEXT (read ahead, not loaded) about a certificate CUR
 * also holds into CUR, which is loaded but not yet built: NEXT is loaded
 * before CUR's transaction commits, so a certificate in both would fail
 * NEXT's WATCH and have the whole batch signed again (in a bulk import, an
 * issue and a revocation split by a batch boundary).  Events commute
 * (record.h), so applying one with the batch before changes nothing but
 * the work.  NEXT's items left without events are dropped.
 */
void signer_batch_route(signer_batch_t *cur, signer_batch_t *next)
{
    static const size_t none = (size_t)-1;
    size_t map[SIGNER_BATCH_MAX];
    size_t i, kept = 0, items = 0;

    if (cur->nitems == 0 || next->nitems == 0) {
        return;
    }
    for (i = 0; i < next->nitems; i++) {
        map[i] = none;
    }
    for (i = 0; i < next->nentries; i++) {
        signer_entry_t *en = &next->entries[i];
        if (en->ev != NULL && cur->nentries < SIGNER_BATCH_MAX) {
            const signer_item_t *it = &next->items[en->item];
            long c = signer_batch_find(cur, it->iss, it->serial);
            if (c >= 0) {
                cur->entries[cur->nentries] = *en;
                cur->entries[cur->nentries++].item = (size_t)c;
                /* a redelivered event redoes its writes there too */
                cur->items[c].redo |= it->redo;
                continue;
            }
        }
        if (en->ev != NULL) {
            map[en->item] = 0; /* still used */
        }
        next->entries[kept++] = *en;
    }
    if (kept == next->nentries) {
        return;
    }
    next->nentries = kept;
    /* Keep the items still used, in order, and index them again. */
    memset(next->slot, 0, sizeof(next->slot));
    for (i = 0; i < next->nitems; i++) {
        if (map[i] == none) {
            continue;
        }
        map[i] = items;
        if (items != i) {
            next->items[items] = next->items[i];
        }
        next->slot[batch_slot(next, next->items[items].iss,
                              next->items[items].serial)] =
            (uint16_t)(items + 1);
        items++;
    }
    next->nitems = items;
    for (i = 0; i < next->nentries; i++) {
        if (next->entries[i].ev != NULL) {
            next->entries[i].item = map[next->entries[i].item];
        }
    }
}
