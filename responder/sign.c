/* The engine API is what Debian 12's libp11 offers (libengine-pkcs11-openssl
 * 0.4.12 has no OpenSSL 3 provider); OpenSSL 3 keeps it, deprecated. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/ui.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keyfile.h"

/* AlgorithmIdentifiers, DER. */
static const unsigned char alg_ecdsa_sha256[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char alg_ecdsa_sha384[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const unsigned char alg_ecdsa_sha512[] = {
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04};
static const unsigned char alg_rsa_sha256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a,
                                               0x86, 0x48, 0x86, 0xf7, 0x0d,
                                               0x01, 0x01, 0x0b, 0x05, 0x00};
/* RFC 4055 3.1 RSASSA-PSS-params { hashAlgorithm sha256 (NULL params),
 * maskGenAlgorithm mgf1SHA256, saltLength 32, trailerField default }: the
 * bytes CA/B BR 7.1.3.2.1 lists. */
static const unsigned char alg_rsa_pss_sha256[] = {
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
    0x0a, 0x30, 0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,
    0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a,
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20};
/* RFC 8410 3: id-Ed25519, parameters absent. */
static const unsigned char alg_ed25519[] = {0x30, 0x05, 0x06, 0x03,
                                            0x2b, 0x65, 0x70};

#define SIGN_BACKOFF_MAX 16
#define SIGN_PIN_MAX 256
#define SIGN_STREAM_MAX ((size_t)1 << 30)

struct ocsp_sign_key_s {
    char *ref;  /* owned: path or URI, to reopen a token's key */
    int pkcs11; /* ref is a PKCS#11 URI */
    X509 *cert; /* owned reference: what the key must match */
    ocsp_sig_alg_e alg;
    int pss;
    int bits;
    time_t not_after;   /* 0, or never sign past it (OCSP_SIGN_IN_VALIDITY) */
    size_t max;         /* longest signature */
    EVP_PKEY *pkey;     /* owned */
    EVP_PKEY_CTX *pctx; /* owned; sign-initialised once (it is costly) */
    EVP_MD *md;         /* owned; NULL for Ed25519 */
    EVP_MD_CTX *mdctx;  /* owned */
    /* a streamed Ed25519 message, and whether a stream failed */
    unsigned char *msg;
    size_t msg_len, msg_cap;
    int stream_failed;
    /* PKCS#11: how the token is reached (borrowed from the config), the
     * token generation its key object was opened in (p11_reset()), and
     * when a failed session reopens */
    const ocsp_pkcs11_conf_t *p11;
    unsigned generation;
    int flags; /* as loaded, for ocsp_sign_key_dup() */
    int broken;
    time_t retry_at;
    int backoff;
    ocsp_sign_err_t err;
};

static void sign_err(ocsp_sign_err_t *err, ocsp_sign_status_e status,
                     const char *fmt, ...)
{
    va_list ap;
    unsigned long e = ERR_peek_error(); /* the first: the cause */
    size_t n;

    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (e != 0) {
        n = strlen(err->msg);
        if (n + 3 < sizeof(err->msg)) {
            memcpy(err->msg + n, ": ", 3);
            ERR_error_string_n(e, err->msg + n + 2, sizeof(err->msg) - n - 2);
        }
    }
    ERR_clear_error();
}

int ocsp_sign_is_pkcs11(const char *ref)
{
    return ref != NULL && strncmp(ref, "pkcs11:", 7) == 0;
}

ocsp_sig_alg_e ocsp_sig_alg_of(const EVP_PKEY *key, int pss, const char **why)
{
    char curve[32];
    size_t n;
    const char *dummy;

    if (why == NULL) {
        why = &dummy;
    }
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(key, curve, sizeof(curve), &n) != 1) {
            *why = "an EC key without a named curve";
            return OCSP_SIG_NONE;
        }
        /* The hash of the curve's strength (RFC 5758 3.2; Mozilla Root
         * Store Policy 5.1.2 forbids P-384 with SHA-256). */
        if (strcmp(curve, "prime256v1") == 0) {
            return OCSP_SIG_ECDSA_SHA256;
        }
        if (strcmp(curve, "secp384r1") == 0) {
            return OCSP_SIG_ECDSA_SHA384;
        }
        if (strcmp(curve, "secp521r1") == 0) {
            return OCSP_SIG_ECDSA_SHA512;
        }
        *why = "an EC key must be on P-256, P-384 or P-521";
        return OCSP_SIG_NONE;
    case EVP_PKEY_RSA:
        return pss ? OCSP_SIG_RSA_PSS_SHA256 : OCSP_SIG_RSA_SHA256;
    case EVP_PKEY_RSA_PSS:
        /* An id-RSASSA-PSS key signs PSS only. */
        return OCSP_SIG_RSA_PSS_SHA256;
    case EVP_PKEY_ED25519:
        return OCSP_SIG_ED25519;
    default:
        *why = "the key must be ECDSA, RSA or Ed25519";
        return OCSP_SIG_NONE;
    }
}

