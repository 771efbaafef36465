/*
 * The relay's storage (docs/relay-protocol.md section 9): the data folder,
 * groups, devices and the records and folder helpers both halves use.
 * Blobs, listings and uploads are in relay_disk_blob.c.  Every file-system call is relative to an
 * O_DIRECTORY fd and never follows a link; every record is written temp +
 * fsync + rename + fsync of its folder.  The group table is loaded at open
 * (usage recomputed by walking groups/) and kept in memory, one mutex per
 * group.
 */
#include "core/base/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/path.h"
#include "transport/blobstore.h"
#include "transport/relay_disk_store.h"

#define RD_DATA_MAGIC "dsync-relay-data 1\n"
#define RD_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

static _Thread_local const char *refusal = "";

const char *relay_disk_last_refusal(void)
{
	return refusal;
}

void rd_refusal_set(const char *word)
{
	refusal = word;
}

int rd_refuse(const char *word, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	refusal = word;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dsync_error_set(DSYNC_ENOSPACE, "%s", msg);
}

/* ---- small helpers */

int rd_hex_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	return s[len] == '\0' ? 0 : -1;
}

static int check_id(const char *id, const char *what)
{
	if (!id || rd_hex_ok(id, DSYNC_RELAY_ID_HEX - 1) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "bad %s id", what);
	return 0;
}

int rd_check_name(const char *name)
{
	if (!name || strlen(name) > DSYNC_RELAY_NAME_MAX || dsync_blobstore_check_name(name) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "bad blob name");
	return 0;
}

bool rd_manifest_name(const char *name, char dev[DSYNC_RELAY_ID_HEX], uint64_t *seq)
{
	const size_t idlen = DSYNC_RELAY_ID_HEX - 1;
	const char *p;
	uint64_t n = 0;
	size_t i;

	if (strncmp(name, "devices/", 8) != 0 || strlen(name) != 8 + idlen + 1 + 16 || name[8 + idlen] != '/')
		return false;
	memcpy(dev, name + 8, idlen);
	dev[idlen] = '\0';
	if (rd_hex_ok(dev, idlen) < 0)
		return false;
	for (p = name + 8 + idlen + 1, i = 0; i < 16; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(p[i] - '0');  /* 16 digits fit in 64 bits */
	}
	*seq = n;
	return true;
}

/* ---- records: "KEY VALUE\n" files written atomically */

bool rd_record_get(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			size_t vlen = len - klen - 1;

			if (vlen >= size)
				return false;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool rd_record_u64(const char *text, const char *key, uint64_t *out)
{
	char v[24], *end;
	unsigned long long n;

	if (!rd_record_get(text, key, v, sizeof(v)) || v[0] < '0' || v[0] > '9')
		return false;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end)
		return false;
	*out = n;
	return true;
}

static bool record_hex(const char *text, const char *key, uint8_t *out, size_t len)
{
	char v[DSYNC_RELAY_HEX64 + 64];

	return rd_record_get(text, key, v, sizeof(v)) && strlen(v) == 2 * len && rd_hex_ok(v, 2 * len) == 0 &&
	       sodium_hex2bin(out, len, v, 2 * len, NULL, NULL, NULL) == 0;
}

