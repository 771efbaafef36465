/*
 * The built-in SSH client, libssh2 1.10 (transport/ssh_builtin.h;
 * docs/sftp.md section 3): connect with a time limit, the host-key
 * preference from what known_hosts holds, the host key checked by us,
 * ssh-agent, key files, keyboard-interactive and password, then a channel
 * running the sftp subsystem handed over as a non-blocking stream.
 */
#include "core/base/internal.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>
#include <sodium.h>

#include "core/base/buf.h"
#include "core/base/file.h"
#include "transport/ssh_builtin.h"
#include "transport/ssh_config.h"

#define CONNECT_TIMEOUT_S 30
#define WINDOW_SIZE (16u << 20)
#define KEEPALIVE_S 15
#define CLOSE_TIMEOUT_MS 3000

typedef struct builtin_stream {
	dsync_sftp_stream base; /* first: the client holds a pointer to it */
	int fd;
	LIBSSH2_SESSION *s;
	LIBSSH2_CHANNEL *ch;
	int failed;             /* the DSYNC_E* code of an I/O error seen, 0 */
	char why[512];          /* its message */
} builtin_stream;

/* What the authentication steps share. */
typedef struct auth_ctx {
	const dsync_transport_opts *o;
	const dsync_ssh_config *cfg;
	LIBSSH2_SESSION *s;
	const char *user;
	const char *home;
	bool interactive;
	bool tried_good;        /* an ed25519 or ECDSA key was offered */
	char rsa_key[300];      /* the first RSA key seen ("" none) */
	dsync_buf tried;        /* "~/.ssh/id_x, the agent's key C" */
	int prompt_error;       /* the prompt gave no answer */
} auth_ctx;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

