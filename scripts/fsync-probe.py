#!/usr/bin/env python3
"""Measures how long a small durable write takes on this disk, two ways, while other work
(a localnet under load, say) runs: a new file + fsync + rename + fsync of the folder, and an
in-place overwrite of an allocated block + fdatasync (how the validator's signing state is
kept). Writes one of each every 50 ms for SECONDS (default 60) in DIR (default a temporary
folder), then prints percentiles. Bounded; touches nothing but its own files.

    scripts/fsync-probe.py [SECONDS] [DIR]
"""
import os
import sys
import tempfile
import time


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    if len(sys.argv) > 2:
        probe(seconds, sys.argv[2])
    else:
        with tempfile.TemporaryDirectory(prefix="fsync-probe.") as folder:
            probe(seconds, folder)


def probe(seconds, folder):
    slots = os.open(os.path.join(folder, "slots.bin"), os.O_RDWR | os.O_CREAT, 0o644)
    os.write(slots, b"\0" * 8192)
    os.fsync(slots)
    renamed, in_place = [], []
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        t0 = time.perf_counter()
        tmp = os.path.join(folder, "state.tmp")
        f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(f, os.urandom(120))
        os.fsync(f)
        os.close(f)
        os.rename(tmp, os.path.join(folder, "state.bin"))
        d = os.open(folder, os.O_RDONLY)
        os.fsync(d)
        os.close(d)
        t1 = time.perf_counter()
        os.pwrite(slots, os.urandom(120), (i % 2) * 4096)
        os.fdatasync(slots)
        t2 = time.perf_counter()
        renamed.append((t1 - t0) * 1e3)
        in_place.append((t2 - t1) * 1e3)
        i += 1
        time.sleep(0.05)
    for name, xs in (("new file + fsync + rename + fsync folder", renamed),
                     ("in-place overwrite + fdatasync", in_place)):
        xs.sort()
        n = len(xs)
        print(f"{name}: n={n} p50={xs[n // 2]:.2f} ms p99={xs[int(n * 0.99)]:.1f} ms "
              f"max={xs[-1]:.1f} ms over 50 ms: {sum(1 for x in xs if x > 50)}")


if __name__ == "__main__":
    main()
