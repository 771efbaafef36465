#!/usr/bin/env python3
"""A small W3C WebDriver client (Python's standard library only) for the
browser tests of `dsync ui`: it starts chromedriver on a free 127.0.0.1 port
and a headless Chromium session, and drives it.

As a module:

    d = Driver.start(profile_dir)          # chromedriver + a Chromium session
    d.go(url); d.wait_css("li.device"); d.click(d.find("a.conflicts"))
    d.screenshot("summary.png"); d.stop()   # the session, chromedriver and Chromium end

As a program, so that a bash test drives one browser over many calls: the
first call starts chromedriver in the background and writes what the next
calls need (its pid and port, the session, the profile folder) to a state
file; `stop` ends them all (also what the test's exit trap calls):

    webdriver.py -s STATE start PROFILE_DIR    prints chromedriver's pid
    webdriver.py -s STATE go URL               navigates, waits for the load
    webdriver.py -s STATE wait CSS [SECONDS]   until an element matches (default 10 s)
    webdriver.py -s STATE wait-url URL [SECONDS]   until the browser shows URL, loaded
                                               (a form submitted by a script)
    webdriver.py -s STATE count CSS            how many elements match (no wait)
    webdriver.py -s STATE text CSS             the first match's rendered text
    webdriver.py -s STATE texts CSS            every match's text, one a line
    webdriver.py -s STATE attr CSS NAME        the first match's attribute NAME
    webdriver.py -s STATE attrs CSS NAME       every match's attribute NAME, one a line
    webdriver.py -s STATE click CSS            clicks the first match, waits for the load
    webdriver.py -s STATE url | source | title
    webdriver.py -s STATE js SCRIPT [ARG...]   runs SCRIPT (a function body; ARGs are
                                               `arguments`), prints the result as JSON
    webdriver.py -s STATE js-async SCRIPT [ARG...]   the same, the result passed to the
                                               last argument (a callback)
    webdriver.py -s STATE alert [accept|dismiss|text|wait]
    webdriver.py -s STATE shot FILE.png        a screenshot of the window; prints WxH BYTES
    webdriver.py -s STATE stop
    webdriver.py serve                         the same commands read from stdin, one process
                                               for a whole test (a bash coprocess): each
                                               request is a line with its word count, then
                                               each word as a line with its length in bytes
                                               and a line with the word (STATE first: -s
                                               STATE CMD ARG...); each answer a line "RC
                                               OUT_BYTES ERR_BYTES", then the output bytes,
                                               then the error bytes

Exit status: 0 done, 1 the browser said no (no such element, a timeout, ...)
with one line on stderr saying what, 2 a usage error. Every HTTP request has
a timeout, every wait a deadline (polls every 100 ms): nothing hangs.

Only 127.0.0.1: chromedriver listens there, and Chromium runs with its
background services (updates, safe browsing, sync, metrics) turned off, so
it opens nothing but the pages it is sent to.
"""

import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HTTP_TIMEOUT = 30        # seconds: one WebDriver command (a page load included)
START_TIMEOUT = 20       # seconds: chromedriver answering /status
POLL = 0.1               # seconds between two looks during a wait
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"   # the W3C element reference's key

CHROMIUM_ARGS = [
    "--headless=new",
    "--window-size=1280,900",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
]


