//! What a document says about its names: how often and how near the cursor each appears,
//! what kind of thing each is (from where it is defined or how it is used), which members
//! each receiver and each type has, and which type each variable holds.

use std::collections::HashMap;

use super::languages::Language;
use super::scan::{Token, TokenKind};
use super::Kind;

/// What the document says about one name.
#[derive(Debug, Clone, Copy)]
pub struct NameInfo {
    /// Occurrences.
    pub count: u32,
    /// Smallest byte distance from an occurrence to the cursor.
    pub distance: usize,
    /// Best-known kind.
    pub kind: Kind,
    /// Whether the document defines it (rather than only uses it).
    pub defined: bool,
}

/// Members keyed by name, with their kind.
pub type Members<'a> = HashMap<&'a str, Kind>;

/// The index of one document.
#[derive(Debug, Default)]
pub struct DocIndex<'a> {
    /// Every name used in code (not member accesses).
    pub names: HashMap<&'a str, NameInfo>,
    /// Members seen on each receiver (`obj` in `obj.member`).
    pub receiver_members: HashMap<&'a str, Members<'a>>,
    /// Members defined in or seen on each type.
    pub type_members: HashMap<&'a str, Members<'a>>,
    /// The type each variable was seen to hold.
    pub type_of: HashMap<&'a str, &'a str>,
    /// Every member seen anywhere, with its count.
    pub all_members: HashMap<&'a str, (Kind, u32)>,
}

impl<'a> DocIndex<'a> {
    /// Members known for `receiver`: seen on it, on its type, and on other values of its type.
    pub fn members_of(&self, receiver: &str) -> Members<'a> {
        let mut out = Members::new();
        let ty = self.type_of.get(receiver).copied().or_else(|| {
            // A type name itself (static members), or a receiver that is a known type.
            self.type_members.contains_key(receiver).then_some(receiver)
        });
        let mut add = |members: Option<&Members<'a>>| {
            for (name, kind) in members.into_iter().flatten() {
                out.entry(*name)
                    .and_modify(|k| *k = k.stronger(*kind))
                    .or_insert(*kind);
            }
        };
        add(self.receiver_members.get(receiver));
        if let Some(ty) = ty {
            add(self.type_members.get(ty));
            for (var, var_ty) in &self.type_of {
                if *var_ty == ty && *var != receiver {
                    add(self.receiver_members.get(var));
                }
            }
        }
        out
    }
}

/// Builds the index from code tokens, ignoring the token being typed (at `skip`).
pub fn build<'a>(
    tokens: &[Token<'a>],
    lang: &Language,
    cursor: usize,
    skip: Option<usize>,
) -> DocIndex<'a> {
    let mut builder = Builder {
        lang,
        cursor,
        index: DocIndex::default(),
        scopes: Vec::new(),
        depth: 0,
        pending_scope: None,
    };
    for (i, token) in tokens.iter().enumerate() {
        if Some(i) != skip {
            builder.visit(tokens, i, token);
        }
    }
    builder.index
}

