// export/output.c: writing an output file the way its path asks for (see output.h).
#include "export/output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "platform/log.h"

enum { MAX_LINKS = 40, FIFO_RETRY_MS = 20 };

// Fills why with "cannot write PATH: WHAT" and returns false with errno = err.
static bool fail(char *why, size_t cap, const char *path, const char *what, int err) {
  if (why && cap) xsmem_snprintf(why, cap, "cannot write %s: %s", path, what ? what : xsmem_strerror(err));
  errno = err;
  return false;
}

static bool copy_path(char *out, size_t cap, const char *in) {
  size_t n = strlen(in);
  if (n >= cap) {
    errno = ENAMETOOLONG;
    return false;
  }
  memcpy(out, in, n + 1);
  return true;
}

bool xsmem_output_resolve(const char *path, char *out, size_t cap) {
  char cur[PATH_MAX], link[PATH_MAX];
  if (!copy_path(cur, sizeof cur, path)) return false;
  for (int hops = 0;; hops++) {
    struct stat st;
    if (lstat(cur, &st) != 0) {
      if (errno == ENOENT) break;  // a new file (or a link to one)
      return false;
    }
    if (!S_ISLNK(st.st_mode)) break;
    if (hops == MAX_LINKS) {
      errno = ELOOP;
      return false;
    }
    ssize_t n = readlink(cur, link, sizeof link - 1);
    if (n < 0) return false;
    link[n] = '\0';
    const char *slash = strrchr(cur, '/');
    if (link[0] == '/' || !slash) {
      if (!copy_path(cur, sizeof cur, link)) return false;
    } else {
      // A relative target is relative to the link's directory.
      size_t dir = (size_t)(slash - cur) + 1;
      if (dir + (size_t)n >= sizeof cur) {
        errno = ENAMETOOLONG;
        return false;
      }
      memcpy(cur + dir, link, (size_t)n + 1);
    }
  }
  return copy_path(out, cap, cur);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

// Opens something that is not a regular file for writing in place. A FIFO is
// opened non-blocking when wait_ms >= 0 (retried while it has no reader).
static int open_in_place(const char *path, const struct stat *st, int wait_ms) {
  int flags = O_WRONLY | O_CLOEXEC | O_NOCTTY;
  if (S_ISFIFO(st->st_mode) && wait_ms >= 0) {
    for (int waited = 0;; waited += FIFO_RETRY_MS) {
      int fd = open(path, flags | O_NONBLOCK);
      if (fd >= 0 || errno != ENXIO || waited >= wait_ms) return fd;
      sleep_ms(FIFO_RETRY_MS);
    }
  }
  int fd;
  while ((fd = open(path, flags)) < 0 && errno == EINTR) {}
  return fd;
}

bool xsmem_output_write_fd(int fd, const void *data, size_t len, int wait_ms) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return false;
      struct pollfd pf = {fd, POLLOUT, 0};
      int r = poll(&pf, 1, wait_ms);
      if (r == 0) {
        errno = ETIMEDOUT;  // the reader stopped reading
        return false;
      }
      if (r < 0 && errno != EINTR) return false;
      continue;
    }
    if (w == 0) {
      errno = EIO;
      return false;
    }
    p += w;
    len -= (size_t)w;
  }
  return true;
}

// Writes to the temporary file beside `real` and renames it over `real`.
static bool replace_atomically(const char *real, const struct stat *old, const void *data, size_t len, char *why,
                               size_t cap, const char *shown) {
  static _Atomic unsigned counter;
  char tmp[PATH_MAX];
  int fd = -1;
  for (int tries = 0; tries < 100 && fd < 0; tries++) {
    unsigned n = atomic_fetch_add(&counter, 1);
    if (xsmem_snprintf(tmp, sizeof tmp, "%s.tmp.%d.%u", real, (int)getpid(), n) >= sizeof tmp)
      return fail(why, cap, shown, NULL, ENAMETOOLONG);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd < 0 && errno != EEXIST) return fail(why, cap, shown, NULL, errno);
  }
  if (fd < 0) return fail(why, cap, shown, NULL, EEXIST);
  // Keep the permissions of the file being replaced (a private 0600 file stays private).
  if (old) (void)fchmod(fd, old->st_mode & 07777);
  bool ok = xsmem_output_write_fd(fd, data, len, -1);
  int err = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && rename(tmp, real) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    unlink(tmp);
    return fail(why, cap, shown, NULL, err);
  }
  return true;
}

