//! Room windows: each shows one room's page, from this machine's embedded server or a
//! colleague's. They are not in any capability, so their pages get no IPC.

use std::sync::atomic::{AtomicU64, Ordering};

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

use crate::error::CommandError;

static NEXT_WINDOW: AtomicU64 = AtomicU64::new(1);

/// Opens `url` in a new window whose title follows the page's (the room's title), with
/// the desktop's display name handed to the editor.
pub fn open_room<R: Runtime>(
    app: &AppHandle<R>,
    url: &str,
    name: &str,
) -> Result<(), CommandError> {
    let parsed = url::Url::parse(url).map_err(|e| CommandError::new("bad_url", e.to_string()))?;
    let label = format!("room-{}", NEXT_WINDOW.fetch_add(1, Ordering::Relaxed));
    let mut builder = WebviewWindowBuilder::new(app, label, WebviewUrl::External(parsed))
        .title("Pairpad")
        .inner_size(1100.0, 720.0)
        .on_document_title_changed(|window, title| {
            if let Err(error) = window.set_title(&title) {
                tracing::warn!(%error, "cannot set the window title");
            }
        });
    if let Some(script) = name_script(name) {
        builder = builder.initialization_script(script);
    }
    builder
        .build()
        .map(|_| ())
        .map_err(|e| CommandError::new("window", format!("cannot open the room window: {e}")))
}

/// Closes the room windows showing a page whose address holds `link` (a replaced link:
/// they would only say that it no longer works).
pub fn close_rooms_showing<R: Runtime>(app: &AppHandle<R>, link: &str) {
    for (label, window) in app.webview_windows() {
        let showing = window.url().is_ok_and(|url| url.path().contains(link));
        if label.starts_with("room-") && showing {
            if let Err(error) = window.destroy() {
                tracing::warn!(%error, "cannot close a room window");
            }
        }
    }
}

/// A script giving the editor this person's name (its localStorage key), so it does not
/// ask again. The name travels as a JSON string literal, never as code.
pub fn name_script(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let literal = serde_json::to_string(name).ok()?;
    Some(format!(
        "try {{ localStorage.setItem(\"pairpad.name\", {literal}); }} catch (_) {{}}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_script_quotes_the_name() {
        assert_eq!(name_script(""), None);
        let script = name_script("\"); alert(1); (\"").unwrap();
        assert!(script.contains(r#"localStorage.setItem("pairpad.name", "\"); alert(1); (\"")"#));
    }
}
