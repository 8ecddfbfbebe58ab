//! Command-line and environment configuration. Every flag is also an environment variable;
//! the doc comment on each field is its `--help` text.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What the binary does besides serving rooms.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Shares a folder from this disk as a room's project: edits made in the room are
    /// written to the files, and changes to the files reach the room, until Ctrl-C.
    Share {
        /// The folder.
        dir: PathBuf,
        /// The room's title. Default: the folder's name.
        #[arg(long)]
        title: Option<String>,
    },
}

/// Pairpad server configuration.
#[derive(Clone, Parser)]
#[command(
    name = "pairpad-server",
    version,
    about = "Pairpad: real-time pair-programming editor server"
)]
pub struct Config {
    /// What to do besides serving rooms.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address and port to listen on.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_BIND",
        default_value = "127.0.0.1:8420"
    )]
    pub bind: SocketAddr,

    /// Database URL: `postgres://user:pass@host/db` or `sqlite:///path/file.db`.
    /// Default: a SQLite file `pairpad.db` in the data directory.
    #[arg(global = true, long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Redis URL (`redis://host:6379/0`): run as one of several servers that share rooms.
    /// Live updates and presence cross between them through Redis; PostgreSQL (which
    /// `--database-url` must then name) stays the durable truth.
    #[arg(global = true, long, env = "PAIRPAD_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Directory for the default SQLite database. Default: the platform data directory
    /// (e.g. `~/.local/share/pairpad`).
    #[arg(global = true, long, env = "PAIRPAD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log format.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Public base URL used in room links (e.g. `https://pair.example.com`).
    /// Default: derived from the request's Host header.
    #[arg(global = true, long, env = "PAIRPAD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Extra Origins allowed to open WebSockets (the server's own host is always allowed).
    /// Repeat the flag or separate with commas; `*` allows any.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Maximum simultaneous WebSocket connections.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_MAX_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub max_connections: usize,

    /// Maximum simultaneous TCP connections from one client address (IPv6: one /64);
    /// `0` for no limit. Behind a reverse proxy every client shares the proxy's address:
    /// limit there and set `0` here.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: usize,

    /// Reverse proxies (addresses or CIDR blocks, comma-separated) whose
    /// `X-Forwarded-For` is believed: a request through one counts as from the client it
    /// names, for the per-address budgets, presence and the host's gate. The limit on
    /// connections per address still sees the proxy (set it to `0` behind one).
    #[arg(global = true, long, env = "PAIRPAD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Longest a client may take to send a request's headers, and longest an HTTP
    /// connection may wait idle for its next request.
    #[arg(global = true, long, env = "PAIRPAD_HEADER_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// Rooms one client address may create per minute (a burst of this many, then one
    /// every 60/N seconds); `0` for no limit.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_ROOMS_PER_MINUTE",
        default_value_t = 30
    )]
    pub rooms_per_minute: u32,

    /// Autocomplete requests computed at once; more wait briefly, then get 503.
    /// Default: the number of CPUs.
    #[arg(global = true, long, env = "PAIRPAD_AUTOCOMPLETE_CONCURRENCY")]
    pub autocomplete_concurrency: Option<usize>,

    /// How long a room with no one in it stays loaded (e.g. `30s`, `500ms`).
    #[arg(global = true, long, env = "PAIRPAD_ROOM_IDLE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub room_idle: Duration,

    /// Fold a room's update log into a snapshot after this many updates (a large
    /// document's after more: one per KiB of its snapshot).
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_COMPACT_AFTER",
        default_value_t = 1_000
    )]
    pub compact_after: usize,

    /// Largest accepted REST body, in bytes.
    #[arg(global = true, long, env = "PAIRPAD_MAX_MESSAGE_BYTES", default_value_t = 1 << 20)]
    pub max_message_bytes: usize,

    /// Largest document, in bytes of its encoded form. An edit that would make it larger
    /// is refused and its sender closed with 1009 and the reason. WebSocket messages may
    /// be twice this size: a client's offline edits arrive as one, with any text it has
    /// since deleted.
    #[arg(global = true, long, env = "PAIRPAD_MAX_DOCUMENT_BYTES", default_value_t = 8 << 20)]
    pub max_document_bytes: usize,

    /// Most files in one room's project, its first file included.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_MAX_FILES_PER_ROOM",
        default_value_t = 10_000
    )]
    pub max_files_per_room: usize,

    /// Most bytes of text in one room's project, every file together, counted when a file
    /// is created or a folder shared (each file's edits are held to
    /// `--max-document-bytes`).
    #[arg(global = true, long, env = "PAIRPAD_MAX_PROJECT_BYTES", default_value_t = 256 << 20)]
    pub max_project_bytes: usize,

    /// Memory budget in bytes for loaded documents (counted at four times their encoded
    /// size) and frames queued for peers; past it the server refuses new connections,
    /// room loads and growing edits with a "retry later", and drops peers that are
    /// behind. `0` for no budget.
    #[arg(global = true, long, env = "PAIRPAD_MEMORY_BUDGET", default_value_t = 2 << 30)]
    pub memory_budget: usize,

    /// Take requests to join from the network (`POST /api/lobby/knocks`), answered by the
    /// program embedding the server (the desktop app's host). Off: those calls are 404.
    #[arg(global = true, long, env = "PAIRPAD_LOBBY")]
    pub lobby: bool,

    /// Base URL of an OpenAI-compatible API for AI suggestions, e.g.
    /// `http://127.0.0.1:8080/v1` (llama.cpp) or `http://127.0.0.1:11434/v1` (Ollama).
    /// AI suggestions are off when unset.
    #[arg(global = true, long, env = "PAIRPAD_AI_ENDPOINT")]
    pub ai_endpoint: Option<String>,

    /// Model name sent to the AI endpoint.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_AI_MODEL",
        default_value = "default"
    )]
    pub ai_model: String,

    /// Time budget for one AI suggestion; local suggestions are returned without it after.
    #[arg(global = true, long, env = "PAIRPAD_AI_TIMEOUT", default_value = "1500ms", value_parser = humantime::parse_duration)]
    pub ai_timeout: Duration,

    /// API key for the AI endpoint. Prefer the environment variable: a flag shows in `ps`.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_AI_API_KEY",
        hide_env_values = true
    )]
    pub ai_api_key: Option<String>,

    /// Sign-in: the HS256 secret that tokens are signed with (at least 32 bytes). With it
    /// (or `--jwt-public-key`), every API call and WebSocket needs a token, and the
    /// token's name is the person's name. Prefer the environment variable.
    #[arg(
        global = true,
        long,
        env = "PAIRPAD_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_public_key"
    )]
    pub jwt_secret: Option<String>,

    /// Sign-in: the public key (PEM: RSA for RS256, P-256 for ES256) that tokens are
    /// signed with, as a file path or the PEM text itself.
    #[arg(global = true, long, env = "PAIRPAD_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<String>,

    /// Sign-in: the issuer (`iss`) a token must name.
    #[arg(global = true, long, env = "PAIRPAD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Sign-in: the audience (`aud`) a token must name.
    #[arg(global = true, long, env = "PAIRPAD_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

