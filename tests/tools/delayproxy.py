#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that makes loopback look like a slow network.

The kernel here has no netem qdisc, so tests that need latency or a thin
pipe put this proxy between client and server:

    delayproxy.py --target PORT --port-file F [--delay-ms 25] [--rate BPS]
                  [--stats F] [--busy-first N]

It listens on a free port of its own choosing (written to --port-file once
it accepts connections, so there is no race for a port), forwards every
connection to 127.0.0.1:PORT, holds each chunk DELAY ms before passing it
on (each way, so a round trip costs twice DELAY) and, with --rate, lets
through at most BPS bytes a second each way per connection. On SIGTERM or
SIGINT it writes its counts to --stats as `key value` lines and exits 0
(on SIGUSR1 it writes them and goes on, so a test can read the counts
between two steps and subtract). With --busy-first N, the first N
connections are not forwarded: each gets, once its request's head has come,
an S3 server's "503 Slow Down" (an Error body with Code SlowDown,
Connection: close), as a busy S3 cluster answers:

    connections N
    bytes_up N       client to server
    bytes_down N     server to client
    round_trips N    times the flow turned from up to down: a request
                     answered, each one paying the delay twice
    busy N           connections answered 503 Slow Down (--busy-first)

Standard library only.
"""
import argparse
import asyncio
import os
import signal
import sys
import time

stats = {"connections": 0, "bytes_up": 0, "bytes_down": 0, "round_trips": 0, "busy": 0}

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b'<Message>Please reduce your request rate.</Message></Error>')


class Conn:
	"""One proxied connection: remembers which way data last went."""

	def __init__(self):
		self.last = None


async def pump(reader, writer, conn, way, delay, rate):
	"""Copy reader to writer, each chunk held back by delay seconds.

	Reading and delivering are separate tasks joined by a queue, so the
	delay is added to each chunk's latency, not multiplied per chunk: a
	stream of chunks arrives DELAY late, not DELAY per chunk late."""
	queue = asyncio.Queue()

	async def deliver():
		# the time the bytes delivered so far have paid for at rate
		paid = 0.0
		while True:
			due, data = await queue.get()
			if data is None:
				break
			wait = due - time.monotonic()
			if wait > 0:
				await asyncio.sleep(wait)
			if rate:
				# a virtual clock that a chunk moves on by len/rate, never
				# left behind by idle time: no burst saved up while quiet
				paid = max(paid, time.monotonic()) + len(data) / rate
				ahead = paid - time.monotonic()
				if ahead > 0:
					await asyncio.sleep(ahead)
			writer.write(data)
			try:
				await writer.drain()
			except (ConnectionError, OSError):
				break
		try:
			if writer.can_write_eof():
				writer.write_eof()
		except (ConnectionError, OSError):
			pass

	task = asyncio.ensure_future(deliver())
	try:
		while True:
			data = await reader.read(65536)
			if not data:
				break
			stats["bytes_" + way] += len(data)
			if way == "down" and conn.last == "up":
				stats["round_trips"] += 1
			conn.last = way
			queue.put_nowait((time.monotonic() + delay, data))
	except (ConnectionError, OSError):
		pass
	queue.put_nowait((0, None))
	await task


async def busy(client_r, client_w):
	"""Answers one request 503 Slow Down, as a busy S3 server does."""
	try:
		await client_r.readuntil(b"\r\n\r\n")
		client_w.write(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
			       b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(SLOW_DOWN) + SLOW_DOWN)
		await client_w.drain()
	except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
		pass
	client_w.close()


async def handle(client_r, client_w, args):
	stats["connections"] += 1
	if stats["busy"] < args.busy_first:
		stats["busy"] += 1
		await busy(client_r, client_w)
		return
	try:
		server_r, server_w = await asyncio.open_connection("127.0.0.1", args.target)
	except OSError:
		client_w.close()
		return
	conn = Conn()
	delay = args.delay_ms / 1000.0
	try:
		await asyncio.gather(
			pump(client_r, server_w, conn, "up", delay, args.rate),
			pump(server_r, client_w, conn, "down", delay, args.rate))
	except asyncio.CancelledError:
		# a connection still open when SIGTERM came: asyncio's stream
		# callback would print the cancellation as an error
		pass
	for w in (client_w, server_w):
		try:
			w.close()
		except (ConnectionError, OSError):
			pass


def write_stats(path):
	if not path:
		return
	tmp = path + ".tmp"
	with open(tmp, "w") as f:
		for k, v in stats.items():
			f.write("%s %d\n" % (k, v))
	os.replace(tmp, path)


async def main():
	p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	p.add_argument("--target", type=int, required=True, help="port on 127.0.0.1 to forward to")
	p.add_argument("--port-file", required=True, help="where to write the port listened on")
	p.add_argument("--delay-ms", type=float, default=25.0, help="delay each way (default 25)")
	p.add_argument("--rate", type=float, default=0, help="bytes/s each way per connection (0: no limit)")
	p.add_argument("--stats", help="where to write the counts on exit")
	p.add_argument("--busy-first", type=int, default=0,
		       help="answer the first N connections 503 Slow Down (an S3 server's)")
	args = p.parse_args()

	loop = asyncio.get_running_loop()
	done = asyncio.Event()
	for sig in (signal.SIGTERM, signal.SIGINT):
		loop.add_signal_handler(sig, done.set)
	loop.add_signal_handler(signal.SIGUSR1, write_stats, args.stats)

	server = await asyncio.start_server(
		lambda r, w: handle(r, w, args), "127.0.0.1", 0)
	port = server.sockets[0].getsockname()[1]
	tmp = args.port_file + ".tmp"
	with open(tmp, "w") as f:
		f.write("%d\n" % port)
	os.replace(tmp, args.port_file)

	await done.wait()
	server.close()
	write_stats(args.stats)


if __name__ == "__main__":
	asyncio.run(main())
	sys.exit(0)
