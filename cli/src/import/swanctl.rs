//! The swanctl.conf syntax: strongSwan's settings format (`settings_parser.y`,
//! `settings_lexer.l` in libstrongswan/settings): `name { … }` sections,
//! `key = value` pairs (quoted values may hold escapes and newlines), `#`
//! comments and `include PATTERN` (a glob relative to the including file).
//! Sections of the same name merge and a repeated key keeps its last value,
//! as strongSwan does.

use std::fmt;
use std::path::{Path, PathBuf};

/// Nesting limit for `include` (strongSwan stops at 10 too).
const MAX_INCLUDE_DEPTH: usize = 10;

/// Where a key was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One `key = value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key.
    pub key: String,
    /// The value, unquoted.
    pub value: String,
    /// Where it was set (the last time).
    pub origin: Origin,
}

/// A section: its settings and subsections, in the order first seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// `key = value` pairs.
    pub settings: Vec<Setting>,
    /// `name { … }` subsections.
    pub sections: Vec<(String, Section)>,
}

impl Section {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.value.as_str())
    }

    /// The subsection `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    fn set(&mut self, s: Setting) {
        match self.settings.iter_mut().find(|o| o.key == s.key) {
            Some(old) => *old = s,
            None => self.settings.push(s),
        }
    }

    fn section_mut(&mut self, name: &str) -> &mut Section {
        let i = match self.sections.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.sections.push((name.to_string(), Section::default()));
                self.sections.len() - 1
            }
        };
        &mut self.sections[i].1
    }
}

/// A syntax or include error, located.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ParseError {
    /// Where.
    pub origin: Origin,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Reads `path` and every file it includes.
pub fn parse_file(path: &Path) -> Result<Section, ParseError> {
    let mut root = Section::default();
    include_file(path, &mut root, 0, None)?;
    Ok(root)
}

/// Parses text as if read from `path` (includes resolve next to it).
pub fn parse_str(src: &str, path: &Path) -> Result<Section, ParseError> {
    let mut root = Section::default();
    Parser::new(src, path, 0).section_body(&mut root, false)?;
    Ok(root)
}

fn include_file(
    path: &Path,
    into: &mut Section,
    depth: usize,
    from: Option<&Origin>,
) -> Result<(), ParseError> {
    let at = || {
        from.cloned().unwrap_or(Origin {
            file: path.to_path_buf(),
            line: 0,
        })
    };
    if depth > MAX_INCLUDE_DEPTH {
        return Err(ParseError {
            origin: at(),
            message: format!("includes nest deeper than {MAX_INCLUDE_DEPTH} (a loop?)"),
        });
    }
    let src = std::fs::read_to_string(path).map_err(|e| ParseError {
        origin: at(),
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    Parser::new(&src, path, depth).section_body(into, false)
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    file: &'a Path,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, file: &'a Path, depth: usize) -> Self {
        Parser {
            src: src.as_bytes(),
            pos: 0,
            line: 1,
            file,
            depth,
        }
    }

    fn origin(&self) -> Origin {
        Origin {
            file: self.file.to_path_buf(),
            line: self.line,
        }
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            origin: self.origin(),
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skips blanks, and newlines and comments too when `newlines`.
    fn skip(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' => {}
                b'\n' if newlines => {}
                b'#' if newlines => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.bump();
                    }
                    continue;
                }
                _ => return,
            }
            self.bump();
        }
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !c.is_ascii_whitespace() && !b"{}=:#\"".contains(&c))
        {
            self.bump();
        }
        String::from_utf8_lossy(&self.src[start..self.pos]).into_owned()
    }

    /// Statements until `}` (when `nested`) or the end of the file.
    fn section_body(&mut self, sec: &mut Section, nested: bool) -> Result<(), ParseError> {
        loop {
            self.skip(true);
            match self.peek() {
                None if nested => return self.err("missing `}` at the end of the file"),
                None => return Ok(()),
                Some(b'}') if nested => {
                    self.bump();
                    return Ok(());
                }
                Some(b'}') => return self.err("`}` without an open section: remove it"),
                Some(_) => self.statement(sec)?,
            }
        }
    }

    fn statement(&mut self, sec: &mut Section) -> Result<(), ParseError> {
        let origin = self.origin();
        let name = self.name();
        if name.is_empty() {
            let c = self.peek().map(char::from).unwrap_or(' ');
            return self.err(format!("expected a name, found `{c}`"));
        }
        self.skip(false);
        if name == "include" && !matches!(self.peek(), Some(b'=' | b'{' | b':')) {
            let pattern = self.value()?;
            return self.include(&pattern, sec, &origin);
        }
        self.skip(true);
        match self.peek() {
            Some(b'{') => {
                self.bump();
                self.section_body(sec.section_mut(&name), true)
            }
            Some(b'=') => {
                self.bump();
                let value = self.value()?;
                sec.set(Setting {
                    key: name,
                    value,
                    origin,
                });
                Ok(())
            }
            Some(b':') => self.err(format!(
                "section templates (`{name} : base {{`) are not supported: copy the base section's settings into `{name}`"
            )),
            _ => self.err(format!("expected `=` or `{{` after `{name}`")),
        }
    }

    /// A value up to the end of the line, a comment or `}`; or a quoted string.
    fn value(&mut self) -> Result<String, ParseError> {
        self.skip(false);
        if self.peek() == Some(b'"') {
            self.bump();
            let s = self.quoted()?;
            self.skip(false);
            return match self.peek() {
                None | Some(b'\n' | b'#' | b'}') => Ok(s),
                Some(c) => self.err(format!(
                    "unexpected `{}` after a quoted value",
                    char::from(c)
                )),
            };
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| !b"\n#}".contains(&c)) {
            self.bump();
        }
        Ok(String::from_utf8_lossy(&self.src[start..self.pos])
            .trim()
            .to_string())
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return self.err("unterminated quoted value: add the closing `\"`"),
                Some(b'"') => return Ok(String::from_utf8_lossy(&out).into_owned()),
                Some(b'\\') => match self.bump() {
                    Some(b'n') => out.push(b'\n'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b'\n') => {}
                    Some(c) => out.push(c),
                    None => return self.err("unterminated quoted value: add the closing `\"`"),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn include(
        &mut self,
        pattern: &str,
        sec: &mut Section,
        origin: &Origin,
    ) -> Result<(), ParseError> {
        let base = self.file.parent().unwrap_or(Path::new("."));
        let full = base.join(pattern);
        let text = full.to_string_lossy();
        let is_glob = pattern.contains(['*', '?', '[']);
        let paths: Vec<PathBuf> = if is_glob {
            let found = glob::glob(&text).map_err(|e| ParseError {
                origin: origin.clone(),
                message: format!("include pattern {pattern:?}: {e}"),
            })?;
            let mut v: Vec<PathBuf> = found.filter_map(Result::ok).collect();
            v.sort();
            v
        } else {
            vec![full.clone()]
        };
        for p in paths {
            include_file(&p, sec, self.depth + 1, Some(origin))?;
        }
        Ok(())
    }
}
