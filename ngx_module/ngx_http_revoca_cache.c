
/*
 * The shared-memory cache of signed responses, one zone for all workers: a
 * hash table of "issuer:serial:hash" keys (a power of two of buckets, about
 * one per entry the zone can hold, so that a look-up reads the bucket and
 * one entry), slab memory, and eviction by the CLOCK approximation of LRU:
 * entries queue in the order they were stored, a look-up only marks its
 * entry's bucket used, and eviction gives an entry of a used bucket at the
 * queue's end a second turn instead of freeing it.  A look-up thus writes
 * nothing but that mark (once per turn), where moving the entry to the
 * head of an LRU queue would touch two more entries at random places of
 * the zone.
 *
 * Look-ups take no lock (a seqlock per bucket).  Writers (store, replace,
 * expire, evict) hold the zone's mutex, as before, and make every change
 * to a bucket's chain between two increments of the bucket's sequence
 * number: odd while the change is under way.  A reader reads the sequence
 * number, walks the chain and copies the entry out, and keeps the copy
 * only if the number is even and unchanged afterwards; else it tries again
 * and in the end falls back to the mutex.  Why a copy so taken is never
 * torn: an entry is unlinked from its bucket, and only then freed (its
 * memory reused by another entry), inside a change of that bucket; a
 * reader that could still reach the entry read the number before the
 * change began, and any write to the entry's memory it saw comes after
 * that change's start (the writer's release fence after the odd number),
 * so its second reading (after an acquire fence) differs.  What a reader
 * reads before it knows it is valid may be garbage from memory being
 * reused: every pointer is checked to lie inside the zone, every length
 * against its bound and the zone's end, the walk is bounded, and the
 * fields are read once into a local copy before use.  The zone's memory
 * is never unmapped while nginx runs, so such reads are harmless.
 *
 * The used mark is the bucket's, not the entry's: a reader writes it with
 * no lock, and a bucket (unlike an entry) is never freed, so that write
 * cannot land in memory given to another entry.  Entries sharing a bucket
 * (rare at one bucket per entry) share the mark.
 *
 * An entry is "fresh" for the asking location's lifetime
 * (revoca_cache_valid) after it was stored and usable until the response's
 * nextUpdate; after nextUpdate it is never returned and is freed at the
 * next look-up (under the mutex) or allocation.  One zone serves every
 * location, so an entry records its origin and a look-up names the origins
 * the asking location may produce: an answer signed on the request path is
 * never served where request-path signing is off.
 */


#include "ngx_http_revoca.h"


/* bytes of zone per bucket: an entry (about 100 bytes, the key, a DER
 * response of 500 to 900 bytes) takes a 1024-byte slab chunk */
#define NGX_HTTP_REVOCA_CACHE_BUCKET_BYTES  1024

/* used entries given a second turn before one is evicted regardless */
#define NGX_HTTP_REVOCA_CACHE_SECOND_TURNS  8

/* lock-free reads tried before a look-up takes the mutex */
#define NGX_HTTP_REVOCA_CACHE_READ_TRIES    4

/* the longest chain a lock-free read walks: longer only if what it read
 * was torn (a cycle), or the table very full; then the mutex */
#define NGX_HTTP_REVOCA_CACHE_CHAIN_MAX     32

/*
 * The seqlock's ordering, with GCC's C11-style builtins: acquire/release
 * are plain moves on x86 (nginx's ngx_memory_barrier() would be a full
 * fence, mfence, twice per look-up), and the right barriers elsewhere.
 */
#define ngx_http_revoca_seq_load(p)       __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define ngx_http_revoca_seq_reload(p)                                         \
    (__atomic_thread_fence(__ATOMIC_ACQUIRE),                                 \
     __atomic_load_n(p, __ATOMIC_RELAXED))


typedef struct ngx_http_revoca_cache_node_s  ngx_http_revoca_cache_node_t;

