/*
 * The state a folder keeps per remote, in .dsync/dsync-remotes/NAME/ (the
 * files are listed in sync_internal.h; docs/sync.md): reading and writing
 * them durably, the sets of pack names, the manifests seen, the next
 * sequence number.
 */
#include "core/base/internal.h"

#include "core/base/file.h"
#include "core/base/path.h"
#include "core/sync/sync_internal.h"

#define STATE_DIR "dsync-remotes"

int dsync_state_path(dsync_buf *out, const dsync_folder *f, const char *remote_name, const char *file)
{
	dsync_buf_truncate(out, 0);
	return dsync_buf_printf(out, "%s/" STATE_DIR "/%s%s%s", f->gitdir, remote_name, file ? "/" : "",
				file ? file : "");
}

/* The largest state file read (a pack name a line). */
#define STATE_MAX (64 * 1024 * 1024)

/* Without blocking, a regular file only. */
int dsync_state_read(dsync_buf *out, const dsync_folder *f, const char *remote_name, const char *file)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	dsync_buf_truncate(out, 0);
	if ((error = dsync_buf_puts(out, "")) < 0 || (error = dsync_state_path(&path, f, remote_name, file)) < 0)
		goto out;
	if ((error = dsync_file_read(out, path.ptr, STATE_MAX, 0)) == DSYNC_ENOTFOUND)
		error = 0;
out:
	dsync_buf_dispose(&path);
	return error;
}

int dsync_state_write(const dsync_folder *f, const char *remote_name, const char *file, const char *text,
		      size_t len)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	if ((error = dsync_state_path(&path, f, remote_name, NULL)) == 0 &&
	    (error = dsync_path_mkdirs(path.ptr)) == 0 &&
	    (error = dsync_state_path(&path, f, remote_name, file)) == 0)
		error = dsync_path_write_atomic(path.ptr, text, len, 0644, true);
	dsync_buf_dispose(&path);
	return error;
}

void dsync_state_packset_dispose(sync_packset *set)
{
	dsync_strset_dispose(&set->set);
	set->dirty = false;
}

bool dsync_state_packset_has(const sync_packset *set, const char *name)
{
	return dsync_strset_has(&set->set, name);
}

int dsync_state_packset_add(sync_packset *set, const char *name)
{
	int error = dsync_strset_add(&set->set, name);

	if (error > 0)
		set->dirty = true;
	return error < 0 ? error : 0;
}

int dsync_state_packset_read(sync_packset *set, const dsync_folder *f, const char *remote_name, const char *file)
{
	dsync_buf text = DSYNC_BUF_INIT;
	char *line, *save = NULL;
	int error;

	memset(set, 0, sizeof(*set));
	if ((error = dsync_state_read(&text, f, remote_name, file)) < 0)
		goto out;
	for (line = strtok_r(text.ptr, "\n", &save); line && error == 0; line = strtok_r(NULL, "\n", &save))
		error = dsync_state_packset_add(set, line);
	set->dirty = false;
out:
	dsync_buf_dispose(&text);
	return error;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Written sorted, one name a line, so that the file reads the same
 * whatever order the names came in. */
int dsync_state_packset_write(sync_packset *set, const dsync_folder *f, const char *remote_name,
			      const char *file)
{
	dsync_buf text = DSYNC_BUF_INIT;
	DSYNC_ARRAY(const char *) names = DSYNC_ARRAY_INIT;
	size_t i;
	int error = 0;

	if (!set->dirty)
		return 0;
	if (dsync_array_reserve(names, set->set.n) < 0)
		return dsync_error_oom();
	for (i = 0; i < set->set.cap; i++)
		if (set->set.v[i])
			names.ptr[names.size++] = set->set.v[i];
	if (names.size)
		qsort(names.ptr, names.size, sizeof(*names.ptr), cmp_str);
	for (i = 0; i < names.size && error == 0; i++)
		error = dsync_buf_printf(&text, "%s\n", names.ptr[i]);
	if (error == 0)
		error = dsync_state_write(f, remote_name, file, text.ptr ? text.ptr : "", text.len);
	if (error == 0)
		set->dirty = false;
	dsync_array_dispose(names);
	dsync_buf_dispose(&text);
	return error;
}

int dsync_state_seen_read(sync_seen_list *out, const dsync_folder *f, const char *remote_name)
{
	dsync_buf text = DSYNC_BUF_INIT;
	char *line, *save = NULL;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_state_read(&text, f, remote_name, "seen")) < 0)
		goto out;
	for (line = strtok_r(text.ptr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		sync_seen e;
		unsigned long long seq;

		if (sscanf(line, "%32s %llu %64s", e.dev, &seq, e.hash) != 3)
			continue;
		e.seq = seq;
		if (dsync_array_push(*out, e) < 0) {
			error = dsync_error_oom();
			goto out;
		}
	}
out:
	dsync_buf_dispose(&text);
	return error;
}

