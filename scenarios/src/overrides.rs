//! `--set KEY=VALUE`: change one field of a scenario from the command line.
//!
//! KEY is a dotted path; an element of an array of tables is picked by index (`pools[0].count`,
//! `pools.0.count`) or by its `name` (`pools.crowd.count`). VALUE is a TOML value; anything that
//! does not parse as one is taken as a string, so `run.horizon=3d` needs no quotes.

use toml_edit::{value, DocumentMut, InlineTable, Item, Table, Value};

/// Applies one override; returns the resolved index path (e.g. `pools[0].count`).
pub fn apply(doc: &mut DocumentMut, spec: &str) -> Result<String, String> {
    let (key, raw) = spec
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE (e.g. pools.crowd.count=60), found {spec:?}"))?;
    let new_value: Value = match raw.trim().parse::<Value>() {
        Ok(v) => v,
        Err(_) => Value::from(raw.trim()),
    };
    let parts: Vec<String> = key
        .trim()
        .replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if parts.is_empty() {
        return Err("the key is empty".into());
    }
    let mut resolved = String::new();
    set_in_table(doc.as_table_mut(), &parts, new_value, &mut resolved)?;
    Ok(resolved)
}

fn push(resolved: &mut String, part: &str) {
    if !resolved.is_empty() {
        resolved.push('.');
    }
    resolved.push_str(part);
}

fn set_in_table(t: &mut Table, parts: &[String], v: Value, resolved: &mut String) -> Result<(), String> {
    let (part, rest) = (&parts[0], &parts[1..]);
    push(resolved, part);
    if rest.is_empty() {
        t.insert(part, value(v));
        return Ok(());
    }
    match t.entry(part).or_insert_with(|| Item::Table(Table::new())) {
        Item::ArrayOfTables(aot) => {
            let names: Vec<String> = aot.iter().map(|t| t.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string()).collect();
            let idx = match rest[0].parse::<usize>() {
                Ok(n) if n < aot.len() => n,
                Ok(n) => return Err(format!("{resolved} has {} entries; index {n} is out of range", aot.len())),
                Err(_) => names.iter().position(|n| *n == rest[0]).ok_or_else(|| {
                    let known: Vec<&str> = names.iter().filter(|n| !n.is_empty()).map(String::as_str).collect();
                    format!("no entry of {resolved} is named {:?} (names: {})", rest[0], known.join(", "))
                })?,
            };
            resolved.push_str(&format!("[{idx}]"));
            if rest.len() == 1 {
                return Err(format!("{resolved} is a whole table; name one of its fields"));
            }
            set_in_table(aot.get_mut(idx).expect("index checked"), &rest[1..], v, resolved)
        }
        Item::Table(sub) => set_in_table(sub, rest, v, resolved),
        Item::Value(Value::InlineTable(it)) => set_in_inline(it, rest, v, resolved),
        _ => Err(format!("{resolved} is not a table, so it has no field {:?}", rest[0])),
    }
}

fn set_in_inline(t: &mut InlineTable, parts: &[String], v: Value, resolved: &mut String) -> Result<(), String> {
    let (part, rest) = (&parts[0], &parts[1..]);
    push(resolved, part);
    if rest.is_empty() {
        t.insert(part, v);
        return Ok(());
    }
    if t.get(part).is_none() {
        t.insert(part, Value::InlineTable(InlineTable::new()));
    }
    match t.get_mut(part) {
        Some(Value::InlineTable(sub)) => set_in_inline(sub, rest, v, resolved),
        _ => Err(format!("{resolved} is not a table, so it has no field {:?}", rest[0])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn set(text: &str, spec: &str) -> Result<(String, String), String> {
        let mut doc: DocumentMut = text.parse().unwrap();
        let r = apply(&mut doc, spec)?;
        Ok((r, doc.to_string()))
    }
    #[test]
    fn sets_by_name_index_and_creates_tables() {
        let text = "[[pools]]\nname = \"crowd\"\ncount = 3\n[[pools]]\nname = \"experts\"\ncount = 1\n";
        let (r, out) = set(text, "pools.experts.count=7").unwrap();
        assert_eq!(r, "pools[1].count");
        assert!(out.contains("count = 7"));
        let (r, _) = set(text, "pools[0].count=9").unwrap();
        assert_eq!(r, "pools[0].count");
        let (_, out) = set(text, "run.horizon=3d").unwrap();
        assert!(out.contains("horizon = \"3d\""), "{out}");
        let (_, out) = set("[[pools]]\nservice.bbox = { median = \"3s\" }\n", "pools.0.service.bbox.median=5s").unwrap();
        assert!(out.contains("\"5s\""), "{out}");
        assert!(set(text, "pools.nobody.count=1").unwrap_err().contains("crowd, experts"));
        assert!(set(text, "pools.5.count=1").unwrap_err().contains("out of range"));
        assert!(set(text, "novalue").unwrap_err().contains("KEY=VALUE"));
    }
}
