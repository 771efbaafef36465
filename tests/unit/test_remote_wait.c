/*
 * Waiting for a remote to change (core/sync/poll.c): only a relay can tell;
 * a waiter for any other remote, or for a remote that isn't there, is
 * refused before anything is opened. The waits on a real relay are in
 * tests/e2e/t55-relay-watch.sh (two daemons).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dsync/sync.h"
#include "core/base/internal.h"
#include "sandbox.h"

static int give_pass(char **out, int kind, const char *url, void *payload)
{
	(void)kind, (void)url, (void)payload;
	*out = strdup("Vinegar-Harpsichord-31-Lantern");
	return *out ? 0 : DSYNC_ERROR;
}

static void test_url_waits(void **state)
{
	(void)state;
	assert_true(dsync_remote_url_waits("http://127.0.0.1:8080/"));
	assert_true(dsync_remote_url_waits("https://relay.example.org/dsync/"));
	assert_false(dsync_remote_url_waits("file:///srv/store"));
	assert_false(dsync_remote_url_waits("/srv/store"));
	assert_false(dsync_remote_url_waits("sftp://me@host/store"));
	assert_false(dsync_remote_url_waits("host:store"));
	assert_false(dsync_remote_url_waits(NULL));
}

static void test_refused(void **state)
{
	dsync_sync_options o = DSYNC_SYNC_OPTIONS_INIT;
	dsync_remote_waiter *w = (dsync_remote_waiter *)&w;
	dsync_folder *f = NULL;
	char dir[512], url[600];
	bool created;

	(void)state;
	sandbox_path(dir, sizeof(dir), "A");
	assert_int_equal(dsync_folder_init(&f, dir, "alpha"), 0);
	snprintf(url, sizeof(url), "file://%s/remote", sandbox_dir);
	o.passphrase = give_pass;
	if (dsync_remote_add(f, "store", url, &created, &o) != 0)
		fail_msg("remote add: %s", dsync_error_last());

	/* a store in a folder can't tell when it changes: the timer syncs it */
	assert_int_equal(dsync_remote_waiter_open(&w, f, "store", &o), DSYNC_EUSAGE);
	assert_null(w);
	assert_non_null(strstr(dsync_error_last(), "only a relay can"));
	w = (dsync_remote_waiter *)&w;
	assert_int_equal(dsync_remote_waiter_open(&w, f, "nowhere", &o), DSYNC_ENOTFOUND);
	assert_null(w);
	assert_int_equal(dsync_remote_waiter_open(&w, f, NULL, NULL), DSYNC_EUSAGE);
	dsync_remote_waiter_free(NULL);
	dsync_folder_free(f);
}

static int setup(void **state)
{
	(void)state;
	sandbox_open("remote-wait", SANDBOX_HOME | SANDBOX_LIB);
	unsetenv("DSYNC_PASSPHRASE");
	setenv("DSYNC_TEST_KDF", "min", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sandbox_close();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_waits),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
