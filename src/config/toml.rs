//! The small part of TOML that `keygate.toml` uses, parsed by hand.
//!
//! Supported: `key = value` lines with bare keys; values that are basic
//! strings (`"..."` with `\" \\ \n \t \r \uXXXX` escapes), literal strings
//! (`'...'`), whole numbers (`123`, `-1`, `1_000`), booleans, and arrays of
//! those (across lines, trailing comma allowed); `[[name]]` array-of-tables
//! headers; `#` comments. Anything else (floats, dates, inline tables, dotted
//! or quoted keys, `[table]` headers) is refused with the line it is on, not
//! skipped, so a setting is never silently lost.

use std::fmt;

/// A value as written, before it is given a meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Array(Vec<Value>),
}

impl Value {
    /// How the value looked, for "found ..." in messages.
    pub fn shown(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(items) => {
                let inner: Vec<String> = items.iter().map(Value::shown).collect();
                format!("[{}]", inner.join(", "))
            }
        }
    }

    /// What kind of value this is, for "expected X, found a Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "a whole number",
            Value::Bool(_) => "a boolean",
            Value::Array(_) => "an array",
        }
    }
}

/// `key = value`, with the 1-based line the key is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub line: usize,
    pub value: Value,
}

/// One `[[name]]` table and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

/// A whole file: the top-level entries, then every `[[name]]` table in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub top: Vec<Entry>,
    pub tables: Vec<Table>,
}

/// A syntax error: the 1-based line, the key when one was being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}: {k}: {}", self.line, self.message),
            None => write!(f, "{}: {}", self.line, self.message),
        }
    }
}

