#!/usr/bin/python3
"""End-to-end smoke test of redline-desktop on a real X server and a real D-Bus session.

Run by tests/desktop/smoke.sh inside `dbus-run-session`, a private Secret Service and `xvfb-run`. It
- owns org.kde.StatusNotifierWatcher, so libayatana-appindicator publishes the tray item here;
- runs python-dbusmock's notification_daemon template as the notification service;
- launches `redline-desktop --demo` with short demo phases and a private REDLINE_HOME;
- waits (bounded) until the demo throttles, then asserts that a notification named the cause
  (and the retry time at most once, never in ms) and that the tray icon (the PNG named by the
  item's IconName) turned red from another colour;
- saves a screenshot of the screen with the window to artifacts/desktop-window.png;
- asserts the window runs in a process of its own (`redline-desktop --window`, with WebKit's
  processes under it and none under the tray process) that is connected to the engine's port;
- closes the window and asserts that process and WebKit's web and network processes end while
  the app stays in the tray, then launches the app a second time and asserts the running one
  opens its window again (a new window process; screenshot in
  artifacts/desktop-window-reopened.png);
- adds a key through the engine's API (as the window's "Add a real key" does) and asserts the
  app leaves the demo: the tray menu names the new account and the open window reconnects to
  the new engine;
- closes the window and clicks "Connect tools…", which opens it again on the Tools view
  (screenshot in artifacts/desktop-tools.png);
- clicks "Proxy on" and "Quit Redline" through the item's D-Bus menu and asserts the check
  mark flips and the app exits cleanly, its window process with it.

Every wait has a deadline of its own (a GLib timeout that ends the main loop, timeouts on
D-Bus calls and subprocesses; smoke.sh bounds the whole run), an exception in a callback fails
the test, and however it ends, every process it started is ended.

Usage: smoke.py PATH/TO/redline-desktop ARTIFACT_DIR
"""

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import zlib

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

WATCHER = "org.kde.StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
NOTIFICATIONS = "org.freedesktop.Notifications"
TIMEOUT_S = 120
DBUS_TIMEOUT_S = 10  # for every D-Bus call: an app that stops answering fails the test, not hangs it
HERE = os.path.dirname(os.path.abspath(__file__))
CAUSE = "concurrency limit"
ADDED_KEY = "sk-kimi-SmokeTestKeyAddedDuringDemo0001"


# Every process the test starts, ended (with everything under it) however the test ends.
SPAWNED = []
# Every directory the test makes, removed however it ends (its logs go to the artifacts folder).
TEMP_DIRS = []


