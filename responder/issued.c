/* An issued certificate as a CA reports it (issued.h). */
#include "issued.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serial.h"

int ocsp_cert_issued_by(X509 *x, X509 *issuer)
{
    EVP_PKEY *pk = X509_get0_pubkey(issuer);

    if (X509_check_issued(issuer, x) != X509_V_OK || pk == NULL ||
        X509_verify(x, pk) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* DER of exactly LEN bytes, or NULL. */
static X509 *cert_der(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x;

    if (len == 0 || len > OCSP_ISSUED_CERT_MAX)
        return NULL;
    x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

X509 *ocsp_cert_parse(const unsigned char *buf, size_t len)
{
    static const char pem[] = "-----BEGIN CERTIFICATE-----";
    unsigned char *bin = NULL;
    X509 *x = NULL;
    size_t i, n = 0;
    BIO *bio;

    if (len == 0 || len > 2 * OCSP_ISSUED_CERT_MAX)
        goto done;
    if (len >= sizeof(pem) - 1 && memcmp(buf, pem, sizeof(pem) - 1) == 0) {
        bio = BIO_new_mem_buf(buf, (int)len);
        if (bio == NULL)
            goto done;
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        goto done;
    }
    if (buf[0] == 0x30) { /* a DER SEQUENCE: not base64's alphabet */
        x = cert_der(buf, len);
        goto done;
    }
    /* base64: the white space dropped, then EVP_DecodeBlock (which
     * leaves a padding's zero bytes at the end; DER says where it ends) */
    bin = malloc(len + 1);
    if (bin == NULL)
        goto done;
    for (i = 0; i < len; i++) {
        if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
            continue;
        bin[n++] = buf[i];
    }
    if (n == 0 || n % 4 != 0)
        goto done;
    {
        unsigned char *der = malloc(n / 4 * 3);
        int m;
        size_t pad = (bin[n - 1] == '=') + (bin[n - 2] == '=');

        if (der == NULL)
            goto done;
        m = EVP_DecodeBlock(der, bin, (int)n);
        if (m > 0 && (size_t)m >= pad)
            x = cert_der(der, (size_t)m - pad);
        free(der);
    }
done:
    free(bin);
    ERR_clear_error();
    return x;
}

static int asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int ocsp_issued_from_cert(X509 *cert, char *serial, Revoca__Issued *is,
                          const char **why)
{
    unsigned char *der = NULL;
    int len;

    if (ocsp_serial_from_asn1(X509_get0_serialNumber(cert), serial) != 0) {
        *why = "certificate serial is zero, negative or over 20 octets";
        return -1;
    }
    if (asn1_time_unix(X509_get0_notBefore(cert), &is->not_before) != 0 ||
        asn1_time_unix(X509_get0_notAfter(cert), &is->not_after) != 0) {
        *why = "certificate validity unreadable";
        return -1;
    }
    len = i2d_X509(cert, NULL);
    if (len <= 0 || (der = malloc((size_t)len)) == NULL) {
        *why = "certificate cannot be encoded";
        return -1;
    }
    {
        unsigned char *p = der;
        if (i2d_X509(cert, &p) != len) {
            free(der);
            *why = "certificate cannot be encoded";
            return -1;
        }
    }
    is->has_cert_der = 1;
    is->cert_der.data = der;
    is->cert_der.len = (size_t)len;
    return 0;
}

const char *ocsp_issued_refuses_new(const Revoca__Issued *is, int64_t now)
{
    if (is->not_after <= now)
        return "notAfter is in the past: it would be dropped as expired, "
               "never answerable";
    return NULL;
}
