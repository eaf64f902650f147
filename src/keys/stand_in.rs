//! The stand-in admin credential: what an engine that started while the keyring was locked or
//! not running uses until the keyring answers (`docs/architecture.md` "Starting without the
//! keyring").
//!
//! The admin credential lives in the keyring, so an engine that cannot read it makes a random
//! one for this run only, keeps it in memory, and writes it to `admin-session` in the runtime
//! directory (`$XDG_RUNTIME_DIR/redline`: per user, mode 0700, in memory, gone at logout), mode
//! 0600, so that this user's `redline status`, `redline dashboard` and `redline token --admin`
//! can reach it. A process that can read that file runs as the same user, and could read the
//! unlocked keyring just as well. The file is removed once the keyring answers and the engine
//! takes the keyring's credential, and when the engine stops; a file left by a killed engine
//! opens nothing, since only that engine knew its credential.

use crate::keys::credentials::is_admin_shaped;
use crate::keys::secret::Secret;
use std::io::Write;
use std::path::Path;

pub const FILE_NAME: &str = "admin-session";

/// Writes `admin` to `path` (mode 0600, replacing the file atomically), making its directory
/// (mode 0700) when needed.
pub fn publish(path: &Path, admin: &Secret) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::config::create_private_dir(dir)?;
    let temp = dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(admin.expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&temp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
}

/// The stand-in credential at `path`, if there is one Redline wrote: a regular file (no
/// link), readable by its owner only, holding an admin-shaped credential.
pub fn read(path: &Path) -> Option<Secret> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    #[cfg(unix)]
    if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
        return None;
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).ok()?);
    let admin = Secret::parse(text.trim()).ok()?;
    is_admin_shaped(admin.expose().as_bytes()).then_some(admin)
}

/// Removes the file at `path` if it holds `admin` (another engine's is left alone).
pub fn remove(path: &Path, admin: &Secret) {
    if read(path).is_some_and(|held| held == *admin) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::token::{generate_admin, generate_token};

    #[test]
    fn the_file_is_private_and_read_back_only_when_it_is_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime").join(FILE_NAME);
        let admin = generate_admin();
        publish(&path, &admin).unwrap();
        assert_eq!(read(&path), Some(admin.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            // Readable by others: not trusted.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(read(&path), None);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            // A link to a file elsewhere: not trusted.
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            assert_eq!(read(&link), None);
        }
        // Only an admin credential is taken.
        publish(&path, &generate_token()).unwrap();
        assert_eq!(read(&path), None);
        // Another engine's file stays; this engine's goes.
        let other = generate_admin();
        publish(&path, &other).unwrap();
        remove(&path, &admin);
        assert_eq!(read(&path), Some(other.clone()));
        remove(&path, &other);
        assert!(!path.exists());
    }
}
