//! The error every command returns to the start page.

use serde::Serialize;

use crate::host::HostError;
use crate::settings::SettingsError;

/// An error the start page shows: a stable `code` and a sentence for people.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CommandError {
    /// `invalid`, `database`, `port_in_use`, `host`, `bad_url`, `unreachable`, `window`.
    pub code: &'static str,
    /// What went wrong, in words.
    pub message: String,
    /// For `port_in_use`: a port that is free.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_port: Option<u16>,
}

impl CommandError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            suggested_port: None,
        }
    }
}

impl From<SettingsError> for CommandError {
    fn from(error: SettingsError) -> Self {
        match error {
            SettingsError::Invalid(message) => Self::new("invalid", message),
            write @ SettingsError::Write(..) => Self::new("settings", write.to_string()),
        }
    }
}

impl From<HostError> for CommandError {
    fn from(error: HostError) -> Self {
        match error {
            HostError::PortInUse { suggestion, .. } => Self {
                suggested_port: suggestion,
                ..Self::new("port_in_use", error.to_string())
            },
            HostError::Server(message) => Self::new("host", message),
        }
    }
}
