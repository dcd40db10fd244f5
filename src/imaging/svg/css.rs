//! Is this CSS (a `<style>` sheet, a `style` attribute or a presentation attribute value) free
//! of anything that loads or runs? Decided on CSS tokens, as a browser reads them: escapes
//! (`u\72l(`, `@\69mport`) and comments are resolved first, then every at-rule and function
//! must be on an allowlist and every `url()` must point inside the document (`#id`).

/// At-rules that only group or describe rules. Not `@import` (loads a sheet), `@font-face`
/// (loads fonts), `@document` (matches URLs) or anything unknown.
const AT_RULES: &[&str] = &[
    "media",
    "supports",
    "keyframes",
    "-webkit-keyframes",
    "-moz-keyframes",
    "charset",
    "namespace",
    "layer",
    "container",
    "scope",
    "starting-style",
    "property",
    "counter-style",
    "font-feature-values",
    "page",
];

/// Functions that compute values. Not `image-set()`, `image()`, `cross-fade()`, `element()`,
/// `src()`, `paint()` (each can fetch or reference outside the document), IE's `expression()`,
/// or anything unknown; `url()` is checked on its own.
const FUNCTIONS: &[&str] = &[
    // colours
    "rgb",
    "rgba",
    "hsl",
    "hsla",
    "hwb",
    "lab",
    "lch",
    "oklab",
    "oklch",
    "color",
    "color-mix",
    "light-dark",
    "device-cmyk",
    // maths and variables
    "calc",
    "min",
    "max",
    "clamp",
    "round",
    "mod",
    "rem",
    "abs",
    "sign",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "pow",
    "sqrt",
    "hypot",
    "log",
    "exp",
    "var",
    "env",
    "attr",
    // transforms
    "matrix",
    "matrix3d",
    "translate",
    "translatex",
    "translatey",
    "translatez",
    "translate3d",
    "scale",
    "scalex",
    "scaley",
    "scalez",
    "scale3d",
    "rotate",
    "rotatex",
    "rotatey",
    "rotatez",
    "rotate3d",
    "skew",
    "skewx",
    "skewy",
    "perspective",
    // filters and shapes
    "blur",
    "brightness",
    "contrast",
    "drop-shadow",
    "grayscale",
    "hue-rotate",
    "invert",
    "opacity",
    "saturate",
    "sepia",
    "inset",
    "circle",
    "ellipse",
    "polygon",
    "path",
    "rect",
    "xywh",
    "shape",
    // gradients (colours only; a url would need url())
    "linear-gradient",
    "radial-gradient",
    "conic-gradient",
    "repeating-linear-gradient",
    "repeating-radial-gradient",
    "repeating-conic-gradient",
    // timing, text, layout
    "cubic-bezier",
    "steps",
    "linear",
    "counter",
    "counters",
    "symbols",
    "format",
    "tech",
    "repeat",
    "minmax",
    "fit-content",
    "selector",
    // selectors
    "not",
    "is",
    "where",
    "has",
    "nth-child",
    "nth-last-child",
    "nth-of-type",
    "nth-last-of-type",
    "lang",
    "dir",
    "host",
    "host-context",
    "part",
    "slotted",
];

/// True when `css` neither loads nor runs anything.
pub(super) fn is_safe(css: &str) -> bool {
    Tokens::new(css).all(|token| match token {
        Token::AtKeyword(name) => AT_RULES.contains(&name.to_ascii_lowercase().as_str()),
        Token::Function(name) => {
            let name = name.to_ascii_lowercase();
            name == "url" || FUNCTIONS.contains(&name.as_str())
        }
        Token::Url(target) => target.starts_with('#'),
        Token::Other => true,
    })
}

#[derive(Debug, PartialEq)]
enum Token {
    /// `@name`, escapes resolved.
    AtKeyword(String),
    /// `name(`, escapes resolved. `url("…")` is `Function("url")` then `Url` of the string.
    Function(String),
    /// The target of `url(…)` or `url("…")`, escapes resolved and surrounding space trimmed.
    Url(String),
    /// Anything else (identifiers, numbers, strings, punctuation, whitespace).
    Other,
}

/// A CSS Syntax Level 3 tokenizer reduced to what `is_safe` needs to see.
struct Tokens<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    /// The last token was `url(` with a quoted argument: the next string is its target.
    url_string_next: bool,
}

impl<'a> Tokens<'a> {
    fn new(css: &'a str) -> Self {
        Tokens {
            chars: css.chars().peekable(),
            url_string_next: false,
        }
    }

    fn peek2(&self) -> (Option<char>, Option<char>) {
        let mut ahead = self.chars.clone();
        (ahead.next(), ahead.next())
    }

    /// After a backslash: a hex escape (1–6 digits and one optional whitespace), an escaped
    /// newline (nothing) or the next character itself.
    fn escape(&mut self) -> Option<char> {
        let first = self.chars.next()?;
        if first.is_ascii_hexdigit() {
            let mut value = first.to_digit(16)?;
            for _ in 0..5 {
                match self.chars.peek().and_then(|c| c.to_digit(16)) {
                    Some(d) => {
                        value = value * 16 + d;
                        self.chars.next();
                    }
                    None => break,
                }
            }
            if self.chars.peek().is_some_and(|c| c.is_whitespace()) {
                self.chars.next();
            }
            return Some(
                char::from_u32(value)
                    .filter(|c| *c != '\0')
                    .unwrap_or('\u{FFFD}'),
            );
        }
        (first != '\n').then_some(first)
    }

