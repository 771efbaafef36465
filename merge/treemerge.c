/*
 * The three-way merge of two heads into one tree (DESIGN.md section 6):
 * libgit2's tree merge (xdiff line merges, rename detection), then dsync's
 * own conflict policy on what it leaves: one version keeps the path, the
 * other becomes a conflict copy beside it, nothing is lost.
 */
#include "core/base/internal.h"
#include "core/base/array.h"
#include "merge/treemerge.h"
#include "merge/names.h"
#include "merge/check.h"
#include "core/base/path.h"
#include "core/base/chunks.h"

#define WALK_LIMIT 100000  /* commits looked at to find who wrote a version */

typedef struct side {
	const git_commit *head;
	const git_oid *base;  /* the merge base (NULL: none) */
	git_time_t time;
	char key[DSYNC_OID_HEX_SIZE];  /* the tie-break (dsync_merge_commit_key) */
} side;

typedef struct conflict_in {
	char *path;          /* where both sides' versions meet */
	char *our_path, *their_path;  /* each side's own name (renames) */
	git_index_entry anc, ours, theirs;
	bool has_anc, has_ours, has_theirs;
} conflict_in;

void dsync_merge_result_dispose(dsync_merge_result *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].path);
		free(r->v[i].copy);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int dsync_merge_result_add(dsync_merge_result *r, char kind, const char *path, const char *copy)
{
	dsync_merge_conflict *c;

	if (r->n == r->cap && dsync_array_grow_(&r->v, &r->cap, r->n + 1, sizeof(*r->v)) < 0)
		return dsync_error_oom();
	c = &r->v[r->n];
	c->kind = kind;
	c->path = strdup(path);
	c->copy = strdup(copy ? copy : "");
	if (!c->path || !c->copy) {
		free(c->path);
		free(c->copy);
		return dsync_error_oom();
	}
	r->n++;
	return 0;
}

void dsync_merge_commit_key(char *key, const git_commit *c)
{
	const git_signature *a = git_commit_author(c);

	if (a && a->email && strlen(a->email) == 32 && strspn(a->email, "0123456789abcdef") == 32)
		memcpy(key, a->email, 33);
	else
		git_oid_tostr(key, GIT_OID_HEXSZ + 1, git_commit_id(c));
}

static void side_init(side *s, const git_commit *c)
{
	s->head = c;
	s->base = NULL;
	s->time = git_commit_time(c);
	dsync_merge_commit_key(s->key, c);
}

/* Whether A's version wins over B's: the later commit, then the higher key. */
static bool wins(const side *a, const side *b)
{
	if (a->time != b->time)
		return a->time > b->time;
	return strcmp(a->key, b->key) > 0;
}

/* The id of PATH in COMMIT's tree (zero when absent). */
static void id_at(git_oid *out, const git_commit *c, const char *path)
{
	git_tree *t = NULL;
	git_tree_entry *e = NULL;

	memset(out, 0, sizeof(*out));
	if (git_commit_tree(&t, c) == 0 && git_tree_entry_bypath(&e, t, path) == 0)
		git_oid_cpy(out, git_tree_entry_id(e));
	git_tree_entry_free(e);
	git_tree_free(t);
}

/*
 * Who wrote the version ID of PATH on the history of HEAD since BASE (may be
 * NULL): the newest commit whose PATH is ID while no parent's is.  Its
 * author's name and time go into *NAME (malloc'd) and *WHEN; HEAD's when none
 * is found.
 */
