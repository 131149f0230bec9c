/*
 * Private keys from files, PEM or DER, for every component that signs (the
 * signer's and the module's responder keys, the CRL generator's CA key):
 * one loader, so that a key that works for one works for all.  Certificates
 * have theirs beside the issuer registry, ocsp_cert_load() in issuer.h.
 */
#ifndef REVOCA_KEYFILE_H
#define REVOCA_KEYFILE_H

#include <openssl/evp.h>

/*
 * Loads one private key from PATH: PEM (PKCS#8 or the traditional RSA/EC
 * forms) or DER of the same.  An encrypted key is refused rather than
 * prompted for (no daemon has a terminal).  Returns it (caller frees) or
 * NULL; *unreadable (may be NULL) tells a file that could not be opened
 * from one that holds no key.  OpenSSL's error queue is left empty.
 */
EVP_PKEY *ocsp_key_load(const char *path, int *unreadable);

#endif
