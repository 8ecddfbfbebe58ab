//! A room's title and language: what the REST API accepts when a room is created, and
//! what the room enforces when a client changes them in the shared document's `meta` map.

/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Language used when none is given.
pub const DEFAULT_LANGUAGE: &str = "plaintext";
/// Title used when none is given.
pub const DEFAULT_TITLE: &str = "Untitled";

/// Checks a title: at most [`MAX_TITLE_CHARS`] characters, none of them control
/// characters.
pub fn check_title(title: &str) -> Result<(), &'static str> {
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err("title is longer than 200 characters");
    }
    if title.chars().any(char::is_control) {
        return Err("title contains control characters");
    }
    Ok(())
}

/// Checks a language id: 1 to 32 characters of `a-z`, `0-9`, `+ # . - _`.
pub fn check_language(language: &str) -> Result<(), &'static str> {
    let valid = (1..=32).contains(&language.len())
        && language
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+#.-_".contains(&b));
    if valid {
        Ok(())
    } else {
        Err("language must be 1-32 characters of a-z, 0-9, + # . - _")
    }
}
