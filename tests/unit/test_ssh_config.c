/*
 * The built-in SSH client's reading of OpenSSH's files
 * (transport/ssh_config.h): Host patterns with '*', '?' and negation, the
 * first value winning, IdentityFile adding up, Match blocks skipped,
 * options the client ignores noted only when their block matches, tokens;
 * and known_hosts files made by ssh-keygen itself: the key types probed
 * for a host (plain, hashed, [host]:port), @revoked split off and matched
 * (wildcards too), @cert-authority skipped, a changed key told apart, and a
 * line we append (plain and hashed) read back by ssh-keygen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh2.h>
#include <sodium.h>

#include "dsync/common.h"
#include "transport/known_hosts.h"
#include "transport/ssh_config.h"

static char dir[256];

static void run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_patterns(void **state)
{
	(void)state;
	assert_true(dsync_ssh_config_pattern_match("*", "nas.local"));
	assert_true(dsync_ssh_config_pattern_match("*.local", "nas.local"));
	assert_true(dsync_ssh_config_pattern_match("NAS.*", "nas.local"));
	assert_true(dsync_ssh_config_pattern_match("n?s", "nas"));
	assert_false(dsync_ssh_config_pattern_match("n?s", "nas2"));
	assert_true(dsync_ssh_config_pattern_match("1*.*.*.*", "127.0.0.1"));
	assert_false(dsync_ssh_config_pattern_match("*.lan", "nas.local"));
	assert_true(dsync_ssh_config_pattern_match("**a*", "xxa"));
	assert_false(dsync_ssh_config_pattern_match("", "a"));

	assert_true(dsync_ssh_config_host_match("pi nas", "nas"));
	assert_true(dsync_ssh_config_host_match("*.local !pi.local", "nas.local"));
	assert_false(dsync_ssh_config_host_match("*.local !pi.local", "pi.local"));
	/* a negation alone matches nothing */
	assert_false(dsync_ssh_config_host_match("!pi", "nas"));
	assert_false(dsync_ssh_config_host_match("", "nas"));
}

static const char config[] =
	"# a comment\n"
	"IdentitiesOnly yes\n"
	"Host pi *.lan\n"
	"  HostName 192.0.2.9\n"
	"  Port 2200\n"
	"Host nas !nas.lan\n"
	"  HostName=nas.example.org\n"
	"  User ann\n"
	"  IdentityFile ~/.ssh/id_nas\n"
	"  UserKnownHostsFile \"~/.ssh/known hosts\" %d/kh2\n"
	"  ProxyJump jump.example.org\n"
	"Match host nas exec \"true\"\n"
	"  User mallory\n"
	"  Port 1\n"
	"Host *\n"
	"  User bob\n"
	"  Port 2222\n"
	"  IdentityFile ~/.ssh/id_%h_%r_%p\n"
	"  UserKnownHostsFile /ignored\n"
	"  HashKnownHosts yes\n"
	"  ProxyCommand none\n";