class WebDriverError(Exception):
    """What the browser refused or what timed out, in one line."""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _http(method, url, body=None, timeout=HTTP_TIMEOUT):
    """One request to chromedriver; returns the reply's 'value'."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json; charset=utf-8")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            reply = json.loads(r.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        try:
            reply = json.loads(e.read().decode() or "{}")
        except ValueError:
            raise WebDriverError("%s %s: HTTP %d" % (method, url, e.code)) from None
        v = reply.get("value") or {}
        msg = (v.get("message") or "").splitlines()
        raise WebDriverError("%s: %s" % (v.get("error", "HTTP %d" % e.code), msg[0] if msg else "")) from None
    except (urllib.error.URLError, socket.timeout, ConnectionError) as e:
        raise WebDriverError("%s %s: %s" % (method, url, getattr(e, "reason", e))) from None
    return reply.get("value")


def _processes_with(needle):
    """The pids of this user's processes whose command line holds NEEDLE (the
    profile folder: Chromium's processes of this test, none other)."""
    pids = []
    me = os.getuid()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            if os.stat("/proc/" + p).st_uid != me:
                continue
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if needle.encode() in f.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # a zombie is gone for us (its parent reaps it)
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _kill_wait(pids, deadline=5.0):
    """SIGTERM, then SIGKILL what is left after DEADLINE seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        end = time.monotonic() + (deadline if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < end and not all(_gone(p) for p in pids):
            time.sleep(POLL)
        pids = [p for p in pids if not _gone(p)]
        if not pids:
            return


class Driver:
    """One chromedriver and one Chromium session on it."""

    def __init__(self, port, pid, session, profile):
        self.port, self.pid, self.session, self.profile = port, pid, session, profile
        self.base = "http://127.0.0.1:%d" % port

    # ---------------------------------------------------------------- life

    @classmethod
    def start(cls, profile, log=None):
        """Starts chromedriver (in a session of its own, detached from the
        caller so that a CLI call may return) and a headless Chromium with
        PROFILE as its user data folder."""
        for exe in (CHROMEDRIVER, CHROMIUM):
            if not os.access(exe, os.X_OK):
                raise WebDriverError("'%s' not found (apt-get install chromium chromium-driver)" % exe)
        os.makedirs(profile, exist_ok=True)
        profile = os.path.abspath(profile)
        # Chromium's own temp files (its singleton socket) next to the
        # profile, so that the test's folder holds everything it made
        tmp = profile + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        env = dict(os.environ, TMPDIR=tmp)
        last = None
        for _ in range(3):   # a free port may be taken between the look and the start
            port = free_port()
            logf = open(log or os.devnull, "ab")
            proc = subprocess.Popen([CHROMEDRIVER, "--port=%d" % port, "--allowed-ips=127.0.0.1"],
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    start_new_session=True, env=env)
            logf.close()
            d = cls(port, proc.pid, None, profile)
            end = time.monotonic() + START_TIMEOUT
            while time.monotonic() < end and proc.poll() is None:
                try:
                    if (_http("GET", d.base + "/status", timeout=2) or {}).get("ready"):
                        break
                except WebDriverError as e:
                    last = e
                time.sleep(POLL)
            else:
                _kill_wait([proc.pid])
                proc.wait()
                last = last or WebDriverError("chromedriver exited (%s)" % proc.returncode)
                continue
            args = CHROMIUM_ARGS + ["--user-data-dir=" + profile]
            if os.geteuid() == 0:
                args.append("--no-sandbox")   # Chromium's sandbox refuses to run as root
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "unhandledPromptBehavior": "ignore",
                "timeouts": {"pageLoad": HTTP_TIMEOUT * 1000 - 5000, "script": 10000, "implicit": 0},
                "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            }}}
            try:
                v = _http("POST", d.base + "/session", caps, timeout=60)
            except WebDriverError:
                d.stop()
                raise
            d.session = v["sessionId"]
            return d
        raise WebDriverError("chromedriver did not start: %s" % last)

    def stop(self):
        """Ends the session (Chromium quits), then chromedriver, then any of
        Chromium's processes still using the profile folder, all by pid."""
        if self.session:
            try:
                _http("DELETE", "%s/session/%s" % (self.base, self.session), timeout=10)
            except WebDriverError:
                pass
            self.session = None
        if self.pid:
            try:
                os.killpg(self.pid, signal.SIGTERM)   # chromedriver leads its own process group
            except OSError:
                pass
            _kill_wait([self.pid])
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pass
            self.pid = None
        left = _processes_with("--user-data-dir=" + self.profile)
        if left:
            _kill_wait(left)

    # ---------------------------------------------------------------- commands

    def cmd(self, method, path, body=None):
        if not self.session:
            raise WebDriverError("no session")
        if method == "POST" and body is None:
            body = {}
        return _http(method, "%s/session/%s%s" % (self.base, self.session, path), body)

    def wait_load(self, timeout=10.0):
        """Until the document has loaded (a click that submits a form returns
        before the next page is there)."""
        end = time.monotonic() + timeout
        while True:
            try:
                if self.js("return document.readyState") == "complete":
                    return
            except WebDriverError as e:
                if time.monotonic() >= end:
                    raise
                if "alert" in str(e):   # a dialog is open: the page is there
                    return
            if time.monotonic() >= end:
                raise WebDriverError("the page did not load within %g s" % timeout)
            time.sleep(POLL)

    def go(self, url):
        self.cmd("POST", "/url", {"url": url})
        self.wait_load()

    def url(self):
        return self.cmd("GET", "/url")

    def title(self):
        return self.cmd("GET", "/title")

    def source(self):
        return self.cmd("GET", "/source")

    def find_all(self, css):
        return [e[ELEMENT] for e in self.cmd("POST", "/elements", {"using": "css selector", "value": css})]

    def find(self, css):
        found = self.find_all(css)
        if not found:
            raise WebDriverError("no element matches '%s' on %s" % (css, self.url()))
        return found[0]

    def wait_css(self, css, timeout=10.0):
        """The first element matching CSS, once there is one."""
        end = time.monotonic() + timeout
        while True:
            found = self.find_all(css)
            if found:
                return found[0]
            if time.monotonic() >= end:
                raise WebDriverError("no element matches '%s' on %s after %g s" % (css, self.url(), timeout))
            time.sleep(POLL)

    def wait_url(self, url, timeout=10.0):
        """Until the browser is at URL and the page has loaded."""
        end = time.monotonic() + timeout
        while self.url() != url:
            if time.monotonic() >= end:
                raise WebDriverError("still at %s, not %s, after %g s" % (self.url(), url, timeout))
            time.sleep(POLL)
        self.wait_load(max(end - time.monotonic(), 1.0))

    def click(self, el):
        self.cmd("POST", "/element/%s/click" % el)

    def text(self, el):
        return self.cmd("GET", "/element/%s/text" % el)

    def attribute(self, el, name):
        return self.cmd("GET", "/element/%s/attribute/%s" % (el, name))

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script, *args):
        return self.cmd("POST", "/execute/async", {"script": script, "args": list(args)})

    def alert_text(self):
        return self.cmd("GET", "/alert/text")

    def wait_alert(self, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            try:
                return self.alert_text()
            except WebDriverError:
                if time.monotonic() >= end:
                    raise WebDriverError("no dialog opened within %g s" % timeout)
            time.sleep(POLL)

    def accept_alert(self):
        self.cmd("POST", "/alert/accept")

    def dismiss_alert(self):
        self.cmd("POST", "/alert/dismiss")

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        if png[:8] != b"\x89PNG\r\n\x1a\n":
            raise WebDriverError("the screenshot is not a PNG")
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)
        return len(png)


