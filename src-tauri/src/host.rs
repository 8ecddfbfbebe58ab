//! Hosting a session: the embedded `pairpad-server` runs in this process on the LAN, a
//! new room is opened, and the addresses colleagues can use are listed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use pairpad_server::access::Via;
use pairpad_server::http::lobby::Lobby;
use pairpad_server::share::Sharing;
use pairpad_server::store::Access;
use pairpad_server::{owner, AppState};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::settings::Settings;

/// What the start page shows while hosting.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostInfo {
    /// Port the server listens on.
    pub port: u16,
    /// The room opened for this session.
    pub room_id: String,
    /// The room on this machine (`http://127.0.0.1:PORT/r/ID`), opened in the app.
    pub local_url: String,
    /// The room at each of this machine's LAN addresses, for colleagues.
    pub lan_urls: Vec<String>,
    /// A QR code (SVG) of the first LAN URL, for a colleague's phone or laptop camera.
    pub qr_svg: Option<String>,
    /// The folder shared, when the session is one.
    pub folder: Option<String>,
    /// The folder's files left out of the room, and why.
    pub skipped: Vec<SkippedFile>,
    /// The page where colleagues ask to be let in (`/join`) at each LAN address: what
    /// they open while the host asks before letting anyone in.
    pub join_urls: Vec<String>,
    /// What guests may do: `edit`, or `view` (only the host edits).
    pub guests: Access,
    /// Whether the host asks before letting anyone in.
    pub asking: bool,
}

/// Someone in the hosted room, as the start page lists them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Guest {
    /// Their name.
    pub name: String,
    /// Where they connect from.
    pub address: String,
    /// Whether they may only view.
    pub viewer: bool,
    /// Whether this is the host (the owner's own window).
    pub host: bool,
    /// Their connections, for removing them.
    pub conns: Vec<u64>,
}

/// A file of a shared folder that is not in the room.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedFile {
    /// Its path in the folder.
    pub path: String,
    /// Why, in words.
    pub why: &'static str,
}

/// Why hosting could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Something else listens on the port.
    #[error("port {port} is already in use")]
    PortInUse {
        /// The port asked for.
        port: u16,
        /// A port that was free a moment ago.
        suggestion: Option<u16>,
    },
    /// The database could not be opened or the server failed to start.
    #[error("{0}")]
    Server(String),
}

/// A running embedded server.
pub struct Hosting {
    /// What to show about it.
    pub info: HostInfo,
    /// Colleagues on the network asking to join; the host answers here.
    pub lobby: Arc<Lobby>,
    /// The shared folder kept in step with the room, if any.
    sharing: Option<Sharing>,
    /// The room's owner key: the host's own editor window gets it, guests never do.
    owner_key: String,
    /// The room (its own id, for the library's owner functions).
    room: Uuid,
    /// The server's state, for the host's controls.
    state: AppState,
    /// Whether the listener takes IPv6 (for the LAN URLs).
    dual_stack: bool,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), pairpad_server::ServerError>>,
}

impl Hosting {
    /// The room on this machine with its owner key in the address fragment (which never
    /// leaves the browser): the host's own editor window, which keeps the key.
    pub fn owner_url(&self) -> String {
        format!("{}#owner={}", self.info.local_url, self.owner_key)
    }

    /// Starts the server on `settings.port` on every interface, opens a room titled
    /// `title` (or, sharing `folder`, a room holding its files, titled after it), and
    /// lists the URLs colleagues can open.
    pub async fn start(
        settings: &Settings,
        title: &str,
        folder: Option<&Path>,
    ) -> Result<Self, HostError> {
        let (listener, dual_stack) = bind(settings.port).await?;
        let port = listener
            .local_addr()
            .map_err(|e| HostError::Server(e.to_string()))?
            .port();
        let mut config = pairpad_server::Config::defaults();
        config.bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        config.lobby = true;
        config.database_url.clone_from(&settings.database_url);
        let url = config
            .effective_database_url()
            .map_err(|e| HostError::Server(e.to_string()))?;
        let store = pairpad_server::store::connect(&url)
            .await
            .map_err(|e| HostError::Server(format!("cannot open the store: {e}")))?;
        let state = pairpad_server::AppState::new(config, store);
        // The room is created through the library before the server takes connections,
        // as `POST /api/rooms` would create it; a shared folder is read into it first.
        let (created, sharing) = match folder {
            Some(folder) => {
                let sharing = pairpad_server::share::share(&state, folder, None)
                    .await
                    .map_err(|e| HostError::Server(e.to_string()))?;
                (sharing.created.clone(), Some(sharing))
            }
            None => {
                let room = pairpad_server::rooms::create(state.store.as_ref(), Some(title), None)
                    .await
                    .map_err(|e| HostError::Server(format!("cannot create the room: {e}")))?;
                (room, None)
            }
        };
        let room_id = created.edit_id.to_string();
        let lobby = state
            .lobby
            .clone()
            .ok_or_else(|| HostError::Server("the lobby is off".into()))?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(pairpad_server::serve(
            state.clone(),
            listener,
            shutdown.clone().cancelled_owned(),
        ));
        let mut info = HostInfo {
            port,
            local_url: String::new(),
            qr_svg: None,
            lan_urls: Vec::new(),
            room_id,
            join_urls: Vec::new(),
            guests: Access::Edit,
            asking: false,
            folder: folder.map(|f| f.display().to_string()),
            skipped: (sharing.iter().flat_map(|s| &s.skipped))
                .map(|s| SkippedFile {
                    path: s.path.clone(),
                    why: s.why.describe(),
                })
                .collect(),
        };
        link_urls(&mut info, dual_stack);
        Ok(Self {
            info,
            lobby,
            sharing,
            owner_key: created.owner_key,
            room: created.id,
            state,
            dual_stack,
            shutdown,
            task,
        })
    }

