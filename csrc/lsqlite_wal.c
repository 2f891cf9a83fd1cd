/* mpns.sqlite_wal: an SQLite VFS that gathers a transaction's WAL writes.
 *
 * SQLite writes each WAL frame as two pwrite calls (the 24-byte frame
 * header, then the page), so a commit of five pages costs ten system
 * calls. This VFS wraps the default one and, for WAL files only, keeps
 * contiguous writes in a buffer that goes to the file in one write:
 *   - right after the page of a frame whose header marks a commit (its
 *     "database size" field is non-zero): the commit is in the file before
 *     SQLite publishes it in the WAL index, so other connections and
 *     processes never read a frame that is not there, and a commit that
 *     returned survives a process crash as it did without this VFS;
 *   - before any other operation on the file (read, sync, truncate, size,
 *     lock, close, file control), a write that is not contiguous, or when
 *     the buffer is full.
 * The file formats, the locks and the syncs are SQLite's own, so processes
 * with and without this VFS share a database. One lock call is declined:
 * the read-mark update at the start of a read (see declined() below), two
 * fcntl a transaction.
 * A failed gathered write is returned by the write that triggered it
 * (SQLite then rolls the transaction back, as for any failed write).
 * Selected per connection with a URI filename (`file:push.db?vfs=mpns-wal`),
 * never made the default.
 *
 * Linux: each MB written to the WAL is handed to the disk at once
 * (sync_file_range, SYNC_FILE_RANGE_WRITE: it starts the writeback and does
 * not wait), so the checkpoint's fsync of the WAL (synchronous = NORMAL)
 * finds most of it written instead of writing tens of MB while a caller
 * waits. It changes no guarantee: it only starts earlier what fsync does. */
#define _GNU_SOURCE             /* sync_file_range */
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <sqlite3.h>
#include "compat.h"

#if defined(__GNUC__)
#define MPNS_EXPORT __attribute__((visibility("default")))
#else
#define MPNS_EXPORT
#endif

#define VFS_NAME "mpns-wal"
#define FRAME_HDR 24            /* SQLite's WAL_FRAME_HDRSIZE */
#define BUF_CAP (128 * 1024)    /* a commit of up to ~30 pages of 4 KiB in one write */

typedef struct {
  sqlite3_file base;            /* pMethods: &io_methods (or NULL) */
  sqlite3_file *real;           /* the wrapped file, stored right after this struct */
  int wal;                      /* a WAL file: writes are gathered */
  int commit_page;              /* the next page write ends a commit */
  unsigned char *buf;           /* gathered bytes, for the file from `at` on */
  int len;
  sqlite3_int64 at;
  int kick_fd;                  /* the WAL file opened again, for sync_file_range; -1: none */
  sqlite3_int64 kick_from, kick_to;  /* written since the last kick */
  int ckpt;                     /* database file: this connection holds the checkpoint lock */
  int marks;                    /* database file: MARKS_*, what became of the last read-mark update */
  unsigned reads;               /* database file: read-mark updates asked for */
} WalFile;

#define KICK (1 << 20)          /* bytes of WAL per writeback start */

static sqlite3_vfs vfs;         /* filled in by register(): the default VFS's own, wrapped */
static sqlite3_vfs *real_vfs;

/* Starts the writeback of each KICK bytes written (contiguous runs; a
 * write elsewhere, as after a WAL restart, starts a new run). */
static void kick(WalFile *f, sqlite3_int64 at, int len)
{
  if (f->kick_fd < 0) return;
  if (at != f->kick_to) f->kick_from = at;
  f->kick_to = at + len;
  if (f->kick_to - f->kick_from < KICK) return;
#ifdef __linux__
  (void)sync_file_range(f->kick_fd, f->kick_from, f->kick_to - f->kick_from, SYNC_FILE_RANGE_WRITE);
#endif
  f->kick_from = f->kick_to;
}

/* Writes what is gathered; SQLITE_OK or the wrapped write's error. */
static int flush(WalFile *f)
{
  int rc, len = f->len;
  if (len == 0) return SQLITE_OK;
  f->len = 0;
  rc = f->real->pMethods->xWrite(f->real, f->buf, len, f->at);
  if (rc == SQLITE_OK) kick(f, f->at, len);
  return rc;
}

static int w_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
  WalFile *f = (WalFile *)file;
  int rc, commit;
  if (!f->wal) return f->real->pMethods->xWrite(f->real, data, amt, off);
  if (f->len > 0 && (off != f->at + f->len || f->len + amt > BUF_CAP)) {
    rc = flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  if (!f->buf) f->buf = sqlite3_malloc(BUF_CAP);
  if (!f->buf || amt > BUF_CAP) {  /* nothing is gathered now: straight to the file */
    f->commit_page = 0;
    return f->real->pMethods->xWrite(f->real, data, amt, off);
  }
  if (f->len == 0) f->at = off;
  memcpy(f->buf + f->len, data, (size_t)amt);
  f->len += amt;
  if (amt == FRAME_HDR) {       /* a frame header: bytes 4-7 are the size after a commit */
    const unsigned char *h = data;
    f->commit_page = (h[4] | h[5] | h[6] | h[7]) != 0;
    return SQLITE_OK;
  }
  commit = f->commit_page;
  f->commit_page = 0;
  return commit ? flush(f) : SQLITE_OK;
}