int rd_record_read(int dir, const char *name, char *buf, size_t size)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, error = 0;

	if ((fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return errno == ENOENT ? DSYNC_ENOTFOUND : dsync_error_sys(errno, "cannot read the relay's '%s'", name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		error = dsync_error_set(DSYNC_ECORRUPT, "the relay's '%s' is not a file", name);
		goto out;
	}
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = dsync_error_sys(errno, "cannot read the relay's '%s'", name);
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
out:
	close(fd);
	return error;
}

static int disk_error(int e, const char *what)
{
	if (e == ENOSPC || e == EDQUOT)
		return rd_refuse("disk-full", "the relay's disk is full (writing %s)", what);
	return dsync_error_sys(e, "cannot write the relay's %s", what);
}

int rd_record_write(int tmp, int dir, const char *name, const char *text)
{
	char tname[DSYNC_RELAY_ID_HEX + 4];
	uint8_t rnd[16];
	int fd, error = 0;

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(tname, DSYNC_RELAY_ID_HEX, rnd, sizeof(rnd));
	memcpy(tname + DSYNC_RELAY_ID_HEX - 1, ".r", 3);
	if ((fd = openat(tmp, tname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return disk_error(errno, name);
	if (dsync_file_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		error = disk_error(errno, name);
		close(fd);
		goto out;
	}
	close(fd);
	if (renameat(tmp, tname, dir, name) < 0) {
		error = dsync_error_sys(errno, "cannot store the relay's '%s'", name);
		goto out;
	}
	tname[0] = '\0';
	if (fsync(dir) < 0)
		error = dsync_error_sys(errno, "cannot flush the relay's folder of '%s'", name);
out:
	if (tname[0])
		unlinkat(tmp, tname, 0);
	return error;
}

/* ---- folders */

int rd_open_dir(int at, const char *rel, bool create)
{
	const char *p = rel;
	int fd, next;

	if ((fd = openat(at, ".", RD_DIR_FLAGS)) < 0)
		return dsync_error_sys(errno, "cannot open a relay folder");
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		char comp[DSYNC_RELAY_NAME_MAX + 1];

		if (len == 0 || len >= sizeof(comp)) {
			close(fd);
			return dsync_error_set(DSYNC_EUSAGE, "bad relay path '%s'", rel);
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		next = openat(fd, comp, RD_DIR_FLAGS);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST) {
				int e = errno;

				close(fd);
				return disk_error(e, comp);
			}
			if (fsync(fd) < 0) {
				int e = errno;

				close(fd);
				return disk_error(e, comp);
			}
			next = openat(fd, comp, RD_DIR_FLAGS);
		}
		if (next < 0) {
			int e = errno;

			close(fd);
			if (e == ENOENT)
				return DSYNC_ENOTFOUND;
			if (e == ELOOP || e == ENOTDIR)
				return dsync_error_set(DSYNC_ECORRUPT, "the relay's '%s' is not a folder (a link?)", comp);
			return dsync_error_sys(e, "cannot open the relay's '%s'", comp);
		}
		close(fd);
		fd = next;
		p += len;
		if (*p == '/')
			p++;
	}
	return fd;
}

int rd_blob_parent(int gfd, const char *name, bool create, const char **base)
{
	char rel[DSYNC_RELAY_NAME_MAX + 3];
	const char *slash = strrchr(name, '/');
	size_t len = slash ? (size_t)(slash - name) : 0;

	memcpy(rel, "b", 2);
	if (slash) {
		rel[1] = '/';
		memcpy(rel + 2, name, len);
		rel[2 + len] = '\0';
	}
	*base = slash ? slash + 1 : name;
	return rd_open_dir(gfd, rel, create);
}

/* ---- the group table */

rd_group *rd_group_find(relay_disk *d, const char *gid)
{
	rd_group *g = NULL;
	size_t i;

	if (check_id(gid, "group") < 0)
		return NULL;
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->groups.size; i++)
		if (strcmp(d->groups.ptr[i]->gid, gid) == 0)
			g = d->groups.ptr[i];
	pthread_mutex_unlock(&d->lock);
	if (!g)
		dsync_error_set(DSYNC_ENOTFOUND, "no group %s on this relay", gid);
	return g;
}

int rd_group_fd(relay_disk *d, const rd_group *g)
{
	int fd = openat(d->groups_fd, g->gid, RD_DIR_FLAGS);

	if (fd < 0)
		return dsync_error_sys(errno, "cannot open group %s in the relay's data", g->gid);
	return fd;
}

int rd_group_open(relay_disk *d, const char *gid, rd_group **g)
{
	if ((*g = rd_group_find(d, gid)) == NULL)
		return dsync_error_last_code();
	return rd_group_fd(d, *g);
}

uint64_t rd_group_quota(const relay_disk *d, const rd_group *g)
{
	return g->quota_set ? g->quota : d->lim.default_quota;
}

static void group_free(rd_group *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->lock);
	dsync_array_dispose(g->devices);
	dsync_array_dispose(g->pending);
	free(g);
}