const unsigned char *ocsp_sig_alg_der(ocsp_sig_alg_e alg, size_t *len)
{
#define SIG_ALG(a)                                                             \
    do {                                                                       \
        *len = sizeof(a);                                                      \
        return a;                                                              \
    } while (0)
    switch (alg) {
    case OCSP_SIG_ECDSA_SHA256:
        SIG_ALG(alg_ecdsa_sha256);
    case OCSP_SIG_ECDSA_SHA384:
        SIG_ALG(alg_ecdsa_sha384);
    case OCSP_SIG_ECDSA_SHA512:
        SIG_ALG(alg_ecdsa_sha512);
    case OCSP_SIG_RSA_SHA256:
        SIG_ALG(alg_rsa_sha256);
    case OCSP_SIG_RSA_PSS_SHA256:
        SIG_ALG(alg_rsa_pss_sha256);
    case OCSP_SIG_ED25519:
        SIG_ALG(alg_ed25519);
    default:
        *len = 0;
        return NULL;
    }
#undef SIG_ALG
}

const char *ocsp_sig_alg_name(ocsp_sig_alg_e alg)
{
    static const char *const names[] = {"none",
                                        "ecdsa-with-SHA256",
                                        "ecdsa-with-SHA384",
                                        "ecdsa-with-SHA512",
                                        "sha256WithRSAEncryption",
                                        "rsassa-pss-sha256",
                                        "ed25519"};

    return (unsigned)alg < sizeof(names) / sizeof(names[0]) ? names[alg]
                                                            : "none";
}

static const char *sig_md_name(ocsp_sig_alg_e alg)
{
    switch (alg) {
    case OCSP_SIG_ECDSA_SHA384:
        return "SHA384";
    case OCSP_SIG_ECDSA_SHA512:
        return "SHA512";
    case OCSP_SIG_ED25519:
        return NULL;
    default:
        return "SHA256";
    }
}

/* Padding, salt and MGF1 of a PSS signature (RFC 4055 3.1, as encoded in
 * alg_rsa_pss_sha256), or PKCS#1 v1.5, on a sign or verify context. */
static int sig_ctx_params(EVP_PKEY_CTX *c, ocsp_sig_alg_e alg, EVP_MD *md)
{
    if (alg == OCSP_SIG_RSA_PSS_SHA256) {
        return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(c, 32) == 1 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) == 1;
    }
    if (alg == OCSP_SIG_RSA_SHA256) {
        return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1;
    }
    return 1;
}

int ocsp_sig_verify(EVP_PKEY *pub, ocsp_sig_alg_e alg, const unsigned char *sig,
                    size_t siglen, const unsigned char *data, size_t len)
{
    const char *name = sig_md_name(alg);
    EVP_MD *md = NULL;
    EVP_MD_CTX *vmd = EVP_MD_CTX_new();
    EVP_PKEY_CTX *vctx = NULL;
    int ok;

    ok = vmd != NULL && alg != OCSP_SIG_NONE &&
         (name == NULL || (md = EVP_MD_fetch(NULL, name, NULL)) != NULL) &&
         EVP_DigestVerifyInit(vmd, &vctx, md, NULL, pub) == 1 &&
         (md == NULL || sig_ctx_params(vctx, alg, md)) &&
         EVP_DigestVerify(vmd, sig, siglen, data, len) == 1;
    EVP_MD_CTX_free(vmd);
    EVP_MD_free(md);
    ERR_clear_error();
    return ok ? 0 : -1;
}

