"""mp_bench.py: the Python peer of the isolate benchmarks, stdlib only.

    rt       multiprocessing.Pipe round trip of {"msg": n}, parent and
             child Process, us a round trip
    oneway   multiprocessing.Queue, put in a producer process, get in the
             consumer (this process), msg/s from the first put to the
             last get
    spawn    multiprocessing.Process start + one message back through a
             Pipe + join, ms a spawn
    compute  concurrent.futures.ProcessPoolExecutor, warm, one trivial
             submit().result() at a time, us a call
    pool     the same, measured on its own beside bench_pool's rows
    pool_map multiprocessing.Pool.map of a trivial function over N items,
             with the best of a few chunksizes (tried first), items/s

Run as `/usr/bin/python3 bench/peers/mp_bench.py`; QUICK=1 in the
environment runs 3 short rounds. Prints one JSON object a measurement on
stdout and nothing else; the interpreter's version and any error go to
stderr. Exits 1 if a measurement fails. Processes are started with the
"fork" method, as isolate starts its isolates.
"""

import concurrent.futures
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import statistics
import sys
import threading
import time

CTX = multiprocessing.get_context("fork")
TIMEOUT = 20.0  # seconds a peer may take to exit once told to


def log(*args):
    print("mp_bench:", *args, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def emit(bench, unit, better, values):
    values = sorted(values)
    print(json.dumps({
        "bench": bench, "impl": "python", "unit": unit,
        "median": round(statistics.median_low(values), 3),
        "min": round(values[0], 3), "max": round(values[-1], 3),
        "rounds": len(values), "better": better}), flush=True)


def die_with_parent():
    # Every child runs this first: a parent killed outright (SIGKILL) must
    # not leave its children behind, pool workers included.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, signal.SIGKILL) != 0:  # PR_SET_PDEATHSIG
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def abandon(proc, *conns):
    """After a failure: close our ends, end the peer, reap it."""
    for c in conns:
        c.close()
    if proc.is_alive():
        proc.kill()
    proc.join()


def reap(proc, what):
    proc.join(TIMEOUT)
    if proc.is_alive():
        proc.kill()
        proc.join()
        raise BenchError(f"{what}: peer process did not exit")
    if proc.exitcode != 0:
        raise BenchError(f"{what}: peer process exited {proc.exitcode}")


def recv(conn, what):
    # A plain recv(), as users write it: the peer's end is closed here, so
    # a peer that dies raises EOFError at once.
    try:
        return conn.recv()
    except EOFError:
        raise BenchError(f"{what}: the peer closed its end (did it die?)")


# ---- rt: Pipe round trip ---------------------------------------------

def echo_child(conn):
    die_with_parent()
    while True:
        m = conn.recv()
        if m is None:
            conn.send(None)
            return
        conn.send(m)


def rt_batch(conn, iters):
    for k in range(iters):
        m = {"msg": k & 0x7f}
        conn.send(m)
        if recv(conn, "rt") != m:
            raise BenchError("rt: echo differs from the message sent")


def bench_rt(rounds, iters):
    here, there = CTX.Pipe()
    proc = CTX.Process(target=echo_child, args=(there,), daemon=True)
    proc.start()
    there.close()
    try:
        rt_batch(here, iters // 10 + 1)  # warm up
        values = []
        for _ in range(rounds):
            t = time.perf_counter()
            rt_batch(here, iters)
            values.append((time.perf_counter() - t) / iters * 1e6)
        here.send(None)
        if recv(here, "rt") is not None:
            raise BenchError("rt: peer did not stop")
    except BaseException:
        abandon(proc, here)
        raise
    reap(proc, "rt")
    here.close()
    log(f"rt: {rounds} rounds of {iters} Pipe round trips")
    emit("rt", "us", "lower", values)


# ---- oneway: Queue ---------------------------------------------------

def producer_child(q, ctl):
    # For each count from ctl: put that many messages, then send back the
    # time of the first put (time.monotonic is CLOCK_MONOTONIC, the same
    # clock in every process). A count of 0 ends it.
    die_with_parent()
    while True:
        n = ctl.recv()
        if n == 0:
            return
        t0 = time.monotonic()
        for k in range(n):
            q.put({"msg": k & 0x7f})
        ctl.send(t0)


def on_dead(signum, frame):
    raise BenchError("oneway: the producer died")


def watchdog(proc, expected, main_ident):
    # A blocking get(), as users write it, never notices a dead producer:
    # this process holds the queue's write end too, and a producer killed
    # while writing leaves the queue's write lock held. Interrupt the main
    # thread's read instead; on_dead raises there.
    multiprocessing.connection.wait([proc.sentinel])
    if not expected.is_set():
        signal.pthread_kill(main_ident, signal.SIGUSR1)


def oneway_batch(q, ctl, n):
    ctl.send(n)
    for k in range(n):
        if q.get() != {"msg": k & 0x7f}:
            raise BenchError(f"oneway: message {k} differs from the one put")
    t1 = time.monotonic()
    return t1 - recv(ctl, "oneway")


def bench_oneway(rounds, iters):
    q = CTX.Queue()
    ctl, there = CTX.Pipe()
    proc = CTX.Process(target=producer_child, args=(q, there), daemon=True)
    proc.start()
    there.close()
    expected = threading.Event()
    old = signal.signal(signal.SIGUSR1, on_dead)
    watcher = threading.Thread(target=watchdog, daemon=True, args=(
        proc, expected, threading.main_thread().ident))
    watcher.start()
    try:
        oneway_batch(q, ctl, iters // 10 + 1)  # warm up
        values = [iters / oneway_batch(q, ctl, iters) for _ in range(rounds)]
        expected.set()  # before the child can exit
        ctl.send(0)
    except BaseException:
        expected.set()
        abandon(proc, ctl)
        watcher.join()
        signal.signal(signal.SIGUSR1, old)
        q.cancel_join_thread()
        raise
    reap(proc, "oneway")
    watcher.join()
    signal.signal(signal.SIGUSR1, old)
    ctl.close()
    q.close()
    q.join_thread()
    log(f"oneway: {rounds} rounds of {iters} Queue messages")
    emit("oneway", "msg/s", "higher", values)


# ---- spawn: Process start + first message + join ---------------------

def hello_child(conn):
    conn.send({"msg": 0})


def spawn_one():
    here, there = CTX.Pipe(duplex=False)
    proc = CTX.Process(target=hello_child, args=(there,))
    proc.start()
    there.close()
    try:
        if recv(here, "spawn") != {"msg": 0}:
            raise BenchError("spawn: wrong first message")
    except BaseException:
        abandon(proc, here)
        raise
    reap(proc, "spawn")
    here.close()


def bench_spawn(rounds, iters):
    for _ in range(max(1, iters // 10)):
        spawn_one()  # warm up
    values = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(iters):
            spawn_one()
        values.append((time.perf_counter() - t) / iters * 1e3)
    log(f"spawn: {rounds} rounds of {iters} Process start+message+join")
    emit("spawn", "ms", "lower", values)


# ---- compute: warm ProcessPoolExecutor -------------------------------

def trivial(x):
    return x + 1


def compute_batch(pool, iters):
    for k in range(iters):
        if pool.submit(trivial, k).result() != k + 1:
            raise BenchError("compute: wrong result")


def bench_compute(rounds, iters):
    with concurrent.futures.ProcessPoolExecutor(
            mp_context=CTX, initializer=die_with_parent) as pool:
        compute_batch(pool, max(20, iters // 10))  # start the workers
        values = []
        for _ in range(rounds):
            t = time.perf_counter()
            compute_batch(pool, iters)
            values.append((time.perf_counter() - t) / iters * 1e6)
    log(f"compute: {rounds} rounds of {iters} ProcessPoolExecutor calls, "
        f"{os.cpu_count()} workers")
    emit("compute", "us", "lower", values)


# ---- pool, pool_map: the peers of bench_pool -------------------------

def bench_pool(rounds, iters):
    with concurrent.futures.ProcessPoolExecutor(
            mp_context=CTX, initializer=die_with_parent) as pool:
        compute_batch(pool, max(20, iters // 10))  # start the workers
        values = []
        for _ in range(rounds):
            t = time.perf_counter()
            compute_batch(pool, iters)
            values.append((time.perf_counter() - t) / iters * 1e6)
    log(f"pool: {rounds} rounds of {iters} ProcessPoolExecutor calls, "
        f"{os.cpu_count()} workers")
    emit("pool", "us", "lower", values)


def map_once(pool, n, chunksize):
    t = time.perf_counter()
    out = pool.map(trivial, range(n), chunksize)
    t = time.perf_counter() - t
    if len(out) != n or out[-1] != n:
        raise BenchError("pool_map: wrong results")
    return n / t


def bench_pool_map(rounds, n):
    with CTX.Pool(initializer=die_with_parent) as pool:
        map_once(pool, n // 10, None)  # start the workers
        # None: Pool.map's own choice, len / (4 * workers)
        tried = {c: map_once(pool, n, c) for c in (None, 100, 1000, 10000)}
        best = max(tried, key=tried.get)
        values = [map_once(pool, n, best) for _ in range(rounds)]
    log(f"pool_map: {rounds} rounds of Pool.map over {n} items, chunksize "
        f"{best} (best of {sorted(tried, key=str)}), {os.cpu_count()} "
        f"workers")
    emit("pool_map", "jobs/s", "higher", values)


def main():
    quick = os.environ.get("QUICK", "") not in ("", "0")
    log(f"Python {sys.version.split()[0]} ({sys.executable}), "
        f"start method fork")
    try:
        if quick:
            bench_rt(3, 500)
            bench_oneway(3, 2000)
            bench_spawn(3, 10)
            bench_compute(3, 200)
            bench_pool(3, 200)
            bench_pool_map(3, 10000)
        else:
            bench_rt(9, 10000)
            bench_oneway(9, 200000)
            bench_spawn(9, 200)
            bench_compute(9, 5000)
            bench_pool(9, 5000)
            bench_pool_map(9, 100000)
    except Exception as e:  # any failure is an error, not a skipped line
        log(f"error: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