static rd_group *group_new(const char *gid)
{
	rd_group *g = calloc(1, sizeof(*g));

	if (!g) {
		dsync_error_oom();
		return NULL;
	}
	memcpy(g->gid, gid, DSYNC_RELAY_ID_HEX);
	pthread_mutex_init(&g->lock, NULL);
	return g;
}

/* The group file's text from G. */
static int group_text(dsync_buf *out, const rd_group *g)
{
	char th[DSYNC_RELAY_HEX64], ah[DSYNC_RELAY_HEX64];

	sodium_bin2hex(th, sizeof(th), g->th, sizeof(g->th));
	sodium_bin2hex(ah, sizeof(ah), g->ah, sizeof(g->ah));
	if (dsync_buf_printf(out, "group 1\ntoken-hash %s\nadmit-hash %s\ncreated %lld\n", th, ah,
			     (long long)g->created) < 0 ||
	    (g->quota_set && dsync_buf_printf(out, "quota %llu\n", (unsigned long long)g->quota) < 0))
		return dsync_error_oom();
	return 0;
}

static int group_save(rd_group *g, int gfd)
{
	dsync_buf text = DSYNC_BUF_INIT;
	int tmp = -1, error;

	if ((error = group_text(&text, g)) < 0)
		goto out;
	if ((tmp = rd_open_dir(gfd, "tmp", true)) < 0) {
		error = tmp;
		goto out;
	}
	error = rd_record_write(tmp, gfd, "group", text.ptr);
out:
	if (tmp >= 0)
		close(tmp);
	dsync_buf_dispose(&text);
	return error;
}

static int device_parse(rd_device *dev, const char *id, const char *text)
{
	uint64_t reg = 0;

	memcpy(dev->id, id, DSYNC_RELAY_ID_HEX);
	if (!record_hex(text, "key", dev->info.pk, sizeof(dev->info.pk)) ||
	    !rd_record_u64(text, "seq", &dev->info.seq_high))
		return dsync_error_set(DSYNC_ECORRUPT, "the relay's record of device %s is damaged", id);
	rd_record_u64(text, "registered", &reg);
	dev->info.registered = (int64_t)reg;
	return 0;
}

rd_device *rd_device_find(rd_group *g, const char *id)
{
	size_t i;

	for (i = 0; i < g->devices.size; i++)
		if (strcmp(g->devices.ptr[i].id, id) == 0)
			return &g->devices.ptr[i];
	return NULL;
}

int rd_device_store(rd_group *g, int gfd, const char *id, const relay_device_info *info)
{
	char pk[DSYNC_RELAY_HEX64], text[256];
	rd_device *dev;
	int tmp, dir, error;

	sodium_bin2hex(pk, sizeof(pk), info->pk, sizeof(info->pk));
	snprintf(text, sizeof(text), "key %s\nseq %llu\nregistered %lld\n", pk, (unsigned long long)info->seq_high,
		 (long long)info->registered);
	if ((tmp = rd_open_dir(gfd, "tmp", true)) < 0)
		return tmp;
	if ((dir = rd_open_dir(gfd, "devices", true)) < 0) {
		close(tmp);
		return dir;
	}
	error = rd_record_write(tmp, dir, id, text);
	close(dir);
	close(tmp);
	if (error < 0)
		return error;
	if ((dev = rd_device_find(g, id)) != NULL) {
		dev->info = *info;
		return 0;
	}
	{
		rd_device n;

		memcpy(n.id, id, DSYNC_RELAY_ID_HEX);
		n.info = *info;
		if (dsync_array_push(g->devices, n) < 0)
			return dsync_error_oom();
	}
	return 0;
}

/* ---- walking b/ */

