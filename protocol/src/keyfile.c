/* keyfile.c - the node/scheduler secret key file.
 *
 * Format: one line "verity-ed25519-secret-v1 <64 hex chars>\n" holding the
 * 32-byte Ed25519 seed (the public key is derived from it, so a file cannot
 * carry a mismatched pair). Created 0600; a file that "other" users can read
 * or write is refused, as ssh does. Group access is allowed so a Kubernetes
 * secret mounted with fsGroup (mode 0440) works.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "wire.h"

#define KEY_TAG "verity-ed25519-secret-v1 "
#define KEY_FILE_MAX 256

int vt_key_save(const char *path, const vt_keypair *kp, bool overwrite, vt_errinfo *ei)
{
    if (!path || !*path)
        return vt_fail(ei, VT_ERR_INVAL, "key file path is empty");
    char line[sizeof KEY_TAG + 64 + 2];
    char hex[65];
    vt_hex_encode(kp->sk, 32, hex); /* libsodium's sk = seed || pk */
    snprintf(line, sizeof line, "%s%s\n", KEY_TAG, hex);
    sodium_memzero(hex, sizeof hex);
    int flags = O_WRONLY | O_CREAT | (overwrite ? O_TRUNC : O_EXCL);
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        sodium_memzero(line, sizeof line);
        if (e == EEXIST)
            return vt_fail(ei, VT_ERR_EXISTS, "%s: already exists (refusing to overwrite a key)",
                           path);
        return vt_fail(ei, VT_ERR_IO, "%s: %s", path, strerror(e));
    }
    /* O_CREAT's mode only applies to new files: tighten an overwritten one. */
    size_t len = strlen(line);
    int rv = 0;
    if (fchmod(fd, 0600) != 0 || write(fd, line, len) != (ssize_t)len || fsync(fd) != 0)
        rv = vt_fail(ei, VT_ERR_IO, "%s: %s", path, strerror(errno));
    sodium_memzero(line, sizeof line);
    if (close(fd) != 0 && !rv)
        rv = vt_fail(ei, VT_ERR_IO, "%s: %s", path, strerror(errno));
    return rv;
}

int vt_key_load(const char *path, vt_keypair *kp, vt_errinfo *ei)
{
    if (!path || !*path)
        return vt_fail(ei, VT_ERR_INVAL, "key file path is empty");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vt_fail(ei, VT_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vt_fail(ei, VT_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return vt_fail(ei, VT_ERR_FORMAT, "%s: not a regular file", path);
    }
    if (st.st_mode & 0007) {
        close(fd);
        return vt_fail(ei, VT_ERR_DENIED, "%s: secret key is accessible by others (mode %04o); "
                       "run chmod 600", path, (unsigned)(st.st_mode & 0777));
    }
    char buf[KEY_FILE_MAX + 1];
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    if (n < 0)
        return vt_fail(ei, VT_ERR_IO, "%s: %s", path, strerror(e));
    int rv = 0;
    size_t len = (size_t)n;
    size_t tag = strlen(KEY_TAG);
    uint8_t seed[32];
    if (len > KEY_FILE_MAX) {
        rv = vt_fail(ei, VT_ERR_FORMAT, "%s: too long for a key file", path);
    } else if (len < tag || memcmp(buf, KEY_TAG, tag) != 0) {
        rv = vt_fail(ei, VT_ERR_FORMAT, "%s: not a Verity key file (expected \"%.*s...\")", path,
                     (int)tag - 1, KEY_TAG);
    } else {
        size_t end = len;
        if (end > tag && buf[end - 1] == '\n')
            end--;
        if (end > tag && buf[end - 1] == '\r')
            end--;
        if (vt_hex_decode(buf + tag, end - tag, seed, sizeof seed) != 0)
            rv = vt_fail(ei, VT_ERR_FORMAT, "%s: expected 64 hex characters after the header",
                         path);
        else if ((rv = vt_key_from_seed(kp, seed)))
            vt_fail(ei, rv, "%s: cannot derive key", path);
    }
    sodium_memzero(buf, sizeof buf);
    sodium_memzero(seed, sizeof seed);
    return rv;
}
