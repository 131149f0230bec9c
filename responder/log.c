#include "log.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static const char *log_component = "revoca";
static ocsp_log_level_e log_min = OCSP_LOG_INFO;

void ocsp_log_init(const char *component, ocsp_log_level_e min)
{
    log_component = component;
    log_min = min;
}

static void log_prefix(ocsp_log_level_e level)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    struct timeval tv;
    struct tm tm;
    char ts[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03dZ %s %s ", ts, (int)(tv.tv_usec / 1000),
            names[level], log_component);
}

void ocsp_log(ocsp_log_level_e level, const char *fmt, ...)
{
    va_list ap;

    if (level < log_min) {
        return;
    }
    /* one whole line even with several threads logging (the purger) */
    flockfile(stderr);
    log_prefix(level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

void ocsp_log_openssl(ocsp_log_level_e level, const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error();

    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
    }
    ERR_clear_error();
    ocsp_log(level, "%s openssl=\"%s\"", what, buf);
}