def fail(message):
    print(f"smoke: FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def spawn(args, **kwargs):
    process = subprocess.Popen(args, **kwargs)
    SPAWNED.append(process)
    return process


def temp_dir(prefix):
    """A new directory under the system's temp folder, removed by remove_temp_dirs."""
    path = tempfile.mkdtemp(prefix=prefix)
    TEMP_DIRS.append(path)
    return path


def remove_temp_dirs():
    """After end_spawned: nothing that could write there is left running."""
    for path in TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def become_subreaper():
    """Processes orphaned under this one (a window or WebKit process whose parent died) become
    its children, so end_spawned still finds them."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def end_spawned():
    """Ends every process still running under this one (the app, the busy-port app, the
    notification daemon, the window and WebKit processes): SIGTERM, SIGKILL 5 s later. Left
    running, they would keep dbus-run-session and xvfb-run (and a pipe reading the output) open."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def running():
        return descendants(os.getpid())

    left = running()
    if left:
        table = processes()
        print("smoke: ending " + ", ".join(f"{table[p][1]} ({p})" for p in left if p in table), flush=True)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = running()
    for process in SPAWNED:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print(f"smoke: process {process.pid} did not end even after SIGKILL", file=sys.stderr)


def on_sigterm(signum, frame):
    fail("terminated by SIGTERM (smoke.sh's time limit?)")


def decode_png(path):
    """(width, height, rows of (r, g, b, a)) of an 8-bit RGB or RGBA PNG, no interlace."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        fail(f"{path}: unsupported PNG (depth {depth}, colour type {colour})")
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upleft = previous[i - channels] if i >= channels else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upleft)
                line[i] = (line[i] + pred) & 0xFF
        pixels = [tuple(line[x * channels : x * channels + channels]) + ((255,) if channels == 3 else ()) for x in range(width)]
        rows.append(pixels)
        previous = line
    return width, height, rows


def icon_colour(path):
    """'red', 'green', 'amber', 'grey' or 'empty': the colour of most opaque pixels (the
    no-data icon is only its translucent grey track: 'grey')."""
    _, _, rows = decode_png(path)
    counts = {"red": 0, "green": 0, "amber": 0, "grey": 0}
    for row in rows:
        for r, g, b, a in row:
            if a < 200:
                counts["grey"] += a > 0
                continue
            if r > 180 and g < 90 and b < 90:
                counts["red"] += 1
            elif g > 130 and r < 90:
                counts["green"] += 1
            elif r > 200 and 120 < g < 200 and b < 80:
                counts["amber"] += 1
            else:
                counts["grey"] += 1
    best = max(counts, key=counts.get)
    return best if counts[best] else "empty"


class Watcher(dbus.service.Object):
    """The part of org.kde.StatusNotifierWatcher appindicator needs: register, and a host.
    An item is forgotten once its owner leaves the bus (several apps register here in turn:
    the busy-port app's item goes with it)."""

    def __init__(self, bus):
        # Live items, oldest first: (bus name to call, object path, unique name of the owner).
        self.items = []
        self.gone = []  # items forgotten, their owner gone
        self.pids = {}  # unique bus name -> pid of the process behind it
        self.bus_daemon = dbus.Interface(
            bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus", introspect=False), "org.freedesktop.DBus"
        )
        self.bus_name = dbus.service.BusName(WATCHER, bus)
        super().__init__(self.bus_name, "/StatusNotifierWatcher")
        bus.add_signal_receiver(
            guarded(self.name_owner_changed, "the watcher's NameOwnerChanged handler"),
            signal_name="NameOwnerChanged",
            dbus_interface="org.freedesktop.DBus",
            bus_name="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
        )

    def name_owner_changed(self, name, old_owner, new_owner):
        if new_owner:
            return
        for item in [item for item in self.items if name in (item[0], item[2])]:
            self.items.remove(item)
            self.gone.append(f"{item[0]}{item[1]}")
            self.StatusNotifierItemUnregistered(f"{item[0]}{item[1]}")

    def pid(self, owner):
        """The pid of the process behind the unique bus name `owner`; None once it has left."""
        if owner not in self.pids:
            try:
                self.pids[owner] = int(self.bus_daemon.GetConnectionUnixProcessID(owner, timeout=DBUS_TIMEOUT_S))
            except dbus.DBusException as error:
                if error.get_dbus_name() != "org.freedesktop.DBus.Error.NameHasNoOwner":
                    raise
                return None
        return self.pids[owner]

    def item_of(self, pid):
        """(bus name, object path) of the newest live item that process `pid` registered, or
        None: never another process's item, nor one whose owner has left the bus."""
        for name, path, owner in reversed(self.items):
            if self.pid(owner) == pid:
                return name, path
        return None

    @dbus.service.method(WATCHER, in_signature="s", out_signature="", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        try:
            path = service if service.startswith("/") else "/StatusNotifierItem"
            name = sender if service.startswith("/") else service
            # appindicator registers the same item again and again (11 times in one run): list
            # it once, at the newest place.
            item = (str(name), str(path), str(sender))
            if item in self.items:
                self.items.remove(item)
            self.items.append(item)
            self.StatusNotifierItemRegistered(f"{name}{path}")
        except Exception:
            record_callback_error("the watcher's RegisterStatusNotifierItem")
            raise

    @dbus.service.method(WATCHER, in_signature="s", out_signature="")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemUnregistered(self, item):
        pass

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        return self.GetAll(interface)[name]

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return {
            "IsStatusNotifierHostRegistered": dbus.Boolean(True),
            "ProtocolVersion": dbus.Int32(0),
            "RegisteredStatusNotifierItems": dbus.Array(
                [f"{name}{path}" for name, path, _ in self.items], signature="s"
            ),
        }


def connections_of(bus_daemon, pid):
    """The unique names of the bus connections of process `pid`."""
    names = []
    for name in bus_daemon.ListNames(timeout=DBUS_TIMEOUT_S):
        if not name.startswith(":"):
            continue
        try:
            if bus_daemon.GetConnectionUnixProcessID(name, timeout=DBUS_TIMEOUT_S) == pid:
                names.append(str(name))
        except dbus.DBusException as error:
            if error.get_dbus_name() != "org.freedesktop.DBus.Error.NameHasNoOwner":
                raise
    return names


def menu_item(layout, label):
    """(id, properties) of the menu item with this label in a com.canonical.dbusmenu layout."""
    item_id, properties, children = layout
    if str(properties.get("label", "")).replace("_", "") == label:
        return int(item_id), properties
    for child in children:
        found = menu_item(child, label)
        if found is not None:
            return found
    return None


def processes():
    """{pid: (parent pid, name, command line)} of every process now."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if state == "Z":  # ended, not yet reaped
            continue
        found[int(entry)] = (int(parent), comm, [arg.decode(errors="replace") for arg in cmdline if arg])
    return found


def children(pid, table=None):
    table = processes() if table is None else table
    return [child for child, (parent, _, _) in table.items() if parent == pid]


def descendants(pid, table=None):
    table = processes() if table is None else table
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop(), table):
            todo.append(child)
            found.append(child)
    return found


def window_processes(pid):
    """The window processes (`redline-desktop --window`) the app `pid` started."""
    table = processes()
    return [child for child in children(pid, table) if "--window" in table[child][2]]


def reaped(pids):
    """Whether every process in `pids` has ended and been reaped by its parent (gone from
    /proc). A process that is exiting loses its command line before it is even a zombie, so
    `window_processes` stops listing it while the app cannot yet tell that it ended."""
    return not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def webkit_under(pid, prefix="WebKit"):
    """WebKit processes anywhere under `pid` (WebKitWebProcess, WebKitNetworkProcess)."""
    table = processes()
    return [child for child in descendants(pid, table) if table[child][1].startswith(prefix)]


def connected_to(pid, port):
    """Whether `pid` holds a TCP connection to 127.0.0.1:`port` (its socket inodes matched
    against /proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    wanted = f"0100007F:{port:04X}"
    return any(row[2] == wanted and row[9] in inodes for row in rows)


def engine_port(log_path):
    """The port of the newest engine the app started."""
    port = None
    with open(log_path) as f:
        for line in f:
            if "Redline is listening on http://127.0.0.1:" in line:
                port = int(line.rsplit(":", 1)[1])
    return port


def demo_token(log_path):
    with open(log_path) as f:
        for line in f:
            if "#token=" in line:
                return line.rsplit("#token=", 1)[1].strip()
    return None


# Exceptions raised in GLib and D-Bus callbacks. Left alone, GLib would only print them (and
# drop a timeout callback for good, so a wait would never end): kept here, they end the main
# loop and fail the test.
CALLBACK_ERRORS = []
LOOPS = []  # the main loops running now


def record_callback_error(where):
    error = sys.exc_info()[1]
    CALLBACK_ERRORS.append((where, error, traceback.format_exc()))
    for loop in LOOPS:
        loop.quit()


def guarded(callback, where):
    """`callback` for GLib or dbus-python, with any exception it raises recorded (and the main
    loop ended) instead of printed and forgotten."""

    def run(*args):
        try:
            return callback(*args)
        except BaseException:
            record_callback_error(where)
            return False

    return run


def raise_callback_errors():
    if CALLBACK_ERRORS:
        where, error, trace = CALLBACK_ERRORS[0]
        if isinstance(error, SystemExit):  # fail() in a callback: its message is out already
            raise error
        fail(f"exception in {where}:\n{trace}")


def wait_for(condition, seconds, what="a condition"):
    """Runs the GLib main loop (so the watcher answers and hears of items leaving) until
    condition() is true, checked every 0.2 s, and returns its value; None once `seconds` have
    passed. The deadline is a GLib timeout of its own: it ends the loop whatever condition
    does, and an exception in condition fails the test."""
    raise_callback_errors()
    loop = GLib.MainLoop()
    outcome = {"value": None}

    def poll():
        value = condition()
        if value:
            outcome["value"] = value
            loop.quit()
            return False
        return True

    def first_poll():
        poll()
        return False

    def deadline():
        loop.quit()
        return False

    sources = [
        GLib.idle_add(guarded(first_poll, f"checking {what}")),
        GLib.timeout_add(200, guarded(poll, f"checking {what}")),
        GLib.timeout_add(int(seconds * 1000), deadline),
    ]
    LOOPS.append(loop)
    try:
        loop.run()
    finally:
        LOOPS.remove(loop)
        context = GLib.MainContext.default()
        for source_id in sources:
            source = context.find_source_by_id(source_id)
            if source is not None and not source.is_destroyed():
                source.destroy()
    raise_callback_errors()
    return outcome["value"]


def pause(seconds):
    """Lets `seconds` pass with the main loop running (the watcher keeps answering)."""
    wait_for(lambda: False, seconds, "nothing (a pause)")


def main():
    binary, artifacts = sys.argv[1], sys.argv[2]
    os.makedirs(artifacts, exist_ok=True)
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    watcher = Watcher(bus)

    # In its own process: importing dbusmock here would change how dbus.service finds methods.
    spawn(
        [sys.executable, "-m", "dbusmock", "--session", "--template", "notification_daemon"],
        stdout=subprocess.DEVNULL,
    )
    bus_daemon = watcher.bus_daemon
    if not wait_for(lambda: bus_daemon.NameHasOwner(NOTIFICATIONS, timeout=DBUS_TIMEOUT_S), 10):
        fail("python-dbusmock's notification daemon did not start")
    notify_mock = dbus.Interface(
        bus.get_object(NOTIFICATIONS, "/org/freedesktop/Notifications"), "org.freedesktop.DBus.Mock"
    )
    home = temp_dir("redline-smoke-")
    # A free port: another Redline on this machine must not collide with the test.
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[proxy]\nlisten = "127.0.0.1:0"\n')
    # A home of its own: the app reads the AI tools' config files there (the Tools view, the
    # key scan, the watch over connected tools), never the real ones.
    user_home = os.path.join(home, "user-home")
    os.mkdir(user_home)
    env = dict(
        os.environ,
        HOME=user_home,
        REDLINE_HOME=home,
        REDLINE_DEMO_PHASE_SECONDS="6",
        WEBKIT_DISABLE_COMPOSITING_MODE="1",
        WEBKIT_DISABLE_DMABUF_RENDERER="1",
    )
    usage = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    if usage.returncode != 0 or "Usage: redline-desktop" not in usage.stdout:
        fail(f"--help did not print the usage: {usage.returncode} {usage.stdout!r} {usage.stderr!r}")

    # An engine that cannot start (its port is taken) says so in a notification naming the
    # port and what to do, and the app stays in the tray.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy_port = blocker.getsockname()[1]
    busy_home = temp_dir("redline-smoke-busy-")
    with open(os.path.join(busy_home, "config.toml"), "w") as f:
        f.write(f'[proxy]\nlisten = "127.0.0.1:{busy_port}"\n')
    with open(os.path.join(artifacts, "desktop-busy-port-stderr.log"), "w") as busy_log:
        busy = spawn([binary, "--demo", "--hidden"], env=dict(env, REDLINE_HOME=busy_home),
                     stdout=busy_log, stderr=busy_log)

        def failure_notice():
            for _, method, args in notify_mock.GetCalls(timeout=DBUS_TIMEOUT_S):
                if method == "Notify" and str(args[3]) == "Redline could not start":
                    return str(args[4])
            return None

        if not wait_for(failure_notice, 30):
            fail(f"no 'Redline could not start' notification with port {busy_port} taken")
        body = failure_notice()
        if f"127.0.0.1:{busy_port}" not in body or "proxy.listen" not in body:
            fail(f"the failure notification does not name the port and the fix: {body!r}")
        if busy.poll() is not None:
            fail(f"the app exited ({busy.returncode}) instead of staying in the tray to say why")
        busy_names = connections_of(bus_daemon, busy.pid)
        busy.terminate()
        try:
            busy.wait(timeout=20)
        except subprocess.TimeoutExpired:
            fail("the busy-port app did not end within 20 s of SIGTERM")
        # Its names (its single-instance name too) leave the bus only when the bus notices; the
        # app under test, started before that, could take it for a running Redline.
        if not wait_for(lambda: not [n for n in busy_names if bus_daemon.NameHasOwner(n, timeout=DBUS_TIMEOUT_S)], 10):
            fail(f"the busy-port app's bus connections {busy_names} outlived it by 10 s")
    blocker.close()
    notify_mock.ClearCalls(timeout=DBUS_TIMEOUT_S)
    print(f"smoke: port taken: {body!r}")

    log_path = os.path.join(artifacts, "desktop-stderr.log")
    log = open(log_path, "w")
    app = spawn([binary, "--demo"], env=env, stdout=log, stderr=log)

    state = {"colours": [], "icons": set(), "notice": None}

    def item_props(item):
        name, path = item
        return dbus.Interface(bus.get_object(name, path, introspect=False), dbus.PROPERTIES_IFACE).GetAll(
            ITEM, timeout=DBUS_TIMEOUT_S
        )

    def check():
        if app.poll() is not None:
            fail(f"redline-desktop exited early with {app.returncode}; see {log_path}")
        item = watcher.item_of(app.pid)
        if item is not None:
            try:
                props = item_props(item)
            except dbus.DBusException:
                if app.poll() is not None:
                    fail(f"redline-desktop exited early with {app.returncode}; see {log_path}")
                raise
            icon = str(props.get("IconName", ""))
            theme = str(props.get("IconThemePath", ""))
            path = icon if icon.startswith("/") else os.path.join(theme, icon + ".png")
            if icon and icon not in state["icons"]:
                # Read once: the app deletes an icon's file when it sets the next one, so the
                # file may be gone (seen next time round) but must not go between two reads.
                try:
                    with open(path, "rb") as src:
                        png = src.read()
                except FileNotFoundError:
                    png = None
                if png is not None:
                    state["icons"].add(icon)
                    copy = os.path.join(artifacts, "tray-latest.png")
                    with open(copy, "wb") as dst:
                        dst.write(png)
                    colour = icon_colour(copy)
                    state["colours"].append(colour)
                    os.replace(copy, os.path.join(artifacts, f"tray-{colour}.png"))
        for _, method, args in notify_mock.GetCalls(timeout=DBUS_TIMEOUT_S):
            if method == "Notify" and CAUSE in str(args[3]):
                state["notice"] = (str(args[3]), str(args[4]))
        return "red" in state["colours"] and state["notice"]

    if not wait_for(check, TIMEOUT_S, "the tray icon and notifications"):
        fail(
            f"no red icon and notification within {TIMEOUT_S}s: colours seen {state['colours']}, "
            f"notification {state['notice']!r}, "
            f"items {watcher.items} (app pid {app.pid}), gone {watcher.gone}"
        )
    print(f"smoke: tray icon colours in order: {state['colours']}")
    print(f"smoke: notification: {state['notice'][0]!r} / {state['notice'][1]!r}")
    body = state["notice"][1]
    # The wait is said once (none if it ran out before the notice), in whole seconds or more.
    if len(re.findall(r"\bretry in\b", body, re.IGNORECASE)) > 1 or re.search(r"\d\s*ms\b", body):
        fail(f"the notification should give the retry time at most once, never in ms: {body!r}")
    first_red = state["colours"].index("red")
    if first_red == 0:
        fail("the first icon was already red: the change to red was not seen")

    shot = os.path.join(artifacts, "desktop-window.png")
    subprocess.run(["import", "-window", "root", shot], check=True, timeout=60)
    print(f"smoke: screenshot saved to {shot}")

    # The window has a process of its own, with WebKit under it, talking to the engine.
    windows = window_processes(app.pid)
    if len(windows) != 1:
        fail(f"expected one window process under the app, found {windows}")
    if not webkit_under(windows[0], "WebKitWebProces"):
        fail("no WebKitWebProcess under the window process while the window is open")
    if [p for p in webkit_under(app.pid) if p not in webkit_under(windows[0])]:
        fail("the tray process itself started WebKit processes")
    port = engine_port(log_path)
    if port is None or not wait_for(lambda: connected_to(windows[0], port), 15):
        fail(f"the window process is not connected to the engine's port {port}")
    print(f"smoke: window process {windows[0]} with WebKit under it, connected to port {port}")

    # Closing the window ends its process and WebKit's; the app stays in the tray.
    subprocess.run([sys.executable, os.path.join(HERE, "close_window.py"), "Redline"], check=True, timeout=30)
    if not wait_for(lambda: reaped(windows) and not window_processes(app.pid) and not webkit_under(app.pid), 15):
        fail(f"15 s after the window was closed, still running: window {window_processes(app.pid)}, WebKit {webkit_under(app.pid)}")
    if app.poll() is not None:
        fail(f"closing the window ended the app ({app.returncode})")
    print("smoke: window closed, its process and WebKit's gone, app still in the tray")

    # A second launch hands over to the running app, which opens its window again.
    second = subprocess.run([binary, "--demo"], env=env, capture_output=True, text=True, timeout=60)
    if second.returncode != 0:
        fail(f"the second launch ended with {second.returncode}: {second.stderr}")
    if not wait_for(lambda: window_processes(app.pid) and webkit_under(app.pid, "WebKitWebProces"), 30):
        fail("a second launch did not open the window again (no new window and web process)")
    reopened = window_processes(app.pid)
    pause(3)  # let the dashboard draw before the picture; nothing is asserted on it
    shot = os.path.join(artifacts, "desktop-window-reopened.png")
    subprocess.run(["import", "-window", "root", shot], check=True, timeout=60)
    print(f"smoke: a second launch opened the window again; screenshot saved to {shot}")

    def menu():
        """The menu of the app's newest live tray item, looked up anew each time."""
        item = watcher.item_of(app.pid)
        if item is None:
            fail(f"the app (pid {app.pid}) has no tray item on the bus: items {watcher.items}, gone {watcher.gone}")
        return dbus.Interface(
            bus.get_object(item[0], item_props(item)["Menu"], introspect=False), "com.canonical.dbusmenu"
        )

    def layout(of=None):
        _, root = (of or menu()).GetLayout(0, -1, dbus.Array([], signature="s"), timeout=DBUS_TIMEOUT_S)
        return root

    def item(label, of=None):
        layout_now = layout(of)
        found = menu_item(layout_now, label)
        if found is None:
            fail(f"no {label!r} in the tray menu: {layout_now}")
        return found

    def click(label, attempts=5):
        """Clicks the item with this label, its id read from the menu as it is at the click. The
        app rebuilds its menu whenever a line of it changes, so the id can go stale before the
        click arrives ("The ID supplied 115 does not refer to a menu item we have"): then it
        looks again, at most `attempts` times."""
        stale = []
        for _ in range(attempts):
            now = menu()
            item_id = item(label, now)[0]
            try:
                now.Event(item_id, "clicked", dbus.String("", variant_level=1), dbus.UInt32(0), timeout=DBUS_TIMEOUT_S)
                if stale:
                    print(f"smoke: clicked {label!r} after stale ids {stale}")
                return
            except dbus.DBusException as error:
                if "does not refer to a menu item" not in str(error.get_dbus_message()):
                    raise
                stale.append(item_id)
            pause(0.2)
        fail(f"could not click {label!r}: its id was stale {attempts} times in a row: {stale}")

    # "Proxy on" is checked, and clicking it switches the proxy off.
    if item("Proxy on")[1].get("toggle-state") != 1:
        fail(f"'Proxy on' is not checked at start: {item('Proxy on')}")
    click("Proxy on")
    if not wait_for(lambda: item("Proxy on")[1].get("toggle-state") == 0, 10):
        fail("'Proxy on' stayed checked after a click")
    print("smoke: Proxy on unchecked from the menu")

    # The first real key added while the demo runs (as the window's "Add a real key" form
    # does, through the engine's API) makes the app leave the demo for the user's accounts.
    demo_port = engine_port(log_path)
    request = urllib.request.Request(
        f"http://127.0.0.1:{demo_port}/api/v1/keys",
        data=json.dumps({"id": "smoke-kimi", "provider": "kimi-code", "label": "Smoke Kimi",
                         "secret": ADDED_KEY, "verify": False}).encode(),
        headers={"authorization": f"Bearer {demo_token(log_path)}", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        if answer.status not in (200, 201):
            fail(f"adding a key answered {answer.status}")

    def left_demo():
        labels = json.dumps(layout())
        return "Smoke Kimi" in labels and "(demo)" not in labels

    if not wait_for(left_demo, 30):
        fail(f"30 s after a key was added the tray menu still shows the demo: {layout()}")
    new_port = engine_port(log_path)
    if new_port == demo_port:
        fail("no new engine was started for the user's accounts")
    if not wait_for(lambda: connected_to(reopened[0], new_port), 15):
        fail(f"the open window did not reconnect to the new engine on port {new_port}")
    pause(2)  # let the dashboard draw before the picture; nothing is asserted on it
    shot = os.path.join(artifacts, "desktop-window-after-first-key.png")
    subprocess.run(["import", "-window", "root", shot], check=True, timeout=60)
    print(f"smoke: a key added during the demo: the tray lists it, the window follows the engine on port {new_port}; screenshot {shot}")

    # "Connect tools…" opens the dashboard on its Tools view: with the window closed, a new
    # window process comes up and shows that view once its page has loaded.
    closing = window_processes(app.pid)
    subprocess.run([sys.executable, os.path.join(HERE, "close_window.py"), "Redline"], check=True, timeout=30)
    # Clicked before the app has seen its window process end, the item would be sent to the
    # window on its way out (a race no person clicking could hit, a script can).
    if not wait_for(lambda: reaped(closing) and not window_processes(app.pid), 15):
        fail(f"15 s after the window was closed, its process still runs: {window_processes(app.pid)}")
    click("Connect tools…")
    if not wait_for(lambda: window_processes(app.pid) and webkit_under(app.pid, "WebKitWebProces"), 30):
        fail("'Connect tools…' did not open the window (no new window and web process)")
    reopened = window_processes(app.pid)
    if not wait_for(lambda: connected_to(reopened[0], new_port), 15):
        fail(f"the window opened by 'Connect tools…' is not connected to the engine on port {new_port}")
    pause(3)  # let the Tools view draw before the picture (looked at by people, not asserted)
    shot = os.path.join(artifacts, "desktop-tools.png")
    subprocess.run(["import", "-window", "root", shot], check=True, timeout=60)
    print(f"smoke: 'Connect tools…' opened the window; screenshot {shot}")

    # Quit through the tray menu, as a user would, and expect a clean exit, the open window
    # closing with the app.
    click("Quit Redline")
    try:
        code = app.wait(timeout=20)
    except subprocess.TimeoutExpired:
        fail("Quit did not end the app within 20 s")
    log.close()
    if code != 0:
        fail(f"Quit ended the app with {code}; see {log_path}")
    if not wait_for(lambda: not [p for p in reopened if p in processes()], 10):
        fail(f"the window process {reopened} still runs 10 s after Quit")
    with open(log_path) as f:
        stderr = f.read()
    if "Redline stopped." not in stderr:
        fail(f"the engine did not drain and stop on Quit; see {log_path}")
    if "sk-demo-not-a-real-key" in stderr or ADDED_KEY in stderr:
        fail("a key appeared in the app's output")
    raise_callback_errors()
    print("smoke: ok")


if __name__ == "__main__":
    become_subreaper()
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        main()
    except Exception as error:  # an unexpected error fails the test with its traceback
        traceback.print_exc()
        fail(f"unexpected {type(error).__name__}: {error}")
    finally:
        end_spawned()
        remove_temp_dirs()
