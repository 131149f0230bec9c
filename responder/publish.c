#include "publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#define TMP_MARK ".tmp-"

/* Test hook: stall between fsync and rename so that a test can SIGKILL the
 * generator mid-publication (tests/crl/test_crl_publish.py). */
static void crl_test_stall(void)
{
    const char *v = getenv("REVOCA_CRLGEN_TEST_STALL_MS");
    struct timespec ts;
    long ms;

    if (v == NULL || (ms = strtol(v, NULL, 10)) <= 0 || ms > 60000) {
        return;
    }
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

int crl_publish_open(crl_pending_t *pf, const char *dir, const char *name,
                     char *err)
{
    pf->dir = dir;
    pf->fd = -1;
    if ((size_t)snprintf(pf->path, sizeof(pf->path), "%s/%s", dir, name) >=
            sizeof(pf->path) ||
        (size_t)snprintf(pf->tmp, sizeof(pf->tmp), "%s/.%s" TMP_MARK "%ld", dir,
                         name, (long)getpid()) >= sizeof(pf->tmp)) {
        snprintf(err, OCSP_ERR_MAX, "%s/%s: path too long", dir, name);
        return -1;
    }
    /* read back too: the pre-publish check maps what was written */
    pf->fd = open(pf->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (pf->fd < 0) {
        snprintf(err, OCSP_ERR_MAX, "%s: %s", pf->tmp, strerror(errno));
        return -1;
    }
    return 0;
}

int crl_publish_written(crl_pending_t *pf, int64_t mtime, char *err)
{
    if (mtime > 0) {
        struct timespec ts[2];
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[1].tv_sec = (time_t)mtime;
        ts[1].tv_nsec = 0;
        if (futimens(pf->fd, ts) != 0) {
            snprintf(err, OCSP_ERR_MAX, "futimens %s: %s", pf->tmp,
                     strerror(errno));
            return -1;
        }
    }
#ifdef SYNC_FILE_RANGE_WRITE
    /* Only a head start for the fsync of the commit. */
    (void)sync_file_range(pf->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    return 0;
}

int crl_publish_begin(crl_pending_t *pf, const char *dir, const char *name,
                      const void *p, size_t len, int64_t mtime, char *err)
{
    const unsigned char *b = p;
    size_t off = 0;

    if (crl_publish_open(pf, dir, name, err) != 0) {
        return -1;
    }
    while (off < len) {
        ssize_t n = write(pf->fd, b + off, len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            snprintf(err, OCSP_ERR_MAX, "write %s: %s", pf->tmp,
                     n < 0 ? strerror(errno) : "short write");
            goto failed;
        }
        off += (size_t)n;
    }
    if (crl_publish_written(pf, mtime, err) != 0) {
        goto failed;
    }
    return 0;

failed:
    crl_publish_abort(pf);
    return -1;
}

int crl_publish_commit(crl_pending_t *pf, char *err)
{
    int dfd;

    if (fsync(pf->fd) != 0) {
        snprintf(err, OCSP_ERR_MAX, "fsync %s: %s", pf->tmp, strerror(errno));
        goto failed;
    }
    if (close(pf->fd) != 0) {
        pf->fd = -1;
        snprintf(err, OCSP_ERR_MAX, "close %s: %s", pf->tmp, strerror(errno));
        goto failed;
    }
    pf->fd = -1;
    crl_test_stall();
    if (rename(pf->tmp, pf->path) != 0) {
        snprintf(err, OCSP_ERR_MAX, "rename %s: %s", pf->path, strerror(errno));
        goto failed;
    }
    /* The rename itself is durable only once the directory is. */
    dfd = open(pf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(err, OCSP_ERR_MAX, "fsync %s: %s", pf->dir, strerror(errno));
        if (dfd >= 0) {
            close(dfd);
        }
        return -1; /* published, but say so: the caller counts a failure */
    }
    close(dfd);
    return 0;

failed:
    crl_publish_abort(pf);
    return -1;
}

void crl_publish_abort(crl_pending_t *pf)
{
    if (pf->fd >= 0) {
        close(pf->fd);
        pf->fd = -1;
    }
    unlink(pf->tmp);
}

int crl_publish_file(const char *dir, const char *name, const void *p,
                     size_t len, int64_t mtime, char *err)
{
    crl_pending_t pf;

    if (crl_publish_begin(&pf, dir, name, p, len, mtime, err) != 0) {
        return -1;
    }
    return crl_publish_commit(&pf, err);
}

int crl_map_file(const char *dir, const char *name, const unsigned char **out,
                 size_t *len, char *err)
{
    char path[4096];
    struct stat st;
    void *p;
    int fd;

    *out = NULL;
    *len = 0;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
        sizeof(path)) {
        snprintf(err, OCSP_ERR_MAX, "%s/%s: path too long", dir, name);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return 1;
        }
        snprintf(err, OCSP_ERR_MAX, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > CRL_FILE_MAX) {
        snprintf(err, OCSP_ERR_MAX,
                 "%s: not a regular file of at most %zu bytes", path,
                 CRL_FILE_MAX);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        close(fd);
        *out = (const unsigned char *)"";
        return 0;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, OCSP_ERR_MAX, "mmap %s: %s", path, strerror(errno));
        return -1;
    }
    madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
    *out = p;
    *len = (size_t)st.st_size;
    return 0;
}

int crl_map_pending(const crl_pending_t *pf, size_t len,
                    const unsigned char **out, char *err)
{
    void *p;

    *out = NULL;
    if (len == 0 || len > CRL_FILE_MAX) {
        snprintf(err, OCSP_ERR_MAX, "%s: %zu bytes, not 1 to %zu", pf->tmp, len,
                 CRL_FILE_MAX);
        return -1;
    }
    p = mmap(NULL, len, PROT_READ, MAP_SHARED, pf->fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, OCSP_ERR_MAX, "mmap %s: %s", pf->tmp, strerror(errno));
        return -1;
    }
    madvise(p, len, MADV_SEQUENTIAL);
    *out = p;
    return 0;
}

void crl_unmap_file(const unsigned char *p, size_t len)
{
    if (p != NULL && len > 0) {
        munmap((void *)p, len);
    }
}

void crl_map_release(const unsigned char *p, size_t done)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t n = page > 0 ? done - done % (size_t)page : 0;

    if (n > 0) {
        madvise((void *)p, n, MADV_DONTNEED);
    }
}

void crl_publish_cleanup(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];

    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        const char *m = strstr(de->d_name, TMP_MARK);
        long pid;

        if (de->d_name[0] != '.' || m == NULL) {
            continue;
        }
        pid = strtol(m + strlen(TMP_MARK), NULL, 10);
        /* A live generator on this host may be writing it right now. */
        if (pid > 0 && pid != (long)getpid() &&
            (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
            continue;
        }
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) <
            sizeof(path)) {
            unlink(path);
        }
    }
    closedir(d);
}
