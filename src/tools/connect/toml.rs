//! TOML files (Codex's `config.toml`, the Kimi Code CLI's `config.toml`), edited in place with
//! `toml_edit`: comments, ordering, spacing and quoting of everything Redline does not touch
//! stay as they were. A table Redline adds (`[model_providers.redline-kimi-main]`) is a real
//! table section; tables within it are inline (`http_headers = { … }`); a parent Redline creates
//! only to hold it (`model_providers`) is implicit, so no empty `[model_providers]` appears.

use super::{EditError, Val};
use serde_json::Value;
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike};

pub struct Doc {
    doc: DocumentMut,
    file: String,
}

impl Doc {
    pub fn parse(text: &str, file: &str) -> Result<Doc, EditError> {
        let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            let offset = e.span().map_or(0, |s| s.start);
            let (line, column) = super::line_column(text, offset);
            EditError::Parse {
                file: file.to_owned(),
                line,
                column,
                // The message alone: the error's Display quotes the offending line, which may
                // hold a key.
                message: e.message().trim().to_owned(),
            }
        })?;
        Ok(Doc {
            doc,
            file: file.to_owned(),
        })
    }

    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    fn item(&self, path: &[&str]) -> Option<&Item> {
        let mut item = self.doc.as_item();
        for segment in path {
            item = item.as_table_like()?.get(segment)?;
        }
        Some(item)
    }

    pub fn get(&self, path: &[&str]) -> Option<Value> {
        self.item(path).and_then(item_to_json)
    }

    pub fn keys(&self, path: &[&str]) -> Vec<String> {
        self.item(path)
            .and_then(Item::as_table_like)
            .map(|t| t.iter().map(|(k, _)| k.to_owned()).collect())
            .unwrap_or_default()
    }

    pub fn set(&mut self, path: &[&str], value: &Val) -> Result<(), EditError> {
        let (last, parents) = path.split_last().expect("a path is never empty");
        let file = self.file.clone();
        let mut table: &mut dyn TableLike = self.doc.as_table_mut();
        let mut inline = false;
        for (i, segment) in parents.iter().enumerate() {
            if table.get(segment).is_none() {
                let item = if inline {
                    Item::Value(toml_edit::Value::InlineTable(InlineTable::new()))
                } else {
                    let mut t = Table::new();
                    t.set_implicit(true);
                    Item::Table(t)
                };
                table.insert(segment, item);
            }
            let item = table.get_mut(segment).expect("just made");
            inline = inline || item.is_inline_table();
            table = match item.as_table_like_mut() {
                Some(t) => t,
                None => {
                    return Err(EditError::Shape {
                        file,
                        message: format!(
                            "{} is not a table; Redline will not replace it",
                            super::show_path(&path[..=i])
                        ),
                    });
                }
            };
        }
        let mut new = to_item(
            value,
            !inline && !parents.is_empty() && matches!(value, Val::Obj(_)),
        );
        match table.get_mut(last) {
            // A table section of the user's where a setting goes: not Redline's to drop (and
            // put back elsewhere in the file on disconnect).
            Some(old) if (old.is_table() || old.is_array_of_tables()) && !new.is_table() => {
                return Err(EditError::Shape {
                    file,
                    message: format!(
                        "{} is a table; Redline will not replace it",
                        super::show_path(path)
                    ),
                });
            }
            // Replaced in place, so the key keeps its spelling and the comments before it.
            Some(old) => {
                if let (Item::Value(old), Item::Value(fresh)) = (&*old, &mut new) {
                    // And the comment after the old value (`key = "x"  # why`).
                    *fresh.decor_mut() = old.decor().clone();
                }
                *old = new;
            }
            None => {
                table.insert(last, new);
            }
        }
        Ok(())
    }

    /// The table at `path`, when every step of it is a table.
    fn table_at(&mut self, path: &[&str]) -> Option<&mut dyn TableLike> {
        let mut table: &mut dyn TableLike = self.doc.as_table_mut();
        for segment in path {
            table = table.get_mut(segment)?.as_table_like_mut()?;
        }
        Some(table)
    }

    /// Puts the item at `path` in `other` (another version of this file) in place of the one
    /// at `path` here, as `other` spells it.
    pub fn set_from(&mut self, other: &Doc, path: &[&str]) -> Result<(), EditError> {
        let (Some((last, parents)), Some(item)) = (path.split_last(), other.item(path)) else {
            return Ok(());
        };
        let Some(table) = self.table_at(parents) else {
            return Ok(());
        };
        match table.get_mut(last) {
            Some(old) => *old = item.clone(),
            None => {
                table.insert(last, item.clone());
            }
        }
        Ok(())
    }

    pub fn remove(&mut self, path: &[&str]) -> Result<(), EditError> {
        let Some((last, parents)) = path.split_last() else {
            return Ok(());
        };
        let Some(table) = self.table_at(parents) else {
            return Ok(());
        };
        table.remove(last);
        Ok(())
    }
}

/// `as_table`: an object becomes a `[section]` (with its objects inline) rather than an inline
/// table.
fn to_item(value: &Val, as_table: bool) -> Item {
    match value {
        Val::Obj(members) if as_table => {
            let mut t = Table::new();
            for (k, v) in members {
                t.insert(k, to_item(v, false));
            }
            Item::Table(t)
        }
        other => Item::Value(to_value(other)),
    }
}

fn to_value(value: &Val) -> toml_edit::Value {
    match value {
        Val::Str(s) => s.as_str().into(),
        Val::Int(n) => (*n).into(),
        Val::Bool(b) => (*b).into(),
        Val::Arr(items) => {
            let mut a = Array::new();
            for v in items {
                a.push(to_value(v));
            }
            toml_edit::Value::Array(a)
        }
        Val::Obj(members) => {
            let mut t = InlineTable::new();
            for (k, v) in members {
                t.insert(k, to_value(v));
            }
            toml_edit::Value::InlineTable(t)
        }
    }
}

fn item_to_json(item: &Item) -> Option<Value> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(value_to_json(v)),
        Item::Table(t) => Some(Value::Object(
            t.iter()
                .filter_map(|(k, v)| Some((k.to_owned(), item_to_json(v)?)))
                .collect(),
        )),
        Item::ArrayOfTables(a) => Some(Value::Array(
            a.iter()
                .map(|t| item_to_json(&Item::Table(t.clone())).unwrap_or(Value::Null))
                .collect(),
        )),
    }
}

fn value_to_json(value: &toml_edit::Value) -> Value {
    use toml_edit::Value as T;
    match value {
        T::String(s) => Value::String(s.value().clone()),
        T::Integer(n) => Value::from(*n.value()),
        T::Float(f) => serde_json::Number::from_f64(*f.value()).map_or(Value::Null, Value::Number),
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Datetime(d) => Value::String(d.value().to_string()),
        T::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        T::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), value_to_json(v)))
                .collect(),
        ),
    }
}
