#!/usr/bin/env python3
"""Hand-made requests to a dsync relay (docs/relay-protocol.md), standard
library only, for the e2e tests and the load bench.

Signatures are real: ed25519 (RFC 8032, the reference arithmetic, a few ms a
signature) over the message M of section 8, with a device's libsodium secret
key (64 bytes: seed then public key) as the client keeps it in
~/.config/dsync/relay/GROUP-ID/DEVICE-ID ("token HEX64\\nsign-key HEX128\\n").
Hashes are BLAKE2b (hashlib), as crypto_generichash.

As a command:

    relayhttp.py req URL METHOD PATH [--creds FILE] [--device ID]
                 [--body FILE | --body-hex HEX] [--header 'K: V']... [--no-sign]
                 [--total N] [--time T] [--nonce HEX] [--save-request F]
        One request over a raw socket (PATH is sent as given, from /v1/ on,
        after the URL's own path). With --creds (the kept file), adds the token
        and, for PUT/DELETE/POST, the signature headers. Prints the status
        code on the first line, then the reply's `error` word (or "-"), then
        the body; exit 0 whatever the status.
    relayhttp.py raw URL FILE
        Sends FILE's bytes as they are (a saved request: a replay), prints as req.
    relayhttp.py slowloris URL [--interval 10] [--limit 75] [--head FILE]
        One request head sent a byte every INTERVAL s (or FILE's head at once,
        then a body a byte every INTERVAL s); prints "closed after N s" or
        "open after N s" (LIMIT reached first).
    relayhttp.py sign SKHEX METHOD PATH GID BODYHASH TOTAL TIME NONCE
        Prints the signature (hex) of M.
    relayhttp.py register-body SKHEX GID DEVICE
        Prints the body of PUT .device/DEVICE (key and proof) for SKHEX.
    relayhttp.py pubkey SKHEX|SEEDHEX
        Prints the public key of a secret key (or a 32-byte seed).
"""
import argparse
import hashlib
import os
import socket
import sys
import time
import urllib.parse

# ---- ed25519 (RFC 8032 section 6, reference arithmetic)

_P = 2 ** 255 - 19
_Q = 2 ** 252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _inv(x):
    return pow(x, _P - 2, _P)


def _add(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % _P
    B = (a[1] + a[0]) * (b[1] + b[0]) % _P
    C = 2 * a[3] * b[3] * _D % _P
    D = 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)


def _mul(s, pt):
    r = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            r = _add(r, pt)
        pt = _add(pt, pt)
        s >>= 1
    return r


def _recover_x(y, sign):
    x2 = (y * y - 1) * _inv(_D * y * y + 1) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x & 1) != sign:
        x = _P - x
    return x


_GY = 4 * _inv(5) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def _compress(pt):
    zi = _inv(pt[2])
    x, y = pt[0] * zi % _P, pt[1] * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    return _compress(_mul(_expand(seed)[0], _G))


def sign(sk, msg):
    """Ed25519 signature of MSG by SK: a libsodium secret key (seed ‖ public
    key, 64 bytes) or a 32-byte seed."""
    seed = sk[:32]
    pk = sk[32:] if len(sk) == 64 else public_key(seed)
    a, prefix = _expand(seed)
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % _Q
    R = _compress(_mul(r, _G))
    h = int.from_bytes(hashlib.sha512(R + pk + msg).digest(), "little") % _Q
    return R + ((r + h * a) % _Q).to_bytes(32, "little")


def keypair():
    seed = os.urandom(32)
    pk = public_key(seed)
    return seed + pk, pk

# ---- section 2 and 8


def b2(data, n=32):
    return hashlib.blake2b(data, digest_size=n).digest()


def group_id(name):
    folded = name.strip(" ")
    folded = "".join(c.lower() if "A" <= c <= "Z" else c for c in folded)
    return b2(b"dsync-relay-group-1\0" + folded.encode(), 16).hex()


def secret_hash(label, gid, secret):
    """TH (label "token") or AH ("admit")."""
    return b2(b"dsync-relay-" + label.encode() + b"-1\0" + bytes.fromhex(gid) + secret)


