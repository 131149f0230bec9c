/*
 * CRL encoding and signing (RFC 5280 5).  The TBSCertList is written
 * directly as DER from a sorted entry array into one pre-sized buffer and
 * signed with EVP_DigestSign: no X509_REVOKED per entry, which is what makes
 * a million-entry CRL cheap.
 */
#ifndef CRL_BUILD_H
#define CRL_BUILD_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "crl_entry.h"
#include "issuer.h"

/* Room for an encoded DistributionPointName of the longest URL. */
#define CRL_DP_MAX 1100

/* The issuing CA as the CRL needs it. */
typedef struct {
    X509 *cert;           /* owned */
    ocsp_sign_key_t *key; /* owned (sign.h), NULL when loaded for checks */
    EVP_PKEY *pub;        /* borrowed from cert */
    unsigned char *name;  /* owned, DER of the CA's subject */
    size_t name_len;
    unsigned char key_id[64]; /* AKI keyIdentifier (RFC 5280 4.2.1.1) */
    size_t key_id_len;
    ocsp_sig_alg_e sig_alg;              /* from the certificate's key */
    unsigned char alg[OCSP_SIG_ALG_MAX]; /* DER AlgorithmIdentifier */
    size_t alg_len;
} crl_signer_t;

/*
 * Loads the CA certificate and (key_path non-NULL) its private key, a file
 * or a PKCS#11 URI reached through P11 (sign.h), checks that they match,
 * that the CA may sign CRLs (keyUsage cRLSign when the extension is
 * present) and that IC's profile allows the key (IC NULL: private,
 * PKCS#1 v1.5).  Returns 0, or -1 with err (OCSP_ERR_MAX) set and
 * *token_error (may be NULL) telling a token's failure.  Free with
 * crl_signer_free().
 */
int crl_signer_load(crl_signer_t *s, const char *cert_path,
                    const char *key_path, const ocsp_issuer_conf_t *ic,
                    const ocsp_pkcs11_conf_t *p11, int *token_error, char *err);
void crl_signer_free(crl_signer_t *s);

typedef enum { CRL_KIND_FULL, CRL_KIND_DELTA, CRL_KIND_SHARD } crl_kind_e;

typedef struct {
    crl_kind_e kind;
    int64_t this_update;
    int64_t next_update;
    uint64_t number;          /* cRLNumber */
    uint64_t base_number;     /* delta: deltaCRLIndicator */
    const char *idp_url;      /* shard: critical issuingDistributionPoint */
    const char *freshest_url; /* full: freshestCRL (delta URL), or NULL */
    int shard;                /* shard: only entries of this shard */
} crl_params_t;

/*
 * Encodes and signs a CRL over the sorted entries v[0..n) (for a shard,
 * those with v[i].shard == p->shard) in memory.  Returns 0 with *out
 * (caller frees) and *outlen, or -1 with err set.  The reference the
 * streaming crl_build_file() is tested against, octet for octet.
 */
int crl_build(const crl_signer_t *s, const crl_params_t *p,
              const crl_entry_t *v, size_t n, unsigned char **out,
              size_t *outlen, char *err);

/* crl_build_file() flags, for tests: sign the written TBS in one shot, as
 * algorithms that cannot stream are; write the TBS after the longest
 * outer header and move it down, as a signature whose length shortens
 * the header makes it. */
#define CRL_BUILD_ONE_SHOT 1
#define CRL_BUILD_MOVE 2

/*
 * The same CRL as crl_build(), streamed into FD (an empty file open for
 * reading and writing) from offset 0: encoded in 1 MB pieces, each fed to
 * the signature's hash and written, so that neither the DER nor a copy of
 * it is held in memory; the outer header is written last, once the
 * signature's length is known.  Returns 0 with *outlen the file's length,
 * or -1 with err set (the file's content is then undefined).
 */
int crl_build_file(const crl_signer_t *s, const crl_params_t *p,
                   const crl_entry_t *v, size_t n, int fd, int flags,
                   size_t *outlen, char *err);

/* 1 if S's algorithm can hash its input piece by piece; 0 for one-shot
 * algorithms (Ed25519), which sign or verify the whole TBS. */
int crl_signer_streams(const crl_signer_t *s);

/*
 * The DistributionPointName [0] { fullName [0] { uniformResourceIdentifier
 * [6] URL } } exactly as a certificate's cRLDistributionPoints carries it:
 * the IDP of a shard must be byte-identical to it (CA/B BR 7.2.2).
 */
int crl_dp_name(const char *url, unsigned char *out, size_t cap,
                size_t *outlen);

#endif
