//! Writing a tool's config file safely, and keeping the bytes `disconnect` needs.
//!
//! [`write_atomic`] replaces a file in one step (a temporary file beside it, synced, renamed
//! over it), so a crash leaves the old file or the new one, never half of one; the file keeps
//! its permissions, and a new file is private (0600), since it holds a token. A symbolic link
//! (dotfiles kept in a repository) is followed: the file it points to is replaced, and the link
//! stays.
//!
//! [`BackupStore`] keeps, per tool, the exact bytes of the file before `connect` (or that
//! there was none), the bytes Redline wrote, and the file's path, under Redline's data
//! directory, private to the user: the old file may hold a real key.

use super::Tool;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` atomically, creating the directory when missing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let path = resolve_link(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let existing = fs::metadata(&path).ok().map(|m| m.permissions());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.redline-{}-{:08x}.tmp",
        std::process::id(),
        fastrand::u32(..)
    ));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        if let Some(permissions) = existing {
            file.set_permissions(permissions)?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &path)?;
        sync_dir(&dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes `path` (the file did not exist before `connect`); a missing file is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    let path = resolve_link(path)?;
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => {
            if let Some(dir) = path.parent() {
                sync_dir(dir);
            }
            Ok(())
        }
    }
}

/// The file a symbolic link points to (followed to the end), or `path` itself.
fn resolve_link(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(target) => Ok(target),
            // A dangling link: write where it points.
            Err(_) => {
                let target = fs::read_link(path)?;
                Ok(match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                })
            }
        },
        _ => Ok(path.to_path_buf()),
    }
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable on Unix; directories cannot be opened this way on Windows.
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// What `disconnect` needs for one tool.
#[derive(Clone, PartialEq, Eq)]
pub struct Backup {
    /// The config file.
    pub path: PathBuf,
    /// Its bytes before `connect`; None when there was no file.
    pub original: Option<Vec<u8>>,
    /// The bytes `connect` wrote.
    pub written: Vec<u8>,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup")
            .field("path", &self.path)
            .field("original", &self.original.as_ref().map(Vec::len))
            .field("written", &self.written.len())
            .finish()
    }
}

/// `<data dir>/tool-backups/<tool>/`: `original` (or `original.absent`), `written`, `path`.
pub struct BackupStore {
    dir: PathBuf,
}

impl BackupStore {
    /// The store under Redline's data directory.
    pub fn new(data_dir: &Path) -> BackupStore {
        BackupStore {
            dir: data_dir.join("tool-backups"),
        }
    }

    fn tool_dir(&self, tool: Tool) -> PathBuf {
        self.dir.join(tool.name())
    }

    /// Keeps `backup` for `tool`, replacing any earlier one. A reconnect should keep the
    /// first `original` (see [`BackupStore::load`]) so that `disconnect` goes back to the
    /// user's own file, not to an earlier Redline edit.
    pub fn save(&self, tool: Tool, backup: &Backup) -> io::Result<()> {
        let dir = self.tool_dir(tool);
        private_dir(&self.dir)?;
        private_dir(&dir)?;
        // `written` last: a backup without it is incomplete and reads as none.
        let _ = fs::remove_file(dir.join("written"));
        match &backup.original {
            Some(bytes) => {
                write_atomic(&dir.join("original"), bytes)?;
                let _ = fs::remove_file(dir.join("original.absent"));
            }
            None => {
                write_atomic(&dir.join("original.absent"), b"")?;
                let _ = fs::remove_file(dir.join("original"));
            }
        }
        write_atomic(&dir.join("path"), path_bytes(&backup.path).as_slice())?;
        write_atomic(&dir.join("written"), &backup.written)
    }

    /// The backup for `tool`, or None when there is none (or only an incomplete one).
    pub fn load(&self, tool: Tool) -> io::Result<Option<Backup>> {
        let dir = self.tool_dir(tool);
        let written = match fs::read(dir.join("written")) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let original = match fs::read(dir.join("original")) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !dir.join("original.absent").exists() {
                    return Ok(None);
                }
                None
            }
            Err(e) => return Err(e),
        };
        let path = path_from_bytes(fs::read(dir.join("path"))?);
        Ok(Some(Backup {
            path,
            original,
            written,
        }))
    }

    /// Forgets `tool`'s backup (after a successful `disconnect`).
    pub fn remove(&self, tool: Tool) -> io::Result<()> {
        match fs::remove_dir_all(self.tool_dir(tool)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_is_private_and_its_directory_is_made() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join(".codex/config.toml");
        write_atomic(&path, b"model = \"x\"\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"model = \"x\"\n");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file stays: {leftovers:?}");
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("settings.json");
        fs::write(&path, b"{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"{\"a\": 1}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"a\": 1}");
        assert_eq!(mode(&path), 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_stays_and_its_target_is_replaced() {
        let home = tempfile::tempdir().unwrap();
        let real = home.path().join("dotfiles/aider.yml");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, b"model: a\n").unwrap();
        let link = home.path().join(".aider.conf.yml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"model: b\n").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"model: b\n");
        remove(&link).unwrap();
        assert!(!real.exists());
    }

    #[test]
    fn removing_a_missing_file_is_fine() {
        let home = tempfile::tempdir().unwrap();
        remove(&home.path().join("nothing.json")).unwrap();
    }

    #[test]
    fn backups_keep_exact_bytes_and_an_absent_original() {
        let data = tempfile::tempdir().unwrap();
        let store = BackupStore::new(data.path());
        assert_eq!(store.load(Tool::Codex).unwrap(), None);
        let with_file = Backup {
            path: PathBuf::from("/home/u/.codex/config.toml"),
            original: Some(b"# mine\r\nmodel = \"o3\"\r\n\xEF\xBB\xBF".to_vec()),
            written: b"written".to_vec(),
        };
        store.save(Tool::Codex, &with_file).unwrap();
        assert_eq!(store.load(Tool::Codex).unwrap(), Some(with_file));
        let without = Backup {
            path: PathBuf::from("/home/u/.codex/config.toml"),
            original: None,
            written: b"new".to_vec(),
        };
        store.save(Tool::Codex, &without).unwrap();
        assert_eq!(store.load(Tool::Codex).unwrap(), Some(without));
        assert_eq!(store.load(Tool::Aider).unwrap(), None, "per tool");
        #[cfg(unix)]
        {
            assert_eq!(mode(&data.path().join("tool-backups/codex")), 0o700);
            assert_eq!(mode(&data.path().join("tool-backups/codex/written")), 0o600);
        }
        store.remove(Tool::Codex).unwrap();
        assert_eq!(store.load(Tool::Codex).unwrap(), None);
        store.remove(Tool::Codex).unwrap();
    }

    #[test]
    fn an_incomplete_backup_reads_as_none() {
        let data = tempfile::tempdir().unwrap();
        let store = BackupStore::new(data.path());
        let dir = data.path().join("tool-backups/kimi");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("original"), b"x").unwrap();
        assert_eq!(store.load(Tool::Kimi).unwrap(), None);
    }
}
