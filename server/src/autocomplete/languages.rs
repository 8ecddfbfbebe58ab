//! What the completion engine knows about each language the editor offers: how its
//! comments, strings and identifiers look, which words define things, and its keywords,
//! built-ins and snippets. Snippets use CodeMirror's template syntax: `${1:name}` is a
//! numbered field with default text, `${}` the final cursor position, `\t` one indent unit.

use super::Kind;

/// How a language's source is split into tokens.
#[derive(Debug, Clone, Copy)]
pub struct Syntax {
    /// Line comment openers (`//`, `#`, `--`).
    pub line_comments: &'static [&'static str],
    /// Block comment delimiters.
    pub block_comment: Option<(&'static str, &'static str)>,
    /// String quote characters.
    pub quotes: &'static [u8],
    /// Whether `"""`/`'''` open multi-line strings (Python).
    pub triple_quotes: bool,
    /// Bytes that may appear inside identifiers besides letters, digits and `_`.
    pub ident_extra: &'static [u8],
    /// Operators after which an identifier is a member (`.`, `->`, `::`).
    pub member_ops: &'static [&'static str],
}

const C_LIKE: Syntax = Syntax {
    line_comments: &["//"],
    block_comment: Some(("/*", "*/")),
    quotes: b"\"'",
    triple_quotes: false,
    ident_extra: b"",
    member_ops: &[".", "->", "::"],
};

/// Markup and data languages: quoted strings, hyphenated names, no members.
const MARKUP: Syntax = Syntax {
    line_comments: &[],
    block_comment: None,
    quotes: b"\"'",
    triple_quotes: false,
    ident_extra: b"-",
    member_ops: &[],
};

/// What definitions look like: the word that introduces a name gives its kind.
#[derive(Debug, Clone, Copy)]
pub struct Defs {
    /// Words introducing a function or method name.
    pub function: &'static [&'static str],
    /// Words introducing a class, struct, type or module name.
    pub class: &'static [&'static str],
    /// Words introducing a variable or constant name.
    pub variable: &'static [&'static str],
    /// Words whose body (`{ … }`) holds members of the named type (`class`, `impl`).
    pub member_scopes: &'static [&'static str],
}

const NO_DEFS: Defs = Defs {
    function: &[],
    class: &[],
    variable: &[],
    member_scopes: &[],
};

/// A snippet: label, description and CodeMirror template.
#[derive(Debug, Clone, Copy)]
pub struct Snippet {
    /// What the popup shows and what is matched against the typed prefix.
    pub label: &'static str,
    /// Short description.
    pub detail: &'static str,
    /// CodeMirror snippet template.
    pub template: &'static str,
}

const fn snip(label: &'static str, detail: &'static str, template: &'static str) -> Snippet {
    Snippet {
        label,
        detail,
        template,
    }
}

/// Everything the engine knows about one language.
#[derive(Debug, Clone, Copy)]
pub struct Language {
    /// Canonical id, as the editor names it.
    pub id: &'static str,
    /// Other names clients may send.
    pub aliases: &'static [&'static str],
    /// Tokenizer settings.
    pub syntax: Syntax,
    /// Definition words.
    pub defs: Defs,
    /// Reserved words.
    pub keywords: &'static [&'static str],
    /// Built-in functions.
    pub builtin_functions: &'static [&'static str],
    /// Built-in types and classes.
    pub builtin_types: &'static [&'static str],
    /// Built-in constants and well-known values.
    pub builtin_values: &'static [&'static str],
    /// Snippets in the language's own idiom.
    pub snippets: &'static [Snippet],
}

impl Language {
    /// Every built-in with the kind it is offered as.
    pub fn builtins(&self) -> impl Iterator<Item = (&'static str, Kind)> + '_ {
        let functions = self.builtin_functions.iter().map(|n| (*n, Kind::Function));
        let types = self.builtin_types.iter().map(|n| (*n, Kind::Class));
        let values = self.builtin_values.iter().map(|n| (*n, Kind::Variable));
        functions.chain(types).chain(values)
    }
}

/// Finds a language by id or alias (case-insensitive); `None` for unknown ones.
pub fn find(name: &str) -> Option<&'static Language> {
    let name = name.trim().to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|l| l.id == name || l.aliases.contains(&name.as_str()))
}