// Resolves path and stats the result: returns 1 when it exists (*st filled),
// 0 when it does not, -1 on error (why filled).
static int resolve_and_stat(const char *path, char *real, struct stat *st, char *why, size_t cap) {
  if (!xsmem_output_resolve(path, real, PATH_MAX)) {
    fail(why, cap, path, NULL, errno);
    return -1;
  }
  if (stat(real, st) == 0) return 1;
  if (errno == ENOENT) return 0;
  fail(why, cap, path, NULL, errno);
  return -1;
}

bool xsmem_output_write(const char *path, const void *data, size_t len, int wait_ms, char *why, size_t cap) {
  char real[PATH_MAX];
  struct stat st;
  int exists = resolve_and_stat(path, real, &st, why, cap);
  if (exists < 0) return false;
  if (exists && S_ISDIR(st.st_mode)) return fail(why, cap, path, "it is a directory", EISDIR);
  if (!exists || S_ISREG(st.st_mode)) return replace_atomically(real, exists ? &st : NULL, data, len, why, cap, path);
  int fd = open_in_place(real, &st, wait_ms);
  if (fd < 0) {
    int err = errno;
    return fail(why, cap, path, err == ENXIO && S_ISFIFO(st.st_mode) ? "no process reads the FIFO" : NULL, err);
  }
  bool ok = xsmem_output_write_fd(fd, data, len, wait_ms);
  int err = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  return ok ? true : fail(why, cap, path, NULL, err);
}

int xsmem_output_append_open(const char *path, int wait_ms, bool *regular, bool *empty, char *why, size_t cap) {
  char real[PATH_MAX];
  struct stat st;
  *regular = *empty = false;
  int exists = resolve_and_stat(path, real, &st, why, cap);
  if (exists < 0) return -1;
  if (exists && S_ISDIR(st.st_mode)) {
    fail(why, cap, path, "it is a directory", EISDIR);
    return -1;
  }
  int fd;
  if (!exists || S_ISREG(st.st_mode)) {
    fd = open(real, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd >= 0 && fstat(fd, &st) == 0) {
      *regular = S_ISREG(st.st_mode);
      *empty = st.st_size == 0;
    }
  } else {
    fd = open_in_place(real, &st, wait_ms);
  }
  if (fd < 0) {
    int err = errno;
    fail(why, cap, path, err == ENXIO && exists && S_ISFIFO(st.st_mode) ? "no process reads the FIFO" : NULL, err);
  }
  return fd;
}

bool xsmem_output_reset(const char *path, char *why, size_t cap) {
  char real[PATH_MAX];
  struct stat st;
  int exists = resolve_and_stat(path, real, &st, why, cap);
  if (exists <= 0) return exists == 0;
  if (S_ISDIR(st.st_mode)) return fail(why, cap, path, "it is a directory", EISDIR);
  if (S_ISREG(st.st_mode) && unlink(real) != 0 && errno != ENOENT) return fail(why, cap, path, NULL, errno);
  return true;
}

bool xsmem_output_check(const char *path, char *why, size_t cap) {
  char real[PATH_MAX];
  struct stat st;
  int exists = resolve_and_stat(path, real, &st, why, cap);
  if (exists < 0) return false;
  if (exists && S_ISDIR(st.st_mode)) return fail(why, cap, path, "it is a directory", EISDIR);
  if (exists && !S_ISREG(st.st_mode)) {
    return access(real, W_OK) == 0 ? true : fail(why, cap, path, NULL, errno);
  }
  // A new or regular file: the temporary file and the rename need its directory.
  char dir[PATH_MAX];
  const char *slash = strrchr(real, '/');
  if (!slash) {
    memcpy(dir, ".", 2);
  } else if (slash == real) {
    memcpy(dir, "/", 2);
  } else {
    memcpy(dir, real, (size_t)(slash - real));
    dir[slash - real] = '\0';
  }
  struct stat ds;
  int err = 0;
  if (stat(dir, &ds) != 0) err = errno;
  else if (!S_ISDIR(ds.st_mode)) err = ENOTDIR;
  else if (access(dir, W_OK) != 0) err = errno;
  if (!err) return true;
  char what[PATH_MAX + 64];
  xsmem_snprintf(what, sizeof what, "directory %s: %s", dir, xsmem_strerror(err));
  return fail(why, cap, path, what, err);
}
