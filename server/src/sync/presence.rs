//! Checks on presence (awareness) states before the room applies and relays them. A state
//! is the JSON a client publishes about itself (`{user: {name, color}, cursor}`): every
//! client in the room parses it, so one that is not JSON, or is huge, would break or burden
//! them all.

/// Largest presence state accepted, in bytes (a cursor and a name take a few hundred).
pub const MAX_STATE_BYTES: usize = 4096;
/// The reason given when a state is over [`MAX_STATE_BYTES`].
pub const TOO_LARGE: &str = "presence state too large";
/// Longest display name kept for stored updates, in characters.
const MAX_NAME_CHARS: usize = 100;

/// Whether a state is the removal marker `null`.
pub fn is_null(json: &str) -> bool {
    json == "null"
}

/// Checks one state: `null` or a JSON object of at most [`MAX_STATE_BYTES`]. Returns the
/// display name it carries (`user.name`, cut to 100 characters), if any.
pub fn check_state(json: &str) -> Result<Option<String>, &'static str> {
    if is_null(json) {
        return Ok(None);
    }
    if json.len() > MAX_STATE_BYTES {
        return Err(TOO_LARGE);
    }
    let state: serde_json::Value =
        serde_json::from_str(json).map_err(|_| "presence state is not JSON")?;
    if !state.is_object() {
        return Err("presence state is not a JSON object");
    }
    Ok(state
        .pointer("/user/name")
        .and_then(serde_json::Value::as_str)
        .map(|name| name.chars().take(MAX_NAME_CHARS).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_json_objects_of_bounded_size() {
        assert_eq!(check_state("null"), Ok(None));
        assert_eq!(
            check_state(r##"{"user":{"name":"Ada","color":"#fff"}}"##),
            Ok(Some("Ada".into()))
        );
        assert_eq!(check_state(r#"{"cursor":null}"#), Ok(None));
        assert!(check_state(r#"{"user":"#).is_err(), "truncated JSON");
        assert!(check_state("42").is_err());
        assert!(check_state("[]").is_err());
        let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_STATE_BYTES));
        assert_eq!(check_state(&big), Err(TOO_LARGE));
        let long = format!(r#"{{"user":{{"name":"{}"}}}}"#, "n".repeat(500));
        assert_eq!(check_state(&long).unwrap().unwrap().len(), 100);
    }
}