int ocsp_sig_alg_streams(ocsp_sig_alg_e alg)
{
    return alg != OCSP_SIG_NONE && sig_md_name(alg) != NULL;
}

int ocsp_sig_verify_begin(ocsp_sig_verify_t *v, EVP_PKEY *pub,
                          ocsp_sig_alg_e alg)
{
    EVP_PKEY_CTX *vctx = NULL;
    int ok;

    memset(v, 0, sizeof(*v));
    /* the digest outlives the context: freed by end() or free() */
    ok = ocsp_sig_alg_streams(alg) && (v->ctx = EVP_MD_CTX_new()) != NULL &&
         (v->md = EVP_MD_fetch(NULL, sig_md_name(alg), NULL)) != NULL &&
         EVP_DigestVerifyInit(v->ctx, &vctx, v->md, NULL, pub) == 1 &&
         sig_ctx_params(vctx, alg, v->md);
    if (!ok) {
        ocsp_sig_verify_free(v);
        return -1;
    }
    return 0;
}

int ocsp_sig_verify_update(ocsp_sig_verify_t *v, const unsigned char *data,
                           size_t len)
{
    if (v->ctx == NULL || EVP_DigestVerifyUpdate(v->ctx, data, len) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

int ocsp_sig_verify_end(ocsp_sig_verify_t *v, const unsigned char *sig,
                        size_t siglen)
{
    int ok = v->ctx != NULL && EVP_DigestVerifyFinal(v->ctx, sig, siglen) == 1;

    ocsp_sig_verify_free(v);
    return ok ? 0 : -1;
}

void ocsp_sig_verify_free(ocsp_sig_verify_t *v)
{
    EVP_MD_CTX_free(v->ctx);
    EVP_MD_free(v->md);
    memset(v, 0, sizeof(*v));
    ERR_clear_error();
}

/* ---- PKCS#11: one engine per process, opened on first use ---- */

static ENGINE *p11_engine;
static pid_t p11_pid;

/* The PIN from its file (owner-only: a PIN other users can read is no
 * PIN) or its environment variable, into PIN (SIGN_PIN_MAX). */
static int p11_pin(const ocsp_pkcs11_conf_t *p11, char *pin,
                   ocsp_sign_err_t *err)
{
    struct stat st;
    ssize_t n;
    size_t len;
    int fd;

    if (p11->pin_env != NULL) {
        const char *v = getenv(p11->pin_env);
        if (v == NULL || v[0] == '\0') {
            sign_err(err, OCSP_SIGN_ETOKEN,
                     "pkcs11: the PIN variable %s is not set (nginx: list it "
                     "in an \"env\" directive)",
                     p11->pin_env);
            return -1;
        }
        if (strlen(v) >= SIGN_PIN_MAX) {
            sign_err(err, OCSP_SIGN_EKEY, "pkcs11: the PIN in %s is too long",
                     p11->pin_env);
            return -1;
        }
        memcpy(pin, v, strlen(v) + 1);
        return 0;
    }
    if (p11->pin_file == NULL) {
        sign_err(err, OCSP_SIGN_EKEY,
                 "pkcs11: a PKCS#11 key needs pkcs11.pin_file or "
                 "pkcs11.pin_env");
        return -1;
    }
    fd = open(p11->pin_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        sign_err(err, OCSP_SIGN_EKEY, "pkcs11: pin_file %s: %s", p11->pin_file,
                 strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        sign_err(err, OCSP_SIGN_EKEY, "pkcs11: pin_file %s: not a file",
                 p11->pin_file);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        sign_err(err, OCSP_SIGN_EKEY,
                 "pkcs11: pin_file %s: mode %03o lets others read it (chmod "
                 "600)",
                 p11->pin_file, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    n = read(fd, pin, SIGN_PIN_MAX);
    close(fd);
    if (n < 0 || n >= SIGN_PIN_MAX) {
        OPENSSL_cleanse(pin, SIGN_PIN_MAX);
        sign_err(err, OCSP_SIGN_EKEY, "pkcs11: pin_file %s: %s", p11->pin_file,
                 n < 0 ? strerror(errno) : "longer than 255 octets");
        return -1;
    }
    len = (size_t)n;
    while (len > 0 && (pin[len - 1] == '\n' || pin[len - 1] == '\r')) {
        len--;
    }
    pin[len] = '\0';
    if (len == 0) {
        sign_err(err, OCSP_SIGN_EKEY, "pkcs11: pin_file %s is empty",
                 p11->pin_file);
        return -1;
    }
    return 0;
}

static ENGINE *p11_engine_get(const ocsp_pkcs11_conf_t *p11,
                              ocsp_sign_err_t *err)
{
    char pin[SIGN_PIN_MAX];
    ENGINE *e;
    int ok;

    if (p11_engine != NULL && p11_pid == getpid()) {
        return p11_engine;
    }
    /* A PKCS#11 library's sessions do not survive fork() (PKCS#11 2.40
     * 6.7.7): a child opens its own.  The parent's engine is left alone. */
    p11_engine = NULL;
    if (p11 == NULL) {
        sign_err(err, OCSP_SIGN_EKEY, "pkcs11: no pkcs11 settings");
        return NULL;
    }
    if (p11_pin(p11, pin, err) != 0) {
        return NULL;
    }
    OPENSSL_init_crypto(OPENSSL_INIT_ENGINE_DYNAMIC, NULL);
    e = ENGINE_by_id("pkcs11");
    if (e == NULL) {
        OPENSSL_cleanse(pin, sizeof(pin));
        sign_err(err, OCSP_SIGN_EKEY,
                 "pkcs11: cannot load the OpenSSL pkcs11 engine (Debian: "
                 "libengine-pkcs11-openssl)");
        return NULL;
    }
    ok = ENGINE_ctrl_cmd_string(e, "MODULE_PATH", p11->module, 0) == 1 &&
         ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) == 1 && ENGINE_init(e) == 1;
    OPENSSL_cleanse(pin, sizeof(pin));
    ENGINE_free(e); /* ENGINE_init() holds its own reference */
    if (!ok) {
        sign_err(err, OCSP_SIGN_ETOKEN, "pkcs11: cannot initialise %s",
                 p11->module);
        return NULL;
    }
    p11_engine = e;
    p11_pid = getpid();
    return e;
}

/* Whether OpenSSL's error queue holds a PKCS#11 PIN error (libp11 puts
 * CKR_PIN_INCORRECT and the like there as "PIN ..."); the queue is left
 * empty. */
static int p11_pin_refused(void)
{
    unsigned long e;
    int pin = 0;

    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e);
        pin |= r != NULL && strstr(r, "PIN") != NULL;
    }
    return pin;
}

/*
 * The private key REF through the engine.  A token another process is
 * opening at the same moment can fail a lookup for a moment (SoftHSM2's
 * file store answers CKR_GENERAL_ERROR then): a few tries 250 ms apart,
 * except after a PIN refusal, which a real token counts towards locking.
 */
static EVP_PKEY *p11_load(ENGINE *e, const char *ref, ocsp_sign_err_t *err)
{
    EVP_PKEY *pkey;
    char first[256] = "";
    int attempt, pin;

    for (attempt = 0;; attempt++) {
        /* UI_null(): a missing PIN is an error, never a prompt. */
        pkey = ENGINE_load_private_key(e, ref, (UI_METHOD *)UI_null(), NULL);
        if (pkey != NULL) {
            ERR_clear_error();
            return pkey;
        }
        if (ERR_peek_error() != 0) {
            ERR_error_string_n(ERR_peek_error(), first, sizeof(first));
        }
        pin = p11_pin_refused();
        if (pin || attempt == 3) {
            break;
        }
        usleep(250 * 1000);
    }
    sign_err(err, OCSP_SIGN_ETOKEN,
             "%s: cannot open the key in the token (%s)%s%s", ref,
             pin ? "the PIN is wrong" : "token present? object there?",
             first[0] ? ": " : "", first);
    return NULL;
}

/*
 * A token's session failed (token removed, library error): the sessions
 * and object handles of every key are gone with it (PKCS#11 2.40 5.6).  So
 * every token key drops its key object and reopens (logs in again) on its
 * next use.  libp11 0.4.12 keeps its slot list, and its RE_ENUMERATE
 * crashes when repeated; a library that must be finalised to see a token
 * again (SoftHSM2 2.6) stays failed until the process restarts
 * (docs/keys.md).
 *
 * The reset is a generation: a key opened in an older one drops its key
 * object on its own next use (key_ready()), in the thread that uses it.
 * Keys are used one thread each (the signer's pool, signer_pool.h), so a
 * failure in one thread never frees another thread's contexts under it.
 */
static atomic_uint p11_generation;

static void p11_reset(void)
{
    atomic_fetch_add(&p11_generation, 1);
}

/*
 * A token outage, for the daemons' recovery (ocsp_sign_token_outage_s(),
 * daemon.h): how many tokens' keys are unusable now, and since when (a
 * CLOCK_MONOTONIC second) at least one has been.
 */
static atomic_int p11_nbroken;
static atomic_llong p11_outage_since;

static long long mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

static void key_set_broken(ocsp_sign_key_t *k, int broken)
{
    if (k->broken == broken) {
        return;
    }
    k->broken = broken;
    if (broken) {
        if (atomic_fetch_add(&p11_nbroken, 1) == 0) {
            atomic_store(&p11_outage_since, mono_s());
        }
    } else if (atomic_fetch_sub(&p11_nbroken, 1) == 1) {
        atomic_store(&p11_outage_since, 0);
    }
}

long ocsp_sign_token_outage_s(void)
{
    long long since = atomic_load(&p11_outage_since);

    return atomic_load(&p11_nbroken) > 0 && since > 0 ? (long)(mono_s() - since)
                                                      : -1;
}

/* ---- keys ---- */

/* An expired responder certificate is never used to sign: a client would
 * refuse the response (RFC 6960 4.2.2.2), or worse, keep it. */
static int key_expired(ocsp_sign_key_t *k)
{
    char when[32];
    struct tm tm;

    if (k->not_after == 0 || time(NULL) <= k->not_after) {
        return 0;
    }
    gmtime_r(&k->not_after, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    sign_err(&k->err, OCSP_SIGN_EKEY,
             "%s: its certificate expired at %s: refusing to sign", k->ref,
             when);
    return 1;
}

/* Signs "what" with the prepared contexts of k into sig/siglen. */
static int sign_raw(ocsp_sign_key_t *k, const unsigned char *data, size_t len,
                    unsigned char *sig, size_t *siglen)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen;

    if (k->md == NULL) {
        /* RFC 8032 PureEdDSA: one pass over the message, no pre-hash. */
        return EVP_DigestSignInit(k->mdctx, NULL, NULL, NULL, k->pkey) == 1 &&
                       EVP_DigestSign(k->mdctx, sig, siglen, data, len) == 1
                   ? 0
                   : -1;
    }
    if (EVP_DigestInit_ex2(k->mdctx, k->md, NULL) != 1 ||
        EVP_DigestUpdate(k->mdctx, data, len) != 1 ||
        EVP_DigestFinal_ex(k->mdctx, digest, &dlen) != 1) {
        return -1;
    }
    return EVP_PKEY_sign(k->pctx, sig, siglen, digest, dlen) == 1 ? 0 : -1;
}

/* Opens (or reopens) k->pkey from k->ref and prepares its contexts; then
 * proves that it signs for k->cert. */
static int key_open(ocsp_sign_key_t *k, const ocsp_pkcs11_conf_t *p11,
                    ocsp_sign_err_t *err)
{
    static const unsigned char probe[] = "revoca: does this key sign for its "
                                         "certificate?";
    unsigned char sig[OCSP_SIG_MAX];
    size_t siglen = sizeof(sig);
    EVP_PKEY *pkey = NULL, *pub = X509_get0_pubkey(k->cert);
    EVP_PKEY_CTX *pctx = NULL;
    ENGINE *e;
    int unreadable = 0, ok;

    if (k->pkcs11) {
        /* Read before the open: a reset meanwhile makes it stale. */
        k->generation = atomic_load(&p11_generation);
        e = p11_engine_get(p11, err);
        if (e == NULL) {
            return -1;
        }
        pkey = p11_load(e, k->ref, err);
        if (pkey == NULL) {
            return -1;
        }
    } else {
        pkey = ocsp_key_load(k->ref, &unreadable);
        if (pkey == NULL) {
            sign_err(err, OCSP_SIGN_EKEY, "%s: %s", k->ref,
                     unreadable ? "cannot open the key file"
                                : "no private key in it (PEM or DER, not "
                                  "encrypted)");
            return -1;
        }
    }
    if (k->md != NULL) {
        pctx = EVP_PKEY_CTX_new(pkey, NULL);
        if (pctx == NULL || EVP_PKEY_sign_init(pctx) != 1 ||
            EVP_PKEY_CTX_set_signature_md(pctx, k->md) != 1 ||
            !sig_ctx_params(pctx, k->alg, k->md)) {
            sign_err(err, OCSP_SIGN_EKEY, "%s: cannot set up %s signing",
                     k->ref, ocsp_sig_alg_name(k->alg));
            goto failed;
        }
    }
    EVP_PKEY_free(k->pkey);
    EVP_PKEY_CTX_free(k->pctx);
    k->pkey = pkey;
    k->pctx = pctx;
    pkey = NULL;
    pctx = NULL;

    /* The public half against the certificate: a signature the
     * certificate's key verifies, which also holds for a token whose key
     * object carries no public half. */
    if (sign_raw(k, probe, sizeof(probe), sig, &siglen) != 0) {
        sign_err(err, k->pkcs11 ? OCSP_SIGN_ETOKEN : OCSP_SIGN_EKEY,
                 "%s: cannot sign with the key", k->ref);
        return -1;
    }
    ok = ocsp_sig_verify(pub, k->alg, sig, siglen, probe, sizeof(probe)) == 0;
    if (!ok) {
        ERR_clear_error();
        sign_err(err, OCSP_SIGN_EKEY,
                 "%s: the key does not match its certificate", k->ref);
        return -1;
    }
    return 0;

failed:
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pkey);
    return -1;
}

ocsp_sign_key_t *ocsp_sign_key_load(const char *ref, X509 *cert, int flags,
                                    const ocsp_pkcs11_conf_t *p11,
                                    ocsp_sign_err_t *err)
{
    int pss = (flags & OCSP_SIGN_PSS) != 0;
    struct tm tm;
    ocsp_sign_key_t *k;
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    const char *why = NULL, *md;

    memset(err, 0, sizeof(*err));
    if (pub == NULL) {
        sign_err(err, OCSP_SIGN_EKEY, "the certificate's key is unreadable");
        return NULL;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL || (k->ref = strdup(ref)) == NULL) {
        free(k);
        sign_err(err, OCSP_SIGN_EKEY, "out of memory");
        return NULL;
    }
    k->pkcs11 = ocsp_sign_is_pkcs11(ref);
    k->cert = cert;
    X509_up_ref(cert);
    k->pss = pss;
    if (flags & OCSP_SIGN_IN_VALIDITY) {
        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
            sign_err(err, OCSP_SIGN_EKEY,
                     "%s: the certificate's notAfter is "
                     "unreadable",
                     ref);
            goto failed;
        }
        k->not_after = timegm(&tm);
        if (key_expired(k)) {
            goto failed_expired;
        }
    }
    /* The certificate's key decides the algorithm: it is what verifiers
     * hold. */
    k->alg = ocsp_sig_alg_of(pub, pss, &why);
    if (k->alg == OCSP_SIG_NONE) {
        sign_err(err, OCSP_SIGN_EKEY, "%s: %s", ref, why);
        goto failed;
    }
    k->bits = EVP_PKEY_get_bits(pub);
    k->max = (size_t)EVP_PKEY_get_size(pub);
    if (k->max == 0 || k->max > OCSP_SIG_MAX) {
        sign_err(err, OCSP_SIGN_EKEY, "%s: a %d-bit key is too large", ref,
                 k->bits);
        goto failed;
    }
    md = sig_md_name(k->alg);
    k->mdctx = EVP_MD_CTX_new();
    if (k->mdctx == NULL ||
        (md != NULL && (k->md = EVP_MD_fetch(NULL, md, NULL)) == NULL)) {
        sign_err(err, OCSP_SIGN_EKEY, "cannot fetch %s", md ? md : "a context");
        goto failed;
    }
    if (k->pkcs11 && k->alg == OCSP_SIG_ED25519) {
        /* libp11 0.4.12 (Debian 12) has no EdDSA. */
        sign_err(err, OCSP_SIGN_EKEY,
                 "%s: Ed25519 keys in a token are not supported by the pkcs11 "
                 "engine",
                 ref);
        goto failed;
    }
    k->p11 = p11;
    k->flags = flags;
    if (key_open(k, p11, err) != 0) {
        goto failed;
    }
    return k;

failed_expired:
    *err = k->err;
failed:
    ocsp_sign_key_free(k);
    return NULL;
}

