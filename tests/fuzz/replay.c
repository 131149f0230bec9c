/*
 * main() for a fuzz target outside a fuzzing build: feeds it each file
 * named on the command line, or each file of each directory named, once.
 * Replays the seed corpus and the inputs of past crashes as a regression
 * test (tests/fuzz/CMakeLists.txt); exits 1 if an input cannot be read.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Files larger than this are no fuzz input of ours. */
#define REPLAY_MAX (1024 * 1024)

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    size_t n;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    buf = malloc(REPLAY_MAX);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    n = fread(buf, 1, REPLAY_MAX, f);
    fclose(f);
    /* a heap block of exactly the input's size, so ASan sees overreads */
    {
        unsigned char *exact = malloc(n ? n : 1);
        if (exact == NULL) {
            free(buf);
            return -1;
        }
        memcpy(exact, buf, n);
        free(buf);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int i, failed = 0, count = 0;

    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            struct dirent **names;
            int n = scandir(argv[i], &names, NULL, alphasort);
            if (n < 0) {
                perror(argv[i]);
                return 1;
            }
            for (int j = 0; j < n; j++) {
                char path[4096];
                if (names[j]->d_name[0] != '.') {
                    snprintf(path, sizeof(path), "%s/%s", argv[i],
                             names[j]->d_name);
                    failed |= replay_file(path) != 0;
                    count++;
                }
                free(names[j]);
            }
            free(names);
        } else {
            failed |= replay_file(argv[i]) != 0;
            count++;
        }
    }
    printf("%d inputs replayed\n", count);
    return failed || count == 0 ? 1 : 0;
}
