/*
 * "How safe is this file" (include/dsync/status.h; docs/status.md): which
 * devices, remotes and mirrors hold the latest version of a path, from
 * what this folder last saw of them: the heads fetched
 * (refs/remotes/REMOTE/DEVICE), the head this device last pushed to each
 * remote (the state file "pushed", push.c) and what each mirror's last
 * round left on its host (refs/mirrors/NAME).  No network call.
 */
#include "core/base/internal.h"

#include <sys/stat.h>

#include "core/sync/sync_internal.h"
#include "dsync/history.h"
#include "dsync/merge.h"
#include "dsync/mirror.h"
#include "dsync/pause.h"
#include "dsync/status.h"

/* The content id of PATH in commit ID into OUT; false when it has none. */
static bool entry_in(git_oid *out, bool *is_dir, git_repository *repo, const git_oid *id, const char *path)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_tree_entry *e = NULL;
	bool found = false;

	if (git_commit_lookup(&c, repo, id) < 0 || git_commit_tree(&t, c) < 0)
		goto out;
	if (!*path) {
		git_oid_cpy(out, git_tree_id(t));
		if (is_dir)
			*is_dir = true;
		found = true;
	} else if (git_tree_entry_bypath(&e, t, path) == 0) {
		git_oid_cpy(out, git_tree_entry_id(e));
		if (is_dir)
			*is_dir = git_tree_entry_type(e) == GIT_OBJECT_TREE;
		found = true;
	}
out:
	git_tree_entry_free(e);
	git_tree_free(t);
	git_commit_free(c);
	return found;
}

static int64_t commit_time(git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL;
	int64_t t = 0;

	if (git_commit_lookup(&c, repo, id) == 0)
		t = (int64_t)git_commit_time(c);
	git_commit_free(c);
	return t;
}

/* Device DEV's name: the author of the newest of its snapshots among the
 * first 200 reachable from ID (a head may be another device's snapshot,
 * fast-forwarded); its id when none is found. */
static int device_name(char **out, git_repository *repo, const git_oid *id, const char *dev)
{
	git_revwalk *w = NULL;
	git_oid oid;
	int n = 0;

	*out = NULL;
	if (git_revwalk_new(&w, repo) == 0 && git_revwalk_push(w, id) == 0) {
		git_revwalk_sorting(w, GIT_SORT_TIME);
		while (!*out && n++ < 200 && git_revwalk_next(&oid, w) == 0) {
			git_commit *c = NULL;
			const git_signature *a;

			if (git_commit_lookup(&c, repo, &oid) < 0)
				break;
			a = git_commit_author(c);
			if (a && a->email && strcmp(a->email, dev) == 0 && a->name)
				*out = strdup(a->name);
			git_commit_free(c);
		}
	}
	git_revwalk_free(w);
	if (!*out)
		*out = strdup(dev);
	return *out ? 0 : dsync_error_oom();
}

typedef struct holder_list {
	dsync_holder *v;
	size_t n, cap;
} holder_list;

static dsync_holder *holder_add(holder_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		dsync_holder *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static void holder_dispose(dsync_holder *h)
{
	free(h->name);
	free(h->id);
	free(h->via);
}

/* Sets H's head to ID and whether it holds LATEST at PATH. */
static void holder_head(dsync_holder *h, git_repository *repo, const git_oid *id, const dsync_holders *o,
			const git_oid *latest)
{
	git_oid e;

	git_oid_tostr(h->head, sizeof(h->head), id);
	h->head_time = commit_time(repo, id);
	h->holds = o->exists && entry_in(&e, NULL, repo, id, o->path) && git_oid_equal(&e, latest);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const dsync_holder *)a)->name, ((const dsync_holder *)b)->name);
}

static int count_cb(const dsync_commit_info *c, void *payload)
{
	dsync_holders *h = payload;

	if (h->versions++ == 0)
		h->newest = c->time;
	h->oldest = c->time;
	return 0;
}

/* The whole folder: every snapshot changed it, so its versions are the
 * snapshots, counted by a walk that reads commits only (no tree diffs: a
 * history of 10,000 snapshots is counted in milliseconds). */
