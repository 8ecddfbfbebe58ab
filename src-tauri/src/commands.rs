//! The commands the bundled start page calls. Only the `main` window's local content may
//! call them (see `capabilities/`); room windows and remote pages cannot.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use pairpad_server::http::lobby::{Answer, PendingKnock};
use pairpad_server::store::Access;
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;
use uuid::Uuid;

use crate::discovery::NearbySession;
pub use crate::error::CommandError;
use crate::host::{lan_addresses, Guest, HostInfo, Hosting};
use crate::settings::Settings;
use crate::{windows, Desktop};

/// How long joining waits for the colleague's server to answer.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long saving settings waits for the database to answer.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(10);

/// The saved settings.
#[tauri::command]
pub fn get_settings(desktop: State<'_, Desktop>) -> Settings {
    desktop.settings()
}

/// Checks, tests (a PostgreSQL URL must connect) and saves settings.
#[tauri::command]
pub async fn save_settings(
    desktop: State<'_, Desktop>,
    settings: Settings,
) -> Result<Settings, CommandError> {
    let settings = settings.validated()?;
    if let Some(url) = &settings.database_url {
        check_database(url).await?;
    }
    desktop.store_settings(settings.clone())?;
    Ok(settings)
}

/// Opens the database once and asks it a question; the error says why it failed.
async fn check_database(url: &str) -> Result<(), CommandError> {
    match tokio::time::timeout(DATABASE_TIMEOUT, pairpad_server::store::check(url)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(CommandError::new(
            "database",
            format!("cannot use this database: {error}"),
        )),
        Err(_) => Err(CommandError::new(
            "database",
            "the database did not answer within 10 seconds",
        )),
    }
}

/// Starts hosting (or returns the running session), announces it on the LAN and opens
/// its room in a new window. With `folder`, the room holds that folder's files and its
/// edits are written back to it.
#[tauri::command]
pub async fn start_hosting<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    folder: Option<String>,
) -> Result<HostInfo, CommandError> {
    let settings = desktop.settings();
    let mut hosting = desktop.hosting.lock().await;
    if let Some(running) = hosting.as_ref() {
        if folder.is_some() && running.info.folder.as_deref() != folder.as_deref() {
            return Err(CommandError::new(
                "hosting",
                "a session is already hosted: stop it before sharing a folder",
            ));
        }
        return Ok(running.info.clone());
    }
    let folder = folder.map(PathBuf::from);
    if let Some(folder) = &folder {
        if !folder.is_absolute() || !folder.is_dir() {
            return Err(CommandError::new(
                "folder",
                format!("{} is not a folder", folder.display()),
            ));
        }
    }
    let host_name = host_label(&settings);
    let title = format!("{host_name}'s session");
    let started = Hosting::start(&settings, &title, folder.as_deref()).await?;
    let info = started.info.clone();
    let owner_url = started.owner_url();
    *hosting = Some(started);
    desktop.set_hosting(true);
    drop(hosting);
    if let Some(discovery) = &desktop.discovery {
        discovery.announce(&host_name, info.port, &lan_addresses(false));
    }
    windows::open_room(&app, &owner_url, &settings.display_name)?;
    Ok(info)
}

/// Stops hosting gracefully; nothing typed is lost. A shared folder has every edit
/// before this answers; files that could not be written make it an error.
#[tauri::command]
pub async fn stop_hosting(desktop: State<'_, Desktop>) -> Result<(), CommandError> {
    match desktop.stop_hosting().await {
        0 => Ok(()),
        unwritten => Err(CommandError::new(
            "unwritten",
            format!("{unwritten} file(s) could not be written to the shared folder; their text is kept in the room"),
        )),
    }
}

/// Asks for a folder to share with the system's folder picker; `None` when cancelled.
#[tauri::command]
pub async fn pick_folder<R: Runtime>(app: AppHandle<R>) -> Result<Option<String>, CommandError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Share a folder")
        .pick_folder(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx
        .await
        .map_err(|_| CommandError::new("folder", "the folder picker closed unexpectedly"))?;
    picked
        .map(|path| {
            path.into_path()
                .map(|p| p.display().to_string())
                .map_err(|e| CommandError::new("folder", e.to_string()))
        })
        .transpose()
}

/// The running session, if any.
#[tauri::command]
pub async fn hosting_status(desktop: State<'_, Desktop>) -> Result<Option<HostInfo>, CommandError> {
    Ok(desktop
        .hosting
        .lock()
        .await
        .as_ref()
        .map(|h| h.info.clone()))
}

/// Sessions announced on the LAN.
#[tauri::command]
pub fn nearby_sessions(desktop: State<'_, Desktop>) -> Vec<NearbySession> {
    desktop
        .discovery
        .as_ref()
        .map(|d| d.sessions())
        .unwrap_or_default()
}

