/*
 * ssh addresses (docs/sftp.md section 1): which strings are ssh addresses by
 * git's rule, every accepted form with its host, user, port, path and
 * normalised URL, and the refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/sftp_url.h"

static void ok(const char *in, const char *user, const char *host, int port, const char *path, const char *url,
	       const char *label)
{
	dsync_sftp_url u, again;

	if (dsync_sftp_url_parse(in, &u) != 0)
		fail_msg("'%s': %s", in, dsync_error_last());
	assert_string_equal(u.user, user);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	assert_string_equal(u.path, path);
	assert_string_equal(u.url, url);
	assert_string_equal(u.label, label);
	/* the normalised form reads back as the same place */
	assert_int_equal(dsync_sftp_url_parse(u.url, &again), 0);
	assert_string_equal(again.user, u.user);
	assert_string_equal(again.host, u.host);
	assert_int_equal(again.port, u.port);
	assert_string_equal(again.path, u.path);
	assert_string_equal(again.url, u.url);
}

static void refused(const char *in, const char *words)
{
	dsync_sftp_url u;

	assert_int_equal(dsync_sftp_url_parse(in, &u), DSYNC_EUSAGE);
	if (!strstr(dsync_error_last(), words))
		fail_msg("'%s': '%s' does not say '%s'", in, dsync_error_last(), words);
	assert_null(strchr(dsync_error_last(), '\n'));
	assert_string_equal(u.host, "");
}

static void test_is_ssh(void **state)
{
	(void)state;
	assert_true(dsync_sftp_url_is_ssh("sftp://nas/x"));
	assert_true(dsync_sftp_url_is_ssh("SFTP://nas/x"));
	assert_true(dsync_sftp_url_is_ssh("ssh://nas/x"));
	assert_true(dsync_sftp_url_is_ssh("nas:x"));
	assert_true(dsync_sftp_url_is_ssh("nas:"));
	assert_true(dsync_sftp_url_is_ssh("ann@nas.local:dsync/docs"));
	assert_true(dsync_sftp_url_is_ssh("nas:/srv/x"));
	assert_true(dsync_sftp_url_is_ssh("[::1]:x"));
	assert_true(dsync_sftp_url_is_ssh("a b:x")); /* refused by the parser, with the ./ hint */
	/* local: no colon, or a slash before the first colon */
	assert_false(dsync_sftp_url_is_ssh("docs"));
	assert_false(dsync_sftp_url_is_ssh("/srv/x"));
	assert_false(dsync_sftp_url_is_ssh("./a:b"));
	assert_false(dsync_sftp_url_is_ssh("/mnt/usb/a:b"));
	assert_false(dsync_sftp_url_is_ssh("dir/a:b"));
	assert_false(dsync_sftp_url_is_ssh(""));
	/* other schemes */
	assert_false(dsync_sftp_url_is_ssh("file:///srv/x"));
	assert_false(dsync_sftp_url_is_ssh("https://relay/x"));
	assert_false(dsync_sftp_url_is_ssh("git+ssh://h/x"));
}

