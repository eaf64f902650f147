//! Shows the notifications the engine's policy (`redline::notify_policy`) decides on.

use redline::notify_policy::Notice;

/// Shows one notification; failures (no notification service) are reported, not fatal.
pub fn show(notice: Notice) {
    tauri::async_runtime::spawn(async move {
        if let Err(err) = deliver(&notice).await {
            eprintln!(
                "redline-desktop: could not show the notification {:?}: {err}",
                notice.summary
            );
        }
    });
}

#[cfg(all(unix, not(target_os = "macos")))]
async fn deliver(notice: &Notice) -> Result<(), notify_rust::error::Error> {
    use notify_rust::{Notification, Urgency};
    Notification::new()
        .appname("Redline")
        .summary(&notice.summary)
        .body(&notice.body)
        .urgency(if notice.urgent {
            Urgency::Critical
        } else {
            Urgency::Normal
        })
        .show_async()
        .await
        .map(drop)
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
async fn deliver(notice: &Notice) -> Result<(), notify_rust::error::Error> {
    let (summary, body) = (notice.summary.clone(), notice.body.clone());
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