/// Plain words, for unknown languages and plain text.
pub const PLAIN: Language = Language {
    id: "plaintext",
    aliases: &["text", "txt", ""],
    syntax: Syntax {
        line_comments: &[],
        block_comment: None,
        quotes: b"",
        triple_quotes: false,
        ident_extra: b"",
        member_ops: &[],
    },
    defs: NO_DEFS,
    keywords: &[],
    builtin_functions: &[],
    builtin_types: &[],
    builtin_values: &[],
    snippets: &[],
};

const JS_KEYWORDS: &[&str] = &[
    "async",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "export",
    "extends",
    "finally",
    "for",
    "from",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "let",
    "new",
    "of",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "yield",
];
const JS_FUNCTIONS: &[&str] = &[
    "parseInt",
    "parseFloat",
    "isNaN",
    "isFinite",
    "setTimeout",
    "setInterval",
    "clearTimeout",
    "clearInterval",
    "fetch",
    "structuredClone",
    "queueMicrotask",
    "encodeURIComponent",
    "decodeURIComponent",
    "require",
];
const JS_TYPES: &[&str] = &[
    "Array",
    "Object",
    "String",
    "Number",
    "Boolean",
    "Map",
    "Set",
    "WeakMap",
    "Promise",
    "Date",
    "RegExp",
    "Error",
    "TypeError",
    "JSON",
    "Math",
    "Symbol",
    "BigInt",
    "URL",
    "Uint8Array",
    "ArrayBuffer",
    "console",
    "document",
    "window",
];
const JS_VALUES: &[&str] = &[
    "true",
    "false",
    "null",
    "undefined",
    "NaN",
    "Infinity",
    "globalThis",
];
const JS_DEFS: Defs = Defs {
    function: &["function"],
    class: &["class"],
    variable: &["let", "const", "var"],
    member_scopes: &["class"],
};

