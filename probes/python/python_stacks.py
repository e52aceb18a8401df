#!/usr/bin/env python3
"""How deep a Python function recurses in a thread, and what the thread's stack reserves,
with the default stack and with threading.stack_size(SIZE): the article's claims about
threading.stack_size() and "nearly 15,000 levels", measured on this python3.

Written for threadprobe, standard library only, Python >= 3.8. Each measurement runs in a
child python3 of its own, since running out of C stack ends a process with SIGSEGV:

  - thread_vsz_kib: the virtual memory one more thread adds (/proc/self/status VmSize before
    and after a thread that waits), the stack the thread reserves with its guard, and what
    the interpreter maps for it (the child runs with MALLOC_ARENA_MAX=1: glibc's 64 MiB
    malloc arena for a new thread is not its stack);
  - python: a Python function calling itself, the recursion limit raised to --limit. Since
    Python 3.11 a Python-to-Python call runs in the same C frame of the interpreter, so this
    depth is the recursion limit's, whatever the stack;
  - through_c: a Python function that calls itself through a C function (sum over map), so
    that every level is a C call into the interpreter and takes C stack: the stack's size
    decides how deep it gets, as every Python call did in the article's Python 3.3.

  python_stacks.py --stack 256k --json python-stacks.json
"""

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time

DEFAULT_LIMIT = 200_000
CHILD_TIMEOUT_S = 60


class OneLineParser(argparse.ArgumentParser):
    # A usage error is one line naming the option, exit 2, as every threadprobe program does.
    def error(self, message):
        self.exit(2, f"python_stacks.py: error: {message} (see --help)\n")


def stack_bytes(text):
    match = re.fullmatch(r"(\d+)([kKmM]?)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size like 256k or 1m")
    value = int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    # threading.stack_size() refuses less than 32 KiB, and the size must be whole pages.
    if value < 32 * 1024 or value % 4096:
        raise argparse.ArgumentTypeError(f"'{text}': at least 32k, in whole 4 KiB pages")
    return value