# -------------------------------------------------------------------- the program

def _load(state):
    try:
        with open(state) as f:
            s = json.load(f)
    except (OSError, ValueError) as e:
        raise WebDriverError("no browser started with this state file ('%s': %s)" % (state, e)) from None
    return Driver(s["port"], s["pid"], s["session"], s["profile"])


def _print(v):
    if v is None:
        return
    sys.stdout.write(v if v.endswith("\n") else v + "\n")


def serve(inp, out):
    """Answers requests from INP on OUT until INP ends (see the module's text)."""
    import contextlib
    import io
    while True:
        line = inp.readline()
        if not line:
            return 0
        try:
            words = []
            for _ in range(int(line)):
                n = int(inp.readline())
                words.append(inp.read(n).decode())
                inp.read(1)   # the newline after the word
        except ValueError:
            msg = b"webdriver: bad request\n"
            out.write(b"2 0 %d\n" % len(msg) + msg)
            out.flush()
            continue
        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            try:
                rc = main(words)
            except Exception as x:   # a bug here must not end the test's browser
                print("webdriver: %s: %s" % (type(x).__name__, x), file=sys.stderr)
                rc = 1
        ob, eb = o.getvalue().encode(), e.getvalue().encode()
        out.write(b"%d %d %d\n" % (rc, len(ob), len(eb)) + ob + eb)
        out.flush()