static void test_url_forms(void **state)
{
	(void)state;
	ok("sftp://ann@nas.local:2222/srv/dsync/docs", "ann", "nas.local", 2222, "/srv/dsync/docs",
	   "sftp://ann@nas.local:2222/srv/dsync/docs", "ann@nas.local:2222");
	ok("sftp://pi/~/dsync/docs", "", "pi", 0, "dsync/docs", "sftp://pi/~/dsync/docs", "pi");
	ok("ssh://ann@nas.local:2222/srv/dsync/docs", "ann", "nas.local", 2222, "/srv/dsync/docs",
	   "sftp://ann@nas.local:2222/srv/dsync/docs", "ann@nas.local:2222");
	ok("ssh://pi/~/dsync", "", "pi", 0, "dsync", "sftp://pi/~/dsync", "pi");
	/* the login folder itself, and the root */
	ok("sftp://pi", "", "pi", 0, "", "sftp://pi/~/", "pi");
	ok("sftp://pi/~", "", "pi", 0, "", "sftp://pi/~/", "pi");
	ok("sftp://pi/~/", "", "pi", 0, "", "sftp://pi/~/", "pi");
	ok("sftp://pi/", "", "pi", 0, "/", "sftp://pi/", "pi");
	/* repeated and trailing slashes */
	ok("sftp://pi//srv//x/", "", "pi", 0, "/srv/x", "sftp://pi/srv/x", "pi");
	/* %XX decoded in the user and the path; %, space and non-ASCII encoded back */
	ok("sftp://a%40b@h/my%20docs/%C3%A9t%C3%A9", "a@b", "h", 0, "/my docs/\xc3\xa9t\xc3\xa9",
	   "sftp://a%40b@h/my%20docs/%C3%A9t%C3%A9", "a@b@h");
	ok("sftp://h/a%2Fb", "", "h", 0, "/a/b", "sftp://h/a/b", "h");
	ok("sftp://h/100%25", "", "h", 0, "/100%", "sftp://h/100%25", "h");
	ok("sftp://h/a%3Fb", "", "h", 0, "/a?b", "sftp://h/a%3Fb", "h");
	/* only a '~' as written means the login folder: %7E is a name */
	ok("sftp://h/%7E/x", "", "h", 0, "/~/x", "sftp://h/%7E/x", "h");
	ok("sftp://h/%7Eann/x", "", "h", 0, "/~ann/x", "sftp://h/%7Eann/x", "h");
	ok("sftp://h/~/%7E", "", "h", 0, "~", "sftp://h/~/~", "h");
	ok("sftp://h/~/%2Fetc", "", "h", 0, "etc", "sftp://h/~/etc", "h");
	/* IPv6 */
	ok("sftp://[::1]:2222/x", "", "::1", 2222, "/x", "sftp://[::1]:2222/x", "[::1]:2222");
	ok("sftp://ann@[fe80::1%eth0]/~/x", "ann", "fe80::1%eth0", 0, "x", "sftp://ann@[fe80::1%eth0]/~/x",
	   "ann@[fe80::1%eth0]");
	ok("sftp://h:22/x", "", "h", 22, "/x", "sftp://h:22/x", "h:22");
	ok("sftp://h:65535/x", "", "h", 65535, "/x", "sftp://h:65535/x", "h:65535");
}

static void test_scp_form(void **state)
{
	(void)state;
	ok("ann@nas.local:dsync/docs", "ann", "nas.local", 0, "dsync/docs", "sftp://ann@nas.local/~/dsync/docs",
	   "ann@nas.local");
	ok("nas:/srv/x", "", "nas", 0, "/srv/x", "sftp://nas/srv/x", "nas");
	ok("nas:", "", "nas", 0, "", "sftp://nas/~/", "nas");
	ok("nas:~", "", "nas", 0, "", "sftp://nas/~/", "nas");
	ok("nas:~/x", "", "nas", 0, "x", "sftp://nas/~/x", "nas");
	ok("nas:/", "", "nas", 0, "/", "sftp://nas/", "nas");
	/* nothing is decoded in the scp form */
	ok("nas:a%20b c", "", "nas", 0, "a%20b c", "sftp://nas/~/a%2520b%20c", "nas");
	ok("nas:x:y", "", "nas", 0, "x:y", "sftp://nas/~/x:y", "nas");
	ok("[::1]:x", "", "::1", 0, "x", "sftp://[::1]/~/x", "[::1]");
	ok("ann@[fe80::1%eth0]:x", "ann", "fe80::1%eth0", 0, "x", "sftp://ann@[fe80::1%eth0]/~/x", "ann@[fe80::1%eth0]");
	ok("friend@127.0.0.1:store", "friend", "127.0.0.1", 0, "store", "sftp://friend@127.0.0.1/~/store",
	   "friend@127.0.0.1");
	ok("a_b-c.d:x", "", "a_b-c.d", 0, "x", "sftp://a_b-c.d/~/x", "a_b-c.d");
	/* one slash is no URL: the scp form, with an absolute path */
	ok("sftp:/~/pi", "", "sftp", 0, "/~/pi", "sftp://sftp/%7E/pi", "sftp");
	ok("h:/~x", "", "h", 0, "/~x", "sftp://h/%7Ex", "h");
	ok("h:~/~x", "", "h", 0, "~x", "sftp://h/~/~x", "h");
}

