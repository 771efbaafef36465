/*
 * The S3 client's parsers (docs/remotes-s3.md): addresses (every accepted
 * form with its parts and normalised URL, the refusals, path or
 * virtual-host style), credentials and settings from the environment and
 * the AWS CLI's files (profiles, precedence, the "s3 =" block, bad
 * values), and the XML replies (listings, UploadId, Error codes, entities,
 * the scanner's refusals), and the client against a hostile server: canned
 * replies over a real socket (bodies without end, bad lengths, a Range
 * elsewhere, a redirect, looping listings, an ETag with markup).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/sandbox.h"
#include "transport/s3_client.h"
#include "transport/s3_creds.h"
#include "transport/s3_url.h"
#include "transport/s3_xml.h"

/* a literal and its length */
#define S(lit) lit, strlen(lit)

/* ---- addresses */

static void url_ok(const char *in, bool https, const char *host, int port, const char *bucket, const char *prefix,
		   const char *url)
{
	dsync_s3_addr u, again;

	if (dsync_s3_url_parse(in, &u) != 0)
		fail_msg("'%s': %s", in, dsync_error_last());
	assert_int_equal(u.https, https);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	assert_string_equal(u.bucket, bucket);
	assert_string_equal(u.prefix, prefix);
	assert_string_equal(u.url, url);
	assert_true(dsync_s3_url_is_s3(in));
	/* the normalised form reads back as the same place */
	assert_int_equal(dsync_s3_url_parse(u.url, &again), 0);
	assert_string_equal(again.url, u.url);
	assert_string_equal(again.host, u.host);
	assert_int_equal(again.port, u.port);
}

static void url_refused(const char *in, const char *words)
{
	dsync_s3_addr u;

	assert_int_equal(dsync_s3_url_parse(in, &u), DSYNC_EUSAGE);
	if (!strstr(dsync_error_last(), words))
		fail_msg("'%s': '%s' does not say '%s'", in, dsync_error_last(), words);
	assert_null(strchr(dsync_error_last(), '\n'));
	assert_string_equal(u.host, "");
	assert_string_equal(u.url, "");
}

static void test_url(void **state)
{
	(void)state;
	url_ok("s3://s3.eu-west-1.amazonaws.com/my-bucket/dsync/docs", true, "s3.eu-west-1.amazonaws.com", 0,
	       "my-bucket", "dsync/docs", "s3://s3.eu-west-1.amazonaws.com/my-bucket/dsync/docs");
	url_ok("S3+HTTP://127.0.0.1:7480/bkt/p/", false, "127.0.0.1", 7480, "bkt", "p", "s3+http://127.0.0.1:7480/bkt/p");
	url_ok("s3://Minio.Example.ORG:9000/b.u-c", true, "minio.example.org", 9000, "b.u-c", "",
	       "s3://minio.example.org:9000/b.u-c");
	url_ok("s3://[::1]:9000/bkt/a.b/c_d-e", true, "::1", 9000, "bkt", "a.b/c_d-e", "s3://[::1]:9000/bkt/a.b/c_d-e");
	url_ok("s3://h/bkt/", true, "h", 0, "bkt", "", "s3://h/bkt");
	url_ok("s3://h/bkt/.hidden/x..y", true, "h", 0, "bkt", ".hidden/x..y", "s3://h/bkt/.hidden/x..y");
	assert_false(dsync_s3_url_is_s3("http://h/x"));
	assert_false(dsync_s3_url_is_s3("s3:/h/x"));

	url_refused("s3://h", "names no bucket");
	url_refused("s3://h/", "not a bucket name");
	url_refused("s3://h/ab", "not a bucket name");
	url_refused("s3://h/Bucket", "not a bucket name");
	url_refused("s3://h/-bkt", "not a bucket name");
	url_refused("s3://h/bk..t", "not a bucket name");
	url_refused("s3://h/bk_t", "not a bucket name");
	url_refused("s3://h/xn--bkt", "not a bucket name");
	url_refused("s3://h/192.168.1.1", "IP address");
	url_refused("s3://h/bkt/../x", "a bad prefix");
	url_refused("s3://h/bkt/./x", "a bad prefix");
	url_refused("s3://h/bkt/a/..", "a bad prefix");
	url_refused("s3://h/bkt/a//b", "a bad prefix");
	url_refused("s3://h/bkt/a b", "no spaces");
	url_refused("s3://h/bkt/a%2e%2e", "'%'");
	url_refused("s3://h/bkt/a?x=1", "'?'");
	url_refused("s3://h/bkt/a#x", "'#'");
	url_refused("s3://h/bkt/a\\b", "'\\'");
	url_refused("s3://h/bkt/a\x01", "control");
	url_refused("s3://h/bkt/caf\xc3\xa9", "a bad prefix");
	url_refused("s3://key:secret@h/bkt", "no credentials");
	url_refused("s3://h:0/bkt", "a bad port");
	url_refused("s3://h:65536/bkt", "a bad port");
	url_refused("s3://h:/bkt", "a bad port");
	url_refused("s3://h:80a/bkt", "a bad port");
	url_refused("s3://-h/bkt", "a bad host name");
	url_refused("s3://h-/bkt", "a bad host name");
	url_refused("s3://h..x/bkt", "a bad host name");
	url_refused("s3://h_x/bkt", "a bad host name");
	url_refused("s3:///bkt", "a bad host name");
	url_refused("s3://[::1/bkt", "IPv6");
	url_refused("s3://[g::1]/bkt", "IPv6");
	url_refused("s3://[::1]x/bkt", "a bad host");
	url_refused("http://h/bkt", "not an S3 address");
	/* the edges: 63 and 64 characters, the last port, IPv6 forms */
	url_ok("s3://h:65535/b23456789012345678901234567890123456789012345678901234567890123", true, "h", 65535,
	       "b23456789012345678901234567890123456789012345678901234567890123", "",
	       "s3://h:65535/b23456789012345678901234567890123456789012345678901234567890123");
	url_refused("s3://h/b234567890123456789012345678901234567890123456789012345678901234", "not a bucket name");
	url_ok("s3+http://[::FFFF:127.0.0.1]:9/bkt", false, "::ffff:127.0.0.1", 9, "bkt", "",
	       "s3+http://[::ffff:127.0.0.1]:9/bkt");
	url_refused("s3://[:::::]/bkt", "IPv6");
	url_refused("s3://[1::2::3]/bkt", "IPv6");
	url_refused("s3://[::1%25lo]/bkt", "'%'");
	/* an empty folder, even last */
	url_refused("s3://h/bkt//", "a bad prefix");
	url_refused("s3://h/bkt/a//", "a bad prefix");
}

