#!/usr/bin/python3
"""Time from launching redline-desktop to its tray icon and to its window (run by
benches/launch_time.sh inside `dbus-run-session`, a private Secret Service and `xvfb-run`).

For each launch (RUNS of each kind, alternating, a fresh REDLINE_HOME each):
- t0: just before the process is started;
- tray: the app's StatusNotifierItem registers with the org.kde.StatusNotifierWatcher this
  script owns (what a panel shows the icon on);
- engine: the app prints "Redline is listening" (its engine took the local port);
- window: a top-level X window titled "Redline" is mapped (MapNotify on the root window; the
  window runs in a process of its own, `redline-desktop --window`).

Kinds: "account" (one configured account whose key is not in the keyring, as
desktop_idle.py uses: the real engine, no polling of the internet) and "demo" (`--demo`, what a
new user runs first). Both with the window (the default launch) and, for the tray alone, with
`--hidden` (as Start at login does).

Every wait has a deadline (LAUNCH_TIMEOUT_S per launch); the app is ended after each launch.

Usage: launch_time.py PATH/TO/redline-desktop [RUNS]
"""

import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

WATCHER = "org.kde.StatusNotifierWatcher"
LAUNCH_TIMEOUT_S = 60
TITLE = b"Redline"
MAP_NOTIFY = 19
SUBSTRUCTURE_NOTIFY_MASK = 1 << 19


class Watcher(dbus.service.Object):
    """The part of org.kde.StatusNotifierWatcher the tray library needs; notes when an item
    registers."""

    def __init__(self, bus, on_item):
        self.on_item = on_item
        self.items = []
        self.bus_name = dbus.service.BusName(WATCHER, bus)
        super().__init__(self.bus_name, "/StatusNotifierWatcher")

    @dbus.service.method(WATCHER, in_signature="s", out_signature="", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        self.items.append(service)
        self.on_item(sender)
        self.StatusNotifierItemRegistered(service)

    @dbus.service.method(WATCHER, in_signature="s", out_signature="")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        return self.GetAll(interface)[name]

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return {
            "IsStatusNotifierHostRegistered": dbus.Boolean(True),
            "ProtocolVersion": dbus.Int32(0),
            "RegisteredStatusNotifierItems": dbus.Array(self.items, signature="s"),
        }


class MapEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("event", ctypes.c_ulong),
        ("window", ctypes.c_ulong),
        ("override_redirect", ctypes.c_int),
    ]


class Event(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("map", MapEvent), ("pad", ctypes.c_long * 24)]


class MapWatch:
    """Calls `on_window` when a top-level window titled "Redline" is mapped, from the X
    connection's events (no polling)."""

    def __init__(self, on_window):
        self.on_window = on_window
        x = ctypes.cdll.LoadLibrary("libX11.so.6")
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XDefaultRootWindow.restype = ctypes.c_ulong
        x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
        x.XConnectionNumber.argtypes = [ctypes.c_void_p]
        x.XPending.argtypes = [ctypes.c_void_p]
        x.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(Event)]
        x.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_char_p)]
        x.XFree.argtypes = [ctypes.c_void_p]
        x.XFlush.argtypes = [ctypes.c_void_p]
        self.x = x
        self.display = x.XOpenDisplay(None)
        if not self.display:
            sys.exit("launch_time: cannot open the X display")
        x.XSelectInput(self.display, x.XDefaultRootWindow(self.display), SUBSTRUCTURE_NOTIFY_MASK)
        x.XFlush(self.display)
        GLib.io_add_watch(x.XConnectionNumber(self.display), GLib.IO_IN, self.readable)

    def title(self, window):
        name = ctypes.c_char_p()
        if self.x.XFetchName(self.display, window, ctypes.byref(name)) and name.value is not None:
            return name.value
        return None

    def readable(self, *_):
        event = Event()
        while self.x.XPending(self.display):
            self.x.XNextEvent(self.display, ctypes.byref(event))
            if event.type == MAP_NOTIFY and self.title(event.map.window) == TITLE:
                self.on_window()
        return True


