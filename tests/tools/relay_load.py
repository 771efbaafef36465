#!/usr/bin/env python3
"""Load on a dsync relay (issue 15, acceptance 7): N long-polls and M
uploaders for S seconds, raw HTTP/1.1 over asyncio, standard library only.

    relay_load.py --url URL --group NAME [--token HEX --admit HEX | --create]
                  [--polls 500] [--uploaders 50] [--seconds 30]
                  [--poll-timeout 25] [--relay-pid PID] [--create]

The group must exist (or --create makes it: PUT .group; TOKEN and ADMIT
are then random unless given: the relay only ever sees them, never a
passphrase). Each uploader
registers a device of its own (a fresh ed25519 key, PUT .device/ID with the
group's ADMIT), then until the time is up PUTs random 1-4 MiB blobs as
packs/HASH, really signed (tests/tools/relayhttp.py), and after each a small
manifest devices/ID/SEQ, which wakes the polls. A 507 over-quota makes it
delete one of its own earlier packs and go on. Every poll holds
`.poll?since=...&timeout=T` and asks again as soon as it is answered.

Afterwards every blob whose PUT was answered 2xx (and not deleted since) is
read back and its BLAKE2b checked. Exit 1 when: a blob doesn't read back
whole; a write got anything but 2xx or 507 over-quota; a poll wasn't
answered within T + 1 s; a poll got anything but 200. Prints `key value`
lines: counts, poll latency (the time from the start of the manifest PUT
that made a change to each poll's answer naming it: median, p95, max), the
relay's VmHWM and VmRSS (with --relay-pid).
"""
import argparse
import asyncio
import hashlib
import os
import random
import statistics
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relayhttp  # noqa: E402

MIB = 1024 * 1024


