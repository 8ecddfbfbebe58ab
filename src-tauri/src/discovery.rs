//! Nearby sessions over mDNS/DNS-SD (`_pairpad._tcp`): a hosting app announces that it
//! hosts (a name and a port, never a room id: anyone on the network hears it), and every
//! app lists the hosts announced on the LAN. Joining one means asking its host, who lets
//! people in (see `pairpad_server::http::lobby`). Needs no internet, only multicast.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use serde::Serialize;

/// The DNS-SD service type of a Pairpad session.
pub const SERVICE_TYPE: &str = "_pairpad._tcp.local.";
/// The `lobby` property of an announcement: the version of the asking-to-join calls.
const LOBBY_VERSION: &str = "1";
/// Longest instance name DNS-SD allows, in bytes.
const MAX_INSTANCE_BYTES: usize = 63;

/// A session announced on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NearbySession {
    /// Who hosts it (the host's display name or machine name).
    pub name: String,
    /// The host's server (`http://ip:port`), one per address it announced; the room
    /// itself is only learnt by asking to join.
    pub urls: Vec<String>,
}

/// The mDNS responder and browser; absent when the network has no multicast.
pub struct Discovery {
    daemon: ServiceDaemon,
    found: Arc<Mutex<BTreeMap<String, NearbySession>>>,
    announced: Mutex<Option<String>>,
}

impl Discovery {
    /// Starts browsing for sessions; `None` (and a log line) when mDNS cannot start.
    pub fn start() -> Option<Self> {
        let daemon = match ServiceDaemon::new() {
            Ok(daemon) => daemon,
            Err(error) => {
                tracing::warn!(%error, "mDNS unavailable: nearby sessions are off");
                return None;
            }
        };
        let events = match daemon.browse(SERVICE_TYPE) {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "mDNS browse failed: nearby sessions are off");
                return None;
            }
        };
        let found = Arc::new(Mutex::new(BTreeMap::new()));
        let sink = found.clone();
        std::thread::Builder::new()
            .name("mdns-browse".into())
            .spawn(move || {
                while let Ok(event) = events.recv() {
                    apply(&sink, event);
                }
            })
            .ok()?;
        Some(Self {
            daemon,
            found,
            announced: Mutex::new(None),
        })
    }

    /// Sessions seen on the LAN now, by host name.
    pub fn sessions(&self) -> Vec<NearbySession> {
        lock(&self.found).values().cloned().collect()
    }

    /// Announces that this machine hosts a session on `port` under `name`.
    pub fn announce(&self, name: &str, port: u16, addresses: &[IpAddr]) {
        self.withdraw();
        if addresses.is_empty() {
            return;
        }
        let instance = instance_name(name);
        let host = format!("pairpad-{}.local.", std::process::id());
        let properties = [("lobby", LOBBY_VERSION)];
        let info = match ServiceInfo::new(
            SERVICE_TYPE,
            &instance,
            &host,
            addresses,
            port,
            &properties[..],
        ) {
            Ok(info) => info,
            Err(error) => {
                tracing::warn!(%error, "cannot describe the session for mDNS");
                return;
            }
        };
        let fullname = info.get_fullname().to_string();
        match self.daemon.register(info) {
            Ok(()) => *lock(&self.announced) = Some(fullname),
            Err(error) => tracing::warn!(%error, "cannot announce the session over mDNS"),
        }
    }

    /// Stops announcing this machine's session.
    pub fn withdraw(&self) {
        if let Some(fullname) = lock(&self.announced).take() {
            if let Err(error) = self.daemon.unregister(&fullname) {
                tracing::warn!(%error, "cannot withdraw the mDNS announcement");
            }
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.withdraw();
        let _ = self.daemon.shutdown();
    }
}

fn apply(found: &Mutex<BTreeMap<String, NearbySession>>, event: ServiceEvent) {
    match event {
        ServiceEvent::ServiceResolved(service) => {
            if service.get_property_val_str("lobby") != Some(LOBBY_VERSION) {
                return; // an older or foreign announcement: nothing to ask
            }
            let port = service.get_port();
            let mut urls: Vec<String> = service
                .get_addresses_v4()
                .into_iter()
                .filter(|ip| !ip.is_loopback())
                .map(|ip| format!("http://{ip}:{port}"))
                .collect();
            urls.sort();
            if urls.is_empty() {
                return;
            }
            let name = display_name(service.get_fullname());
            lock(found).insert(
                service.get_fullname().to_string(),
                NearbySession { name, urls },
            );
        }
        ServiceEvent::ServiceRemoved(_, fullname) => {
            lock(found).remove(&fullname);
        }
        _ => {}
    }
}

/// The instance label: the host's name cut to what DNS-SD allows.
fn instance_name(name: &str) -> String {
    let name = if name.trim().is_empty() {
        "Pairpad session"
    } else {
        name.trim()
    };
    let mut out = String::new();
    for c in name.chars() {
        if out.len() + c.len_utf8() > MAX_INSTANCE_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// "Ada's session._pairpad._tcp.local." → "Ada's session".
fn display_name(fullname: &str) -> String {
    fullname
        .strip_suffix(SERVICE_TYPE)
        .map(|s| s.trim_end_matches('.'))
        .unwrap_or(fullname)
        .replace("\\.", ".")
        .replace("\\\\", "\\")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two apps on one machine: one announces, the other lists it. Uses real multicast
    /// on the machine's interfaces, as two laptops on one network would.
    #[test]
    fn an_announced_session_is_found_and_withdrawn() {
        let host = Discovery::start().expect("mDNS starts");
        let guest = Discovery::start().expect("mDNS starts");
        let addresses = crate::host::lan_addresses(false);
        assert!(
            !addresses.is_empty(),
            "this test needs a non-loopback IPv4 address"
        );
        host.announce("Ada's session", 8421, &addresses);
        let found = wait_for(&guest, |sessions| {
            sessions.iter().any(|s| s.name == "Ada's session")
        });
        let session = found.iter().find(|s| s.name == "Ada's session").unwrap();
        assert!(
            session.urls.iter().all(|u| u.ends_with(":8421")),
            "only the host is announced, never a room: {session:?}"
        );
        host.withdraw();
        wait_for(&guest, |sessions| {
            sessions.iter().all(|s| s.name != "Ada's session")
        });
    }

    fn wait_for(
        discovery: &Discovery,
        done: impl Fn(&[NearbySession]) -> bool,
    ) -> Vec<NearbySession> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let sessions = discovery.sessions();
            if done(&sessions) {
                return sessions;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "mDNS: gave up, saw {sessions:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn instance_names_fit_dns_sd() {
        assert_eq!(instance_name("  "), "Pairpad session");
        assert_eq!(instance_name(&"é".repeat(40)).len(), 62);
        assert_eq!(display_name("Ada\\.B._pairpad._tcp.local."), "Ada.B");
    }
}