static void test_refused(void **state)
{
	(void)state;
	/* hostile hosts and users */
	refused("-oProxyCommand=x:y", "can't start with '-'");
	refused("ssh://-oProxyCommand=x/y", "can't start with '-'");
	refused("sftp://-h/x", "can't start with '-'");
	refused("-ann@h:x", "can't start with '-'");
	refused("sftp://-ann@h/x", "can't start with '-'");
	refused("sftp://%2Dann@h/x", "can't start with '-'");
	/* ~user */
	refused("h:~ann/x", "only ~/ is supported");
	refused("sftp://h/~ann/x", "only ~/ is supported");
	refused("h:~ann", "only ~/ is supported");
	/* control bytes, raw or decoded */
	refused("sftp://h/a%0Ab", "control character");
	refused("sftp://h/a%00b", "control character");
	refused("sftp://a%01@h/x", "control character");
	refused("h:a\tb", "control character");
	refused("h:a\x7f", "control character");
	refused("sftp://h/a\nb", "control character");
	/* bad %-escapes */
	refused("sftp://h/a%2", "bad %-escape");
	refused("sftp://h/a%zz", "bad %-escape");
	/* ports */
	refused("sftp://h:0/x", "bad port");
	refused("sftp://h:65536/x", "bad port");
	refused("sftp://h:99999999999/x", "bad port");
	refused("sftp://h:/x", "bad port");
	refused("sftp://h:22x/x", "bad port");
	refused("sftp://h:-1/x", "bad port");
	/* no host */
	refused("sftp:///x", "no host");
	refused("sftp://ann@/x", "no host");
	refused(":x", "no host");
	/* neither a local path nor an ssh address */
	refused("a b:x", "write ./a b:x for a local name");
	refused("a@b@c:x", "neither a local path nor an ssh address");
	refused("h!x:y", "neither a local path nor an ssh address");
	refused("@h:x", "neither a local path nor an ssh address");
	refused("sftp://h!x/y", "the host may hold only");
	refused("sftp://a:pw@h/x", "password");
	refused("sftp://@h/x", "empty user");
	/* brackets hold IPv6 only */
	refused("[nas]:x", "IPv6");
	refused("sftp://[::1/x", "IPv6");
	refused("sftp://[g::1]/x", "IPv6");
	/* not ssh at all */
	refused("file:///x", "not an sftp:// or ssh:// address");
	refused("/srv/x", "local path");
	refused("./a:b", "local path");
}

static void test_long(void **state)
{
	char in[6000];
	dsync_sftp_url u;

	(void)state;
	memset(in, 'a', sizeof(in));
	memcpy(in, "h:", 2);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(dsync_sftp_url_parse(in, &u), DSYNC_EUSAGE);
	memcpy(in, "sftp://h/", 9);
	assert_int_equal(dsync_sftp_url_parse(in, &u), DSYNC_EUSAGE);
	memset(in, 'a', sizeof(in));
	in[300] = ':';
	in[301] = '\0';
	assert_int_equal(dsync_sftp_url_parse(in, &u), DSYNC_EUSAGE);
	/* a path that fits but whose encoded form does not */
	memset(in, ' ', sizeof(in));
	memcpy(in, "h:", 2);
	in[4000] = '\0';
	assert_int_equal(dsync_sftp_url_parse(in, &u), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_ssh),
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_scp_form),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