static void test_url_long(void **state)
{
	char in[1200];
	dsync_s3_addr u;

	(void)state;
	memset(in, 'a', sizeof(in));
	memcpy(in, "s3://h/bkt/", 11);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(dsync_s3_url_parse(in, &u), DSYNC_EUSAGE);
	/* a prefix of 512 is the most */
	in[11 + 513] = '\0';
	assert_int_equal(dsync_s3_url_parse(in, &u), DSYNC_EUSAGE);
	in[11 + 512] = '\0';
	assert_int_equal(dsync_s3_url_parse(in, &u), 0);
	/* a host label of 64 */
	memset(in, 'a', sizeof(in));
	memcpy(in, "s3://", 5);
	memcpy(in + 5 + 64, "/bkt", 5);
	assert_int_equal(dsync_s3_url_parse(in, &u), DSYNC_EUSAGE);
	memcpy(in + 5 + 63, "/bkt", 5);
	assert_int_equal(dsync_s3_url_parse(in, &u), 0);
}

static void style(const char *in, int st, bool path)
{
	dsync_s3_addr u;

	assert_int_equal(dsync_s3_url_parse(in, &u), 0);
	if (dsync_s3_url_path_style(&u, st) != path)
		fail_msg("'%s' style %d: path-style should be %d", in, st, path);
}

static void test_style(void **state)
{
	(void)state;
	style("s3://s3.eu-west-1.amazonaws.com/bkt/x", DSYNC_S3_STYLE_AUTO, false);
	style("s3://s3.amazonaws.com/bkt", DSYNC_S3_STYLE_AUTO, false);
	/* a dot in the bucket breaks the certificate's wildcard */
	style("s3://s3.amazonaws.com/b.kt", DSYNC_S3_STYLE_AUTO, true);
	style("s3://s3.amazonaws.com:8443/bkt", DSYNC_S3_STYLE_AUTO, true);
	style("s3://minio.lan/bkt", DSYNC_S3_STYLE_AUTO, true);
	style("s3://10.0.0.2/bkt", DSYNC_S3_STYLE_AUTO, true);
	style("s3+http://127.0.0.1:7480/bkt", DSYNC_S3_STYLE_AUTO, true);
	style("s3://minio.lan/bkt", DSYNC_S3_STYLE_VHOST, false);
	style("s3://s3.amazonaws.com/bkt", DSYNC_S3_STYLE_PATH, true);
}

/* ---- credentials */

static char dir[512];

static void put_file(const char *name, const char *text)
{
	sandbox_put(sandbox_dir, name, text);
}

static void clear_env(void)
{
	static const char *const names[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
					     "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
					     "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_CA_BUNDLE" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
	sandbox_rm_rf(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
}

static void test_creds_env(void **state)
{
	dsync_s3_creds c;

	(void)state;
	clear_env();
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EAUTH);
	assert_non_null(strstr(dsync_error_last(), "no S3 credentials"));
	dsync_s3_creds_dispose(&c);

	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "AWS_SECRET_ACCESS_KEY is not"));
	dsync_s3_creds_dispose(&c);

	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
	setenv("AWS_SESSION_TOKEN", "tok:en/=", 1);
	assert_int_equal(dsync_s3_creds_find(&c), 0);
	assert_string_equal(c.key_id, "AKIDEXAMPLE");
	assert_string_equal(c.secret, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
	assert_string_equal(c.token, "tok:en/=");
	assert_string_equal(c.region, "us-east-1");
	assert_int_equal(c.style, DSYNC_S3_STYLE_AUTO);
	assert_non_null(strstr(c.from, "environment"));
	dsync_s3_creds_dispose(&c);

	setenv("AWS_DEFAULT_REGION", "eu-central-1", 1);
	assert_int_equal(dsync_s3_creds_find(&c), 0);
	assert_string_equal(c.region, "eu-central-1");
	dsync_s3_creds_dispose(&c);
	setenv("AWS_REGION", "ap-south-2", 1);
	assert_int_equal(dsync_s3_creds_find(&c), 0);
	assert_string_equal(c.region, "ap-south-2");
	dsync_s3_creds_dispose(&c);
	setenv("AWS_REGION", "Not A Region", 1);
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EUSAGE);
	dsync_s3_creds_dispose(&c);

	/* a key with a space or a control byte, never echoed */
	unsetenv("AWS_REGION");
	setenv("AWS_SECRET_ACCESS_KEY", "sec ret", 1);
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EUSAGE);
	assert_null(strstr(dsync_error_last(), "sec ret"));
	dsync_s3_creds_dispose(&c);
	clear_env();
}