void ocsp_sign_key_free(ocsp_sign_key_t *k)
{
    if (k == NULL) {
        return;
    }
    key_set_broken(k, 0);
    EVP_PKEY_CTX_free(k->pctx);
    EVP_PKEY_free(k->pkey);
    EVP_MD_CTX_free(k->mdctx);
    EVP_MD_free(k->md);
    X509_free(k->cert);
    free(k->msg);
    free(k->ref);
    free(k);
}

ocsp_sign_key_t *ocsp_sign_key_dup(const ocsp_sign_key_t *k,
                                   ocsp_sign_err_t *err)
{
    return ocsp_sign_key_load(k->ref, k->cert, k->flags, k->p11, err);
}

ocsp_sig_alg_e ocsp_sign_key_alg(const ocsp_sign_key_t *k)
{
    return k->alg;
}

const unsigned char *ocsp_sign_key_alg_der(const ocsp_sign_key_t *k,
                                           size_t *len)
{
    return ocsp_sig_alg_der(k->alg, len);
}

size_t ocsp_sign_key_max(const ocsp_sign_key_t *k)
{
    return k->max;
}

int ocsp_sign_key_bits(const ocsp_sign_key_t *k)
{
    return k->bits;
}

const ocsp_sign_err_t *ocsp_sign_key_err(const ocsp_sign_key_t *k)
{
    return &k->err;
}

