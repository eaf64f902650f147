#!/usr/bin/python3
"""Idle footprint of redline-desktop with its window closed (run by benches/desktop_idle.sh).

Runs, each measured over SECONDS (default 60) after a settling pause:
- hidden: started with --hidden, as autostart does; the window was never opened.
- closed: started with the window open, which is then closed (WM_DELETE_WINDOW) before measuring.
- demo, hidden / demo, closed: the same with --demo, the built-in demo a new user runs first
  (simulated providers and agents; its agents run only while the window is open).

In the first two the app has one configured account whose key is not in the keyring (a
private, unlocked Secret Service: desktop_idle.sh runs scripts/with-test-keyring.sh), so it runs
the real engine (proxy and API listening, config watched) without the demo's synthetic traffic
and without polling a provider on the internet.

For the app and every descendant process: PSS and RSS (/proc/PID/smaps_rollup), CPU time
(utime + stime of /proc/PID/stat), and wake-ups (voluntary + involuntary context switches of
every thread, /proc/PID/task/*/status).

Usage: desktop_idle.py PATH/TO/redline-desktop [SECONDS] [all|account|demo]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLOSE_WINDOW = os.path.join(HERE, "..", "tests", "desktop", "close_window.py")
TICKS = os.sysconf("SC_CLK_TCK")
SETTLE_S = 10


def descendants(pid):
    """pid and every process below it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def name(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def memory_kb(pid):
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0])
    return values["Pss"], values["Rss"]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def switches(pid):
    """Context switches per thread id (threads come and go: compare thread by thread)."""
    counts = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                counts[task] = sum(
                    int(line.split()[1])
                    for line in f
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
                )
        except OSError:
            pass
    return counts


def sample(pid):
    return {p: (name(p), cpu_ticks(p), switches(p)) for p in descendants(pid)}


def measure(binary, label, args, close_window, seconds):
    home = tempfile.mkdtemp(prefix="redline-idle-")
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write(
            '[proxy]\nlisten = "127.0.0.1:0"\n\n'
            '[accounts.idle]\nprovider = "openai"\nbase_url = "http://127.0.0.1:9"\n'
        )
    env = dict(os.environ, REDLINE_HOME=home, WEBKIT_DISABLE_COMPOSITING_MODE="1")
    log = open(os.path.join(home, "stderr.log"), "w+")
    app = subprocess.Popen([binary, *args], env=env, stdout=log, stderr=log)
    measured = False
    try:
        time.sleep(SETTLE_S)
        if close_window:
            subprocess.run([sys.executable, CLOSE_WINDOW, "Redline"], check=True)
            time.sleep(SETTLE_S)
        if app.poll() is not None:
            sys.exit(f"bench: redline-desktop exited with {app.returncode} during {label}")
        # An engine that could not start (a locked keyring, say) would make an idle app look
        # smaller than it is: measure only a running engine.
        log.seek(0)
        if "Redline is listening" not in log.read():
            sys.exit(f"bench: the engine did not start during {label}; see {log.name}")
        before = sample(app.pid)
        time.sleep(seconds)
        after = sample(app.pid)
        rows = []
        for pid, (comm, ticks, wakes) in after.items():
            ticks0, wakes0 = before.get(pid, (comm, 0, {}))[1:]
            # A thread that ended during the window is not counted; one that started counts whole.
            woken = sum(n - wakes0.get(tid, 0) for tid, n in wakes.items())
            pss, rss = memory_kb(pid)
            rows.append((comm, pid, pss, rss, ticks - ticks0, woken))
        measured = True
        return rows
    finally:
        app.terminate()
        app.wait(timeout=20)
        log.close()
        # A failed run's message points at the log in the home: that home is kept.
        if measured:
            shutil.rmtree(home, ignore_errors=True)


def report(label, rows, seconds):
    print(f"\n{label}: {len(rows)} process(es), measured over {seconds} s")
    print(f"  {'process':<18} {'PSS MB':>8} {'RSS MB':>8} {'CPU %':>7} {'wake-ups/s':>11}")
    for comm, _, pss, rss, ticks, wakes in rows:
        cpu = 100.0 * ticks / TICKS / seconds
        print(f"  {comm:<18} {pss / 1024:8.1f} {rss / 1024:8.1f} {cpu:7.3f} {wakes / seconds:11.1f}")
    pss = sum(r[2] for r in rows) / 1024
    rss = sum(r[3] for r in rows) / 1024
    cpu = 100.0 * sum(r[4] for r in rows) / TICKS / seconds
    wakes = sum(r[5] for r in rows) / seconds
    print(f"  {'total':<18} {pss:8.1f} {rss:8.1f} {cpu:7.3f} {wakes:11.1f}")
    return pss, cpu


def main():
    binary = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    which = sys.argv[3] if len(sys.argv) > 3 else "all"
    # label, arguments, close the window first, CPU bar (% of one core)
    runs = []
    if which in ("all", "account"):
        runs += [
            ("hidden (started with --hidden)", ["--hidden"], False, 0.1),
            ("closed (window opened, then closed)", [], True, 0.1),
        ]
    if which in ("all", "demo"):
        runs += [
            ("demo, hidden (--demo --hidden)", ["--demo", "--hidden"], False, 0.5),
            ("demo, closed (--demo, window opened, then closed)", ["--demo"], True, 0.5),
        ]
    results = []
    for label, args, close, bar in runs:
        results.append((label, bar, *report(label, measure(binary, label, args, close, seconds), seconds)))
    print("\ntargets: under 60 MB PSS in all; under 0.1 % of one core (the demo: 0.5 %)")
    for label, bar, pss, cpu in results:
        verdict = "met" if pss < 60 and cpu < bar else "NOT met"
        print(f"  {label}: {pss:.1f} MB PSS, {cpu:.3f} % CPU: {verdict}")
    print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