/* Every other method: what is gathered goes first, then the wrapped call. */
#define FLUSHED(f) do { int rc_ = flush(f); if (rc_ != SQLITE_OK) return rc_; } while (0)

static int w_close(sqlite3_file *file)
{
  WalFile *f = (WalFile *)file;
  int rc = flush(f), rc2 = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  sqlite3_free(f->buf);
  f->buf = NULL;
  if (f->kick_fd >= 0) close(f->kick_fd);
  f->kick_fd = -1;
  return rc != SQLITE_OK ? rc : rc2;
}

static int w_read(sqlite3_file *file, void *data, int amt, sqlite3_int64 off)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  return f->real->pMethods->xRead(f->real, data, amt, off);
}

static int w_truncate(sqlite3_file *file, sqlite3_int64 size)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  return f->real->pMethods->xTruncate(f->real, size);
}

static int w_sync(sqlite3_file *file, int flags)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  return f->real->pMethods->xSync(f->real, flags);
}

static int w_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  return f->real->pMethods->xFileSize(f->real, size);
}

static int w_lock(sqlite3_file *file, int level)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  return f->real->pMethods->xLock(f->real, level);
}

static int w_unlock(sqlite3_file *file, int level)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  return f->real->pMethods->xUnlock(f->real, level);
}

static int w_check_reserved(sqlite3_file *file, int *out)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int w_file_control(sqlite3_file *file, int op, void *arg)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int w_sector_size(sqlite3_file *file)
{
  WalFile *f = (WalFile *)file;
  return f->real->pMethods->xSectorSize(f->real);
}

static int w_device_characteristics(sqlite3_file *file)
{
  WalFile *f = (WalFile *)file;
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* The shared-memory methods belong to the database file, whose writes are
 * never gathered: they go straight to the wrapped file. This file claims
 * version 3; a wrapped file of an older one has no shared memory (SQLite
 * then refuses WAL mode) and no memory mapping. */
static int w_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **out)
{
  WalFile *f = (WalFile *)file;
  if (f->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, out);
}

/* The WAL index's lock slots (SQLite's file format, walformat.html). */
#define CKPT_LOCK 1
#define READ_LOCK(i) (3 + (i))
#define NREADER (SQLITE_SHM_NLOCK - 3)  /* slots 3..7 */

/* A read transaction starts by updating a read mark to the newest frame
 * (an exclusive lock on that reader slot, then its release: two fcntl on
 * Linux, 2-3 us each here) unless another connection holds every slot.
 * Outside a checkpoint this declines that update as if the slots were
 * busy: SQLite then reads under the newest mark already set, which is at or
 * below the newest frame, so the reader's snapshot is the same and a
 * checkpoint can only copy less while it reads. A checkpoint (it holds the
 * checkpoint lock, and sets the marks it needs) and a lock of more than one
 * slot pass through. Should SQLite find no usable mark and come back (no
 * read lock asked for in between), that round gets the real locks. */
enum { MARKS_UPDATED, MARKS_DECLINED, MARKS_PASS };

/* Every PASS_EVERY-th read updates its mark all the same: with other
 * processes reading, a mark no reader moves holds checkpoints back, and
 * the WAL grew 2-4 times larger between restarts (one writer, two readers). */
#define PASS_EVERY 16

static int declined(WalFile *f, int offset, int n, int flags)
{
  if (offset < READ_LOCK(0) || offset >= READ_LOCK(NREADER) || n != 1) return 0;
  if (flags == (SQLITE_SHM_LOCK | SQLITE_SHM_SHARED)) f->marks = MARKS_UPDATED;
  if (f->ckpt || offset == READ_LOCK(0) || flags != (SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE)) return 0;
  if (offset == READ_LOCK(1))  /* SQLite tries the slots from 1 up */
    f->marks = f->marks == MARKS_DECLINED || ++f->reads % PASS_EVERY == 0 ? MARKS_PASS : MARKS_DECLINED;
  return f->marks == MARKS_DECLINED;
}

static int w_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
  WalFile *f = (WalFile *)file;
  int rc;
  if (declined(f, offset, n, flags)) return SQLITE_BUSY;
  rc = f->real->pMethods->xShmLock(f->real, offset, n, flags);
  if (rc == SQLITE_OK && offset == CKPT_LOCK && n == 1) f->ckpt = (flags & SQLITE_SHM_LOCK) != 0;
  return rc;
}

static void w_shm_barrier(sqlite3_file *file)
{
  WalFile *f = (WalFile *)file;
  f->real->pMethods->xShmBarrier(f->real);
}

static int w_shm_unmap(sqlite3_file *file, int del)
{
  WalFile *f = (WalFile *)file;
  return f->real->pMethods->xShmUnmap(f->real, del);
}

