#!/usr/bin/env python3
"""Starvation bounds of the local port (issue 16, section 2), measured on a real `redline daemon`.

Run through benches/starve.sh (a private Secret Service holds the daemon's tokens). Phases:

  slow    3,000 sockets send a request's headers a byte every 500 ms (for at most 60 s)
  idle    20,000 sockets connect and send nothing (two helper processes of 10,000 each), held
          for 10 s, then closed
  cancel  300 clients send a chat request to a provider that never answers, then give up
          (threads of this process), and again as 300 `curl --max-time 5` processes

For each: the daemon's resident memory (VmRSS) and open descriptors (/proc/PID/fd) before,
at the peak and after; whether /healthz answered meanwhile (2 s deadline each); how long the
slow sockets were held; how long the descriptors took to come back. Only 127.0.0.1 is used;
every loop has a deadline.

    starve.py REDLINE_BINARY [slow|idle|cancel ...]
"""

import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
KEY = "sk-bench-StarveKeyAbcdefghijklmnop4242"


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --------------------------------------------------------------------------------------------
# A provider that never answers: counts the requests it got and the connections still open.


class StallingProvider:
    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(4096)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.open = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            for key, _ in self.selector.select(timeout=1):
                if key.fileobj is self.listener:
                    try:
                        conn, _ = self.listener.accept()
                    except OSError:
                        continue
                    conn.setblocking(False)
                    self.selector.register(conn, selectors.EVENT_READ, data=bytearray())
                    with self.lock:
                        self.open += 1
                    continue
                conn, seen = key.fileobj, key.data
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.selector.unregister(conn)
                    conn.close()
                    with self.lock:
                        self.open -= 1
                    continue
                before = seen.count(b"\r\n\r\n")
                seen.extend(data)
                with self.lock:
                    self.requests += seen.count(b"\r\n\r\n") - before

    def figures(self):
        with self.lock:
            return self.open, self.requests


