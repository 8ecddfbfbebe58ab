//! The tokenizer: splits source into identifiers and punctuation, skipping comments and
//! string literals, and tells whether the cursor sits in code, a comment or a string.

use super::languages::Syntax;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A name.
    Ident,
    /// A member operator (`.`, `->`, `::`, `?.`).
    Member,
    /// Any other symbol (one character).
    Punct,
}

/// One token of code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token's text.
    pub text: &'a str,
    /// Byte offset of its first byte.
    pub start: usize,
    /// What it is.
    pub kind: TokenKind,
    /// Indentation (in columns) of the line it is on.
    pub indent: u32,
    /// Line number, from 0.
    pub line: u32,
}

impl Token<'_> {
    /// Byte offset just past the token.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }

    /// Whether this is the punctuation `c`.
    pub fn is(&self, c: &str) -> bool {
        self.kind != TokenKind::Ident && self.text == c
    }
}

/// Where the cursor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In code.
    Code,
    /// In a comment.
    Comment,
    /// In a string literal.
    String,
}

/// The tokens of a document and the place of the cursor.
#[derive(Debug)]
pub struct Scanned<'a> {
    /// Code tokens in order.
    pub tokens: Vec<Token<'a>>,
    /// Whether the cursor is in code, a comment or a string.
    pub place: Place,
}

/// Whether `c` may appear in an identifier of a language with `extra` identifier bytes.
pub fn is_ident_char(c: char, extra: &[u8]) -> bool {
    c.is_alphanumeric() || c == '_' || (c.is_ascii() && extra.contains(&(c as u8)))
}

/// Tokenizes `code`; `cursor` is a byte offset on a character boundary.
pub fn scan<'a>(code: &'a str, syntax: &Syntax, cursor: usize) -> Scanned<'a> {
    let mut scanner = Scanner {
        code,
        bytes: code.as_bytes(),
        syntax,
        cursor,
        pos: 0,
        indent: 0,
        line: 0,
        at_line_start: true,
        place: Place::Code,
        tokens: Vec::with_capacity(code.len() / 4),
    };
    scanner.run();
    Scanned {
        tokens: scanner.tokens,
        place: scanner.place,
    }
}

struct Scanner<'a, 's> {
    code: &'a str,
    bytes: &'a [u8],
    syntax: &'s Syntax,
    cursor: usize,
    pos: usize,
    indent: u32,
    line: u32,
    at_line_start: bool,
    place: Place,
    tokens: Vec<Token<'a>>,
}