impl Config {
    /// The database URL to use: the configured one, or the default SQLite file.
    pub fn effective_database_url(&self) -> Result<String, ConfigError> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        let dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None => directories::ProjectDirs::from("dev", "pairpad", "pairpad")
                .ok_or(ConfigError::NoDataDir)?
                .data_dir()
                .to_path_buf(),
        };
        std::fs::create_dir_all(&dir).map_err(|e| ConfigError::DataDir(dir.clone(), e))?;
        Ok(format!("sqlite://{}", dir.join("pairpad.db").display()))
    }

    /// Checks that a `--redis-url` comes with a PostgreSQL store.
    pub fn check_shared(&self) -> Result<(), ConfigError> {
        if self.redis_url.is_none() {
            return Ok(());
        }
        let url = self.database_url.as_deref().unwrap_or("");
        match url.starts_with("postgres://") || url.starts_with("postgresql://") {
            true => Ok(()),
            false => Err(ConfigError::SharedNeedsPostgres),
        }
    }

    /// Every setting at the default its flag documents, whatever the environment holds:
    /// for embedders (the desktop app), which set the fields they need on the value.
    pub fn defaults() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let command = Self::command().mut_args(|arg| arg.env(None));
        command
            .try_get_matches_from(["pairpad-server"])
            .map_err(|e| e.to_string())
            .and_then(|matches| Self::from_arg_matches(&matches).map_err(|e| e.to_string()))
            .unwrap_or_else(|error| unreachable!("the documented defaults parse: {error}"))
    }

    /// Parses a configuration from the given arguments (plus the environment, as `--help`
    /// describes); used by tests and embedders.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut all = vec![std::ffi::OsString::from("pairpad-server")];
        all.extend(args.into_iter().map(Into::into));
        Self::try_parse_from(all)
    }
}