/// The languages the editor offers.
pub static LANGUAGES: &[Language] = &[
    Language {
        id: "javascript",
        aliases: &["js", "jsx", "mjs", "cjs", "node"],
        syntax: Syntax { quotes: b"\"'`", ident_extra: b"$", member_ops: &[".", "?."], ..C_LIKE },
        defs: JS_DEFS,
        keywords: JS_KEYWORDS,
        builtin_functions: JS_FUNCTIONS,
        builtin_types: JS_TYPES,
        builtin_values: JS_VALUES,
        snippets: &[
            snip("function", "function declaration", "function ${1:name}(${2:params}) {\n\t${}\n}"),
            snip("class", "class declaration", "class ${1:Name} {\n\tconstructor(${2:params}) {\n\t\t${}\n\t}\n}"),
            snip("for…of", "for…of loop", "for (const ${1:item} of ${2:items}) {\n\t${}\n}"),
            snip("if", "if statement", "if (${1:condition}) {\n\t${}\n}"),
            snip("test", "node:test case", "test('${1:does something}', () => {\n\t${}\n});"),
            snip("main", "async main entry point", "async function main() {\n\t${}\n}\n\nmain();"),
        ],
    },
    Language {
        id: "typescript",
        aliases: &["ts", "tsx", "mts"],
        syntax: Syntax { quotes: b"\"'`", ident_extra: b"$", member_ops: &[".", "?."], ..C_LIKE },
        defs: Defs {
            class: &["class", "interface", "type", "enum", "namespace"],
            ..JS_DEFS
        },
        keywords: &[
            "abstract", "any", "as", "async", "await", "boolean", "break", "case", "catch",
            "class", "const", "continue", "declare", "default", "do", "else", "enum",
            "export", "extends", "finally", "for", "from", "function", "if", "implements",
            "import", "in", "interface", "keyof", "let", "namespace", "never", "new",
            "number", "of", "private", "protected", "public", "readonly", "return",
            "satisfies", "static", "string", "super", "switch", "this", "throw", "try",
            "type", "typeof", "unknown", "var", "void", "while",
        ],
        builtin_functions: JS_FUNCTIONS,
        builtin_types: &[
            "Array", "Object", "String", "Number", "Boolean", "Map", "Set", "Promise", "Date",
            "Error", "JSON", "Math", "Record", "Partial", "Required", "Readonly", "Pick",
            "Omit", "ReturnType", "Awaited", "console",
        ],
        builtin_values: JS_VALUES,
        snippets: &[
            snip("function", "typed function", "function ${1:name}(${2:param}: ${3:Type}): ${4:void} {\n\t${}\n}"),
            snip("class", "class declaration", "class ${1:Name} {\n\tconstructor(private ${2:field}: ${3:Type}) {\n\t\t${}\n\t}\n}"),
            snip("interface", "interface declaration", "interface ${1:Name} {\n\t${2:field}: ${3:Type};\n}"),
            snip("for…of", "for…of loop", "for (const ${1:item} of ${2:items}) {\n\t${}\n}"),
            snip("if", "if statement", "if (${1:condition}) {\n\t${}\n}"),
            snip("test", "test case", "test('${1:does something}', () => {\n\t${}\n});"),
            snip("main", "async main entry point", "async function main(): Promise<void> {\n\t${}\n}\n\nmain();"),
        ],
    },
    Language {
        id: "python",
        aliases: &["py", "python3"],
        syntax: Syntax {
            line_comments: &["#"],
            block_comment: None,
            quotes: b"\"'",
            triple_quotes: true,
            ident_extra: b"",
            member_ops: &["."],
        },
        defs: Defs {
            function: &["def"],
            class: &["class"],
            variable: &["global", "nonlocal"],
            member_scopes: &["class"],
        },
        keywords: &[
            "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
            "del", "elif", "else", "except", "finally", "for", "from", "global", "if",
            "import", "in", "is", "lambda", "match", "case", "nonlocal", "not", "or", "pass",
            "raise", "return", "try", "while", "with", "yield",
        ],
        builtin_functions: &[
            "print", "len", "range", "enumerate", "zip", "map", "filter", "sorted",
            "reversed", "sum", "min", "max", "abs", "any", "all", "open", "input",
            "isinstance", "issubclass", "getattr", "setattr", "hasattr", "repr", "round",
            "iter", "next", "super", "id", "hash", "format", "vars", "dir", "help",
        ],
        builtin_types: &[
            "int", "float", "str", "bool", "list", "dict", "set", "tuple", "bytes",
            "bytearray", "object", "type", "frozenset", "complex", "Exception", "ValueError",
            "TypeError", "KeyError", "IndexError", "RuntimeError", "StopIteration",
        ],
        builtin_values: &["True", "False", "None", "self", "cls", "__name__"],
        snippets: &[
            snip("def", "function definition", "def ${1:name}(${2:args}):\n\t${3:pass}"),
            snip("class", "class definition", "class ${1:Name}:\n\tdef __init__(self, ${2:args}):\n\t\t${3:pass}"),
            snip("for", "for loop", "for ${1:item} in ${2:items}:\n\t${3:pass}"),
            snip("if", "if statement", "if ${1:condition}:\n\t${2:pass}"),
            snip("test", "pytest test function", "def test_${1:name}():\n\tassert ${2:condition}"),
            snip("main", "main guard", "def main():\n\t${1:pass}\n\n\nif __name__ == \"__main__\":\n\tmain()"),
        ],
    },
    Language {
        id: "rust",
        aliases: &["rs"],
        syntax: Syntax { quotes: b"\"", ..C_LIKE },
        defs: Defs {
            function: &["fn"],
            class: &["struct", "enum", "trait", "type", "mod", "union"],
            variable: &["let", "const", "static", "mut"],
            member_scopes: &["impl", "struct", "trait"],
        },
        keywords: &[
            "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else",
            "enum", "extern", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod",
            "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct",
            "super", "trait", "type", "unsafe", "use", "where", "while",
        ],
        builtin_functions: &[
            "println!", "print!", "eprintln!", "format!", "vec!", "assert!", "assert_eq!",
            "assert_ne!", "panic!", "todo!", "unimplemented!", "unreachable!", "write!",
            "writeln!", "matches!", "dbg!", "drop",
        ],
        builtin_types: &[
            "String", "Vec", "Option", "Result", "Box", "Rc", "Arc", "HashMap", "HashSet",
            "BTreeMap", "VecDeque", "Cow", "RefCell", "Mutex", "i8", "i16", "i32", "i64",
            "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "f32", "f64",
            "bool", "char", "str",
        ],
        builtin_values: &["Some", "None", "Ok", "Err", "true", "false"],
        snippets: &[
            snip("fn", "function", "fn ${1:name}(${2:args}) -> ${3:()} {\n\t${}\n}"),
            snip("struct", "struct with impl", "struct ${1:Name} {\n\t${2:field}: ${3:Type},\n}\n\nimpl ${1:Name} {\n\t${}\n}"),
            snip("for", "for loop", "for ${1:item} in ${2:items} {\n\t${}\n}"),
            snip("if let", "if let", "if let Some(${1:value}) = ${2:option} {\n\t${}\n}"),
            snip("test", "unit test module", "#[cfg(test)]\nmod tests {\n\tuse super::*;\n\n\t#[test]\n\tfn ${1:it_works}() {\n\t\t${}\n\t}\n}"),
            snip("main", "main function", "fn main() {\n\t${}\n}"),
        ],
    },
    Language {
        id: "go",
        aliases: &["golang"],
        syntax: Syntax { quotes: b"\"'`", member_ops: &["."], ..C_LIKE },
        defs: Defs {
            function: &["func"],
            class: &["type", "package"],
            variable: &["var", "const"],
            member_scopes: &[],
        },
        keywords: &[
            "break", "case", "chan", "const", "continue", "default", "defer", "else",
            "fallthrough", "for", "func", "go", "goto", "if", "import", "interface", "map",
            "package", "range", "return", "select", "struct", "switch", "type", "var",
        ],
        builtin_functions: &[
            "append", "cap", "clear", "close", "copy", "delete", "len", "make", "max", "min",
            "new", "panic", "print", "println", "recover",
        ],
        builtin_types: &[
            "bool", "byte", "error", "float32", "float64", "int", "int8", "int16", "int32",
            "int64", "rune", "string", "uint", "uint8", "uint16", "uint32", "uint64", "any",
        ],
        builtin_values: &["true", "false", "nil", "iota"],
        snippets: &[
            snip("func", "function", "func ${1:name}(${2:args}) ${3:error} {\n\t${}\n}"),
            snip("struct", "struct type", "type ${1:Name} struct {\n\t${2:Field} ${3:string}\n}"),
            snip("for range", "range loop", "for ${1:i}, ${2:v} := range ${3:items} {\n\t${}\n}"),
            snip("if err", "error check", "if err != nil {\n\treturn ${1:err}\n}"),
            snip("test", "testing function", "func Test${1:Name}(t *testing.T) {\n\t${}\n}"),
            snip("main", "main package", "package main\n\nfunc main() {\n\t${}\n}"),
        ],
    },
    Language {
        id: "java",
        aliases: &[],
        syntax: C_LIKE,
        defs: Defs {
            function: &["void"],
            class: &["class", "interface", "enum", "record"],
            variable: &["var", "final"],
            member_scopes: &["class", "interface", "record", "enum"],
        },
        keywords: &[
            "abstract", "assert", "boolean", "break", "byte", "case", "catch", "char",
            "class", "continue", "default", "do", "double", "else", "enum", "extends",
            "final", "finally", "float", "for", "if", "implements", "import", "instanceof",
            "int", "interface", "long", "new", "package", "private", "protected", "public",
            "record", "return", "short", "static", "super", "switch", "synchronized", "this",
            "throw", "throws", "try", "var", "void", "volatile", "while",
        ],
        builtin_functions: &[],
        builtin_types: &[
            "String", "Integer", "Long", "Double", "Boolean", "Object", "List", "ArrayList",
            "Map", "HashMap", "Set", "HashSet", "Optional", "System", "Math", "Exception",
            "RuntimeException", "StringBuilder", "Arrays", "Collections", "Stream",
        ],
        builtin_values: &["true", "false", "null"],
        snippets: &[
            snip("method", "method", "public ${1:void} ${2:name}(${3:}) {\n\t${}\n}"),
            snip("class", "class", "public class ${1:Name} {\n\tpublic ${1:Name}() {\n\t\t${}\n\t}\n}"),
            snip("for", "enhanced for loop", "for (${1:var} ${2:item} : ${3:items}) {\n\t${}\n}"),
            snip("if", "if statement", "if (${1:condition}) {\n\t${}\n}"),
            snip("test", "JUnit test", "@Test\nvoid ${1:name}() {\n\t${}\n}"),
            snip("main", "main method", "public static void main(String[] args) {\n\t${}\n}"),
        ],
    },
    Language {
        id: "c",
        aliases: &["h"],
        syntax: Syntax { member_ops: &[".", "->"], ..C_LIKE },
        defs: Defs {
            function: &["void"],
            class: &["struct", "union", "enum", "typedef"],
            variable: &["const", "static"],
            member_scopes: &["struct", "union"],
        },
        keywords: &[
            "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
            "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
            "register", "return", "short", "signed", "sizeof", "static", "struct", "switch",
            "typedef", "union", "unsigned", "void", "volatile", "while",
        ],
        builtin_functions: &[
            "printf", "fprintf", "snprintf", "scanf", "malloc", "calloc", "realloc", "free",
            "memcpy", "memset", "memcmp", "strlen", "strcmp", "strncpy", "fopen", "fclose",
            "fread", "fwrite", "exit", "assert",
        ],
        builtin_types: &["size_t", "ssize_t", "int32_t", "int64_t", "uint8_t", "uint32_t", "uint64_t", "FILE", "bool"],
        builtin_values: &["NULL", "true", "false", "EOF", "stdin", "stdout", "stderr"],
        snippets: &[
            snip("function", "function", "${1:int} ${2:name}(${3:void}) {\n\t${}\n}"),
            snip("struct", "struct typedef", "typedef struct ${1:Name} {\n\t${2:int} ${3:field};\n} ${1:Name};"),
            snip("for", "for loop", "for (size_t ${1:i} = 0; ${1:i} < ${2:n}; ${1:i}++) {\n\t${}\n}"),
            snip("if", "if statement", "if (${1:condition}) {\n\t${}\n}"),
            snip("test", "assert-based test", "static void test_${1:name}(void) {\n\tassert(${2:condition});\n}"),
            snip("main", "main function", "int main(int argc, char **argv) {\n\t${}\n\treturn 0;\n}"),
        ],
    },
    Language {
        id: "cpp",
        aliases: &["c++", "cc", "cxx", "hpp", "hh"],
        syntax: C_LIKE,
        defs: Defs {
            function: &["void", "auto"],
            class: &["class", "struct", "enum", "namespace", "using", "union"],
            variable: &["const", "constexpr", "static"],
            member_scopes: &["class", "struct"],
        },
        keywords: &[
            "alignas", "auto", "bool", "break", "case", "catch", "char", "class", "const",
            "constexpr", "continue", "decltype", "default", "delete", "do", "double", "else",
            "enum", "explicit", "extern", "false", "float", "for", "friend", "if", "inline",
            "int", "long", "mutable", "namespace", "new", "noexcept", "nullptr", "operator",
            "override", "private", "protected", "public", "return", "short", "sizeof",
            "static", "struct", "switch", "template", "this", "throw", "true", "try",
            "typename", "using", "virtual", "void", "while",
        ],
        builtin_functions: &["std::move", "std::make_unique", "std::make_shared", "std::sort", "std::find", "printf"],
        builtin_types: &[
            "std::string", "std::vector", "std::map", "std::unordered_map", "std::set",
            "std::optional", "std::unique_ptr", "std::shared_ptr", "std::array", "size_t",
            "std::cout", "std::endl",
        ],
        builtin_values: &["nullptr", "true", "false"],
        snippets: &[
            snip("function", "function", "${1:void} ${2:name}(${3:}) {\n\t${}\n}"),
            snip("class", "class", "class ${1:Name} {\npublic:\n\t${1:Name}();\n\t${}\n};"),
            snip("for range", "range-based for", "for (const auto& ${1:item} : ${2:items}) {\n\t${}\n}"),
            snip("if", "if statement", "if (${1:condition}) {\n\t${}\n}"),
            snip("test", "GoogleTest case", "TEST(${1:Suite}, ${2:Name}) {\n\t${}\n}"),
            snip("main", "main function", "int main(int argc, char* argv[]) {\n\t${}\n\treturn 0;\n}"),
        ],
    },
    Language {
        id: "csharp",
        aliases: &["c#", "cs"],
        syntax: Syntax { member_ops: &[".", "?."], ..C_LIKE },
        defs: Defs {
            function: &["void"],
            class: &["class", "struct", "interface", "enum", "record", "namespace"],
            variable: &["var", "const"],
            member_scopes: &["class", "struct", "record", "interface"],
        },
        keywords: &[
            "abstract", "as", "async", "await", "base", "bool", "break", "case", "catch",
            "class", "const", "continue", "decimal", "default", "do", "double", "else",
            "enum", "event", "false", "finally", "float", "for", "foreach", "if", "in",
            "int", "interface", "internal", "is", "long", "namespace", "new", "null",
            "object", "out", "override", "private", "protected", "public", "readonly",
            "record", "ref", "return", "sealed", "static", "string", "struct", "switch",
            "this", "throw", "true", "try", "using", "var", "virtual", "void", "while",
        ],
        builtin_functions: &["nameof", "typeof"],
        builtin_types: &[
            "Console", "String", "List", "Dictionary", "HashSet", "Task", "Exception",
            "Math", "DateTime", "TimeSpan", "Guid", "IEnumerable", "StringBuilder", "Span",
        ],
        builtin_values: &["true", "false", "null"],
        snippets: &[
            snip("method", "method", "public ${1:void} ${2:Name}(${3:}) {\n\t${}\n}"),
            snip("class", "class", "public class ${1:Name}\n{\n\tpublic ${1:Name}()\n\t{\n\t\t${}\n\t}\n}"),
            snip("foreach", "foreach loop", "foreach (var ${1:item} in ${2:items})\n{\n\t${}\n}"),
            snip("if", "if statement", "if (${1:condition})\n{\n\t${}\n}"),
            snip("test", "xUnit fact", "[Fact]\npublic void ${1:Name}()\n{\n\t${}\n}"),
            snip("main", "Main method", "static void Main(string[] args)\n{\n\t${}\n}"),
        ],
    },
    Language {
        id: "php",
        aliases: &[],
        syntax: Syntax {
            line_comments: &["//", "#"],
            ident_extra: b"$",
            member_ops: &["->", "::", "?->"],
            ..C_LIKE
        },
        defs: Defs {
            function: &["function"],
            class: &["class", "interface", "trait", "enum", "namespace"],
            variable: &["const", "global", "static"],
            member_scopes: &["class", "trait", "interface"],
        },
        keywords: &[
            "abstract", "array", "as", "break", "case", "catch", "class", "clone", "const",
            "continue", "declare", "default", "do", "echo", "else", "elseif", "enum",
            "extends", "final", "finally", "fn", "for", "foreach", "function", "global",
            "if", "implements", "include", "instanceof", "interface", "match", "namespace",
            "new", "private", "protected", "public", "readonly", "require", "return",
            "static", "switch", "throw", "trait", "try", "use", "while", "yield",
        ],
        builtin_functions: &[
            "array_map", "array_filter", "array_keys", "array_values", "count", "explode",
            "implode", "in_array", "isset", "empty", "json_encode", "json_decode", "sprintf",
            "str_contains", "strlen", "strtolower", "var_dump", "print_r",
        ],
        builtin_types: &["Exception", "DateTime", "ArrayObject", "Closure", "stdClass"],
        builtin_values: &["true", "false", "null", "$this"],
        snippets: &[
            snip("function", "function", "function ${1:name}(${2:$arg}): ${3:void}\n{\n\t${}\n}"),
            snip("class", "class", "class ${1:Name}\n{\n\tpublic function __construct(${2:})\n\t{\n\t\t${}\n\t}\n}"),
            snip("foreach", "foreach loop", "foreach (${1:$items} as ${2:$item}) {\n\t${}\n}"),
            snip("if", "if statement", "if (${1:condition}) {\n\t${}\n}"),
            snip("test", "PHPUnit test", "public function test${1:Name}(): void\n{\n\t${}\n}"),
        ],
    },
    Language {
        id: "sql",
        aliases: &["postgresql", "mysql", "sqlite"],
        syntax: Syntax {
            line_comments: &["--"],
            block_comment: Some(("/*", "*/")),
            quotes: b"'\"",
            triple_quotes: false,
            ident_extra: b"",
            member_ops: &["."],
        },
        defs: Defs {
            function: &["function", "procedure"],
            class: &["table", "view", "type"],
            variable: &["as"],
            member_scopes: &[],
        },
        keywords: &[
            "select", "from", "where", "insert", "into", "values", "update", "set", "delete",
            "create", "table", "index", "view", "drop", "alter", "add", "column", "join",
            "inner", "left", "right", "outer", "on", "group", "by", "order", "having",
            "limit", "offset", "distinct", "as", "and", "or", "not", "null", "is", "in",
            "like", "between", "exists", "case", "when", "then", "else", "end", "union",
            "primary", "key", "foreign", "references", "default", "unique", "returning",
            "with", "begin", "commit", "rollback",
        ],
        builtin_functions: &["count", "sum", "avg", "min", "max", "coalesce", "now", "lower", "upper", "length", "cast", "round"],
        builtin_types: &["integer", "bigint", "text", "varchar", "boolean", "timestamp", "date", "numeric", "uuid", "jsonb", "serial"],
        builtin_values: &["true", "false", "null", "current_timestamp"],
        snippets: &[
            snip("select", "select query", "select ${1:*}\nfrom ${2:table}\nwhere ${3:condition};"),
            snip("insert", "insert row", "insert into ${1:table} (${2:columns})\nvalues (${3:values});"),
            snip("update", "update rows", "update ${1:table}\nset ${2:column} = ${3:value}\nwhere ${4:condition};"),
            snip("create table", "table definition", "create table ${1:name} (\n\tid bigint primary key,\n\t${}\n);"),
            snip("join", "inner join", "join ${1:table} on ${2:a}.${3:id} = ${4:b}.${5:id}"),
        ],
    },
    Language {
        id: "html",
        aliases: &["htm", "xhtml"],
        syntax: Syntax {
            block_comment: Some(("<!--", "-->")),
            ..MARKUP
        },
        defs: NO_DEFS,
        keywords: &[
            "html", "head", "body", "title", "meta", "link", "script", "style", "div", "span",
            "main", "header", "footer", "nav", "section", "article", "aside", "h1", "h2",
            "h3", "p", "a", "img", "ul", "ol", "li", "table", "tr", "td", "th", "form",
            "input", "button", "label", "select", "option", "textarea", "pre", "code",
        ],
        builtin_functions: &[],
        builtin_types: &[],
        builtin_values: &["class", "id", "href", "src", "alt", "type", "name", "value", "style", "rel", "charset", "lang"],
        snippets: &[
            snip("html5", "HTML5 document", "<!doctype html>\n<html lang=\"${1:en}\">\n<head>\n\t<meta charset=\"utf-8\">\n\t<title>${2:Title}</title>\n</head>\n<body>\n\t${}\n</body>\n</html>"),
            snip("div", "div with class", "<div class=\"${1:name}\">\n\t${}\n</div>"),
            snip("a", "link", "<a href=\"${1:url}\">${2:text}</a>"),
            snip("script", "script module", "<script type=\"module\" src=\"${1:main.js}\"></script>"),
            snip("form", "form", "<form action=\"${1:/}\" method=\"${2:post}\">\n\t${}\n</form>"),
            snip("ul", "list", "<ul>\n\t<li>${1:item}</li>\n</ul>"),
        ],
    },
    Language {
        id: "css",
        aliases: &["scss", "less"],
        syntax: Syntax {
            block_comment: Some(("/*", "*/")),
            ..MARKUP
        },
        defs: NO_DEFS,
        keywords: &[
            "color", "background", "background-color", "border", "border-radius", "margin",
            "padding", "display", "flex", "grid", "gap", "position", "top", "left", "right",
            "bottom", "width", "height", "max-width", "min-height", "font-family",
            "font-size", "font-weight", "line-height", "text-align", "overflow", "opacity",
            "transition", "transform", "z-index", "cursor", "box-shadow", "align-items",
            "justify-content", "flex-direction",
        ],
        builtin_functions: &["var", "calc", "rgb", "rgba", "hsl", "min", "max", "clamp", "url", "translate"],
        builtin_types: &[],
        builtin_values: &["none", "auto", "block", "inline", "inline-block", "flex", "grid", "absolute", "relative", "fixed", "sticky", "center", "inherit", "transparent", "bold"],
        snippets: &[
            snip("rule", "rule set", "${1:selector} {\n\t${2:property}: ${3:value};\n}"),
            snip("@media", "media query", "@media (max-width: ${1:600px}) {\n\t${}\n}"),
            snip("flex", "flex container", "display: flex;\nalign-items: ${1:center};\njustify-content: ${2:space-between};"),
            snip("grid", "grid container", "display: grid;\ngrid-template-columns: ${1:repeat(3, 1fr)};\ngap: ${2:1rem};"),
            snip("@keyframes", "animation", "@keyframes ${1:name} {\n\tfrom { ${2} }\n\tto { ${3} }\n}"),
        ],
    },
    Language {
        id: "json",
        aliases: &["jsonc"],
        syntax: Syntax { quotes: b"\"", member_ops: &[], ..C_LIKE },
        defs: NO_DEFS,
        keywords: &[],
        builtin_functions: &[],
        builtin_types: &[],
        builtin_values: &["true", "false", "null"],
        snippets: &[
            snip("object", "object", "{\n\t\"${1:key}\": ${2:value}\n}"),
            snip("array", "array", "[\n\t${}\n]"),
            snip("key", "key and value", "\"${1:key}\": ${2:value}"),
        ],
    },
    Language {
        id: "markdown",
        aliases: &["md"],
        syntax: PLAIN.syntax,
        defs: NO_DEFS,
        keywords: &[],
        builtin_functions: &[],
        builtin_types: &[],
        builtin_values: &[],
        snippets: &[
            snip("heading", "heading", "## ${1:Heading}\n\n${}"),
            snip("link", "link", "[${1:text}](${2:url})"),
            snip("code", "fenced code block", "```${1:rust}\n${}\n```"),
            snip("table", "table", "| ${1:A} | ${2:B} |\n| --- | --- |\n| ${3} | ${4} |"),
            snip("list", "task list", "- [ ] ${1:task}"),
        ],
    },
    Language {
        id: "yaml",
        aliases: &["yml"],
        syntax: Syntax {
            line_comments: &["#"],
            ..MARKUP
        },
        defs: NO_DEFS,
        keywords: &[],
        builtin_functions: &[],
        builtin_types: &[],
        builtin_values: &["true", "false", "null", "yes", "no"],
        snippets: &[
            snip("mapping", "nested mapping", "${1:key}:\n\t${2:child}: ${3:value}"),
            snip("list", "list of mappings", "${1:items}:\n\t- ${2:name}: ${3:value}"),
            snip("block", "multi-line string", "${1:key}: |\n\t${}"),
            snip("job", "CI job", "${1:build}:\n\truns-on: ${2:ubuntu-latest}\n\tsteps:\n\t\t- run: ${3:make}"),
        ],
    },
    Language {
        id: "shell",
        aliases: &["sh", "bash", "zsh"],
        syntax: Syntax {
            line_comments: &["#"],
            quotes: b"\"'",
            ident_extra: b"",
            ..MARKUP
        },
        defs: Defs {
            function: &["function"],
            variable: &["local", "export", "readonly", "declare"],
            ..NO_DEFS
        },
        keywords: &[
            "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
            "esac", "in", "function", "return", "local", "export", "readonly", "declare",
            "shift", "break", "continue", "select",
        ],
        builtin_functions: &[
            "echo", "printf", "cd", "pwd", "read", "exit", "set", "unset", "source", "eval",
            "exec", "trap", "test", "mkdir", "rm", "cp", "mv", "ls", "cat", "grep", "sed",
            "awk", "find", "xargs", "sort", "uniq", "head", "tail", "curl", "chmod", "wait",
        ],
        builtin_types: &[],
        builtin_values: &["true", "false", "HOME", "PATH", "PWD", "USER"],
        snippets: &[
            snip("if", "if statement", "if [ ${1:condition} ]; then\n\t${}\nfi"),
            snip("for", "for loop", "for ${1:item} in ${2:items}; do\n\t${}\ndone"),
            snip("function", "function", "${1:name}() {\n\t${}\n}"),
            snip("strict", "strict mode header", "#!/usr/bin/env bash\nset -euo pipefail\n"),
        ],
    },
];
