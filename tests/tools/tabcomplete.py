#!/usr/bin/env python3
"""Types command lines into an interactive bash or zsh on a pseudo-terminal,
each followed by one TAB, and prints the words of each line as completion
left it, so a test sees what a person pressing TAB gets from the real line
editor (readline's word breaks at ':', its quoting; zsh's compsys) rather
than from a direct call.

    tabcomplete.py bash|zsh SETUP LINE...

The shell starts without any rc file (bash --norc --noprofile, zsh -f) and
runs SETUP first (e.g. ". FILE" for bash; "fpath=(DIR $fpath); autoload -U
compinit; compinit -u -D" for zsh). For each LINE, the line
and a TAB are typed, then the cursor goes to the start of the line and
"printf '<%s>' " is put before it, and Enter: bash prints the line's words
as '<w1><w2>...' after the marker 'LINE N: '. One line of output per LINE.
TABCOMPLETE_DEBUG=1 shows what bash wrote.
Exits 1 when bash does not answer within 20 s.
"""
import os
import pty
import select
import sys
import time


def read_until(fd, marker, timeout):
    out = b""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
            if marker in out:
                return out
    return None


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("bash", "zsh"):
        sys.exit("usage: tabcomplete.py bash|zsh SETUP LINE...")
    shell, setup, lines = sys.argv[1], sys.argv[2], sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PS1"] = "READY> "
        os.environ["TERM"] = "dumb"
        if shell == "bash":
            os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
        os.execvp("zsh", ["zsh", "-f", "-i"])
    ok = read_until(fd, b"READY> ", 20) is not None
    if shell == "bash":
        setup = "bind 'set bell-style none'; " + setup
    else:
        setup = "PS1='READY> '; bindkey -e; " + setup
    os.write(fd, setup.encode() + b"; echo SETUP$((1 * 1))\n")
    ok = ok and read_until(fd, b"SETUP1\r\n", 20) is not None
    for n, line in enumerate(lines, 1):
        if not ok:
            break
        os.write(fd, line.encode() + b"\t")
        # no wait: readline runs the completion before it reads the keys
        # typed after the TAB
        os.write(fd, b"\x01printf 'LINE %d: ' ; printf '<%%s>' " % n)
        # the marker as printed differs from the marker as typed (echoed)
        os.write(fd, b"\x05; echo; echo END$((%d * 1))\n" % n)
        out = read_until(fd, b"END%d\r\n" % n, 20)
        if out is None:
            ok = False
            break
        if os.environ.get("TABCOMPLETE_DEBUG"):
            sys.stderr.write(repr(out) + "\n")
        for l in out.decode(errors="replace").replace("\r", "").split("\n"):
            if l.startswith("LINE %d: " % n):
                print(l)
    os.write(fd, b"exit\n")
    read_until(fd, b"\x00", 1)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    sys.exit(0 if ok else 1)


main()