static void test_creds_files(void **state)
{
	dsync_s3_creds c;
	char path[600];

	(void)state;
	clear_env();
	put_file("home/.aws/credentials",
		 "# comment\n"
		 "[default]\n"
		 "aws_access_key_id = DEFAULTKEY\n"
		 "aws_secret_access_key=defaultsecret\r\n"
		 "\n"
		 "[work]\n"
		 "  aws_access_key_id   =   WORKKEY   \n"
		 "aws_secret_access_key = work/secret+=\n"
		 "aws_session_token = worktoken\n"
		 "[profile work]\n"
		 "aws_access_key_id = NOTTHIS\n");
	put_file("home/.aws/config",
		 "[default]\n"
		 "region = eu-west-1\n"
		 "[profile work]\n"
		 "region = us-west-2\n"
		 "ca_bundle = /etc/ssl/work.pem\n"
		 "s3 =\n"
		 "    addressing_style = path\n"
		 "    signature_version = s3v4\n"
		 "output = json\n"
		 "[work]\n"
		 "region = eu-north-1\n"
		 "[profile keysonly]\n"
		 "aws_access_key_id = CONFKEY\n"
		 "aws_secret_access_key = confsecret\n"
		 "s3 =\n"
		 "  addressing_style = virtual\n");
	assert_int_equal(dsync_s3_creds_find(&c), 0);
	assert_string_equal(c.key_id, "DEFAULTKEY");
	assert_string_equal(c.secret, "defaultsecret");
	assert_null(c.token);
	assert_string_equal(c.region, "eu-west-1");
	assert_non_null(strstr(c.from, "profile 'default'"));
	dsync_s3_creds_dispose(&c);

	setenv("AWS_PROFILE", "work", 1);
	assert_int_equal(dsync_s3_creds_find(&c), 0);
	assert_string_equal(c.key_id, "WORKKEY");
	assert_string_equal(c.secret, "work/secret+=");
	assert_string_equal(c.token, "worktoken");
	assert_string_equal(c.region, "us-west-2");
	assert_string_equal(c.ca_bundle, "/etc/ssl/work.pem");
	assert_int_equal(c.style, DSYNC_S3_STYLE_PATH);
	dsync_s3_creds_dispose(&c);

	/* keys in the config file alone */
	setenv("AWS_PROFILE", "keysonly", 1);
	assert_int_equal(dsync_s3_creds_find(&c), 0);
	assert_string_equal(c.key_id, "CONFKEY");
	assert_int_equal(c.style, DSYNC_S3_STYLE_VHOST);
	assert_string_equal(c.region, "us-east-1");
	dsync_s3_creds_dispose(&c);

	/* the environment's keys win; the profile's settings still hold */
	setenv("AWS_PROFILE", "work", 1);
	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_CA_BUNDLE", "/tmp/ca.pem", 1);
	assert_int_equal(dsync_s3_creds_find(&c), 0);
	assert_string_equal(c.key_id, "ENVKEY");
	assert_null(c.token);
	assert_string_equal(c.region, "us-west-2");
	assert_string_equal(c.ca_bundle, "/tmp/ca.pem");
	dsync_s3_creds_dispose(&c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_CA_BUNDLE");

	/* a profile nowhere */
	setenv("AWS_PROFILE", "nope", 1);
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "no profile 'nope'"));
	dsync_s3_creds_dispose(&c);

	/* other files by the environment */
	sandbox_path(path, sizeof(path), "other-creds");
	put_file("other-creds", "[nope]\naws_access_key_id = OTHER\naws_secret_access_key = othersecret\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_CONFIG_FILE", "~/missing-config", 1);
	assert_int_equal(dsync_s3_creds_find(&c), 0);
	assert_string_equal(c.key_id, "OTHER");
	assert_string_equal(c.region, "us-east-1");
	dsync_s3_creds_dispose(&c);
	clear_env();
}

static void parse_fails(const char *text, bool config, const char *words)
{
	dsync_s3_creds c = { 0 };

	assert_int_equal(dsync_s3_creds_parse(&c, text, strlen(text), "default", config, "F"), DSYNC_EUSAGE);
	if (!strstr(dsync_error_last(), words))
		fail_msg("'%s' does not say '%s'", dsync_error_last(), words);
	assert_null(strstr(dsync_error_last(), "s3cr3t"));
	dsync_s3_creds_dispose(&c);
}

/* credentials files that are not what they should be: refused with a line,
 * the process never held by them, no value ever shown */