def sig_message(method, path, gid, body_hash, total, t, nonce):
    return ("dsync-relay-sig-1\n%s\n%s\n%s\n%s\n%s\n%d\n%s\n" %
            (method, path, gid, body_hash, total, t, nonce)).encode()


def register_message(gid, device, pk):
    return b"dsync-relay-register-1\0" + gid.encode() + device.encode() + pk


def signed_headers(sk, device, method, path, gid, body_hash="", total="", t=None, nonce=None):
    t = int(time.time()) if t is None else t
    nonce = nonce or os.urandom(16).hex()
    s = sign(sk, sig_message(method, path.split("?")[0], gid, body_hash, total, t, nonce))
    return [("Dsync-Device", device), ("Dsync-Time", str(t)), ("Dsync-Nonce", nonce),
            ("Dsync-Signature", s.hex())]


def read_creds(path):
    """token (bytes) and sign-key (bytes) of a kept credentials file."""
    kv = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition(" ")
            kv[k] = v
    return bytes.fromhex(kv["token"]), bytes.fromhex(kv["sign-key"])

# ---- raw HTTP/1.1


def build_request(host, method, path, headers, body):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    lines += ["%s: %s" % kv for kv in headers]
    if body is not None and method in ("PUT", "POST") and not any(k.lower() == "content-length" for k, _ in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def parse_reply(data):
    """(status, {lower-name: value}, body, raw head) of one reply."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body, head


def error_word(body):
    for line in body.decode("latin-1", "replace").splitlines():
        if line.startswith("error "):
            return line[6:]
    return "-"


def send_raw(host, port, raw, timeout=30.0):
    """Sends RAW, reads one reply (by Content-Length, or to the close)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
        _, hdrs, body, _ = parse_reply(data)
        want = int(hdrs.get("content-length", "0") or 0)
        while len(body) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
            data += chunk
        return data
    finally:
        s.close()


def slowloris(url, interval, limit, head=None):
    """Sends a request's head one byte every INTERVAL seconds (or, given
    HEAD, that at once and then its body a byte every INTERVAL s); prints
    "closed after N s" when the server closes (or answers), "open after N s"
    when LIMIT passes first."""
    u = urllib.parse.urlsplit(url)
    t0 = time.monotonic()
    s = socket.create_connection((u.hostname, u.port or 80), timeout=interval)
    if head is None:
        head = b"GET /v1/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
        s.sendall(head[:20])
        i = 20
    else:
        s.sendall(head)
        head, i = b"\0" * 1000000, 0
    while time.monotonic() - t0 < limit:
        try:
            data = s.recv(4096)
            print("closed after %d s%s" % (time.monotonic() - t0, " (answered)" if data else ""))
            return 0
        except socket.timeout:
            pass
        except OSError:
            print("closed after %d s" % (time.monotonic() - t0))
            return 0
        try:
            s.sendall(head[i:i + 1])
        except OSError:
            print("closed after %d s" % (time.monotonic() - t0))
            return 0
        i += 1
    print("open after %d s" % (time.monotonic() - t0))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("req")
    r.add_argument("url")
    r.add_argument("method")
    r.add_argument("path")
    r.add_argument("--creds")
    r.add_argument("--device")
    r.add_argument("--body")
    r.add_argument("--body-hex")
    r.add_argument("--header", action="append", default=[])
    r.add_argument("--no-sign", action="store_true")
    r.add_argument("--time", type=int)
    r.add_argument("--nonce")
    r.add_argument("--content-length", type=int, help="claim this length (signed as TOTAL)")
    r.add_argument("--send-bytes", type=int, default=0, help="with --content-length: body bytes really sent")
    r.add_argument("--expect", action="store_true", help="Expect: 100-continue")
    r.add_argument("--body-hash", help="claim and sign this Dsync-Body-Hash instead of the body's")
    r.add_argument("--no-length", action="store_true", help="signed as the body, sent without it or its length")
    r.add_argument("--save-request")
    r.add_argument("--dry", action="store_true", help="with --save-request: only save it")
    r.add_argument("--save-reply")
    s = sub.add_parser("sign")
    s.add_argument("args", nargs=8)
    p = sub.add_parser("pubkey")
    p.add_argument("key")
    g = sub.add_parser("register-body")
    g.add_argument("args", nargs=3)
    sl = sub.add_parser("slowloris")
    sl.add_argument("url")
    sl.add_argument("--interval", type=float, default=10.0)
    sl.add_argument("--limit", type=float, default=75.0)
    sl.add_argument("--head", help="a saved request head sent at once; then its body trickles")
    w = sub.add_parser("raw")
    w.add_argument("url")
    w.add_argument("file")
    a = ap.parse_args()
    if a.cmd == "slowloris":
        head = None
        if a.head:
            with open(a.head, "rb") as f:
                head = f.read()
        return slowloris(a.url, a.interval, a.limit, head)
    if a.cmd == "raw":
        u = urllib.parse.urlsplit(a.url)
        with open(a.file, "rb") as f:
            reply = send_raw(u.hostname, u.port or 80, f.read())
        status, _, rbody, _ = parse_reply(reply)
        sys.stdout.write("%d\n%s\n" % (status, error_word(rbody)))
        sys.stdout.write(rbody.decode("latin-1", "replace"))
        return 0
    if a.cmd == "sign":
        sk, method, path, gid, bh, total, t, nonce = a.args
        print(sign(bytes.fromhex(sk), sig_message(method, path, gid, bh, total, int(t), nonce)).hex())
        return 0
    if a.cmd == "register-body":
        sk, gid, device = a.args
        sk = bytes.fromhex(sk)
        pk = sk[32:] if len(sk) == 64 else public_key(sk)
        sys.stdout.write("key %s\nproof %s\n" % (pk.hex(), sign(sk, register_message(gid, device, pk)).hex()))
        return 0
    if a.cmd == "pubkey":
        print(public_key(bytes.fromhex(a.key)[:32]).hex())
        return 0
    u = urllib.parse.urlsplit(a.url)
    base = u.path.rstrip("/")
    path = base + a.path
    body = None
    if a.body is not None:
        with open(a.body, "rb") as f:
            body = f.read()
    elif a.body_hex is not None:
        body = bytes.fromhex(a.body_hex)
    headers = []
    claimed = a.content_length
    if claimed is not None:
        body = b"\0" * a.send_bytes
    if a.creds:
        token, sk = read_creds(a.creds)
        headers.append(("Authorization", "Dsync-Token " + token.hex()))
        device = a.device or os.path.basename(a.creds)
        gid = a.path.split("/")[2]
        if a.method in ("PUT", "DELETE", "POST") and not a.no_sign:
            if claimed is not None:
                bh, total = os.urandom(32).hex(), str(claimed)
            else:
                bh = a.body_hash or (b2(body).hex() if body is not None else "")
                total = str(len(body)) if a.method == "PUT" and body is not None else ""
            if a.method == "PUT" and (body is not None or claimed is not None):
                headers.append(("Dsync-Body-Hash", bh))
            if a.method == "DELETE":
                bh = ""
            headers += signed_headers(sk, device, a.method, path[len(base):], gid, bh, total, a.time, a.nonce)
    if claimed is not None:
        headers.append(("Content-Length", str(claimed)))
    if a.expect:
        headers.append(("Expect", "100-continue"))
    # --header K: V replaces a header of that name (an empty V removes it)
    for h in a.header:
        k, _, v = h.partition(":")
        k, v = k.strip(), v.strip()
        headers = [kv for kv in headers if kv[0].lower() != k.lower()]
        if v:
            headers.append((k, v))
    raw = build_request(u.netloc, a.method, path, headers, None if a.no_length else body)
    if a.save_request:
        with open(a.save_request, "wb") as f:
            f.write(raw)
        if a.dry:
            return 0
    reply = send_raw(u.hostname, u.port or 80, raw)
    if a.save_reply:
        with open(a.save_reply, "wb") as f:
            f.write(reply)
    status, _, rbody, _ = parse_reply(reply)
    sys.stdout.write("%d\n%s\n" % (status, error_word(rbody)))
    sys.stdout.write(rbody.decode("latin-1", "replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
