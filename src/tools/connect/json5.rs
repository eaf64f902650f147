//! A span-keeping JSON5 reader and editor, for OpenClaw's `openclaw.json` (JSON5) and for the
//! JSON and JSONC files of Claude Code and opencode (JSON5 reads both).
//!
//! The reader records where every object member's key, value and comma are, so an edit
//! splices text into or out of the file and leaves every other byte alone: comments, trailing
//! commas, unquoted keys, single quotes, indentation and blank lines survive. Inserted members
//! use quoted keys and double-quoted strings, which are valid JSON, JSONC and JSON5 alike, so
//! a strict JSON file stays strict JSON. After each splice the text is read again, so the
//! spans are always those of the current text (the files are small).

use super::{EditError, Val};
use serde_json::Value;

#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    Scalar(Value),
}

#[derive(Debug)]
struct Member {
    key: String,
    key_start: usize,
    value: Node,
    /// The position of the comma after the value, if there is one.
    comma: Option<usize>,
}

/// A parse failure at a byte offset; the caller turns it into a line and column.
#[derive(Debug)]
struct Failure {
    offset: usize,
    message: String,
}

/// A JSON5 document: its text and the tree of spans read from it.
#[derive(Debug)]
pub struct Doc {
    text: String,
    /// None for a file that holds only whitespace and comments.
    root: Option<Node>,
    file: String,
}