/* A token's key that failed, or that another key's failure made stale
 * (p11_reset()): reopen it once its back-off has passed. */
static int key_ready(ocsp_sign_key_t *k)
{
    time_t now;

    if (k->pkcs11 && !k->broken &&
        k->generation != atomic_load(&p11_generation)) {
        EVP_PKEY_CTX_free(k->pctx);
        EVP_PKEY_free(k->pkey);
        k->pctx = NULL;
        k->pkey = NULL;
        key_set_broken(k, 1);
        k->retry_at = time(NULL);
    }
    if (!k->broken) {
        return 0;
    }
    now = time(NULL);
    if (now < k->retry_at) {
        sign_err(&k->err, OCSP_SIGN_ETOKEN,
                 "%s: token unavailable, next attempt in %llds", k->ref,
                 (long long)(k->retry_at - now));
        return -1;
    }
    if (key_open(k, k->p11, &k->err) != 0) {
        p11_reset();
        k->backoff = k->backoff == 0 ? 1 : k->backoff * 2;
        if (k->backoff > SIGN_BACKOFF_MAX) {
            k->backoff = SIGN_BACKOFF_MAX;
        }
        k->retry_at = now + k->backoff;
        k->err.status = OCSP_SIGN_ETOKEN;
        return -1;
    }
    key_set_broken(k, 0);
    k->backoff = 0;
    return 0;
}

