//! Optional suggestions from a language model behind any OpenAI-compatible completions
//! endpoint (llama.cpp's server, Ollama, a hosted API). The model gets the code around the
//! cursor and a strict time budget; on timeout or error the local results stand alone.
//! The API key is sent as a bearer token and never logged.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Kind, Suggestion};

/// Characters of code before the cursor sent as the prompt.
const PROMPT_CHARS: usize = 4_000;
/// Characters of code after the cursor sent as the suffix.
const SUFFIX_CHARS: usize = 1_000;
/// Longest suggestion accepted, in characters.
const MAX_SUGGESTION_CHARS: usize = 1_000;

/// Where and how to ask the model.
#[derive(Clone)]
pub struct AiSettings {
    /// Base URL of the API, e.g. `http://127.0.0.1:8080/v1`; `/completions` is appended.
    pub endpoint: String,
    /// Model name sent with each request.
    pub model: String,
    /// Bearer token, if the endpoint needs one.
    pub api_key: Option<String>,
    /// How long a request may take before local results are returned without it.
    pub budget: Duration,
}

impl fmt::Debug for AiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiSettings")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("budget", &self.budget)
            .finish()
    }
}

/// Why the model gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// The request failed (connection, HTTP status, body not JSON of the expected shape).
    #[error("model request failed: {0}")]
    Request(#[from] reqwest::Error),
    /// The model did not answer within the budget.
    #[error("model did not answer within {0:?}")]
    Timeout(Duration),
}

/// A client for the completions endpoint.
#[derive(Debug, Clone)]
pub struct AiClient {
    settings: AiSettings,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct CompletionRequest<'a> {
    model: &'a str,
    prompt: &'a str,
    suffix: &'a str,
    max_tokens: u32,
    temperature: f32,
    stop: [&'a str; 1],
    stream: bool,
}

#[derive(Deserialize)]
struct CompletionResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    text: String,
}

impl AiClient {
    /// A client for `settings`.
    pub fn new(settings: AiSettings) -> Result<Self, AiError> {
        let http = reqwest::Client::builder()
            .timeout(settings.budget)
            .connect_timeout(settings.budget)
            .build()?;
        Ok(Self { settings, http })
    }

    /// The time budget for one suggestion.
    pub fn budget(&self) -> Duration {
        self.settings.budget
    }

    /// Asks the model to continue `before` (the code up to the cursor), given `after`.
    /// `Ok(None)` when the model has nothing to add.
    pub async fn suggest(
        &self,
        before: &str,
        after: &str,
        language: &str,
    ) -> Result<Option<Suggestion>, AiError> {
        let prompt = format!(
            "// language: {language}\n{}",
            tail_chars(before, PROMPT_CHARS)
        );
        let request = CompletionRequest {
            model: &self.settings.model,
            prompt: &prompt,
            suffix: head_chars(after, SUFFIX_CHARS),
            max_tokens: 64,
            temperature: 0.1,
            stop: ["\n\n"],
            stream: false,
        };
        let url = format!(
            "{}/completions",
            self.settings.endpoint.trim_end_matches('/')
        );
        let mut call = self.http.post(url).json(&request);
        if let Some(key) = &self.settings.api_key {
            call = call.bearer_auth(key);
        }
        let answer = tokio::time::timeout(self.settings.budget, async {
            call.send()
                .await?
                .error_for_status()?
                .json::<CompletionResponse>()
                .await
        })
        .await
        .map_err(|_| AiError::Timeout(self.settings.budget))??;
        Ok(answer
            .choices
            .into_iter()
            .next()
            .and_then(|c| to_suggestion(&c.text)))
    }
}

/// Turns the model's text into a suggestion: trailing space trimmed, length capped, the
/// first line as label.
fn to_suggestion(text: &str) -> Option<Suggestion> {
    let text: String = text.trim_end().chars().take(MAX_SUGGESTION_CHARS).collect();
    let label: String = text
        .lines()
        .find(|l| !l.trim().is_empty())?
        .trim()
        .chars()
        .take(80)
        .collect();
    Some(Suggestion {
        label,
        kind: Kind::Ai,
        detail: "AI suggestion".into(),
        insert_text: text,
    })
}

fn tail_chars(text: &str, n: usize) -> &str {
    let start = text
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    &text[start..]
}

fn head_chars(text: &str, n: usize) -> &str {
    let end = text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_suggestions() {
        let s = to_suggestion("  total += x;\n  }\n\n").expect("suggestion");
        assert_eq!(s.label, "total += x;");
        assert_eq!(s.insert_text, "  total += x;\n  }");
        assert_eq!(s.kind, Kind::Ai);
        assert!(to_suggestion(" \n\t").is_none());
        assert_eq!(
            to_suggestion(&"y".repeat(5000)).unwrap().insert_text.len(),
            MAX_SUGGESTION_CHARS
        );
    }

    #[test]
    fn context_is_cut_on_character_boundaries() {
        assert_eq!(tail_chars("héllo", 3), "llo");
        assert_eq!(tail_chars("hé", 10), "hé");
        assert_eq!(head_chars("日本語です", 2), "日本");
        let key = AiSettings {
            endpoint: "http://x".into(),
            model: "m".into(),
            api_key: Some("sk-secret".into()),
            budget: Duration::from_secs(1),
        };
        assert!(!format!("{key:?}").contains("sk-secret"));
    }
}