static void test_creds_hostile(void **state)
{
	dsync_s3_creds c;
	char path[600];
	int fd;

	(void)state;
	clear_env();
	alarm(20); /* a read that blocks fails the test, not the run */
	/* a FIFO nobody writes to (open() would wait for a writer) */
	sandbox_path(path, sizeof(path), "home/.aws/fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "not a plain file"));
	dsync_s3_creds_dispose(&c);
	/* over 1 MiB: refused before it is read */
	sandbox_path(path, sizeof(path), "home/.aws/huge");
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(ftruncate(fd, (2 << 20)), 0);
	close(fd);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "at most 1 MiB"));
	dsync_s3_creds_dispose(&c);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	/* a key with a space, CRLF lines, a section never closed */
	put_file("home/.aws/credentials", "[default\r\n[default]\r\naws_access_key_id = AK ID\r\n"
		 "aws_secret_access_key = s3cr3tvalue\r\n");
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EUSAGE);
	assert_null(strstr(dsync_error_last(), "AK ID"));
	assert_null(strstr(dsync_error_last(), "s3cr3tvalue"));
	dsync_s3_creds_dispose(&c);
	/* a profile that is not there, named */
	put_file("home/.aws/credentials", "[default]\naws_access_key_id = AKID\naws_secret_access_key = s3cr3tvalue\n");
	setenv("AWS_PROFILE", "nosuch", 1);
	assert_int_equal(dsync_s3_creds_find(&c), DSYNC_EUSAGE);
	assert_non_null(strstr(dsync_error_last(), "no profile 'nosuch'"));
	dsync_s3_creds_dispose(&c);
	alarm(0);
	clear_env();
}

static void test_creds_parse(void **state)
{
	dsync_s3_creds c = { 0 };
	char big[10000];

	(void)state;
	/* no such section: 0, nothing set */
	assert_int_equal(dsync_s3_creds_parse(&c, S("[x]\nregion=a\n"), "default", true, "F"), 0);
	assert_string_equal(c.region, "");
	/* "[profile default]" is the default in the config file too */
	assert_int_equal(dsync_s3_creds_parse(&c, S("[profile default]\nregion = b-1\n"), "default", true, "F"), 1);
	assert_string_equal(c.region, "b-1");
	/* a region in the credentials file is not read */
	assert_int_equal(dsync_s3_creds_parse(&c, S("[default]\nregion = c-1\n"), "default", false, "F"), 1);
	assert_string_equal(c.region, "b-1");
	dsync_s3_creds_dispose(&c);

	parse_fails("[default]\naws_access_key_id = K\n", false, "no aws_secret_access_key");
	parse_fails("[default]\naws_secret_access_key = s3cr3t\n", false, "no aws_access_key_id");
	parse_fails("[default]\naws_access_key_id = K\naws_secret_access_key = s3cr3t x\n", false,
		    "line 3: a malformed value of 'aws_secret_access_key'");
	parse_fails("[default]\naws_access_key_id = K:x\naws_secret_access_key = s3cr3t\n", false, "line 2");
	parse_fails("[default]\nregion = EU\n", true, "'region'");
	parse_fails("[default]\ns3 =\n  addressing_style = sideways\n", true, "'addressing_style'");
	{
		static const char nul[] = "[default]\nregion = a\0b\n";

		assert_int_equal(dsync_s3_creds_parse(&c, nul, sizeof(nul) - 1, "default", true, "F"), DSYNC_EUSAGE);
		assert_non_null(strstr(dsync_error_last(), "NUL"));
		dsync_s3_creds_dispose(&c);
	}
	memset(big, 'a', sizeof(big));
	memcpy(big, "[default]\nx=", 12);
	big[sizeof(big) - 1] = '\0';
	parse_fails(big, true, "line 2 is too long");
}

/* ---- XML */