int rd_walk(int fd, dsync_buf *path, const char *prefix, int depth, rd_walk_cb cb, void *payload)
{
	size_t len = path->len, plen = strlen(prefix);
	struct dirent *e;
	DIR *dir;
	int dfd, error = 0;

	if ((dfd = dup(fd)) < 0)
		return dsync_error_sys(errno, "cannot read the relay's data");
	if ((dir = fdopendir(dfd)) == NULL) {
		close(dfd);
		return dsync_error_sys(errno, "cannot read the relay's data");
	}
	while (error == 0 && (e = readdir(dir)) != NULL) {
		unsigned char type = e->d_type;
		size_t rl;

		if (e->d_name[0] == '.')
			continue;
		dsync_buf_truncate(path, len);
		if ((error = dsync_buf_printf(path, "%s%s", len ? "/" : "", e->d_name)) < 0)
			break;
		rl = path->len;
		if (strncmp(path->ptr, prefix, rl < plen ? rl : plen) != 0)
			continue;   /* neither this nor anything under it starts with PREFIX */
		if (type == DT_UNKNOWN) {
			/* a file system without types in its folders: ask (a link stays a link) */
			struct stat st;

			if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
		}
		if (type == DT_DIR && depth > 0) {
			int sub = openat(dirfd(dir), e->d_name, RD_DIR_FLAGS);

			if (sub >= 0) {
				error = rd_walk(sub, path, prefix, depth - 1, cb, payload);
				close(sub);
			}
		} else if (type == DT_REG && rl >= plen) {
			error = cb(dirfd(dir), e->d_name, path->ptr, payload);
		}
	}
	closedir(dir);
	dsync_buf_truncate(path, len);
	return error;
}

static int count_blob(int dir, const char *base, const char *name, void *payload)
{
	rd_group *g = payload;
	struct stat st;

	if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < DSYNC_RELAY_DISK_HEADER)
		return 0;   /* not a blob we stored */
	g->used += (uint64_t)st.st_size;
	g->blobs++;
	if (strncmp(name, "keys/", 5) == 0)
		g->keys++;
	return 0;
}

/* ---- opening */

static int group_load_devices(rd_group *g, int gfd)
{
	char text[RD_RECORD_MAX];
	struct dirent *e;
	DIR *dir;
	int fd, error = 0;

	if ((fd = rd_open_dir(gfd, "devices", true)) < 0)
		return fd;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return dsync_error_sys(errno, "cannot read the devices of group %s", g->gid);
	}
	while (error == 0 && (e = readdir(dir)) != NULL) {
		rd_device dev;

		if (rd_hex_ok(e->d_name, DSYNC_RELAY_ID_HEX - 1) < 0)
			continue;   /* a record's temp, or nothing of ours */
		if ((error = rd_record_read(dirfd(dir), e->d_name, text, sizeof(text))) < 0 ||
		    (error = device_parse(&dev, e->d_name, text)) < 0)
			break;
		if (dsync_array_push(g->devices, dev) < 0)
			error = dsync_error_oom();
	}
	closedir(dir);
	return error;
}

/* ---- uploads kept across a restart (relay_disk_blob.c writes them) */

void rd_len_name(char out[DSYNC_RELAY_ID_HEX + 4], const char *id)
{
	snprintf(out, DSYNC_RELAY_ID_HEX + 4, "%s.len", id);
}

void rd_remove_upload_files(int tmp, const char *id)
{
	char lname[DSYNC_RELAY_ID_HEX + 4];

	rd_len_name(lname, id);
	unlinkat(tmp, lname, 0);
	unlinkat(tmp, id, 0);
}

/* Takes one kept upload (tmp/ID with ID.len) back at open: its file cut to
 * the recorded length, its bytes reserved. */