static int w_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
  WalFile *f = (WalFile *)file;
  FLUSHED(f);
  if (f->real->pMethods->iVersion < 3) { *out = NULL; return SQLITE_OK; }
  return f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int w_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
  WalFile *f = (WalFile *)file;
  if (f->real->pMethods->iVersion < 3) return SQLITE_OK;
  return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods io_methods = {
  3, w_close, w_read, w_write, w_truncate, w_sync, w_file_size, w_lock, w_unlock,
  w_check_reserved, w_file_control, w_sector_size, w_device_characteristics,
  w_shm_map, w_shm_lock, w_shm_barrier, w_shm_unmap, w_fetch, w_unfetch
};

static int w_open(sqlite3_vfs *self, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
  WalFile *f = (WalFile *)file;
  int rc;
  (void)self;
  memset(f, 0, sizeof *f);
  f->real = (sqlite3_file *)(f + 1);
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->kick_fd = -1;
  rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
#ifdef __linux__
  if (rc == SQLITE_OK && f->wal && name) f->kick_fd = open(name, O_RDONLY | O_CLOEXEC);
#endif
  /* SQLite calls xClose whenever pMethods is set, even after a failed open */
  f->base.pMethods = f->real->pMethods ? &io_methods : NULL;
  return rc;
}

/* The rest of the VFS is the wrapped one's. */
static int w_delete(sqlite3_vfs *s, const char *n, int sync) { (void)s; return real_vfs->xDelete(real_vfs, n, sync); }
static int w_access(sqlite3_vfs *s, const char *n, int fl, int *out) { (void)s; return real_vfs->xAccess(real_vfs, n, fl, out); }
static int w_full_pathname(sqlite3_vfs *s, const char *n, int sz, char *out) { (void)s; return real_vfs->xFullPathname(real_vfs, n, sz, out); }
static void *w_dl_open(sqlite3_vfs *s, const char *n) { (void)s; return real_vfs->xDlOpen(real_vfs, n); }
static void w_dl_error(sqlite3_vfs *s, int n, char *msg) { (void)s; real_vfs->xDlError(real_vfs, n, msg); }
static void (*w_dl_sym(sqlite3_vfs *s, void *h, const char *sym))(void) { (void)s; return real_vfs->xDlSym(real_vfs, h, sym); }
static void w_dl_close(sqlite3_vfs *s, void *h) { (void)s; real_vfs->xDlClose(real_vfs, h); }
static int w_randomness(sqlite3_vfs *s, int n, char *out) { (void)s; return real_vfs->xRandomness(real_vfs, n, out); }
static int w_sleep(sqlite3_vfs *s, int us) { (void)s; return real_vfs->xSleep(real_vfs, us); }
static int w_current_time(sqlite3_vfs *s, double *out) { (void)s; return real_vfs->xCurrentTime(real_vfs, out); }
static int w_last_error(sqlite3_vfs *s, int n, char *out) { (void)s; return real_vfs->xGetLastError(real_vfs, n, out); }
static int w_current_time64(sqlite3_vfs *s, sqlite3_int64 *out) { (void)s; return real_vfs->xCurrentTimeInt64(real_vfs, out); }

/* register() -> the VFS name, or nil, err. Registered once per process
 * (SQLite keeps the pointer; the module is never unloaded: -z nodelete). */
static int l_register(lua_State *L)
{
  if (!real_vfs) {
    sqlite3_vfs *dflt = sqlite3_vfs_find(NULL);
    int rc;
    if (!dflt || dflt->iVersion < 2) return luaL_error(L, "mpns.sqlite_wal: no default SQLite VFS of version 2 or more");
    vfs.iVersion = 2;
    vfs.szOsFile = (int)sizeof(WalFile) + dflt->szOsFile;
    vfs.mxPathname = dflt->mxPathname;
    vfs.zName = VFS_NAME;
    vfs.xOpen = w_open; vfs.xDelete = w_delete; vfs.xAccess = w_access;
    vfs.xFullPathname = w_full_pathname; vfs.xDlOpen = w_dl_open; vfs.xDlError = w_dl_error;
    vfs.xDlSym = w_dl_sym; vfs.xDlClose = w_dl_close; vfs.xRandomness = w_randomness;
    vfs.xSleep = w_sleep; vfs.xCurrentTime = w_current_time; vfs.xGetLastError = w_last_error;
    vfs.xCurrentTimeInt64 = w_current_time64;
    real_vfs = dflt;
    rc = sqlite3_vfs_register(&vfs, 0);
    if (rc != SQLITE_OK) {
      real_vfs = NULL;
      lua_pushnil(L);
      lua_pushfstring(L, "mpns.sqlite_wal: sqlite3_vfs_register failed (%d)", rc);
      return 2;
    }
  }
  lua_pushstring(L, VFS_NAME);
  return 1;
}

MPNS_EXPORT int luaopen_mpns_sqlite_wal(lua_State *L)
{
  lua_newtable(L);
  lua_pushcfunction(L, l_register);
  lua_setfield(L, -2, "register");
  return 1;
}
