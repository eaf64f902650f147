fn main() {
    // The app's own commands, declared so the capability file can allow exactly these
    // (each gets an `allow-<name>` permission) and the webview can call nothing else.
    let commands = &[
        "get_status",
        "refresh",
        "list_keys",
        "add_key",
        "test_key",
        "rotate_key",
        "rollback_key",
        "remove_key",
        "get_settings",
        "save_settings",
        "tool_setup",
        "list_providers",
        "get_history",
        "list_throttles",
        "get_autostart",
        "set_autostart",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri-build failed");
}