static const char list_page[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<Name>bkt</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
	"<IsTruncated>true</IsTruncated>"
	"<Contents><Key>p/packs/a&amp;b</Key><LastModified>2026-12-07T03:06:06.123Z</LastModified>"
	"<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size>"
	"<Owner><ID>x</ID><DisplayName>y</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>"
	"<Contents><Key>p/caf&#xe9;&#233;&#x1F600;</Key><LastModified>1970-01-01T00:00:01Z</LastModified>"
	"<ETag>\"abc-2\"</ETag><Size>0</Size></Contents>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
	"<!-- a comment --></ListBucketResult>\n";

static void test_xml_list(void **state)
{
	dsync_s3_xml_list l;

	(void)state;
	assert_int_equal(dsync_s3_xml_list_parse(&l, list_page, strlen(list_page)), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.truncated);
	assert_string_equal(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	assert_string_equal(l.entries[0].key, "p/packs/a&b");
	assert_int_equal(l.entries[0].obj.size, 1234);
	assert_int_equal(l.entries[0].obj.mtime, 1796612766);
	assert_string_equal(l.entries[0].obj.etag, "9b2cf535f27731c974343645a3985328");
	assert_string_equal(l.entries[1].key, "p/caf\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(l.entries[1].obj.size, 0);
	assert_int_equal(l.entries[1].obj.mtime, 1);
	assert_string_equal(l.entries[1].obj.etag, "abc-2");
	dsync_s3_xml_list_dispose(&l);

	/* an empty last page */
	assert_int_equal(dsync_s3_xml_list_parse(&l, S("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")),
			 0);
	assert_int_equal(l.n, 0);
	assert_false(l.truncated);
	assert_null(l.next_token);
	dsync_s3_xml_list_dispose(&l);
}

static void list_bad(const char *body)
{
	dsync_s3_xml_list l;

	if (dsync_s3_xml_list_parse(&l, body, strlen(body)) != DSYNC_ECORRUPT)
		fail_msg("taken: %s", body);
	assert_null(strchr(dsync_error_last(), '\n'));
	dsync_s3_xml_list_dispose(&l);
}

static void test_xml_refused(void **state)
{
	char *many;
	size_t i, at = 0;

	(void)state;
	list_bad("");
	list_bad("   ");
	list_bad("<ListBucketResult>");
	list_bad("<ListBucketResult></ListBucketResul>");
	list_bad("<ListBucketResult></ListBucketResult><ListBucketResult></ListBucketResult>");
	list_bad("<Error><Code>x</Code></Error>");
	list_bad("<!DOCTYPE x [<!ENTITY a \"b\">]><ListBucketResult></ListBucketResult>");
	list_bad("<ListBucketResult><![CDATA[x]]></ListBucketResult>");
	list_bad("<ListBucketResult>&unknown;</ListBucketResult>");
	list_bad("<ListBucketResult>&#0;</ListBucketResult>");
	list_bad("<ListBucketResult>&#xD800;</ListBucketResult>");
	list_bad("<ListBucketResult>&#x110000;</ListBucketResult>");
	list_bad("<ListBucketResult>& amp;</ListBucketResult>");
	list_bad("<ListBucketResult a=b></ListBucketResult>");
	list_bad("<ListBucketResult a=\"b></ListBucketResult>");
	list_bad("<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>");
	list_bad("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>");
	list_bad("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>");
	list_bad("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>");
	list_bad("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>");
	list_bad("<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999</Size></Contents>"
		 "</ListBucketResult>");
	list_bad("<ListBucketResult><Contents><Key>k</Key><Key>l</Key><Size>1</Size></Contents></ListBucketResult>");
	list_bad("<ListBucketResult><Contents><Key>a&#10;b</Key><Size>1</Size></Contents></ListBucketResult>");
	list_bad("<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>2026-13-01T00:00:00Z"
		 "</LastModified></Contents></ListBucketResult>");
	list_bad("<ListBucketResult><Contents><Key>k</Key><Size>1</Size><ETag>\"a\"b\"</ETag></Contents>"
		 "</ListBucketResult>");
	list_bad("<ListBucketResult><b><c><d><e><f><g><h><i><j><k><l><m><n><o><p><q></q></p></o></n></m></l></k></j>"
		 "</i></h></g></f></e></d></c></b></ListBucketResult>");
	/* 1,001 objects */
	size_t cap = 1001 * 60 + 100;

	assert_non_null(many = malloc(cap));
	at += (size_t)snprintf(many, cap, "<ListBucketResult>");
	for (i = 0; i < 1001; i++)
		at += (size_t)snprintf(many + at, cap - at, "<Contents><Key>k%zu</Key><Size>1</Size></Contents>", i);
	snprintf(many + at, cap - at, "</ListBucketResult>");
	list_bad(many);
	free(many);
	/* a text over 2,048 bytes */
	assert_non_null(many = malloc(5000));
	at = (size_t)snprintf(many, 5000, "<ListBucketResult><Name>");
	memset(many + at, 'x', 3000);
	snprintf(many + at + 3000, 5000 - at - 3000, "</Name></ListBucketResult>");
	list_bad(many);
	free(many);
}

static void test_xml_small(void **state)
{
	char id[DSYNC_S3_UPLOAD_ID_MAX + 1], code[DSYNC_S3_CODE_MAX], etag[DSYNC_S3_ETAG_MAX];
	static const char init[] = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult xmlns=\"x\"><Bucket>b</Bucket>"
				   "<Key>k</Key><UploadId>2~iCw_lDY8VoNc8vfK-F0mMV0mWBZ7UqY</UploadId>"
				   "</InitiateMultipartUploadResult>";
	time_t t;

	(void)state;
	assert_int_equal(dsync_s3_xml_upload_id(id, init, strlen(init)), 0);
	assert_string_equal(id, "2~iCw_lDY8VoNc8vfK-F0mMV0mWBZ7UqY");
	assert_int_equal(dsync_s3_xml_upload_id(id, S("<InitiateMultipartUploadResult><UploadId>a&amp;b</UploadId>"
						      "</InitiateMultipartUploadResult>")), DSYNC_ECORRUPT);
	assert_int_equal(dsync_s3_xml_upload_id(id, S("<InitiateMultipartUploadResult></InitiateMultipartUploadResult>")),
			 DSYNC_ECORRUPT);

	dsync_s3_xml_error_code(code, S("<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature "
					"&lt;we&gt; calculated</Message></Error>"));
	assert_string_equal(code, "SignatureDoesNotMatch");
	dsync_s3_xml_error_code(code, S("<Error><Code>No Such</Code></Error>"));
	assert_string_equal(code, "");
	dsync_s3_xml_error_code(code, S("<Error><Code>\x1b[31mx</Code></Error>"));
	assert_string_equal(code, "");
	dsync_s3_xml_error_code(code, S("<html>Bad Gateway</html>"));
	assert_string_equal(code, "");
	dsync_s3_xml_error_code(code, "", 0);
	assert_string_equal(code, "");
	dsync_s3_xml_error_code(code, S("<Error><Code>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</Code></Error>"));
	assert_string_equal(code, "");

	assert_int_equal(dsync_s3_xml_time(&t, S("2000-02-29T23:59:60Z")), 0);
	assert_int_equal(dsync_s3_xml_time(&t, S("2000-02-29T23:59:59.Z")), -1);
	assert_int_equal(dsync_s3_xml_time(&t, S("2000-02-29 23:59:59Z")), -1);
	assert_int_equal(dsync_s3_xml_time(&t, S("2000-02-29T23:59:59")), -1);
	assert_int_equal(dsync_s3_xml_etag(etag, S("\"\"")), 0);
	assert_string_equal(etag, "");
	assert_int_equal(dsync_s3_xml_etag(etag, S("W/\"x\"")), -1);
	/* an ETag goes back into CompleteMultipartUpload's XML: no markup */
	assert_int_equal(dsync_s3_xml_etag(etag, S("\"a</ETag><ETag>b\"")), -1);
	assert_int_equal(dsync_s3_xml_etag(etag, S("a&amp;b")), -1);
	assert_int_equal(dsync_s3_xml_etag(etag, S("\"9b2cf535f27731c974343645a3985328-12\"")), 0);
}

static void test_xml_uploads(void **state)
{
	static const char page[] =
		"<?xml version=\"1.0\"?><ListMultipartUploadsResult xmlns=\"x\"><Bucket>b</Bucket>"
		"<IsTruncated>false</IsTruncated>"
		"<Upload><Key>p/packs/a</Key><UploadId>2~abc</UploadId><Initiator><ID>t</ID></Initiator>"
		"<Initiated>2026-12-07T03:06:06.000Z</Initiated></Upload>"
		"<Upload><Key>p/x</Key><UploadId>2~def</UploadId></Upload></ListMultipartUploadsResult>";
	dsync_s3_xml_uploads u;

	(void)state;
	assert_int_equal(dsync_s3_xml_uploads_parse(&u, S(page)), 0);
	assert_int_equal(u.n, 2);
	assert_false(u.truncated);
	assert_string_equal(u.uploads[0].key, "p/packs/a");
	assert_string_equal(u.uploads[0].upload_id, "2~abc");
	assert_int_equal(u.uploads[0].initiated, 1796612766);
	assert_int_equal(u.uploads[1].initiated, 0);
	dsync_s3_xml_uploads_dispose(&u);
	assert_int_equal(dsync_s3_xml_uploads_parse(&u, S("<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
							  "</ListMultipartUploadsResult>")), DSYNC_ECORRUPT);
	dsync_s3_xml_uploads_dispose(&u);
	assert_int_equal(dsync_s3_xml_uploads_parse(&u, S("<ListMultipartUploadsResult><Upload><Key>k</Key>"
							  "<UploadId>a b</UploadId></Upload></ListMultipartUploadsResult>")),
			 DSYNC_ECORRUPT);
	dsync_s3_xml_uploads_dispose(&u);
}

/* ---- a hostile server: canned replies over a real socket, to the real
 * client (libcurl and all) */

#define HOSTILE_MAX 8

typedef struct hostile {
	pid_t pid;
	int port;
	char log[600];                 /* each request line, then "wrote N" per endless reply */
} hostile;

/* Reads one request (headers, then a Content-Length body) from FD: its first
 * line into LINE; false when the peer closed. */
static bool read_request(int fd, char *line, size_t size)
{
	char buf[65536];
	size_t got = 0;
	char *end, *cl;
	long body = 0;

	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			return false;
		got += (size_t)n;
		buf[got] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")))
			break;
		if (got == sizeof(buf) - 1)
			return false;
	}
	snprintf(line, size, "%.*s", (int)strcspn(buf, "\r\n"), buf);
	if (strcasestr(buf, "\r\nExpect: 100-continue") && write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 25)
		return false;
	if ((cl = strcasestr(buf, "\r\nContent-Length:")))
		body = strtol(cl + 17, NULL, 10);
	body -= (long)(got - (size_t)(end + 4 - buf));
	while (body > 0) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			return false;
		body -= n;
	}
	return true;
}

/* Serves REPLIES (NULL-ended) in turn, one connection each (the replies say
 * "Connection: close"); a reply ending in "ENDLESS" sends its head, then
 * bytes until the client hangs up (at most 256 MiB). */
static void hostile_start(hostile *h, const char *const *replies)
{
	struct sockaddr_in a = { 0 };
	socklen_t alen = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(s >= 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 8), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	h->port = ntohs(a.sin_port);
	sandbox_path(h->log, sizeof(h->log), "hostile.log");
	unlink(h->log);
	fflush(NULL);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		FILE *log = fopen(h->log, "w");
		size_t i;

		signal(SIGPIPE, SIG_IGN);
		alarm(60);
		for (i = 0; replies[i]; i++) {
			const char *r = replies[i], *tail = strstr(r, "ENDLESS");
			char line[512];
			int c = accept(s, NULL, NULL);

			if (c < 0 || !read_request(c, line, sizeof(line)))
				_exit(1);
			fprintf(log, "%s\n", line);
			fflush(log);
			if (write(c, r, tail ? (size_t)(tail - r) : strlen(r)) < 0)
				_exit(1);
			if (tail) {
				static char junk[65536];
				unsigned long long wrote = 0;
				ssize_t n;

				memset(junk, 'x', sizeof(junk));
				while (wrote < (256ull << 20) && (n = write(c, junk, sizeof(junk))) > 0)
					wrote += (unsigned long long)n;
				fprintf(log, "wrote %llu\n", wrote);
				fflush(log);
			}
			shutdown(c, SHUT_WR);
			while (read(c, line, sizeof(line)) > 0)
				;
			close(c);
		}
		_exit(0);
	}
	close(s);
}

