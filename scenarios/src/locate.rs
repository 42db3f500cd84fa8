//! Maps a dotted field path (`pools[0].service.bbox.median`) to its line and column in the TOML
//! text, using toml_edit's spans.

use toml_edit::{ImDocument, Item};

/// 1-based (line, column) of byte offset `at` in `text`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) + 1;
    (line, col)
}

/// Path segments: keys and indices.
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Splits `a.b[2].c` into segments.
pub fn segments(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                out.push(Seg::Key(rest[..open].to_string()));
            }
            rest = &rest[open..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let close = stripped.find(']').unwrap_or(stripped.len());
                if let Ok(i) = stripped[..close].parse() {
                    out.push(Seg::Index(i));
                }
                rest = stripped.get(close + 1..).unwrap_or("");
            }
        } else if !part.is_empty() {
            out.push(Seg::Key(part.to_string()));
        }
    }
    out
}

/// Byte offset of the deepest item on `path` that exists in the document.
pub fn locate(doc: &ImDocument<&str>, path: &str) -> Option<usize> {
    let mut item: &Item = doc.as_item();
    let mut best = None;
    for seg in segments(path) {
        let next = match &seg {
            Seg::Key(k) => {
                // Prefer the key's own position: it is where a person looks.
                let key_span = match item {
                    Item::Table(t) => t.key(k).and_then(|k| k.span()).map(|r| r.start),
                    Item::Value(v) => v.as_inline_table().and_then(|t| t.key(k)).and_then(|k| k.span()).map(|r| r.start),
                    _ => None,
                };
                let next = item.get(k.as_str());
                if let Some(s) = next.and_then(value_span).or(key_span) {
                    best = Some(s);
                }
                next
            }
            Seg::Index(i) => {
                let next = item.get(*i);
                if let Some(s) = next.and_then(value_span) {
                    best = Some(s);
                }
                next
            }
        };
        match next {
            Some(n) => item = n,
            None => break,
        }
    }
    best
}

fn value_span(item: &Item) -> Option<usize> {
    match item {
        Item::Value(v) => v.span().map(|r| r.start),
        Item::Table(t) => t.span().map(|r| r.start),
        _ => item.span().map(|r| r.start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn finds_nested_fields() {
        let text = "[run]\nhorizon = \"1d\"\n\n[[pools]]\nname = \"a\"\n\n[[pools]]\nname = \"b\"\ncount = -3\nservice.bbox = { median = \"3s\" }\n";
        let doc = ImDocument::parse(text).unwrap();
        let at = locate(&doc, "pools[1].count").unwrap();
        assert_eq!(line_col(text, at), (9, 9));
        let at = locate(&doc, "pools[1].service.bbox.median").unwrap();
        assert_eq!(line_col(text, at).0, 10);
        let at = locate(&doc, "run.horizon").unwrap();
        assert_eq!(line_col(text, at), (2, 11));
        // Missing leaf: falls back to the deepest existing parent.
        let at = locate(&doc, "pools[1].nope").unwrap();
        assert_eq!(line_col(text, at).0, 7);
    }
}
