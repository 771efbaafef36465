/*
 * libFuzzer target for what the S3 client reads from a server or a file
 * (transport/s3_xml.h, s3_url.h, s3_creds.h): the first byte picks one.
 * 0: a ListObjectsV2 page (keys without control bytes, at most 1,000, a
 * truncated page names its token); 1: an InitiateMultipartUpload reply;
 * 2: an Error reply (a code of plain characters or none); 3 and 4: an AWS
 * credentials or config file (a message of one line; keys without spaces);
 * 5: an s3:// address (its normalised URL reads back the same); 6: a
 * ListMultipartUploads page.  The byte is taken modulo 7.
 * replay.c runs the same function over the seed corpus without clang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsync/common.h"
#include "transport/s3_creds.h"
#include "transport/s3_url.h"
#include "transport/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(void)
{
	if (strchr(dsync_error_last(), '\n'))
		abort();
}

static void list(const char *body, size_t len)
{
	dsync_s3_xml_list l;
	size_t i, j;

	if (dsync_s3_xml_list_parse(&l, body, len) == 0) {
		if (l.n > DSYNC_S3_LIST_MAX || (l.truncated && !l.next_token))
			abort();
		for (i = 0; i < l.n; i++) {
			size_t klen = strlen(l.entries[i].key);

			if (klen == 0 || klen > DSYNC_S3_KEY_MAX)
				abort();
			for (j = 0; j < klen; j++)
				if ((unsigned char)l.entries[i].key[j] < 0x20)
					abort();
		}
	} else {
		one_line();
	}
	dsync_s3_xml_list_dispose(&l);
}

static void small(const char *body, size_t len, bool error)
{
	char out[DSYNC_S3_UPLOAD_ID_MAX + 1];
	size_t i;

	if (error) {
		dsync_s3_xml_error_code(out, body, len);
		for (i = 0; out[i]; i++)
			if (!((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= 'A' && out[i] <= 'Z') ||
			      (out[i] >= '0' && out[i] <= '9') || out[i] == '.') || i >= DSYNC_S3_CODE_MAX - 1)
				abort();
	} else if (dsync_s3_xml_upload_id(out, body, len) == 0) {
		if (!out[0] || strlen(out) > DSYNC_S3_UPLOAD_ID_MAX)
			abort();
	} else {
		one_line();
	}
}

static void creds(const char *text, size_t len, bool config)
{
	dsync_s3_creds c = { 0 };

	if (dsync_s3_creds_parse(&c, text, len, "default", config, "FILE") < 0) {
		one_line();
		if (c.secret)
			abort();
	} else if (c.secret && (strchr(c.secret, ' ') || strchr(c.key_id, ':') || !c.key_id[0])) {
		abort();
	}
	dsync_s3_creds_dispose(&c);
}

static void uploads(const char *body, size_t len)
{
	dsync_s3_xml_uploads u;
	size_t i;

	if (dsync_s3_xml_uploads_parse(&u, body, len) == 0) {
		if (u.n > DSYNC_S3_LIST_MAX)
			abort();
		for (i = 0; i < u.n; i++)
			if (!u.uploads[i].key[0] || !u.uploads[i].upload_id[0] || strchr(u.uploads[i].upload_id, '&'))
				abort();
	} else {
		one_line();
	}
	dsync_s3_xml_uploads_dispose(&u);
}

/* a component "." or ".." (or an empty one) anywhere in P */
static bool dot_component(const char *p)
{
	for (;;) {
		size_t n = strcspn(p, "/");

		if (*p && (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')))
			return true;
		if (!p[n])
			return false;
		p += n + 1;
	}
}

static void url(const char *in)
{
	static dsync_s3_addr u, again;

	if (dsync_s3_url_parse(in, &u) != 0) {
		one_line();
		return;
	}
	if (!u.host[0] || !u.bucket[0] || u.port < 0 || u.port > 65535 || dot_component(u.prefix) ||
	    dsync_s3_url_parse(u.url, &again) != 0 || strcmp(again.url, u.url) != 0 ||
	    strcmp(again.host, u.host) != 0 || strcmp(again.bucket, u.bucket) != 0 ||
	    strcmp(again.prefix, u.prefix) != 0 || again.port != u.port || again.https != u.https)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 300000)
		return 0;
	if (dsync_lib_init() < 0) /* libsodium: the secrets' memory */
		abort();
	if (!(s = malloc(size)))
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 7) {
	case 0:
		list(s, size - 1);
		break;
	case 1:
		small(s, size - 1, false);
		break;
	case 2:
		small(s, size - 1, true);
		break;
	case 3:
	case 4:
		creds(s, size - 1, data[0] % 7 == 4);
		break;
	case 6:
		uploads(s, size - 1);
		break;
	default:
		url(s);
		break;
	}
	free(s);
	return 0;
}