/// Parse `text`. Duplicate keys within one table are an error, as in TOML.
pub fn parse(text: &str) -> Result<Document, SyntaxError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        key: None,
    };
    let mut doc = Document::default();
    loop {
        p.skip_blank_lines()?;
        let Some(c) = p.peek() else { break };
        p.key = None;
        if c == '[' {
            let table = p.header()?;
            doc.tables.push(table);
        } else {
            let entry = p.entry()?;
            let entries = match doc.tables.last_mut() {
                Some(t) => &mut t.entries,
                None => &mut doc.top,
            };
            if let Some(first) = entries.iter().find(|e| e.key == entry.key) {
                return Err(SyntaxError {
                    line: entry.line,
                    key: Some(entry.key.clone()),
                    message: format!("set twice (first on line {})", first.line),
                });
            }
            entries.push(entry);
        }
        p.end_of_line()?;
    }
    Ok(doc)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    /// The key whose value is being read, for messages.
    key: Option<String>,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            line: self.line,
            key: self.key.clone(),
            message: message.into(),
        })
    }

    /// Spaces and tabs.
    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// A `#` comment up to (not including) the end of the line.
    fn skip_comment(&mut self) -> Result<(), SyntaxError> {
        if self.peek() == Some('#') {
            while let Some(c) = self.peek() {
                if c == '\n' {
                    break;
                }
                if c.is_control() && c != '\t' && c != '\r' {
                    return self.error("control character in a comment");
                }
                self.bump();
            }
        }
        Ok(())
    }

    /// A line break (`\n` or `\r\n`); false when there is none here.
    fn newline(&mut self) -> Result<bool, SyntaxError> {
        match self.peek() {
            Some('\n') => {
                self.bump();
                Ok(true)
            }
            Some('\r') => {
                self.bump();
                if self.peek() == Some('\n') {
                    self.bump();
                    Ok(true)
                } else {
                    self.error("a carriage return not followed by a line feed")
                }
            }
            _ => Ok(false),
        }
    }

    fn skip_blank_lines(&mut self) -> Result<(), SyntaxError> {
        loop {
            self.skip_spaces();
            self.skip_comment()?;
            if !self.newline()? {
                return Ok(());
            }
        }
    }

    /// Spaces, comments and line breaks (inside an array).
    fn skip_all_blank(&mut self) -> Result<(), SyntaxError> {
        self.skip_blank_lines()
    }

    /// After a statement: only spaces and a comment may follow on its line.
    fn end_of_line(&mut self) -> Result<(), SyntaxError> {
        self.skip_spaces();
        self.skip_comment()?;
        match self.peek() {
            None => Ok(()),
            Some('\n' | '\r') => self.newline().map(|_| ()),
            Some(c) => self.error(format!(
                "unexpected '{c}' after the value (one setting per line)"
            )),
        }
    }

    fn bare_key(&mut self) -> String {
        let mut key = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                key.push(c);
                self.bump();
            } else {
                break;
            }
        }
        key
    }

    /// `[[name]]`; a single `[name]` is refused.
    fn header(&mut self) -> Result<Table, SyntaxError> {
        let line = self.line;
        self.bump();
        if self.peek() != Some('[') {
            return self.error(
                "[table] headers are not used in keygate.toml; write [[keystore]] for a keystore",
            );
        }
        self.bump();
        self.skip_spaces();
        let name = self.bare_key();
        if name.is_empty() {
            return self.error("expected a table name after [[");
        }
        self.skip_spaces();
        if self.peek() == Some('.') {
            return self.error(format!(
                "dotted table names are not supported ([[{name}.…]])"
            ));
        }
        for _ in 0..2 {
            if self.peek() != Some(']') {
                return self.error(format!("expected ]] to close [[{name}"));
            }
            self.bump();
        }
        Ok(Table {
            name,
            line,
            entries: Vec::new(),
        })
    }

    fn entry(&mut self) -> Result<Entry, SyntaxError> {
        let line = self.line;
        let key = match self.peek() {
            Some('"' | '\'') => {
                return self.error("quoted keys are not supported; write the key bare");
            }
            _ => self.bare_key(),
        };
        if key.is_empty() {
            let found = self.peek().map(|c| format!("'{c}'")).unwrap_or_default();
            return self.error(format!("expected a setting name, found {found}"));
        }
        self.key = Some(key.clone());
        self.skip_spaces();
        match self.peek() {
            Some('=') => {
                self.bump();
            }
            Some('.') => return self.error("dotted keys are not supported"),
            _ => return self.error("expected '=' after the setting name"),
        }
        self.skip_spaces();
        let value = self.value()?;
        Ok(Entry { key, line, value })
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        match self.peek() {
            None | Some('\n' | '\r' | '#') => self.error("expected a value after '='"),
            Some('"') => self.basic_string().map(Value::Str),
            Some('\'') => self.literal_string().map(Value::Str),
            Some('[') => self.array(),
            Some('{') => self.error("inline tables are not supported"),
            Some(_) => self.bare_value(),
        }
    }

    fn basic_string(&mut self) -> Result<String, SyntaxError> {
        self.string('"')
    }

    fn literal_string(&mut self) -> Result<String, SyntaxError> {
        self.string('\'')
    }

    /// A one-line string between `quote`s: `"..."` with escapes, `'...'`
    /// without.
    fn string(&mut self, quote: char) -> Result<String, SyntaxError> {
        self.bump();
        if self.peek() == Some(quote) && self.chars.get(self.pos + 1) == Some(&quote) {
            return self.error("multi-line strings are not supported");
        }
        let unterminated = format!("unterminated string (missing {quote})");
        let mut s = String::new();
        loop {
            if matches!(self.peek(), None | Some('\n')) {
                return self.error(unterminated);
            }
            match self.bump() {
                None => return self.error(unterminated),
                Some(c) if c == quote => return Ok(s),
                Some('\\') if quote == '"' => s.push(self.escape()?),
                Some(c) if c.is_control() && c != '\t' => {
                    return self.error("control character in a string");
                }
                Some(c) => s.push(c),
            }
        }
    }

    /// The character a `\` escape in a basic string stands for.
    fn escape(&mut self) -> Result<char, SyntaxError> {
        // A line end (or the end) after `\` leaves the string open; it is
        // not consumed, so the error names this line.
        if matches!(self.peek(), None | Some('\n' | '\r')) {
            return self.error("unterminated string (missing \")");
        }
        match self.bump() {
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('n') => Ok('\n'),
            Some('t') => Ok('\t'),
            Some('r') => Ok('\r'),
            Some(u @ ('u' | 'U')) => {
                let len = if u == 'u' { 4 } else { 8 };
                let mut hex = String::new();
                for _ in 0..len {
                    match self.peek() {
                        Some(h) if h.is_ascii_hexdigit() => {
                            hex.push(h);
                            self.bump();
                        }
                        _ => return self.error(format!("\\{u} needs {len} hex digits")),
                    }
                }
                let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                match ch {
                    Some(c) => Ok(c),
                    None => self.error(format!("\\{u}{hex} is not a character")),
                }
            }
            Some(c) => self.error(format!("unknown escape \\{c} in a string")),
            None => self.error("unterminated string (missing \")"),
        }
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        let start = self.line;
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_all_blank()?;
            match self.peek() {
                None => {
                    return self.error(format!("unterminated array (the [ on line {start})"));
                }
                Some(']') => {
                    self.bump();
                    return Ok(Value::Array(items));
                }
                _ => {}
            }
            items.push(self.value()?);
            self.skip_all_blank()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                None => {
                    return self.error(format!("unterminated array (the [ on line {start})"));
                }
                Some(c) => {
                    return self.error(format!("expected ',' or ']' in the array, found '{c}'"));
                }
            }
        }
    }

    /// `true`, `false` or a whole number; anything else is named.
    fn bare_value(&mut self) -> Result<Value, SyntaxError> {
        let mut word = String::new();
        while let Some(c) = self.peek() {
            if matches!(c, ',' | ']' | '#' | ' ' | '\t' | '\n' | '\r') {
                break;
            }
            word.push(c);
            self.bump();
        }
        match word.as_str() {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            _ => {}
        }
        let digits = word.strip_prefix(['+', '-']).unwrap_or(&word);
        let well_formed = !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit() || c == '_')
            && !digits.starts_with('_')
            && !digits.ends_with('_')
            && !digits.contains("__")
            && (digits == "0" || !digits.starts_with('0'));
        if well_formed {
            let clean: String = word.chars().filter(|c| *c != '_').collect();
            return match clean.parse::<i64>() {
                Ok(n) => Ok(Value::Int(n)),
                Err(_) => self.error(format!("{word} is too large a number")),
            };
        }
        self.error(format!(
            "cannot read the value {word}: write text in double quotes (\"...\"), a whole number, true or false"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(text: &str) -> Vec<(String, usize, Value)> {
        parse(text)
            .unwrap()
            .top
            .into_iter()
            .map(|e| (e.key, e.line, e.value))
            .collect()
    }

    #[test]
    fn scalars_comments_and_lines() {
        let got = top(
            "# head\n\na = \"x # not a comment\" # c\nb = 1_000\nc = true\r\nd = 'C:\\raw'\ne = -3\n",
        );
        assert_eq!(
            got,
            vec![
                ("a".into(), 3, Value::Str("x # not a comment".into())),
                ("b".into(), 4, Value::Int(1000)),
                ("c".into(), 5, Value::Bool(true)),
                ("d".into(), 6, Value::Str("C:\\raw".into())),
                ("e".into(), 7, Value::Int(-3)),
            ]
        );
    }

    #[test]
    fn escapes() {
        let got = top(r#"a = "q\"b\\n\n\u00e9""#);
        assert_eq!(got[0].2, Value::Str("q\"b\\n\n\u{e9}".into()));
    }

    #[test]
    fn arrays_across_lines() {
        let got = top("t = [\n  \"a\", # first\n  \"b\",\n]\nn = []\nx = 1\n");
        assert_eq!(
            got[0].2,
            Value::Array(vec![Value::Str("a".into()), Value::Str("b".into())])
        );
        assert_eq!(got[1], ("n".into(), 5, Value::Array(vec![])));
        assert_eq!(got[2].1, 6);
    }

    #[test]
    fn tables() {
        let doc = parse("a = 1\n[[k]]\nx = \"1\"\n[[k]]\nx = \"2\"\n").unwrap();
        assert_eq!(doc.top.len(), 1);
        assert_eq!(doc.tables.len(), 2);
        assert_eq!((doc.tables[1].name.as_str(), doc.tables[1].line), ("k", 4));
        assert_eq!(doc.tables[1].entries[0].line, 5);
    }

    fn err(text: &str) -> SyntaxError {
        parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = err("a = 1\nb = three\n");
        assert_eq!((e.line, e.key.as_deref()), (2, Some("b")));
        assert!(e.message.contains("three"), "{e}");
        let e = err("a = 1\na = 2\n");
        assert_eq!(e.to_string(), "2: a: set twice (first on line 1)");
        let e = err("a = \"open\nb = 1\n");
        assert_eq!((e.line, e.key.as_deref()), (1, Some("a")));
        assert!(err("[t]\n").message.contains("[[keystore]]"));
        assert!(err("a = 1 2\n").message.contains("one setting per line"));
        assert!(err("a = 1.5\n").message.contains("1.5"));
        assert!(err("a.b = 1\n").message.contains("dotted"));
        assert!(err("a = [1, 2\n").message.contains("unterminated array"));
        assert!(err("a = \n").message.contains("expected a value"));
        assert!(err("= 1\n").message.contains("setting name"));
        assert!(err("a = {x = 1}\n").message.contains("inline tables"));
        assert!(err("a = 01\n").message.contains("01"));
        assert!(err("a = \"\\q\"\n").message.contains("\\q"));
        assert_eq!(err("x = 1\n\n\n[[k]\n").line, 4);
    }
}