static void test_parse(void **state)
{
	dsync_ssh_config c;

	(void)state;
	dsync_ssh_config_init(&c);
	assert_int_equal(dsync_ssh_config_parse(&c, config, sizeof(config) - 1, "nas", "cfg"), 0);
	assert_string_equal(c.hostname, "nas.example.org");
	assert_string_equal(c.user, "ann");          /* the first value wins... */
	assert_int_equal(c.port, 2222);              /* ...from whichever block */
	assert_int_equal(c.identities_only, 1);      /* before any Host: for all */
	assert_int_equal(c.identity_files.size, 2);  /* IdentityFile adds up */
	assert_string_equal(c.identity_files.ptr[0], "~/.ssh/id_nas");
	assert_int_equal(c.user_known_hosts.size, 2);
	assert_string_equal(c.user_known_hosts.ptr[0], "~/.ssh/known hosts");
	assert_int_equal(c.hash_known_hosts, 1);
	/* the first ignored option of a matching block is noted */
	assert_string_equal(c.ignored, "ProxyJump");
	assert_string_equal(c.ignored_file, "cfg");

	/* tokens, after the URL's user and port win */
	assert_int_equal(dsync_ssh_config_finish(&c, "nas", "carl", 0, "/home/x", "xu"), 0);
	assert_string_equal(c.user, "carl");
	assert_int_equal(c.port, 2222);
	assert_string_equal(c.identity_files.ptr[0], "/home/x/.ssh/id_nas");
	assert_string_equal(c.identity_files.ptr[1], "/home/x/.ssh/id_nas.example.org_carl_2222");
	assert_false(c.identity_files_default);
	assert_string_equal(c.user_known_hosts.ptr[0], "/home/x/.ssh/known hosts");
	assert_string_equal(c.user_known_hosts.ptr[1], "/home/x/kh2");
	assert_int_equal(c.global_known_hosts.size, 2);
	dsync_ssh_config_dispose(&c);

	/* another host: the pi block, negation keeps nas.lan out of nas's */
	dsync_ssh_config_init(&c);
	assert_int_equal(dsync_ssh_config_parse(&c, config, sizeof(config) - 1, "nas.lan", "cfg"), 0);
	assert_string_equal(c.hostname, "192.0.2.9");
	assert_int_equal(c.port, 2200);
	assert_string_equal(c.user, "bob");
	/* Match blocks are skipped, and noted (we cannot tell if they apply) */
	assert_string_equal(c.ignored, "Match");
	assert_int_equal(dsync_ssh_config_finish(&c, "nas.lan", "", 2022, "/h", "me"), 0);
	assert_int_equal(c.port, 2022);
	assert_string_equal(c.user, "bob");
	assert_string_equal(c.identity_files.ptr[0], "/h/.ssh/id_192.0.2.9_bob_2022");
	dsync_ssh_config_dispose(&c);

	/* nothing set: OpenSSH's defaults */
	dsync_ssh_config_init(&c);
	assert_int_equal(dsync_ssh_config_parse(&c, "", 0, "h", "cfg"), 0);
	assert_int_equal(dsync_ssh_config_finish(&c, "h", NULL, 0, "/h", "me"), 0);
	assert_string_equal(c.hostname, "h");
	assert_string_equal(c.user, "me");
	assert_int_equal(c.port, 22);
	assert_true(c.identity_files_default);
	assert_string_equal(c.identity_files.ptr[0], "/h/.ssh/id_ed25519");
	assert_string_equal(c.identity_files.ptr[1], "/h/.ssh/id_ecdsa");
	assert_string_equal(c.user_known_hosts.ptr[0], "/h/.ssh/known_hosts");
	assert_string_equal(c.ignored, "");
	dsync_ssh_config_dispose(&c);
}

static void test_parse_errors(void **state)
{
	static const char bad_port[] = "Host *\n Port 70000\n";
	static const char bad_quote[] = "Host *\n IdentityFile \"~/x\n";
	static const char bad_token[] = "IdentityFile ~/.ssh/id_%z\n";
	static const char other_host[] = "Host pi\n ProxyJump j\n CertificateFile c\n";
	dsync_ssh_config c;

	(void)state;
	dsync_ssh_config_init(&c);
	assert_int_equal(dsync_ssh_config_parse(&c, bad_port, sizeof(bad_port) - 1, "h", "cfg"), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "cfg line 2"));
	assert_int_equal(dsync_ssh_config_parse(&c, bad_quote, sizeof(bad_quote) - 1, "h", "cfg"), DSYNC_EUSAGE);
	assert_int_equal(dsync_ssh_config_parse(&c, bad_token, sizeof(bad_token) - 1, "h", "cfg"), 0);
	assert_int_equal(dsync_ssh_config_finish(&c, "h", NULL, 0, "/h", "me"), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "%z"));
	dsync_ssh_config_dispose(&c);
	/* options of a block that does not match are not noted */
	dsync_ssh_config_init(&c);
	assert_int_equal(dsync_ssh_config_parse(&c, other_host, sizeof(other_host) - 1, "nas", "cfg"), 0);
	assert_string_equal(c.ignored, "");
	dsync_ssh_config_dispose(&c);
}