def parse_arguments(argv):
    p = OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stack", type=stack_bytes, action="append", metavar="SIZE",
                   help="a thread stack size besides the default (repeatable; 256k if none)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"sys.setrecursionlimit for the measurement (default {DEFAULT_LIMIT})")
    p.add_argument("--json", metavar="FILE", help="write the results there")
    p.add_argument("--child", choices=("vsz", "python", "through_c"), help=argparse.SUPPRESS)
    p.add_argument("--child-stack", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not 1000 <= args.limit <= 10_000_000:
        p.error(f"argument --limit: {args.limit} is not from 1000 to 10000000")
    return args


def vm_size_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmSize")


# --- in the child ---------------------------------------------------------------------------

def report(line):
    # Straight to the pipe, unbuffered: a SIGSEGV must not take the last depth with it.
    os.write(1, (line + "\n").encode())


def child_vsz():
    release = threading.Event()
    started = threading.Event()

    def wait():
        started.set()
        release.wait()

    before = vm_size_kib()
    t = threading.Thread(target=wait)
    t.start()
    started.wait()
    after = vm_size_kib()
    release.set()
    t.join()
    report(f"vsz {after - before}")


def child_recursion(kind, limit):
    # Through C every level is reported, so that a crash leaves the exact depth behind.
    step = 1 if kind == "through_c" else 1000
    deepest = [0]

    def down(depth):
        deepest[0] = depth
        if depth % step == 0:
            report(f"depth {depth}")
        return down(depth + 1)

    def down_through_c(depth):
        deepest[0] = depth
        if depth % step == 0:
            report(f"depth {depth}")
        # sum() calls map's __next__, which calls this function: two C calls a level.
        return sum(map(down_through_c, (depth + 1,)))

    def run():
        try:
            (down_through_c if kind == "through_c" else down)(1)
        except RecursionError:
            pass

    sys.setrecursionlimit(limit)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    report(f"end {deepest[0]} RecursionError")


def child_main(args):
    # A crash of a measurement is expected; its core dump is not wanted.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.child_stack:
        threading.stack_size(args.child_stack)
    if args.child == "vsz":
        child_vsz()
    else:
        child_recursion(args.child, args.limit)
    return 0


# --- in the parent --------------------------------------------------------------------------

def run_child(kind, stack, limit):
    command = [sys.executable, os.path.abspath(__file__), "--child", kind,
               "--child-stack", str(stack), "--limit", str(limit)]
    # One malloc arena: glibc gives a thread that allocates an arena of its own, 64 MiB of
    # address space that is malloc's, not the stack's.
    env = dict(os.environ, MALLOC_ARENA_MAX="1")
    started = time.monotonic()
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=CHILD_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        # subprocess.run has killed and reaped it.
        return {"error": f"no answer within {CHILD_TIMEOUT_S} s"}
    words = done.stdout.decode(errors="replace").splitlines()
    seconds = round(time.monotonic() - started, 3)
    if kind == "vsz":
        if done.returncode != 0 or not words or not words[-1].startswith("vsz "):
            return {"error": f"exit {done.returncode}: {done.stderr.decode()[-200:].strip()}"}
        return {"thread_vsz_kib": int(words[-1].split()[1])}
    depths = [int(w.split()[1]) for w in words if w.startswith("depth ")]
    end = [w for w in words if w.startswith("end ")]
    if end:
        depth, stopped_by = int(end[-1].split()[1]), "RecursionError"
    elif done.returncode < 0:
        # Killed by a signal (SIGSEGV: the C stack ran into its guard page): at least the last
        # depth it wrote, at most one report interval more.
        depth = depths[-1] if depths else 0
        stopped_by = f"signal {-done.returncode}"
    else:
        return {"error": f"exit {done.returncode}: {done.stderr.decode()[-200:].strip()}"}
    return {"depth": depth, "stopped_by": stopped_by, "seconds": seconds}


def default_thread_stack():
    # glibc gives a thread RLIMIT_STACK's soft limit (8 MiB unless changed), or 2 MiB when it
    # is unlimited; Python does not choose its own.
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return soft if soft != resource.RLIM_INFINITY else 2 * 1024 * 1024


def measure(args):
    sizes = [0] + (args.stack or [256 * 1024])
    stacks = []
    for size in sizes:
        row = {"stack_bytes": size or default_thread_stack(), "default": size == 0}
        vsz = run_child("vsz", size, args.limit)
        row.update(vsz if "error" not in vsz else {"thread_vsz_kib": None, "vsz_error": vsz["error"]})
        for kind in ("python", "through_c"):
            row[kind] = run_child(kind, size, args.limit)
        stacks.append(row)
    return {
        "tool": "python_stacks",
        "python": {"implementation": platform.python_implementation(),
                   "version": platform.python_version(), "executable": sys.executable},
        "recursion_limit": args.limit,
        "stacks": stacks,
    }


def describe(row):
    label = "default" if row["default"] else "threading.stack_size"
    out = [f"{row['stack_bytes'] // 1024:>7} KiB ({label}): thread adds "
           f"{row['thread_vsz_kib']} KiB of virtual memory"]
    for kind in ("python", "through_c"):
        r = row[kind]
        name = "Python calls" if kind == "python" else "through C"
        out.append(f"    {name:<13} " + (f"error: {r['error']}" if "error" in r else
                                          f"{r['depth']:>7} levels ({r['stopped_by']})"))
    return "\n".join(out)


def main(argv):
    args = parse_arguments(argv)
    if args.child:
        return child_main(args)
    if args.json:
        try:
            with open(args.json, "a"):
                pass
        except OSError as e:
            print(f"python_stacks.py: error: cannot write --json {args.json}: {e.strerror}",
                  file=sys.stderr)
            return 1
    results = measure(args)
    print(f"python_stacks: {results['python']['implementation']} "
          f"{results['python']['version']}, recursion limit {args.limit}")
    for row in results["stacks"]:
        print(describe(row))
    if args.json:
        # Whole or not at all: a temporary file renamed over the target.
        temporary = args.json + ".tmp"
        with open(temporary, "w") as out:
            json.dump(results, out, indent=1)
            out.write("\n")
        os.replace(temporary, args.json)
    failed = any("error" in row[k] for row in results["stacks"] for k in ("python", "through_c"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
