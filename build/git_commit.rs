//! The git commit a binary is built from, for `--version`: both packages' build scripts
//! include this file (`#[path]`), so `redline` and `redline-desktop` say the same thing.
//!
//! Sets `REDLINE_GIT_COMMIT` for the crate: `REDLINE_GIT_COMMIT` from the environment if set
//! (a build from a source archive that knows its commit), else `git rev-parse --short HEAD` of
//! this checkout, else "unknown" (no git, or not a checkout of this workspace: a source archive
//! unpacked inside another repository, as makepkg does, must not take that repository's commit).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `workspace` is the workspace's root directory (the checkout's top level).
pub fn emit(workspace: &Path) {
    println!("cargo:rerun-if-env-changed=REDLINE_GIT_COMMIT");
    let commit = std::env::var("REDLINE_GIT_COMMIT")
        .ok()
        .map(|commit| commit.trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .or_else(|| from_git(workspace))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=REDLINE_GIT_COMMIT={commit}");
}

fn from_git(workspace: &Path) -> Option<String> {
    let top = PathBuf::from(git(workspace, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != workspace.canonicalize().ok()? {
        return None;
    }
    let commit = git(workspace, &["rev-parse", "--short", "HEAD"])?;
    // Build again when HEAD moves: HEAD itself (a checkout of another branch or commit) and
    // the branch it points at (a new commit): its own file, or packed-refs while it has none
    // (packed-refs is shared by every worktree and changes with their branches, so it is not
    // watched otherwise). Only files that exist: cargo takes a missing one for changed and
    // would rerun every build. `--git-path` finds them in a worktree too, where .git is a file
    // naming the real place.
    let path_of = |name: &str| {
        git(workspace, &["rev-parse", "--git-path", name]).map(|path| workspace.join(path))
    };
    let mut watched = vec![path_of("HEAD")];
    if let Some(branch) = git(workspace, &["symbolic-ref", "-q", "HEAD"]) {
        match path_of(&branch) {
            Some(path) if path.is_file() => watched.push(Some(path)),
            _ => watched.push(path_of("packed-refs")),
        }
    }
    for path in watched.into_iter().flatten() {
        if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Some(commit)
}

/// The trimmed output of a git command run in `dir`; None if git is missing or it failed.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}
