//! Maps key paths and byte offsets back to line and column for error messages.

use toml_edit::{ImDocument, Item, Value};

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_string())
    }
}
impl From<&String> for Seg {
    fn from(s: &String) -> Self {
        Seg::Key(s.clone())
    }
}
impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// `connections.dc-b.local_addrs[0]`.
pub fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A position in the document: a full item (tables) or a value (inside inline
/// tables and arrays).
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
}

/// Start offset of the deepest part of `path` that exists in the document: the
/// value if present, else the key, else the nearest enclosing table.
pub fn span_of(doc: &ImDocument<&str>, path: &[Seg]) -> Option<usize> {
    let mut node = Node::Item(doc.as_item());
    let mut best = None;
    for seg in path {
        let next = match (seg, node) {
            (Seg::Key(k), Node::Item(Item::Table(t))) => t.get_key_value(k).map(|(key, it)| {
                best = key.span().map(|s| s.start).or(best);
                Node::Item(it)
            }),
            (Seg::Key(k), Node::Item(Item::Value(Value::InlineTable(t))))
            | (Seg::Key(k), Node::Value(Value::InlineTable(t))) => {
                t.get_key_value(k).map(|(key, v)| {
                    best = key.span().map(|s| s.start).or(best);
                    Node::Item(v)
                })
            }
            (Seg::Index(i), Node::Item(Item::Value(Value::Array(a))))
            | (Seg::Index(i), Node::Value(Value::Array(a))) => a.get(*i).map(Node::Value),
            _ => None,
        };
        let Some(n) = next else { break };
        node = n;
        let span = match node {
            Node::Item(Item::Table(_)) => None, // keep the header key's position
            Node::Item(it) => it.span(),
            Node::Value(v) => v.span(),
        };
        if let Some(s) = span {
            best = Some(s.start);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys() {
        let src =
            "[daemon]\nlisten = [\"x\"]\n\n[connections.a]\nlocal_addrs = [\"1.2.3.4\", \"bad\"]\n";
        let doc = ImDocument::parse(src).expect("parse");
        let off = span_of(
            &doc,
            &["connections".into(), "a".into(), "local_addrs".into()],
        )
        .expect("span");
        assert_eq!(line_col(src, off).0, 5);
        let off = span_of(&doc, &["daemon".into(), "listen".into()]).expect("span");
        assert_eq!(line_col(src, off), (2, 10));
        let off = span_of(
            &doc,
            &[
                "connections".into(),
                "a".into(),
                "local_addrs".into(),
                Seg::Index(1),
            ],
        )
        .expect("span");
        assert_eq!(line_col(src, off), (5, 27));
        assert_eq!(
            display_path(&["c".into(), "x".into(), Seg::Index(2)]),
            "c.x[2]"
        );
    }
}
