//! The desktop app's settings: display name, port, database. Saved as JSON in the
//! platform config directory (`~/.config/pairpad/settings.json` on Linux).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Port the embedded server uses unless changed.
pub const DEFAULT_PORT: u16 = 8420;
/// Longest display name, in characters (the editor's limit).
pub const MAX_NAME_CHARS: usize = 40;

/// What a person can change on the Settings page.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Name shown next to this person's cursor; empty means "ask in the editor".
    pub display_name: String,
    /// Port the embedded server listens on when hosting.
    pub port: u16,
    /// `None`: SQLite in the data directory. `Some(url)`: a `postgres://` URL.
    pub database_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            display_name: String::new(),
            port: DEFAULT_PORT,
            database_url: None,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("display_name", &self.display_name)
            .field("port", &self.port)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(pairpad_server::config::redact_url),
            )
            .finish()
    }
}

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A field does not hold an acceptable value.
    #[error("{0}")]
    Invalid(String),
    /// The file could not be written.
    #[error("cannot save settings to {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

impl Settings {
    /// Checks and normalises the fields (trimmed name, empty database URL = SQLite).
    pub fn validated(mut self) -> Result<Self, SettingsError> {
        self.display_name = self
            .display_name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if self.display_name.chars().count() > MAX_NAME_CHARS {
            return Err(SettingsError::Invalid(format!(
                "the display name is longer than {MAX_NAME_CHARS} characters"
            )));
        }
        if self.port < 1024 {
            return Err(SettingsError::Invalid(
                "choose a port from 1024 to 65535".into(),
            ));
        }
        self.database_url = self
            .database_url
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if let Some(url) = &self.database_url {
            let known = ["postgres://", "postgresql://", "sqlite://", "sqlite:"];
            if !known.iter().any(|p| url.starts_with(p)) {
                return Err(SettingsError::Invalid(
                    "the database must be a postgres:// URL (or empty for the built-in SQLite)"
                        .into(),
                ));
            }
        }
        Ok(self)
    }

    /// Reads settings; a missing or unreadable file gives the defaults (and says so in the
    /// log), so a damaged file never stops the app from starting.
    pub fn load(path: &Path) -> Self {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::default(),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "cannot read settings; using defaults");
                return Self::default();
            }
        };
        match serde_json::from_str::<Settings>(&text).map(Settings::validated) {
            Ok(Ok(settings)) => settings,
            Ok(Err(error)) => {
                tracing::warn!(%error, "settings file holds invalid values; using defaults");
                Self::default()
            }
            Err(error) => {
                tracing::warn!(%error, "settings file is not valid JSON; using defaults");
                Self::default()
            }
        }
    }

    /// Writes settings atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let fail = |e| SettingsError::Write(path.to_path_buf(), e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let json = serde_json::to_string_pretty(self).map_err(|e| fail(e.into()))?;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, json).map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)
    }
}

/// Where the settings file lives: `$PAIRPAD_CONFIG_DIR` when set (tests), otherwise the
/// platform config directory.
pub fn settings_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PAIRPAD_CONFIG_DIR") {
        return Some(PathBuf::from(dir).join("settings.json"));
    }
    directories::ProjectDirs::from("dev", "pairpad", "pairpad")
        .map(|dirs| dirs.config_dir().join("settings.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_bad_files_fall_back_to_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("settings.json");
        assert_eq!(Settings::load(&path), Settings::default());
        let settings = Settings {
            display_name: "  Ada   Lovelace ".into(),
            port: 9000,
            database_url: Some("postgres://ada:secret@db/pairpad".into()),
        }
        .validated()
        .unwrap();
        assert_eq!(settings.display_name, "Ada Lovelace");
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path), settings);
        assert!(!format!("{settings:?}").contains("secret"));

        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
    }

    #[test]
    fn invalid_values_are_refused() {
        let base = Settings::default();
        let long = Settings {
            display_name: "x".repeat(41),
            ..base.clone()
        };
        assert!(long.validated().is_err());
        let low = Settings {
            port: 80,
            ..base.clone()
        };
        assert!(low.validated().is_err());
        let mysql = Settings {
            database_url: Some("mysql://x".into()),
            ..base.clone()
        };
        assert!(mysql.validated().is_err());
        let blank = Settings {
            database_url: Some("  ".into()),
            ..base
        };
        assert_eq!(blank.validated().unwrap().database_url, None);
    }
}