static int writer_of(char **name, git_time_t *when, git_repository *repo, const git_commit *head,
		     const git_oid *base, const char *path, const git_oid *id)
{
	git_revwalk *walk = NULL;
	const git_commit *found = head;
	git_commit *c = NULL, *hit = NULL;
	git_oid oid;
	size_t seen = 0;
	int err;

	/* the version was written since the histories parted (else it would
	 * not be contested): the walk stops at the merge base */
	if ((err = git_revwalk_new(&walk, repo)) < 0 || (err = git_revwalk_push(walk, git_commit_id(head))) < 0 ||
	    (base && (err = git_revwalk_hide(walk, base)) < 0)) {
		git_revwalk_free(walk);
		return dsync_error_git(err, "cannot read the history of '%s'", path);
	}
	git_revwalk_sorting(walk, GIT_SORT_TIME | GIT_SORT_TOPOLOGICAL);
	while (!hit && seen++ < WALK_LIMIT && git_revwalk_next(&oid, walk) == 0) {
		git_oid here, there;
		unsigned i, n;
		bool from_parent = false;

		if (git_commit_lookup(&c, repo, &oid) < 0)
			break;
		id_at(&here, c, path);
		if (git_oid_equal(&here, id)) {
			n = git_commit_parentcount(c);
			for (i = 0; i < n && !from_parent; i++) {
				git_commit *p = NULL;

				if (git_commit_parent(&p, c, i) == 0) {
					id_at(&there, p, path);
					from_parent = git_oid_equal(&there, id);
				}
				git_commit_free(p);
			}
			if (!from_parent) {
				hit = c;
				c = NULL;
			}
		}
		git_commit_free(c);
		c = NULL;
	}
	git_revwalk_free(walk);
	if (hit)
		found = hit;
	*when = git_commit_time(found);
	*name = strdup(git_commit_author(found)->name ? git_commit_author(found)->name : "");
	git_commit_free(hit);
	return *name ? 0 : dsync_error_oom();
}

/* ------------------------------------------------------ the merged tree */

/*
 * The merged tree's entries, built here rather than by adding to libgit2's
 * index: git_index_add() silently drops a file where a folder's entries are
 * (and the folder's entries where a file is), and dsync decides those cases
 * itself.  Paths are owned.
 */
typedef struct entry {
	git_index_entry e;
	const side *from;    /* the side it comes from (NULL: both agree) */
} entry;

typedef DSYNC_ARRAY(entry) entry_list;

/* A version that lost its path and becomes a conflict copy. */
typedef struct pending {
	char kind;
	char *path;          /* where it was */
	git_index_entry e;
	const side *loser;
} pending;

typedef DSYNC_ARRAY(pending) pending_list;

static void entries_dispose(entry_list *l)
{
	size_t i;

	for (i = 0; i < l->size; i++)
		free((char *)l->ptr[i].e.path);
	dsync_array_dispose(*l);
}

static void pending_dispose(pending_list *l)
{
	size_t i;

	for (i = 0; i < l->size; i++)
		free(l->ptr[i].path);
	dsync_array_dispose(*l);
}

/* Inserts a copy of E at PATH (from side FROM) at position AT. */
static int entries_insert(entry_list *l, size_t at, const git_index_entry *e, const char *path, const side *from)
{
	entry *x;

	if (dsync_array_reserve(*l, l->size + 1) < 0)
		return dsync_error_oom();
	memmove(&l->ptr[at + 1], &l->ptr[at], (l->size - at) * sizeof(*l->ptr));
	x = &l->ptr[at];
	x->e = *e;
	GIT_INDEX_ENTRY_STAGE_SET(&x->e, 0);
	x->from = from;
	if ((x->e.path = strdup(path)) == NULL) {
		memmove(&l->ptr[at], &l->ptr[at + 1], (l->size - at) * sizeof(*l->ptr));
		return dsync_error_oom();
	}
	l->size++;
	return 0;
}

static void entries_remove(entry_list *l, size_t at)
{
	free((char *)l->ptr[at].e.path);
	memmove(&l->ptr[at], &l->ptr[at + 1], (l->size - at - 1) * sizeof(*l->ptr));
	l->size--;
}