    fn is_name_char(c: char) -> bool {
        c.is_alphanumeric() || c == '-' || c == '_' || !c.is_ascii()
    }

    /// A name (identifier characters and escapes), escapes resolved.
    fn name(&mut self) -> String {
        let mut name = String::new();
        loop {
            match self.peek2() {
                (Some('\\'), Some(next)) if next != '\n' => {
                    self.chars.next();
                    name.extend(self.escape());
                }
                (Some(c), _) if Self::is_name_char(c) => {
                    name.push(c);
                    self.chars.next();
                }
                _ => return name,
            }
        }
    }

    fn string(&mut self, quote: char) -> String {
        let mut value = String::new();
        while let Some(c) = self.chars.next() {
            match c {
                c if c == quote => break,
                '\n' => break, // bad string: ends here
                '\\' => value.extend(self.escape()),
                c => value.push(c),
            }
        }
        value
    }

    /// The unquoted argument of `url(`, up to `)`.
    fn url(&mut self) -> String {
        let mut value = String::new();
        while let Some(c) = self.chars.next() {
            match c {
                ')' => break,
                '\\' => value.extend(self.escape()),
                c => value.push(c),
            }
        }
        value.trim().to_owned()
    }

    fn skip_comment(&mut self) {
        let mut last = '\0';
        for c in self.chars.by_ref() {
            if last == '*' && c == '/' {
                return;
            }
            last = c;
        }
    }
}

impl Iterator for Tokens<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        loop {
            let url_string_next = std::mem::take(&mut self.url_string_next);
            let token = match self.peek2() {
                (None, _) => return None,
                (Some('/'), Some('*')) => {
                    self.chars.nth(1);
                    self.skip_comment();
                    self.url_string_next = url_string_next;
                    continue;
                }
                (Some(c), _) if c.is_whitespace() => {
                    self.chars.next();
                    self.url_string_next = url_string_next;
                    continue;
                }
                (Some(q @ ('"' | '\'')), _) => {
                    self.chars.next();
                    let value = self.string(q);
                    if url_string_next {
                        Token::Url(value.trim().to_owned())
                    } else {
                        Token::Other
                    }
                }
                (Some('@'), _) => {
                    self.chars.next();
                    Token::AtKeyword(self.name())
                }
                (Some(c), _) if c == '\\' || Self::is_name_char(c) => {
                    let name = self.name();
                    if name.is_empty() {
                        self.chars.next(); // a lone backslash
                        Token::Other
                    } else if self.chars.peek() == Some(&'(') {
                        self.chars.next();
                        if name.eq_ignore_ascii_case("url") {
                            while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
                                self.chars.next();
                            }
                            if matches!(self.chars.peek(), Some('"' | '\'')) {
                                self.url_string_next = true;
                                Token::Function(name)
                            } else {
                                Token::Url(self.url())
                            }
                        } else {
                            Token::Function(name)
                        }
                    } else {
                        Token::Other
                    }
                }
                _ => {
                    self.chars.next();
                    Token::Other
                }
            };
            return Some(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_urls_imports_and_fetching_functions_are_unsafe() {
        for css in [
            r"rect { fill: u\72l(https://evil.example/u) }",
            r"rect { fill: u\000072 l(https://evil.example/u) }",
            r"rect { fill: \75 \72 \6c (https://evil.example/u) }",
            r"rect { fill: u\rl(https://evil.example/u) }",
            r#"@\69mport "https://evil.example/a.css";"#,
            r"@import url(https://evil.example/a.css);",
            r#"rect { background: image-set("https://evil.example/i.png" 1x) }"#,
            r#"rect { background: -webkit-image-set(url(x.png) 1x) }"#,
            r#"rect { background: image("https://evil.example/i.png") }"#,
            r#"rect { fill: url( "https://evil.example/p" ) }"#,
            r"rect { fill: url(javascript:alert(1)) }",
            r"rect { width: expression(alert(1)) }",
            r#"@font-face { font-family: x; src: local(Arial) }"#,
            "fill: u/**/rl(#ok); @im\\\nport x",
        ] {
            assert!(!is_safe(css), "{css}");
        }
    }

    #[test]
    fn ordinary_style_stays_safe() {
        for css in [
            "fill: #c33; stroke: rgb(0 0 0 / 50%); stroke-width: calc(1px + 2px)",
            "rect { fill: url(#grad) } .a:not(.b) > circle { opacity: .5 }",
            r##"g { clip-path: url( "#clip" ); filter: drop-shadow(0 0 2px black) }"##,
            "@media (prefers-color-scheme: dark) { path { stroke: white } }",
            "@keyframes spin { from { transform: rotate(0deg) } to { transform: rotate(360deg) } }",
            r#"text { font-family: "Segoe UI", sans-serif; content: "url(https://x)" }"#,
            "M0 0 L10 10 Z",
            "translate(10 20) rotate(45) scale(2)",
        ] {
            assert!(is_safe(css), "{css}");
        }
    }

    #[test]
    fn tokens_resolve_escapes_in_names() {
        let tokens: Vec<Token> = Tokens::new(r"@\69mport u\72l( x ) f\(").collect();
        assert_eq!(
            tokens,
            vec![
                Token::AtKeyword("import".into()),
                Token::Url("x".into()),
                Token::Other,
            ]
        );
    }
}