/// An address or CIDR block (`10.0.0.0/8`, `::1`).
fn parse_net(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{value:?} is not an address or CIDR block"))
}

/// Configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No home directory to derive the data directory from.
    #[error("no data directory could be determined; pass --data-dir or --database-url")]
    NoDataDir,
    /// The data directory could not be created.
    #[error("cannot create data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// `--redis-url` without a PostgreSQL `--database-url`.
    #[error("--redis-url needs a PostgreSQL --database-url (postgres://…): servers that share rooms share their store, and SQLite is one process's file")]
    SharedNeedsPostgres,
    /// The Redis URL cannot be used.
    #[error("{0}")]
    Redis(String),
    /// The sign-in settings cannot be used.
    #[error("sign-in: {0}")]
    SignIn(String),
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("data_dir", &self.data_dir)
            .field("log_format", &self.log_format)
            .field("public_url", &self.public_url)
            .field("allowed_origins", &self.allowed_origins)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_address",
                &self.max_connections_per_address,
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("header_timeout", &self.header_timeout)
            .field("rooms_per_minute", &self.rooms_per_minute)
            .field("autocomplete_concurrency", &self.autocomplete_concurrency)
            .field("room_idle", &self.room_idle)
            .field("compact_after", &self.compact_after)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_document_bytes", &self.max_document_bytes)
            .field("command", &self.command)
            .field("max_files_per_room", &self.max_files_per_room)
            .field("max_project_bytes", &self.max_project_bytes)
            .field("memory_budget", &self.memory_budget)
            .field("lobby", &self.lobby)
            .field("ai_endpoint", &self.ai_endpoint)
            .field("ai_model", &self.ai_model)
            .field("ai_timeout", &self.ai_timeout)
            .field("ai_api_key", &self.ai_api_key.as_ref().map(|_| "***"))
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("jwt_public_key", &self.jwt_public_key.is_some())
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .finish()
    }
}

/// Replaces the password in a URL such as `postgres://user:secret@host/db` with `***`,
/// in the user part and in a `password` query parameter (`?password=secret`) alike.
pub fn redact_url(url: &str) -> String {
    let (url, query) = url
        .split_once('?')
        .map_or((url, None), |(u, q)| (u, Some(q)));
    let redacted = redact_userinfo(url);
    match query {
        Some(query) => format!("{redacted}?{}", redact_query(query)),
        None => redacted,
    }
}

fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://ada:s3cret@db:5432/pairpad?sslmode=require"),
            "postgres://ada:***@db:5432/pairpad?sslmode=require"
        );
        assert_eq!(redact_url("postgres://ada@db/x"), "postgres://ada@db/x");
        assert_eq!(redact_url("sqlite:///tmp/p.db"), "sqlite:///tmp/p.db");
        assert_eq!(
            redact_url("postgres://ada@db/x?sslmode=require&password=hunter2"),
            "postgres://ada@db/x?sslmode=require&password=***"
        );
        let config = Config::from_args([
            "--database-url",
            "postgres://u:hunter2@h/d",
            "--ai-api-key",
            "sk-hunter3",
        ])
        .expect("parse");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
    }

    #[test]
    fn defaults_match_the_documentation() {
        for config in [
            Config::from_args(Vec::<String>::new()).expect("parse"),
            Config::defaults(),
        ] {
            assert_eq!(config.bind.to_string(), "127.0.0.1:8420");
            assert_eq!(config.log_format, LogFormat::Text);
            assert_eq!(config.room_idle, Duration::from_secs(30));
            assert_eq!(config.max_message_bytes, 1 << 20);
            assert_eq!(config.ai_timeout, Duration::from_millis(1500));
            assert!(config.ai_endpoint.is_none() && !config.lobby);
        }
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config =
            Config::from_args(["--data-dir", &dir.path().display().to_string()]).expect("parse");
        let url = config.effective_database_url().expect("url");
        assert_eq!(
            url,
            format!("sqlite://{}", dir.path().join("pairpad.db").display())
        );
    }
}