/* The first position whose path is >= PATH (L sorted). */
static size_t lower_bound(const entry_list *l, const char *path)
{
	size_t lo = 0, hi = l->size;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(l->ptr[mid].e.path, path) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether anything in L (sorted) lies below the folder PATH. */
static bool has_below(const entry_list *l, const char *path)
{
	dsync_buf prefix = DSYNC_BUF_INIT;
	size_t at;
	bool hit;

	if (dsync_buf_printf(&prefix, "%s/", path) < 0)
		return true;
	at = lower_bound(l, prefix.ptr);
	hit = at < l->size && strncmp(l->ptr[at].e.path, prefix.ptr, prefix.len) == 0;
	dsync_buf_dispose(&prefix);
	return hit;
}

/* Whether PATH is taken in L (sorted): a file at it, or anything below it. */
static bool taken(const entry_list *l, const char *path)
{
	size_t at = lower_bound(l, path);

	return (at < l->size && strcmp(l->ptr[at].e.path, path) == 0) || has_below(l, path);
}

static int cmp_entry(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	int c = strcmp(x->e.path, y->e.path);

	/* equal paths: a stable, content-based order */
	return c ? c : git_oid_cmp(&x->e.id, &y->e.id);
}

static int pending_add(pending_list *l, char kind, const char *path, const git_index_entry *e, const side *loser)
{
	pending *p;

	if (dsync_array_reserve(*l, l->size + 1) < 0)
		return dsync_error_oom();
	p = &l->ptr[l->size];
	p->kind = kind;
	p->e = *e;
	p->e.path = NULL;
	p->loser = loser;
	if ((p->path = strdup(path)) == NULL)
		return dsync_error_oom();
	l->size++;
	return 0;
}

/* The entry at PATH in COMMIT's tree (a file or link) into OUT, if any. */
static bool entry_at(git_index_entry *out, const git_commit *c, const char *path)
{
	git_tree *t = NULL;
	git_tree_entry *e = NULL;
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (git_commit_tree(&t, c) == 0 && git_tree_entry_bypath(&e, t, path) == 0 &&
	    git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
		git_oid_cpy(&out->id, git_tree_entry_id(e));
		out->mode = git_tree_entry_filemode(e);
		found = true;
	}
	git_tree_entry_free(e);
	git_tree_free(t);
	return found;
}

/* The side whose tree has ID at PATH: ours, else theirs. */
static const side *owner_of(const side *ours, const side *theirs, const char *path, const git_oid *id)
{
	git_oid at;

	id_at(&at, ours->head, path);
	return git_oid_equal(&at, id) ? ours : theirs;
}

/*
 * Adds P (a version that lost its path) to L as a conflict copy beside its
 * path, named after who wrote it, the first such name not taken; and to R's
 * conflicts.  A conflict copy is never itself conflict-copied: a second
 * version of one takes the copy's next clash number.
 */
static int add_copy(dsync_merge_result *r, entry_list *l, git_repository *repo, const pending *p)
{
	dsync_copyname_parts parts = { 0 };
	dsync_buf disk = DSYNC_BUF_INIT, name = DSYNC_BUF_INIT, stored = DSYNC_BUF_INIT;
	bool is_link = p->e.mode == GIT_FILEMODE_LINK, renumber;
	git_time_t when = 0;
	char *device = NULL;
	unsigned n;
	int error;

	/* the copy is named from the name on disk (".git", not ".git~dsync"),
	 * then stored as any name is */
	if ((error = dsync_buf_puts(&disk, "")) < 0 || (error = dsync_path_unescape(&disk, p->path, is_link)) < 0)
		goto out;
	renumber = dsync_copyname_is_copy(disk.ptr);
	if (renumber && dsync_copyname_parse(&parts, disk.ptr) < 0) {
		error = dsync_error_set(DSYNC_ERROR, "cannot read the conflict copy's name '%s'", disk.ptr);
		goto out;
	}
	if (!renumber && (error = writer_of(&device, &when, repo, p->loser->head, p->loser->base, p->path, &p->e.id)) < 0)
		goto out;
	for (n = renumber ? parts.n + 1 : 1;; n++) {
		dsync_buf_truncate(&name, 0);
		dsync_buf_truncate(&stored, 0);
		if ((error = renumber ? dsync_copyname_renumber(&name, disk.ptr, n)
				      : dsync_copyname_make(&name, disk.ptr, device, (time_t)when, n)) < 0 ||
		    (error = dsync_buf_puts(&stored, "")) < 0 ||
		    (error = dsync_path_escape(&stored, name.ptr, is_link)) < 0)
			goto out;
		if (!taken(l, stored.ptr))
			break;
	}
	if ((error = entries_insert(l, lower_bound(l, stored.ptr), &p->e, stored.ptr, p->loser)) == 0)
		error = dsync_merge_result_add(r, p->kind, p->path, stored.ptr);
out:
	free(device);
	dsync_buf_dispose(&disk);
	dsync_buf_dispose(&name);
	dsync_buf_dispose(&stored);
	return error;
}

static void free_conflicts(conflict_in *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].our_path);
		free(v[i].their_path);
	}
	free(v);
}

