
/*
 * The shared-memory cache of signed responses, one zone for all workers: a
 * hash table of "issuer:serial:hash" keys (a power of two of buckets, about
 * one per entry the zone can hold, so that a look-up reads the bucket and
 * one entry), slab memory, and eviction by the CLOCK approximation of LRU:
 * entries queue in the order they were stored, a look-up only marks its
 * entry used, and eviction gives a used entry at the queue's end a second
 * turn instead of freeing it.  A look-up thus writes nothing but that mark
 * (once), where moving the entry to the head of an LRU queue would touch
 * two more entries at random places of the zone.
 *
 * An entry is "fresh" for the asking location's lifetime
 * (revoca_cache_valid) after it was stored and usable until the response's
 * nextUpdate; after nextUpdate it is never returned and is freed at the
 * next look-up or allocation.  One zone serves every location, so an entry
 * records its origin and a look-up names the origins the asking location
 * may produce: an answer signed on the request path is never served where
 * request-path signing is off.
 */


#include "ngx_http_revoca.h"


/* bytes of zone per bucket: an entry (about 100 bytes, the key, a DER
 * response of 500 to 900 bytes) takes a 1024-byte slab chunk */
#define NGX_HTTP_REVOCA_CACHE_BUCKET_BYTES  1024

/* used entries given a second turn before one is evicted regardless */
#define NGX_HTTP_REVOCA_CACHE_SECOND_TURNS  8


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
    u_char                        used;         /* looked up since its turn */
    u_char                        data[1];      /* key, then DER */
};


typedef struct {
    ngx_queue_t                   queue;
    time_t                        forget;       /* stored at or before: gone */
    time_t                        stale;        /* ... : not fresh, kept for
                                                   when Redis fails */
    ngx_msec_t                    dropped;      /* last invalidation */
    ngx_uint_t                    mask;         /* buckets - 1 */
    ngx_http_revoca_cache_node_t *buckets[1];
} ngx_http_revoca_cache_sh_t;


struct ngx_http_revoca_cache_s {
    ngx_http_revoca_cache_sh_t   *sh;
    ngx_slab_pool_t              *shpool;
};


