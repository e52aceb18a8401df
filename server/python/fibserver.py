#!/usr/bin/env python3
"""The article's fib server in CPython, with the article's models, for measuring the real
interpreter beside fibserver's emulated GIL.

Written for threadprobe from the article's description ("A Tale of Two Concurrencies",
David Beazley), standard library only, Python >= 3.8. It speaks fibserver's wire protocol
(../../DESIGN.md, "The wire protocol"): a request is a decimal n ended by a newline, or bytes
without one that wait --raw-grace (the article's perf1.py sends b'30' and waits); the reply is
fib(n) by the naive recursion and a newline; bad input gets one "error: ..." line and the
connection stays usable. "spam N" runs the article's uninterruptible instruction,
'spam' in range(N), in the connection's own thread, and replies False. It prints fibserver's readiness line, so the probes start it the way
they start fibserver, and stops cleanly on SIGINT or SIGTERM.

  fibserver.py --model threads --port 0
  fibserver: listening on 127.0.0.1:41237 model=python:threads pid=1234
"""

import argparse
import concurrent.futures
import os
import re
import signal
import socket
import sys
import threading

MODELS = ("iterative", "threads", "pool", "threshold", "prefork")
FIB_MAX_N = 92  # the largest n whose fib fits 64 bits, as fibserver's hard cap
BLANKS = " \t\r\n\v\f"  # fibserver's blanks (Python's \s has more)
SPAM = re.compile(f"spam[{BLANKS}]+(.*)", re.DOTALL)


def fib(n):
    # The article's definition, recursion and all: its cost is the point.
    return 1 if n <= 2 else fib(n - 1) + fib(n - 2)


class Stop(Exception):
    """SIGINT or SIGTERM arrived: the main thread unwinds and the server ends."""


def duration_seconds(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration (e.g. 50ms, 1s)")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


class OneLineParser(argparse.ArgumentParser):
    # A usage error is one line naming the option, exit 2, as every threadprobe program does.
    def error(self, message):
        self.exit(2, f"fibserver.py: error: {message} (see --help)\n")


def parse_arguments(argv):
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=MODELS, default="threads")
    p.add_argument("--port", type=int, default=25000, help="TCP port; 0 picks a free one")
    p.add_argument("--bind", default="127.0.0.1", help="IPv4 address to listen on")
    p.add_argument("--workers", type=int, default=0,
                   help="worker processes for pool, threshold and prefork; 0 = one per core")
    p.add_argument("--threshold", type=int, default=15,
                   help="threshold model: n above this goes to the pool (the article's 15)")
    p.add_argument("--max-n", type=int, default=47, help="largest n accepted")
    p.add_argument("--max-line", type=int, default=128, help="longest request line in bytes")
    p.add_argument("--max-spam", type=int, default=10**9,
                   help="largest N of 'spam N' (the article's 'spam' in range(N))")
    p.add_argument("--raw-grace", type=duration_seconds, default=0.05,
                   help="how long bytes without a newline wait before they are a request")
    p.add_argument("--backlog", type=int, default=128)
    args = p.parse_args(argv)
    for name, low, high in (("port", 0, 65535), ("workers", 0, 1024), ("max_n", 0, FIB_MAX_N),
                            ("threshold", 0, FIB_MAX_N), ("max_line", 2, 1024),
                            ("max_spam", 0, (1 << 64) - 1),
                            ("backlog", 1, 1 << 30)):
        value = getattr(args, name)
        if not low <= value <= high:
            p.error(f"option '--{name.replace('_', '-')}': {value} is outside {low}..{high}")
    if args.workers == 0:
        args.workers = os.cpu_count() or 1
    return args


class Protocol:
    """Bytes in, reply lines out: fibserver's parser, line by line."""

    def __init__(self, args, compute):
        self.max_n = args.max_n
        self.max_line = args.max_line
        self.max_spam = args.max_spam
        self.compute = compute  # n -> fib(n), inline or in a worker process

    def answer(self, line):
        """The reply to one request line, and whether to close the connection after it."""
        if len(line) > self.max_line:
            return f"error: request longer than {self.max_line} bytes\n".encode(), True
        text = line.decode("ascii", "replace").strip()
        if not text:
            return b"error: empty request\n", False
        spam = SPAM.fullmatch(text)
        if spam:
            if not re.fullmatch(r"\d+", spam.group(1)):
                return b"error: not a number\n", False
            count = int(spam.group(1))
            if count > self.max_spam:
                return f"error: spam count above the limit of {self.max_spam}\n".encode(), False
            # One bytecode: range's C-level __contains__ compares every element with the string
            # and never lets go of the GIL, nor lets the main thread act on a signal.
            return f"{'spam' in range(count)}\n".encode(), False
        if not re.fullmatch(r"[+-]?\d+", text):
            return b"error: not a number\n", False
        n = int(text)
        if n < 0:
            return b"error: negative number\n", False
        if n > self.max_n:
            return f"error: n above the limit of {self.max_n}\n".encode(), False
        try:
            return f"{self.compute(n)}\n".encode(), False
        except concurrent.futures.process.BrokenProcessPool:
            return b"error: worker failed\n", False

    def serve(self, conn, raw_grace):
        """One connection, to its end: complete lines as they come, unterminated bytes once
        they have waited raw_grace or the client half-closes."""
        pending = b""
        with conn:
            while True:
                conn.settimeout(raw_grace if pending else None)
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    data = None  # the pending bytes waited long enough: they are a request
                except OSError:
                    return
                if data == b"":
                    if pending:
                        self.reply(conn, pending)
                    return
                if data is None:
                    line, pending = pending, b""
                    if self.reply(conn, line):
                        return
                    continue
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if self.reply(conn, line):
                        return
                if len(pending) > self.max_line:
                    self.reply(conn, pending)
                    return

    def reply(self, conn, line):
        """Answers one request; True when the connection is to be closed."""
        out, close = self.answer(line)
        try:
            conn.sendall(out)
        except OSError:
            return True
        return close


