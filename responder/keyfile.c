#include "keyfile.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* No passphrase: PEM_read_bio_PrivateKey() would otherwise prompt on the
 * terminal for an encrypted key. */
static int keyfile_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

EVP_PKEY *ocsp_key_load(const char *path, int *unreadable)
{
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new_file(path, "rb");

    if (unreadable != NULL) {
        *unreadable = b == NULL;
    }
    if (b == NULL) {
        ERR_clear_error();
        return NULL;
    }
    k = PEM_read_bio_PrivateKey(b, NULL, keyfile_no_passphrase, NULL);
    if (k == NULL) {
        /* Not PEM: try DER (PKCS#8, or a traditional RSA or EC key). */
        ERR_clear_error();
        if (BIO_reset(b) == 0) {
            k = d2i_PrivateKey_bio(b, NULL);
        }
    }
    BIO_free(b);
    ERR_clear_error();
    return k;
}
