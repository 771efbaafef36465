/*
 * The synced folder: init (DESIGN.md section 3), open, identity, the
 * per-user folder registry, and path conversion.
 */
#include "core/base/internal.h"
#include "core/folder/folder.h"
#include "core/folder/registry.h"
#include "core/folder/device.h"
#include "core/base/chunker.h"
#include "core/base/buf.h"
#include "core/base/file.h"
#include "core/base/path.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FORMAT_VERSION 1

static const char attributes_text[] =
	"# dsync: stored bytes are the file's bytes; no filter ever applies\n"
	"* -text -eol -filter -ident\n";

static int is_dsync_root(const char *dir)
{
	dsync_buf b = DSYNC_BUF_INIT;
	struct stat st;
	int found;

	if (dsync_buf_printf(&b, "%s/" DSYNC_DIR "/HEAD", dir) < 0)
		return 0;
	found = stat(b.ptr, &st) == 0 && S_ISREG(st.st_mode);
	dsync_buf_dispose(&b);
	return found;
}

/* Finds the dsync folder at or above the absolute resolved path START; *OUT
 * is its root (malloc'd) or NULL. */
static int find_root(char **out, const char *start)
{
	char *p = strdup(start);

	*out = NULL;
	if (!p)
		return dsync_error_oom();
	while (1) {
		char *slash;

		if (is_dsync_root(p)) {
			*out = p;
			return 0;
		}
		slash = strrchr(p, '/');
		if (!slash || (slash == p && p[1] == '\0'))
			break;
		if (slash == p)
			p[1] = '\0';
		else
			*slash = '\0';
	}
	free(p);
	return 0;
}


static int random_hex(char *out, size_t bytes)
{
	unsigned char raw[32];

	if (bytes > sizeof(raw))
		return dsync_error_set(DSYNC_ERROR, "id too long");
	randombytes_buf(raw, bytes);
	sodium_bin2hex(out, bytes * 2 + 1, raw, bytes);
	return 0;
}

static int write_file(const char *path, const char *text)
{
	/* O_NONBLOCK: a FIFO in its place fails at once instead of waiting
	 * for a reader */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return dsync_error_sys(e, "cannot write '%s'", path);
	}
	close(fd);
	return 0;
}

static int write_marker(const char *path, const char *folder_id)
{
	dsync_buf text = DSYNC_BUF_INIT;
	int error;

	if ((error = dsync_buf_printf(&text, "%s\n", folder_id)) == 0)
		error = write_file(path, text.ptr);
	dsync_buf_dispose(&text);
	return error;
}

/* Writes a new random chunk secret (docs/chunks.md) into CFG. */
static int new_chunk_seed(git_config *cfg)
{
	unsigned char seed[DSYNC_CHUNK_SEED_BYTES];
	char hex[2 * DSYNC_CHUNK_SEED_BYTES + 1];
	int err;

	randombytes_buf(seed, sizeof(seed));
	sodium_bin2hex(hex, sizeof(hex), seed, sizeof(seed));
	sodium_memzero(seed, sizeof(seed));
	if ((err = git_config_set_string(cfg, "dsync.chunkSeed", hex)) < 0)
		return dsync_error_git(err, "cannot write the folder's chunk secret");
	return 0;
}

