//! The paths of a project's files: what a room accepts as a file's path, the key under
//! which two paths clash, and the editor language a path's extension implies.
//!
//! A path is relative and `/`-separated, in normal form: no empty, `.` or `..` segments,
//! no leading or trailing `/`, no backslashes, no control characters. What a common file
//! system cannot hold is refused too, so that a project can be written anywhere: the
//! characters Windows forbids (`< > : " | ? *`), names ending in a dot or a space, and
//! Windows' device names (`CON`, `NUL`, `COM1`, ...). So is `.git`, whose files can run
//! code on the machine that holds them. So are characters that hide or
//! reorder text (bidirectional controls, zero-width characters). Two paths that differ
//! only by letter case or Unicode normalisation clash, because they would name one file
//! on macOS and Windows.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Longest path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest segment (file or folder name), in bytes: what common file systems allow.
pub const MAX_SEGMENT_BYTES: usize = 255;
/// Most segments in a path.
pub const MAX_DEPTH: usize = 32;

/// A checked project path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectPath(String);

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty, or an empty segment (`a//b`, a trailing `/`).
    #[error("path is empty or has an empty segment")]
    Empty,
    /// Starts with `/` or a drive letter.
    #[error("path must be relative")]
    Absolute,
    /// A `.` or `..` segment.
    #[error("path may not contain `.` or `..` segments")]
    DotSegment,
    /// A backslash, a control character, NUL, a character Windows forbids in names, or
    /// one that hides or reorders text.
    #[error("path contains a character that is not allowed in file names")]
    BadCharacter,
    /// A name some file system cannot hold (a Windows device name, a trailing dot or
    /// space), or `.git`.
    #[error("path contains a name that is not allowed on every system")]
    BadName,
    /// Over [`MAX_PATH_BYTES`], [`MAX_SEGMENT_BYTES`] or [`MAX_DEPTH`].
    #[error("path is too long or too deep")]
    TooLong,
}

impl ProjectPath {
    /// Checks `raw`; it must already be in normal form.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        if raw.starts_with('/') || has_drive_letter(raw) {
            return Err(PathError::Absolute);
        }
        if raw.chars().any(forbidden) {
            return Err(PathError::BadCharacter);
        }
        let mut depth = 0;
        for segment in raw.split('/') {
            depth += 1;
            if depth > MAX_DEPTH || segment.len() > MAX_SEGMENT_BYTES {
                return Err(PathError::TooLong);
            }
            match segment {
                "" => return Err(PathError::Empty),
                "." | ".." => return Err(PathError::DotSegment),
                _ if segment.ends_with(['.', ' ']) || is_device_name(segment) => {
                    return Err(PathError::BadName)
                }
                // Git's own files are never a project's: writing one could run code.
                _ if segment.eq_ignore_ascii_case(".git") => return Err(PathError::BadName),
                _ => {}
            }
        }
        Ok(Self(raw.to_string()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its segments, folders first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// What two paths that would name the same file on a case-insensitive file system
    /// (or one that normalises Unicode) share.
    pub fn key(&self) -> String {
        fold(&self.0)
    }

    /// The folders it is in, outermost first (`a`, `a/b` for `a/b/c.rs`).
    pub fn folders(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(at, _)| &self.0[..at])
    }

    /// The editor language its extension implies.
    pub fn language(&self) -> &'static str {
        language_of(&self.0)
    }
}

impl fmt::Display for ProjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What text that names the same file on a case-insensitive, normalising file system
/// folds to: NFC, lower case.
pub fn fold(text: &str) -> String {
    text.nfc().collect::<String>().to_lowercase()
}

/// Whether `c` may not appear in a path: separators and controls, what Windows forbids,
/// and what hides or reorders text (bidirectional controls and marks, zero-width and
/// other invisible characters, blank fillers, variation selectors and tags, line and
/// paragraph separators), with which two names that look the same could be told apart.
fn forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*') || hides_text(c)
}

/// Whether `c` hides or reorders text: bidirectional controls and marks, zero-width and
/// other invisible characters, blank fillers, variation selectors and tags, line and
/// paragraph separators. Two names that look the same could be told apart by them (paths
/// here, and the names sign-in vouches for).
pub fn hides_text(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2028}' | '\u{2029}')
        || matches!(c, '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
        || matches!(
            c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}'
        )
        || matches!(
            c,
            '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{3164}' | '\u{FFA0}'
        )
        || matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0000}'..='\u{E007F}' | '\u{E0100}'..='\u{E01EF}')
        || matches!(c, '\u{1D173}'..='\u{1D17A}')
}

/// Whether `name` is one Windows keeps for a device, whatever its extension.
fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit())
}

