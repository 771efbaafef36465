/*
 * `dsync ui`: one dashboard per user (cmd/ui_instance.c).  A running
 * `dsync ui` listens on a unix socket in a folder of the user's own; a later
 * `dsync ui` asks it for a new one-time token instead of starting a second
 * server.  The protocol is in docs/ui.md.
 */
#ifndef DSYNC_CMD_UI_INSTANCE_H
#define DSYNC_CMD_UI_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

/* Room for a token (64 hex digits) and its NUL. */
#define UI_TOKEN_SIZE 65

/* Room for the socket's path (sockaddr_un's) and the folder's. */
#define UI_SOCK_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

typedef struct ui_instance {
	char dir[UI_SOCK_PATH_SIZE];   /* the socket's folder, checked */
	char sock[UI_SOCK_PATH_SIZE];  /* DIR/ui.sock */
	char lockpath[UI_SOCK_PATH_SIZE];  /* DIR/ui.lock, held with flock() while asking and starting */
	int lock;        /* its descriptor; -1 */
	int listen;      /* the listening socket; -1 */
	dev_t dev;       /* the socket file this process bound */
	ino_t ino;
} ui_instance;

#define UI_INSTANCE_INIT { "", "", "", -1, -1, 0, 0 }

/*
 * Finds the socket's folder ($XDG_RUNTIME_DIR/dsync when that folder is
 * there and ours, else $XDG_CACHE_HOME/dsync or ~/.cache/dsync, else
 * /tmp/dsync-UID: the first whose socket's path fits), makes it when
 * missing, checks it (a folder of this user, not a symlink, mode 0700) and
 * takes its lock, waiting up to 10 s for another `dsync ui` that is
 * starting.  0, or a DSYNC_E* code with the
 * message set.
 */
int ui_instance_open(ui_instance *in);

/*
 * Asks the dashboard listening on IN's socket for a new one-time token: 1 with
 * its port, the token and its pid; 0 when none answers (a socket left by a
 * dead one is removed).  With ASK false it only sees whether one answers
 * (1: it runs).  A server of another uid is refused: DSYNC_EACCESS.
 */
int ui_instance_ask(ui_instance *in, bool ask, unsigned *port, char token[UI_TOKEN_SIZE], pid_t *pid);

/* Listens on IN's socket (mode 0600).  0 or a DSYNC_E* code. */
int ui_instance_listen(ui_instance *in);

/* Releases the lock (after ui_instance_listen(), or in a parent whose child
 * goes on holding it: KEEP_FOR_CHILD closes without unlocking). */
void ui_instance_unlock(ui_instance *in, bool keep_for_child);

/*
 * Answers one connection waiting on IN's listening socket: a client of this
 * uid asking "token" gets "ok PORT TOKEN", the token from MAKE (0, or -1 when
 * none can be made: "error ..."); anything else is closed.  Waits at most 2 s
 * for the request.  Returns 1 when a token was handed out, else 0.
 */
int ui_instance_answer(ui_instance *in, unsigned port, int (*make)(char token[UI_TOKEN_SIZE], void *payload),
		       void *payload);

/*
 * --detach: forks; the child, in a session of its own, goes on as the server
 * (-1, with *READY the pipe to hand to ui_instance_ready() once it listens);
 * the parent gives the lock to the child, waits for its port and token (0,
 * with them and *CHILD, its pid) or, when it fails (having said why on
 * stderr), returns its exit status.
 */
int ui_instance_detach(ui_instance *in, pid_t *child, int *ready, unsigned *port, char token[UI_TOKEN_SIZE]);

/* In the detached child: hands PORT and TOKEN to the parent through READY
 * ("ok PORT TOKEN", as the socket's answer) and sends its own output to
 * /dev/null from then on. */
void ui_instance_ready(int ready, unsigned port, const char token[UI_TOKEN_SIZE]);

/* Stops listening and removes the socket when it is still this process's
 * (and no other server's since); releases the lock.  Accepts an IN never
 * opened. */
void ui_instance_close(ui_instance *in);

#endif
