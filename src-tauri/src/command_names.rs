// The window's commands, by name: the app ACL manifest (build.rs) declares these, so the
// capability file can allow exactly them and the webview can call nothing else. Included by
// build.rs and by the tests, which check them against the handler and the capability.
&[
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
    "list_tools",
    "preview_connect",
    "connect_tool",
    "disconnect_tool",
    "list_providers",
    "get_vocabulary",
    "get_history",
    "list_throttles",
    "get_autostart",
    "set_autostart",
]
