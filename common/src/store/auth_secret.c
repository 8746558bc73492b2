/* auth_secret.c - the 32-byte secret that keys API-key MACs, kept as hex
 * in a 0600 file shared by the scheduler, memsync and `verity agent`. */
#include "vt_registry.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

int vt_auth_secret_generate(const char *path, vt_errinfo *ei)
{
    if (sodium_init() < 0)
        return vt_fail(ei, VT_ERR_INTERNAL, "libsodium init failed");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int code = errno == EEXIST ? VT_ERR_EXISTS : VT_ERR_IO;
        return vt_fail(ei, code, "%s: %s", path, strerror(errno));
    }
    uint8_t secret[VT_AUTH_SECRET_BYTES];
    char hex[2 * VT_AUTH_SECRET_BYTES + 2];
    randombytes_buf(secret, sizeof(secret));
    vt_hex_encode(secret, sizeof(secret), hex);
    hex[2 * VT_AUTH_SECRET_BYTES] = '\n';
    size_t len = 2 * VT_AUTH_SECRET_BYTES + 1;
    ssize_t w = write(fd, hex, len);
    int err = errno;
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(hex, sizeof(hex));
    if (w != (ssize_t)len || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return vt_fail(ei, VT_ERR_IO, "%s: write failed: %s", path, strerror(w < 0 ? err : EIO));
    }
    if (close(fd) != 0)
        return vt_fail(ei, VT_ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

int vt_auth_secret_load(const char *path, uint8_t secret[VT_AUTH_SECRET_BYTES],
                        vt_errinfo *ei)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vt_fail(ei, VT_ERR_IO, "auth secret %s: %s", path, strerror(errno));
    char buf[160];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            close(fd);
            return vt_fail(ei, VT_ERR_IO, "auth secret %s: %s", path, strerror(err));
        }
        if (r == 0 || (n += (size_t)r) == sizeof(buf))
            break;
    }
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    int rv = 0;
    if (n != 2 * VT_AUTH_SECRET_BYTES ||
        vt_hex_decode(buf, n, secret, VT_AUTH_SECRET_BYTES) != 0)
        rv = vt_fail(ei, VT_ERR_FORMAT, "auth secret %s: expected exactly %d hex characters",
                     path, 2 * VT_AUTH_SECRET_BYTES);
    sodium_memzero(buf, sizeof(buf));
    return rv;
}