/* A signature refused: a token's session is gone or its library failed,
 * so the next call reopens at once and later ones back off; a file key's
 * failure is the key's.  Returns -1. */
static int sign_failed(ocsp_sign_key_t *k)
{
    if (k->pkcs11) {
        sign_err(&k->err, OCSP_SIGN_ETOKEN, "%s: signing failed", k->ref);
        key_set_broken(k, 1);
        k->retry_at = time(NULL);
        p11_reset();
    } else {
        sign_err(&k->err, OCSP_SIGN_EKEY, "%s: signing failed", k->ref);
    }
    return -1;
}
int ocsp_sign(ocsp_sign_key_t *k, const unsigned char *data, size_t len,
              unsigned char *sig, size_t *siglen)
{
    if (key_expired(k) || key_ready(k) != 0) {
        return -1;
    }
    if (*siglen < k->max) {
        sign_err(&k->err, OCSP_SIGN_EKEY, "signature buffer too small");
        return -1;
    }
    if (sign_raw(k, data, len, sig, siglen) != 0) {
        return sign_failed(k);
    }
    return 0;
}

int ocsp_sign_begin(ocsp_sign_key_t *k)
{
    k->stream_failed = 0;
    k->msg_len = 0;
    if (k->md == NULL) {
        return 0;
    }
    if (EVP_DigestInit_ex2(k->mdctx, k->md, NULL) != 1) {
        k->stream_failed = 1;
        sign_err(&k->err, OCSP_SIGN_EKEY, "digest init failed");
        return -1;
    }
    return 0;
}

