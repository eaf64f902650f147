//! Tauri's build step (the app's manifest of commands), and the git commit
//! `redline-desktop --version` prints (../build/git_commit.rs, shared with the `redline` CLI).

#[path = "../build/git_commit.rs"]
mod git_commit;

fn main() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    git_commit::emit(manifest.parent().expect("src-tauri sits in the workspace"));
    let commands: &[&str] = include!("src/command_names.rs");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri-build failed");
}