struct ngx_http_revoca_cache_node_s {
    ngx_http_revoca_cache_node_t *next;         /* in its bucket */
    ngx_queue_t                   queue;        /* in storing order */
    uint32_t                      hash;
    uint32_t                      der_len;
    time_t                        stored;
    time_t                        this_update;
    time_t                        next_update;
    u_char                        etag[NGX_HTTP_REVOCA_ETAG_LEN];
    u_char                        key_len;
    u_char                        cert_status;
    u_char                        origin;
    u_char                        data[1];      /* key, then DER */
};


typedef struct {
    ngx_http_revoca_cache_node_t *head;
    uint32_t                      seq;          /* odd: chain changing */
    uint32_t                      used;         /* looked up since its turn */
} ngx_http_revoca_cache_bucket_t;


typedef struct {
    ngx_queue_t                   queue;
    ngx_uint_t                    mask;         /* buckets - 1 */
    ngx_http_revoca_cache_bucket_t  buckets[1];
} ngx_http_revoca_cache_sh_t;


struct ngx_http_revoca_cache_s {
    ngx_http_revoca_cache_sh_t   *sh;
    ngx_slab_pool_t              *shpool;
};


static ngx_int_t ngx_http_revoca_cache_read(ngx_http_revoca_cache_t *cache,
    ngx_str_t *key, uint32_t hash, ngx_http_revoca_cache_node_t *hdr,
    ngx_str_t *der, ngx_pool_t *pool);
static ngx_int_t ngx_http_revoca_cache_get_locked(
    ngx_http_revoca_cache_t *cache, ngx_str_t *key, uint32_t hash,
    ngx_uint_t origins, time_t valid, ngx_http_revoca_answer_t *ans,
    ngx_pool_t *pool);
static void ngx_http_revoca_cache_answer(ngx_http_revoca_cache_node_t *hdr,
    time_t now, time_t valid, ngx_http_revoca_answer_t *ans);
static ngx_http_revoca_cache_node_t **ngx_http_revoca_cache_lookup(
    ngx_http_revoca_cache_t *cache, ngx_str_t *key, uint32_t hash);
static void ngx_http_revoca_cache_change(ngx_http_revoca_cache_bucket_t *b);
static void ngx_http_revoca_cache_changed(ngx_http_revoca_cache_bucket_t *b);
static void ngx_http_revoca_cache_delete(ngx_http_revoca_cache_t *cache,
    ngx_http_revoca_cache_node_t *cn);
static void ngx_http_revoca_cache_expire(ngx_http_revoca_cache_t *cache);
static ngx_int_t ngx_http_revoca_cache_evict(ngx_http_revoca_cache_t *cache);


void *
ngx_http_revoca_cache_create(ngx_pool_t *pool)
{
    return ngx_pcalloc(pool, sizeof(ngx_http_revoca_cache_t));
}


