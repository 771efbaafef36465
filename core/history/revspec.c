/*
 * "REV or WHEN": a snapshot id (short too), HEAD~N and other revision
 * syntax, or a time spec, resolved to a snapshot or a point in time.
 */
#include "core/base/internal.h"
#include "dsync/history.h"
#include "dsync/timespec.h"
#include "core/folder/folder.h"
#include "core/base/buf.h"
#include "core/history/head.h"

#include <time.h>

/* Whether S is LEN hex digits. */
static bool all_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

/*
 * Resolves the short id HEX (LEN hex digits, 4 to 39) among the folder's
 * snapshots: the commits reachable from this device's head and from every
 * other device's head as last fetched (refs/heads, refs/remotes).  Trees,
 * blobs and unreachable commits are not candidates, so a prefix that one
 * snapshot and a file's blob share still names the snapshot.  *OUT the one;
 * 0 (no error set) when none matches; DSYNC_EUSAGE when several do.
 */
static int resolve_short_id(git_oid *out, bool *found, git_repository *repo, const char *hex, size_t len,
			    const char *spec)
{
	git_revwalk *walk = NULL;
	git_oid want, oid;
	char q[DSYNC_QUOTE_SIZE];
	size_t matches = 0;
	int err, error = 0;

	*found = false;
	if ((err = git_oid_fromstrn(&want, hex, len)) < 0 || (err = git_revwalk_new(&walk, repo)) < 0 ||
	    ((err = git_revwalk_push_glob(walk, "refs/heads/*")) < 0 && err != GIT_ENOTFOUND) ||
	    ((err = git_revwalk_push_glob(walk, "refs/remotes/*")) < 0 && err != GIT_ENOTFOUND)) {
		error = dsync_error_git(err, "cannot walk history");
		goto out;
	}
	while ((err = git_revwalk_next(&oid, walk)) == 0) {
		if (git_oid_ncmp(&want, &oid, len) != 0)
			continue;
		if (++matches > 1) {
			error = dsync_error_set(DSYNC_EUSAGE, "'%s' matches more than one snapshot; give more digits",
						dsync_quote(q, spec));
			goto out;
		}
		git_oid_cpy(out, &oid);
	}
	if (err < 0 && err != GIT_ITEROVER) {
		error = dsync_error_git(err, "cannot walk history");
		goto out;
	}
	*found = matches == 1;
out:
	git_revwalk_free(walk);
	return error;
}

/*
 * For SPEC, an existing version (its first BASE bytes) followed by ~N and ^N
 * steps that name none: DSYNC_ENOTFOUND when the steps go back further than
 * the history, DSYNC_EUSAGE when something else follows (Q is SPEC quoted).
 * 0 when SPEC's first BASE bytes name no version: not that case.
 */
static int past_history(git_repository *repo, const char *spec, size_t base, const char *q)
{
	char *head = strndup(spec, base);
	git_object *o = NULL;
	bool there = head && git_revparse_single(&o, repo, head) == 0;
	const char *p = spec + base;

	git_object_free(o);
	free(head);
	/* only ~N and ^N steps (N optional) follow: else a bad version */
	while (*p == '~' || *p == '^')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (there && *p)
		return dsync_error_set(DSYNC_EUSAGE,
			"bad version '%s': after HEAD or an id give steps back as ~N (HEAD~3)", q);
	if (there)
		return dsync_error_set(DSYNC_ENOTFOUND, "there is no snapshot '%s': the history is shorter", q);
	return 0;
}

/* The last snapshot taken at or before WHEN (the time spec Q, quoted) into
 * OUT: DSYNC_ENOTFOUND when there is none. */
