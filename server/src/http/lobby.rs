//! Asking to join a session, for people who found it on the local network. The desktop
//! app announces only that it hosts (its name and port, never a room id); a colleague's
//! app knocks with a display name, and the host lets them in or not. Only an admitted
//! knock learns the room's id.
//!
//! Over HTTP there are two calls, both for the one knocking: `POST /api/lobby/knocks`
//! and `GET /api/lobby/knocks/{knockId}`. The host answers in-process through
//! [`Lobby::pending`] and [`Lobby::answer`], so nothing on the network can admit anyone.
//! The lobby is off (404) unless `--lobby` is given, as the desktop app does when hosting.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::AppError;
use super::json::ApiJson;
use super::rate_limit::RateLimiter;
use crate::AppState;

/// Knocks waiting for an answer at once; more get 503 until some are answered.
const MAX_PENDING: usize = 32;
/// How long a knock waits for the host, and how long an answer can be read after.
const KNOCK_LIFETIME: Duration = Duration::from_secs(120);
/// Longest display name shown to the host, in characters.
const MAX_NAME_CHARS: usize = 64;
/// Knocks one address may make per minute.
const KNOCKS_PER_MINUTE: u32 = 10;

/// Requests to join, held until the host answers or they expire; and, while the host
/// asks before letting anyone in, who has been let in.
pub struct Lobby {
    knocks: Mutex<HashMap<Uuid, Knock>>,
    limiter: RateLimiter,
    gate: Mutex<Gate>,
}

/// Most addresses let in while the host asks (a session on a local network is a few).
const MAX_ADMITTED: usize = 1024;

/// While `asking`, only `admitted` addresses (and this machine) may come in without the
/// owner key: the others knock at `/join` and wait for the host.
#[derive(Default)]
struct Gate {
    asking: bool,
    admitted: std::collections::HashSet<IpAddr>,
}

struct Knock {
    name: String,
    from: IpAddr,
    at: Instant,
    answer: Answer,
}

/// The host's answer to a knock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Not answered yet.
    Pending,
    /// Let in to this room.
    Admitted(Uuid),
    /// Turned away.
    Refused,
}

/// A knock as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingKnock {
    /// What the host answers with.
    pub knock_id: Uuid,
    /// The name the person gave.
    pub name: String,
    /// The address the knock came from.
    pub address: String,
    /// Seconds since the knock.
    pub waiting_seconds: u64,
}

impl Default for Lobby {
    fn default() -> Self {
        Self {
            knocks: Mutex::new(HashMap::new()),
            limiter: RateLimiter::per_minute(KNOCKS_PER_MINUTE),
            gate: Mutex::default(),
        }
    }
}

impl Lobby {
    /// Records a knock from `from`; `None` when too many are waiting.
    fn knock(&self, name: String, from: IpAddr, now: Instant) -> Option<Uuid> {
        let mut knocks = self.lock(now);
        let pending = knocks
            .values()
            .filter(|k| k.answer == Answer::Pending)
            .count();
        if pending >= MAX_PENDING {
            return None;
        }
        let id = Uuid::new_v4();
        knocks.insert(
            id,
            Knock {
                name,
                from,
                at: now,
                answer: Answer::Pending,
            },
        );
        Some(id)
    }

    /// The answer to knock `id`; `None` when there is no such knock (or it expired).
    fn answer_of(&self, id: Uuid, now: Instant) -> Option<Answer> {
        self.lock(now).get(&id).map(|k| k.answer)
    }

    /// Knocks waiting for the host, oldest first.
    pub fn pending(&self) -> Vec<PendingKnock> {
        let now = Instant::now();
        let knocks = self.lock(now);
        let mut pending: Vec<_> = knocks
            .iter()
            .filter(|(_, k)| k.answer == Answer::Pending)
            .map(|(id, k)| PendingKnock {
                knock_id: *id,
                name: k.name.clone(),
                address: k.from.to_string(),
                waiting_seconds: now.saturating_duration_since(k.at).as_secs(),
            })
            .collect();
        pending.sort_by_key(|k| std::cmp::Reverse(k.waiting_seconds));
        pending
    }

    /// Answers knock `id`; `false` when it is gone (expired) or was already answered.
    /// Letting someone in lets their address in while the host asks.
    pub fn answer(&self, id: Uuid, answer: Answer) -> bool {
        let mut knocks = self.lock(Instant::now());
        match knocks.get_mut(&id) {
            Some(knock) if knock.answer == Answer::Pending && answer != Answer::Pending => {
                knock.answer = answer;
                if let Answer::Admitted(_) = answer {
                    self.let_in(knock.from);
                }
                true
            }
            _ => false,
        }
    }

    /// Makes the host ask before anyone comes in (`true`), or not. Turning it on lets in
    /// the addresses of `present` (those already here keep their place).
    pub fn ask_before_joining(&self, asking: bool, present: impl IntoIterator<Item = IpAddr>) {
        let mut gate = self.gate();
        gate.asking = asking;
        gate.admitted.clear();
        if asking {
            let present = present.into_iter().map(|ip| ip.to_canonical());
            gate.admitted.extend(present.take(MAX_ADMITTED));
        }
    }

    /// Whether the host asks before anyone comes in.
    pub fn asks(&self) -> bool {
        self.gate().asking
    }

    /// Whether someone at `address` may come in without knocking: anyone while the host
    /// does not ask; those let in while it does (the host's own windows show the owner
    /// key, which lets them in anyway).
    pub fn lets_in(&self, address: IpAddr) -> bool {
        let gate = self.gate();
        !gate.asking || gate.admitted.contains(&address.to_canonical())
    }

