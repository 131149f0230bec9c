/*
 * The signer's pool of signing threads (signer.sign_threads): a token is a
 * parallel device with a latency per call, and one thread signing one
 * response at a time leaves it idle between calls.  With N threads a
 * batch's responses are signed N at a time: the caller's thread and N - 1
 * workers, each signing with keys of its own (ocsp_sign_key_dup(): for a
 * PKCS#11 key its own key object, libp11 signing on a session of the
 * token's pool; for a file key its own EVP_PKEY and contexts).
 *
 * Only signatures run in the workers: the records, the transaction and
 * every log line stay on the caller's thread (the workers never log; a
 * failed job keeps its reason for the caller).  A job that fails fails
 * alone (signer_tx.c: only that certificate's events stay pending).
 */
#ifndef REVOCA_SIGNER_POOL_H
#define REVOCA_SIGNER_POOL_H

#include <stddef.h>

#include "issuer.h"
#include "response.h"
#include "sign.h"

/* Most threads signer.sign_threads may ask for. */
#define SIGNER_POOL_MAX 64

/* One certificate's responses: one per CertID hash, from one SingleResponse
 * (single.hash is set by the pool). */
typedef struct {
    const ocsp_issuer_t *iss; /* borrowed, from the pool's registry */
    ocsp_single_t single;     /* its serial borrowed */
    unsigned char **der;      /* [OCSP_HASH_COUNT], set when signed (the
                               * caller owns them); NULL all on failure */
    size_t *der_len;
    int failed;
    ocsp_sign_err_t err; /* why, when failed */
} signer_pool_job_t;

typedef struct signer_pool_s signer_pool_t;

/*
 * A pool of THREADS signers (2..SIGNER_POOL_MAX) for the issuers of REG,
 * whose keys must be open: THREADS - 1 workers started, each with its own
 * copy of every issuer's key.  REG must outlive the pool.  Returns it, or
 * NULL with ERR (OCSP_ERR_MAX) set; *token_error says whether a token
 * failed (start-up exits 2 then, as for the registry's own keys).
 */
signer_pool_t *signer_pool_start(const ocsp_registry_t *reg, size_t threads,
                                 int *token_error, char *err);

/* Stops the workers and frees the pool and its keys.  NULL is ignored. */
void signer_pool_stop(signer_pool_t *p);

/*
 * Signs JOBS[0..N) on the pool, the caller's thread signing too, and
 * returns when every job is done: each either signed (der set) or failed
 * (failed, err).  The caller's thread signs with the registry's keys, the
 * workers with theirs.
 */
void signer_pool_run(signer_pool_t *p, signer_pool_job_t *jobs, size_t n);

#endif