/* Copies the conflicts libgit2 left in INDEX, then removes them from it. */
static int take_conflicts(conflict_in **out, size_t *count, git_index *index)
{
	git_index_conflict_iterator *it = NULL;
	const git_index_entry *a, *o, *t;
	DSYNC_ARRAY(conflict_in) v = DSYNC_ARRAY_INIT;
	int err, error = 0;

	*out = NULL;
	*count = 0;
	if ((err = git_index_conflict_iterator_new(&it, index)) < 0)
		return dsync_error_git(err, "cannot read the merge's conflicts");
	while ((err = git_index_conflict_next(&a, &o, &t, it)) == 0) {
		const git_index_entry *any = o ? o : t ? t : a;
		conflict_in *c;

		if (dsync_array_reserve(v, v.size + 1) < 0) {
			error = dsync_error_oom();
			goto out;
		}
		c = &v.ptr[v.size++];
		memset(c, 0, sizeof(*c));
		/* the entries' paths die with the index's conflicts: copies */
		if ((c->path = strdup(any->path)) == NULL ||
		    (o && (c->our_path = strdup(o->path)) == NULL) ||
		    (t && (c->their_path = strdup(t->path)) == NULL)) {
			error = dsync_error_oom();
			goto out;
		}
		if ((c->has_anc = a != NULL))
			c->anc = *a;
		if ((c->has_ours = o != NULL))
			c->ours = *o;
		if ((c->has_theirs = t != NULL))
			c->theirs = *t;
		c->anc.path = c->path;
		c->ours.path = c->our_path;
		c->theirs.path = c->their_path;
	}
	if (err != GIT_ITEROVER) {
		error = dsync_error_git(err, "cannot read the merge's conflicts");
		goto out;
	}
	git_index_conflict_cleanup(index);
out:
	git_index_conflict_iterator_free(it);
	if (error < 0) {
		free_conflicts(v.ptr, v.size);
		return error;
	}
	*out = v.ptr;
	*count = v.size;
	return 0;
}

/*
 * Decides every path of the merge: libgit2's clean entries, then each of its
 * conflicts by dsync's policy (the winner's version at the path, the loser's
 * pending as a copy), then two versions at one path (the winner's stays), then
 * a file where the other side made a folder (the folder keeps the path).  The
 * pending copies get their names last, when every kept path is known, so no
 * copy's name can land on a path that is decided later.
 */