/* Waits for the server (all its replies sent, or the client gone): its log. */
static char *hostile_stop(hostile *h)
{
	int st, i;

	/* a hung-up client ends an endless reply at once; a server still
	 * waiting for a request that never comes is ended */
	for (i = 0; i < 200 && waitpid(h->pid, &st, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 200) {
		kill(h->pid, SIGTERM);
		assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
	}
	return sandbox_slurp(sandbox_dir, "hostile.log");
}

static dsync_s3 *hostile_client(const hostile *h)
{
	dsync_s3 *c;
	char url[128];

	clear_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretsecret", 1);
	snprintf(url, sizeof(url), "s3+http://127.0.0.1:%d/bkt/pre", h->port);
	assert_int_equal(dsync_s3_open(&c, url, NULL), 0);
	return c;
}

static int count_lines(const char *log, const char *start)
{
	int n = 0;

	for (const char *p = log; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, start, strlen(start)) == 0)
			n++;
	return n;
}

static int sink(const char *key, const dsync_s3_object *obj, void *payload)
{
	(void)obj;
	(*(int *)payload)++;
	assert_null(strstr(key, ".."));
	return 0;
}

#define LIST_HEAD "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/xml\r\n\r\n"

static void list_fails(const char *const *replies, int code, const char *words, int requests)
{
	hostile h;
	dsync_s3 *c;
	char *log;
	int n = 0;

	hostile_start(&h, replies);
	c = hostile_client(&h);
	assert_int_equal(dsync_s3_list(c, "", NULL, 0, sink, &n), code);
	assert_non_null(strstr(dsync_error_last(), words));
	dsync_s3_free(c);
	log = hostile_stop(&h);
	assert_int_equal(count_lines(log, "GET "), requests);
	free(log);
}