/* The raw key of the .pub file PATH into KEY (*LEN bytes). */
static void raw_key(const char *path, unsigned char *key, size_t *len)
{
	char text[4096], *b64, *end;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	b64 = strchr(text, ' ') + 1;
	end = strchr(b64, ' ');
	if (!end)
		end = b64 + strcspn(b64, "\n");
	assert_int_equal(sodium_base642bin(key, 2048, b64, (size_t)(end - b64), NULL, len, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
}

static void pub_line(char *out, size_t size, const char *host, const char *pub)
{
	char text[2048], *sp;
	FILE *f = fopen(pub, "r");

	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	/* type and key, without the comment */
	sp = strchr(strchr(text, ' ') + 1, ' ');
	if (sp)
		*sp = '\0';
	text[strcspn(text, "\n")] = '\0';
	snprintf(out, size, "%s %s\n", host, text);
}

static void test_known_hosts(void **state)
{
	dsync_ssh_known_hosts kh = DSYNC_SSH_KNOWN_HOSTS_INIT;
	LIBSSH2_SESSION *s;
	unsigned char ed[2048], ec[2048], rsa[2048], other[2048];
	size_t edl, ecl, rsal, otherl;
	char path[512], path2[512], file[16384], line[4096], pref[200];
	char *paths[3];
	const char *which;
	unsigned types;

	(void)state;
	run("ssh-keygen -q -t ed25519 -N '' -C h -f %s/ed </dev/null", dir);
	run("ssh-keygen -q -t ecdsa -N '' -C h -f %s/ec </dev/null", dir);
	run("ssh-keygen -q -t rsa -b 2048 -N '' -C h -f %s/rsa </dev/null", dir);
	run("ssh-keygen -q -t ed25519 -N '' -C h -f %s/other </dev/null", dir);
	snprintf(path, sizeof(path), "%s/ed.pub", dir);
	raw_key(path, ed, &edl);
	snprintf(path, sizeof(path), "%s/ec.pub", dir);
	raw_key(path, ec, &ecl);
	snprintf(path, sizeof(path), "%s/rsa.pub", dir);
	raw_key(path, rsa, &rsal);
	snprintf(path, sizeof(path), "%s/other.pub", dir);
	raw_key(path, other, &otherl);

	/* an OpenSSH-like file: the ed25519 key for [127.0.0.1]:2222 (to be
	 * hashed by ssh-keygen), ECDSA and RSA for nas on port 22, a
	 * cert-authority line, a revoked key for every host, and a line
	 * of a type libssh2 does not read */
	file[0] = '\0';
	snprintf(path, sizeof(path), "%s/ed.pub", dir);
	pub_line(line, sizeof(line), "[127.0.0.1]:2222", path);
	strncat(file, line, sizeof(file) - strlen(file) - 1);
	snprintf(path, sizeof(path), "%s/known_hosts", dir);
	write_file(path, file);
	run("ssh-keygen -q -H -f %s/known_hosts >/dev/null 2>&1 && rm -f %s/known_hosts.old", dir, dir);
	file[0] = '\0';
	snprintf(path, sizeof(path), "%s/ec.pub", dir);
	pub_line(line, sizeof(line), "nas,192.0.2.7", path);
	strncat(file, line, sizeof(file) - strlen(file) - 1);
	snprintf(path, sizeof(path), "%s/rsa.pub", dir);
	pub_line(line, sizeof(line), "nas", path);
	strncat(file, line, sizeof(file) - strlen(file) - 1);
	snprintf(path, sizeof(path), "%s/other.pub", dir);
	pub_line(line, sizeof(line), "@cert-authority *", path);
	strncat(file, line, sizeof(file) - strlen(file) - 1);
	pub_line(line, sizeof(line), "@revoked pi*,!pink", path);
	strncat(file, line, sizeof(file) - strlen(file) - 1);
	strncat(file, "# comment\n\nnas sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAA\n",
		sizeof(file) - strlen(file) - 1);
	snprintf(path2, sizeof(path2), "%s/known_hosts2", dir);
	write_file(path2, file);
	snprintf(path, sizeof(path), "%s/known_hosts", dir);
	paths[0] = path;
	paths[1] = path2;
	paths[2] = (char *)"/nonexistent/known_hosts";

	s = libssh2_session_init();
	assert_non_null(s);
	assert_int_equal(dsync_ssh_known_hosts_load(&kh, s, paths, 3), 0);
	assert_int_equal(kh.files.size, 2);
	assert_int_equal(kh.files.ptr[1].revoked.size, 1);

	/* the probe: the hashed ed25519 entry answers for port 2222 only */
	types = dsync_ssh_known_hosts_types(&kh, "127.0.0.1", 2222);
	assert_int_equal(types, 1u << LIBSSH2_HOSTKEY_TYPE_ED25519);
	assert_int_equal(dsync_ssh_known_hosts_types(&kh, "127.0.0.1", 22), 0);
	dsync_ssh_known_hosts_pref(pref, sizeof(pref), types);
	assert_string_equal(pref, "ssh-ed25519");
	types = dsync_ssh_known_hosts_types(&kh, "nas", 22);
	assert_int_equal(types, 1u << LIBSSH2_HOSTKEY_TYPE_ECDSA_256 | 1u << LIBSSH2_HOSTKEY_TYPE_RSA);
	dsync_ssh_known_hosts_pref(pref, sizeof(pref), types);
	assert_string_equal(pref, "ecdsa-sha2-nistp256,ssh-rsa");
	assert_int_equal(dsync_ssh_known_hosts_types(&kh, "192.0.2.7", 22), 1u << LIBSSH2_HOSTKEY_TYPE_ECDSA_256);
	assert_int_equal(dsync_ssh_known_hosts_types(&kh, "nas", 2222), 0);
	dsync_ssh_known_hosts_pref(pref, sizeof(pref), ~0u);
	assert_string_equal(pref, "ssh-ed25519,ecdsa-sha2-nistp521,ecdsa-sha2-nistp384,ecdsa-sha2-nistp256,ssh-rsa");

	/* the checks */
	assert_int_equal(dsync_ssh_known_hosts_check(&which, &kh, "127.0.0.1", 2222, (char *)ed, edl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_MATCH);
	assert_int_equal(dsync_ssh_known_hosts_check(&which, &kh, "127.0.0.1", 2222, (char *)other, otherl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_CHANGED);
	assert_string_equal(which, path);
	assert_int_equal(dsync_ssh_known_hosts_check(&which, &kh, "127.0.0.1", 2222, (char *)ec, ecl,
						     LIBSSH2_HOSTKEY_TYPE_ECDSA_256), DSYNC_SSH_KNOWN_NEW);
	assert_int_equal(dsync_ssh_known_hosts_check(&which, &kh, "nas", 22, (char *)ec, ecl,
						     LIBSSH2_HOSTKEY_TYPE_ECDSA_256), DSYNC_SSH_KNOWN_MATCH);
	assert_int_equal(dsync_ssh_known_hosts_check(&which, &kh, "nas", 22, (char *)ed, edl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_NEW);
	/* @cert-authority was skipped: other is not known for nas */
	assert_int_equal(dsync_ssh_known_hosts_check(&which, &kh, "nas", 22, (char *)other, otherl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_NEW);
	/* revoked by pattern, and the negation spares pink */
	assert_int_equal(dsync_ssh_known_hosts_check(&which, &kh, "pi", 22, (char *)other, otherl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_REVOKED);
	assert_string_equal(which, path2);
	assert_int_equal(dsync_ssh_known_hosts_check(&which, &kh, "pink", 22, (char *)other, otherl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_NEW);
	dsync_ssh_known_hosts_dispose(&kh);

	/* a revoked key that also has a normal line is still revoked */
	file[0] = '\0';
	snprintf(path, sizeof(path), "%s/ed.pub", dir);
	pub_line(line, sizeof(line), "[h]:2022", path);
	strncat(file, line, sizeof(file) - strlen(file) - 1);
	pub_line(line, sizeof(line), "@revoked [h]:2022", path);
	strncat(file, line, sizeof(file) - strlen(file) - 1);
	write_file(path2, file);
	assert_int_equal(dsync_ssh_known_hosts_load(&kh, s, paths + 1, 1), 0);
	assert_int_equal(dsync_ssh_known_hosts_check(NULL, &kh, "h", 2022, (char *)ed, edl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_REVOKED);
	assert_int_equal(dsync_ssh_known_hosts_check(NULL, &kh, "h", 22, (char *)ed, edl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_NEW);
	dsync_ssh_known_hosts_dispose(&kh);

	/* appended lines, plain and hashed, are found by us and by ssh-keygen */
	snprintf(path, sizeof(path), "%s/new/known_hosts", dir);
	assert_int_equal(dsync_ssh_known_hosts_append(path, "127.0.0.1", 2222, (char *)ed, edl,
						      LIBSSH2_HOSTKEY_TYPE_ED25519, false), 0);
	assert_int_equal(dsync_ssh_known_hosts_append(path, "nas", 22, (char *)ec, ecl,
						      LIBSSH2_HOSTKEY_TYPE_ECDSA_256, true), 0);
	run("ssh-keygen -F '[127.0.0.1]:2222' -f %s | grep -q ssh-ed25519", path);
	run("ssh-keygen -F nas -f %s | grep -q ecdsa-sha2-nistp256", path);
	run("grep -q '^|1|' %s", path);
	paths[0] = path;
	assert_int_equal(dsync_ssh_known_hosts_load(&kh, s, paths, 1), 0);
	assert_int_equal(dsync_ssh_known_hosts_check(NULL, &kh, "127.0.0.1", 2222, (char *)ed, edl,
						     LIBSSH2_HOSTKEY_TYPE_ED25519), DSYNC_SSH_KNOWN_MATCH);
	assert_int_equal(dsync_ssh_known_hosts_check(NULL, &kh, "nas", 22, (char *)ec, ecl,
						     LIBSSH2_HOSTKEY_TYPE_ECDSA_256), DSYNC_SSH_KNOWN_MATCH);
	assert_true(dsync_ssh_known_hosts_name_match("|1|", 3, "nas") == false);
	dsync_ssh_known_hosts_dispose(&kh);
	libssh2_session_free(s);
}

static void test_fingerprint(void **state)
{
	unsigned char key[2048], sha[32];
	size_t len;
	char fp[64], path[512], want[1024];
	FILE *p;

	(void)state;
	snprintf(path, sizeof(path), "%s/fp", dir);
	run("ssh-keygen -q -t ed25519 -N '' -C h -f %s </dev/null", path);
	snprintf(path, sizeof(path), "%s/fp.pub", dir);
	raw_key(path, key, &len);
	crypto_hash_sha256(sha, key, len);
	dsync_ssh_fingerprint(fp, sha);
	snprintf(want, sizeof(want), "ssh-keygen -lf %s | cut -d' ' -f2", path);
	p = popen(want, "r");
	assert_non_null(p);
	assert_non_null(fgets(want, sizeof(want), p));
	pclose(p);
	want[strcspn(want, "\n")] = '\0';
	assert_string_equal(fp, want);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/dsync-test-ssh-config.XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(dir, sizeof(dir), "%s", tmpl);
	return dsync_lib_init() < 0 || libssh2_init(0) != 0 ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_known_hosts),
		cmocka_unit_test(test_fingerprint),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