def main(argv):
    usage = "usage: webdriver.py -s STATE start PROFILE | go URL | wait CSS [S] | wait-url URL [S] | " \
            "count CSS | text CSS | texts CSS | attr CSS NAME | attrs CSS NAME | click CSS | url | source | " \
            "title | js SCRIPT [ARG...] | js-async SCRIPT [ARG...] | alert [accept|dismiss|text|wait] | " \
            "shot FILE | stop\n       webdriver.py serve"
    if len(argv) < 3 or argv[0] not in ("-s", "--state"):
        print(usage, file=sys.stderr)
        return 2
    state, cmd, args = argv[1], argv[2], argv[3:]
    need = {"start": 1, "go": 1, "wait": 1, "wait-url": 1, "count": 1, "text": 1, "texts": 1, "attr": 2, "attrs": 2,
            "click": 1, "url": 0, "source": 0, "title": 0, "js": 1, "js-async": 1, "alert": 0, "shot": 1, "stop": 0}
    if cmd not in need or len(args) < need[cmd]:
        print(usage, file=sys.stderr)
        return 2
    try:
        if cmd == "start":
            d = Driver.start(args[0], log=os.path.join(os.path.dirname(os.path.abspath(state)),
                                                       os.path.basename(state) + ".log"))
            with open(state + ".new", "w") as f:
                json.dump({"port": d.port, "pid": d.pid, "session": d.session, "profile": d.profile}, f)
            os.replace(state + ".new", state)
            print(d.pid)
            return 0
        if cmd == "stop":
            if os.path.exists(state):
                _load(state).stop()
                os.unlink(state)
            return 0
        d = _load(state)
        if cmd == "go":
            d.go(args[0])
        elif cmd == "wait":
            d.wait_css(args[0], float(args[1]) if len(args) > 1 else 10.0)
        elif cmd == "wait-url":
            d.wait_url(args[0], float(args[1]) if len(args) > 1 else 10.0)
        elif cmd == "count":
            print(len(d.find_all(args[0])))
        elif cmd == "text":
            _print(d.text(d.find(args[0])))
        elif cmd == "texts":
            for el in d.find_all(args[0]):
                _print(d.text(el))
        elif cmd == "attr":
            v = d.attribute(d.find(args[0]), args[1])
            if v is None:
                raise WebDriverError("'%s' has no attribute '%s'" % (args[0], args[1]))
            _print(v)
        elif cmd == "attrs":
            for el in d.find_all(args[0]):
                _print(d.attribute(el, args[1]) or "")
        elif cmd == "click":
            d.click(d.find(args[0]))
            d.wait_load()
        elif cmd == "url":
            _print(d.url())
        elif cmd == "source":
            _print(d.source())
        elif cmd == "title":
            _print(d.title())
        elif cmd in ("js", "js-async"):
            v = (d.js if cmd == "js" else d.js_async)(args[0], *args[1:])
            print(json.dumps(v))
        elif cmd == "alert":
            what = args[0] if args else "text"
            if what == "accept":
                d.accept_alert()
                d.wait_load()
            elif what == "dismiss":
                d.dismiss_alert()
            elif what == "wait":
                _print(d.wait_alert())
            elif what == "text":
                _print(d.alert_text())
            else:
                print(usage, file=sys.stderr)
                return 2
        elif cmd == "shot":
            n = d.screenshot(args[0])
            with open(args[0], "rb") as f:
                w, h = struct.unpack(">II", f.read(24)[16:24])
            print("%dx%d %d" % (w, h, n))
    except WebDriverError as e:
        print("webdriver: %s: %s" % (cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        sys.exit(serve(sys.stdin.buffer, sys.stdout.buffer))
    sys.exit(main(sys.argv[1:]))