ngx_int_t
ngx_http_revoca_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_revoca_cache_t  *ocache = data;

    size_t                    len;
    ngx_uint_t                n;
    ngx_http_revoca_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    for (n = 64; n < shm_zone->shm.size / NGX_HTTP_REVOCA_CACHE_BUCKET_BYTES;
         n <<= 1)
    {
        /* void */
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               offsetof(ngx_http_revoca_cache_sh_t, buckets)
                               + n * sizeof(ngx_http_revoca_cache_bucket_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_queue_init(&cache->sh->queue);
    cache->sh->mask = n - 1;
    ngx_memzero(cache->sh->buckets, n * sizeof(ngx_http_revoca_cache_bucket_t));

    len = sizeof(" in revoca cache zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in revoca cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_revoca_cache_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_uint_t origins, time_t valid, ngx_http_revoca_answer_t *ans,
    ngx_pool_t *pool)
{
    time_t                           now;
    uint32_t                         hash;
    ngx_int_t                        rc;
    ngx_str_t                        der;
    ngx_http_revoca_cache_t         *cache;
    ngx_http_revoca_cache_node_t     hdr;
    ngx_http_revoca_cache_bucket_t  *b;

    cache = zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    now = ngx_time();

    rc = ngx_http_revoca_cache_read(cache, key, hash, &hdr, &der, pool);

    if (rc == NGX_DECLINED || rc == NGX_ERROR) {
        return rc;
    }

    if (rc == NGX_AGAIN || hdr.next_update <= now) {
        /* no consistent read, or an entry to free: under the mutex */
        return ngx_http_revoca_cache_get_locked(cache, key, hash, origins,
                                                valid, ans, pool);
    }

    if (!(hdr.origin & origins)) {
        /* not this location's to give; left for the locations it is */
        return NGX_DECLINED;
    }

    ngx_http_revoca_cache_answer(&hdr, now, valid, ans);
    ans->der = der;

    b = &cache->sh->buckets[hash & cache->sh->mask];

    if (!b->used) {
        /* written once per turn, not per look-up: the line stays clean
         * in the other workers' caches */
        b->used = 1;
    }

    return NGX_OK;
}


/*
 * The lock-free read: NGX_OK, KEY's entry's fields in *hdr and a copy of
 * its DER in *der (POOL), both as they were at one moment; NGX_DECLINED:
 * no entry for KEY at that moment; NGX_AGAIN: no consistent read (writers
 * kept changing the bucket, or its chain is too long); NGX_ERROR.
 */

static ngx_int_t
ngx_http_revoca_cache_read(ngx_http_revoca_cache_t *cache, ngx_str_t *key,
    uint32_t hash, ngx_http_revoca_cache_node_t *hdr, ngx_str_t *der,
    ngx_pool_t *pool)
{
    u_char                          *lo, *hi, *p;
    uint32_t                         seq;
    ngx_uint_t                       tries, n;
    ngx_http_revoca_cache_node_t    *cn;
    ngx_http_revoca_cache_bucket_t  *b;

    b = &cache->sh->buckets[hash & cache->sh->mask];

    /* where an entry's header may lie: in the zone's slab pages */
    lo = cache->shpool->start;
    hi = cache->shpool->end - offsetof(ngx_http_revoca_cache_node_t, data);

    der->data = NULL;

    for (tries = 0; tries < NGX_HTTP_REVOCA_CACHE_READ_TRIES; tries++) {

        seq = ngx_http_revoca_seq_load(&b->seq);

        if (seq & 1) {
            ngx_cpu_pause();
            continue;
        }

        /* the chain, each entry's header read once into *hdr */

        cn = *(ngx_http_revoca_cache_node_t * volatile *) &b->head;

        for (n = 0; cn != NULL; n++) {

            if (n == NGX_HTTP_REVOCA_CACHE_CHAIN_MAX
                || (u_char *) cn < lo || (u_char *) cn > hi
                || ((uintptr_t) cn & (sizeof(void *) - 1)))
            {
                /* torn (or a very long chain): read again */
                cn = NULL;
                goto check;
            }

            ngx_memcpy(hdr, cn, offsetof(ngx_http_revoca_cache_node_t, data));

            /* the compiler may not read a field again from the entry
             * (changing under us) in place of the copy checked */
            __asm__ volatile ("" ::: "memory");

            if (hdr->hash == hash
                && hdr->key_len == key->len
                && cn->data + key->len <= cache->shpool->end
                && ngx_memcmp(cn->data, key->data, key->len) == 0)
            {
                break;
            }

            cn = hdr->next;
        }

        if (cn != NULL) {
            p = cn->data + hdr->key_len;

            if (hdr->der_len == 0 || hdr->der_len > NGX_HTTP_REVOCA_DER_MAX
                || (size_t) (cache->shpool->end - p) < hdr->der_len)
            {
                goto check;
            }

            if (der->data == NULL || der->len < hdr->der_len) {
                /* once, unless a torn length asked for more */
                der->data = ngx_pnalloc(pool, hdr->der_len);
                if (der->data == NULL) {
                    return NGX_ERROR;
                }
            }

            ngx_memcpy(der->data, p, hdr->der_len);
            der->len = hdr->der_len;
        }

        if (ngx_http_revoca_seq_reload(&b->seq) == seq) {
            return (cn != NULL) ? NGX_OK : NGX_DECLINED;
        }

        continue;

    check:

        /* a torn read is retried; a chain that was truly too long (the
         * number did not change) goes to the mutex */

        if (ngx_http_revoca_seq_reload(&b->seq) == seq) {
            return NGX_AGAIN;
        }
    }

    return NGX_AGAIN;
}


/* the look-up under the mutex, where an entry past nextUpdate is freed */

static ngx_int_t
ngx_http_revoca_cache_get_locked(ngx_http_revoca_cache_t *cache,
    ngx_str_t *key, uint32_t hash, ngx_uint_t origins, time_t valid,
    ngx_http_revoca_answer_t *ans, ngx_pool_t *pool)
{
    time_t                          now;
    ngx_int_t                       rc;
    ngx_http_revoca_cache_node_t   *cn;

    now = ngx_time();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = *ngx_http_revoca_cache_lookup(cache, key, hash);

    if (cn == NULL) {
        goto done;
    }

    if (cn->next_update <= now) {
        /* RFC 5019 4: never serve a response past its nextUpdate */
        ngx_http_revoca_cache_delete(cache, cn);
        goto done;
    }

    if (!(cn->origin & origins)) {
        goto done;
    }

    /* the entry may be freed once the mutex is released: copied out */

    ans->der.data = ngx_pnalloc(pool, cn->der_len);
    if (ans->der.data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(ans->der.data, cn->data + cn->key_len, cn->der_len);
    ans->der.len = cn->der_len;
    ngx_http_revoca_cache_answer(cn, now, valid, ans);

    cache->sh->buckets[hash & cache->sh->mask].used = 1;

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/* ANS from an entry's header (its DER aside) */

static void
ngx_http_revoca_cache_answer(ngx_http_revoca_cache_node_t *hdr, time_t now,
    time_t valid, ngx_http_revoca_answer_t *ans)
{
    ans->this_update = hdr->this_update;
    ans->next_update = hdr->next_update;
    ans->cert_status = hdr->cert_status;
    ans->origin = hdr->origin;
    ans->fresh = (now - hdr->stored < valid);
    ngx_memcpy(ans->etag, hdr->etag, NGX_HTTP_REVOCA_ETAG_LEN);
}


void
ngx_http_revoca_cache_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_revoca_answer_t *ans)
{
    size_t                          size;
    uint32_t                        hash;
    ngx_uint_t                      n;
    ngx_http_revoca_cache_t         *cache;
    ngx_http_revoca_cache_node_t    *cn;
    ngx_http_revoca_cache_bucket_t  *b;

    if (ans->der.len > NGX_HTTP_REVOCA_DER_MAX
        || key->len > NGX_HTTP_REVOCA_CACHE_KEY_MAX)
    {
        return;
    }

    cache = zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    size = offsetof(ngx_http_revoca_cache_node_t, data)
           + key->len + ans->der.len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = *ngx_http_revoca_cache_lookup(cache, key, hash);

    if (cn) {
        /* replaced: a re-signed response, or another location's answer */
        ngx_http_revoca_cache_delete(cache, cn);
    }

    ngx_http_revoca_cache_expire(cache);

    /* evict until the new one fits */

    for (n = 0; n < 64; n++) {
        cn = ngx_slab_alloc_locked(cache->shpool, size);
        if (cn) {
            break;
        }

        if (ngx_http_revoca_cache_evict(cache) != NGX_OK) {
            break;
        }
    }

    if (cn == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    cn->hash = hash;
    cn->stored = ngx_time();
    cn->origin = (u_char) ans->origin;
    cn->this_update = ans->this_update;
    cn->next_update = ans->next_update;
    cn->cert_status = (u_char) ans->cert_status;
    cn->key_len = (u_char) key->len;
    cn->der_len = (uint32_t) ans->der.len;
    ngx_memcpy(cn->etag, ans->etag, NGX_HTTP_REVOCA_ETAG_LEN);
    ngx_memcpy(cn->data, key->data, key->len);
    ngx_memcpy(cn->data + key->len, ans->der.data, ans->der.len);

    /* the entry is whole before readers can reach it */

    b = &cache->sh->buckets[hash & cache->sh->mask];

    if (b->head == NULL) {
        /* a mark left by the bucket's last entry is not the new one's */
        b->used = 0;
    }

    ngx_http_revoca_cache_change(b);
    cn->next = b->head;
    b->head = cn;
    ngx_http_revoca_cache_changed(b);

    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/*
 * The link that points to KEY's entry in its bucket, or the bucket's
 * terminating NULL link if there is none.
 */

static ngx_http_revoca_cache_node_t **
ngx_http_revoca_cache_lookup(ngx_http_revoca_cache_t *cache, ngx_str_t *key,
    uint32_t hash)
{
    ngx_http_revoca_cache_node_t  **pcn, *cn;

    for (pcn = &cache->sh->buckets[hash & cache->sh->mask].head;
         (cn = *pcn) != NULL;
         pcn = &cn->next)
    {
        if (cn->hash == hash
            && cn->key_len == key->len
            && ngx_memcmp(cn->data, key->data, key->len) == 0)
        {
            break;
        }
    }

    return pcn;
}


/*
 * Unlinks and frees CN inside a change of its bucket: a reader that may
 * still reach it sees the change (see the top of the file).
 */

static void
ngx_http_revoca_cache_delete(ngx_http_revoca_cache_t *cache,
    ngx_http_revoca_cache_node_t *cn)
{
    ngx_http_revoca_cache_node_t    **pcn;
    ngx_http_revoca_cache_bucket_t   *b;

    b = &cache->sh->buckets[cn->hash & cache->sh->mask];

    for (pcn = &b->head; *pcn != cn; pcn = &(*pcn)->next) {
        /* void */
    }

    ngx_http_revoca_cache_change(b);

    *pcn = cn->next;

    ngx_queue_remove(&cn->queue);
    ngx_slab_free_locked(cache->shpool, cn);

    ngx_http_revoca_cache_changed(b);
}


/*
 * A change of a bucket's chain begins (the number odd) and ends (even
 * again); the writer holds the mutex.  The release fence orders the odd
 * number before the change's writes, and whatever a later change writes
 * into memory freed in this one; the release store orders the change's
 * writes before the even number.
 */

static void
ngx_http_revoca_cache_change(ngx_http_revoca_cache_bucket_t *b)
{
    __atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}


static void
ngx_http_revoca_cache_changed(ngx_http_revoca_cache_bucket_t *b)
{
    __atomic_store_n(&b->seq, b->seq + 1, __ATOMIC_RELEASE);
}


/* Frees up to a few entries past their nextUpdate from the queue's end. */

static void
ngx_http_revoca_cache_expire(ngx_http_revoca_cache_t *cache)
{
    time_t                          now;
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_revoca_cache_node_t   *cn;

    now = ngx_time();

    for (n = 0; n < 3; n++) {

        if (ngx_queue_empty(&cache->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&cache->sh->queue);
        cn = ngx_queue_data(q, ngx_http_revoca_cache_node_t, queue);

        if (cn->next_update > now) {
            return;
        }

        ngx_http_revoca_cache_delete(cache, cn);
    }
}


/*
 * Frees one entry: the first unused one from the queue's end, the used
 * ones passed on the way going back to its head unmarked (CLOCK); after a
 * few, the one at the end regardless.  NGX_DECLINED: the cache is empty.
 */

static ngx_int_t
ngx_http_revoca_cache_evict(ngx_http_revoca_cache_t *cache)
{
    ngx_uint_t                       n;
    ngx_queue_t                     *q;
    ngx_http_revoca_cache_node_t    *cn;
    ngx_http_revoca_cache_bucket_t  *b;

    for (n = 0; /* void */; n++) {

        if (ngx_queue_empty(&cache->sh->queue)) {
            return NGX_DECLINED;
        }

        q = ngx_queue_last(&cache->sh->queue);
        cn = ngx_queue_data(q, ngx_http_revoca_cache_node_t, queue);

        b = &cache->sh->buckets[cn->hash & cache->sh->mask];

        if (!b->used || n == NGX_HTTP_REVOCA_CACHE_SECOND_TURNS) {
            ngx_http_revoca_cache_delete(cache, cn);
            return NGX_OK;
        }

        b->used = 0;
        ngx_queue_remove(q);
        ngx_queue_insert_head(&cache->sh->queue, q);
    }
}