static int decide(dsync_merge_result *r, entry_list *l, git_repository *repo, git_index *index,
		  const conflict_in *cv, size_t cn, const side *so, const side *st, bool ours_wins)
{
	pending_list pend = { 0 };
	size_t i;
	int error = 0;

	for (i = 0; i < git_index_entrycount(index) && !error; i++) {
		const git_index_entry *e = git_index_get_byindex(index, i);
		if (GIT_INDEX_ENTRY_STAGE(e) == 0)
			error = entries_insert(l, l->size, e, e->path, NULL);
	}
	for (i = 0; i < cn && !error; i++) {
		const conflict_in *c = &cv[i];
		const side *w, *lo;

		if (c->has_ours != c->has_theirs) {
			const git_index_entry *have = c->has_ours ? &c->ours : &c->theirs;
			const char *path = c->has_ours ? c->our_path : c->their_path;
			const side *hs = c->has_ours ? so : st, *ms = c->has_ours ? st : so;
			git_index_entry other;

			/* libgit2 1.5 drops a file one side added at a name the
			 * other side renamed a file to (while renaming the same
			 * file elsewhere itself): both versions meet here */
			if (entry_at(&other, ms->head, path) && !git_index_get_bypath(index, path, 0) &&
			    (!git_oid_equal(&other.id, &have->id) || other.mode != have->mode)) {
				w = ours_wins || wins(so, st) ? so : st;
				if ((error = entries_insert(l, l->size, w == hs ? have : &other, path, w)) == 0)
					error = pending_add(&pend, 'A', path, w == hs ? &other : have, w == hs ? ms : hs);
				continue;
			}
			/* modify/delete: what exists stays */
			error = entries_insert(l, l->size, have, path, hs);
			continue;
		}
		if (!c->has_ours)
			continue; /* deleted on both sides */
		if (strcmp(c->our_path, c->their_path) != 0) {
			/* renamed to two names: both stay */
			if ((error = entries_insert(l, l->size, &c->ours, c->our_path, so)) == 0)
				error = entries_insert(l, l->size, &c->theirs, c->their_path, st);
			continue;
		}
		w = ours_wins || wins(so, st) ? so : st;
		lo = w == so ? st : so;
		if ((error = entries_insert(l, l->size, w == so ? &c->ours : &c->theirs, c->path, w)) == 0)
			error = pending_add(&pend, c->has_anc ? 'C' : 'A', c->path, w == so ? &c->theirs : &c->ours, lo);
	}
	if (error)
		goto out;
	if (l->size > 1)
		qsort(l->ptr, l->size, sizeof(*l->ptr), cmp_entry);
	/* two versions at one path (libgit2 leaves that after a rename onto a
	 * name the other side added): the same stays once, else one wins */
	for (i = 0; i + 1 < l->size && !error;) {
		entry *a = &l->ptr[i], *b = &l->ptr[i + 1];
		size_t drop;
		const side *sa, *sb;

		if (strcmp(a->e.path, b->e.path) != 0) {
			i++;
			continue;
		}
		if (git_oid_equal(&a->e.id, &b->e.id) && a->e.mode == b->e.mode) {
			entries_remove(l, i + 1);
			continue;
		}
		sa = a->from ? a->from : owner_of(so, st, a->e.path, &a->e.id);
		sb = b->from ? b->from : owner_of(so, st, b->e.path, &b->e.id);
		if (sa != sb)
			drop = (ours_wins ? sa == so : wins(sa, sb)) ? i + 1 : i;
		else
			drop = i + 1;
		error = pending_add(&pend, 'A', l->ptr[drop].e.path, &l->ptr[drop].e, drop == i ? sa : sb);
		entries_remove(l, drop);
	}
	/* a link whose name on disk is another entry's (a link ".gitmodules"
	 * is stored as ".gitmodules~dsync", a file as ".gitmodules"): the
	 * other entry keeps the name, the link becomes a copy */
	for (i = 0; i < l->size && !error;) {
		entry *e = &l->ptr[i];
		dsync_buf disk = DSYNC_BUF_INIT, other = DSYNC_BUF_INIT;
		const char *slash = strrchr(e->e.path, '/');
		bool clash = false;

		if (e->e.mode == GIT_FILEMODE_LINK &&
		    dsync_path_name_is_escaped(slash ? slash + 1 : e->e.path, strlen(slash ? slash + 1 : e->e.path), true)) {
			if (dsync_buf_puts(&disk, "") < 0 || dsync_path_unescape(&disk, e->e.path, true) < 0 ||
			    dsync_buf_puts(&other, "") < 0 || dsync_path_escape(&other, disk.ptr, false) < 0)
				error = dsync_error_oom();
			else
				clash = taken(l, other.ptr);
		}
		dsync_buf_dispose(&disk);
		dsync_buf_dispose(&other);
		if (!clash) {
			i++;
			continue;
		}
		error = pending_add(&pend, 'A', e->e.path, &e->e,
				    e->from ? e->from : owner_of(so, st, e->e.path, &e->e.id));
		entries_remove(l, i);
	}
	/* a file where the other side made a folder: the folder keeps it */
	for (i = 0; i < l->size && !error;) {
		entry *e = &l->ptr[i];

		if (!has_below(l, e->e.path)) {
			i++;
			continue;
		}
		error = pending_add(&pend, 'F', e->e.path, &e->e,
				    e->from ? e->from : owner_of(so, st, e->e.path, &e->e.id));
		entries_remove(l, i);
	}
	for (i = 0; i < pend.size && !error; i++)
		error = add_copy(r, l, repo, &pend.ptr[i]);
out:
	pending_dispose(&pend);
	return error;
}

#define MAX_VIRTUAL_DEPTH 64

