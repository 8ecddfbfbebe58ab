//! The most used members of each language's well-known objects, modules and types, so
//! that `console.`, `Math.`, `os.path.`, `HashMap::` or a `Vec` value offer what they
//! really have rather than names seen on other objects in the file.
//!
//! A member written `name()` is a function or method, any other a property or constant.

use super::Kind;

/// Members of one name: an object or module used directly (`Math.`, `os.`, `HashMap::`),
/// or a type whose values are known (`Vec`, `str`, `Array`).
type Table = &'static [(&'static str, &'static [&'static str])];

/// What a language's standard library offers.
pub struct Library {
    /// Objects, modules and types used by name; a dotted key is a path (`os.path`).
    pub statics: Table,
    /// Methods and fields of values of a type.
    pub values: Table,
}

/// The library of language `id`, if it has one.
pub fn find(id: &str) -> Option<&'static Library> {
    match id {
        "javascript" | "typescript" => Some(&JS),
        "python" => Some(&PYTHON),
        "rust" => Some(&RUST),
        "go" => Some(&GO),
        "java" => Some(&JAVA),
        _ => None,
    }
}

impl Library {
    /// Members of `name` used directly (`Math`, `os.path`).
    pub fn statics_of(&self, name: &str) -> Option<impl Iterator<Item = (&'static str, Kind)>> {
        lookup(self.statics, name)
    }

    /// Members of a value of type `ty`.
    pub fn values_of(&self, ty: &str) -> Option<impl Iterator<Item = (&'static str, Kind)>> {
        lookup(self.values, ty)
    }
}

fn lookup(table: Table, name: &str) -> Option<impl Iterator<Item = (&'static str, Kind)>> {
    let (_, members) = table.iter().find(|(key, _)| *key == name)?;
    Some(members.iter().map(|m| match m.strip_suffix("()") {
        Some(function) => (function, Kind::Function),
        None => (*m, Kind::Property),
    }))
}

#[rustfmt::skip]
static JS: Library = Library {
    statics: &[
        ("console", &[
            "log()", "error()", "warn()", "info()", "debug()", "table()", "trace()",
            "assert()", "dir()", "group()", "groupEnd()", "time()", "timeEnd()", "count()",
            "clear()",
        ]),
        ("Math", &[
            "abs()", "ceil()", "floor()", "round()", "trunc()", "max()", "min()", "pow()",
            "sqrt()", "cbrt()", "random()", "sign()", "sin()", "cos()", "tan()", "atan2()",
            "log()", "log2()", "log10()", "exp()", "hypot()", "PI", "E", "LN2", "LN10",
            "SQRT2",
        ]),
        ("JSON", &["parse()", "stringify()"]),
        ("Object", &[
            "keys()", "values()", "entries()", "assign()", "freeze()", "fromEntries()",
            "create()", "defineProperty()", "getPrototypeOf()", "is()", "hasOwn()",
        ]),
        ("Array", &["from()", "isArray()", "of()"]),
        ("Promise", &[
            "all()", "allSettled()", "any()", "race()", "resolve()", "reject()",
        ]),
        ("Number", &[
            "isInteger()", "isFinite()", "isNaN()", "parseFloat()", "parseInt()",
            "MAX_SAFE_INTEGER", "MIN_SAFE_INTEGER", "EPSILON",
        ]),
        ("String", &["fromCharCode()", "fromCodePoint()", "raw()"]),
        ("Date", &["now()", "parse()", "UTC()"]),
        ("document", &[
            "getElementById()", "querySelector()", "querySelectorAll()", "createElement()",
            "addEventListener()", "body", "head", "title", "documentElement",
        ]),
        ("localStorage", &[
            "getItem()", "setItem()", "removeItem()", "clear()", "key()", "length",
        ]),
    ],
    values: &[
        ("Array", &[
            "push()", "pop()", "shift()", "unshift()", "slice()", "splice()", "map()",
            "filter()", "reduce()", "forEach()", "find()", "findIndex()", "includes()",
            "indexOf()", "join()", "concat()", "sort()", "reverse()", "some()", "every()",
            "flat()", "flatMap()", "at()", "fill()", "keys()", "values()", "entries()",
            "length",
        ]),
        ("String", &[
            "slice()", "substring()", "split()", "trim()", "trimStart()", "trimEnd()",
            "toUpperCase()", "toLowerCase()", "includes()", "startsWith()", "endsWith()",
            "indexOf()", "replace()", "replaceAll()", "padStart()", "padEnd()", "repeat()",
            "charAt()", "at()", "match()", "length",
        ]),
        ("Map", &[
            "get()", "set()", "has()", "delete()", "clear()", "keys()", "values()",
            "entries()", "forEach()", "size",
        ]),
        ("Set", &[
            "add()", "has()", "delete()", "clear()", "values()", "forEach()", "size",
        ]),
        ("Promise", &["then()", "catch()", "finally()"]),
        ("Date", &[
            "getTime()", "getFullYear()", "getMonth()", "getDate()", "getDay()", "getHours()",
            "getMinutes()", "getSeconds()", "toISOString()", "toLocaleDateString()",
            "toLocaleString()",
        ]),
    ],
};

