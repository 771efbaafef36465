/*
 * libcurl and libmicrohttpd loaded on first use (netlibs.h).
 */
#include "core/base/internal.h"

#include <dlfcn.h>
#include <pthread.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "transport/netlibs.h"

/* The sonames of the versions CMakeLists.txt asks for (libcurl 7.88 or
 * newer, libmicrohttpd 0.9.75 or newer); a build may set others. */
#ifndef DSYNC_LIBCURL_SONAME
#define DSYNC_LIBCURL_SONAME "libcurl.so.4"
#endif
#ifndef DSYNC_LIBMHD_SONAME
#define DSYNC_LIBMHD_SONAME "libmicrohttpd.so.12"
#endif

struct dsync_curl_fns dsync_curl_fns;
struct dsync_mhd_fns dsync_mhd_fns;

/* One library: its functions NAMES[i] into SLOTS[i], all or none (then
 * *WHY says why). */
static void load(const char *soname, const char *const *names, void **slots, size_t n, char *why, size_t whysize)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	size_t i;

	if (!h) {
		snprintf(why, whysize, "%s", dlerror());
		return;
	}
	for (i = 0; i < n; i++) {
		if ((slots[i] = dlsym(h, names[i])) == NULL) {
			snprintf(why, whysize, "%s has no %s", soname, names[i]);
			memset(slots, 0, n * sizeof(*slots));
			return; /* kept loaded: dlclose of a half-used library gains nothing */
		}
	}
	why[0] = '\0';
}

static char curl_why[256] = "not loaded", mhd_why[256] = "not loaded";
static pthread_once_t curl_once = PTHREAD_ONCE_INIT, mhd_once = PTHREAD_ONCE_INIT;

static void curl_load(void)
{
	static const char *const names[] = { "curl_global_init", "curl_easy_init", "curl_easy_setopt",
					     "curl_easy_perform", "curl_easy_cleanup", "curl_easy_strerror",
					     "curl_slist_append", "curl_slist_free_all", "curl_getdate" };
	void *slots[sizeof(names) / sizeof(names[0])];

	_Static_assert(sizeof(slots) == sizeof(dsync_curl_fns), "one name for each of libcurl's functions");
	load(DSYNC_LIBCURL_SONAME, names, slots, sizeof(names) / sizeof(names[0]), curl_why, sizeof(curl_why));
	memcpy(&dsync_curl_fns, slots, sizeof(slots));
}

static void mhd_load(void)
{
	static const char *const names[] = { "MHD_start_daemon", "MHD_stop_daemon", "MHD_quiesce_daemon",
					     "MHD_get_daemon_info", "MHD_get_connection_info",
					     "MHD_get_connection_values", "MHD_lookup_connection_value",
					     "MHD_suspend_connection", "MHD_resume_connection",
					     "MHD_create_response_from_buffer", "MHD_create_response_from_fd_at_offset64",
					     "MHD_add_response_header",
					     "MHD_queue_response", "MHD_destroy_response" };
	void *slots[sizeof(names) / sizeof(names[0])];

	_Static_assert(sizeof(slots) == sizeof(dsync_mhd_fns), "one name for each of libmicrohttpd's functions");
	load(DSYNC_LIBMHD_SONAME, names, slots, sizeof(names) / sizeof(names[0]), mhd_why, sizeof(mhd_why));
	memcpy(&dsync_mhd_fns, slots, sizeof(slots));
}

int dsync_curl_load(void)
{
	pthread_once(&curl_once, curl_load);
	return curl_why[0] ? dsync_error_set(DSYNC_ERROR, "cannot load libcurl: %s", curl_why) : 0;
}

int dsync_mhd_load(void)
{
	pthread_once(&mhd_once, mhd_load);
	return mhd_why[0] ? dsync_error_set(DSYNC_ERROR, "cannot load libmicrohttpd: %s", mhd_why) : 0;
}
