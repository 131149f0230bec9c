/* The one private key loader (keyfile.h): PEM and DER, PKCS#8 and the
 * traditional forms, an encrypted key refused without a prompt, a missing
 * file told from one without a key. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "keyfile.h"

enum { PEM_PKCS8, PEM_TRAD, DER_PKCS8, DER_TRAD, PEM_ENCRYPTED, GARBAGE };

static int write_key(const char *path, EVP_PKEY *k, int form)
{
    BIO *b = BIO_new_file(path, "wb");
    int ok = 0;

    if (b == NULL) {
        return 0;
    }
    switch (form) {
    case PEM_PKCS8:
        ok = PEM_write_bio_PKCS8PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
        break;
    case PEM_TRAD:
        ok = PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL,
                                                  NULL);
        break;
    case DER_PKCS8:
        ok = i2d_PKCS8PrivateKey_bio(b, k, NULL, NULL, 0, NULL, NULL);
        break;
    case DER_TRAD:
        ok = i2d_PrivateKey_bio(b, k);
        break;
    case PEM_ENCRYPTED:
        ok = PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_128_cbc(), NULL, 0,
                                           NULL, (void *)"secret");
        break;
    default:
        ok = BIO_write(b, "not a key\n", 10) == 10;
    }
    BIO_free(b);
    return ok;
}

int main(void)
{
    EVP_PKEY *keys[2];
    char dir[] = "/tmp/keyfileXXXXXX", path[64];
    int unreadable;

    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    keys[0] = EVP_EC_gen("P-256");
    keys[1] = EVP_RSA_gen(2048);
    CHECK(keys[0] != NULL && keys[1] != NULL);
    snprintf(path, sizeof(path), "%s/key", dir);
    for (int k = 0; k < 2; k++) {
        for (int form = PEM_PKCS8; form <= GARBAGE; form++) {
            EVP_PKEY *got;

            CHECK(write_key(path, keys[k], form));
            unreadable = -1;
            got = ocsp_key_load(path, &unreadable);
            CHECK(unreadable == 0);
            if (form <= DER_TRAD) {
                CHECK(got != NULL && EVP_PKEY_eq(got, keys[k]) == 1);
            } else {
                CHECK(got == NULL); /* encrypted: no prompt, no key */
            }
            EVP_PKEY_free(got);
        }
    }
    CHECK(ocsp_key_load(path, NULL) == NULL);
    snprintf(path, sizeof(path), "%s/missing", dir);
    CHECK(ocsp_key_load(path, &unreadable) == NULL && unreadable == 1);
    snprintf(path, sizeof(path), "%s/key", dir);
    unlink(path);
    rmdir(dir);
    EVP_PKEY_free(keys[0]);
    EVP_PKEY_free(keys[1]);
    CHECK_DONE();
}
