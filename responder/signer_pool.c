#include "signer_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct signer_pool_s {
    const ocsp_registry_t *reg; /* borrowed: the caller's thread's keys */
    size_t threads;             /* signers, the caller's thread included */
    /*
     * Each worker's view of the registry: every issuer copied as it is
     * (borrowing all it holds), its key replaced by the worker's own, so
     * that ocsp_response_sign() signs with it.  [worker][issuer].
     */
    ocsp_issuer_t *views;
    ocsp_sign_key_t **keys; /* owned, [worker][issuer] */
    pthread_t *tids;
    size_t started;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long round; /* each run is a round the workers join */
    size_t busy;         /* workers still in the round */
    int quit;
    signer_pool_job_t *jobs;
    size_t njobs;
    atomic_size_t next; /* the next job to take */
};

typedef struct {
    signer_pool_t *p;
    size_t worker; /* 1.. (0 is the caller's thread) */
} pool_arg_t;

static void job_sign(signer_pool_job_t *j, const ocsp_issuer_t *iss)
{
    int h;

    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        j->single.hash = (ocsp_hash_e)h;
        if (ocsp_response_sign(iss, &j->single, &j->der[h], &j->der_len[h]) !=
            0) {
            j->err = *ocsp_sign_key_err(iss->key);
            if (j->err.msg[0] == '\0') {
                snprintf(j->err.msg, sizeof(j->err.msg),
                         "the response could not be encoded");
            }
            j->failed = 1;
            for (h--; h >= 0; h--) {
                free(j->der[h]);
                j->der[h] = NULL;
                j->der_len[h] = 0;
            }
            return;
        }
    }
}

/* Takes jobs until none is left; WORKER 0 signs with the registry's keys. */
static void pool_work(signer_pool_t *p, size_t worker)
{
    size_t i;

    while ((i = atomic_fetch_add(&p->next, 1)) < p->njobs) {
        signer_pool_job_t *j = &p->jobs[i];
        const ocsp_issuer_t *iss = j->iss;

        if (worker > 0) {
            iss = &p->views[(worker - 1) * p->reg->n +
                            (size_t)(j->iss - p->reg->issuers)];
        }
        job_sign(j, iss);
    }
}

static void *pool_thread(void *arg)
{
    pool_arg_t *a = arg;
    signer_pool_t *p = a->p;
    size_t worker = a->worker;
    unsigned long seen = 0;

    free(a);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->round == seen && !p->quit) {
            pthread_cond_wait(&p->go, &p->mu);
        }
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->round;
        pthread_mutex_unlock(&p->mu);

        pool_work(p, worker);

        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) {
            pthread_cond_signal(&p->done);
        }
        pthread_mutex_unlock(&p->mu);
    }
}

signer_pool_t *signer_pool_start(const ocsp_registry_t *reg, size_t threads,
                                 int *token_error, char *err)
{
    signer_pool_t *p;
    size_t w, i, n = reg->n;

    *token_error = 0;
    if (threads < 2 || threads > SIGNER_POOL_MAX) {
        snprintf(err, OCSP_ERR_MAX, "signer: sign_threads must be 1..%d",
                 SIGNER_POOL_MAX);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return NULL;
    }
    p->reg = reg;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->views = calloc((threads - 1) * (n ? n : 1), sizeof(*p->views));
    p->keys = calloc((threads - 1) * (n ? n : 1), sizeof(*p->keys));
    p->tids = calloc(threads - 1, sizeof(*p->tids));
    if (p->views == NULL || p->keys == NULL || p->tids == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto failed;
    }
    /* Every key opened here, before any worker runs: a token's lookups
     * and logins stay on one thread. */
    for (w = 0; w < threads - 1; w++) {
        for (i = 0; i < n; i++) {
            const ocsp_issuer_t *iss = &reg->issuers[i];
            ocsp_sign_err_t e;

            p->views[w * n + i] = *iss;
            if (iss->key == NULL) {
                continue; /* nothing to sign with: ocsp_response_sign()
                           * refuses, as for the registry's issuer */
            }
            p->keys[w * n + i] = ocsp_sign_key_dup(iss->key, &e);
            if (p->keys[w * n + i] == NULL) {
                *token_error = e.status == OCSP_SIGN_ETOKEN;
                snprintf(err, OCSP_ERR_MAX,
                         "issuer %s: responder key (signing thread %zu): "
                         "%.400s",
                         iss->conf->name, w + 2, e.msg);
                goto failed;
            }
            p->views[w * n + i].key = p->keys[w * n + i];
        }
    }
    for (w = 0; w < threads - 1; w++) {
        pool_arg_t *a = malloc(sizeof(*a));

        if (a == NULL) {
            snprintf(err, OCSP_ERR_MAX, "out of memory");
            goto failed;
        }
        a->p = p;
        a->worker = w + 1;
        if (pthread_create(&p->tids[w], NULL, pool_thread, a) != 0) {
            free(a);
            snprintf(err, OCSP_ERR_MAX, "cannot start signing thread %zu",
                     w + 2);
            goto failed;
        }
        p->started++;
    }
    return p;

failed:
    signer_pool_stop(p);
    return NULL;
}

void signer_pool_stop(signer_pool_t *p)
{
    size_t i;

    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->started; i++) {
        pthread_join(p->tids[i], NULL);
    }
    if (p->keys != NULL) {
        for (i = 0; i < (p->threads - 1) * p->reg->n; i++) {
            ocsp_sign_key_free(p->keys[i]);
        }
    }
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->go);
    pthread_mutex_destroy(&p->mu);
    free(p->keys);
    free(p->views);
    free(p->tids);
    free(p);
}

void signer_pool_run(signer_pool_t *p, signer_pool_job_t *jobs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        jobs[i].failed = 0;
        jobs[i].err.status = OCSP_SIGN_OK;
        jobs[i].err.msg[0] = '\0';
    }
    p->jobs = jobs;
    p->njobs = n;
    atomic_store(&p->next, 0);
    if (n < 2) {
        pool_work(p, 0); /* not worth waking anyone */
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->round++;
    p->busy = p->started;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);

    pool_work(p, 0);

    pthread_mutex_lock(&p->mu);
    while (p->busy > 0) {
        pthread_cond_wait(&p->done, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}