static ngx_http_revoca_cache_node_t **ngx_http_revoca_cache_lookup(
    ngx_http_revoca_cache_t *cache, ngx_str_t *key, uint32_t hash);
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
                               + n * sizeof(ngx_http_revoca_cache_node_t *));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_queue_init(&cache->sh->queue);
    cache->sh->forget = 0;
    cache->sh->stale = 0;
    cache->sh->dropped = 0;
    cache->sh->mask = n - 1;
    ngx_memzero(cache->sh->buckets, n * sizeof(ngx_http_revoca_cache_node_t *));

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
    time_t                          now;
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_http_revoca_cache_t        *cache;
    ngx_http_revoca_cache_node_t   *cn, **pcn;

    cache = zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    now = ngx_time();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    pcn = ngx_http_revoca_cache_lookup(cache, key, hash);
    cn = *pcn;

    if (cn == NULL) {
        goto done;
    }

    if (cn->next_update <= now) {
        /* RFC 5019 4: never serve a response past its nextUpdate */
        ngx_http_revoca_cache_delete(cache, cn);
        goto done;
    }

    if (cn->stored <= cache->sh->forget) {
        /* stored while an invalidation may have been missed */
        ngx_http_revoca_cache_delete(cache, cn);
        goto done;
    }

    if (!(cn->origin & origins)) {
        /* not this location's to give; left for the locations it is */
        goto done;
    }

    /* the entry may be freed once the lock is released: copied out */

    ans->der.data = ngx_pnalloc(pool, cn->der_len);
    if (ans->der.data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(ans->der.data, cn->data + cn->key_len, cn->der_len);
    ans->der.len = cn->der_len;
    ans->this_update = cn->this_update;
    ans->next_update = cn->next_update;
    ans->cert_status = cn->cert_status;
    ans->origin = cn->origin;
    ans->fresh = (now - cn->stored < valid && cn->stored > cache->sh->stale);
    ngx_memcpy(ans->etag, cn->etag, NGX_HTTP_REVOCA_ETAG_LEN);

    if (!cn->used) {
        /* written once per turn, not per look-up: the line stays clean
         * in the other workers' caches */
        cn->used = 1;
    }

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


void
ngx_http_revoca_cache_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_revoca_answer_t *ans)
{
    size_t                          size;
    uint32_t                        hash;
    ngx_uint_t                      n;
    ngx_http_revoca_cache_t        *cache;
    ngx_http_revoca_cache_node_t   *cn, **pcn;

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

    /*
     * An invalidation that came while Redis was being asked may be for
     * this very answer, read just before the change was committed: kept
     * out, the next request reads the change.
     */

    if ((ngx_msec_int_t) (ans->asked - cache->sh->dropped) <= 0
        && cache->sh->dropped != 0)
    {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

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
    cn->used = 0;
    cn->key_len = (u_char) key->len;
    cn->der_len = (uint32_t) ans->der.len;
    ngx_memcpy(cn->etag, ans->etag, NGX_HTTP_REVOCA_ETAG_LEN);
    ngx_memcpy(cn->data, key->data, key->len);
    ngx_memcpy(cn->data + key->len, ans->der.data, ans->der.len);

    pcn = &cache->sh->buckets[hash & cache->sh->mask];
    cn->next = *pcn;
    *pcn = cn;

    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


size_t
ngx_http_revoca_cache_key(u_char *buf, const char *issuer, const char *serial,
    ngx_uint_t hash)
{
    u_char  *p;

    /* "issuer:serial:hash", both names bounded (CACHE_KEY_MAX) */

    p = ngx_cpymem(buf, issuer, ngx_strlen(issuer));
    *p++ = ':';
    p = ngx_cpymem(p, serial, ngx_strlen(serial));
    *p++ = ':';
    *p++ = (u_char) ('0' + hash);

    return p - buf;
}


ngx_uint_t
ngx_http_revoca_cache_drop(ngx_shm_zone_t *zone, const char *issuer,
    const char *serial)
{
    u_char                          buf[NGX_HTTP_REVOCA_CACHE_KEY_MAX];
    ngx_str_t                       key;
    ngx_uint_t                      hash, n;
    ngx_http_revoca_cache_t        *cache;
    ngx_http_revoca_cache_node_t   *cn;

    if (ngx_strlen(issuer) > OCSP_ISSUER_NAME_MAX
        || ngx_strlen(serial) > OCSP_SERIAL_HEX_MAX)
    {
        return 0;
    }

    cache = zone->data;
    n = 0;

    /* ngx_current_msec is monotonic time, the same clock in every worker */

    ngx_shmtx_lock(&cache->shpool->mutex);
    cache->sh->dropped = ngx_current_msec;
    ngx_shmtx_unlock(&cache->shpool->mutex);

    for (hash = 0; hash < OCSP_HASH_COUNT; hash++) {
        key.data = buf;
        key.len = ngx_http_revoca_cache_key(buf, issuer, serial, hash);

        ngx_shmtx_lock(&cache->shpool->mutex);

        cn = *ngx_http_revoca_cache_lookup(cache, &key,
                                           ngx_crc32_short(key.data,
                                                           key.len));
        if (cn) {
            ngx_http_revoca_cache_delete(cache, cn);
            n++;
        }

        ngx_shmtx_unlock(&cache->shpool->mutex);
    }

    return n;
}


void
ngx_http_revoca_cache_forget_before(ngx_shm_zone_t *zone, time_t when)
{
    ngx_http_revoca_cache_t  *cache;

    cache = zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (when > cache->sh->forget) {
        cache->sh->forget = when;
    }

    /* and answers being read meanwhile are not stored */
    cache->sh->dropped = ngx_current_msec;

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


void
ngx_http_revoca_cache_stale_before(ngx_shm_zone_t *zone, time_t when)
{
    ngx_http_revoca_cache_t  *cache;

    cache = zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (when > cache->sh->stale) {
        cache->sh->stale = when;
    }

    cache->sh->dropped = ngx_current_msec;

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

    for (pcn = &cache->sh->buckets[hash & cache->sh->mask];
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


static void
ngx_http_revoca_cache_delete(ngx_http_revoca_cache_t *cache,
    ngx_http_revoca_cache_node_t *cn)
{
    ngx_http_revoca_cache_node_t  **pcn;

    for (pcn = &cache->sh->buckets[cn->hash & cache->sh->mask];
         *pcn != cn;
         pcn = &(*pcn)->next)
    {
        /* void */
    }

    *pcn = cn->next;

    ngx_queue_remove(&cn->queue);
    ngx_slab_free_locked(cache->shpool, cn);
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
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_revoca_cache_node_t   *cn;

    for (n = 0; /* void */; n++) {

        if (ngx_queue_empty(&cache->sh->queue)) {
            return NGX_DECLINED;
        }

        q = ngx_queue_last(&cache->sh->queue);
        cn = ngx_queue_data(q, ngx_http_revoca_cache_node_t, queue);

        if (!cn->used || n == NGX_HTTP_REVOCA_CACHE_SECOND_TURNS) {
            ngx_http_revoca_cache_delete(cache, cn);
            return NGX_OK;
        }

        cn->used = 0;
        ngx_queue_remove(q);
        ngx_queue_insert_head(&cache->sh->queue, q);
    }
}
