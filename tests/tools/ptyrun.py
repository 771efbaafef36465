#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal (its controlling terminal, so
/dev/tty is the pty) and answers its questions as a person would type them.

    ptyrun.py [--answer REGEX TEXT]... [--timeout S] -- COMMAND ARGS...

Each time the output read so far (since the last answer) matches REGEX (the
first pair that matches, case-insensitive), TEXT and a newline are typed.
Everything the command wrote goes to stdout; the exit status is the
command's (128 + N for signal N; 124 when the time ran out and it was
killed). The count of answers typed goes to stderr as 'answers=N'.
"""
import os
import pty
import re
import select
import signal
import sys
import time


def main():
    args = sys.argv[1:]
    answers = []
    timeout = 120.0
    while args and args[0] != "--":
        if args[0] == "--answer" and len(args) >= 3:
            answers.append((re.compile(args[1], re.I), args[2]))
            args = args[3:]
        elif args[0] == "--timeout" and len(args) >= 2:
            timeout = float(args[1])
            args = args[2:]
        else:
            sys.exit("usage: ptyrun.py [--answer REGEX TEXT]... [--timeout S] -- COMMAND ARGS...")
    if not args:
        sys.exit("ptyrun.py: no command")
    cmd = args[1:]
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    out = b""
    pending = ""
    typed = 0
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break  # EIO: the command and its children closed the pty
        if not data:
            break
        out += data
        pending += data.decode("utf-8", "replace")
        for regex, text in answers:
            if regex.search(pending):
                # let the program turn echo off before the answer comes
                time.sleep(0.2)
                os.write(fd, text.encode() + b"\n")
                typed += 1
                pending = ""
                break
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    sys.stdout.write(out.decode("utf-8", "replace"))
    sys.stderr.write("answers=%d\n" % typed)
    if timed_out:
        sys.exit(124)
    if os.WIFSIGNALED(status):
        sys.exit(128 + os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    main()