int dsync_folder_chunk_seed(unsigned char *seed, dsync_folder *f)
{
	git_config *cfg = NULL;
	git_buf hex = GIT_BUF_INIT;
	size_t len = 0;
	int err, error;

	if ((error = dsync_folder_repo(f)) < 0)
		return error;
	if ((err = git_repository_config(&cfg, f->repo)) < 0)
		return dsync_error_git(err, "cannot read the config of '%s'", f->root);
	err = git_config_get_string_buf(&hex, cfg, "dsync.chunkSeed");
	if (err == GIT_ENOTFOUND) {
		/* a folder made before big files were chunked */
		git_buf_dispose(&hex);
		if ((error = new_chunk_seed(cfg)) < 0 ||
		    (err = git_config_get_string_buf(&hex, cfg, "dsync.chunkSeed")) < 0)
			goto out;
	}
	if (err < 0) {
		error = dsync_error_git(err, "cannot read the chunk secret of '%s'", f->root);
		goto out;
	}
	if (sodium_hex2bin(seed, DSYNC_CHUNK_SEED_BYTES, hex.ptr, hex.size, NULL, &len, NULL) != 0 ||
	    len != DSYNC_CHUNK_SEED_BYTES || hex.size != 2 * DSYNC_CHUNK_SEED_BYTES) {
		error = dsync_error_set(DSYNC_ECORRUPT, "'%s/" DSYNC_DIR "/config' has a bad dsync.chunkSeed", f->root);
		goto out;
	}
	error = 0;
out:
	git_buf_dispose(&hex);
	git_config_free(cfg);
	return error;
}

int dsync_folder_chunker(dsync_chunker *out, dsync_folder *f)
{
	unsigned char seed[DSYNC_CHUNK_SEED_BYTES];
	int error;

	if ((error = dsync_folder_chunk_seed(seed, f)) < 0)
		return error;
	dsync_chunker_init(out, seed);
	sodium_memzero(seed, sizeof(seed));
	return 0;
}

static int set_config(git_repository *repo, const char *device_id,
		      const char *device_name, const char *folder_id)
{
	static const struct { const char *key; const char *value; } settings[] = {
		{ "core.bare", "false" },
		{ "core.worktree", ".." },
		{ "core.autocrlf", "false" },
		{ "core.safecrlf", "false" },
		{ "core.filemode", "true" },
		{ "core.symlinks", "true" },
		{ "core.ignorecase", "false" },
		{ "core.precomposeunicode", "false" },
		{ "core.protectNTFS", "false" },
		{ "core.protectHFS", "false" },
		{ "core.logAllRefUpdates", "true" },
		{ "gc.auto", "0" },
	};
	git_config *cfg = NULL;
	size_t i;
	int err, error = 0;

	if ((err = git_repository_config(&cfg, repo)) < 0)
		return dsync_error_git(err, "cannot open the folder's config");
	for (i = 0; i < DSYNC_ARRAY_SIZE(settings) && !error; i++)
		if ((err = git_config_set_string(cfg, settings[i].key, settings[i].value)) < 0)
			error = dsync_error_git(err, "cannot set '%s'", settings[i].key);
	if (!error && (error = new_chunk_seed(cfg)) < 0)
		goto out;
	if (!error &&
	    ((err = git_config_set_int32(cfg, "dsync.formatVersion", FORMAT_VERSION)) < 0 ||
	     (err = git_config_set_string(cfg, "dsync.deviceId", device_id)) < 0 ||
	     (err = git_config_set_string(cfg, "dsync.deviceName", device_name)) < 0 ||
	     (err = git_config_set_string(cfg, "dsync.folderId", folder_id)) < 0))
		error = dsync_error_git(err, "cannot write the folder's identity");
out:
	git_config_free(cfg);
	return error;
}

static int load_identity(dsync_folder *f)
{
	git_config *cfg = NULL;
	git_buf id = GIT_BUF_INIT, name = GIT_BUF_INIT;
	int err, error = 0;

	if ((err = git_repository_config_snapshot(&cfg, f->repo)) < 0)
		return dsync_error_git(err, "cannot read the config of '%s'", f->root);
	if (git_config_get_string_buf(&id, cfg, "dsync.deviceId") < 0) {
		error = dsync_error_set(DSYNC_ECORRUPT,
			"'%s/" DSYNC_DIR "/config' has no device id (dsync.deviceId); put back a copy of that file, "
			"or join the folder's store into a new folder", f->root);
		goto out;
	}
	if (git_config_get_string_buf(&name, cfg, "dsync.deviceName") < 0) {
		/* only a name for people: the one init would pick */
		char picked[DSYNC_DEVICE_NAME_MAX + 1];

		git_error_clear();
		if ((error = dsync_device_name_pick(picked, NULL)) < 0)
			goto out;
		if (git_buf_set(&name, picked, strlen(picked)) < 0) {
			error = dsync_error_oom();
			goto out;
		}
	}
	/* a user may edit the config: a bad name must not reach a commit or a
	 * conflict copy's name */
	if ((error = dsync_device_name_check_at(name.ptr, " in " DSYNC_DIR "/config (dsync.deviceName)")) < 0)
		goto out;
	if ((f->device_id = strdup(id.ptr)) == NULL || (f->device_name = strdup(name.ptr)) == NULL)
		error = dsync_error_oom();
out:
	git_buf_dispose(&id);
	git_buf_dispose(&name);
	git_config_free(cfg);
	return error;
}