static void test_hostile_list(void **state)
{
	static const char *const loop[] = {
		LIST_HEAD "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>T</NextContinuationToken>"
		"<Contents><Key>pre/a</Key><Size>1</Size></Contents></ListBucketResult>",
		LIST_HEAD "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>T</NextContinuationToken>"
		"<Contents><Key>pre/b</Key><Size>1</Size></Contents></ListBucketResult>",
		LIST_HEAD "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>T</NextContinuationToken>"
		"<Contents><Key>pre/c</Key><Size>1</Size></Contents></ListBucketResult>",
		NULL
	};
	static const char *const outside[] = {
		LIST_HEAD "<ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>other/a</Key><Size>1</Size></Contents></ListBucketResult>", NULL
	};
	static const char *const backwards[] = {
		LIST_HEAD "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>pre/b</Key><Size>1</Size>"
		"</Contents><Contents><Key>pre/a</Key><Size>1</Size></Contents></ListBucketResult>", NULL
	};
	static const char *const control[] = {
		LIST_HEAD "<ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>pre/a&#10;b</Key><Size>1</Size></Contents></ListBucketResult>", NULL
	};
	static const char *const error200[] = {
		LIST_HEAD "<Error><Code>InternalError</Code></Error>", NULL
	};
	static const char *const doctype[] = {
		LIST_HEAD "<!DOCTYPE x [<!ENTITY e \"pre/a\">]><ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>&e;</Key><Size>1</Size></Contents></ListBucketResult>", NULL
	};
	static const char *const endless[] = { LIST_HEAD "ENDLESS", NULL };
	static const char *const cut[] = {
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4000\r\n\r\n<ListBucketResult><IsTr", NULL
	};
	static const char *const dots[] = {
		LIST_HEAD "<ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>pre/../x</Key><Size>1</Size></Contents>"
		"<Contents><Key>pre/a</Key><Size>1</Size></Contents>"
		"<Contents><Key>pre/a/./b</Key><Size>1</Size></Contents></ListBucketResult>", NULL
	};
	hostile h;
	dsync_s3 *c;
	int n = 0;

	(void)state;
	list_fails(loop, DSYNC_ECORRUPT, "does not end", 2);
	list_fails(outside, DSYNC_ECORRUPT, "outside", 1);
	list_fails(backwards, DSYNC_ECORRUPT, "out of order", 1);
	list_fails(control, DSYNC_ECORRUPT, "malformed listing", 1);
	list_fails(error200, DSYNC_ECORRUPT, "malformed listing", 1);
	list_fails(doctype, DSYNC_ECORRUPT, "malformed listing", 1);
	list_fails(endless, DSYNC_ECORRUPT, "over 4194304 bytes", 1);
	setenv("DSYNC_TEST_S3_STALL", "2", 1);
	list_fails(cut, DSYNC_ERROR, "cannot reach", 1);

	/* keys dsync can't have written are not handed on */
	hostile_start(&h, dots);
	c = hostile_client(&h);
	assert_int_equal(dsync_s3_list(c, "", NULL, 0, sink, &n), 0);
	assert_int_equal(n, 1);
	dsync_s3_free(c);
	free(hostile_stop(&h));
}

static int get_to(const char *const *replies, uint64_t max, uint64_t from, char **log)
{
	char path[600];
	hostile h;
	dsync_s3 *c;
	int fd, error;

	sandbox_path(path, sizeof(path), "got");
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	hostile_start(&h, replies);
	c = hostile_client(&h);
	error = dsync_s3_get(c, "blob", fd, max, from, NULL, NULL, NULL);
	dsync_s3_free(c);
	*log = hostile_stop(&h);
	close(fd);
	return error;
}