    /// Lets guests edit (`Edit`) or only view (`View`): whoever is connected and affected
    /// reconnects with the new access.
    pub async fn set_guests(&mut self, access: Access) -> Result<(), HostError> {
        let done = owner::set_access(&self.state, self.room, access).await;
        done.map_err(|e| HostError::Server(e.to_string()))?;
        self.info.guests = access;
        Ok(())
    }

    /// Asks before letting anyone in (`true`; those here now stay), or not.
    pub async fn set_asking(&mut self, asking: bool) {
        let present = (owner::people(&self.state, self.room).await.into_iter())
            .filter(|p| !p.owner)
            .map(|p| p.address);
        self.lobby.ask_before_joining(asking, present);
        self.info.asking = asking;
        self.refresh_qr();
    }

    /// Everyone in the room, the host included.
    pub async fn guests(&self) -> Vec<Guest> {
        (owner::people(&self.state, self.room).await.into_iter())
            .map(|p| Guest {
                name: p.name,
                address: p.address.to_string(),
                viewer: p.viewer,
                host: p.owner,
                conns: p.conns,
            })
            .collect()
    }

    /// Disconnects `conns` (one person's) with a reason; while the host asks before
    /// letting people in, their address must knock again. How many were connected.
    pub async fn remove(&self, conns: &[u64], address: Option<IpAddr>) -> usize {
        if let Some(address) = address {
            self.lobby.turn_out(address);
        }
        owner::remove(&self.state, self.room, conns).await
    }

    /// Replaces the room's edit link: whoever came by the old one is disconnected, and
    /// the URLs to share are the new ones. The old link.
    pub async fn new_link(&mut self) -> Result<String, HostError> {
        let replaced = owner::replace_link(&self.state, self.room, Via::Edit).await;
        let link = (replaced.map_err(|e| HostError::Server(e.to_string()))?)
            .ok_or_else(|| HostError::Server("the room is gone".into()))?;
        let old = std::mem::replace(&mut self.info.room_id, link.to_string());
        link_urls(&mut self.info, self.dual_stack);
        Ok(old)
    }

    fn refresh_qr(&mut self) {
        self.info.qr_svg = shared_qr(&self.info);
    }

    /// Stops gracefully: a shared folder gets every edit made in the room, then every
    /// open editor gets a close frame and every pending edit is stored, before this
    /// returns. Returns the number of files whose edits could not be written to the
    /// folder (see the log).
    pub async fn stop(self) -> usize {
        let unwritten = match self.sharing {
            Some(sharing) => sharing.stop().await,
            None => 0,
        };
        self.shutdown.cancel();
        match self.task.await {
            Ok(Ok(())) => tracing::info!("hosting stopped"),
            Ok(Err(error)) => tracing::error!(%error, "server stopped with an error"),
            Err(error) => tracing::error!(%error, "server task failed"),
        }
        unwritten
    }
}

/// Fills in `info`'s URLs from its port and room: the room on this machine, the room and
/// the page to ask to join at each LAN address, and the QR code of the one to share.
fn link_urls(info: &mut HostInfo, dual_stack: bool) {
    let (port, room_id) = (info.port, info.room_id.clone());
    info.local_url = format!("http://127.0.0.1:{port}/r/{room_id}");
    let addresses = lan_addresses(dual_stack);
    info.lan_urls = (addresses.iter())
        .map(|&ip| room_url(ip, port, &room_id))
        .collect();
    info.join_urls = (addresses.iter())
        .map(|&ip| format!("http://{}/join", SocketAddr::new(ip, port)))
        .collect();
    info.qr_svg = shared_qr(info);
}

/// The QR code of what colleagues open: the page to ask to join while the host asks,
/// else the room.
fn shared_qr(info: &HostInfo) -> Option<String> {
    let shown = match info.asking {
        true => info.join_urls.first(),
        false => info.lan_urls.first(),
    };
    shown.and_then(|url| qr_svg(url))
}