/// Colleagues on the network asking to join the hosted session, oldest first.
#[tauri::command]
pub async fn pending_knocks(
    desktop: State<'_, Desktop>,
) -> Result<Vec<PendingKnock>, CommandError> {
    Ok(desktop
        .hosting
        .lock()
        .await
        .as_ref()
        .map(|h| h.lobby.pending())
        .unwrap_or_default())
}

/// Lets a colleague into the hosted room, or turns them away.
#[tauri::command]
pub async fn answer_knock(
    desktop: State<'_, Desktop>,
    knock_id: String,
    admit: bool,
) -> Result<(), CommandError> {
    let hosting = desktop.hosting.lock().await;
    let hosting = hosting
        .as_ref()
        .ok_or_else(|| CommandError::new("not_hosting", "no session is hosted"))?;
    let id = Uuid::try_parse(&knock_id)
        .map_err(|_| CommandError::new("bad_request", "malformed request id"))?;
    let room = Uuid::try_parse(&hosting.info.room_id)
        .map_err(|_| CommandError::new("bad_request", "malformed room id"))?;
    let answer = if admit {
        Answer::Admitted(room)
    } else {
        Answer::Refused
    };
    if hosting.lobby.answer(id, answer) {
        Ok(())
    } else {
        Err(CommandError::new(
            "knock_gone",
            "that request has expired or was already answered",
        ))
    }
}

/// Asks the host at `server` (`http://ip:port`, from a nearby session) to be let in;
/// returns the request's id.
#[tauri::command]
pub async fn knock(desktop: State<'_, Desktop>, server: String) -> Result<String, CommandError> {
    let base = lobby_base(&server)?;
    let name = host_label(&desktop.settings());
    let response = http_client()?
        .post(format!("{base}/api/lobby/knocks"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .map_err(|_| unreachable_host(&base))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status != reqwest::StatusCode::ACCEPTED {
        return Err(CommandError::new(
            "knock_refused",
            server_message(&body, status),
        ));
    }
    body["knockId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| CommandError::new("knock_refused", "the host gave no request id"))
}

/// Whether the host has answered: `{status: "pending" | "admitted" | "refused" |
/// "expired", url?}`, with the room's URL once admitted.
#[tauri::command]
pub async fn knock_status(server: String, knock_id: String) -> Result<KnockOutcome, CommandError> {
    let base = lobby_base(&server)?;
    let id = Uuid::try_parse(&knock_id)
        .map_err(|_| CommandError::new("bad_request", "malformed request id"))?;
    let response = http_client()?
        .get(format!("{base}/api/lobby/knocks/{id}"))
        .send()
        .await
        .map_err(|_| unreachable_host(&base))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(KnockOutcome {
            status: "expired".into(),
            url: None,
        });
    }
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        return Err(CommandError::new(
            "unreachable",
            server_message(&body, status),
        ));
    }
    let outcome = body["status"].as_str().unwrap_or_default();
    let room = body["roomId"]
        .as_str()
        .and_then(|r| Uuid::try_parse(r).ok());
    Ok(match (outcome, room) {
        ("admitted", Some(room)) => KnockOutcome {
            status: "admitted".into(),
            url: Some(format!("{base}/r/{}", room.hyphenated())),
        },
        ("refused", _) => KnockOutcome {
            status: "refused".into(),
            url: None,
        },
        _ => KnockOutcome {
            status: "pending".into(),
            url: None,
        },
    })
}

/// The answer of [`knock_status`].
#[derive(Debug, Clone, Serialize)]
pub struct KnockOutcome {
    status: String,
    url: Option<String>,
}

/// `http://host[:port]` of a nearby session, nothing more.
fn lobby_base(server: &str) -> Result<String, CommandError> {
    let url = parse_room_url(server)?;
    let host = url.host_str().unwrap_or_default();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

fn http_client() -> Result<reqwest::Client, CommandError> {
    reqwest::Client::builder()
        .timeout(JOIN_TIMEOUT)
        .build()
        .map_err(|e| CommandError::new("unreachable", e.to_string()))
}

fn unreachable_host(base: &str) -> CommandError {
    CommandError::new(
        "unreachable",
        format!("cannot reach {base}: is the session still running, and on this network?"),
    )
}

/// The message of a server's JSON error, or its status.
fn server_message(body: &serde_json::Value, status: reqwest::StatusCode) -> String {
    body["error"]["message"]
        .as_str()
        .map_or_else(|| format!("the host answered {status}"), str::to_string)
}

/// Opens a colleague's room after checking the URL and that its server answers.
#[tauri::command]
pub async fn join_room<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    url: String,
) -> Result<String, CommandError> {
    let url = parse_room_url(&url)?;
    check_reachable(&url).await?;
    windows::open_room(&app, url.as_str(), &desktop.settings().display_name)?;
    Ok(url.to_string())
}

/// Accepts `http(s)://host[:port]/…`; anything else is refused with a reason.
pub fn parse_room_url(input: &str) -> Result<url::Url, CommandError> {
    let bad = |why: &str| CommandError::new("bad_url", why.to_string());
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(bad("paste the room link a colleague sent you"));
    }
    let url = url::Url::parse(trimmed)
        .map_err(|_| bad("this is not a link: it should look like http://192.168.1.20:8420/r/…"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// links can be joined"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the link has no host"));
    }
    Ok(url)
}

/// Any HTTP answer means the server is there; a 404 means it has no such room.
async fn check_reachable(url: &url::Url) -> Result<(), CommandError> {
    let host = url.host_str().unwrap_or_default().to_string();
    let client = reqwest::Client::builder()
        .timeout(JOIN_TIMEOUT)
        .build()
        .map_err(|e| CommandError::new("unreachable", e.to_string()))?;
    match client.get(url.clone()).send().await {
        Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => Err(
            CommandError::new("unreachable", format!("{host} has no such room")),
        ),
        Ok(_) => Ok(()),
        Err(error) if error.is_timeout() => Err(CommandError::new(
            "unreachable",
            format!("{host} did not answer within 5 seconds"),
        )),
        Err(_) => Err(CommandError::new(
            "unreachable",
            format!("cannot reach {host}: is the session still running, and on this network?"),
        )),
    }
}

/// The name a session is announced under.
fn host_label(settings: &Settings) -> String {
    if !settings.display_name.is_empty() {
        return settings.display_name.clone();
    }
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "Pairpad".into())
}

