/* The signer's batch index (signer_batch.h): one item per (issuer, serial),
 * found again by both, the batch's bound, overlap and routing of events
 * read ahead. */
#include <stdlib.h>

#include "check.h"
#include "signer_batch.h"

static ocsp_issuer_conf_t conf_a = {.name = "a"}, conf_b = {.name = "b"};
static ocsp_issuer_t iss_a = {.conf = &conf_a}, iss_b = {.conf = &conf_b};
/* Stands for a decoded event: never read, never freed here. */
static Revoca__Event dummy_event;

static void serial_of(char *buf, size_t i)
{
    snprintf(buf, OCSP_SERIAL_HEX_MAX + 1, "%zx", i + 1);
}

/* Entries are the events' owners: forgotten before a reset. */
static void forget_events(signer_batch_t *b)
{
    for (size_t i = 0; i < b->nentries; i++) {
        b->entries[i].ev = NULL;
    }
}

static void add_entry(signer_batch_t *b, const ocsp_issuer_t *iss,
                      const char *serial)
{
    signer_entry_t *en = &b->entries[b->nentries++];

    memset(en, 0, sizeof(*en));
    snprintf(en->id, sizeof(en->id), "%zu-0", b->nentries);
    en->ev = &dummy_event;
    CHECK(signer_batch_item(b, iss, serial, "p", &en->item) != NULL);
}

static void test_index(signer_batch_t *b)
{
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    signer_item_t *it, *again;
    size_t idx, idx2;

    CHECK(signer_batch_find(b, &iss_a, "1") == -1);
    it = signer_batch_item(b, &iss_a, "1", "p", &idx);
    CHECK(it != NULL && idx == 0 && b->nitems == 1);
    CHECK_STR(it->cert_key, "p:cert:a:1");
    CHECK(it->iss == &iss_a);
    /* the same certificate again: the same item */
    again = signer_batch_item(b, &iss_a, "1", "p", &idx2);
    CHECK(again == it && idx2 == 0 && b->nitems == 1);
    /* the same serial of another issuer: another item */
    it = signer_batch_item(b, &iss_b, "1", "p", &idx);
    CHECK(it != NULL && idx == 1 && b->nitems == 2);
    CHECK_STR(it->cert_key, "p:cert:b:1");
    CHECK(signer_batch_find(b, &iss_a, "1") == 0);
    CHECK(signer_batch_find(b, &iss_b, "1") == 1);
    CHECK(signer_batch_find(b, &iss_b, "2") == -1);

    /* Full: every item found where it went, then no room. */
    for (size_t i = 2; i < SIGNER_BATCH_MAX; i++) {
        serial_of(serial, i);
        it = signer_batch_item(b, &iss_a, serial, "p", &idx);
        CHECK(it != NULL && idx == i);
    }
    CHECK(b->nitems == SIGNER_BATCH_MAX);
    for (size_t i = 2; i < SIGNER_BATCH_MAX; i++) {
        serial_of(serial, i);
        CHECK(signer_batch_find(b, &iss_a, serial) == (long)i);
    }
    CHECK(signer_batch_item(b, &iss_b, "ffff", "p", &idx) == NULL);
    CHECK(b->nitems == SIGNER_BATCH_MAX);
    /* an item already in is still found when full */
    CHECK(signer_batch_item(b, &iss_a, "1", "p", &idx) != NULL && idx == 0);

    signer_batch_reset(b);
    CHECK(b->nitems == 0 && b->nentries == 0);
    CHECK(signer_batch_find(b, &iss_a, "1") == -1);
    serial_of(serial, 100);
    CHECK(signer_batch_find(b, &iss_a, serial) == -1);
}

static void test_overlap_route(signer_batch_t *cur, signer_batch_t *next)
{
    add_entry(cur, &iss_a, "1");
    add_entry(cur, &iss_a, "2");
    add_entry(next, &iss_b, "1"); /* not in cur: another issuer */
    add_entry(next, &iss_a, "3");
    CHECK(!signer_batch_overlaps(cur, next));
    add_entry(next, &iss_a, "2"); /* in cur */
    add_entry(next, &iss_a, "3");
    CHECK(signer_batch_overlaps(cur, next));
    CHECK(signer_batch_overlaps(next, cur));
    CHECK(next->nitems == 3 && next->nentries == 4);

    signer_batch_route(cur, next);
    /* the event about a:2 went to cur's item */
    CHECK(cur->nentries == 3 && cur->nitems == 2);
    CHECK(cur->entries[2].item == (size_t)signer_batch_find(cur, &iss_a, "2"));
    CHECK_STR(cur->entries[2].id, "3-0");
    /* next keeps the others, its items renumbered and indexed again */
    CHECK(next->nentries == 3 && next->nitems == 2);
    CHECK(!signer_batch_overlaps(cur, next));
    CHECK(signer_batch_find(next, &iss_a, "2") == -1);
    for (size_t i = 0; i < next->nentries; i++) {
        const signer_item_t *it = &next->items[next->entries[i].item];
        CHECK(signer_batch_find(next, it->iss, it->serial) ==
              (long)next->entries[i].item);
    }
    CHECK_STR(next->items[next->entries[0].item].cert_key, "p:cert:b:1");
    CHECK_STR(next->items[next->entries[1].item].cert_key, "p:cert:a:3");
    CHECK(next->entries[1].item == next->entries[2].item);
    forget_events(cur);
    forget_events(next);
    signer_batch_reset(cur);
    signer_batch_reset(next);
}

int main(void)
{
    signer_batch_t *b = calloc(2, sizeof(*b));

    if (b == NULL) {
        return 1;
    }
    test_index(&b[0]);
    test_overlap_route(&b[0], &b[1]);
    free(b);
    CHECK_DONE();
}