/// `C:` and the like, which Windows reads as absolute.
fn has_drive_letter(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// The editor language id for a file name, by its extension (or its whole name for a few
/// well-known files); `plaintext` when none fits.
pub fn language_of(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "dockerfile" | "makefile" | "justfile" => return "shell",
        _ => {}
    }
    let Some((_, extension)) = lower.rsplit_once('.') else {
        return "plaintext";
    };
    match extension {
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "mts" | "cts" | "tsx" => "typescript",
        "py" | "pyi" => "python",
        "rs" => "rust",
        "go" => "go",
        "java" => "java",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hh" | "hpp" | "hxx" => "cpp",
        "cs" => "csharp",
        "php" => "php",
        "html" | "htm" => "html",
        "css" => "css",
        "json" => "json",
        "md" | "markdown" => "markdown",
        "sql" => "sql",
        "yaml" | "yml" => "yaml",
        "sh" | "bash" | "zsh" => "shell",
        _ => "plaintext",
    }
}

/// The path of a new room's first file: `main` with the language's usual extension
/// (`notes.txt` for plain text).
pub fn first_file_path(language: &str) -> String {
    let extension = match language {
        "javascript" => "js",
        "typescript" => "ts",
        "python" => "py",
        "rust" => "rs",
        "go" => "go",
        "java" => "java",
        "c" => "c",
        "cpp" => "cpp",
        "csharp" => "cs",
        "php" => "php",
        "html" => "html",
        "css" => "css",
        "json" => "json",
        "markdown" => "md",
        "sql" => "sql",
        "yaml" => "yaml",
        "shell" => "sh",
        _ => return "notes.txt".into(),
    };
    format!("main.{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_normal_form_are_accepted() {
        for ok in [
            "a",
            "src/main.rs",
            "a b/c.d.e",
            "ünï/cödé.py",
            ".gitignore",
            "a/.b",
        ] {
            assert_eq!(ProjectPath::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn attacks_and_odd_forms_are_refused() {
        use PathError::*;
        let deep = vec!["a"; 10_000].join("/");
        let long_name = "x".repeat(256);
        for (bad, why) in [
            ("", Empty),
            ("a//b", Empty),
            ("a/", Empty),
            ("/etc/passwd", Absolute),
            ("C:/x", Absolute),
            ("c:x", Absolute),
            ("../x", DotSegment),
            ("a/../../b", DotSegment),
            ("./a", DotSegment),
            ("a/.", DotSegment),
            ("a\\b", BadCharacter),
            ("a\0b", BadCharacter),
            ("a\nb", BadCharacter),
            ("a\u{7f}", BadCharacter),
            ("x/y:z", BadCharacter),
            ("what?.txt", BadCharacter),
            ("a\u{202E}txt.exe", BadCharacter),
            ("zero\u{200B}width", BadCharacter),
            ("main\u{00AD}.py", BadCharacter),
            ("arabic\u{061C}mark", BadCharacter),
            ("word\u{2060}joiner", BadCharacter),
            ("filler\u{3164}", BadCharacter),
            ("selector\u{FE0F}", BadCharacter),
            ("tag\u{E0041}", BadCharacter),
            ("bom\u{FEFF}", BadCharacter),
            ("line\u{2028}sep", BadCharacter),
            ("b.", BadName),
            ("a/b ", BadName),
            ("CON", BadName),
            ("aux.txt", BadName),
            ("dir/com1.rs", BadName),
            ("LPT9", BadName),
            (".git/config", BadName),
            ("sub/.GIT/hooks/pre-commit", BadName),
            (deep.as_str(), TooLong),
            (long_name.as_str(), TooLong),
        ] {
            assert_eq!(ProjectPath::parse(bad), Err(why), "{bad:?}");
        }
        let depth_ok = vec!["a"; MAX_DEPTH].join("/");
        assert!(ProjectPath::parse(&depth_ok).is_ok());
        let too_deep = vec!["a"; MAX_DEPTH + 1].join("/");
        assert_eq!(ProjectPath::parse(&too_deep), Err(TooLong));
    }

    #[test]
    fn paths_that_differ_only_by_case_share_a_key() {
        let a = ProjectPath::parse("Src/Main.RS").unwrap();
        let b = ProjectPath::parse("src/main.rs").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.key(), b.key());
        // é as one character and as e with a combining accent.
        let nfc = ProjectPath::parse("caf\u{e9}.txt").unwrap();
        let nfd = ProjectPath::parse("cafe\u{301}.txt").unwrap();
        assert_eq!(nfc.key(), nfd.key());
        let deep = ProjectPath::parse("a/b/c.rs").unwrap();
        assert_eq!(deep.folders().collect::<Vec<_>>(), ["a", "a/b"]);
    }

    #[test]
    fn languages_follow_the_extension() {
        assert_eq!(language_of("src/main.rs"), "rust");
        assert_eq!(language_of("web/App.TSX"), "typescript");
        assert_eq!(language_of("Dockerfile"), "shell");
        assert_eq!(language_of("README"), "plaintext");
        assert_eq!(language_of("archive.tar.gz"), "plaintext");
        assert_eq!(first_file_path("python"), "main.py");
        assert_eq!(first_file_path("plaintext"), "notes.txt");
        for language in ["rust", "python", "shell", "typescript", "markdown"] {
            assert_eq!(language_of(&first_file_path(language)), language);
        }
    }
}
