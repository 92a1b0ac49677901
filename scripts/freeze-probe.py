#!/usr/bin/env python3
"""Bounded probe of whole-machine stalls: wakes every 100 ms for SECONDS (default 30) and
reports each wake-up that came more than 200 ms late, with the CPU time the kernel
accounted to "steal" (the hypervisor running something else on this VM's CPUs) in that
interval; then a summary. Run it beside a load (a localnet run, or `dd` through the page
cache) to see whether slow heights line up with the machine itself stopping.

    python3 scripts/freeze-probe.py 60
"""
import sys
import time

PERIOD = 0.1
LATE = 0.2


def cpu_ticks():
    """user, nice, system, idle, iowait, irq, softirq, steal (clock ticks)"""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    seconds = min(max(seconds, 1.0), 3600.0)
    end = time.monotonic() + seconds
    prev_t, prev = time.monotonic(), cpu_ticks()
    wakes = late = 0
    steal_total = 0
    worst = 0.0
    while time.monotonic() < end:
        time.sleep(PERIOD)
        t, now = time.monotonic(), cpu_ticks()
        gap = t - prev_t
        steal = now[7] - prev[7]
        steal_total += steal
        wakes += 1
        if gap > LATE:
            late += 1
            worst = max(worst, gap)
            stamp = time.strftime("%H:%M:%S", time.gmtime())
            print(f"{stamp} woke {gap * 1000:.0f} ms after the last wake-up; steal {steal * 10} ms",
                  flush=True)
        prev_t, prev = t, now
    print(f"{wakes} wake-ups in {seconds:.0f} s: {late} more than {LATE * 1000:.0f} ms apart "
          f"(worst {worst * 1000:.0f} ms); steal {steal_total * 10} ms in all")


if __name__ == "__main__":
    main()
