//! Accepting connections: the accept loop, the limits on how many connections one address
//! and the whole server may hold, the header timeout that closes slow and idle HTTP
//! connections, and the descriptor limit raised at start.
//!
//! Everything here happens before a request is parsed, so a refusal is a fixed HTTP
//! response written straight to the socket.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Descriptors kept for the store, logs and refusals when the connection cap is derived
/// from the descriptor limit.
const RESERVED_DESCRIPTORS: u64 = 256;
/// How long a refused client gets to take its answer before the socket is closed.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Raises this process's soft limit on open files to its hard limit and returns the
/// limit now in force (`None` where it cannot be read). A default soft limit of 1,024
/// would let a thousand idle sockets stop the server from answering anyone.
pub fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => Some(limit),
            Err(error) => {
                tracing::warn!(%error, "cannot raise the open file limit");
                rlimit::getrlimit(rlimit::Resource::NOFILE)
                    .ok()
                    .map(|(soft, _)| soft)
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The most TCP connections the server holds at once: what the descriptor limit allows
/// after a reserve for everything else.
pub fn connection_cap(descriptors: Option<u64>) -> usize {
    descriptors
        .map(|limit| limit.saturating_sub(RESERVED_DESCRIPTORS).max(16))
        .and_then(|cap| usize::try_from(cap).ok())
        .unwrap_or(usize::MAX)
}

/// Counts open connections per client address and in total.
pub struct ConnectionLimits {
    per_address: usize,
    total: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This address already holds its share of connections.
    AddressFull,
    /// The server holds as many connections as it can.
    ServerFull,
}

impl ConnectionLimits {
    /// `per_address` of 0 means no limit per address.
    pub fn new(per_address: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_address: if per_address == 0 {
                usize::MAX
            } else {
                per_address
            },
            total,
            open: Mutex::new(Open::default()),
        })
    }

    /// Counts a new connection from `ip`, or says why it may not open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionGuard, Refusal> {
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.total {
            return Err(Refusal::ServerFull);
        }
        let count = open.by_address.entry(key).or_insert(0);
        if *count >= self.per_address {
            return Err(Refusal::AddressFull);
        }
        *count += 1;
        open.total += 1;
        Ok(ConnectionGuard {
            limits: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

/// Holds one connection's place in [`ConnectionLimits`] until dropped.
pub struct ConnectionGuard {
    limits: Arc<ConnectionLimits>,
    key: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut open = self
            .limits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_address.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&self.key);
            }
        }
    }
}

/// The key an address is counted under. One IPv6 host usually holds a whole /64, so
/// IPv6 addresses count by their /64 prefix; IPv4-mapped ones count as IPv4.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Believes the proxies in `nets`.
    pub fn new(nets: Vec<ipnet::IpNet>) -> Self {
        Self(nets)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Where a request from `peer` with `headers` comes from: `peer`, or, when `peer` is
    /// a trusted proxy, the last address in `X-Forwarded-For` that is not one (each
    /// proxy appends the address it was reached from; entries left of a trusted one may
    /// be made up by the client).
    pub fn client_of(&self, peer: SocketAddr, headers: &axum::http::HeaderMap) -> SocketAddr {
        if self.0.is_empty() || !self.trusts(peer.ip()) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = (headers.get_all("x-forwarded-for").iter())
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map_while(|entry| entry.trim().parse::<IpAddr>().ok())
            .collect();
        let client = (forwarded.iter().rev())
            .find(|ip| !self.trusts(**ip))
            .or(forwarded.first());
        client.map_or(peer, |&ip| SocketAddr::new(ip, peer.port()))
    }
}

/// How the accept loop treats each connection.
pub struct AcceptSettings {
    /// Proxies whose `X-Forwarded-For` names the client.
    pub proxies: Arc<TrustedProxies>,
    /// Open connection counts and caps.
    pub limits: Arc<ConnectionLimits>,
    /// Longest a connection may take to send a request's headers, and longest an HTTP
    /// connection may wait idle for its next request.
    pub header_timeout: Duration,
}

/// Accepts connections on `listener` and serves `app` on each until `stop` is
/// cancelled; then stops accepting and lets open requests finish (WebSocket sessions
/// close themselves on the same token). Connection tasks join `tracker`.
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    settings: AcceptSettings,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(64 * 1024);
    let http = Arc::new(http);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or memory: wait for some to free up rather than spin.
                if is_connection_error(&error) {
                    continue;
                }
                tracing::error!(%error, "accept failed");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                }
            }
        };
        let guard = match settings.limits.admit(peer.ip()) {
            Ok(guard) => guard,
            Err(refusal) => {
                tracing::debug!(?refusal, "connection refused");
                tracker.spawn(refuse(tcp, refusal));
                continue;
            }
        };
        // Edits and cursors are small writes that must leave at once: without
        // TCP_NODELAY, Nagle's algorithm holds a write back behind an unacknowledged one,
        // and the peer's delayed acknowledgement can stall it for 40 ms.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let proxies = settings.proxies.clone();
        let service =
            app.clone()
                .map_request(move |mut request: axum::extract::Request<Incoming>| {
                    let client = proxies.client_of(peer, request.headers());
                    request.extensions_mut().insert(ConnectInfo(client));
                    request
                });
        let http = http.clone();
        let stop = stop.clone();
        tracker.spawn(async move {
            let _guard = guard;
            let connection = http
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_connection_end(result),
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    log_connection_end(connection.await);
                }
            }
        });
    }
}

fn log_connection_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!(%error, "HTTP connection ended");
    }
}

/// Errors that concern one connection only; the listener is fine.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Answers a refused connection with a short HTTP error and closes it.
async fn refuse(mut tcp: TcpStream, refusal: Refusal) {
    let (status, code, message, retry) = match refusal {
        Refusal::AddressFull => (
            "429 Too Many Requests",
            "too_many_connections",
            "too many connections from this address",
            5,
        ),
        Refusal::ServerFull => (
            "503 Service Unavailable",
            "unavailable",
            "the server holds as many connections as it can",
            10,
        ),
    };
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: {retry}\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let written = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
    if let Ok(Err(error)) = written {
        tracing::debug!(%error, "cannot answer a refused connection");
    }
}

/// The address a request came from, set by the accept loop.
pub fn peer_of(request_extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    request_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_proxy_names_the_client_and_an_untrusted_one_does_not() {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        // The client made up the first entry; the proxies appended the rest.
        headers.insert(
            "x-forwarded-for",
            "1.1.1.1, 198.51.100.7, 10.9.9.9".parse().unwrap(),
        );
        assert_eq!(
            proxies.client_of(proxy, &headers).ip(),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(proxies.client_of(stranger, &headers), stranger);
        assert_eq!(
            proxies.client_of(proxy, &axum::http::HeaderMap::new()),
            proxy
        );
        let nobody = TrustedProxies::default();
        assert_eq!(nobody.client_of(proxy, &headers), proxy);
    }

    #[test]
    fn addresses_are_counted_per_host() {
        let limits = ConnectionLimits::new(2, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let b_same_net: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).err(), Some(Refusal::AddressFull));
        let _third = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b_same_net).err(), Some(Refusal::ServerFull));
        drop(first);
        assert_eq!(limits.open(), 2);
        assert!(limits.admit(b_same_net).is_ok());
    }

    #[test]
    fn mapped_addresses_count_as_ipv4() {
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(address_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn unlimited_per_address() {
        let limits = ConnectionLimits::new(0, 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let guards: Vec<_> = (0..50).map(|_| limits.admit(ip).unwrap()).collect();
        assert_eq!(limits.open(), guards.len());
    }
}