static int pending_load(rd_group *g, int tmp, const char *id)
{
	char lname[DSYNC_RELAY_ID_HEX + 4], text[RD_RECORD_MAX];
	rd_pending p = { { 0 }, 0, 0, 0, false };
	struct stat st;
	int fd;

	rd_len_name(lname, id);
	if (rd_record_read(tmp, lname, text, sizeof(text)) < 0 || !rd_record_u64(text, "held", &p.held) ||
	    !rd_record_u64(text, "total", &p.total) || p.held > p.total)
		goto drop;
	if ((fd = openat(tmp, id, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		goto drop;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < DSYNC_RELAY_DISK_HEADER + p.held ||
	    ftruncate(fd, (off_t)(DSYNC_RELAY_DISK_HEADER + p.held)) < 0 || fsync(fd) < 0) {
		close(fd);
		goto drop;
	}
	close(fd);
	memcpy(p.id, id, DSYNC_RELAY_ID_HEX);
	p.reserve = p.total + DSYNC_RELAY_DISK_HEADER;
	if (dsync_array_push(g->pending, p) < 0)
		return dsync_error_oom();
	g->reserved += p.reserve;
	return 0;
drop:
	/* its length was never recorded, or the file is shorter than recorded: start over */
	rd_remove_upload_files(tmp, id);
	return 0;
}

int rd_uploads_load(rd_group *g, int gfd)
{
	dsync_strlist names = DSYNC_STRLIST_INIT;
	struct dirent *e;
	DIR *dir;
	size_t i;
	int tmp, fd, error = 0;

	if ((tmp = rd_open_dir(gfd, "tmp", true)) < 0)
		return tmp;
	if ((fd = dup(tmp)) < 0 || (dir = fdopendir(fd)) == NULL) {
		error = dsync_error_sys(errno, "cannot read the uploads of group %s", g->gid);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	while (error == 0 && (e = readdir(dir)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			error = dsync_strlist_add(&names, e->d_name);
	closedir(dir);
	for (i = 0; i < names.size && error == 0; i++) {
		const char *n = names.ptr[i];
		char id[DSYNC_RELAY_ID_HEX];
		size_t len = strlen(n);

		if (rd_hex_ok(n, DSYNC_RELAY_ID_HEX - 1) == 0) {
			error = pending_load(g, tmp, n);
		} else if (len == DSYNC_RELAY_ID_HEX - 1 + 4 && strcmp(n + len - 4, ".len") == 0) {
			struct stat st;

			memcpy(id, n, DSYNC_RELAY_ID_HEX - 1);
			id[DSYNC_RELAY_ID_HEX - 1] = '\0';
			if (rd_hex_ok(id, DSYNC_RELAY_ID_HEX - 1) < 0 || fstatat(tmp, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
				unlinkat(tmp, n, 0);   /* its upload finished or never began */
		} else {
			unlinkat(tmp, n, 0);       /* a plain PUT's or a record's temp */
		}
	}
	if (error == 0 && fsync(tmp) < 0)
		error = dsync_error_sys(errno, "cannot flush the uploads of group %s", g->gid);
out:
	dsync_strlist_dispose(&names);
	close(tmp);
	return error;
}

/* Loads group GID from its folder; *OUT NULL (not an error) for a folder
 * without a group file (a create killed before its group file). */
static int group_load(rd_group **out, relay_disk *d, const char *gid)
{
	char text[RD_RECORD_MAX];
	dsync_buf path = DSYNC_BUF_INIT;
	rd_group *g = NULL;
	int gfd = -1, b = -1, error;

	*out = NULL;
	if ((gfd = openat(d->groups_fd, gid, RD_DIR_FLAGS)) < 0)
		return 0;   /* not a folder (a link): not a group */
	if ((error = rd_record_read(gfd, "group", text, sizeof(text))) == DSYNC_ENOTFOUND) {
		error = 0;
		goto out;
	}
	if (error < 0 || (g = group_new(gid)) == NULL)
		goto out;
	{
		uint64_t created = 0, version = 0;

		if (!rd_record_u64(text, "group", &version) || version != 1 || !record_hex(text, "token-hash", g->th, 32) ||
		    !record_hex(text, "admit-hash", g->ah, 32) || !rd_record_u64(text, "created", &created)) {
			error = dsync_error_set(DSYNC_ECORRUPT, "the relay's group file of %s is damaged", gid);
			goto out;
		}
		g->created = (int64_t)created;
		g->quota_set = rd_record_u64(text, "quota", &g->quota);
	}
	if ((error = group_load_devices(g, gfd)) < 0 || (error = rd_uploads_load(g, gfd)) < 0)
		goto out;
	if ((b = rd_open_dir(gfd, "b", true)) < 0) {
		error = b;
		goto out;
	}
	if ((error = rd_walk(b, &path, "", 2, count_blob, g)) < 0)
		goto out;
	*out = g;
	g = NULL;
out:
	if (b >= 0)
		close(b);
	if (gfd >= 0)
		close(gfd);
	dsync_buf_dispose(&path);
	group_free(g);
	return error;
}

static int load_groups(relay_disk *d)
{
	struct dirent *e;
	DIR *dir;
	int fd, error = 0;

	if ((fd = dup(d->groups_fd)) < 0)
		return dsync_error_sys(errno, "cannot read '%s/groups'", d->dir);
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return dsync_error_sys(errno, "cannot read '%s/groups'", d->dir);
	}
	while (error == 0 && (e = readdir(dir)) != NULL) {
		rd_group *g;

		if (rd_hex_ok(e->d_name, DSYNC_RELAY_ID_HEX - 1) < 0)
			continue;
		if ((error = group_load(&g, d, e->d_name)) < 0 || !g)
			continue;
		if (dsync_array_push(d->groups, g) < 0) {
			group_free(g);
			error = dsync_error_oom();
		}
	}
	closedir(dir);
	return error;
}

/* Whether the folder FD holds nothing but what a killed first open left. */
static int dir_is_empty(int fd, bool *empty)
{
	struct dirent *e;
	DIR *dir;
	int dfd;

	*empty = true;
	if ((dfd = dup(fd)) < 0 || (dir = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return dsync_error_sys(errno, "cannot read the relay's data folder");
	}
	while ((e = readdir(dir)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && strcmp(e->d_name, "relay.tmp") != 0)
			*empty = false;
	closedir(dir);
	return 0;
}

/* Checks DIR/relay, or makes it (and groups/) in an empty folder. */
static int data_dir_prepare(relay_disk *d, int fd)
{
	char text[64], q[DSYNC_QUOTE_SIZE];
	dsync_buf path = DSYNC_BUF_INIT;
	bool empty;
	int error;

	error = rd_record_read(fd, "relay", text, sizeof(text));
	if (error == 0) {
		if (strcmp(text, RD_DATA_MAGIC) != 0)
			return dsync_error_set(DSYNC_EUSAGE, "'%s' is not a relay's data folder (its 'relay' file is not one)",
					       dsync_quote(q, d->dir));
	} else if (error == DSYNC_ENOTFOUND) {
		if ((error = dir_is_empty(fd, &empty)) < 0)
			return error;
		if (!empty)
			return dsync_error_set(DSYNC_EUSAGE,
					       "'%s' is not a relay's data folder and is not empty; give an empty or new folder",
					       dsync_quote(q, d->dir));
		if ((error = dsync_buf_printf(&path, "%s/relay", d->dir)) < 0 ||
		    (error = dsync_path_write_atomic(path.ptr, RD_DATA_MAGIC, strlen(RD_DATA_MAGIC), 0600, true)) < 0)
			goto out;
	} else {
		return error;
	}
	error = rd_open_dir(fd, "groups", true);
	if (error >= 0) {
		d->groups_fd = error;
		error = 0;
	}
out:
	dsync_buf_dispose(&path);
	return error;
}

static void fill_limits(relay_disk_limits *l, const relay_disk_limits *in)
{
	static const relay_disk_limits defaults = { 0, 256ULL << 20, 100000, 1000, 64 };

	*l = in ? *in : defaults;
	if (!l->max_blob)
		l->max_blob = defaults.max_blob;
	if (!l->max_blobs)
		l->max_blobs = defaults.max_blobs;
	if (!l->max_groups)
		l->max_groups = defaults.max_groups;
	if (!l->max_devices)
		l->max_devices = defaults.max_devices;
}

int relay_disk_open(relay_disk **out, const char *dir, const relay_disk_limits *lim)
{
	relay_disk *d;
	int fd = -1, error;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->dir = strdup(dir)) == NULL) {
		free(d);
		return dsync_error_oom();
	}
	d->groups_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	fill_limits(&d->lim, lim);
	if ((error = dsync_path_mkdirs(dir)) < 0)
		goto out;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		error = dsync_error_sys(errno, "cannot open the relay's data folder '%s'", dir);
		goto out;
	}
	if ((error = data_dir_prepare(d, fd)) < 0 || (error = load_groups(d)) < 0)
		goto out;
	*out = d;
	d = NULL;
out:
	if (fd >= 0)
		close(fd);
	relay_disk_close(d);
	return error;
}

void relay_disk_close(relay_disk *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->groups.size; i++)
		group_free(d->groups.ptr[i]);
	dsync_array_dispose(d->groups);
	if (d->groups_fd >= 0)
		close(d->groups_fd);
	pthread_mutex_destroy(&d->lock);
	free(d->dir);
	free(d);
}

/* ---- groups */

int relay_disk_group(relay_disk *d, const char *gid, relay_group_info *out)
{
	rd_group *g = rd_group_find(d, gid);

	if (!g)
		return dsync_error_last_code();
	pthread_mutex_lock(&g->lock);
	memcpy(out->token_hash, g->th, sizeof(g->th));
	memcpy(out->admit_hash, g->ah, sizeof(g->ah));
	out->created = g->created;
	out->quota = rd_group_quota(d, g);
	out->used = g->used + g->reserved;
	out->blobs = g->blobs;
	out->devices = g->devices.size;
	out->keys = g->keys;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

int relay_disk_group_create(relay_disk *d, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
			    const uint8_t ah[DSYNC_RELAY_KEY_BYTES])
{
	rd_group *g = NULL;
	size_t i;
	int gfd = -1, fd, error = 0;

	if ((error = check_id(gid, "group")) < 0)
		return error;
	/* the table's lock for the whole create: two creates of one name make one group */
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->groups.size; i++) {
		if (strcmp(d->groups.ptr[i]->gid, gid) == 0) {
			rd_group *o = d->groups.ptr[i];

			pthread_mutex_lock(&o->lock);
			error = sodium_memcmp(o->th, th, DSYNC_RELAY_KEY_BYTES) == 0
					? 1 : dsync_error_set(DSYNC_EAUTH, "group %s exists with another token", gid);
			pthread_mutex_unlock(&o->lock);
			goto out;
		}
	}
	if (d->groups.size >= d->lim.max_groups) {
		error = rd_refuse("relay-full", "the relay holds its most groups (%llu)",
				  (unsigned long long)d->lim.max_groups);
		goto out;
	}
	if ((g = group_new(gid)) == NULL) {
		error = DSYNC_ERROR;
		goto out;
	}
	memcpy(g->th, th, DSYNC_RELAY_KEY_BYTES);
	memcpy(g->ah, ah, DSYNC_RELAY_KEY_BYTES);
	g->created = (int64_t)time(NULL);
	if ((gfd = rd_open_dir(d->groups_fd, gid, true)) < 0) {
		error = gfd;
		goto out;
	}
	/* its folders first, the group file last: a group folder without one is no group */
	for (i = 0; i < 3; i++) {
		if ((fd = rd_open_dir(gfd, (const char *[]){ "b", "devices", "tmp" }[i], true)) < 0) {
			error = fd;
			goto out;
		}
		close(fd);
	}
	if ((error = group_save(g, gfd)) < 0)
		goto out;
	if (dsync_array_push(d->groups, g) < 0) {
		error = dsync_error_oom();
		goto out;
	}
	g = NULL;
out:
	pthread_mutex_unlock(&d->lock);
	if (gfd >= 0)
		close(gfd);
	group_free(g);
	return error;
}

/* Runs SET on G under its lock, then saves its group file. */
static int group_update(relay_disk *d, const char *gid, void (*set)(rd_group *g, const void *arg), const void *arg)
{
	uint8_t th[DSYNC_RELAY_KEY_BYTES], ah[DSYNC_RELAY_KEY_BYTES];
	uint64_t quota;
	bool quota_set;
	rd_group *g;
	int gfd, error;

	if ((gfd = rd_group_open(d, gid, &g)) < 0)
		return gfd;
	pthread_mutex_lock(&g->lock);
	memcpy(th, g->th, sizeof(th));
	memcpy(ah, g->ah, sizeof(ah));
	quota = g->quota;
	quota_set = g->quota_set;
	set(g, arg);
	if ((error = group_save(g, gfd)) < 0) {
		/* the file is as it was: so is the table */
		memcpy(g->th, th, sizeof(th));
		memcpy(g->ah, ah, sizeof(ah));
		g->quota = quota;
		g->quota_set = quota_set;
	}
	pthread_mutex_unlock(&g->lock);
	close(gfd);
	return error;
}

static void set_keys(rd_group *g, const void *arg)
{
	const uint8_t *k = arg;

	memcpy(g->th, k, DSYNC_RELAY_KEY_BYTES);
	memcpy(g->ah, k + DSYNC_RELAY_KEY_BYTES, DSYNC_RELAY_KEY_BYTES);
}

static void set_quota(rd_group *g, const void *arg)
{
	g->quota = *(const uint64_t *)arg;
	g->quota_set = true;
}

int relay_disk_group_rotate(relay_disk *d, const char *gid, const uint8_t th[DSYNC_RELAY_KEY_BYTES],
			    const uint8_t ah[DSYNC_RELAY_KEY_BYTES])
{
	uint8_t k[2 * DSYNC_RELAY_KEY_BYTES];
	int error;

	memcpy(k, th, DSYNC_RELAY_KEY_BYTES);
	memcpy(k + DSYNC_RELAY_KEY_BYTES, ah, DSYNC_RELAY_KEY_BYTES);
	error = group_update(d, gid, set_keys, k);
	sodium_memzero(k, sizeof(k));
	return error;
}

int relay_disk_group_quota(relay_disk *d, const char *gid, uint64_t quota)
{
	return group_update(d, gid, set_quota, &quota);
}

/* ---- devices */

int relay_disk_device(relay_disk *d, const char *gid, const char *dev, relay_device_info *out)
{
	rd_group *g = rd_group_find(d, gid);
	rd_device *e;
	int error = 0;

	if (!g)
		return dsync_error_last_code();
	pthread_mutex_lock(&g->lock);
	if ((e = rd_device_find(g, dev)) != NULL)
		*out = e->info;
	else
		error = dsync_error_set(DSYNC_ENOTFOUND, "no device %s in group %s", dev, gid);
	pthread_mutex_unlock(&g->lock);
	return error;
}

int relay_disk_device_add(relay_disk *d, const char *gid, const char *dev, const uint8_t pk[DSYNC_RELAY_PK_BYTES])
{
	relay_device_info info = { { 0 }, 0, (int64_t)time(NULL) };
	rd_group *g;
	rd_device *e;
	int gfd, error;

	if ((error = check_id(dev, "device")) < 0)
		return error;
	if ((gfd = rd_group_open(d, gid, &g)) < 0)
		return gfd;
	memcpy(info.pk, pk, DSYNC_RELAY_PK_BYTES);
	pthread_mutex_lock(&g->lock);
	if ((e = rd_device_find(g, dev)) != NULL)
		error = sodium_memcmp(e->info.pk, pk, DSYNC_RELAY_PK_BYTES) == 0
				? 1 : dsync_error_set(DSYNC_EEXISTS, "device %s is registered with another key", dev);
	else if (g->devices.size >= d->lim.max_devices)
		error = rd_refuse("too-many-devices", "group %s has its most devices (%llu)", gid,
				  (unsigned long long)d->lim.max_devices);
	else
		error = rd_device_store(g, gfd, dev, &info);
	pthread_mutex_unlock(&g->lock);
	close(gfd);
	return error;
}

int relay_disk_device_remove(relay_disk *d, const char *gid, const char *dev)
{
	rd_group *g;
	rd_device *e;
	int gfd, dir = -1, error = 0;

	if ((error = check_id(dev, "device")) < 0)
		return error;
	if ((gfd = rd_group_open(d, gid, &g)) < 0)
		return gfd;
	pthread_mutex_lock(&g->lock);
	if ((e = rd_device_find(g, dev)) == NULL) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "no device %s in group %s", dev, gid);
		goto out;
	}
	if ((dir = rd_open_dir(gfd, "devices", true)) < 0) {
		error = dir;
		goto out;
	}
	if ((unlinkat(dir, dev, 0) < 0 && errno != ENOENT) || fsync(dir) < 0) {
		error = dsync_error_sys(errno, "cannot remove device %s", dev);
		goto out;
	}
	*e = g->devices.ptr[--g->devices.size];
out:
	pthread_mutex_unlock(&g->lock);
	if (dir >= 0)
		close(dir);
	close(gfd);
	return error;
}