/// Binds `[::]:port` (IPv6 and IPv4 on Linux) or, where IPv6 is off, `0.0.0.0:port`.
/// Returns whether IPv6 addresses are reachable.
async fn bind(port: u16) -> Result<(TcpListener, bool), HostError> {
    let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))).await;
    let in_use = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AddrInUse;
    match v6 {
        Ok(listener) => return Ok((listener, true)),
        Err(e) if in_use(&e) => return Err(port_in_use(port).await),
        Err(_) => {}
    }
    match TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await {
        Ok(listener) => Ok((listener, false)),
        Err(e) if in_use(&e) => Err(port_in_use(port).await),
        Err(e) => Err(HostError::Server(format!(
            "cannot listen on port {port}: {e}"
        ))),
    }
}

async fn port_in_use(port: u16) -> HostError {
    let suggestion = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).await {
        Ok(free) => free.local_addr().ok().map(|a| a.port()),
        Err(_) => None,
    };
    HostError::PortInUse { port, suggestion }
}

/// This machine's addresses a colleague on the LAN can reach: every non-loopback IPv4,
/// and IPv6 other than link-local (which needs a zone id no browser URL can carry).
pub fn lan_addresses(include_v6: bool) -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|iface| iface.ip())
        .filter(|ip| usable_on_lan(*ip, include_v6))
        .collect();
    addresses.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    addresses.dedup();
    addresses
}

fn usable_on_lan(ip: IpAddr, include_v6: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified() && !v4.is_link_local(),
        IpAddr::V6(v6) => {
            include_v6
                && !v6.is_loopback()
                && !v6.is_unspecified()
                && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// `http://IP:PORT/r/ID`, with IPv6 addresses in brackets.
pub fn room_url(ip: IpAddr, port: u16, room_id: &str) -> String {
    format!("http://{}/r/{room_id}", SocketAddr::new(ip, port))
}

fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(180, 180)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_urls_skip_loopback_and_link_local_and_bracket_ipv6() {
        assert!(!usable_on_lan("127.0.0.1".parse().unwrap(), true));
        assert!(!usable_on_lan("169.254.3.4".parse().unwrap(), true));
        assert!(!usable_on_lan("::1".parse().unwrap(), true));
        assert!(!usable_on_lan("fe80::1".parse().unwrap(), true));
        assert!(!usable_on_lan("fd00::5".parse().unwrap(), false));
        assert!(usable_on_lan("192.168.1.20".parse().unwrap(), false));
        assert!(usable_on_lan("fd00::5".parse().unwrap(), true));
        assert_eq!(
            room_url("fd00::5".parse().unwrap(), 8420, "abc"),
            "http://[fd00::5]:8420/r/abc"
        );
        assert!(lan_addresses(true).iter().all(|ip| !ip.is_loopback()));
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("http://192.168.1.20:8420/r/6f1c").unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }

    #[tokio::test]
    async fn hosting_serves_a_room_and_a_taken_port_is_reported_with_another() {
        let data = tempfile::tempdir().unwrap();
        let settings = Settings {
            port: 0,
            database_url: Some(format!("sqlite://{}", data.path().join("p.db").display())),
            ..Settings::default()
        };
        let hosting = Hosting::start(&settings, "Session", None).await.unwrap();
        let page = reqwest::get(&hosting.info.local_url).await.unwrap();
        assert_eq!(page.status(), 200);
        for url in &hosting.info.lan_urls {
            assert!(url.ends_with(&format!("/r/{}", hosting.info.room_id)));
        }

        let taken = Settings {
            port: hosting.info.port,
            ..settings.clone()
        };
        match Hosting::start(&taken, "Second", None).await {
            Err(HostError::PortInUse { port, suggestion }) => {
                assert_eq!(port, hosting.info.port);
                assert!(suggestion.is_some_and(|p| p != port));
            }
            Err(other) => panic!("expected port in use, got {other}"),
            Ok(_) => panic!("expected port in use"),
        }
        let local = hosting.info.local_url.clone();
        assert_eq!(hosting.stop().await, 0);
        assert!(
            reqwest::get(&local).await.is_err(),
            "server is down after stop"
        );
    }

    #[tokio::test]
    async fn hosting_a_folder_lists_its_files_and_what_was_left_out() {
        let data = tempfile::tempdir().unwrap();
        let folder = tempfile::tempdir().unwrap();
        std::fs::create_dir(folder.path().join("src")).unwrap();
        std::fs::write(folder.path().join("src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(folder.path().join("blob.bin"), [0u8, 1, 2, 0]).unwrap();
        let settings = Settings {
            port: 0,
            database_url: Some(format!("sqlite://{}", data.path().join("p.db").display())),
            ..Settings::default()
        };
        let hosting = Hosting::start(&settings, "Session", Some(folder.path()))
            .await
            .unwrap();
        assert_eq!(
            hosting.info.folder.as_deref(),
            Some(folder.path().display().to_string().as_str())
        );
        let left_out: Vec<_> = hosting
            .info
            .skipped
            .iter()
            .map(|s| s.path.as_str())
            .collect();
        assert_eq!(left_out, ["blob.bin"]);
        let base = hosting.info.local_url.replace("/r/", "/api/rooms/");
        let list: serde_json::Value = reqwest::get(format!("{base}/files"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["files"][0]["path"], "src/main.rs");
        assert_eq!(hosting.stop().await, 0);
    }
}
