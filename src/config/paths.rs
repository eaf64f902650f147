//! Where Redline keeps its files: everything under `REDLINE_HOME` when it is set (tests use a
//! temp dir), otherwise the platform's standard directories (XDG on Linux).

use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Paths {
    config_dir: PathBuf,
    data_dir: PathBuf,
    runtime_dir: PathBuf,
}

impl Paths {
    /// Reads `REDLINE_HOME`, falling back to the platform directories.
    pub fn from_env() -> Result<Paths, String> {
        match std::env::var_os("REDLINE_HOME") {
            Some(home) if home.is_empty() => {
                Err("REDLINE_HOME is set but empty: unset it or point it at a directory".into())
            }
            Some(home) => {
                let home = PathBuf::from(home);
                let home = if home.is_absolute() {
                    home
                } else {
                    std::env::current_dir()
                        .map_err(|e| format!("cannot resolve REDLINE_HOME: {e}"))?
                        .join(home)
                };
                Ok(Paths::under(&home))
            }
            None => {
                let dirs = directories::ProjectDirs::from("dev", "redline", "redline").ok_or(
                    "cannot find your home directory: set REDLINE_HOME to a directory for Redline's files",
                )?;
                // XDG_RUNTIME_DIR is per login and emptied at logout: the right place for
                // what says where a running Redline listens.
                let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR")
                    .filter(|dir| !dir.is_empty())
                    .map(|dir| PathBuf::from(dir).join("redline"))
                    .unwrap_or_else(|| dirs.data_dir().to_path_buf());
                Ok(Paths {
                    config_dir: dirs.config_dir().to_path_buf(),
                    data_dir: dirs.data_dir().to_path_buf(),
                    runtime_dir,
                })
            }
        }
    }

    /// Everything under one directory.
    pub fn under(home: &Path) -> Paths {
        Paths {
            config_dir: home.to_path_buf(),
            data_dir: home.to_path_buf(),
            runtime_dir: home.to_path_buf(),
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// Where the history database and logs go (used from the history issue on).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where a running engine says where it listens (`serve::runtime_file`):
    /// `$XDG_RUNTIME_DIR/redline`, else the data dir; under `REDLINE_HOME` when that is set.
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }
}