static int snapshot_at(char out[DSYNC_OID_HEX_SIZE], git_repository *repo, int64_t when, const char *q)
{
	git_revwalk *walk = NULL;
	git_oid oid;
	int err, error;

	if ((error = dsync_history_head_walk(&walk, repo)) < 0)
		return error;
	while ((err = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *c;

		if ((err = git_commit_lookup(&c, repo, &oid)) < 0)
			break;
		if ((int64_t)git_commit_time(c) <= when) {
			git_oid_tostr(out, DSYNC_OID_HEX_SIZE, &oid);
			git_commit_free(c);
			error = 0;
			goto out;
		}
		git_commit_free(c);
	}
	if (err < 0 && err != GIT_ITEROVER)
		error = dsync_history_walk_error(repo, err);
	else
		error = dsync_error_set(DSYNC_ENOTFOUND, "there is no snapshot at or before '%s'", q);
out:
	git_revwalk_free(walk);
	return error;
}

int dsync_history_resolve(char out[DSYNC_OID_HEX_SIZE], dsync_folder *f, const char *spec)
{
	git_object *obj = NULL, *peeled = NULL;
	dsync_buf full = DSYNC_BUF_INIT;
	git_oid oid;
	int64_t when;
	size_t base;
	char q[DSYNC_QUOTE_SIZE];
	bool found, hexid;
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	out[0] = '\0';
	if (!spec)
		spec = "HEAD";
	if (!*spec)
		return dsync_error_set(DSYNC_EUSAGE, "an empty version: give a snapshot id, HEAD~N or a time");
	dsync_quote(q, spec);
	/* a short id, alone or with ~N / ^N after it, among the snapshots only */
	base = strcspn(spec, "~^");
	hexid = base >= 4 && base <= GIT_OID_HEXSZ && all_hex(spec, base);
	/* fewer digits name no snapshot surely, whatever the history holds */
	if (base > 0 && base < 4 && all_hex(spec, base) && dsync_timespec_parse(&when, spec, (int64_t)time(NULL)) < 0)
		return dsync_error_set(DSYNC_EUSAGE, "'%s' is too short for a snapshot id; give at least 4 hex digits", q);
	/* a whole id is taken as it is: any commit in the store (another
	 * device's head included) */
	if (hexid && base < GIT_OID_HEXSZ) {
		if ((error = resolve_short_id(&oid, &found, f->repo, spec, base, spec)) < 0)
			goto out;
		if (found) {
			char hex[DSYNC_OID_HEX_SIZE];

			git_oid_tostr(hex, sizeof(hex), &oid);
			if ((error = dsync_buf_printf(&full, "%s%s", hex, spec + base)) < 0)
				goto out;
			spec = full.ptr;
		} else if (dsync_timespec_parse(&when, spec, (int64_t)time(NULL)) < 0) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "no snapshot has the id '%s'; 'dsync log' lists them", q);
			goto out;
		}
	}
	err = git_revparse_single(&obj, f->repo, spec);
	if (err == 0) {
		if ((err = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT)) < 0) {
			error = dsync_error_set(DSYNC_ENOTFOUND, "'%s' is not a snapshot", q);
			goto out;
		}
		git_oid_tostr(out, DSYNC_OID_HEX_SIZE, git_object_id(peeled));
		error = 0;
		goto out;
	}
	if (err == GIT_EAMBIGUOUS) {
		error = dsync_error_set(DSYNC_EUSAGE, "'%s' matches more than one snapshot; give more digits", q);
		goto out;
	}
	if (strcmp(spec, "HEAD") == 0) {
		/* none yet, or a damaged history */
		if ((error = dsync_history_head(&oid, f->repo)) == 0)
			error = dsync_error_set(DSYNC_ENOTFOUND, "there is no snapshot yet; run 'dsync snapshot'");
		goto out;
	}
	if (spec[base] && base > 0 && (error = past_history(f->repo, spec, base, q)) < 0)
		goto out;
	if (hexid && !spec[base] && dsync_timespec_parse(&when, spec, (int64_t)time(NULL)) < 0) {
		error = dsync_error_set(DSYNC_ENOTFOUND, "no snapshot has the id '%s'; 'dsync log' lists them", q);
		goto out;
	}
	/* neither a snapshot nor a time: a bad argument, as a bad --since is */
	if (dsync_timespec_parse(&when, spec, (int64_t)time(NULL)) < 0) {
		error = dsync_error_set(DSYNC_EUSAGE,
			"unknown version '%s'; give a snapshot id (from 'dsync log'), HEAD~N, or a time such as '2 hours ago'",
			q);
		goto out;
	}
	error = snapshot_at(out, f->repo, when, q);
out:
	git_object_free(obj);
	git_object_free(peeled);
	dsync_buf_dispose(&full);
	return error;
}

int dsync_history_when(int64_t *out, dsync_folder *f, const char *spec)
{
	size_t base = strcspn(spec, "~^");
	/* a time is a time; an id (hex digits), HEAD and anything with ~N or
	 * ^N is a version; else the time's error says what is wrong */
	bool version = (base > 0 && all_hex(spec, base)) || spec[base] || strcmp(spec, "HEAD") == 0;
	char hex[DSYNC_OID_HEX_SIZE];
	git_oid oid;
	git_commit *c = NULL;
	int err, error = 0;

	if (!(base >= 4 && all_hex(spec, base)) && (error = dsync_timespec_parse(out, spec, (int64_t)time(NULL))) == 0)
		return 0;
	if (!version)
		return error;
	if ((error = dsync_history_resolve(hex, f, spec)) < 0)
		return error;
	git_oid_fromstr(&oid, hex);
	if ((err = git_commit_lookup(&c, f->repo, &oid)) < 0)
		return dsync_error_git(err, "cannot read the version %.8s", hex);
	*out = (int64_t)git_commit_time(c);
	git_commit_free(c);
	return 0;
}