impl<'a> Scanner<'a, '_> {
    fn run(&mut self) {
        while self.pos < self.bytes.len() {
            let b = self.bytes[self.pos];
            if b == b'\n' {
                self.pos += 1;
                self.line += 1;
                self.indent = 0;
                self.at_line_start = true;
                continue;
            }
            if b == b' ' || b == b'\t' || b == b'\r' {
                if self.at_line_start {
                    self.indent += if b == b'\t' { 4 } else { 1 };
                }
                self.pos += 1;
                continue;
            }
            self.at_line_start = false;
            if self.skip_comment() || self.skip_string() {
                continue;
            }
            self.token();
        }
    }

    fn rest(&self) -> &'a str {
        &self.code[self.pos..]
    }

    /// Records the cursor's place if the skipped span `start..end` holds it.
    /// `open_ended`: the span ran to the end of a line or of the file without a closer.
    fn note_span(&mut self, start: usize, end: usize, open_ended: bool, place: Place) {
        if start < self.cursor && (self.cursor < end || (open_ended && self.cursor == end)) {
            self.place = place;
        }
    }

    fn skip_comment(&mut self) -> bool {
        let rest = self.rest();
        let start = self.pos;
        if self
            .syntax
            .line_comments
            .iter()
            .any(|c| rest.starts_with(c))
        {
            let end = rest.find('\n').map_or(self.bytes.len(), |i| start + i);
            self.note_span(start, end, true, Place::Comment);
            self.pos = end;
            return true;
        }
        if let Some((open, close)) = self.syntax.block_comment {
            if rest.starts_with(open) {
                let body = start + open.len();
                let (end, closed) = match self.code[body..].find(close) {
                    Some(i) => (body + i + close.len(), true),
                    None => (self.bytes.len(), false),
                };
                self.note_span(start, end, !closed, Place::Comment);
                self.pos = end;
                return true;
            }
        }
        false
    }

    fn skip_string(&mut self) -> bool {
        let quote = self.bytes[self.pos];
        if !self.syntax.quotes.contains(&quote) {
            return false;
        }
        let start = self.pos;
        let triple = self.syntax.triple_quotes && self.bytes[start..].starts_with(&[quote; 3]);
        let (delimiter, multiline) = if triple {
            (3, true)
        } else {
            (1, quote == b'`')
        };
        let mut i = start + delimiter;
        let mut closed = false;
        while i < self.bytes.len() {
            let b = self.bytes[i];
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == b'\n' && !multiline {
                break;
            }
            if b == quote
                && self.bytes[i..]
                    .iter()
                    .take(delimiter)
                    .filter(|&&x| x == quote)
                    .count()
                    == delimiter
            {
                i += delimiter;
                closed = true;
                break;
            }
            i += 1;
        }
        let end = i.min(self.bytes.len());
        self.note_span(start, end, !closed, Place::String);
        self.pos = end;
        true
    }

    fn token(&mut self) {
        let start = self.pos;
        let Some(c) = self.rest().chars().next() else {
            self.pos = self.bytes.len();
            return;
        };
        let extra = self.syntax.ident_extra;
        let kind = if c.is_ascii_digit() {
            // Number literal: skipped, but it must not glue onto the next name.
            let len = self
                .rest()
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(self.rest().len());
            self.pos += len;
            return;
        } else if is_ident_char(c, extra) {
            let len = self
                .rest()
                .find(|c: char| !is_ident_char(c, extra))
                .unwrap_or(self.rest().len());
            self.pos += len;
            TokenKind::Ident
        } else if let Some(op) = self
            .syntax
            .member_ops
            .iter()
            .filter(|op| self.rest().starts_with(**op))
            .max_by_key(|op| op.len())
        {
            self.pos += op.len();
            TokenKind::Member
        } else {
            self.pos += c.len_utf8();
            TokenKind::Punct
        };
        self.tokens.push(Token {
            text: &self.code[start..self.pos],
            start,
            kind,
            indent: self.indent,
            line: self.line,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autocomplete::languages::find;

    fn idents(code: &str, lang: &str) -> Vec<&'static str> {
        let code: &'static str = Box::leak(code.to_string().into_boxed_str());
        let syntax = find(lang).expect("language").syntax;
        scan(code, &syntax, 0)
            .tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Ident)
            .map(|t| t.text)
            .collect()
    }

    fn place(code_with_bar: &str, lang: &str) -> Place {
        let cursor = code_with_bar.find('|').expect("cursor mark");
        let code = code_with_bar.replacen('|', "", 1);
        scan(&code, &find(lang).expect("language").syntax, cursor).place
    }

    #[test]
    fn comments_and_strings_are_skipped() {
        assert_eq!(
            idents("let a = \"b c\"; // d e\n/* f */ g.h('i')", "javascript"),
            ["let", "a", "g", "h"]
        );
        assert_eq!(idents("x = '''a\nb''' # c\ny", "python"), ["x", "y"]);
        assert_eq!(idents("x := `a\nb` + y2", "go"), ["x", "y2"]);
        assert_eq!(idents("$x = 'a' # b\n$y", "php"), ["$x", "$y"]);
        assert_eq!(
            idents("select a -- b\nfrom t", "sql"),
            ["select", "a", "from", "t"]
        );
        assert_eq!(idents("naïve = 変数 + 1e10", "python"), ["naïve", "変数"]);
    }

    #[test]
    fn the_cursor_place_is_known() {
        assert_eq!(place("let x = fo|", "javascript"), Place::Code);
        assert_eq!(place("// hello wo|", "javascript"), Place::Comment);
        assert_eq!(place("/* a | b */ c", "javascript"), Place::Comment);
        assert_eq!(place("/* a b */ c|", "javascript"), Place::Code);
        assert_eq!(place("x = \"ab|c\"", "rust"), Place::String);
        assert_eq!(place("x = \"abc\"|", "rust"), Place::Code);
        assert_eq!(place("x = \"abc|", "rust"), Place::String);
        assert_eq!(place("s = '''\nfoo|\n'''", "python"), Place::String);
        assert_eq!(place("# note|\nx", "python"), Place::Comment);
    }
}