#[rustfmt::skip]
static PYTHON: Library = Library {
    statics: &[
        ("os", &[
            "path", "getcwd()", "listdir()", "makedirs()", "mkdir()", "remove()", "rename()",
            "environ", "getenv()", "walk()", "sep", "scandir()", "chdir()", "rmdir()",
            "system()", "cpu_count()",
        ]),
        ("os.path", &[
            "join()", "exists()", "isfile()", "isdir()", "basename()", "dirname()",
            "abspath()", "splitext()", "getsize()", "expanduser()", "realpath()", "relpath()",
        ]),
        ("sys", &[
            "argv", "exit()", "path", "stdin", "stdout", "stderr", "version", "platform",
            "modules", "executable",
        ]),
        ("math", &[
            "sqrt()", "floor()", "ceil()", "pi", "e", "inf", "nan", "log()", "log2()",
            "log10()", "exp()", "pow()", "sin()", "cos()", "tan()", "isclose()", "gcd()",
            "factorial()", "hypot()", "fabs()", "isnan()",
        ]),
        (
            "json",
            &["loads()", "dumps()", "load()", "dump()", "JSONDecodeError"],
        ),
        ("re", &[
            "match()", "search()", "findall()", "finditer()", "sub()", "split()", "compile()",
            "fullmatch()", "escape()", "IGNORECASE", "MULTILINE",
        ]),
        ("random", &[
            "random()", "randint()", "choice()", "choices()", "shuffle()", "sample()",
            "uniform()", "seed()",
        ]),
        ("time", &[
            "time()", "sleep()", "monotonic()", "perf_counter()", "strftime()",
        ]),
    ],
    values: &[
        ("str", &[
            "split()", "join()", "strip()", "lstrip()", "rstrip()", "replace()",
            "startswith()", "endswith()", "lower()", "upper()", "find()", "format()",
            "encode()", "splitlines()", "isdigit()", "count()", "title()",
        ]),
        ("list", &[
            "append()", "extend()", "insert()", "pop()", "remove()", "sort()", "reverse()",
            "index()", "count()", "clear()", "copy()",
        ]),
        ("dict", &[
            "get()", "keys()", "values()", "items()", "pop()", "update()", "setdefault()",
            "clear()", "copy()",
        ]),
        ("set", &[
            "add()", "remove()", "discard()", "union()", "intersection()", "difference()",
            "pop()", "clear()", "update()",
        ]),
    ],
};