static int count_snapshots(dsync_holders *h, git_repository *repo, const git_oid *head)
{
	git_revwalk *w = NULL;
	git_oid oid;
	int err;

	if ((err = git_revwalk_new(&w, repo)) < 0 || (err = git_revwalk_push(w, head)) < 0) {
		git_revwalk_free(w);
		return dsync_error_git(err, "cannot walk history");
	}
	git_revwalk_sorting(w, GIT_SORT_TIME);
	while ((err = git_revwalk_next(&oid, w)) == 0) {
		int64_t t = commit_time(repo, &oid);

		if (h->versions++ == 0 || t > h->newest)
			h->newest = t;
		if (h->versions == 1 || t < h->oldest)
			h->oldest = t;
	}
	git_revwalk_free(w);
	return err == GIT_ITEROVER ? 0 : dsync_error_git(err, "cannot walk history");
}

/* A line of a remote's heads log (state.c). */
typedef struct head_note {
	int64_t when;
	char dev[33];
	git_oid head;
} head_note;

typedef DSYNC_ARRAY(head_note) head_notes;

/* What "holds the latest version" is checked against. */
typedef struct hold_ctx {
	git_repository *repo;
	const dsync_holders *o;
	const git_oid *latest;
} hold_ctx;

/* REMOTE's heads log into OUT, oldest first; lines that don't parse skipped. */
static int notes_read(head_notes *out, dsync_folder *f, const char *remote)
{
	dsync_buf text = DSYNC_BUF_INIT;
	char *line, *save = NULL;
	int error;

	if ((error = dsync_state_read(&text, f, remote, "heads")) < 0)
		goto out;
	for (line = strtok_r(text.ptr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		head_note n;
		long long when;
		char dev[33], hex[GIT_OID_HEXSZ + 1];

		if (sscanf(line, "%lld %32s %40s", &when, dev, hex) != 3 || strlen(dev) != 32 ||
		    git_oid_fromstrn(&n.head, hex, GIT_OID_HEXSZ) < 0 || strlen(hex) != GIT_OID_HEXSZ)
			continue;
		n.when = (int64_t)when;
		memcpy(n.dev, dev, sizeof(n.dev));
		if (dsync_array_push(*out, n) < 0) {
			error = dsync_error_oom();
			goto out;
		}
	}
out:
	dsync_buf_dispose(&text);
	return error;
}

/* Since when DEV's heads in NOTES have held the latest version without a
 * break: the time of the oldest of the newest run that does (0: unknown,
 * or its newest head in NOTES is not HEAD when HEAD is given). */
static int64_t notes_since(const head_notes *notes, const char *dev, const git_oid *head, const hold_ctx *x)
{
	int64_t since = 0;
	bool first = true;
	size_t i;

	for (i = notes->size; i-- > 0;) {
		const head_note *n = &notes->ptr[i];
		git_oid e;

		if (strcmp(n->dev, dev) != 0)
			continue;
		if (first && head && !git_oid_equal(&n->head, head))
			return 0;
		first = false;
		if (!x->o->exists || !entry_in(&e, NULL, x->repo, &n->head, x->o->path) || !git_oid_equal(&e, x->latest))
			break;
		since = n->when;
	}
	return since;
}

/* Other devices, from refs/remotes/REMOTE/DEVICE: the newest head of each. */
static int other_devices(holder_list *devs, dsync_folder *f, const dsync_holders *o, const git_oid *latest)
{
	git_reference_iterator *it = NULL;
	git_reference *r;
	int err, error = 0;

	if ((err = git_reference_iterator_glob_new(&it, f->repo, "refs/remotes/*")) < 0)
		return dsync_error_git(err, "cannot list the heads fetched in '%s'", f->root);
	while (error == 0 && git_reference_next(&r, it) == 0) {
		const char *name = git_reference_name(r) + strlen("refs/remotes/");
		const char *slash = strchr(name, '/');
		const git_oid *id = git_reference_target(r);
		dsync_holder *h = NULL;
		size_t i;

		if (slash && id && strcmp(slash + 1, f->device_id) != 0) {
			for (i = 0; i < devs->n; i++)
				if (devs->v[i].id && strcmp(devs->v[i].id, slash + 1) == 0)
					h = &devs->v[i];
			if (h && commit_time(f->repo, id) <= h->head_time) {
				/* an older head of a device seen through another remote */
			} else {
				if (!h) {
					if (!(h = holder_add(devs)) || !(h->id = strdup(slash + 1))) {
						error = dsync_error_oom();
						git_reference_free(r);
						break;
					}
				}
				free(h->via);
				if (!(h->via = strndup(name, (size_t)(slash - name))))
					error = dsync_error_oom();
				holder_head(h, f->repo, id, o, latest);
			}
		}
		git_reference_free(r);
	}
	git_reference_iterator_free(it);
	return error;
}

/* Remote NAME holds it: a head read from it, or the one last pushed there. */
static int remote_holds(dsync_holder *h, dsync_folder *f, const dsync_holders *o, const git_oid *latest)
{
	git_reference_iterator *it = NULL;
	git_reference *r;
	dsync_buf glob = DSYNC_BUF_INIT, pushed = DSYNC_BUF_INIT;
	git_oid id;
	int err, error;

	if ((error = dsync_buf_printf(&glob, "refs/remotes/%s/*", h->name)) < 0)
		goto out;
	if ((err = git_reference_iterator_glob_new(&it, f->repo, glob.ptr)) < 0) {
		error = dsync_error_git(err, "cannot list the heads fetched from '%s'", h->name);
		goto out;
	}
	while (git_reference_next(&r, it) == 0) {
		const git_oid *t = git_reference_target(r);
		dsync_holder tmp = { 0 };

		if (t) {
			holder_head(&tmp, f->repo, t, o, latest);
			if (tmp.head_time > h->head_time) {
				memcpy(h->head, tmp.head, sizeof(h->head));
				h->head_time = tmp.head_time;
			}
			h->holds = h->holds || tmp.holds;
		}
		git_reference_free(r);
	}
	/* the head this device pushed last (40 hex digits and a newline) */
	if ((error = dsync_state_read(&pushed, f, h->name, "pushed")) < 0)
		goto out;
	if (pushed.len >= GIT_OID_HEXSZ && git_oid_fromstrn(&id, pushed.ptr, GIT_OID_HEXSZ) == 0) {
		dsync_holder tmp = { 0 };

		holder_head(&tmp, f->repo, &id, o, latest);
		if (tmp.head_time >= h->head_time) {
			memcpy(h->head, tmp.head, sizeof(h->head));
			h->head_time = tmp.head_time;
		}
		h->holds = h->holds || tmp.holds;
	}
	if (h->holds) {
		/* since: the earliest of the unbroken runs of the devices whose
		 * newest head there holds it */
		head_notes notes = DSYNC_ARRAY_INIT;
		hold_ctx x = { f->repo, o, latest };
		size_t i, j;

		if ((error = notes_read(&notes, f, h->name)) == 0) {
			for (i = 0; i < notes.size; i++) {
				int64_t s;

				for (j = i + 1; j < notes.size; j++)
					if (strcmp(notes.ptr[j].dev, notes.ptr[i].dev) == 0)
						break;
				if (j < notes.size)
					continue; /* not the device's newest note */
				s = notes_since(&notes, notes.ptr[i].dev, NULL, &x);
				if (s && (!h->since || s < h->since))
					h->since = s;
			}
		}
		dsync_array_dispose(notes);
	}
out:
	git_reference_iterator_free(it);
	dsync_buf_dispose(&glob);
	dsync_buf_dispose(&pushed);
	return error;
}

int dsync_status_holders(dsync_holders *out, dsync_folder *f, const char *path)
{
	dsync_log_options lo = { 0 };
	holder_list devs = { 0 }, rems = { 0 }, mirs = { 0 };
	dsync_remote_info *rl = NULL;
	dsync_mirror_info *ml = NULL;
	size_t nr = 0, nm = 0, i;
	git_oid head = { { 0 } }, latest = { { 0 } };
	dsync_holder *h;
	int error;

	memset(out, 0, sizeof(*out));
	if (!(out->path = strdup(path ? path : "")))
		return dsync_error_oom();
	if ((error = dsync_folder_repo(f)) < 0)
		goto out;
	if (git_reference_name_to_id(&head, f->repo, "refs/heads/main") == 0) {
		git_oid_tostr(out->head, sizeof(out->head), &head);
		out->exists = entry_in(&latest, &out->is_dir, f->repo, &head, out->path);
		if (out->exists)
			git_oid_tostr(out->latest, sizeof(out->latest), &latest);
	}
	if (*out->path) {
		lo.path = out->path;
		if ((error = dsync_history_log(f, &lo, count_cb, out)) < 0)
			goto out;
		if (!out->exists && out->versions == 0) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' was never in the history of '%s'",
						out->path, f->root);
			goto out;
		}
	} else if (out->head[0] && (error = count_snapshots(out, f->repo, &head)) < 0) {
		goto out;
	}

	/* this device, then the others */
	if (!(h = holder_add(&devs)) || !(h->name = strdup(f->device_name ? f->device_name : "")) ||
	    !(h->id = strdup(f->device_id))) {
		error = dsync_error_oom();
		goto out;
	}
	if (out->head[0]) {
		holder_head(h, f->repo, &head, out, &latest);
	}
	if ((error = other_devices(&devs, f, out, &latest)) < 0)
		goto out;
	for (i = 1; i < devs.n; i++) {
		git_oid id;

		if (git_oid_fromstr(&id, devs.v[i].head) < 0)
			continue;
		if ((error = device_name(&devs.v[i].name, f->repo, &id, devs.v[i].id)) < 0)
			goto out;
	}
	for (i = 1; i < devs.n; i++) {
		head_notes notes = DSYNC_ARRAY_INIT;
		hold_ctx x = { f->repo, out, &latest };
		git_oid id;

		if (!devs.v[i].holds || !devs.v[i].via || git_oid_fromstr(&id, devs.v[i].head) < 0)
			continue;
		if ((error = notes_read(&notes, f, devs.v[i].via)) == 0)
			devs.v[i].since = notes_since(&notes, devs.v[i].id, &id, &x);
		dsync_array_dispose(notes);
		if (error < 0)
			goto out;
	}
	if (devs.n > 2)
		qsort(devs.v + 1, devs.n - 1, sizeof(devs.v[0]), by_name);

	if ((error = dsync_remote_list(&rl, &nr, f)) < 0)
		goto out;
	for (i = 0; i < nr; i++) {
		if (!(h = holder_add(&rems)) || !(h->name = strdup(rl[i].name))) {
			error = dsync_error_oom();
			goto out;
		}
		if ((error = remote_holds(h, f, out, &latest)) < 0)
			goto out;
	}

	if ((error = dsync_mirror_list(&ml, &nm, f)) < 0)
		goto out;
	for (i = 0; i < nm; i++) {
		dsync_buf ref = DSYNC_BUF_INIT;
		git_oid id;

		if (!(h = holder_add(&mirs)) || !(h->name = strdup(ml[i].name)) || !(h->id = strdup(ml[i].device_id))) {
			error = dsync_error_oom();
			goto out;
		}
		if ((error = dsync_buf_printf(&ref, "refs/mirrors/%s", ml[i].name)) < 0) {
			dsync_buf_dispose(&ref);
			goto out;
		}
		if (git_reference_name_to_id(&id, f->repo, ref.ptr) == 0)
			holder_head(h, f->repo, &id, out, &latest);
		dsync_buf_dispose(&ref);
	}

	out->only_here = out->exists;
	for (i = 1; i < devs.n; i++)
		out->only_here = out->only_here && !devs.v[i].holds;
	for (i = 0; i < rems.n; i++)
		out->only_here = out->only_here && !rems.v[i].holds;
	for (i = 0; i < mirs.n; i++)
		out->only_here = out->only_here && !mirs.v[i].holds;
