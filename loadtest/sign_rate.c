/*
 * The raw signing rate of a key, the limit loadtest/hsm_bench.sh sets the
 * signer against: THREADS threads, each with its own key object opened
 * from REF through the same path as responder/sign.c (libp11's "pkcs11"
 * engine for a PKCS#11 URI, its PIN from $REVOCA_PIN; a PEM file
 * otherwise), each calling EVP_PKEY_sign() (C_Sign for a token key) on a
 * 32-byte digest in a loop for SECONDS.  Prints "signatures=N seconds=S
 * per_s=R".  Not a test.
 *
 *   sign_rate REF THREADS SECONDS
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ui.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS_MAX 64

static ENGINE *engine;
static const char *ref;
static double seconds;
static pthread_barrier_t start;

typedef struct {
    EVP_PKEY *pkey;
    unsigned long count;
    int failed;
} worker_t;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static EVP_PKEY *open_key(void)
{
    EVP_PKEY *pkey = NULL;
    FILE *f;

    if (engine != NULL) {
        return ENGINE_load_private_key(engine, ref, (UI_METHOD *)UI_null(),
                                       NULL);
    }
    f = fopen(ref, "r");
    if (f != NULL) {
        pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    return pkey;
}

static void *run(void *arg)
{
    worker_t *w = arg;
    unsigned char digest[32], sig[1024];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(w->pkey, NULL);
    double end;

    memset(digest, 0x5a, sizeof(digest));
    if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1) {
        w->failed = 1;
    }
    pthread_barrier_wait(&start);
    end = now_s() + seconds;
    while (!w->failed && now_s() < end) {
        size_t len = sizeof(sig);
        if (EVP_PKEY_sign(ctx, sig, &len, digest, sizeof(digest)) != 1) {
            w->failed = 1;
            break;
        }
        w->count++;
    }
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    worker_t w[THREADS_MAX];
    pthread_t tid[THREADS_MAX];
    unsigned long total = 0;
    double t0, t1;
    int i, n;

    if (argc != 4 || (n = atoi(argv[2])) < 1 || n > THREADS_MAX ||
        (seconds = atof(argv[3])) <= 0) {
        fprintf(stderr, "usage: sign_rate REF THREADS SECONDS\n");
        return 2;
    }
    ref = argv[1];
    if (strncmp(ref, "pkcs11:", 7) == 0) {
        const char *pin = getenv("REVOCA_PIN");
        const char *module = getenv("PKCS11_MODULE");

        OPENSSL_init_crypto(OPENSSL_INIT_ENGINE_DYNAMIC, NULL);
        engine = ENGINE_by_id("pkcs11");
        if (engine == NULL ||
            (module != NULL &&
             ENGINE_ctrl_cmd_string(engine, "MODULE_PATH", module, 0) != 1) ||
            (pin != NULL &&
             ENGINE_ctrl_cmd_string(engine, "PIN", pin, 0) != 1) ||
            ENGINE_init(engine) != 1) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    /* Every key opened before the clock starts, on one thread (as the
     * signer's pool does). */
    for (i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        if ((w[i].pkey = open_key()) == NULL) {
            fprintf(stderr, "sign_rate: cannot open %s\n", ref);
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    for (i = 0; i < n; i++) {
        pthread_create(&tid[i], NULL, run, &w[i]);
    }
    pthread_barrier_wait(&start);
    t0 = now_s();
    for (i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
        if (w[i].failed) {
            fprintf(stderr, "sign_rate: a signature failed\n");
            ERR_print_errors_fp(stderr);
            return 1;
        }
        total += w[i].count;
    }
    t1 = now_s();
    printf("signatures=%lu seconds=%.3f per_s=%.0f\n", total, t1 - t0,
           (double)total / (t1 - t0));
    for (i = 0; i < n; i++) {
        EVP_PKEY_free(w[i].pkey);
    }
    return 0;
}