    /// Lets `address` in (while the host asks).
    pub fn let_in(&self, address: IpAddr) {
        let mut gate = self.gate();
        if gate.admitted.len() < MAX_ADMITTED {
            gate.admitted.insert(address.to_canonical());
        }
    }

    /// Takes `address` out of those let in: while the host asks, it must knock again.
    pub fn turn_out(&self, address: IpAddr) {
        self.gate().admitted.remove(&address.to_canonical());
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The knocks, with expired ones dropped.
    fn lock(&self, now: Instant) -> std::sync::MutexGuard<'_, HashMap<Uuid, Knock>> {
        let mut knocks = self.knocks.lock().unwrap_or_else(PoisonError::into_inner);
        knocks.retain(|_, k| now.saturating_duration_since(k.at) < KNOCK_LIFETIME);
        knocks
    }
}

/// Body of `POST /api/lobby/knocks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnockRequest {
    /// Who is asking, as the host will see it.
    pub name: String,
}

/// Answer of `POST /api/lobby/knocks`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Knocked {
    knock_id: Uuid,
}

/// Answer of `GET /api/lobby/knocks/{knockId}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KnockStatus {
    /// `pending`, `admitted` or `refused`.
    status: &'static str,
    /// The room, once admitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    room_id: Option<Uuid>,
}

/// `POST /api/lobby/knocks`: asks the host to be let in.
pub async fn knock(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(body): ApiJson<KnockRequest>,
) -> Result<(StatusCode, Json<Knocked>), AppError> {
    let lobby = state.lobby.as_ref().ok_or(AppError::NotFound)?;
    // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`; the host sees `a.b.c.d`.
    let from = peer.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ConnectInfo(p))| {
        p.ip().to_canonical()
    });
    let now = Instant::now();
    lobby.limiter.check(from, now).map_err(|wait| {
        AppError::TooManyRequests("too many requests to join from this address", wait)
    })?;
    let name = body.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(AppError::Unprocessable(
            "name must be 1-64 characters, without control characters".into(),
        ));
    }
    let knock_id = lobby
        .knock(name.to_string(), from, now)
        .ok_or(AppError::Busy("the host has many requests waiting"))?;
    Ok((StatusCode::ACCEPTED, Json(Knocked { knock_id })))
}

/// `GET /api/lobby/knocks/{knockId}`: whether the host has answered.
pub async fn status(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
) -> Result<Json<KnockStatus>, AppError> {
    let lobby = state.lobby.as_ref().ok_or(AppError::NotFound)?;
    let id =
        Uuid::try_parse(&raw_id).map_err(|_| AppError::BadRequest("malformed knock id".into()))?;
    let answer = lobby
        .answer_of(id, Instant::now())
        .ok_or(AppError::KnockNotFound)?;
    let (status, room_id) = match answer {
        Answer::Pending => ("pending", None),
        Answer::Admitted(room) => ("admitted", Some(room)),
        Answer::Refused => ("refused", None),
    };
    Ok(Json(KnockStatus { status, room_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knocks_are_answered_once_and_expire() {
        let lobby = Lobby::default();
        let t0 = Instant::now();
        let ip: IpAddr = "192.168.1.7".parse().unwrap();
        let id = lobby.knock("Bob".into(), ip, t0).unwrap();
        assert_eq!(lobby.answer_of(id, t0), Some(Answer::Pending));
        assert_eq!(lobby.pending().len(), 1);
        let room = Uuid::new_v4();
        assert!(lobby.answer(id, Answer::Admitted(room)));
        assert!(!lobby.answer(id, Answer::Refused), "answered once");
        assert_eq!(lobby.answer_of(id, t0), Some(Answer::Admitted(room)));
        assert!(lobby.pending().is_empty());
        assert_eq!(lobby.answer_of(id, t0 + KNOCK_LIFETIME), None);
    }

    #[test]
    fn while_the_host_asks_only_those_let_in_come_in() {
        let lobby = Lobby::default();
        let (here, bob, eve): (IpAddr, IpAddr, IpAddr) = (
            "192.168.1.5".parse().unwrap(),
            "192.168.1.7".parse().unwrap(),
            "192.168.1.9".parse().unwrap(),
        );
        assert!(lobby.lets_in(eve), "anyone, while the host does not ask");
        lobby.ask_before_joining(true, [here]);
        assert!(lobby.lets_in(here), "those already here stay");
        assert!(!lobby.lets_in(bob) && !lobby.lets_in(eve));
        let knock = lobby.knock("Bob".into(), bob, Instant::now()).unwrap();
        assert!(lobby.answer(knock, Answer::Admitted(Uuid::new_v4())));
        assert!(lobby.lets_in(bob), "let in by the host");
        let mapped: IpAddr = "::ffff:192.168.1.7".parse().unwrap();
        assert!(lobby.lets_in(mapped), "the same address over IPv6");
        lobby.turn_out(bob);
        assert!(!lobby.lets_in(bob));
        lobby.ask_before_joining(false, []);
        assert!(lobby.lets_in(eve));
    }

    #[test]
    fn pending_knocks_are_bounded() {
        let lobby = Lobby::default();
        let now = Instant::now();
        let ip: IpAddr = "192.168.1.7".parse().unwrap();
        for _ in 0..MAX_PENDING {
            assert!(lobby.knock("x".into(), ip, now).is_some());
        }
        assert!(lobby.knock("x".into(), ip, now).is_none());
    }
}