#[rustfmt::skip]
static RUST: Library = Library {
    statics: &[
        ("HashMap", &["new()", "with_capacity()", "from()"]),
        ("HashSet", &["new()", "with_capacity()", "from()"]),
        ("BTreeMap", &["new()", "from()"]),
        ("Vec", &["new()", "with_capacity()", "from()"]),
        (
            "String",
            &["new()", "from()", "with_capacity()", "from_utf8()"],
        ),
    ],
    values: &[
        ("Vec", &[
            "push()", "pop()", "len()", "is_empty()", "iter()", "iter_mut()", "into_iter()",
            "get()", "get_mut()", "insert()", "remove()", "clear()", "extend()", "contains()",
            "sort()", "sort_by()", "sort_by_key()", "dedup()", "retain()", "truncate()",
            "first()", "last()", "drain()", "join()", "windows()", "chunks()", "as_slice()",
            "capacity()", "reserve()",
        ]),
        ("HashMap", &[
            "insert()", "get()", "get_mut()", "remove()", "contains_key()", "entry()",
            "keys()", "values()", "values_mut()", "iter()", "iter_mut()", "len()",
            "is_empty()", "clear()", "retain()", "extend()", "drain()",
        ]),
        ("BTreeMap", &[
            "insert()", "get()", "get_mut()", "remove()", "contains_key()", "entry()",
            "keys()", "values()", "iter()", "len()", "is_empty()", "range()",
            "first_key_value()", "last_key_value()",
        ]),
        ("HashSet", &[
            "insert()", "contains()", "remove()", "len()", "is_empty()", "iter()", "union()",
            "intersection()", "difference()", "clear()", "extend()",
        ]),
        ("String", &[
            "push()", "push_str()", "len()", "is_empty()", "as_str()", "chars()", "bytes()",
            "lines()", "split()", "trim()", "contains()", "starts_with()", "ends_with()",
            "replace()", "to_uppercase()", "to_lowercase()", "parse()", "clear()", "insert()",
            "find()", "split_whitespace()",
        ]),
        ("Option", &[
            "is_some()", "is_none()", "unwrap()", "expect()", "unwrap_or()",
            "unwrap_or_default()", "unwrap_or_else()", "map()", "and_then()", "ok_or()",
            "take()", "as_ref()", "as_mut()", "filter()", "or()",
        ]),
        ("Result", &[
            "is_ok()", "is_err()", "unwrap()", "expect()", "unwrap_or()", "unwrap_or_else()",
            "map()", "map_err()", "and_then()", "ok()", "err()",
        ]),
    ],
};

#[rustfmt::skip]
static GO: Library = Library {
    statics: &[
        ("fmt", &[
            "Println()", "Printf()", "Sprintf()", "Errorf()", "Print()", "Sprint()",
            "Sprintln()", "Fprintf()", "Fprintln()", "Sscanf()",
        ]),
        ("strings", &[
            "Contains()", "HasPrefix()", "HasSuffix()", "Split()", "Join()", "Replace()",
            "ReplaceAll()", "ToUpper()", "ToLower()", "TrimSpace()", "Trim()", "Index()",
            "Fields()", "Repeat()", "EqualFold()", "TrimPrefix()", "TrimSuffix()", "Builder",
        ]),
        ("os", &[
            "Open()", "Create()", "ReadFile()", "WriteFile()", "Exit()", "Getenv()", "Args",
            "Stdout", "Stderr", "Stdin", "Remove()", "MkdirAll()", "Environ()",
        ]),
        ("strconv", &[
            "Itoa()", "Atoi()", "ParseInt()", "ParseFloat()", "FormatInt()", "Quote()",
            "ParseBool()",
        ]),
        ("errors", &["New()", "Is()", "As()", "Unwrap()", "Join()"]),
        ("time", &[
            "Now()", "Since()", "Sleep()", "Parse()", "Unix()", "Second", "Millisecond",
            "Minute", "Hour", "Duration",
        ]),
    ],
    values: &[],
};

#[rustfmt::skip]
static JAVA: Library = Library {
    statics: &[
        ("System", &[
            "out", "err", "in", "currentTimeMillis()", "nanoTime()", "exit()", "getenv()",
            "arraycopy()",
        ]),
        (
            "System.out",
            &["println()", "print()", "printf()", "flush()"],
        ),
        (
            "System.err",
            &["println()", "print()", "printf()", "flush()"],
        ),
        ("Math", &[
            "abs()", "max()", "min()", "pow()", "sqrt()", "floor()", "ceil()", "round()",
            "random()", "PI",
        ]),
    ],
    values: &[(
        "String",
        &[
            "length()",
            "charAt()",
            "substring()",
            "indexOf()",
            "contains()",
            "startsWith()",
            "endsWith()",
            "equals()",
            "isEmpty()",
            "split()",
            "trim()",
            "toUpperCase()",
            "toLowerCase()",
            "replace()",
        ],
    )],
};
