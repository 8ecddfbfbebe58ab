//! Pairpad's desktop app: a start page (Host, Join, Nearby, Recent, Settings) around the
//! embedded `pairpad-server`. Hosting runs the server in this process on the LAN and
//! announces it over mDNS; joining opens a colleague's room URL in a window.
//!
//! Setup is generic over [`tauri::Runtime`] so the commands are tested with
//! `tauri::test::mock_builder()` without a display.

pub mod commands;
pub mod discovery;
pub mod error;
pub mod host;
pub mod settings;
pub mod windows;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tauri::menu::Menu;
use tauri::{Builder, Manager, RunEvent, Runtime, WindowEvent};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons};

use discovery::Discovery;
use host::Hosting;
use settings::{Settings, SettingsError};

/// The app's state, shared by every command.
pub struct Desktop {
    settings_path: Option<PathBuf>,
    settings: Mutex<Settings>,
    /// The running session; a tokio mutex because starting and stopping await.
    pub(crate) hosting: tokio::sync::Mutex<Option<Hosting>>,
    is_hosting: AtomicBool,
    /// mDNS, when the network allows it.
    pub(crate) discovery: Option<Discovery>,
}

impl Desktop {
    /// State reading and writing settings at `settings_path` (`None`: in memory only).
    pub fn new(settings_path: Option<PathBuf>, discovery: Option<Discovery>) -> Self {
        let settings = settings_path
            .as_deref()
            .map(Settings::load)
            .unwrap_or_default();
        Self {
            settings_path,
            settings: Mutex::new(settings),
            hosting: tokio::sync::Mutex::new(None),
            is_hosting: AtomicBool::new(false),
            discovery,
        }
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub(crate) fn store_settings(&self, settings: Settings) -> Result<(), SettingsError> {
        if let Some(path) = &self.settings_path {
            settings.save(path)?;
        }
        *lock(&self.settings) = settings;
        Ok(())
    }

    /// Whether a session is being hosted (readable without waiting).
    pub fn is_hosting(&self) -> bool {
        self.is_hosting.load(Ordering::SeqCst)
    }

    pub(crate) fn set_hosting(&self, on: bool) {
        self.is_hosting.store(on, Ordering::SeqCst);
    }

    /// Stops the session, if any, flushing every pending edit (to the shared folder too),
    /// and withdraws its announcement. Returns the number of files of a shared folder
    /// whose edits could not be written there.
    pub async fn stop_hosting(&self) -> usize {
        let running = self.hosting.lock().await.take();
        if let Some(discovery) = &self.discovery {
            discovery.withdraw();
        }
        let unwritten = match running {
            Some(hosting) => hosting.stop().await,
            None => 0,
        };
        self.set_hosting(false);
        unwritten
    }
}

/// Registers the commands, state and window behaviour on any runtime.
pub fn setup<R: Runtime>(builder: Builder<R>, desktop: Desktop) -> Builder<R> {
    builder
        .manage(desktop)
        .invoke_handler(tauri::generate_handler![
            commands::get_settings,
            commands::save_settings,
            commands::start_hosting,
            commands::stop_hosting,
            commands::pick_folder,
            commands::hosting_status,
            commands::nearby_sessions,
            commands::pending_knocks,
            commands::answer_knock,
            commands::knock,
            commands::knock_status,
            commands::join_room,
            commands::set_guest_access,
            commands::set_asking,
            commands::hosted_people,
            commands::remove_person,
            commands::new_room_link,
        ])
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                let app = window.app_handle();
                let hosting = app.state::<Desktop>().is_hosting();
                if hosting && app.webview_windows().len() <= 1 {
                    api.prevent_close();
                    confirm_stop_and_quit(app.clone());
                }
            }
        })
}

/// Asks whether to stop hosting before the last window closes.
fn confirm_stop_and_quit<R: Runtime>(app: tauri::AppHandle<R>) {
    app.dialog()
        .message("Closing this window stops hosting: colleagues in your session will be disconnected. Everything typed so far is saved.")
        .title("Stop hosting?")
        .buttons(MessageDialogButtons::OkCancelCustom(
            "Stop hosting and quit".into(),
            "Keep hosting".into(),
        ))
        .show(move |stop| {
            if stop {
                tauri::async_runtime::spawn(async move {
                    app.state::<Desktop>().stop_hosting().await;
                    app.exit(0);
                });
            }
        });
}

/// Runs the desktop app. `--version` prints the version without opening a window.
pub fn run() {
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        println!("pairpad-desktop {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let desktop = Desktop::new(settings::settings_path(), Discovery::start());
    let builder = setup(tauri::Builder::default(), desktop)
        .plugin(tauri_plugin_dialog::init())
        .menu(Menu::default);
    let app = match builder.build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("pairpad-desktop cannot start: {error}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        // Quitting while hosting: stop the server first so nothing typed is lost.
        if let RunEvent::ExitRequested { api, code, .. } = event {
            let desktop = app.state::<Desktop>();
            if desktop.is_hosting() {
                api.prevent_exit();
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    app.state::<Desktop>().stop_hosting().await;
                    app.exit(code.unwrap_or(0));
                });
            }
        }
    });
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