static void test_hostile_get(void **state)
{
	static const char *const huge[] = {
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 99999999999999\r\n\r\nENDLESS", NULL
	};
	static const char *const unsized[] = {
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nENDLESS", NULL
	};
	static const char *const elsewhere[] = {
		"HTTP/1.1 206 Partial Content\r\nConnection: close\r\nContent-Length: 5\r\n"
		"Content-Range: bytes 0-4/20\r\n\r\nabcde", NULL
	};
	static const char *const redirect[] = {
		"HTTP/1.1 307 Temporary Redirect\r\nConnection: close\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
		"Content-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc", NULL
	};
	char *log;
	unsigned long long wrote = 0;

	(void)state;
	setenv("DSYNC_TEST_S3_STALL", "5", 1);
	assert_int_equal(get_to(huge, 1000, 0, &log), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "larger than it may be"));
	free(log);
	/* no Content-Length: the bound ends it all the same */
	assert_int_equal(get_to(unsized, 1 << 20, 0, &log), DSYNC_ECORRUPT);
	assert_non_null(strstr(log, "wrote "));
	assert_true(sscanf(strstr(log, "wrote "), "wrote %llu", &wrote) == 1 && wrote < (64ull << 20));
	free(log);
	assert_int_equal(get_to(elsewhere, 1000, 10, &log), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "range it was not asked for"));
	free(log);
	/* a redirect is not followed: one request, and a refusal */
	assert_true(get_to(redirect, 1000, 0, &log) < 0);
	assert_int_equal(count_lines(log, "GET "), 1);
	assert_non_null(strstr(dsync_error_last(), "HTTP 307"));
	free(log);
}

/* headers libcurl or we refuse are a malformed reply, not a cut connection
 * (not "cannot reach", not tried again) */
static void test_hostile_headers(void **state)
{
	static const char *const negative[] = {
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: -1\r\n\r\nabc", NULL
	};
	static const char *const twice[] = {
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", NULL
	};
	char *log;

	(void)state;
	setenv("DSYNC_TEST_S3_STALL", "5", 1);
	assert_int_equal(get_to(negative, 1000, 0, &log), DSYNC_ECORRUPT);
	assert_non_null(strstr(dsync_error_last(), "malformed reply"));
	free(log);
	assert_int_equal(get_to(twice, 1000, 0, &log), DSYNC_ECORRUPT);
	assert_int_equal(count_lines(log, "GET "), 1);
	free(log);
}

/* a refusal's body is read to its bound, no further: an endless one does
 * not hold the client */
static void test_hostile_refusal(void **state)
{
	static const char *const endless_refusal[] = {
		"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nENDLESS", NULL
	};
	unsigned long long wrote = 0;
	char *log;

	(void)state;
	setenv("DSYNC_TEST_S3_STALL", "5", 1);
	assert_int_equal(get_to(endless_refusal, 1000, 0, &log), DSYNC_EAUTH);
	assert_non_null(strstr(log, "wrote "));
	assert_true(sscanf(strstr(log, "wrote "), "wrote %llu", &wrote) == 1);
	assert_true(wrote < (64ull << 20));
	free(log);
}

/* a part's ETag that would smuggle XML into CompleteMultipartUpload: the
 * upload is refused and aborted, never completed */
static void test_hostile_etag(void **state)
{
	static const char *const replies[] = {
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 95\r\n\r\n"
		"<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>\n\n\n\n\n\n\n\n\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nETag: \"x</ETag></Part><Part><PartNumber>9</PartNumber><ETag>y\"\r\n"
		"Content-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nETag: \"b\"\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", NULL
	};
	char path[600], *log;
	hostile h;
	dsync_s3 *c;
	int fd;

	(void)state;
	setenv("DSYNC_TEST_S3_PART", "5242880", 1);
	sandbox_path(path, sizeof(path), "part");
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(ftruncate(fd, (5 << 20) + 10), 0);
	hostile_start(&h, replies);
	c = hostile_client(&h);
	assert_int_equal(dsync_s3_put_fd(c, "blob", fd, NULL, NULL), DSYNC_ECORRUPT);
	dsync_s3_free(c);
	log = hostile_stop(&h);
	close(fd);
	unsetenv("DSYNC_TEST_S3_PART");
	assert_int_equal(count_lines(log, "PUT "), 1);
	assert_int_equal(count_lines(log, "POST /bkt/pre/blob?uploadId"), 0);
	assert_int_equal(count_lines(log, "DELETE /bkt/pre/blob?uploadId=u1"), 1);
	free(log);
}

static int setup(void **state)
{
	(void)state;
	sandbox_open("s3", SANDBOX_HOME | SANDBOX_LIB);
	sandbox_path(dir, sizeof(dir), "home/.aws");
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
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_url_long),
		cmocka_unit_test(test_style),
		cmocka_unit_test(test_creds_env),
		cmocka_unit_test(test_creds_files),
		cmocka_unit_test(test_creds_parse),
		cmocka_unit_test(test_creds_hostile),
		cmocka_unit_test(test_xml_list),
		cmocka_unit_test(test_xml_refused),
		cmocka_unit_test(test_xml_small),
		cmocka_unit_test(test_xml_uploads),
		cmocka_unit_test(test_hostile_list),
		cmocka_unit_test(test_hostile_get),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_hostile_refusal),
		cmocka_unit_test(test_hostile_etag),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