def launch(binary, kind, hidden, state):
    """One launch; returns {"tray": s, "engine": s, "window": s or None}."""
    home = tempfile.mkdtemp(prefix="redline-launch-")
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[proxy]\nlisten = "127.0.0.1:0"\n')
        if kind == "account":
            f.write('\n[accounts.idle]\nprovider = "openai"\nbase_url = "http://127.0.0.1:9"\n')
    args = [binary]
    if kind == "demo":
        args.append("--demo")
    if hidden:
        args.append("--hidden")
    env = dict(os.environ, REDLINE_HOME=home, WEBKIT_DISABLE_COMPOSITING_MODE="1")
    log_path = os.path.join(home, "stderr.log")
    log = open(log_path, "w+")
    loop = GLib.MainLoop()
    marks = {}
    want = {"tray", "engine"} | (set() if hidden else {"window"})

    def mark(what):
        if what not in marks:
            marks[what] = time.monotonic() - state["t0"]
        if want <= set(marks):
            loop.quit()

    launched = {}

    def on_item(sender):
        # Only this launch's app counts: a late registration of the previous one must not.
        if state["pid_of"](sender) == launched.get("pid"):
            mark("tray")

    state["on_item"] = on_item
    state["on_window"] = lambda: mark("window")

    def check_log():
        log.seek(0)
        if "Redline is listening" in log.read():
            mark("engine")
            return False
        return True

    def timeout():
        marks["timeout"] = True
        loop.quit()
        return False

    state["t0"] = time.monotonic()
    app = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    launched["pid"] = app.pid
    # The log is the only place that says when the engine listens; polled, 5 ms apart.
    GLib.timeout_add(5, check_log)
    deadline = GLib.timeout_add_seconds(LAUNCH_TIMEOUT_S, timeout)
    loop.run()
    if "timeout" not in marks:
        GLib.source_remove(deadline)
    app.terminate()
    try:
        app.wait(timeout=20)
    except subprocess.TimeoutExpired:
        app.kill()
        app.wait(timeout=10)
    # Let the window process and WebKit's go before the next launch.
    time.sleep(2)
    if "timeout" in marks:
        log.seek(0)
        sys.exit(f"launch_time: {kind} launch missed {sorted(want - set(marks))} within {LAUNCH_TIMEOUT_S} s; log:\n{log.read()[-2000:]}")
    log.close()
    shutil.rmtree(home, ignore_errors=True)
    return marks


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    bus_daemon = bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus")
    state = {
        "t0": 0.0,
        "on_item": lambda sender: None,
        "on_window": lambda: None,
        "pid_of": lambda sender: int(bus_daemon.GetConnectionUnixProcessID(sender)),
    }
    Watcher(bus, lambda sender: state["on_item"](sender))
    MapWatch(lambda: state["on_window"]())
    kinds = [("account", False), ("demo", False), ("account", True), ("demo", True)]
    results = {k: [] for k in kinds}
    # One launch of each, not counted: the binary and its libraries into the page cache.
    for kind, hidden in kinds:
        launch(binary, kind, hidden, state)
    for _ in range(runs):
        for kind, hidden in kinds:
            results[(kind, hidden)].append(launch(binary, kind, hidden, state))
    load = open("/proc/loadavg").read().split()[:3]
    print(f"\nlaunch times, median of {runs} launches each (min … max), load average {' '.join(load)}")
    print(f"  {'launch':<28} {'tray icon':>22} {'engine listening':>22} {'window mapped':>22}")

    def cell(values):
        if not values:
            return "—"
        ms = [v * 1000 for v in values]
        return f"{statistics.median(ms):.0f} ms ({min(ms):.0f} … {max(ms):.0f})"

    for kind, hidden in kinds:
        rows = results[(kind, hidden)]
        label = f"{kind}{', --hidden' if hidden else ''}"
        tray = cell([r["tray"] for r in rows])
        engine = cell([r["engine"] for r in rows])
        window = cell([r["window"] for r in rows if "window" in r])
        print(f"  {label:<28} {tray:>22} {engine:>22} {window:>22}")


if __name__ == "__main__":
    main()