/* A handle on the folder at the resolved ROOT; its repository is opened on
 * first use (dsync_folder_repo). */
static int open_root(dsync_folder **out, const char *root)
{
	dsync_folder *f;
	dsync_buf b = DSYNC_BUF_INIT;
	int error;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return dsync_error_oom();
	f->lock = (dsync_lock)DSYNC_LOCK_INIT;
	if ((f->root = strdup(root)) == NULL) {
		error = dsync_error_oom();
		goto out;
	}
	if ((error = dsync_buf_printf(&b, "%s/" DSYNC_DIR, strcmp(root, "/") ? root : "")) < 0)
		goto out;
	f->gitdir = dsync_buf_detach(&b);
	*out = f;
	f = NULL;
	error = 0;
out:
	dsync_folder_free(f);
	return error;
}

/*
 * The files of F's history that libgit2 opens itself, with a blocking
 * open(): each must be a regular file when it exists (a FIFO would hold the
 * command, or the watcher, until a writer came).
 */
static int check_repo_files(const dsync_folder *f)
{
	static const char *const files[] = {
		"HEAD", "config", "config.worktree", "commondir", "index", "packed-refs",
		"refs/heads/main", "objects/info/alternates", "info/attributes", "info/exclude",
	};
	dsync_buf path = DSYNC_BUF_INIT;
	size_t i;
	int error = 0;

	for (i = 0; i < DSYNC_ARRAY_SIZE(files) && error == 0; i++) {
		dsync_buf_truncate(&path, 0);
		if ((error = dsync_buf_printf(&path, "%s/%s", f->gitdir, files[i])) == 0)
			error = dsync_file_check(path.ptr);
	}
	dsync_buf_dispose(&path);
	return error;
}