int ocsp_sign_update(ocsp_sign_key_t *k, const unsigned char *data, size_t len)
{
    if (k->stream_failed) {
        return -1;
    }
    if (k->md != NULL) {
        if (EVP_DigestUpdate(k->mdctx, data, len) != 1) {
            k->stream_failed = 1;
            sign_err(&k->err, OCSP_SIGN_EKEY, "digest failed");
            return -1;
        }
        return 0;
    }
    if (len > SIGN_STREAM_MAX - k->msg_len) {
        k->stream_failed = 1;
        sign_err(&k->err, OCSP_SIGN_EKEY, "message over 1 GiB for Ed25519");
        return -1;
    }
    if (k->msg_len + len > k->msg_cap) {
        size_t cap = k->msg_cap ? k->msg_cap : 4096;
        unsigned char *p;
        while (cap < k->msg_len + len) {
            cap *= 2;
        }
        p = realloc(k->msg, cap);
        if (p == NULL) {
            k->stream_failed = 1;
            sign_err(&k->err, OCSP_SIGN_EKEY, "out of memory");
            return -1;
        }
        k->msg = p;
        k->msg_cap = cap;
    }
    memcpy(k->msg + k->msg_len, data, len);
    k->msg_len += len;
    return 0;
}

int ocsp_sign_end(ocsp_sign_key_t *k, unsigned char *sig, size_t *siglen)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen;
    int rv;

    if (k->stream_failed) {
        return -1;
    }
    if (key_expired(k) || key_ready(k) != 0) {
        return -1;
    }
    if (*siglen < k->max) {
        sign_err(&k->err, OCSP_SIGN_EKEY, "signature buffer too small");
        return -1;
    }
    if (k->md == NULL) {
        rv = ocsp_sign(k, k->msg, k->msg_len, sig, siglen);
        k->msg_len = 0;
        return rv;
    }
    if (EVP_DigestFinal_ex(k->mdctx, digest, &dlen) != 1) {
        sign_err(&k->err, OCSP_SIGN_EKEY, "digest failed");
        return -1;
    }
    if (EVP_PKEY_sign(k->pctx, sig, siglen, digest, dlen) != 1) {
        return sign_failed(k);
    }
    return 0;
}