def serve_iteratively(listener, protocol, raw_grace):
    while True:
        conn, _ = listener.accept()
        protocol.serve(conn, raw_grace)


def serve_with_threads(listener, protocol, raw_grace):
    # One thread per connection at the interpreter's default stack size (glibc's, from
    # RLIMIT_STACK): what the article measures. Daemon threads end with the process.
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=protocol.serve, args=(conn, raw_grace), daemon=True).start()


def serve_preforked(listener, protocol, raw_grace, workers):
    # The article's pre-fork: N processes accept on the one socket, each serving one client
    # at a time. The parent only waits; on the stop signal it ends its own children, by pid.
    # The stop signals wait while it forks: one that arrived inside os.fork() would raise Stop in
    # the interpreter's after-fork hooks, which swallow it, and the server would never stop.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    children = []
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            for _ in range(workers):
                pid = os.fork()
                if pid == 0:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
                    try:
                        serve_iteratively(listener, protocol, raw_grace)
                    finally:
                        os._exit(0)
                children.append(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        while children:
            pid, _ = os.wait()
            children.remove(pid)
    finally:
        end_children(children)


def end_children(children):
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass


def worker_signals():
    # Workers fork from a parent whose handlers raise Stop: in a worker, SIGTERM (the parent
    # ending it) just ends it, and the terminal's Ctrl-C is the parent's to act on.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def end_pool(pool):
    # shutdown() alone would wait at exit for a worker's fib to finish (hours for fib(47) in
    # CPython): the workers are this process's own children, ended by their pids.
    workers = list(getattr(pool, "_processes", {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()
    # The pool's management thread notices its workers gone and ends; it is waited for here,
    # since concurrent.futures' exit hook wakes it through a pipe the thread closes as it ends,
    # and the two raced ("Exception ignored ... Bad file descriptor" on stderr, under load).
    if manager is not None:
        manager.join(timeout=5)


def stop_on_signal(signum, _frame):
    raise Stop(signal.Signals(signum).name)


def main(argv):
    args = parse_arguments(argv)
    pool = None
    compute = fib
    if args.model in ("pool", "threshold"):
        pool = concurrent.futures.ProcessPoolExecutor(args.workers, initializer=worker_signals)
        # Its processes and threads start now, before any connection, as fibserver's pool
        # does: the executor starts them at its first job, which would otherwise charge a
        # client's request (and what its connection costs) with the pool's start.
        pool.submit(fib, 1).result()
        if args.model == "pool":
            compute = lambda n: pool.submit(fib, n).result()
        else:
            compute = lambda n: fib(n) if n <= args.threshold else pool.submit(fib, n).result()
    protocol = Protocol(args, compute)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.bind, args.port))
    except OSError as e:
        print(f"fibserver.py: cannot listen on {args.bind}:{args.port}: {e.strerror}",
              file=sys.stderr)
        return 1
    listener.listen(args.backlog)
    host, port = listener.getsockname()
    how = "?"
    try:
        # A stop may come as soon as the readiness line is read, before print() has returned:
        # from the handlers on, Stop is caught here.
        signal.signal(signal.SIGINT, stop_on_signal)
        signal.signal(signal.SIGTERM, stop_on_signal)
        print(f"fibserver: listening on {host}:{port} model=python:{args.model} "
              f"pid={os.getpid()}", flush=True)
        if args.model == "iterative":
            serve_iteratively(listener, protocol, args.raw_grace)
        elif args.model == "prefork":
            serve_preforked(listener, protocol, args.raw_grace, args.workers)
        else:
            serve_with_threads(listener, protocol, args.raw_grace)
    except Stop as stop:
        how = str(stop)
    finally:
        listener.close()
        if pool is not None:
            end_pool(pool)
    print(f"fibserver.py: stopped by {how}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
