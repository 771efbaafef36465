/*
 * libcurl (the relay client) and libmicrohttpd (the relay server), loaded
 * with dlopen() when a relay is first used rather than linked: their own
 * dependencies (GnuTLS, OpenSSL, Kerberos, LDAP, ...) cost every command
 * 4 ms of dynamic linking at start-up, a quarter of an unchanged snapshot's
 * time.  Include after <curl/curl.h> or <microhttpd.h>: the calls of the
 * functions dsync uses then go through the loaded library, which
 * dsync_curl_load() or dsync_mhd_load() must have loaded first (each says
 * when it can't).
 */
#if defined(CURLINC_CURL_H) && !defined(DSYNC_NETLIBS_CURL)
#define DSYNC_NETLIBS_CURL
struct dsync_curl_fns {
	__typeof__(&curl_global_init) global_init;
	__typeof__(&curl_easy_init) easy_init;
	__typeof__(&curl_easy_setopt) easy_setopt;
	__typeof__(&curl_easy_perform) easy_perform;
	__typeof__(&curl_easy_cleanup) easy_cleanup;
	__typeof__(&curl_easy_strerror) easy_strerror;
	__typeof__(&curl_slist_append) slist_append;
	__typeof__(&curl_slist_free_all) slist_free_all;
	__typeof__(&curl_getdate) getdate;
};
extern struct dsync_curl_fns dsync_curl_fns;

/* Loads libcurl once: 0, or DSYNC_ERROR saying why not. */
int dsync_curl_load(void);

#undef curl_easy_setopt /* libcurl's type-checking macro (GCC) */
#define curl_global_init(...) (dsync_curl_fns.global_init(__VA_ARGS__))
#define curl_easy_init(...) (dsync_curl_fns.easy_init(__VA_ARGS__))
#define curl_easy_setopt(...) (dsync_curl_fns.easy_setopt(__VA_ARGS__))
#define curl_easy_perform(...) (dsync_curl_fns.easy_perform(__VA_ARGS__))
#define curl_easy_cleanup(...) (dsync_curl_fns.easy_cleanup(__VA_ARGS__))
#define curl_easy_strerror(...) (dsync_curl_fns.easy_strerror(__VA_ARGS__))
#define curl_slist_append(...) (dsync_curl_fns.slist_append(__VA_ARGS__))
#define curl_slist_free_all(...) (dsync_curl_fns.slist_free_all(__VA_ARGS__))
#define curl_getdate(...) (dsync_curl_fns.getdate(__VA_ARGS__))
#endif

#if defined(MHD_VERSION) && !defined(DSYNC_NETLIBS_MHD)
#define DSYNC_NETLIBS_MHD
struct dsync_mhd_fns {
	__typeof__(&MHD_start_daemon) start_daemon;
	__typeof__(&MHD_stop_daemon) stop_daemon;
	__typeof__(&MHD_quiesce_daemon) quiesce_daemon;
	__typeof__(&MHD_get_daemon_info) get_daemon_info;
	__typeof__(&MHD_get_connection_info) get_connection_info;
	__typeof__(&MHD_get_connection_values) get_connection_values;
	__typeof__(&MHD_lookup_connection_value) lookup_connection_value;
	__typeof__(&MHD_suspend_connection) suspend_connection;
	__typeof__(&MHD_resume_connection) resume_connection;
	__typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
	__typeof__(&MHD_create_response_from_fd_at_offset64) create_response_from_fd_at_offset64;
	__typeof__(&MHD_add_response_header) add_response_header;
	__typeof__(&MHD_queue_response) queue_response;
	__typeof__(&MHD_destroy_response) destroy_response;
};
extern struct dsync_mhd_fns dsync_mhd_fns;

/* Loads libmicrohttpd once: 0, or DSYNC_ERROR saying why not. */
int dsync_mhd_load(void);

#define MHD_start_daemon(...) (dsync_mhd_fns.start_daemon(__VA_ARGS__))
#define MHD_stop_daemon(...) (dsync_mhd_fns.stop_daemon(__VA_ARGS__))
#define MHD_quiesce_daemon(...) (dsync_mhd_fns.quiesce_daemon(__VA_ARGS__))
#define MHD_get_daemon_info(...) (dsync_mhd_fns.get_daemon_info(__VA_ARGS__))
#define MHD_get_connection_info(...) (dsync_mhd_fns.get_connection_info(__VA_ARGS__))
#define MHD_get_connection_values(...) (dsync_mhd_fns.get_connection_values(__VA_ARGS__))
#define MHD_lookup_connection_value(...) (dsync_mhd_fns.lookup_connection_value(__VA_ARGS__))
#define MHD_suspend_connection(...) (dsync_mhd_fns.suspend_connection(__VA_ARGS__))
#define MHD_resume_connection(...) (dsync_mhd_fns.resume_connection(__VA_ARGS__))
#define MHD_create_response_from_buffer(...) (dsync_mhd_fns.create_response_from_buffer(__VA_ARGS__))
#define MHD_create_response_from_fd_at_offset64(...) \
	(dsync_mhd_fns.create_response_from_fd_at_offset64(__VA_ARGS__))
#define MHD_add_response_header(...) (dsync_mhd_fns.add_response_header(__VA_ARGS__))
#define MHD_queue_response(...) (dsync_mhd_fns.queue_response(__VA_ARGS__))
#define MHD_destroy_response(...) (dsync_mhd_fns.destroy_response(__VA_ARGS__))
#endif