static int cmp_oid_raw(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

static int merge_trees(dsync_merge_result *out, git_repository *repo, const git_commit *ours,
		       const git_commit *theirs, bool ours_wins, int depth);

/*
 * The merge base of OURS and THEIRS into *BASE (NULL: histories that started
 * apart).  Two devices that merged each other's heads at the same time have
 * two merge bases (a criss-cross); one of them alone would make a file that
 * only the other holds look added on both sides.  As git's recursive merge
 * does, the bases are then merged with each other (the first one keeping
 * what conflicts) into a virtual base commit, the same on every device.
 */
static int merge_base_of(git_commit **base, git_repository *repo, const git_commit *ours,
			 const git_commit *theirs, int depth)
{
	git_oidarray bases = { 0 };
	git_commit *cur = NULL, *next = NULL;
	dsync_merge_result r = { 0 };
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	size_t i;
	int err, error = 0;

	*base = NULL;
	err = git_merge_bases(&bases, repo, git_commit_id(ours), git_commit_id(theirs));
	if (err == GIT_ENOTFOUND)
		return 0;
	if (err < 0)
		return dsync_error_git(err, "cannot find the merge base");
	if (bases.count > 1)
		qsort(bases.ids, bases.count, sizeof(*bases.ids), cmp_oid_raw);
	if ((err = git_commit_lookup(&cur, repo, &bases.ids[0])) < 0) {
		error = dsync_error_git(err, "cannot read the merge base");
		goto out;
	}
	for (i = 1; i < bases.count && depth < MAX_VIRTUAL_DEPTH; i++) {
		const git_commit *parents[2];
		git_time_t when;
		git_oid id;

		if ((err = git_commit_lookup(&next, repo, &bases.ids[i])) < 0) {
			error = dsync_error_git(err, "cannot read a merge base");
			goto out;
		}
		if ((error = merge_trees(&r, repo, cur, next, true, depth + 1)) < 0)
			goto out;
		when = git_commit_time(cur) > git_commit_time(next) ? git_commit_time(cur) : git_commit_time(next);
		parents[0] = cur;
		parents[1] = next;
		if ((err = git_signature_new(&sig, "dsync", "dsync", when, 0)) < 0 ||
		    (err = git_tree_lookup(&tree, repo, &r.tree)) < 0 ||
		    (err = git_commit_create(&id, repo, NULL, sig, sig, NULL, "virtual merge base\n", tree, 2,
					     parents)) < 0) {
			error = dsync_error_git(err, "cannot record a virtual merge base");
			goto out;
		}
		git_signature_free(sig);
		git_tree_free(tree);
		git_commit_free(cur);
		git_commit_free(next);
		sig = NULL;
		tree = NULL;
		next = NULL;
		cur = NULL;
		dsync_merge_result_dispose(&r);
		memset(&r, 0, sizeof(r));
		if ((err = git_commit_lookup(&cur, repo, &id)) < 0) {
			error = dsync_error_git(err, "cannot read a virtual merge base");
			goto out;
		}
	}
	*base = cur;
	cur = NULL;
out:
	dsync_merge_result_dispose(&r);
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(cur);
	git_commit_free(next);
	git_oidarray_dispose(&bases);
	return error;
}

/*
 * Removes from RESULT (sorted, as an index is) every empty-folder marker
 * whose folder holds something else: one side kept a folder empty while the
 * other put files in it (a phone's first round into a folder its mirror made,
 * a device that made a folder another filled).  Left in, the next snapshot
 * would drop it as a change of nothing.  *REMOVED: how many went.
 */
static int drop_full_markers(git_index *result, size_t *removed)
{
	size_t i = 0;
	int err;

	*removed = 0;
	while (i < git_index_entrycount(result)) {
		const git_index_entry *e = git_index_get_byindex(result, i), *o;
		size_t dir_len;
		bool full = false;

		if (!dsync_path_is_dir_marker(e->path)) {
			i++;
			continue;
		}
		dir_len = strlen(e->path) - strlen(DSYNC_DIR_MARKER);
		/* the folder's entries are contiguous in sorted order: a neighbour
		 * with the same folder prefix is enough */
		if (i > 0 && (o = git_index_get_byindex(result, i - 1)) && strncmp(o->path, e->path, dir_len) == 0)
			full = true;
		if (i + 1 < git_index_entrycount(result) && (o = git_index_get_byindex(result, i + 1)) &&
		    strncmp(o->path, e->path, dir_len) == 0)
			full = true;
		if (!full) {
			i++;
			continue;
		}
		if ((err = git_index_remove(result, e->path, 0)) < 0)
			return dsync_error_git(err, "cannot record the merged tree");
		(*removed)++;
	}
	return 0;
}

static int merge_trees(dsync_merge_result *out, git_repository *repo, const git_commit *ours,
		       const git_commit *theirs, bool ours_wins, int depth)
{
	git_merge_options mo = GIT_MERGE_OPTIONS_INIT;
	git_tree *base_tree = NULL, *our_tree = NULL, *their_tree = NULL;
	git_commit *base = NULL;
	git_index *index = NULL, *result = NULL;
	entry_list l = { 0 };
	conflict_in *cv = NULL;
	size_t cn = 0, i, dropped = 0;
	side so, st;
	const git_oid *base_id = NULL;
	int err, error;

	memset(out, 0, sizeof(*out));
	side_init(&so, ours);
	side_init(&st, theirs);
	if ((err = git_commit_tree(&our_tree, ours)) < 0 || (err = git_commit_tree(&their_tree, theirs)) < 0) {
		error = dsync_error_git(err, "cannot read the trees to merge");
		goto out;
	}
	if ((error = dsync_treecheck_all(repo, their_tree)) < 0)
		goto out;
	if ((error = merge_base_of(&base, repo, ours, theirs, depth)) < 0)
		goto out;
	/* no base: histories that started apart, an empty base */
	if (base && (err = git_commit_tree(&base_tree, base)) < 0) {
		error = dsync_error_git(err, "cannot read the merge base");
		goto out;
	}
	if (base) {
		base_id = git_commit_id(base);
		so.base = st.base = base_id;
	}
	/* a big file is one entry (a link to its chunk tree): merged as one
	 * binary file, never chunk by chunk (docs/chunks.md) */
	if ((base_tree && (error = dsync_chunks_swap_to_index_form(&base_tree, repo)) < 0) ||
	    (error = dsync_chunks_swap_to_index_form(&our_tree, repo)) < 0 ||
	    (error = dsync_chunks_swap_to_index_form(&their_tree, repo)) < 0)
		goto out;
	mo.flags = GIT_MERGE_FIND_RENAMES;
	mo.file_favor = GIT_MERGE_FILE_FAVOR_NORMAL;
	if ((err = git_merge_trees(&index, repo, base_tree, our_tree, their_tree, &mo)) < 0) {
		error = dsync_error_git(err, "cannot merge the trees");
		goto out;
	}
	if ((error = take_conflicts(&cv, &cn, index)) < 0 ||
	    (error = decide(out, &l, repo, index, cv, cn, &so, &st, ours_wins)) < 0)
		goto out;
	if ((err = git_index_new(&result)) < 0) {
		error = dsync_error_git(err, "cannot record the merged tree");
		goto out;
	}
	for (i = 0; i < l.size; i++)
		if ((err = git_index_add(result, &l.ptr[i].e)) < 0) {
			error = dsync_error_git(err, "cannot record '%s' in the merge", l.ptr[i].e.path);
			goto out;
		}
	if ((error = drop_full_markers(result, &dropped)) < 0)
		goto out;
	if (git_index_entrycount(result) + dropped != l.size) {
		/* never silently: every decided path must be in the tree */
		error = dsync_error_set(DSYNC_ERROR, "the merge lost a path (%zu of %zu recorded); nothing changed",
					git_index_entrycount(result) + dropped, l.size);
		goto out;
	}
	if ((err = git_index_write_tree_to(&out->tree, result, repo)) < 0) {
		error = dsync_error_git(err, "cannot record the merged tree");
		goto out;
	}
	error = dsync_chunks_id_to_stored_form(&out->tree, repo, NULL);
out:
	if (error < 0)
		dsync_merge_result_dispose(out);
	entries_dispose(&l);
	free_conflicts(cv, cn);
	git_index_free(index);
	git_index_free(result);
	git_commit_free(base);
	git_tree_free(base_tree);
	git_tree_free(our_tree);
	git_tree_free(their_tree);
	return error;
}

int dsync_merge_trees_of(dsync_merge_result *out, git_repository *repo, const git_commit *ours,
			 const git_commit *theirs)
{
	return merge_trees(out, repo, ours, theirs, false, 0);
}

int dsync_merge_trees_ours(dsync_merge_result *out, git_repository *repo, const git_commit *ours,
			   const git_commit *theirs)
{
	return merge_trees(out, repo, ours, theirs, true, 0);
}
