//! Which settings the running Redline applies only when it restarts, and how to restart it as
//! it runs now (the desktop app, a systemd or launchd service, a terminal). Every other setting
//! applies to the running engine within moments of being saved.

use serde::Serialize;

/// Settings a running engine cannot take over: the address it listens on is bound once, and
/// the history's retention is fixed when its database opens.
pub const ON_RESTART: &[&str] = &["proxy.listen", "history.retention_days"];

pub fn needs_restart(key: &str) -> bool {
    ON_RESTART.contains(&key)
}

/// How the running engine was started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Launcher {
    DesktopApp,
    /// A systemd unit (`redline.service`), of the user's own manager or the system's.
    Systemd {
        unit: String,
        user: bool,
    },
    /// A launchd job (`dev.redline.daemon`).
    Launchd {
        label: String,
    },
    /// `redline daemon` run by hand.
    #[default]
    Terminal,
}

impl Launcher {
    /// This process's launcher: the desktop app says so; otherwise its environment and (on
    /// Linux) its control group tell.
    pub fn detect(desktop_app: bool) -> Launcher {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok();
        Launcher::from_surroundings(
            desktop_app,
            |name| std::env::var(name).ok(),
            cgroup.as_deref(),
        )
    }

    /// [`Launcher::detect`] from what it reads: an environment variable by name, and the text
    /// of `/proc/self/cgroup`.
    pub fn from_surroundings(
        desktop_app: bool,
        env: impl Fn(&str) -> Option<String>,
        cgroup: Option<&str>,
    ) -> Launcher {
        if desktop_app {
            return Launcher::DesktopApp;
        }
        // systemd sets INVOCATION_ID for what it starts, and puts a service in a control group
        // named after its unit. Both, because a shell opened in a terminal that runs as a
        // service inherits the variable but sits in a scope of its own.
        if env("INVOCATION_ID").is_some()
            && let Some(path) = cgroup.and_then(|text| text.lines().find_map(unified_path))
            && let Some(unit) = path.rsplit('/').next().filter(|u| u.ends_with(".service"))
        {
            return Launcher::Systemd {
                unit: unit.to_owned(),
                user: path.contains("/user@"),
            };
        }
        // launchd names the job in XPC_SERVICE_NAME; apps started from the Dock have an
        // `application.…` name and a terminal "0".
        if let Some(label) = env("XPC_SERVICE_NAME")
            && label != "0"
            && !label.is_empty()
            && !label.starts_with("application.")
        {
            return Launcher::Launchd { label };
        }
        Launcher::Terminal
    }

    /// What to do so that a restart-only setting takes effect, in a few words.
    pub fn how_to_restart(&self) -> String {
        match self {
            Launcher::DesktopApp => "quit Redline from its tray menu and open it again".to_owned(),
            Launcher::Systemd { unit, user: true } => format!("systemctl --user restart {unit}"),
            Launcher::Systemd { unit, user: false } => format!("sudo systemctl restart {unit}"),
            Launcher::Launchd { label } => format!("launchctl kickstart -k gui/$(id -u)/{label}"),
            Launcher::Terminal => "stop `redline daemon` (Ctrl-C) and start it again".to_owned(),
        }
    }
}

/// The path of the unified (cgroup v2) hierarchy in a `/proc/self/cgroup` line: `0::/path`.
fn unified_path(line: &str) -> Option<&str> {
    line.strip_prefix("0::").map(str::trim)
}

/// The sentence for saved `keys` that wait for a restart, `None` when none does. `how` is how
/// to restart the running engine; `None` when no engine runs.
pub fn note(keys: &[&str], how: Option<&str>) -> Option<String> {
    let waiting: Vec<&str> = keys.iter().copied().filter(|k| needs_restart(k)).collect();
    if waiting.is_empty() {
        return None;
    }
    let names = waiting.join(" and ");
    Some(match how {
        Some(how) => format!("{names} takes effect when Redline restarts: {how}."),
        None => format!("{names} takes effect when Redline next starts."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launcher(desktop: bool, vars: &[(&str, &str)], cgroup: Option<&str>) -> Launcher {
        let env = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        Launcher::from_surroundings(desktop, env, cgroup)
    }

    const USER_SERVICE: &str =
        "0::/user.slice/user-1000.slice/user@1000.service/app.slice/redline.service\n";

    #[test]
    fn the_launcher_is_told_by_the_environment_and_the_control_group() {
        let invocation = [("INVOCATION_ID", "5f1c")];
        assert_eq!(
            launcher(false, &invocation, Some(USER_SERVICE)),
            Launcher::Systemd {
                unit: "redline.service".into(),
                user: true
            }
        );
        assert_eq!(
            launcher(
                false,
                &invocation,
                Some("0::/system.slice/redline.service\n")
            ),
            Launcher::Systemd {
                unit: "redline.service".into(),
                user: false
            }
        );
        // A shell in a terminal that runs as a service: the variable, but a scope.
        let shell = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope";
        assert_eq!(
            launcher(false, &invocation, Some(shell)),
            Launcher::Terminal
        );
        assert_eq!(launcher(false, &[], Some(USER_SERVICE)), Launcher::Terminal);
        assert_eq!(
            launcher(false, &[("XPC_SERVICE_NAME", "dev.redline.daemon")], None),
            Launcher::Launchd {
                label: "dev.redline.daemon".into()
            }
        );
        for label in ["0", "application.com.apple.Terminal.1234"] {
            let vars = [("XPC_SERVICE_NAME", label)];
            assert_eq!(launcher(false, &vars, None), Launcher::Terminal, "{label}");
        }
        assert_eq!(
            launcher(true, &invocation, Some(USER_SERVICE)),
            Launcher::DesktopApp
        );
    }

    #[test]
    fn the_note_says_which_settings_wait_and_how_to_restart() {
        let systemd = Launcher::Systemd {
            unit: "redline.service".into(),
            user: true,
        };
        assert_eq!(
            note(&["proxy.listen"], Some(&systemd.how_to_restart())).unwrap(),
            "proxy.listen takes effect when Redline restarts: systemctl --user restart redline.service."
        );
        assert_eq!(
            note(&["thresholds.warn", "history.retention_days"], None).unwrap(),
            "history.retention_days takes effect when Redline next starts."
        );
        assert_eq!(
            note(&["proxy.queue_max_wait_s", "proxy.retry_429"], Some("x")),
            None
        );
        assert!(
            Launcher::Terminal
                .how_to_restart()
                .contains("redline daemon")
        );
        assert!(Launcher::DesktopApp.how_to_restart().contains("tray menu"));
        let launchd = Launcher::Launchd {
            label: "dev.redline.daemon".into(),
        };
        assert_eq!(
            launchd.how_to_restart(),
            "launchctl kickstart -k gui/$(id -u)/dev.redline.daemon"
        );
    }
}
