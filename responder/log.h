/*
 * Daemon logging: one line per event, "TIME LEVEL component msg k=v ...".
 * Never log a private key or a whole request.
 */
#ifndef REVOCA_LOG_H
#define REVOCA_LOG_H

typedef enum {
    OCSP_LOG_DEBUG,
    OCSP_LOG_INFO,
    OCSP_LOG_WARN,
    OCSP_LOG_ERR
} ocsp_log_level_e;

void ocsp_log_init(const char *component, ocsp_log_level_e min);
void ocsp_log(ocsp_log_level_e level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends OpenSSL's error queue (and clears it) to a log line. */
void ocsp_log_openssl(ocsp_log_level_e level, const char *what);

#endif