static void init_libssh2(void)
{
	init_result = libssh2_init(0);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *ssh_msg(LIBSSH2_SESSION *s)
{
	char *msg = NULL;

	if (!s || libssh2_session_last_error(s, &msg, NULL, 0) == 0 || !msg || !*msg)
		return "no reason given";
	return msg;
}

/* PATH with $HOME shown as "~", for messages. */
static const char *tilde(char *buf, size_t size, const char *path, const char *home)
{
	size_t hl = home ? strlen(home) : 0;

	if (hl > 1 && strncmp(path, home, hl) == 0 && path[hl] == '/')
		snprintf(buf, size, "~%s", path + hl);
	else
		snprintf(buf, size, "%s", path);
	return buf;
}

/* --- the TCP connection */

static int connect_addr(int *out, const struct addrinfo *ai, int64_t deadline)
{
	struct pollfd p;
	socklen_t sl = sizeof(int);
	int fd, err = 0, r, one = 1;

	*out = -1;
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		p.fd = fd;
		p.events = POLLOUT;
		for (;;) {
			int64_t left = deadline - now_ms();

			if (left <= 0) {
				err = ETIMEDOUT;
				goto fail;
			}
			r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
			if (r > 0)
				break;
			if (r < 0 && errno != EINTR) {
				err = errno;
				goto fail;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		if (err)
			goto fail;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return 0;
fail:
	close(fd);
	return err ? err : ECONNREFUSED;
}

static int connect_host(int *out, const char *label, const char *host, int port, int timeout_s)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	int r, err = ECONNREFUSED;

	*out = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((r = getaddrinfo(host, portstr, &hints, &res)) != 0)
		return dsync_error_set(DSYNC_ERROR, "cannot reach %s: cannot resolve '%s': %s", label, host,
				       r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		if ((err = connect_addr(out, ai, deadline)) == 0)
			break;
		if (err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (*out >= 0)
		return 0;
	if (err == ETIMEDOUT)
		return dsync_error_set(DSYNC_ERROR, "cannot reach %s: connect to %s port %d: no answer in %d s", label,
				       host, port, timeout_s);
	return dsync_error_set(DSYNC_ERROR, "cannot reach %s: connect to %s port %d: %s", label, host, port,
			       strerror(err));
}

/* --- the host key */

/* The peer's address as known_hosts and OpenSSH's question show it. */
static void peer_name(char *out, size_t size, int fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[NI_MAXHOST];

	out[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST) != 0)
		return;
	dsync_ssh_known_hosts_name(out, size, ip, port);
}

/* Asks whether to trust KEY (OpenSSH's words): 0 when the answer is yes or
 * the fingerprint, DSYNC_EAUTH otherwise. */
static int ask_hostkey(const dsync_transport_opts *o, const char *name, const char *peer, const char *label,
		       const char *fp)
{
	char text[1024];
	char *answer = NULL;
	int tries, error;

	snprintf(text, sizeof(text),
		 "The authenticity of host '%s%s%s%s' can't be established.\n"
		 "%s key fingerprint is %s.\n"
		 "This key is not known by any other names.\n"
		 "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
		 name, peer[0] && strcmp(peer, name) != 0 ? " (" : "", strcmp(peer, name) != 0 ? peer : "",
		 peer[0] && strcmp(peer, name) != 0 ? ")" : "", label, fp);
	for (tries = 0; tries < 3; tries++) {
		size_t n;

		if ((error = o->prompt(&answer, DSYNC_TRANSPORT_PROMPT_HOSTKEY, text, true, o->payload)) < 0 ||
		    !answer)
			return dsync_error_set(DSYNC_EAUTH, "host key verification failed: no answer to whether to trust %s (%s)",
					       name, fp);
		n = strlen(answer);
		while (n && (answer[n - 1] == '\n' || answer[n - 1] == '\r' || answer[n - 1] == ' '))
			answer[--n] = '\0';
		if (strcasecmp(answer, "yes") == 0 || strcmp(answer, fp) == 0) {
			free(answer);
			return 0;
		}
		if (strcasecmp(answer, "no") == 0) {
			free(answer);
			break;
		}
		free(answer);
		answer = NULL;
		snprintf(text, sizeof(text), "Please type 'yes', 'no' or the fingerprint: ");
	}
	return dsync_error_set(DSYNC_EAUTH, "host key verification failed: the host key of %s (%s) was not accepted",
			       name, fp);
}

static int check_hostkey(LIBSSH2_SESSION *s, int fd, const dsync_ssh_known_hosts *kh, const dsync_ssh_config *cfg,
			 const dsync_transport_opts *o, const char *host_typed, const char *home)
{
	const char *key, *hash, *file = NULL, *label;
	char fp[64], name[300], peer[300], shown[4200];
	size_t len;
	int type, r, error;

	if (!(key = libssh2_session_hostkey(s, &len, &type)) ||
	    !(hash = libssh2_hostkey_hash(s, LIBSSH2_HOSTKEY_HASH_SHA256)))
		return dsync_error_set(DSYNC_ERROR, "cannot read the host key of %s: %s", host_typed, ssh_msg(s));
	dsync_ssh_fingerprint(fp, (const unsigned char *)hash);
	label = dsync_ssh_hostkey_label(type);
	dsync_ssh_known_hosts_name(name, sizeof(name), cfg->hostname, cfg->port);
	r = dsync_ssh_known_hosts_check(&file, kh, cfg->hostname, cfg->port, key, len, type);
	switch (r) {
	case DSYNC_SSH_KNOWN_MATCH:
		return 0;
	case DSYNC_SSH_KNOWN_REVOKED:
		return dsync_error_set(DSYNC_EAUTH,
				       "the host key of %s (%s %s) is marked @revoked in %s: dsync refuses to connect",
				       host_typed, label, fp, tilde(shown, sizeof(shown), file, home));
	case DSYNC_SSH_KNOWN_CHANGED:
		tilde(shown, sizeof(shown), file, home);
		return dsync_error_set(DSYNC_EAUTH,
				       "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! the host key of %s has CHANGED since it was recorded in %s (it now shows %s %s): this can be an attack (someone eavesdropping on you), or the host's key was replaced; dsync refuses to connect. If the host's owner confirms the new key, remove the old one with: ssh-keygen -f %s -R '%s'",
				       host_typed, shown, label, fp, shown, name);
	default:
		break;
	}
	if (!o->interactive || !o->prompt)
		return dsync_error_set(DSYNC_EAUTH,
				       "the host key of %s is not known yet (%s key %s): dsync refuses to connect without asking. If the host's owner confirms this fingerprint, connect once from a terminal and answer yes, or add the key to %s",
				       host_typed, label, fp,
				       cfg->user_known_hosts.size ? tilde(shown, sizeof(shown), cfg->user_known_hosts.ptr[0], home)
								  : "~/.ssh/known_hosts");
	peer_name(peer, sizeof(peer), fd, cfg->port);
	if ((error = ask_hostkey(o, name, peer, label, fp)) < 0)
		return error;
	if (cfg->user_known_hosts.size == 0)
		return 0; /* UserKnownHostsFile none: accepted for this time only */
	return dsync_ssh_known_hosts_append(cfg->user_known_hosts.ptr[0], cfg->hostname, cfg->port, key, len, type,
					    cfg->hash_known_hosts == 1);
}

/* --- keys */

enum { KEY_UNKNOWN, KEY_ED25519, KEY_ECDSA, KEY_RSA, KEY_DSA, KEY_SK };

static int key_kind_of_name(const char *name, size_t len)
{
	if (len == 11 && memcmp(name, "ssh-ed25519", 11) == 0)
		return KEY_ED25519;
	if (len >= 10 && memcmp(name, "ecdsa-sha2", 10) == 0)
		return KEY_ECDSA;
	if (len == 7 && memcmp(name, "ssh-rsa", 7) == 0)
		return KEY_RSA;
	if (len == 7 && memcmp(name, "ssh-dss", 7) == 0)
		return KEY_DSA;
	if (len >= 3 && memcmp(name, "sk-", 3) == 0)
		return KEY_SK;
	return KEY_UNKNOWN;
}

/* The key type a public key BLOB (SSH wire format) starts with. */
static int blob_kind(const unsigned char *blob, size_t len)
{
	uint32_t n;

	if (len < 4)
		return KEY_UNKNOWN;
	n = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
	if (n > len - 4)
		return KEY_UNKNOWN;
	return key_kind_of_name((const char *)blob + 4, n);
}

/* Reads an SSH string at *P (of END): 0, or -1 when it does not fit. */
static int read_string(const unsigned char **p, const unsigned char *end, const unsigned char **s, uint32_t *n)
{
	if (end - *p < 4)
		return -1;
	*n = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	if (*n > (size_t)(end - *p))
		return -1;
	*s = *p;
	*p += *n;
	return 0;
}

/*
 * What the private key file PATH holds, read from its header: the key type
 * (OpenSSH's format carries the public key unencrypted; PEM names it) and
 * whether a passphrase is needed.  -1 when it is not a key file we know.
 */
static int key_file_info(const char *path, int *kind, bool *encrypted)
{
	static const char begin_openssh[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
	dsync_buf b = DSYNC_BUF_INIT, bin = DSYNC_BUF_INIT;
	const unsigned char *p, *end, *s;
	const char *b64, *stop;
	uint32_t n, nkeys;
	size_t binlen;
	int error = -1;

	*kind = KEY_UNKNOWN;
	*encrypted = false;
	if (dsync_file_read(&b, path, 1u << 20, 0) < 0 || !b.ptr)
		goto out;
	if (strncmp(b.ptr, begin_openssh, sizeof(begin_openssh) - 1) == 0) {
		b64 = b.ptr + sizeof(begin_openssh) - 1;
		if (!(stop = strstr(b64, "-----END")))
			goto out;
		if (dsync_buf_grow(&bin, (size_t)(stop - b64)) < 0)
			goto out;
		if (sodium_base642bin((unsigned char *)bin.ptr, bin.cap, b64, (size_t)(stop - b64), " \t\r\n", &binlen,
				      NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
			goto out;
		p = (const unsigned char *)bin.ptr;
		end = p + binlen;
		if (binlen < 15 || memcmp(p, "openssh-key-v1\0", 15) != 0)
			goto out;
		p += 15;
		if (read_string(&p, end, &s, &n) < 0)
			goto out;
		*encrypted = !(n == 4 && memcmp(s, "none", 4) == 0);
		if (read_string(&p, end, &s, &n) < 0 || read_string(&p, end, &s, &n) < 0 || end - p < 4)
			goto out;
		nkeys = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		p += 4;
		if (nkeys < 1 || read_string(&p, end, &s, &n) < 0)
			goto out;
		*kind = blob_kind(s, n);
		error = 0;
	} else if (strncmp(b.ptr, "-----BEGIN ", 11) == 0) {
		if (strncmp(b.ptr + 11, "RSA ", 4) == 0)
			*kind = KEY_RSA;
		else if (strncmp(b.ptr + 11, "EC ", 3) == 0)
			*kind = KEY_ECDSA;
		else if (strncmp(b.ptr + 11, "DSA ", 4) == 0)
			*kind = KEY_DSA;
		*encrypted = strstr(b.ptr, "Proc-Type: 4,ENCRYPTED") != NULL ||
			     strncmp(b.ptr + 11, "ENCRYPTED ", 10) == 0;
		error = 0;
	}
out:
	if (bin.ptr)
		sodium_memzero(bin.ptr, bin.cap);
	if (b.ptr)
		sodium_memzero(b.ptr, b.len);
	dsync_buf_dispose(&bin);
	dsync_buf_dispose(&b);
	return error;
}

/* The public key blob of identity PATH (PATH.pub, or PATH when it is a
 * .pub file) into a malloc'd *BLOB: 0, or -1 when there is none. */
static int pub_blob(unsigned char **blob, size_t *len, const char *path)
{
	char pubpath[4200], text[16384];
	size_t n, tl, bl;
	const char *b64;
	size_t pl = strlen(path);

	*blob = NULL;
	if (pl > 4 && strcmp(path + pl - 4, ".pub") == 0)
		snprintf(pubpath, sizeof(pubpath), "%s", path);
	else
		snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
	if (dsync_file_read_small(&tl, pubpath, text, sizeof(text), 0) < 0)
		return -1;
	n = strcspn(text, " \t");
	if (!text[n])
		return -1;
	b64 = text + n;
	while (*b64 == ' ' || *b64 == '\t')
		b64++;
	bl = strcspn(b64, " \t\r\n");
	if (!(*blob = malloc(bl + 1)))
		return -1;
	if (sodium_base642bin(*blob, bl + 1, b64, bl, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(*blob);
		*blob = NULL;
		return -1;
	}
	return 0;
}

static bool listed_identity(const auth_ctx *a, const unsigned char *blob, size_t len)
{
	unsigned char *b;
	size_t bl, i;
	bool same;

	for (i = 0; i < a->cfg->identity_files.size; i++) {
		if (pub_blob(&b, &bl, a->cfg->identity_files.ptr[i]) < 0)
			continue;
		same = bl == len && memcmp(b, blob, len) == 0;
		free(b);
		if (same)
			return true;
	}
	return false;
}

static void note_tried(auth_ctx *a, const char *what)
{
	if (a->tried.len)
		(void)dsync_buf_puts(&a->tried, ", ");
	(void)dsync_buf_puts(&a->tried, what);
}

static void note_rsa(auth_ctx *a, const char *what)
{
	if (!a->rsa_key[0])
		snprintf(a->rsa_key, sizeof(a->rsa_key), "%s", what);
}

static int auth_agent(auth_ctx *a)
{
	const char *ia = a->cfg->identity_agent;
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	char what[300];
	int ok = -1;

	if (ia && strcmp(ia, "none") == 0)
		return -1;
	if ((!ia || strcmp(ia, "SSH_AUTH_SOCK") == 0) && (!getenv("SSH_AUTH_SOCK") || !*getenv("SSH_AUTH_SOCK")))
		return -1;
	if (!(agent = libssh2_agent_init(a->s)))
		return -1;
	if (ia && strcmp(ia, "SSH_AUTH_SOCK") != 0)
		libssh2_agent_set_identity_path(agent, ia);
	if (libssh2_agent_connect(agent) != 0 || libssh2_agent_list_identities(agent) != 0)
		goto out;
	while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
		int kind = blob_kind(id->blob, id->blob_len);

		prev = id;
		snprintf(what, sizeof(what), "the agent's key '%s'", id->comment ? id->comment : "");
		if (kind == KEY_RSA) {
			/* it cannot sign with rsa-sha2, and every try counts
			 * against the server's MaxAuthTries */
			note_rsa(a, what);
			continue;
		}
		if (kind == KEY_SK || kind == KEY_DSA)
			continue;
		if (a->cfg->identities_only == 1 && !listed_identity(a, id->blob, id->blob_len))
			continue;
		a->tried_good = true;
		note_tried(a, what);
		if (libssh2_agent_userauth(agent, a->user, id) == 0) {
			ok = 0;
			break;
		}
	}
out:
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	return ok;
}

/* Logs in with the key file PATH, asking its passphrase when it has one:
 * 0, -1 refused, or a negative DSYNC_E* code (no answer to the prompt). */
static int auth_file(auth_ctx *a, const char *path, bool encrypted)
{
	char text[4400], shown[4200];
	char *pass = NULL;
	int tries, rc;
	unsigned ulen = (unsigned)strlen(a->user);

	tilde(shown, sizeof(shown), path, a->home);
	if (!encrypted) {
		note_tried(a, shown);
		return libssh2_userauth_publickey_fromfile_ex(a->s, a->user, ulen, NULL, path, "") == 0 ? 0 : -1;
	}
	if (!a->interactive) {
		char what[4300];

		snprintf(what, sizeof(what), "%s (not: it has a passphrase and there is no terminal to ask it)", shown);
		note_tried(a, what);
		return -1;
	}
	note_tried(a, shown);
	snprintf(text, sizeof(text), "Enter passphrase for key '%s': ", path);
	for (tries = 0; tries < 3; tries++) {
		if (a->o->prompt(&pass, DSYNC_TRANSPORT_PROMPT_KEY_PASSPHRASE, text, false, a->o->payload) < 0 ||
		    !pass) {
			a->prompt_error = 1;
			return -1;
		}
		if (!*pass) {
			/* an empty answer skips the key, as in OpenSSH */
			free(pass);
			return -1;
		}
		rc = libssh2_userauth_publickey_fromfile_ex(a->s, a->user, ulen, NULL, path, pass);
		sodium_memzero(pass, strlen(pass));
		free(pass);
		pass = NULL;
		if (rc == 0)
			return 0;
		if (rc != LIBSSH2_ERROR_FILE && rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED &&
		    rc != LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED && rc != LIBSSH2_ERROR_KEYFILE_AUTH_FAILED)
			return -1;
		snprintf(text, sizeof(text),
			 "wrong passphrase, or the host does not accept this key\nEnter passphrase for key '%s': ", path);
	}
	return -1;
}

static int auth_files(auth_ctx *a)
{
	const dsync_strlist *ids = &a->cfg->identity_files;
	DSYNC_ARRAY(size_t) rsa = DSYNC_ARRAY_INIT;
	struct stat st;
	char shown[4200];
	size_t i;
	int kind, r = -1;
	bool enc;

	for (i = 0; i < ids->size && r != 0; i++) {
		const char *path = ids->ptr[i];
		size_t pl = strlen(path);

		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if ((pl > 4 && strcmp(path + pl - 4, ".pub") == 0) || (pl > 3 && strcmp(path + pl - 3, "_sk") == 0))
			continue; /* a public key only names an agent key; FIDO keys need the OpenSSH client */
		if (key_file_info(path, &kind, &enc) < 0)
			enc = false; /* a format we do not read: libssh2 may */
		if (kind == KEY_SK || kind == KEY_DSA)
			continue;
		if (kind == KEY_RSA) {
			note_rsa(a, tilde(shown, sizeof(shown), path, a->home));
			if (dsync_array_push(rsa, i) < 0) {
				r = dsync_error_oom();
				break;
			}
			continue;
		}
		if (kind == KEY_ED25519 || kind == KEY_ECDSA)
			a->tried_good = true;
		r = auth_file(a, path, enc);
		if (a->prompt_error)
			break;
	}
	/* RSA keys last: OpenSSH 8.8 and later refuse their ssh-rsa
	 * signatures, older servers and Dropbear may not */
	for (i = 0; i < rsa.size && r == -1 && !a->prompt_error; i++) {
		if (key_file_info(ids->ptr[rsa.ptr[i]], &kind, &enc) < 0)
			enc = false;
		r = auth_file(a, ids->ptr[rsa.ptr[i]], enc);
	}
	if (a->cfg->identity_files_default && !a->rsa_key[0]) {
		char rsa_path[4200];

		snprintf(rsa_path, sizeof(rsa_path), "%s/.ssh/id_rsa", a->home);
		if (stat(rsa_path, &st) == 0)
			note_rsa(a, "~/.ssh/id_rsa");
	}
	dsync_array_dispose(rsa);
	return r;
}

/* Copies the server's text (untrusted) into B without control bytes. */
static void put_clean(dsync_buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 1024; i++) {
		char c = s[i];

		if ((unsigned char)c < 0x20 && c != '\n')
			c = ' ';
		else if (c == 0x7f)
			c = ' ';
		(void)dsync_buf_put(b, &c, 1);
	}
}

static void kbdint_cb(const char *name, int name_len, const char *instruction, int instruction_len, int num_prompts,
		      const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts, LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses,
		      void **abstract)
{
	auth_ctx *a = *abstract;
	dsync_buf text = DSYNC_BUF_INIT;
	char *answer;
	int i;

	for (i = 0; i < num_prompts; i++) {
		responses[i].text = NULL;
		responses[i].length = 0;
		if (a->prompt_error)
			continue;
		dsync_buf_truncate(&text, 0);
		if (i == 0 && name && name_len > 0) {
			put_clean(&text, name, (size_t)name_len);
			(void)dsync_buf_puts(&text, "\n");
		}
		if (i == 0 && instruction && instruction_len > 0) {
			put_clean(&text, instruction, (size_t)instruction_len);
			(void)dsync_buf_puts(&text, "\n");
		}
		if (prompts[i].text)
			put_clean(&text, prompts[i].text, prompts[i].length);
		answer = NULL;
		if (a->o->prompt(&answer, DSYNC_TRANSPORT_PROMPT_KBDINT, dsync_buf_cstr(&text), prompts[i].echo != 0,
				 a->o->payload) < 0 || !answer) {
			a->prompt_error = 1;
			continue;
		}
		responses[i].text = answer; /* libssh2 frees it */
		responses[i].length = (unsigned)strlen(answer);
	}
	dsync_buf_dispose(&text);
}

static int auth_password(auth_ctx *a, const char *host)
{
	char text[600];
	char *pw = NULL;
	int tries, rc;

	snprintf(text, sizeof(text), "%s@%s's password: ", a->user, host);
	for (tries = 0; tries < 3; tries++) {
		if (a->o->prompt(&pw, DSYNC_TRANSPORT_PROMPT_PASSWORD, text, false, a->o->payload) < 0 || !pw) {
			a->prompt_error = 1;
			return -1;
		}
		rc = libssh2_userauth_password_ex(a->s, a->user, (unsigned)strlen(a->user), pw, (unsigned)strlen(pw),
						  NULL);
		sodium_memzero(pw, strlen(pw));
		free(pw);
		pw = NULL;
		if (rc == 0)
			return 0;
		if (rc != LIBSSH2_ERROR_AUTHENTICATION_FAILED)
			return -1;
		snprintf(text, sizeof(text), "Permission denied, please try again.\n%s@%s's password: ", a->user, host);
	}
	return -1;
}

static int authenticate(auth_ctx *a, const char *label)
{
	const char *list;
	char methods[256];

	list = libssh2_userauth_list(a->s, a->user, (unsigned)strlen(a->user));
	if (!list) {
		if (libssh2_userauth_authenticated(a->s))
			return 0;
		return dsync_error_set(DSYNC_ERROR, "cannot log in to %s: the connection ended: %s", label,
				       ssh_msg(a->s));
	}
	snprintf(methods, sizeof(methods), "%s", list);
	if (strstr(methods, "publickey")) {
		if (auth_agent(a) == 0)
			return 0;
		if (auth_files(a) == 0)
			return 0;
	}
	if (a->interactive && !a->prompt_error && strstr(methods, "keyboard-interactive")) {
		note_tried(a, "keyboard-interactive");
		if (libssh2_userauth_keyboard_interactive_ex(a->s, a->user, (unsigned)strlen(a->user), kbdint_cb) == 0)
			return 0;
	}
	if (a->interactive && !a->prompt_error && strstr(methods, "password")) {
		note_tried(a, "password");
		if (auth_password(a, a->cfg->hostname) == 0)
			return 0;
	}
	if (a->rsa_key[0] && !a->tried_good)
		return dsync_error_set(DSYNC_EAUTH,
				       "cannot log in to %s with the built-in SSH client: your key is an RSA key (%s), and the built-in client (libssh2 1.10) can only sign with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse. Either make an ed25519 key ('ssh-keygen -t ed25519', then add ~/.ssh/id_ed25519.pub to the host's ~/.ssh/authorized_keys), or install the OpenSSH client ('apt install openssh-client') and remove remote.NAME.ssh = builtin",
				       label, a->rsa_key);
	if (a->prompt_error)
		return dsync_error_set(DSYNC_EAUTH, "cannot log in to %s: no answer was typed", label);
	if (!a->tried.len)
		return dsync_error_set(DSYNC_EAUTH,
				       "cannot log in to %s with the built-in SSH client: no key to offer (no agent, no ~/.ssh/id_ed25519 or id_ecdsa)%s; the host accepts %s",
				       label, a->interactive ? "" : " and no terminal to ask a password", methods);
	return dsync_error_set(DSYNC_EAUTH, "cannot log in to %s: the host refused every way the built-in SSH client tried (%s); it accepts %s",
			       label, dsync_buf_cstr(&a->tried), methods);
}

/* --- the stream */

static int stream_fail(builtin_stream *b, int code, const char *what)
{
	if (!b->failed) {
		b->failed = code;
		snprintf(b->why, sizeof(b->why), "the connection to %s %s: %s", b->base.label, what, ssh_msg(b->s));
	}
	return dsync_error_set(b->failed, "%s", b->why);
}

static ssize_t bs_send(dsync_sftp_stream *st, const void *buf, size_t len)
{
	builtin_stream *b = (builtin_stream *)st;
	ssize_t n;

	if (b->failed)
		return dsync_error_set(b->failed, "%s", b->why);
	n = libssh2_channel_write(b->ch, buf, len);
	if (n >= 0)
		return n;
	if (n == LIBSSH2_ERROR_EAGAIN)
		return 0;
	return stream_fail(b, DSYNC_ERROR, "broke");
}

static ssize_t bs_recv(dsync_sftp_stream *st, void *buf, size_t len, bool *eof)
{
	builtin_stream *b = (builtin_stream *)st;
	ssize_t n;

	*eof = false;
	if (b->failed)
		return dsync_error_set(b->failed, "%s", b->why);
	n = libssh2_channel_read(b->ch, buf, len);
	if (n > 0)
		return n;
	if (n == 0 || n == LIBSSH2_ERROR_EAGAIN) {
		if (libssh2_channel_eof(b->ch))
			*eof = true;
		return 0;
	}
	return stream_fail(b, DSYNC_ERROR, "broke");
}

static int bs_wait(dsync_sftp_stream *st, unsigned want, int timeout_ms)
{
	builtin_stream *b = (builtin_stream *)st;
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct pollfd p;
	int next, dirs, r, wait_ms;

	if (b->failed)
		return dsync_error_set(b->failed, "%s", b->why);
	/* bytes libssh2 already holds do not wake poll() */
	if ((want & DSYNC_SFTP_WANT_RECV) && (libssh2_poll_channel_read(b->ch, 0) || libssh2_channel_eof(b->ch)))
		return 0;
	for (;;) {
		next = 0;
		r = libssh2_keepalive_send(b->s, &next);
		if (r < 0 && r != LIBSSH2_ERROR_EAGAIN)
			return stream_fail(b, DSYNC_ERROR, "broke");
		dirs = libssh2_session_block_directions(b->s);
		if ((want & DSYNC_SFTP_WANT_SEND) && !dirs)
			return 0;
		p.fd = b->fd;
		p.events = 0;
		p.revents = 0;
		if ((want & DSYNC_SFTP_WANT_RECV) || (dirs & LIBSSH2_SESSION_BLOCK_INBOUND))
			p.events |= POLLIN;
		if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			p.events |= POLLOUT;
		wait_ms = (next > 0 ? next : KEEPALIVE_S) * 1000;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return 0;
			if (left < wait_ms)
				wait_ms = (int)left;
		}
		r = poll(&p, 1, wait_ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return dsync_error_sys(errno, "waiting for %s", b->base.label);
	}
}

static int bs_ended(dsync_sftp_stream *st)
{
	builtin_stream *b = (builtin_stream *)st;
	int status;

	if (b->failed)
		return dsync_error_set(b->failed, "%s", b->why);
	if (libssh2_channel_eof(b->ch)) {
		status = libssh2_channel_get_exit_status(b->ch);
		b->failed = DSYNC_ERROR;
		if (status)
			snprintf(b->why, sizeof(b->why), "the connection to %s dropped: the SFTP server there ended (exit status %d)",
				 b->base.label, status);
		else
			snprintf(b->why, sizeof(b->why), "the connection to %s dropped: the SFTP server there ended the session",
				 b->base.label);
		return dsync_error_set(b->failed, "%s", b->why);
	}
	return stream_fail(b, DSYNC_ERROR, "dropped");
}

static void teardown(int fd, LIBSSH2_SESSION *s, LIBSSH2_CHANNEL *ch, bool graceful)
{
	if (s) {
		libssh2_session_set_blocking(s, 1);
		libssh2_session_set_timeout(s, CLOSE_TIMEOUT_MS);
	}
	if (ch) {
		if (graceful) {
			libssh2_channel_send_eof(ch);
			libssh2_channel_close(ch);
		}
		libssh2_channel_free(ch);
	}
	if (s) {
		if (graceful)
			libssh2_session_disconnect(s, "dsync is done");
		libssh2_session_free(s);
	}
	if (fd >= 0)
		close(fd);
}

static void bs_close(dsync_sftp_stream *st)
{
	builtin_stream *b = (builtin_stream *)st;

	if (!b)
		return;
	teardown(b->fd, b->s, b->ch, !b->failed);
	free(b);
}

/* --- opening */

static const char *home_dir(void)
{
	const char *home = getenv("HOME");

	return home && *home ? home : "/";
}

static int handshake(LIBSSH2_SESSION *s, int fd, const char *label, unsigned types)
{
	int rc = libssh2_session_handshake(s, fd);

	if (rc == 0)
		return 0;
	if (rc == LIBSSH2_ERROR_TIMEOUT)
		return dsync_error_set(DSYNC_ERROR, "cannot reach %s: no SSH answer in time", label);
	if (rc == LIBSSH2_ERROR_KEX_FAILURE || rc == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED ||
	    rc == LIBSSH2_ERROR_KEY_EXCHANGE_FAILURE || rc == LIBSSH2_ERROR_HOSTKEY_INIT)
		return dsync_error_set(DSYNC_ERROR, "cannot talk SSH with %s: %s%s; try the OpenSSH client (remote.NAME.ssh = openssh)",
				       label, ssh_msg(s),
				       types == (1u << LIBSSH2_HOSTKEY_TYPE_RSA)
					       ? " (known_hosts holds only an RSA host key, which the built-in client can't check against OpenSSH 8.8 and later)"
					       : "");
	return dsync_error_set(DSYNC_ERROR, "cannot reach %s: the SSH handshake failed: %s", label, ssh_msg(s));
}

int dsync_ssh_builtin_open(dsync_sftp_stream **out, const dsync_sftp_url *u, const dsync_transport_opts *o)
{
	dsync_ssh_known_hosts kh = DSYNC_SSH_KNOWN_HOSTS_INIT;
	dsync_ssh_config cfg;
	LIBSSH2_SESSION *s = NULL;
	LIBSSH2_CHANNEL *ch = NULL;
	builtin_stream *b = NULL;
	auth_ctx a;
	char pref[200], label[600];
	const char *home = home_dir();
	unsigned types;
	int fd = -1, error;

	*out = NULL;
	memset(&a, 0, sizeof(a));
	dsync_ssh_config_init(&cfg);
	pthread_once(&init_once, init_libssh2);
	if (init_result != 0)
		return dsync_error_set(DSYNC_ERROR, "cannot start libssh2 (%d)", init_result);
	if ((error = dsync_ssh_config_read(&cfg, u->host, u->user, u->port)) < 0)
		goto out;
	if (cfg.ignored[0] && o->warn) {
		char msg[1024], shown[300];

		snprintf(msg, sizeof(msg), "%s sets %s for %s, which the built-in client ignores: install the OpenSSH client or set remote.NAME.ssh = openssh",
			 tilde(shown, sizeof(shown), cfg.ignored_file, home), cfg.ignored, u->host);
		o->warn(msg, o->payload);
	}
	snprintf(label, sizeof(label), "%s@%s", cfg.user, u->host);
	if (cfg.port != 22)
		snprintf(label + strlen(label), sizeof(label) - strlen(label), ":%d", cfg.port);
	if ((error = connect_host(&fd, label, cfg.hostname, cfg.port,
				  cfg.connect_timeout ? cfg.connect_timeout : CONNECT_TIMEOUT_S)) < 0)
		goto out;
	a.o = o;
	a.cfg = &cfg;
	a.user = cfg.user;
	a.home = home;
	a.interactive = o->interactive && o->prompt;
	dsync_buf_init(&a.tried, 4096);
	if (!(s = libssh2_session_init_ex(NULL, NULL, NULL, &a))) {
		error = dsync_error_oom();
		goto out;
	}
	a.s = s;
	libssh2_session_set_timeout(s, CONNECT_TIMEOUT_S * 1000);
	if ((error = dsync_ssh_known_hosts_load(&kh, s, cfg.user_known_hosts.ptr, cfg.user_known_hosts.size)) < 0 ||
	    (error = dsync_ssh_known_hosts_load(&kh, s, cfg.global_known_hosts.ptr, cfg.global_known_hosts.size)) < 0)
		goto out;
	/* libssh2 1.10 prefers ECDSA: ask for a type known_hosts holds */
	types = dsync_ssh_known_hosts_types(&kh, cfg.hostname, cfg.port);
	/* an unknown host: OpenSSH's order, so the key asked about and
	 * recorded is the one the OpenSSH client would record */
	dsync_ssh_known_hosts_pref(pref, sizeof(pref), types ? types : ~0u);
	if (pref[0] && libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, pref) != 0) {
		error = dsync_error_set(DSYNC_ERROR, "cannot set the host key preference '%s': %s", pref, ssh_msg(s));
		goto out;
	}
	if ((error = handshake(s, fd, label, types)) < 0 ||
	    (error = check_hostkey(s, fd, &kh, &cfg, o, u->host, home)) < 0 ||
	    (error = authenticate(&a, label)) < 0)
		goto out;
	if (!(ch = libssh2_channel_open_ex(s, "session", sizeof("session") - 1, WINDOW_SIZE, LIBSSH2_CHANNEL_PACKET_DEFAULT,
					   NULL, 0))) {
		error = dsync_error_set(DSYNC_ERROR, "cannot open a session channel on %s: %s", label, ssh_msg(s));
		goto out;
	}
	libssh2_channel_handle_extended_data2(ch, LIBSSH2_CHANNEL_EXTENDED_DATA_IGNORE);
	if (libssh2_channel_subsystem(ch, "sftp") != 0) {
		error = dsync_error_set(DSYNC_ERROR, "%s refused the sftp subsystem (is SFTP enabled on the host?): %s",
					label, ssh_msg(s));
		goto out;
	}
	libssh2_keepalive_config(s, 1, KEEPALIVE_S);
	libssh2_session_set_blocking(s, 0);
	if (!(b = calloc(1, sizeof(*b)))) {
		error = dsync_error_oom();
		goto out;
	}
	b->fd = fd;
	b->s = s;
	b->ch = ch;
	b->base.send = bs_send;
	b->base.recv = bs_recv;
	b->base.wait = bs_wait;
	b->base.ended = bs_ended;
	b->base.close = bs_close;
	snprintf(b->base.label, sizeof(b->base.label), "%.255s", u->label);
	*out = &b->base;
	fd = -1;
	s = NULL;
	ch = NULL;
	error = 0;
out:
	if (error < 0 && cfg.ignored[0] && !o->warn) {
		char msg[2048];

		snprintf(msg, sizeof(msg), "%s (note: %s sets %s for %s, which the built-in client ignores: install the OpenSSH client or set remote.NAME.ssh = openssh)",
			 dsync_error_last(), cfg.ignored_file, cfg.ignored, u->host);
		dsync_error_set(error, "%s", msg);
	}
	/* the collections free through their session */
	dsync_ssh_known_hosts_dispose(&kh);
	teardown(fd, s, ch, false);
	dsync_ssh_config_dispose(&cfg);
	dsync_buf_dispose(&a.tried);
	return error;
}
