/*
 * Logging in with the built-in SSH client (transport/ssh_auth.h;
 * docs/sftp.md section 3): ssh-agent (RSA identities passed over), key
 * files (their passphrase asked on a terminal), keyboard-interactive and
 * password on a terminal, and the message that says why an RSA-only setup
 * cannot log in.
 */
#include "core/base/internal.h"

#include <sys/stat.h>

#include <libssh2.h>
#include <sodium.h>

#include "core/base/buf.h"
#include "core/base/file.h"
#include "transport/ssh_auth.h"

static const char *ssh_msg(LIBSSH2_SESSION *s)
{
	char *msg = NULL;

	if (!s || libssh2_session_last_error(s, &msg, NULL, 0) == 0 || !msg || !*msg)
		return "no reason given";
	return msg;
}

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

	dsync_ssh_tilde(shown, sizeof(shown), path, a->home);
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
			note_rsa(a, dsync_ssh_tilde(shown, sizeof(shown), path, a->home));
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

int dsync_ssh_auth_login(LIBSSH2_SESSION *s, const dsync_ssh_config *cfg, const dsync_transport_opts *o,
			 const char *label, const char *home)
{
	void **abstract = libssh2_session_abstract(s);
	void *saved = *abstract;
	auth_ctx a;
	int error;

	memset(&a, 0, sizeof(a));
	a.o = o;
	a.cfg = cfg;
	a.s = s;
	a.user = cfg->user;
	a.home = home;
	a.interactive = o->interactive && o->prompt;
	dsync_buf_init(&a.tried, 4096);
	/* the keyboard-interactive callback finds A through the session */
	*abstract = &a;
	error = authenticate(&a, label);
	*abstract = saved;
	dsync_buf_dispose(&a.tried);
	return error;
}