out:
	out->devices = devs.v;
	out->n_devices = devs.n;
	out->remotes = rems.v;
	out->n_remotes = rems.n;
	out->mirrors = mirs.v;
	out->n_mirrors = mirs.n;
	if (rl)
		dsync_remote_list_free(rl, nr);
	if (ml)
		dsync_mirror_list_free(ml, nm);
	if (error < 0)
		dsync_status_holders_dispose(out);
	return error;
}

void dsync_status_holders_dispose(dsync_holders *h)
{
	size_t i;

	for (i = 0; i < h->n_devices; i++)
		holder_dispose(&h->devices[i]);
	for (i = 0; i < h->n_remotes; i++)
		holder_dispose(&h->remotes[i]);
	for (i = 0; i < h->n_mirrors; i++)
		holder_dispose(&h->mirrors[i]);
	free(h->devices);
	free(h->remotes);
	free(h->mirrors);
	free(h->path);
	memset(h, 0, sizeof(*h));
}

int dsync_status_summary(dsync_folder_summary *out, dsync_folder *f)
{
	dsync_remote_info *rl = NULL;
	dsync_conflicts cs = { 0 };
	dsync_buf path = DSYNC_BUF_INIT, pushed = DSYNC_BUF_INIT;
	dsync_watch_state ws = { 0 };
	size_t nr = 0, i;
	git_oid head;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = dsync_folder_repo(f)) < 0)
		goto out;
	if (!(out->root = strdup(f->root)) || !(out->device_name = strdup(f->device_name ? f->device_name : ""))) {
		error = dsync_error_oom();
		goto out;
	}
	if (git_reference_name_to_id(&head, f->repo, "refs/heads/main") == 0) {
		git_oid_tostr(out->head, sizeof(out->head), &head);
		out->last_snapshot = commit_time(f->repo, &head);
	}
	if ((error = dsync_conflicts_list(&cs, f)) < 0)
		goto out;
	out->conflicts = cs.n;
	if ((error = dsync_remote_list(&rl, &nr, f)) < 0)
		goto out;
	if (nr && !(out->remotes = calloc(nr, sizeof(*out->remotes)))) {
		error = dsync_error_oom();
		goto out;
	}
	for (i = 0; i < nr; i++) {
		dsync_remote_summary *r = &out->remotes[out->n_remotes++];
		struct stat st;

		if (!(r->name = strdup(rl[i].name))) {
			error = dsync_error_oom();
			goto out;
		}
		if ((error = dsync_state_path(&path, f, r->name, "seen")) < 0)
			goto out;
		if (stat(path.ptr, &st) == 0)
			r->last_sync = (int64_t)st.st_mtime;
		if ((error = dsync_state_read(&pushed, f, r->name, "pushed")) < 0)
			goto out;
		r->has_latest = out->head[0] && pushed.len >= GIT_OID_HEXSZ &&
				memcmp(pushed.ptr, out->head, GIT_OID_HEXSZ) == 0;
		if ((error = dsync_status_remote_space(r, f)) < 0)
			goto out;
	}
	if ((error = dsync_only_here(out, f)) < 0)
		goto out;
	/* not known (an unreadable marker, say): shown as not watched, not
	 * paused, rather than no summary at all */
	if (dsync_watch_state_read(&ws, f) < 0)
		dsync_error_clear();
	error = 0;
	out->watched = ws.watched;
	out->watcher_pid = ws.pid;
	if (ws.user.on || ws.watcher.on) {
		dsync_pause_info *p = ws.user.on ? &ws.user : &ws.watcher;

		out->paused = true;
		out->paused_by = ws.user.on ? "user" : "watcher";
		out->paused_since = p->since;
		out->paused_why = p->why;
		out->paused_until = p->until;
		p->why = p->until = NULL;   /* now the summary's */
	}
out:
	dsync_watch_state_dispose(&ws);
	if (rl)
		dsync_remote_list_free(rl, nr);
	dsync_conflicts_dispose(&cs);
	dsync_buf_dispose(&path);
	dsync_buf_dispose(&pushed);
	if (error < 0)
		dsync_status_summary_dispose(out);
	return error;
}

void dsync_status_summary_dispose(dsync_folder_summary *s)
{
	size_t i;

	for (i = 0; i < s->n_remotes; i++)
		free(s->remotes[i].name);
	free(s->remotes);
	for (i = 0; i < s->n_only_here_paths; i++)
		free(s->only_here_paths[i]);
	free(s->only_here_paths);
	free(s->root);
	free(s->device_name);
	free(s->paused_why);
	free(s->paused_until);
	memset(s, 0, sizeof(*s));
}
