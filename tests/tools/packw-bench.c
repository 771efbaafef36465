/*
 * packw-bench: what writing objects into a local pack (core/base/packw.h)
 * costs, against libgit2's loose objects, on real files.
 *
 *   packw-bench pack|loose GITDIR CHUNK < LIST
 *
 * LIST: one file a line; each is read whole and cut into objects of CHUNK
 * bytes (0: the file is one object), as dsync's chunk blobs (32768) or
 * small files are.  GITDIR: a bare repository, made when missing.  "pack"
 * prepares (hashes and compresses) each object, adds it to one pack and
 * commits it; "loose" writes each with git_odb_write().  Prints the bytes
 * in, the objects, and the seconds of CPU of this process for prepare
 * (pack only) and in all (reading the files included); the sizes on disk
 * are `du` of GITDIR/objects.  Exit 0, or 1 with a line on stderr.
 */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsync/common.h"
#include "core/base/internal.h"
#include "core/base/packw.h"

static double cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *b = NULL;
	long n;

	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (b = malloc(n ? (size_t)n : 1)) != NULL)
		*len = fread(b, 1, (size_t)n, fp);
	fclose(fp);
	return b;
}

static int fail(const char *what)
{
	fprintf(stderr, "packw-bench: %s: %s\n", what, dsync_error_last());
	return 1;
}

int main(int argc, char **argv)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	dsync_packw *w = NULL;
	dsync_packw_obj o = { 0 };
	double t0, t, prep = 0;
	size_t in = 0, z = 0, objs = 0, chunk;
	char line[4096];
	bool pack;

	if (argc != 4 || (strcmp(argv[1], "pack") && strcmp(argv[1], "loose"))) {
		fprintf(stderr, "usage: packw-bench pack|loose GITDIR CHUNK < LIST\n");
		return 1;
	}
	pack = !strcmp(argv[1], "pack");
	chunk = strtoul(argv[3], NULL, 10);
	if (dsync_lib_init() < 0 || dsync_lib_git_init() < 0 || git_repository_init(&repo, argv[2], 1) < 0 ||
	    git_repository_odb(&odb, repo) < 0)
		return fail("cannot open the repository");
	if (pack && dsync_packw_open(&w, odb, argv[2], 0) < 0)
		return fail("cannot open a pack");
	t0 = cpu();
	while (fgets(line, sizeof(line), stdin)) {
		size_t n = 0, off = 0;
		unsigned char *b;

		line[strcspn(line, "\n")] = '\0';
		if ((b = slurp(line, &n)) == NULL)
			continue;
		do {
			size_t len = chunk && n - off > chunk ? chunk : n - off;
			git_oid id;

			if (pack) {
				t = cpu();
				if (dsync_packw_prepare(&o, GIT_OBJECT_BLOB, b + off, len) < 0)
					return fail("cannot prepare");
				prep += cpu() - t;
				z += o.zlen;
				if (dsync_packw_add(w, &o) < 0)
					return fail("cannot add");
			} else if (git_odb_write(&id, odb, b + off, len, GIT_OBJECT_BLOB) < 0) {
				return fail("cannot write");
			}
			in += len;
			objs++;
			off += len;
		} while (off < n);
		free(b);
	}
	if (pack && dsync_packw_commit(w) < 0)
		return fail("cannot commit");
	t = cpu() - t0;
	printf("%s: %zu objects, %.1f MB", argv[1], objs, (double)in / 1e6);
	if (pack)
		printf(" -> %.1f MB (%.1f%%); prepare %.2f s CPU = %.0f MB/s", (double)z / 1e6,
		       in ? 100.0 * (double)z / (double)in : 0, prep, prep > 0 ? (double)in / 1e6 / prep : 0);
	printf("; in all %.2f s CPU = %.0f MB/s\n", t, t > 0 ? (double)in / 1e6 / t : 0);
	dsync_packw_free(w);
	dsync_packw_obj_dispose(&o);
	git_odb_free(odb);
	git_repository_free(repo);
	return 0;
}