const sync_seen *dsync_state_seen_find(const sync_seen_list *seen, const char *dev)
{
	size_t i;

	for (i = 0; i < seen->size; i++)
		if (strcmp(seen->ptr[i].dev, dev) == 0)
			return &seen->ptr[i];
	return NULL;
}

int dsync_state_seen_write(sync_conn *c, const sync_seen_list *old, const sync_seen *own)
{
	dsync_buf text = DSYNC_BUF_INIT;
	size_t i;
	int error = 0;

	for (i = 0; i < c->devs.size && error == 0; i++)
		if (dsync_conn_is_other(c, i))
			error = dsync_buf_printf(&text, "%s %llu %s\n", c->devs.ptr[i].id,
						 (unsigned long long)c->mans[i].seq, c->mans[i].hash);
	if (own && error == 0)
		error = dsync_buf_printf(&text, "%s %llu %s\n", own->dev, (unsigned long long)own->seq, own->hash);
	for (i = 0; i < old->size && error == 0; i++) {
		const sync_seen *e = &old->ptr[i];
		size_t j;

		if (own && strcmp(e->dev, own->dev) == 0)
			continue;
		for (j = 0; j < c->devs.size; j++)
			if (dsync_conn_is_other(c, j) && strcmp(c->devs.ptr[j].id, e->dev) == 0)
				break;
		if (j == c->devs.size)
			error = dsync_buf_printf(&text, "%s %llu %s\n", e->dev, (unsigned long long)e->seq, e->hash);
	}
	if (error == 0)
		error = dsync_state_write(c->f, c->r->name, "seen", text.ptr ? text.ptr : "", text.len);
	dsync_buf_dispose(&text);
	return error;
}

int dsync_state_next_seq(uint64_t *out, sync_conn *c)
{
	dsync_buf text = DSYNC_BUF_INIT;
	int error;

	*out = 1;
	if ((error = dsync_state_read(&text, c->f, c->r->name, "seq")) == 0 && text.len)
		*out = strtoull(text.ptr, NULL, 10);
	if (*out == 0)
		*out = 1;
	dsync_buf_dispose(&text);
	return error;
}

/* The most lines the heads log keeps (the oldest go first). */
#define HEADS_KEEP 2000

int dsync_state_heads_note(const dsync_folder *f, const char *remote_name, const char *dev, const git_oid *head,
			   int64_t when)
{
	dsync_buf text = DSYNC_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	size_t lines = 0, i, cut = 0;
	int error;

	if ((error = dsync_state_read(&text, f, remote_name, "heads")) < 0)
		goto out;
	if (text.len && text.ptr[text.len - 1] != '\n')
		dsync_buf_truncate(&text, 0); /* torn: start again */
	for (i = 0; i < text.len; i++)
		lines += text.ptr[i] == '\n';
	for (i = 0; lines >= HEADS_KEEP && i < text.len; i++)
		if (text.ptr[i] == '\n') {
			cut = i + 1;
			lines--;
		}
	git_oid_tostr(hex, sizeof(hex), head);
	if ((error = dsync_buf_printf(&text, "%lld %s %s\n", (long long)when, dev, hex)) < 0)
		goto out;
	error = dsync_state_write(f, remote_name, "heads", text.ptr + cut, text.len - cut);
out:
	dsync_buf_dispose(&text);
	return error;
}
