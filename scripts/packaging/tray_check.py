#!/usr/bin/python3
"""Starts an installed redline-desktop hidden, as "Start at login" does, and checks that its tray
item appears: a StatusNotifierItem with an icon and a menu that offers "Quit Redline"; then quits
it through that menu and expects a clean exit.

Run by scripts/package-test.sh inside `dbus-run-session`, a private Secret Service
(scripts/with-test-keyring.sh) and `xvfb-run`. The tray watcher, the bounded waits and the
cleanup of every process started are tests/desktop/smoke.py's, imported from there.

Usage: tray_check.py LOG_FILE COMMAND...   (COMMAND starts the app: `/usr/bin/redline-desktop`,
or an AppImage with its options; `--hidden` is added)
"""

import os
import signal
import subprocess
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "desktop"))

import dbus  # noqa: E402  (after the path to smoke.py)
import dbus.mainloop.glib  # noqa: E402
import smoke  # noqa: E402

TRAY_TIMEOUT_S = 60


def main():
    log_path, command = sys.argv[1], sys.argv[2:]
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    watcher = smoke.Watcher(bus)

    # A home of its own with no keys, on a free port: what a new user's first start looks like,
    # never this machine's Redline or config.
    home = smoke.temp_dir("redline-package-test-")
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[proxy]\nlisten = "127.0.0.1:0"\n')
    user_home = os.path.join(home, "user-home")
    os.mkdir(user_home)
    env = dict(os.environ, HOME=user_home, REDLINE_HOME=home)
    log = open(log_path, "w")
    app = smoke.spawn([*command, "--hidden"], env=env, stdout=log, stderr=log)

    def item():
        """The newest item of the app's process or of one under it (an AppImage's runtime
        starts the app as its child)."""
        if app.poll() is not None:
            smoke.fail(f"{command} exited with {app.returncode} before its tray item appeared; see {log_path}")
        for pid in [app.pid, *smoke.descendants(app.pid)]:
            found = watcher.item_of(pid)
            if found:
                return found
        return None

    found = smoke.wait_for(item, TRAY_TIMEOUT_S, "the tray item")
    if not found:
        smoke.fail(f"no tray item from {command} within {TRAY_TIMEOUT_S} s: items {watcher.items}; see {log_path}")
    name, path = found
    props = dbus.Interface(bus.get_object(name, path, introspect=False), dbus.PROPERTIES_IFACE).GetAll(
        smoke.ITEM, timeout=smoke.DBUS_TIMEOUT_S
    )
    if not str(props.get("IconName", "")):
        smoke.fail(f"the tray item has no icon: {dict(props)}")
    menu = dbus.Interface(bus.get_object(name, props["Menu"], introspect=False), "com.canonical.dbusmenu")

    def quit_item():
        _, layout = menu.GetLayout(0, -1, dbus.Array([], signature="s"), timeout=smoke.DBUS_TIMEOUT_S)
        return smoke.menu_item(layout, "Quit Redline")

    if smoke.wait_for(quit_item, 15, "the tray menu") is None:
        smoke.fail("the tray menu has no 'Quit Redline'")
    print(f"package-test: tray item {name}{path}, icon {str(props['IconName'])!r}, menu with 'Quit Redline'", flush=True)

    # The app rebuilds its menu when a line changes, so an id can go stale before the click
    # arrives: look it up again then, a few times.
    for attempt in range(5):
        try:
            menu.Event(quit_item()[0], "clicked", dbus.String("", variant_level=1), dbus.UInt32(0),
                       timeout=smoke.DBUS_TIMEOUT_S)
            break
        except dbus.DBusException as error:
            if "does not refer to a menu item" not in str(error.get_dbus_message()) or attempt == 4:
                raise
            smoke.pause(0.2)
    try:
        code = app.wait(timeout=20)
    except subprocess.TimeoutExpired:
        smoke.fail("Quit in the tray menu did not end the app within 20 s")
    log.close()
    if code != 0:
        smoke.fail(f"Quit ended the app with {code}; see {log_path}")
    print("package-test: Quit from the tray menu ended the app cleanly", flush=True)


if __name__ == "__main__":
    smoke.become_subreaper()
    signal.signal(signal.SIGTERM, smoke.on_sigterm)
    try:
        main()
    except Exception as error:
        traceback.print_exc()
        smoke.fail(f"unexpected {type(error).__name__}: {error}")
    finally:
        smoke.end_spawned()
        smoke.remove_temp_dirs()