/// Runs `work` on the hosted session; `not_hosting` when there is none.
async fn with_hosting<T>(
    desktop: &Desktop,
    work: impl AsyncFnOnce(&mut Hosting) -> Result<T, CommandError>,
) -> Result<T, CommandError> {
    let mut hosting = desktop.hosting.lock().await;
    let hosting = hosting
        .as_mut()
        .ok_or_else(|| CommandError::new("not_hosting", "no session is hosted"))?;
    work(hosting).await
}

/// Lets guests edit (`"edit"`) or only view (`"view"`); the host always edits.
#[tauri::command]
pub async fn set_guest_access(
    desktop: State<'_, Desktop>,
    access: String,
) -> Result<HostInfo, CommandError> {
    let access = match access.as_str() {
        "edit" => Access::Edit,
        "view" => Access::View,
        _ => {
            return Err(CommandError::new(
                "bad_request",
                "access is \"edit\" or \"view\"",
            ))
        }
    };
    with_hosting(&desktop, async |hosting| {
        hosting.set_guests(access).await?;
        Ok(hosting.info.clone())
    })
    .await
}

/// Asks before letting anyone in (those here now stay), or stops asking.
#[tauri::command]
pub async fn set_asking(
    desktop: State<'_, Desktop>,
    asking: bool,
) -> Result<HostInfo, CommandError> {
    with_hosting(&desktop, async |hosting| {
        hosting.set_asking(asking).await;
        Ok(hosting.info.clone())
    })
    .await
}

/// Everyone in the hosted room, the host included.
#[tauri::command]
pub async fn hosted_people(desktop: State<'_, Desktop>) -> Result<Vec<Guest>, CommandError> {
    let hosting = desktop.hosting.lock().await;
    Ok(match hosting.as_ref() {
        Some(hosting) => hosting.guests().await,
        None => Vec::new(),
    })
}

/// Takes someone out of the hosted room: their connections are closed with a reason.
/// Their link still works unless the host asks before letting people in or makes a new
/// link.
#[tauri::command]
pub async fn remove_person(
    desktop: State<'_, Desktop>,
    conns: Vec<u64>,
    address: Option<String>,
) -> Result<usize, CommandError> {
    let address = address.and_then(|a| a.parse::<IpAddr>().ok());
    with_hosting(&desktop, async |hosting| {
        Ok(hosting.remove(&conns, address).await)
    })
    .await
}

/// Gives the hosted room a new link: the old one stops working and whoever came by it is
/// disconnected; the host's own room windows reopen on the new one.
#[tauri::command]
pub async fn new_room_link<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
) -> Result<HostInfo, CommandError> {
    let (info, old, owner_url) = with_hosting(&desktop, async |hosting| {
        let old = hosting.new_link().await?;
        Ok((hosting.info.clone(), old, hosting.owner_url()))
    })
    .await?;
    windows::close_rooms_showing(&app, &old);
    windows::open_room(&app, &owner_url, &desktop.settings().display_name)?;
    Ok(info)
}
