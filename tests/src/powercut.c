/*
 * Power-cut recorder, loaded into hotspotd with LD_PRELOAD by the crash tests.
 *
 * A file's content on flash after a power cut is what it held at its last fsync: writes after
 * that are lost. At every fsync/fdatasync of a file under $POWERCUT_DIR whose name ends in `.db`
 * or `.db-wal`, this copies the file, as it is at that moment, to `<name>.synced` (through a
 * temporary file and a rename, so a kill during the copy leaves the previous copy whole). After
 * killing the daemon, the test "cuts the power" by putting each `.synced` copy back in place of
 * its file (a file never synced is removed) and removing the `-shm` index, then restarts it.
 *
 * The copy is made before the real fsync returns: a caller only learns a write is durable after
 * it is in the copy. Counts of copies made are appended to $POWERCUT_DIR/powercut.log.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static void note(const char *what, const char *path)
{
    const char *dir = getenv("POWERCUT_DIR");
    char log[4096];
    if (!dir || snprintf(log, sizeof log, "%s/powercut.log", dir) >= (int)sizeof log)
        return;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char line[4200];
    int n = snprintf(line, sizeof line, "%s %s\n", what, path);
    if (n > 0 && n < (int)sizeof line) {
        ssize_t w = write(fd, line, (size_t)n);
        (void)w;
    }
    close(fd);
}

/* Copies the file open at `fd` to `<path>.synced` when it is one of the database's files. */
static void snapshot(int fd)
{
    const char *dir = getenv("POWERCUT_DIR");
    if (!dir)
        return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 16);
    if (n <= 0)
        return;
    path[n] = 0;
    if (strncmp(path, dir, strlen(dir)) != 0)
        return;
    if (!ends_with(path, ".db") && !ends_with(path, ".db-wal"))
        return;
    char tmp[4200], done[4200];
    snprintf(tmp, sizeof tmp, "%s.synced.tmp", path);
    snprintf(done, sizeof done, "%s.synced", path);
    pthread_mutex_lock(&lock);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = out >= 0;
    if (ok) {
        off_t at = 0;
        char buf[65536];
        for (;;) {
            ssize_t r = pread(fd, buf, sizeof buf, at);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                ok = 0;
                break;
            }
            if (r == 0)
                break;
            ssize_t off = 0;
            while (off < r) {
                ssize_t w = write(out, buf + off, (size_t)(r - off));
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    ok = 0;
                    break;
                }
                off += w;
            }
            if (!ok)
                break;
            at += r;
        }
        close(out);
    }
    if (ok && rename(tmp, done) == 0)
        note("synced", path);
    else
        note("copy-failed", path);
    pthread_mutex_unlock(&lock);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    snapshot(fd);
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    snapshot(fd);
    return real(fd);
}