impl Doc {
    /// Reads `text`; refuses anything that is not JSON5, and a top level that is not an object.
    pub fn parse(text: &str, file: &str) -> Result<Doc, EditError> {
        let root = Parser::new(text).document().map_err(|failure| {
            let (line, column) = super::line_column(text, failure.offset);
            EditError::Parse {
                file: file.to_owned(),
                line,
                column,
                message: failure.message,
            }
        })?;
        if let Some(node) = &root
            && !matches!(node.kind, Kind::Object(_))
        {
            return Err(EditError::Shape {
                file: file.to_owned(),
                message: "the top level is not an object ({ … })".to_owned(),
            });
        }
        Ok(Doc {
            text: text.to_owned(),
            root,
            file: file.to_owned(),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    fn node(&self, path: &[&str]) -> Option<&Node> {
        let mut node = self.root.as_ref()?;
        for segment in path {
            let Kind::Object(members) = &node.kind else {
                return None;
            };
            // JSON5 (like JavaScript) takes the last of duplicate keys.
            node = &members.iter().rev().find(|m| m.key == *segment)?.value;
        }
        Some(node)
    }

    pub fn get(&self, path: &[&str]) -> Option<Value> {
        self.node(path).map(to_value)
    }

    /// The value at `path` exactly as the file spells it.
    pub fn raw(&self, path: &[&str]) -> Option<&str> {
        self.node(path).map(|n| &self.text[n.start..n.end])
    }

    /// Puts `raw` (a value's text from another version of this file) in place of the value at
    /// `path`, which exists.
    pub fn set_raw(&mut self, path: &[&str], raw: &str) -> Result<(), EditError> {
        let Some(node) = self.node(path) else {
            return Ok(());
        };
        let (start, end) = (node.start, node.end);
        self.splice(&mut [(start, end, raw.to_owned())])
    }

    pub fn keys(&self, path: &[&str]) -> Vec<String> {
        match self.node(path) {
            Some(Node {
                kind: Kind::Object(members),
                ..
            }) => members.iter().map(|m| m.key.clone()).collect(),
            _ => Vec::new(),
        }
    }

    fn reparse(&mut self, text: String) -> Result<(), EditError> {
        let doc = Doc::parse(&text, &self.file).map_err(|e| EditError::Internal {
            message: format!("an edit of {} did not read back: {e}", self.file),
        })?;
        *self = doc;
        Ok(())
    }

    fn splice(&mut self, edits: &mut [(usize, usize, String)]) -> Result<(), EditError> {
        // Apply from the end so earlier offsets stay valid.
        edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut text = self.text.clone();
        for (start, end, with) in edits.iter() {
            text.replace_range(*start..*end, with);
        }
        self.reparse(text)
    }

    /// Sets the member at `path`, creating the objects on the way; refuses to replace a
    /// value on the way that is not an object (it is the user's, and not ours to drop).
    pub fn set(&mut self, path: &[&str], value: &Val) -> Result<(), EditError> {
        if self.root.is_none() {
            let mut text = self.text.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str("{}\n");
            self.reparse(text)?;
        }
        let unit = indent_unit(&self.text);
        let mut node = self.root.as_ref().expect("a root object");
        for (i, segment) in path.iter().enumerate() {
            let Kind::Object(members) = &node.kind else {
                unreachable!("only objects are walked into")
            };
            let rest = &path[i + 1..];
            match members.iter().rev().find(|m| m.key == *segment) {
                Some(member) if rest.is_empty() => {
                    // In an object written on one line the value stays on that line, as an
                    // inserted one would be: connecting again then changes nothing.
                    let with = if self.text[node.start..node.end].contains('\n') {
                        render(value, &line_indent(&self.text, member.key_start), &unit)
                    } else {
                        compact(value)
                    };
                    let (start, end) = (member.value.start, member.value.end);
                    return self.splice(&mut [(start, end, with)]);
                }
                Some(member) => {
                    if !matches!(member.value.kind, Kind::Object(_)) {
                        return Err(EditError::Shape {
                            file: self.file.clone(),
                            message: format!(
                                "{} is not an object; Redline will not replace it",
                                super::show_path(&path[..=i])
                            ),
                        });
                    }
                    node = &member.value;
                }
                None => {
                    let nested = Val::nest(rest, value.clone());
                    let mut edits =
                        insert_member(&self.text, node, members, segment, &nested, &unit);
                    return self.splice(&mut edits);
                }
            }
        }
        unreachable!("an empty path is never set")
    }

    /// Removes the member at `path` with its line, and the comma that a removed last member
    /// leaves behind (a strict JSON file stays strict JSON). An object left empty collapses
    /// to `{}`.
    pub fn remove(&mut self, path: &[&str]) -> Result<(), EditError> {
        let Some((last, parent_path)) = path.split_last() else {
            return Ok(());
        };
        let Some(parent) = self.node(parent_path) else {
            return Ok(());
        };
        let Kind::Object(members) = &parent.kind else {
            return Ok(());
        };
        let Some(index) = members.iter().rposition(|m| m.key == *last) else {
            return Ok(());
        };
        let text = &self.text;
        let bytes = text.as_bytes();
        let member = &members[index];
        let mut start = member.key_start;
        let mut end = member.comma.map_or(member.value.end, |c| c + 1);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let own_line = text[line_start..start]
            .chars()
            .all(|c| c == ' ' || c == '\t');
        let after = skip_same_line(text, end);
        if own_line && at_line_end(bytes, after) {
            start = line_start;
            end = after + line_end_len(bytes, after);
        } else {
            while end < bytes.len() && (bytes[end] == b' ' || bytes[end] == b'\t') {
                end += 1;
            }
        }
        let previous_comma = match (member.comma, index) {
            (None, 1..) => members[index - 1].comma,
            _ => None,
        };
        let mut edits = match previous_comma {
            // On one line with the member before it: `, "b": 2` goes as one piece.
            Some(comma) if !own_line || !at_line_end(bytes, after) => {
                vec![(comma, member.value.end, String::new())]
            }
            Some(comma) => vec![
                (start, end, String::new()),
                (comma, comma + 1, String::new()),
            ],
            None => vec![(start, end, String::new())],
        };
        if members.len() == 1 {
            // The object becomes empty: make it `{}` when only whitespace would remain.
            let inner_start = parent.start + 1;
            let inner_end = parent.end - 1;
            let rest_blank = text[inner_start..start].trim().is_empty()
                && text[end.min(inner_end)..inner_end].trim().is_empty();
            if rest_blank {
                edits = vec![(inner_start, inner_end, String::new())];
            }
        }
        self.splice(&mut edits)
    }
}

/// The splices that add `"key": value` as the last member of `object`.
fn insert_member(
    text: &str,
    object: &Node,
    members: &[Member],
    key: &str,
    value: &Val,
    unit: &str,
) -> Vec<(usize, usize, String)> {
    let key_text = serde_json::to_string(key).expect("a string serialises");
    let Some(last) = members.last() else {
        let indent = line_indent(text, object.start);
        let child = format!("{indent}{unit}");
        let inner = &text[object.start + 1..object.end - 1];
        let member = format!("{key_text}: {}", render(value, &child, unit));
        if inner.trim().is_empty() {
            return vec![(
                object.start + 1,
                object.end - 1,
                format!("\n{child}{member}\n{indent}"),
            )];
        }
        // Only comments inside: the member goes first, on a line of its own.
        return vec![(
            object.start + 1,
            object.start + 1,
            format!("\n{child}{member}"),
        )];
    };
    let multiline = text[object.start..object.end].contains('\n');
    if !multiline {
        let compact = compact(value);
        return match last.comma {
            Some(comma) => vec![(comma + 1, comma + 1, format!(" {key_text}: {compact},"))],
            None => vec![(
                last.value.end,
                last.value.end,
                format!(", {key_text}: {compact}"),
            )],
        };
    }
    let key_line_start = text[..last.key_start].rfind('\n').map_or(0, |i| i + 1);
    let indent = if text[key_line_start..last.key_start]
        .chars()
        .all(|c| c == ' ' || c == '\t')
    {
        text[key_line_start..last.key_start].to_owned()
    } else {
        format!("{}{unit}", line_indent(text, object.start))
    };
    let member = format!("{key_text}: {}", render(value, &indent, unit));
    let anchor = last.comma.map_or(last.value.end, |c| c + 1);
    let at = skip_same_line(text, anchor);
    let trailing = if last.comma.is_some() { "," } else { "" };
    let mut edits = vec![(at, at, format!("\n{indent}{member}{trailing}"))];
    if last.comma.is_none() {
        edits.push((last.value.end, last.value.end, ",".to_owned()));
    }
    edits
}

/// From `at`, past spaces, tabs, a block comment on the same line and a line comment, to the
/// end of the line (or the first other character).
fn skip_same_line(text: &str, mut at: usize) -> usize {
    let bytes = text.as_bytes();
    loop {
        while at < bytes.len() && (bytes[at] == b' ' || bytes[at] == b'\t') {
            at += 1;
        }
        if bytes[at..].starts_with(b"//") {
            while at < bytes.len() && bytes[at] != b'\n' && bytes[at] != b'\r' {
                at += 1;
            }
            return at;
        }
        if bytes[at..].starts_with(b"/*")
            && let Some(close) = text[at + 2..].find("*/")
            && !text[at..at + 2 + close].contains('\n')
        {
            at += close + 4;
            continue;
        }
        return at;
    }
}

fn at_line_end(bytes: &[u8], at: usize) -> bool {
    at >= bytes.len() || bytes[at] == b'\n' || bytes[at..].starts_with(b"\r\n")
}

fn line_end_len(bytes: &[u8], at: usize) -> usize {
    if bytes[at..].starts_with(b"\r\n") {
        2
    } else if at < bytes.len() && bytes[at] == b'\n' {
        1
    } else {
        0
    }
}

/// The whitespace that starts the line holding `at`.
fn line_indent(text: &str, at: usize) -> String {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The file's indentation step: the leading whitespace of its first indented line, else two
/// spaces.
fn indent_unit(text: &str) -> String {
    for line in text.lines() {
        let lead: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if !lead.is_empty() && line.len() > lead.len() {
            if lead.starts_with('\t') {
                return "\t".to_owned();
            }
            return lead;
        }
    }
    "  ".to_owned()
}

/// A value as JSON on one line.
fn compact(value: &Val) -> String {
    serde_json::to_string(&value.to_json()).expect("a value serialises")
}

/// A value as JSON, one member or element a line, nested lines indented from `indent`.
pub(super) fn render(value: &Val, indent: &str, unit: &str) -> String {
    let inner = format!("{indent}{unit}");
    match value {
        Val::Obj(members) if members.is_empty() => "{}".to_owned(),
        Val::Arr(items) if items.is_empty() => "[]".to_owned(),
        Val::Obj(members) => {
            let lines: Vec<String> = members
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{inner}{}: {}",
                        serde_json::to_string(k).expect("a string serialises"),
                        render(v, &inner, unit)
                    )
                })
                .collect();
            format!("{{\n{}\n{indent}}}", lines.join(",\n"))
        }
        Val::Arr(items) => {
            let lines: Vec<String> = items
                .iter()
                .map(|v| format!("{inner}{}", render(v, &inner, unit)))
                .collect();
            format!("[\n{}\n{indent}]", lines.join(",\n"))
        }
        scalar => serde_json::to_string(&scalar.to_json()).expect("a value serialises"),
    }
}

fn to_value(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar(v) => v.clone(),
        Kind::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Kind::Object(members) => {
            let mut map = serde_json::Map::new();
            for m in members {
                map.insert(m.key.clone(), to_value(&m.value));
            }
            Value::Object(map)
        }
    }
}