struct Builder<'a, 'l> {
    lang: &'l Language,
    cursor: usize,
    index: DocIndex<'a>,
    /// Open member scopes: type name, the brace depth (or indentation) of its body, and
    /// the line it was opened on.
    scopes: Vec<(&'a str, u32, u32)>,
    depth: u32,
    pending_scope: Option<&'a str>,
}

fn is_type_name(name: &str) -> bool {
    name.chars().next().is_some_and(char::is_uppercase)
}

impl<'a> Builder<'a, '_> {
    fn visit(&mut self, tokens: &[Token<'a>], i: usize, token: &Token<'a>) {
        match token.kind {
            TokenKind::Punct => self.punct(token),
            TokenKind::Member => {}
            TokenKind::Ident => self.ident(tokens, i, token),
        }
    }

    fn punct(&mut self, token: &Token<'a>) {
        match token.text {
            "{" => {
                self.depth += 1;
                if let Some(name) = self.pending_scope.take() {
                    self.scopes.push((name, self.depth, token.line));
                }
            }
            "}" => {
                while self.scopes.last().is_some_and(|(_, d, _)| *d >= self.depth) {
                    self.scopes.pop();
                }
                self.depth = self.depth.saturating_sub(1);
            }
            ";" => self.pending_scope = None,
            _ => {}
        }
    }

    /// The type whose body encloses the current token, for `self`/`this` and members.
    fn enclosing_type(&mut self, token: &Token<'a>) -> Option<(&'a str, bool)> {
        if self.lang.syntax.triple_quotes {
            // Python: indentation, not braces, delimits class bodies.
            self.close_indented_scopes(token);
            return self
                .scopes
                .last()
                .map(|(name, _, line)| (*name, *line != token.line));
        }
        self.scopes
            .last()
            .map(|(name, depth, _)| (*name, *depth == self.depth))
    }

    /// Closes the classes that a token on a later line, indented no deeper, ends.
    fn close_indented_scopes(&mut self, token: &Token<'a>) {
        while self
            .scopes
            .last()
            .is_some_and(|(_, indent, line)| *line != token.line && *indent >= token.indent)
        {
            self.scopes.pop();
        }
    }

    fn ident(&mut self, tokens: &[Token<'a>], i: usize, token: &Token<'a>) {
        let prev = i.checked_sub(1).map(|p| tokens[p]);
        let next = tokens.get(i + 1).copied();
        let name = token.text;
        let defs = &self.lang.defs;

        if defs.member_scopes.contains(&name) {
            self.open_scope(tokens, i, token);
        }
        if prev.is_some_and(|p| p.kind == TokenKind::Member) {
            self.member_access(tokens, i, token, next);
            return;
        }
        let called = next.is_some_and(|n| n.is("("));
        let mut kind = if called {
            Kind::Function
        } else {
            Kind::Variable
        };
        let mut defined = false;
        if let Some(p) = prev.filter(|p| p.kind == TokenKind::Ident) {
            if defs.function.contains(&p.text) {
                (kind, defined) = (Kind::Function, true);
            } else if defs.class.contains(&p.text) || defs.member_scopes.contains(&p.text) {
                (kind, defined) = (Kind::Class, true);
            } else if defs.variable.contains(&p.text) {
                (kind, defined) = (Kind::Variable, true);
            }
        }
        if is_type_name(name) && kind == Kind::Variable && !defined {
            kind = Kind::Class;
        }
        self.type_binding(tokens, i, name);
        self.class_member(token, prev, next, kind, defined);
        self.record_name(token, kind, defined);
    }

    fn record_name(&mut self, token: &Token<'a>, kind: Kind, defined: bool) {
        let distance = token.start.abs_diff(self.cursor);
        let info = self.index.names.entry(token.text).or_insert(NameInfo {
            count: 0,
            distance,
            kind,
            defined,
        });
        info.count += 1;
        info.distance = info.distance.min(distance);
        if defined && !info.defined {
            (info.kind, info.defined) = (kind, true);
        } else if !info.defined {
            info.kind = info.kind.stronger(kind);
        }
    }

    /// `class Name`, `impl Name`, `impl Trait for Name`, `struct Name`: the next body
    /// holds members of `Name`.
    fn open_scope(&mut self, tokens: &[Token<'a>], i: usize, token: &Token<'a>) {
        let mut names = Vec::new();
        let mut angle = 0u32;
        for t in tokens.iter().skip(i + 1).take(24) {
            if t.is("{") || t.is(":") || t.is(";") || t.is("(") {
                break;
            }
            if t.is("<") {
                angle += 1;
            } else if t.is(">") {
                angle = angle.saturating_sub(1);
            } else if t.kind == TokenKind::Ident && angle == 0 {
                names.push(t.text);
            }
        }
        let name = match names.iter().position(|n| *n == "for") {
            Some(at) => names.get(at + 1),
            None => names.first(),
        };
        let Some(&name) = name else {
            return;
        };
        if self.lang.syntax.triple_quotes {
            self.close_indented_scopes(token);
            self.scopes.push((name, token.indent, token.line));
        } else {
            self.pending_scope = Some(name);
        }
    }

    fn member_access(
        &mut self,
        tokens: &[Token<'a>],
        i: usize,
        token: &Token<'a>,
        next: Option<Token<'a>>,
    ) {
        let kind = if next.is_some_and(|n| n.is("(")) {
            Kind::Function
        } else {
            Kind::Property
        };
        let receiver = i
            .checked_sub(2)
            .map(|r| tokens[r])
            .filter(|r| r.kind == TokenKind::Ident)
            .map(|r| r.text);
        let counted = self
            .index
            .all_members
            .entry(token.text)
            .or_insert((kind, 0));
        counted.0 = counted.0.stronger(kind);
        counted.1 += 1;
        let Some(receiver) = receiver else {
            return;
        };
        add_member(
            self.index.receiver_members.entry(receiver).or_default(),
            token.text,
            kind,
        );
        if matches!(receiver, "self" | "this" | "$this") {
            if let Some((ty, _)) = self.enclosing_type(token) {
                add_member(
                    self.index.type_members.entry(ty).or_default(),
                    token.text,
                    kind,
                );
            }
        }
    }

    /// A definition directly inside a type's body is a member of that type.
    fn class_member(
        &mut self,
        token: &Token<'a>,
        prev: Option<Token<'a>>,
        next: Option<Token<'a>>,
        kind: Kind,
        defined: bool,
    ) {
        let Some((ty, directly_inside)) = self.enclosing_type(token) else {
            return;
        };
        if !directly_inside || token.text == ty {
            return;
        }
        let after_type_colon = prev.is_some_and(|p| p.is(":"));
        let declares = next.is_some_and(|n| n.is("(") || n.is("=") || n.is(":") || n.is(";"));
        if defined || (declares && !after_type_colon && !self.lang.keywords.contains(&token.text)) {
            let member_kind = if kind == Kind::Function {
                Kind::Function
            } else {
                Kind::Property
            };
            add_member(
                self.index.type_members.entry(ty).or_default(),
                token.text,
                member_kind,
            );
        }
    }

    /// Remembers `x`'s type from `x = new T`, `x = T(…)`, `x = T::…`, `x := T{…}`,
    /// `x: T`, `x: &mut T` and `T x =`.
    fn type_binding(&mut self, tokens: &[Token<'a>], i: usize, name: &'a str) {
        let at = |k: usize| tokens.get(k).copied();
        let mut j = i + 1;
        let assign = if at(j).is_some_and(|t| t.is(":")) && at(j + 1).is_some_and(|t| t.is("=")) {
            j += 2;
            true
        } else if at(j).is_some_and(|t| t.is("=")) && !at(j + 1).is_some_and(|t| t.is("=")) {
            j += 1;
            true
        } else {
            false
        };
        if assign {
            while at(j).is_some_and(|t| t.is("&") || t.text == "new" || t.text == "await") {
                j += 1;
            }
            if let Some(ty) = at(j).and_then(|t| self.literal_type(t, at(j + 1))) {
                self.index.type_of.insert(name, ty);
            } else if let (Some(ty), Some(after)) = (at(j), at(j + 1)) {
                let constructs = after.is("(") || after.is("{") || after.kind == TokenKind::Member;
                let type_name = is_type_name(ty.text)
                    || (after.is("(") && self.lang.builtin_types.contains(&ty.text));
                if ty.kind == TokenKind::Ident && type_name && constructs {
                    self.index.type_of.insert(name, ty.text);
                }
            }
            return;
        }
        if at(i + 1).is_some_and(|t| t.is(":")) {
            let mut k = i + 2;
            while at(k).is_some_and(|t| t.is("&") || t.text == "mut" || t.text == "dyn") {
                k += 1;
            }
            let named = |t: &Token<'_>| {
                t.kind == TokenKind::Ident
                    && (is_type_name(t.text) || self.lang.builtin_types.contains(&t.text))
            };
            if let Some(ty) = at(k).filter(named) {
                self.index.type_of.insert(name, ty.text);
            }
            return;
        }
        // `Type name =`, `Type name;` (C-family declarations): `name` is the token after.
        if is_type_name(name) {
            if let (Some(var), Some(after)) = (at(i + 1), at(i + 2)) {
                let declares = after.is("=") || after.is(";") || after.is(",") || after.is(")");
                if var.kind == TokenKind::Ident && declares && !is_type_name(var.text) {
                    self.index.type_of.insert(var.text, name);
                }
            }
        }
    }
}

impl<'a> Builder<'a, '_> {
    /// The type of a value written as a literal: `[…]` (a JavaScript `Array`, a Python
    /// `list`), `{…}` (a Python `dict`), `vec![…]` (a Rust `Vec`).
    fn literal_type(&self, token: Token<'a>, after: Option<Token<'a>>) -> Option<&'static str> {
        match (self.lang.id, token.text, token.kind) {
            ("javascript" | "typescript", "[", TokenKind::Punct) => Some("Array"),
            ("python", "[", TokenKind::Punct) => Some("list"),
            ("python", "{", TokenKind::Punct) => Some("dict"),
            ("rust", "vec", TokenKind::Ident) if after.is_some_and(|a| a.is("!")) => Some("Vec"),
            _ => None,
        }
    }
}

fn add_member<'a>(members: &mut Members<'a>, name: &'a str, kind: Kind) {
    members
        .entry(name)
        .and_modify(|k| *k = k.stronger(kind))
        .or_insert(kind);
}