class Conn:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None

    async def request(self, method, path, headers, body=b"", timeout=None):
        """One request; HEADERS is a list, or a function making it (signed
        requests: a resend after the server closed a kept connection needs a
        fresh nonce, or the relay rightly calls it a replay). A body over 64
        KiB is sent after `100 Continue` (as libcurl does), so a refusal
        comes before it."""
        for attempt in (0, 1):
            if self.w is None:
                self.r, self.w = await asyncio.open_connection(self.host, self.port)
            hdrs = headers() if callable(headers) else headers
            head = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (self.host, self.port)]
            head += ["%s: %s" % kv for kv in hdrs]
            expect = len(body) > 65536
            if method in ("PUT", "POST"):
                head.append("Content-Length: %d" % len(body))
            if expect:
                head.append("Expect: 100-continue")
            try:
                self.w.write(("\r\n".join(head) + "\r\n\r\n").encode())
                if body and not expect:
                    self.w.write(body)
                await self.w.drain()
                reply = await asyncio.wait_for(self._reply(), timeout)
                if expect and reply[0] == 100:
                    self.w.write(body)
                    await self.w.drain()
                    reply = await asyncio.wait_for(self._reply(), timeout)
                elif expect:
                    # refused before the body: the connection can't be reused
                    # unless the server reads on, which we don't count on
                    self.close()
                return reply
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise ConnectionError("unreachable")

    async def _reply(self):
        head = await self.r.readuntil(b"\r\n\r\n")
        status, hdrs, _, _ = relayhttp.parse_reply(head)
        if status == 100:
            return status, hdrs, b""
        n = int(hdrs.get("content-length", "0") or 0)
        body = await self.r.readexactly(n) if n else b""
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, body

    def close(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None


class Load:
    def __init__(self, a):
        self.a = a
        u = urllib.parse.urlsplit(a.url)
        self.host, self.port = u.hostname, u.port or 80
        self.base = u.path.rstrip("/") + "/v1/" + relayhttp.group_id(a.group)
        self.gid = relayhttp.group_id(a.group)
        self.auth = ("Authorization", "Dsync-Token " + a.token)
        self.acked = {}          # name -> hash (hex) of every blob answered 2xx, not deleted since
        self.write_errors = []   # (status, error) other than 507 over-quota
        self.quota_refusals = 0
        self.puts = self.put_bytes = self.deletes = self.manifests = 0
        self.change_start = {}   # N -> when the manifest PUT that made it was sent
        self.answers = []        # (when, N, changed) of every poll answer
        self.poll_late = []      # polls answered after timeout + 1 s
        self.poll_errors = []
        self.poll_count = 0
        self.rss_max = 0
        self.stop = False

    async def create_group(self):
        th = relayhttp.secret_hash("token", self.gid, bytes.fromhex(self.a.token)).hex()
        ah = relayhttp.secret_hash("admit", self.gid, bytes.fromhex(self.a.admit)).hex()
        c = Conn(self.host, self.port)
        st, _, body = await c.request("PUT", self.base + "/.group",
                                      [self.auth, ("Dsync-Admission", self.a.admit)],
                                      ("token-hash %s\nadmit-hash %s\n" % (th, ah)).encode())
        c.close()
        if st not in (200, 201):
            raise SystemExit("creating the group: %d %s" % (st, relayhttp.error_word(body)))

    async def register(self):
        sk, pk = relayhttp.keypair()
        dev = os.urandom(16).hex()
        body = ("key %s\nproof %s\n" % (pk.hex(), relayhttp.sign(sk, relayhttp.register_message(
            self.gid, dev, pk)).hex())).encode()
        c = Conn(self.host, self.port)
        st, _, rb = await c.request("PUT", self.base + "/.device/" + dev,
                                    [self.auth, ("Dsync-Admission", self.a.admit)], body)
        c.close()
        if st not in (200, 201):
            raise SystemExit("registering a device: %d %s" % (st, relayhttp.error_word(rb)))
        return sk, dev

    def signed(self, sk, dev, method, name, body=None):
        """PATH and a function making the headers, signed anew at each call."""
        path = self.base + "/" + name
        bh, total = "", ""
        if body is not None:
            bh, total = hashlib.blake2b(body, digest_size=32).hexdigest(), str(len(body))

        def headers():
            hdrs = [self.auth] + ([("Dsync-Body-Hash", bh)] if body is not None else [])
            return hdrs + relayhttp.signed_headers(sk, dev, method, path[path.index("/v1/"):], self.gid, bh, total)
        return path, headers

    async def uploader(self, sk, dev, deadline):
        c = Conn(self.host, self.port)
        mine = []
        seq = 0
        while time.monotonic() < deadline:
            body = os.urandom(random.randint(self.a.min_blob, self.a.max_blob))
            h = hashlib.blake2b(body, digest_size=32).hexdigest()
            name = "packs/" + h
            reply = await self.put(c, sk, dev, name, body, 120)
            if reply is None:
                continue
            st, _, rb = reply
            self.puts += 1
            if 200 <= st < 300:
                self.acked[name] = h
                self.put_bytes += len(body)
                mine.append(name)
            elif st == 507 and relayhttp.error_word(rb) == "over-quota":
                self.quota_refusals += 1
                if mine:
                    victim = mine.pop(0)
                    path, hdrs = self.signed(sk, dev, "DELETE", victim)
                    st, _, rb = await c.request("DELETE", path, hdrs, timeout=60)
                    if 200 <= st < 300:
                        self.acked.pop(victim, None)
                        self.deletes += 1
                    else:
                        self.write_errors.append((st, "DELETE " + relayhttp.error_word(rb)))
            else:
                self.write_errors.append((st, "PUT " + relayhttp.error_word(rb)))
            seq += 1
            await self.manifest(c, sk, dev, seq)
        # the last manifest wakes every poll, so none waits out its timeout
        await self.manifest(c, sk, dev, seq + 1)
        c.close()

    async def put(self, c, sk, dev, name, body, timeout):
        """The reply to a signed PUT, or None (counted as an error) when the
        connection failed."""
        path, hdrs = self.signed(sk, dev, "PUT", name, body)
        try:
            return await c.request("PUT", path, hdrs, body, timeout=timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            self.write_errors.append((0, "PUT %s: %r" % (name, e)))
            c.close()
            return None

    async def manifest(self, c, sk, dev, seq):
        name = "devices/%s/%016d" % (dev, seq)
        body = os.urandom(random.randint(200, 2000))
        t = time.monotonic()
        reply = await self.put(c, sk, dev, name, body, 60)
        if reply is None:
            return
        st, rh, rb = reply
        if 200 <= st < 300:
            self.manifests += 1
            self.acked[name] = hashlib.blake2b(body, digest_size=32).hexdigest()
            ch = rh.get("dsync-change", "")
            if "." in ch:
                self.change_start[ch] = t
        elif not (st == 507 and relayhttp.error_word(rb) == "over-quota"):
            self.write_errors.append((st, "manifest " + relayhttp.error_word(rb)))
        else:
            self.quota_refusals += 1

    async def poller(self, deadline):
        c = Conn(self.host, self.port)
        since = "0000000000000000.0"
        limit = self.a.poll_timeout + 1.0
        while not self.stop or time.monotonic() < deadline:
            t = time.monotonic()
            try:
                st, _, rb = await c.request(
                    "GET", "%s/.poll?since=%s&timeout=%d" % (self.base, since, self.a.poll_timeout),
                    [self.auth], timeout=limit + 30)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                self.poll_errors.append("poll: %r" % e)
                c.close()
                await asyncio.sleep(0.5)
                continue
            now = time.monotonic()
            self.poll_count += 1
            if now - t > limit:
                self.poll_late.append(now - t)
            if st != 200:
                self.poll_errors.append("%d %s" % (st, relayhttp.error_word(rb)))
                await asyncio.sleep(0.5)
                continue
            kv = dict(line.split(" ", 1) for line in rb.decode().splitlines() if " " in line)
            since = kv.get("change", since)
            self.answers.append((now, since, kv.get("changed")))
            if time.monotonic() >= deadline:
                break
        c.close()

    async def rss_sampler(self):
        while not self.stop:
            self.rss_max = max(self.rss_max, rss(self.a.relay_pid).get("VmRSS", 0))
            await asyncio.sleep(0.5)

    async def verify(self):
        names = list(self.acked.items())
        bad = []

        async def worker():
            c = Conn(self.host, self.port)
            while names:
                name, h = names.pop()
                st, _, body = await c.request("GET", self.base + "/" + name, [self.auth], timeout=120)
                if st != 200 or hashlib.blake2b(body, digest_size=32).hexdigest() != h:
                    bad.append("%s: %d" % (name, st))
            c.close()
        await asyncio.gather(*(worker() for _ in range(8)))
        return bad

    async def run(self):
        a = self.a
        if a.create:
            await self.create_group()
        devices = [await self.register() for _ in range(a.uploaders)]
        t0 = time.monotonic()
        deadline = t0 + a.seconds
        sampler = asyncio.ensure_future(self.rss_sampler()) if a.relay_pid else None
        polls = [asyncio.ensure_future(self.poller(deadline)) for _ in range(a.polls)]
        await asyncio.sleep(0.5)  # the polls are all waiting before the first write
        await asyncio.gather(*(self.uploader(sk, dev, deadline) for sk, dev in devices))
        self.stop = True
        # the last manifests woke every poll: each ends with its answer
        await asyncio.wait_for(asyncio.gather(*polls), a.poll_timeout + 10)
        elapsed = time.monotonic() - t0
        if sampler:
            await sampler
        bad = await self.verify()
        return elapsed, bad


def rss(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except (OSError, TypeError):
        pass
    return out


def size(s):
    s = s.strip().upper()
    mult = {"K": 1024, "M": MIB, "G": 1024 * MIB}.get(s[-1:], 1)
    return int(s.rstrip("KMG")) * mult


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--token", help="hex; default: random (with --create)")
    ap.add_argument("--admit", help="hex; default: random (with --create)")
    ap.add_argument("--create", action="store_true")
    ap.add_argument("--polls", type=int, default=500)
    ap.add_argument("--uploaders", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--poll-timeout", type=int, default=25)
    ap.add_argument("--min-blob", type=size, default=MIB)
    ap.add_argument("--max-blob", type=size, default=4 * MIB)
    ap.add_argument("--relay-pid", type=int)
    a = ap.parse_args()
    # the relay never sees a passphrase, only TOKEN and ADMIT: a group made
    # here needs none
    a.token = a.token or os.urandom(32).hex()
    a.admit = a.admit or os.urandom(32).hex()
    load = Load(a)
    elapsed, bad = asyncio.run(load.run())

    lat = []
    for when, ch, changed in load.answers:
        if changed == "1" and ch in load.change_start:
            lat.append(max(0.0, when - load.change_start[ch]))
    lat.sort()
    r = rss(a.relay_pid) if a.relay_pid else {}
    print("seconds %.1f" % elapsed)
    print("polls %d" % a.polls)
    print("uploaders %d" % a.uploaders)
    print("puts %d" % load.puts)
    print("put_mib %.1f" % (load.put_bytes / MIB))
    print("manifests %d" % load.manifests)
    print("quota_refusals %d" % load.quota_refusals)
    print("deletes %d" % load.deletes)
    print("acked_blobs %d" % len(load.acked))
    print("unreadable %d" % len(bad))
    print("write_errors %d" % len(load.write_errors))
    print("poll_answers %d" % load.poll_count)
    print("poll_late %d" % len(load.poll_late))
    print("poll_errors %d" % len(load.poll_errors))
    if lat:
        print("poll_latency_ms median %.0f p95 %.0f max %.0f (n %d)" % (
            statistics.median(lat) * 1000, lat[int(len(lat) * 0.95)] * 1000, lat[-1] * 1000, len(lat)))
    else:
        print("poll_latency_ms none")
    if r:
        print("relay_vmhwm_kb %d" % r.get("VmHWM", 0))
        print("relay_vmrss_kb %d (max sampled %d)" % (r.get("VmRSS", 0), load.rss_max))
    for what in bad[:5] + ["%d %s" % e for e in load.write_errors[:5]] + load.poll_errors[:5]:
        print("# " + what)
    failed = bad or load.write_errors or load.poll_late or load.poll_errors or not load.acked or not lat
    print("result %s" % ("FAIL" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
