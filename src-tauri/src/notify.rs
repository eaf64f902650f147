//! Shows the notifications the engine's policy (`redline::desktop::notify_policy`) decides on, and the
//! app's own (an engine that could not start).

use redline::desktop::notify_policy::Notice;

/// Shows one notification from the policy.
pub fn show(notice: Notice) {
    show_text(notice.summary, notice.body, notice.urgent);
}

/// Shows one notification; failures (no notification service) are reported, not fatal.
pub fn show_text(summary: String, body: String, urgent: bool) {
    tauri::async_runtime::spawn(async move {
        if let Err(err) = deliver(&summary, &body, urgent).await {
            eprintln!("redline-desktop: could not show the notification {summary:?}: {err}");
        }
    });
}

#[cfg(all(unix, not(target_os = "macos")))]
async fn deliver(summary: &str, body: &str, urgent: bool) -> Result<(), notify_rust::error::Error> {
    use notify_rust::{Notification, Urgency};
    Notification::new()
        .appname("Redline")
        .summary(summary)
        .body(body)
        .urgency(if urgent {
            Urgency::Critical
        } else {
            Urgency::Normal
        })
        .show_async()
        .await
        .map(drop)
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
async fn deliver(
    summary: &str,
    body: &str,
    _urgent: bool,
) -> Result<(), notify_rust::error::Error> {
    let (summary, body) = (summary.to_owned(), body.to_owned());
    tauri::async_runtime::spawn_blocking(move || {
        notify_rust::Notification::new()
            .appname("Redline")
            .summary(&summary)
            .body(&body)
            .show()
            .map(drop)
    })
    .await
    .unwrap_or(Ok(()))
}
