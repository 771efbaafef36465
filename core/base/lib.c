/*
 * Starting and stopping the library: libsodium at dsync_lib_init(), libgit2
 * on first use, sealed from the user's git config.
 */
#include "core/base/internal.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>

static int lib_inited;
static bool git_inited;

int dsync_lib_init(void)
{
	if (lib_inited++)
		return 0;
	if (sodium_init() < 0)
		return dsync_error_set(DSYNC_ERROR, "cannot initialise libsodium");
	return 0;
}

int dsync_lib_git_init(void)
{
	static const int levels[] = { GIT_CONFIG_LEVEL_SYSTEM,
				      GIT_CONFIG_LEVEL_XDG,
				      GIT_CONFIG_LEVEL_GLOBAL,
				      GIT_CONFIG_LEVEL_PROGRAMDATA };
	size_t i;
	int err;

	if (git_inited)
		return 0;
	/* libgit2's start-up parses the system's TLS certificates (a few ms):
	 * done only when a command needs the history, not for an unchanged
	 * snapshot */
	if ((err = git_libgit2_init()) < 0)
		return dsync_error_git(err, "cannot initialise libgit2");
	git_inited = true;
	/* sealed off from the user's git setup: no system, XDG or global config */
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if ((err = git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i], "")) < 0)
			return dsync_error_git(err, "cannot seal git config");
	}
	/* the objects dsync writes are its own: skip libgit2's re-validation */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	/* but every object read is hashed (libgit2's default, relied on by
	 * dsync check and every fetch): a damaged object is never used */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
	/* durability is handled by dsync itself: one syncfs before a ref moves */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	/* the folder belongs to whoever runs dsync on it (root in CI, too) */
	git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
	/* packs are read through mapped windows: libgit2's defaults (1 GiB
	 * windows, 8 GiB in all) let a restore of a 250 MB pack keep all of it
	 * mapped, and every page read counts in the process's memory; 16 MiB
	 * windows, 32 MiB in all, keep that bounded at a cost of a few mmaps */
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)16 << 20);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)32 << 20);
	return 0;
}

void dsync_lib_shutdown(void)
{
	if (lib_inited && --lib_inited == 0 && git_inited) {
		git_libgit2_shutdown();
		git_inited = false;
	}
}

int64_t dsync_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dsync_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	if (ms <= 0)
		return;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int dsync_thread_count(int max)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("DSYNC_THREADS");

	if (env && *env)
		n = strtol(env, NULL, 10);
	return n < 1 ? 1 : n > max ? max : (int)n;
}

#ifdef DSYNC_TESTING
int64_t dsync_test_knob(const char *name, int64_t dflt)
{
	const char *g = getenv(name);
	char *end;
	long long v;

	if (!g || !*g)
		return dflt;
	errno = 0;
	v = strtoll(g, &end, 10);
	if (v >= 0 && v < ((long long)1 << 30) && (*end == 'K' || *end == 'M' || *end == 'G')) {
		v = v << (*end == 'K' ? 10 : *end == 'M' ? 20 : 30);
		end++;
	}
	return errno == 0 && end != g && *end == '\0' && v >= 0 && v < ((long long)1 << 40) ? v : dflt;
}
#endif