int dsync_folder_repo(dsync_folder *f)
{
	const char *wd;
	int err, error;

	if (f->repo)
		return 0;
	if ((error = dsync_lib_git_init()) < 0 || (error = check_repo_files(f)) < 0)
		return error;
	/* .dsync is there (that is how F was found), so "not a repository"
	 * means its objects, refs or HEAD are gone: a lost history */
	if ((err = git_repository_open_ext(&f->repo, f->gitdir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) == GIT_ENOTFOUND)
		return dsync_error_set(DSYNC_ECORRUPT, "the history of '%s' is lost: '%s' is no longer a git "
				       "repository (its objects, refs or HEAD are gone); 'dsync join URL NEW-FOLDER' "
				       "brings back the history a remote holds (the files in the folder are not affected)",
				       f->root, f->gitdir);
	if (err < 0)
		return dsync_error_git(err, "cannot open the history of '%s'", f->root);
	wd = git_repository_workdir(f->repo);
	if (!wd || strncmp(wd, f->root, strlen(f->root)) != 0) {
		error = dsync_error_set(DSYNC_ECORRUPT,
			"'%s' is not set up as dsync expects (core.worktree)", f->gitdir);
		goto fail;
	}
	if ((error = load_identity(f)) < 0)
		goto fail;
	return 0;
fail:
	git_repository_free(f->repo);
	f->repo = NULL;
	return error;
}

/* The temporary name a new .dsync is built under (the default ignore rules
 * leave ".dsync-tmp-*" out of snapshots). */
#define INIT_TMP ".dsync-tmp-init-"

static mode_t current_umask(void)
{
	mode_t m = umask(0);

	umask(m);
	return m;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes the folder PATH and everything in it (errors ignored). */
static void remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Whether PATH/NAME is a git folder an init left: its temporary name
 * (INIT_TMP and mkdtemp's six characters), a HEAD file and an objects
 * folder, untouched for a minute (a running init renames it within
 * moments).  Anything else of a similar name is the user's. */
static bool stale_init(const char *path, const char *name)
{
	dsync_buf p = DSYNC_BUF_INIT;
	struct stat dir, head, objects;
	bool yes;

	if (strlen(name) != strlen(INIT_TMP) + 6 || strncmp(name, INIT_TMP, strlen(INIT_TMP)) != 0 ||
	    lstat(path, &dir) < 0 || !S_ISDIR(dir.st_mode) || time(NULL) - dir.st_mtime < 60)
		return false;
	yes = dsync_buf_printf(&p, "%s/HEAD", path) == 0 && lstat(p.ptr, &head) == 0 && S_ISREG(head.st_mode);
	dsync_buf_truncate(&p, 0);
	yes = yes && dsync_buf_printf(&p, "%s/objects", path) == 0 && lstat(p.ptr, &objects) == 0 &&
	      S_ISDIR(objects.st_mode);
	dsync_buf_dispose(&p);
	return yes;
}

static int stale_init_cb(const char *path, const char *name, bool is_dir, void *payload)
{
	(void)payload;
	if (is_dir && stale_init(path, name))
		remove_tree(path);
	return 0;
}

/* Removes what an init killed half-way left in ROOT. */
static void remove_stale_inits(const char *root)
{
	dsync_path_walk(root, 0, stale_init_cb, NULL);
}

/* Fails when the nearest existing folder at or above the missing DIR is in a
 * dsync folder. */
static int refuse_inside(const char *dir)
{
	dsync_buf p = DSYNC_BUF_INIT;
	char *real = NULL, *root = NULL;
	int error;

	if ((error = dsync_buf_puts(&p, dir)) < 0)
		return error;
	while ((real = realpath(p.ptr, NULL)) == NULL) {
		char *slash = strrchr(p.ptr, '/');

		if (!slash) {
			dsync_buf_truncate(&p, 0);
			error = dsync_buf_puts(&p, ".");
			if (error < 0 || (real = realpath(p.ptr, NULL)) == NULL)
				goto out;
			break;
		}
		dsync_buf_truncate(&p, slash == p.ptr ? 1 : (size_t)(slash - p.ptr));
	}
	if ((error = find_root(&root, real)) < 0)
		goto out;
	if (root) {
		char q[DSYNC_QUOTE_SIZE];

		error = dsync_error_set(DSYNC_EEXISTS,
			"'%s' is inside the dsync folder '%s'; its history already covers it", dsync_quote(q, dir), root);
	}
out:
	free(real);
	free(root);
	dsync_buf_dispose(&p);
	return error;
}

int dsync_folder_init(dsync_folder **out, const char *dir, const char *device_name)
{
	return dsync_folder_init_prepared(out, dir, device_name, NULL, NULL);
}

/* Checks DIR (made when missing) as a place for a new folder: a writable
 * folder, not one already, nor inside one; its resolved path into *OUT. */
static int init_place(char **out, const char *dir)
{
	char *root = NULL, *parent_root = NULL, q[DSYNC_QUOTE_SIZE];
	struct stat st;
	int error;

	*out = NULL;
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			return dsync_error_sys(errno, "cannot use '%s'", dsync_quote(q, dir));
		/* refuse a place inside a dsync folder before creating anything */
		if ((error = refuse_inside(dir)) < 0)
			return error;
		if ((error = dsync_path_mkdirs(dir)) < 0)
			return error;
		if (stat(dir, &st) < 0)
			return dsync_error_sys(errno, "cannot use '%s'", dsync_quote(q, dir));
	}
	if (!S_ISDIR(st.st_mode))
		return dsync_error_set(DSYNC_ENOTDIR, "'%s' is not a folder", dsync_quote(q, dir));
	if ((root = realpath(dir, NULL)) == NULL)
		return dsync_error_sys(errno, "cannot use '%s'", dsync_quote(q, dir));
	if (is_dsync_root(root)) {
		error = dsync_error_set(DSYNC_EEXISTS, "'%s' is already a dsync folder", dsync_quote(q, root));
		goto out;
	}
	if ((error = find_root(&parent_root, root)) < 0)
		goto out;
	if (parent_root) {
		error = dsync_error_set(DSYNC_EEXISTS,
			"'%s' is inside the dsync folder '%s'; its history already covers it",
			dsync_quote(q, root), parent_root);
		goto out;
	}
	if (access(root, W_OK) < 0) {
		error = dsync_error_sys(errno, "cannot write to '%s'", dsync_quote(q, root));
		goto out;
	}
	/* everything init needs, before anything is made: the registry's
	 * folder (HOME) must be there or be made, and be writable */
	if ((error = dsync_folder_config_dir_ready()) < 0)
		goto out;
	*out = root;
	root = NULL;
out:
	free(root);
	free(parent_root);
	return error;
}

/* Writes into the new git directory GITDIR what git does not make: the
 * marker with FOLDER_ID, and info/attributes. */
static int fill_gitdir(const char *gitdir, const char *folder_id)
{
	dsync_buf attr = DSYNC_BUF_INIT;
	int error;

	if ((error = dsync_buf_printf(&attr, "%s/" DSYNC_MARKER, gitdir)) < 0 ||
	    (error = write_marker(attr.ptr, folder_id)) < 0)
		goto out;
	dsync_buf_truncate(&attr, 0);
	if ((error = dsync_buf_printf(&attr, "%s/info", gitdir)) < 0)
		goto out;
	if (mkdir(attr.ptr, 0777) < 0 && errno != EEXIST) {
		error = dsync_error_sys(errno, "cannot create '%s'", attr.ptr);
		goto out;
	}
	if ((error = dsync_buf_puts(&attr, "/attributes")) < 0 ||
	    (error = write_file(attr.ptr, attributes_text)) < 0)
		goto out;
	error = 0;
out:
	dsync_buf_dispose(&attr);
	return error;
}

int dsync_folder_init_prepared(dsync_folder **out, const char *dir, const char *device_name,
			       dsync_folder_prepare_cb prepare, void *payload)
{
	git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	git_repository *repo = NULL;
	char *root = NULL, host[DSYNC_DEVICE_NAME_MAX + 1];
	char device_id[33], folder_id[33], q[DSYNC_QUOTE_SIZE];
	dsync_buf gitdir = DSYNC_BUF_INIT, final = DSYNC_BUF_INIT;
	bool tmp_made = false;
	int err, error;

	*out = NULL;
	if (!dir || !*dir)
		dir = ".";
	if ((error = dsync_device_name_pick(host, device_name)) < 0)
		return error;
	device_name = host;
	if ((error = dsync_lib_git_init()) < 0)
		return error;

	if ((error = init_place(&root, dir)) < 0)
		goto out;

	/* built under a temporary name and renamed into place once complete, so
	 * that an init killed half-way leaves no half-made .dsync behind */
	remove_stale_inits(root);
	if ((error = dsync_buf_printf(&gitdir, "%s/" INIT_TMP "XXXXXX", strcmp(root, "/") ? root : "")) < 0)
		goto out;
	if (!mkdtemp(gitdir.ptr)) {
		error = dsync_error_sys(errno, "cannot write to '%s'", dsync_quote(q, root));
		goto out;
	}
	tmp_made = true;
	chmod(gitdir.ptr, 0777 & ~current_umask());
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKDIR;
	opts.initial_head = "main";
	if ((err = git_repository_init_ext(&repo, gitdir.ptr, &opts)) < 0) {
		error = dsync_error_git(err, "cannot create '%s'", gitdir.ptr);
		goto out;
	}
	if ((error = random_hex(device_id, 16)) < 0 || (error = random_hex(folder_id, 16)) < 0 ||
	    (error = set_config(repo, device_id, device_name, folder_id)) < 0)
		goto out;
	if (prepare) {
		git_config *cfg = NULL;

		if ((err = git_repository_config(&cfg, repo)) < 0) {
			error = dsync_error_git(err, "cannot open the folder's config");
			goto out;
		}
		error = prepare(cfg, payload);
		git_config_free(cfg);
		if (error < 0)
			goto out;
	}
	if ((error = fill_gitdir(gitdir.ptr, folder_id)) < 0)
		goto out;
	git_repository_free(repo);
	repo = NULL;
	if ((error = dsync_buf_printf(&final, "%s/" DSYNC_DIR, strcmp(root, "/") ? root : "")) < 0)
		goto out;
	if (rename(gitdir.ptr, final.ptr) < 0) {
		error = errno == EEXIST || errno == ENOTEMPTY
			? dsync_error_set(DSYNC_EEXISTS, "'%s' is already a dsync folder", root)
			: dsync_error_sys(errno, "cannot create '%s'", final.ptr);
		goto out;
	}
	tmp_made = false;
	if ((error = open_root(out, root)) < 0 || (error = dsync_folder_repo(*out)) < 0 ||
	    (error = dsync_folder_register(root)) < 0) {
		/* not a dsync folder after all: the next init starts afresh */
		if (rename(final.ptr, gitdir.ptr) == 0)
			tmp_made = true;
		goto out;
	}
	error = 0;
out:
	if (error < 0 && *out) {
		dsync_folder_free(*out);
		*out = NULL;
	}
	if (tmp_made)
		remove_tree(gitdir.ptr);
	dsync_buf_dispose(&final);
	git_repository_free(repo);
	free(root);
	dsync_buf_dispose(&gitdir);
	return error;
}

int dsync_folder_open(dsync_folder **out, const char *path)
{
	char *real = NULL, *root = NULL, q[DSYNC_QUOTE_SIZE];
	int error;

	*out = NULL;
	if (!path)
		path = ".";
	if ((real = realpath(path, NULL)) == NULL)
		return dsync_error_sys(errno, "cannot use '%s'", dsync_quote(q, path));
	if ((error = find_root(&root, real)) < 0)
		goto out;
	if (!root) {
		error = dsync_error_set(DSYNC_ENOTFOLDER,
			"'%s' is not in a dsync folder; run 'dsync init' there first", real);
		goto out;
	}
	error = open_root(out, root);
out:
	free(real);
	free(root);
	return error;
}

void dsync_folder_free(dsync_folder *f)
{
	if (!f)
		return;
	while (dsync_lock_held(&f->lock))
		dsync_lock_release(&f->lock);
	git_repository_free(f->repo);
	free(f->root);
	free(f->gitdir);
	free(f->device_id);
	free(f->device_name);
	free(f);
}

int dsync_folder_lock(dsync_folder *f, int wait_ms)
{
	dsync_buf path = DSYNC_BUF_INIT;
	int error;

	if (dsync_lock_held(&f->lock))
		return dsync_lock_take(&f->lock, NULL, f->root, wait_ms);
	if ((error = dsync_buf_printf(&path, "%s/dsync.lock", f->gitdir)) == 0)
		error = dsync_lock_take(&f->lock, path.ptr, f->root, wait_ms);
	dsync_buf_dispose(&path);
	return error;
}

void dsync_folder_unlock(dsync_folder *f)
{
	dsync_lock_release(&f->lock);
}

bool dsync_folder_locked(const dsync_folder *f)
{
	return dsync_lock_held(&f->lock);
}

const char *dsync_folder_root(const dsync_folder *f)
{
	return f->root;
}

const char *dsync_folder_device_id(dsync_folder *f)
{
	return dsync_folder_repo(f) == 0 ? f->device_id : "";
}

const char *dsync_folder_device_name(dsync_folder *f)
{
	return dsync_folder_repo(f) == 0 ? f->device_name : "";
}

int dsync_folder_load_ignore(dsync_ignore **out, const dsync_folder *f)
{
	dsync_ignore *ign = NULL;
	dsync_buf b = DSYNC_BUF_INIT;
	int error;

	*out = NULL;
	if ((error = dsync_ignore_new(&ign)) < 0 ||
	    (error = dsync_buf_printf(&b, "%s/.dsyncignore", f->root)) < 0 ||
	    (error = dsync_ignore_add_file(ign, b.ptr)) < 0)
		goto out;
	*out = ign;
	ign = NULL;
out:
	dsync_ignore_free(ign);
	dsync_buf_dispose(&b);
	return error;
}

int dsync_folder_sync(const dsync_folder *f)
{
	int fd = open(f->gitdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return dsync_error_sys(errno, "cannot open '%s'", f->gitdir);
	if (syncfs(fd) < 0) {
		int e = errno;

		close(fd);
		return dsync_error_sys(e, "cannot flush '%s' to disk", f->gitdir);
	}
	close(fd);
	/* stamped after the flush: every loose object older than the stamp is
	 * on disk; one written later may be a power cut's wreck, and the next
	 * write's repair reads it (dsync_folder_repair()).  Losing the stamp
	 * itself in a power cut only makes that repair read more */
	{
		dsync_buf stamp = DSYNC_BUF_INIT;

		if (dsync_buf_printf(&stamp, "%s/" DSYNC_SYNCED_STAMP, f->gitdir) == 0 &&
		    (fd = open(stamp.ptr, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666)) >= 0) {
			futimens(fd, NULL);
			close(fd);
		}
		dsync_buf_dispose(&stamp);
	}
	return 0;
}


/* Reads the folder id from the marker file PATH into OUT (33 bytes). */
static bool read_marker(const char *path, char *out)
{
	char buf[64];
	ssize_t n = dsync_path_read_small(path, buf, sizeof(buf));

	if (n < 32 + 1 || buf[32] != '\n')
		return false;
	memcpy(out, buf, 32);
	out[32] = '\0';
	return strspn(out, "0123456789abcdef") == 32;
}

int dsync_folder_marker(char *out, dsync_folder *f)
{
	dsync_buf path = DSYNC_BUF_INIT;
	git_config *cfg = NULL;
	git_buf id = GIT_BUF_INIT;
	int err, error;

	if ((error = dsync_buf_printf(&path, "%s/" DSYNC_MARKER, f->gitdir)) < 0)
		return error;
	if (read_marker(path.ptr, out)) {
		error = 0;
		goto out;
	}
	/* a folder made before the marker existed: write it from the config */
	if ((error = dsync_folder_repo(f)) < 0)
		goto out;
	if ((err = git_repository_config_snapshot(&cfg, f->repo)) < 0 ||
	    (err = git_config_get_string_buf(&id, cfg, "dsync.folderId")) < 0 ||
	    strlen(id.ptr) != 32 || strspn(id.ptr, "0123456789abcdef") != 32) {
		error = dsync_error_set(DSYNC_ECORRUPT, "'%s/" DSYNC_DIR "/config' has no folder id", f->root);
		goto out;
	}
	memcpy(out, id.ptr, 33);
	error = write_marker(path.ptr, out);
out:
	git_buf_dispose(&id);
	git_config_free(cfg);
	dsync_buf_dispose(&path);
	return error;
}

bool dsync_folder_present(const char *root, const char *folder_id)
{
	dsync_buf path = DSYNC_BUF_INIT;
	char id[33];
	bool present;

	if (dsync_buf_printf(&path, "%s/" DSYNC_DIR "/" DSYNC_MARKER, strcmp(root, "/") ? root : "") < 0)
		return false;
	present = read_marker(path.ptr, id) && strcmp(id, folder_id) == 0;
	dsync_buf_dispose(&path);
	return present;
}