# --------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    def __init__(self, binary, home, service, port):
        self.env = dict(os.environ)
        self.env.update(
            REDLINE_HOME=home,
            REDLINE_KEYRING_SERVICE=service,
            HOME=os.path.join(home, "user-home"),
        )
        self.env.pop("XDG_CONFIG_HOME", None)
        self.env.pop("XDG_DATA_HOME", None)
        os.makedirs(self.env["HOME"], exist_ok=True)
        self.binary = binary
        self.cli(["keys", "add", "stall", "--provider", "kimi-code", "--base-url",
                  f"http://{HOST}:{port}", "--no-verify"], stdin=KEY)
        self.token = self.cli(["token"]).strip()
        self.admin = self.cli(["token", "--admin"]).strip()
        self.process = subprocess.Popen(
            [binary, "daemon", "--listen", f"{HOST}:0"], env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        ready = threading.Event()

        def drain():
            for line in self.process.stderr:
                self.log.append(line.rstrip())
                if line.startswith("Redline is listening on "):
                    self.address = line.split("http://", 1)[1].strip()
                    ready.set()
        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(30):
            raise SystemExit("the daemon did not start: " + "\n".join(self.log))
        host, port = self.address.rsplit(":", 1)
        self.addr = (host, int(port))
        self.pid = self.process.pid
        time.sleep(2)  # its first scans and polls, so "before" is its resting state

    def cli(self, args, stdin=None):
        out = subprocess.run([self.binary] + args, env=self.env, input=stdin, text=True,
                             capture_output=True, timeout=60)
        if out.returncode != 0:
            raise SystemExit(f"redline {' '.join(args)}: {out.stderr}")
        return out.stdout

    def rss_mb(self):
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def sample(self):
        return {"rss_mb": round(self.rss_mb(), 1), "fds": self.fds()}

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def healthz(addr, timeout=2.0):
    """Seconds /healthz took to answer, or None if it did not within `timeout`."""
    started = time.monotonic()
    try:
        with socket.create_connection(addr, timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            got = b""
            while b"ok\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                got += chunk
        return time.monotonic() - started
    except OSError:
        return None


def connect(addr, timeout):
    """A connection in blocking mode: with a timeout set, Python would wait before every
    MSG_DONTWAIT call."""
    sock = socket.create_connection(addr, timeout=timeout)
    sock.settimeout(None)
    return sock


def is_closed(sock):
    """Whether the other end closed `sock` (end of stream or reset), without waiting."""
    try:
        data = sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
        return data == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class Probe:
    """/healthz every second in the background; the peak RSS and descriptors meanwhile."""

    def __init__(self, daemon):
        self.daemon, self.ok, self.failed, self.slowest = daemon, 0, 0, 0.0
        self.peak = daemon.sample()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(1):
            took = healthz(self.daemon.addr)
            if took is None:
                self.failed += 1
            else:
                self.ok += 1
                self.slowest = max(self.slowest, took)
            now = self.daemon.sample()
            self.peak = {k: max(self.peak[k], now[k]) for k in now}

    def stop(self):
        self.stopping.set()
        self.thread.join()
        return {"healthz_ok": self.ok, "healthz_failed": self.failed,
                "healthz_slowest_ms": round(self.slowest * 1000, 1), "peak": self.peak}


# --------------------------------------------------------------------------------------------
# Phases


def phase_slow(daemon, count=3000, limit_s=60):
    before = daemon.sample()
    probe = Probe(daemon)
    head = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: slow/1.0\r\n" + b"x-pad: " + b"a" * 200
    socks = []
    for _ in range(count):
        try:
            socks.append(connect(daemon.addr, 2))
        except OSError:
            break
    started = time.monotonic()
    sent = 0
    open_socks = list(socks)
    held_s = None
    while open_socks and time.monotonic() - started < limit_s:
        still = []
        for s in open_socks:
            if is_closed(s):
                continue
            try:
                s.send(head[sent % len(head):sent % len(head) + 1], socket.MSG_DONTWAIT)
                still.append(s)
            except OSError:
                pass
        open_socks = still
        sent += 1
        if not open_socks:
            held_s = time.monotonic() - started
            break
        time.sleep(0.5)  # the attacker's pace
    still_open = len(open_socks)
    for s in socks:
        s.close()
    time.sleep(3)
    result = {"sockets": len(socks), "all_closed_by_daemon_after_s":
              round(held_s, 1) if held_s is not None else f"not within {limit_s} s ({still_open} open)",
              "before": before, "during": probe.stop(), "after_3s": daemon.sample()}
    return result


def hold_worker(host, port, count):
    """Helper process: opens `count` idle connections, says how many, holds them until its
    stdin says "close", then says how many the daemon had closed, and closes them."""
    raise_fd_limit()
    socks, failures = [], 0
    for _ in range(int(count)):
        try:
            socks.append(connect((host, int(port)), 1))
            failures = 0
        except OSError:
            failures += 1
            if failures >= 20:
                break
    print(f"connected {len(socks)}", flush=True)
    sys.stdin.readline()
    closed = sum(1 for s in socks if is_closed(s))
    print(f"closed_by_daemon {closed}", flush=True)
    for s in socks:
        s.close()


def phase_idle(daemon, count=20000, hold_s=10):
    before = daemon.sample()
    probe = Probe(daemon)
    workers = [subprocess.Popen(
        [sys.executable, __file__, "--hold", daemon.addr[0], str(daemon.addr[1]), str(count // 2)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    connected = sum(int(w.stdout.readline().split()[1]) for w in workers)
    time.sleep(hold_s)
    during = probe.stop()
    at_hold = daemon.sample()
    healthz_ok = healthz(daemon.addr) is not None
    closed_by_daemon = 0
    for w in workers:
        w.stdin.write("close\n")
        w.stdin.flush()
        closed_by_daemon += int(w.stdout.readline().split()[1])
    for w in workers:
        w.wait(60)
    after = {}
    mark = time.monotonic()
    for at in (1, 5, 10, 30):
        time.sleep(max(0, at - (time.monotonic() - mark)))
        after[f"after_{at}s"] = daemon.sample()
    return {"sockets_connected": connected, "closed_by_daemon_while_held": closed_by_daemon,
            "before": before, "during": during, "at_end_of_hold": at_hold,
            "healthz_at_end_of_hold": healthz_ok, **after}


def phase_cancel(daemon, provider, count=300, user_agent="python-requests/2.32.3"):
    before = daemon.sample()
    open0, requests0 = provider.figures()
    body = b'{"model":"kimi-for-coding","messages":[{"role":"user","content":"hi"}]}'
    request = (f"POST /stall/coding/v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
               f"authorization: Bearer {daemon.token}\r\nuser-agent: {user_agent}\r\n"
               f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
    socks = []
    sent_at = time.monotonic()
    for _ in range(count):
        s = socket.create_connection(daemon.addr, timeout=5)
        s.sendall(request)
        socks.append(s)
    reached = None
    while time.monotonic() - sent_at < 120:
        if provider.figures()[1] - requests0 >= count:
            reached = time.monotonic() - sent_at
            break
        time.sleep(0.05)
    during = daemon.sample()
    for s in socks:
        s.close()
    closed_at = time.monotonic()
    provider_closed = fds_back = None
    peak = during["fds"]
    while time.monotonic() - closed_at < 120 and (provider_closed is None or fds_back is None):
        now = time.monotonic() - closed_at
        if provider_closed is None and provider.figures()[0] <= open0:
            provider_closed = now
        fds = daemon.fds()
        peak = max(peak, fds)
        if fds_back is None and fds <= before["fds"] + 5:
            fds_back = now
        time.sleep(0.05)
    fmt = lambda t: round(t, 2) if t is not None else "not within 120 s"
    return {"clients": count, "user_agent": user_agent,
            "all_at_provider_after_s": fmt(reached), "before": before, "while_stalled": during,
            "provider_saw_all_closed_after_s": fmt(provider_closed),
            "daemon_fds_back_after_s": fmt(fds_back), "after": daemon.sample()}


def phase_cancel_processes(daemon, provider, home, count=300, give_up_s=5):
    """300 curl processes that give up after `give_up_s`: the daemon's process scans meet
    each of them too."""
    before = daemon.sample()
    headers = os.path.join(home, "curl-headers")
    with open(os.open(headers, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(f"authorization: Bearer {daemon.token}\ncontent-type: application/json\n")
    url = f"http://{daemon.address}/stall/coding/v1/chat/completions"
    body = '{"model":"kimi-for-coding","messages":[{"role":"user","content":"hi"}]}'
    curls = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-m", str(give_up_s), "-H", f"@{headers}",
                               "-d", body, url]) for _ in range(count)]
    peak = before["fds"]
    started = time.monotonic()
    while any(c.poll() is None for c in curls) and time.monotonic() - started < 60:
        peak = max(peak, daemon.fds())
        time.sleep(0.1)
    gone = time.monotonic()
    fds_back = None
    while time.monotonic() - gone < 60:
        fds = daemon.fds()
        peak = max(peak, fds)
        if fds <= before["fds"] + 5:
            fds_back = time.monotonic() - gone
            break
        time.sleep(0.1)
    return {"curl_processes": count, "before": before, "peak_fds": peak,
            "daemon_fds_back_after_s": round(fds_back, 2) if fds_back is not None else "not within 60 s",
            "after": daemon.sample()}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--hold":
        hold_worker(*sys.argv[2:5])
        return
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    phases = sys.argv[2:] or ["slow", "idle", "cancel"]
    raise_fd_limit()
    provider = StallingProvider()
    with tempfile.TemporaryDirectory(prefix="redline-starve-") as home:
        service = f"redline-starve-{os.getpid()}"
        daemon = Daemon(binary, os.path.join(home, "redline-home"), service, provider.port)
        print(f"# {binary} (pid {daemon.pid}) on {daemon.address}; open-files limit {raise_fd_limit()}")
        try:
            for phase in phases:
                if phase == "slow":
                    result = phase_slow(daemon)
                elif phase == "idle":
                    result = phase_idle(daemon)
                elif phase == "cancel":
                    result = phase_cancel(daemon, provider)
                    print(f"cancel: {result}", flush=True)
                    result = phase_cancel(daemon, provider, user_agent="starve-bench/1.0")
                    print(f"cancel: {result}", flush=True)
                    result = phase_cancel_processes(daemon, provider, home)
                else:
                    raise SystemExit(f"unknown phase {phase}")
                print(f"{phase}: {result}", flush=True)
        finally:
            daemon.stop()
            notes = [l for l in daemon.log if "accept" in l or "open files" in l.lower() or "connections" in l]
            for line in notes[:10]:
                print(f"daemon said: {line}")


if __name__ == "__main__":
    main()