/// Deepest nesting accepted; deeper files are refused rather than overflowing the stack.
const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn fail<T>(&self, offset: usize, message: impl Into<String>) -> Result<T, Failure> {
        Err(Failure {
            offset,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn document(&mut self) -> Result<Option<Node>, Failure> {
        self.trivia()?;
        if self.pos >= self.text.len() {
            return Ok(None);
        }
        let node = self.value()?;
        self.trivia()?;
        if self.pos < self.text.len() {
            return self.fail(self.pos, "unexpected text after the end of the document");
        }
        Ok(Some(node))
    }

    /// Skips whitespace and comments.
    fn trivia(&mut self) -> Result<(), Failure> {
        loop {
            let rest = &self.text[self.pos..];
            if rest.starts_with("//") {
                self.pos += rest
                    .find(['\n', '\r', '\u{2028}', '\u{2029}'])
                    .unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                match body.find("*/") {
                    Some(close) => self.pos += close + 4,
                    None => return self.fail(self.pos, "a /* comment is never closed"),
                }
            } else if let Some(c) = self.peek()
                && is_space(c)
            {
                self.pos += c.len_utf8();
            } else {
                return Ok(());
            }
        }
    }

    fn value(&mut self) -> Result<Node, Failure> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return self.fail(start, "the file ends where a value was expected");
        };
        let kind = match c {
            '{' => self.nested(Self::object)?,
            '[' => self.nested(Self::array)?,
            '"' | '\'' => Kind::Scalar(Value::String(self.string()?)),
            c if c == '-' || c == '+' || c == '.' || c.is_ascii_digit() => {
                Kind::Scalar(self.number()?)
            }
            c if is_ident_start(c) => {
                let word = self.identifier();
                match word {
                    "true" => Kind::Scalar(Value::Bool(true)),
                    "false" => Kind::Scalar(Value::Bool(false)),
                    "null" => Kind::Scalar(Value::Null),
                    "Infinity" | "NaN" => Kind::Scalar(Value::String(word.to_owned())),
                    _ => {
                        return self.fail(
                            start,
                            "a value must be an object, array, string, number, true, false or null",
                        );
                    }
                }
            }
            _ => {
                return self.fail(
                    start,
                    format!("unexpected character {c:?} where a value was expected"),
                );
            }
        };
        Ok(Node {
            start,
            end: self.pos,
            kind,
        })
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Kind, Failure>) -> Result<Kind, Failure> {
        if self.depth >= MAX_DEPTH {
            return self.fail(self.pos, "the file nests objects and arrays too deeply");
        }
        self.depth += 1;
        let kind = f(self);
        self.depth -= 1;
        kind
    }

    fn object(&mut self) -> Result<Kind, Failure> {
        let open = self.pos;
        self.pos += 1;
        let mut members: Vec<Member> = Vec::new();
        loop {
            self.trivia()?;
            match self.peek() {
                None => return self.fail(open, "this { is never closed"),
                Some('}') => {
                    self.pos += 1;
                    return Ok(Kind::Object(members));
                }
                Some(_) => {}
            }
            if let Some(previous) = members.last()
                && previous.comma.is_none()
            {
                return self.fail(self.pos, "expected , or } after a member");
            }
            let key_start = self.pos;
            let key = match self.peek() {
                Some('"' | '\'') => self.string()?,
                Some(c) if is_ident_start(c) => self.identifier().to_owned(),
                Some(c) => {
                    return self.fail(
                        self.pos,
                        format!("unexpected character {c:?} where a key was expected"),
                    );
                }
                None => unreachable!(),
            };
            self.trivia()?;
            if self.peek() != Some(':') {
                return self.fail(self.pos, "expected : after a key");
            }
            self.pos += 1;
            self.trivia()?;
            let value = self.value()?;
            self.trivia()?;
            let comma = if self.peek() == Some(',') {
                self.pos += 1;
                Some(self.pos - 1)
            } else {
                None
            };
            members.push(Member {
                key,
                key_start,
                value,
                comma,
            });
        }
    }

    fn array(&mut self) -> Result<Kind, Failure> {
        let open = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        let mut separated = true;
        loop {
            self.trivia()?;
            match self.peek() {
                None => return self.fail(open, "this [ is never closed"),
                Some(']') => {
                    self.pos += 1;
                    return Ok(Kind::Array(items));
                }
                Some(_) if !separated => {
                    return self.fail(self.pos, "expected , or ] after an element");
                }
                Some(_) => {}
            }
            items.push(self.value()?);
            self.trivia()?;
            separated = self.peek() == Some(',');
            if separated {
                self.pos += 1;
            }
        }
    }

    fn identifier(&mut self) -> &'a str {
        let start = self.pos;
        let text = self.text;
        for (i, c) in text[start..].char_indices() {
            let ok = if i == 0 {
                is_ident_start(c)
            } else {
                is_ident_part(c)
            };
            if !ok {
                self.pos = start + i;
                return &text[start..self.pos];
            }
        }
        self.pos = text.len();
        &text[start..]
    }

    fn string(&mut self) -> Result<String, Failure> {
        let open = self.pos;
        let quote = self.peek().expect("a quote");
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.fail(open, "this string is never closed");
            };
            self.pos += c.len_utf8();
            match c {
                c if c == quote => return Ok(out),
                '\n' | '\r' => {
                    return self.fail(
                        self.pos - 1,
                        "a line break inside a string (escape it as \\n)",
                    );
                }
                '\\' => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Failure> {
        let at = self.pos - 1;
        let Some(c) = self.peek() else {
            return self.fail(at, "the file ends inside an escape");
        };
        self.pos += c.len_utf8();
        match c {
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => {
                out.push('\r');
            }
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '0' if !self.peek().is_some_and(|d| d.is_ascii_digit()) => out.push('\0'),
            '1'..='9' | '0' => return self.fail(at, "digits cannot be escaped in a string"),
            'x' => {
                let code = self.hex(2, at)?;
                out.push(char::from_u32(code).expect("two hex digits are a char"));
            }
            'u' => {
                let code = self.hex(4, at)?;
                if (0xD800..0xDC00).contains(&code) && self.text[self.pos..].starts_with("\\u") {
                    self.pos += 2;
                    let low = self.hex(4, at)?;
                    let joined =
                        0x10000 + ((code - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                    out.push(char::from_u32(joined).unwrap_or('\u{FFFD}'));
                } else {
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
            }
            // A backslash before a line break continues the string on the next line.
            '\r' => {
                if self.peek() == Some('\n') {
                    self.pos += 1;
                }
            }
            '\n' | '\u{2028}' | '\u{2029}' => {}
            other => out.push(other),
        }
        Ok(())
    }

    fn hex(&mut self, digits: usize, at: usize) -> Result<u32, Failure> {
        let end = self.pos + digits;
        match self.text.get(self.pos..end).and_then(|h| {
            h.chars()
                .all(|c| c.is_ascii_hexdigit())
                .then(|| u32::from_str_radix(h, 16).ok())
                .flatten()
        }) {
            Some(code) => {
                self.pos = end;
                Ok(code)
            }
            None => self.fail(at, "a bad \\x or \\u escape"),
        }
    }

    fn number(&mut self) -> Result<Value, Failure> {
        let start = self.pos;
        let rest = &self.text[start..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(rest.len());
        // `1e+5` keeps its sign; a sign elsewhere after the first character ends the number.
        let mut end = 0;
        for (i, c) in rest[..len].char_indices() {
            if (c == '+' || c == '-') && i > 0 {
                let prev = rest.as_bytes()[i - 1];
                let hex = rest[..i].contains(['x', 'X']);
                if hex || !(prev == b'e' || prev == b'E') {
                    break;
                }
            }
            end = i + c.len_utf8();
        }
        let literal = &rest[..end];
        self.pos = start + end;
        let (sign, body) = match literal.as_bytes().first() {
            Some(b'-') => (-1.0, &literal[1..]),
            Some(b'+') => (1.0, &literal[1..]),
            _ => (1.0, literal),
        };
        if body == "Infinity" || body == "NaN" {
            return Ok(Value::String(literal.to_owned()));
        }
        if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            return match i64::from_str_radix(hex, 16) {
                Ok(n) => Ok(Value::from(if sign < 0.0 { -n } else { n })),
                Err(_) => self.fail(start, "a bad hexadecimal number"),
            };
        }
        let valid = !body.is_empty()
            && body
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '.')
            && body.chars().any(|c| c.is_ascii_digit())
            && body
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
        if !valid {
            return self.fail(start, "a bad number");
        }
        if let Ok(n) = literal.trim_start_matches('+').parse::<i64>() {
            return Ok(Value::from(n));
        }
        match body.parse::<f64>() {
            Ok(f) => Ok(serde_json::Number::from_f64(sign * f).map_or(Value::Null, Value::Number)),
            Err(_) => self.fail(start, "a bad number"),
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{b}'
            | '\u{c}'
            | '\r'
            | ' '
            | '\u{a0}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
    ) || (c.is_whitespace() && !c.is_control())
}

fn is_ident_start(c: char) -> bool {
    c == '$' || c == '_' || c.is_alphabetic()
}

fn is_ident_part(c: char) -> bool {
    is_ident_start(c) || c.is_alphanumeric() || c == '\u{200c}' || c == '\u{200d}'
}
