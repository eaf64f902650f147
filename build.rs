//! Compiles the dashboard (`ui/`) into the binary: every file there becomes an entry of the
//! table `src/server/mod.rs` serves, so a new file cannot be forgotten. A file type without a
//! known MIME type stops the build rather than being served wrongly. It also sets the git
//! commit `redline --version` prints (build/git_commit.rs).

use std::path::Path;

#[path = "build/git_commit.rs"]
mod git_commit;

fn main() {
    git_commit::emit(Path::new(env!("CARGO_MANIFEST_DIR")));
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    println!("cargo:rerun-if-changed=ui");
    let mut entries: Vec<(String, &str)> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&ui)
        .expect("the ui/ folder is readable")
        .map(|entry| entry.expect("a ui/ entry is readable").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        let mime = match extension {
            "html" => "text/html; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            // ES modules are refused by browsers under any other type.
            "js" | "mjs" => "text/javascript; charset=utf-8",
            "json" => "application/json",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "ico" => "image/x-icon",
            "txt" | "md" => "text/plain; charset=utf-8",
            other => {
                panic!("ui/{name}: no MIME type known for .{other} files; add one to build.rs")
            }
        };
        entries.push((name, mime));
    }
    let mut table = String::from("&[\n");
    // Paths relative to the crate, not absolute: a target dir shared by two checkouts would
    // otherwise keep embedding the first checkout's files.
    for (name, mime) in entries {
        table.push_str(&format!(
            "    ({name:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/ui/\", {name:?})).as_slice(), {mime:?}),\n"
        ));
    }
    table.push_str("]\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("ui_assets.rs");
    std::fs::write(out, table).expect("OUT_DIR is writable");
}
