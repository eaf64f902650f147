//! YAML files whose top level is a mapping of plain settings (aider's `~/.aider.conf.yml`),
//! checked with a YAML parser and edited line by line: a setting Redline writes is one
//! `key: value` line, replacing the setting's own lines or added at the end. Every other line,
//! comments included, stays byte for byte. Only top-level keys are edited.

use super::{EditError, Val};
use serde_json::Value;

pub struct Doc {
    text: String,
    map: serde_yaml_ng::Mapping,
    file: String,
}

impl Doc {
    pub fn parse(text: &str, file: &str) -> Result<Doc, EditError> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let message = e.to_string();
            // Drop the " at line N column M" the message repeats.
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            EditError::Parse {
                file: file.to_owned(),
                line,
                column,
                message,
            }
        })?;
        let map = match value {
            serde_yaml_ng::Value::Mapping(map) => map,
            serde_yaml_ng::Value::Null => serde_yaml_ng::Mapping::new(),
            _ => {
                return Err(EditError::Shape {
                    file: file.to_owned(),
                    message: "the top level is not a mapping of settings (key: value)".to_owned(),
                });
            }
        };
        Ok(Doc {
            text: text.to_owned(),
            map,
            file: file.to_owned(),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn get(&self, path: &[&str]) -> Option<Value> {
        match path {
            [] => serde_json::to_value(&self.map).ok(),
            [key] => serde_json::to_value(self.map.get(*key)?).ok(),
            _ => None,
        }
    }

    pub fn keys(&self, path: &[&str]) -> Vec<String> {
        if !path.is_empty() {
            return Vec::new();
        }
        self.map
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect()
    }

    fn reparse(&mut self, text: String) -> Result<(), EditError> {
        *self = Doc::parse(&text, &self.file).map_err(|e| EditError::Internal {
            message: format!("an edit of {} did not read back: {e}", self.file),
        })?;
        Ok(())
    }

    pub fn set(&mut self, path: &[&str], value: &Val) -> Result<(), EditError> {
        let [key] = path else {
            return Err(EditError::Internal {
                message: "only top-level YAML settings are edited".to_owned(),
            });
        };
        let rendered = serde_json::to_string(&value.to_json()).expect("a value serialises");
        let mut lines: Vec<String> = self.text.split_inclusive('\n').map(str::to_owned).collect();
        let newline = if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        match entry(&lines, key) {
            Some((first, end)) => {
                let ending = if lines[end - 1].ends_with('\n') {
                    newline
                } else {
                    ""
                };
                let line = format!("{}: {rendered}{ending}", key_text(&lines[first], key));
                lines.splice(first..end, [line]);
            }
            None => {
                if let Some(last) = lines.last_mut()
                    && !last.ends_with('\n')
                {
                    last.push_str(newline);
                }
                lines.push(format!("{key}: {rendered}{newline}"));
            }
        }
        self.reparse(lines.concat())
    }

    /// Puts the lines of the setting `path` in `other` (another version of this file) in
    /// place of its lines here.
    pub fn set_from(&mut self, other: &Doc, path: &[&str]) -> Result<(), EditError> {
        let [key] = path else {
            return Ok(());
        };
        let theirs: Vec<&str> = other.text.split_inclusive('\n').collect();
        let mut lines: Vec<String> = self.text.split_inclusive('\n').map(str::to_owned).collect();
        let (Some((from, to)), Some((first, end))) = (entry(&theirs, key), entry(&lines, key))
        else {
            return Ok(());
        };
        let mut with: Vec<String> = theirs[from..to].iter().map(|l| (*l).to_owned()).collect();
        let unterminated_here = end == lines.len() && !lines[end - 1].ends_with('\n');
        if let Some(last) = with.last_mut() {
            if unterminated_here {
                // The setting was the file's unterminated last line; it stays so.
                let trimmed = last.trim_end_matches(['\r', '\n']).len();
                last.truncate(trimmed);
            } else if !last.ends_with('\n') {
                // It was the other version's unterminated last line, but lines follow it
                // here: without its line break it would run into the next setting.
                last.push_str(if self.text.contains("\r\n") {
                    "\r\n"
                } else {
                    "\n"
                });
            }
        }
        lines.splice(first..end, with);
        self.reparse(lines.concat())
    }

    pub fn remove(&mut self, path: &[&str]) -> Result<(), EditError> {
        let [key] = path else {
            return Ok(());
        };
        let mut lines: Vec<String> = self.text.split_inclusive('\n').map(str::to_owned).collect();
        if let Some((first, end)) = entry(&lines, key) {
            lines.drain(first..end);
            self.reparse(lines.concat())?;
        }
        Ok(())
    }
}

/// The key as the line spells it (`model`, `"model"` or `'model'`).
fn key_text<'a>(line: &'a str, key: &str) -> &'a str {
    let quoted = line.starts_with('"') || line.starts_with('\'');
    &line[..key.len() + if quoted { 2 } else { 0 }]
}

/// The lines `[first, end)` of the top-level entry `key`: its own line and the indented lines
/// (or block sequence items) that continue its value. The last entry of the key, as YAML
/// parsers reject duplicates anyway.
fn entry<S: AsRef<str>>(lines: &[S], key: &str) -> Option<(usize, usize)> {
    let first = lines
        .iter()
        .rposition(|line| is_key_line(line.as_ref(), key))?;
    let mut end = first + 1;
    while end < lines.len() {
        let line = lines[end].as_ref();
        let continues = line.starts_with(' ') || line.starts_with('\t') || line.starts_with("- ");
        if !continues || line.trim().is_empty() {
            break;
        }
        end += 1;
    }
    Some((first, end))
}

fn is_key_line(line: &str, key: &str) -> bool {
    let rest = ["", "\"", "'"].iter().find_map(|q| {
        let open = line.strip_prefix(q)?;
        let after = open.strip_prefix(key)?;
        after.strip_prefix(q)
    });
    let Some(rest) = rest else {
        return false;
    };
    let Some(after_colon) = rest.trim_start_matches([' ', '\t']).strip_prefix(':') else {
        return false;
    };
    after_colon.is_empty() || after_colon.starts_with([' ', '\t', '\r', '\n'])
}
