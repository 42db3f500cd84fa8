//! `--set KEY=VALUE`: change one field of a scenario from the command line.
//!
//! KEY is a dotted path; an element of an array of tables is picked by index (`pools[0].count`,
//! `pools.0.count`) or by its `name` (`pools.crowd.count`). VALUE is a TOML value; anything that
//! does not parse as one is taken as a string, so `run.horizon=3d` needs no quotes.
//!
//! `run.horizon` and `run.tasks` are alternatives: setting one removes the other. A whole table
//! (`[run]`, a `[[pools]]` entry) is never replaced by `--set` (`run={}` would silently reset
//! every field of it to its default); its fields are set one by one, and `--unset KEY` removes a
//! field or a table.

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
    let parts = parts_of(key);
    if parts.is_empty() {
        return Err("the key is empty".into());
    }
    let mut resolved = String::new();
    set_in_table(doc.as_table_mut(), &parts, new_value, &mut resolved)?;
    // The two ways to end arrivals exclude each other: the one just set wins.
    let other = match resolved.as_str() {
        "run.tasks" => Some("horizon"),
        "run.horizon" => Some("tasks"),
        _ => None,
    };
    if let (Some(other), Some(run)) = (other, doc.get_mut("run").and_then(Item::as_table_like_mut)) {
        run.remove(other);
    }
    Ok(resolved)
}

fn parts_of(key: &str) -> Vec<String> {
    key.trim().replace('[', ".").replace(']', "").split('.').filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// Removes one field or table (`--unset KEY`); returns the resolved path. Removing what is not
/// there is an error, so that a misspelt key does not pass unnoticed.
pub fn unset(doc: &mut DocumentMut, key: &str) -> Result<String, String> {
    let parts = parts_of(key);
    if parts.is_empty() {
        return Err("the key is empty".into());
    }
    let mut resolved = String::new();
    unset_in(doc.as_table_mut(), &parts, &mut resolved)?;
    Ok(resolved)
}

fn unset_in(t: &mut dyn toml_edit::TableLike, parts: &[String], resolved: &mut String) -> Result<(), String> {
    let (part, rest) = (&parts[0], &parts[1..]);
    push(resolved, part);
    let missing = |r: &str| format!("{r} is not in the scenario, so it cannot be unset");
    if rest.is_empty() {
        return t.remove(part).map(|_| ()).ok_or_else(|| missing(resolved));
    }
    match t.get_mut(part).ok_or_else(|| missing(resolved))? {
        Item::ArrayOfTables(aot) => {
            let idx = match rest[0].parse::<usize>() {
                Ok(n) if n < aot.len() => Some(n),
                Ok(_) => None,
                Err(_) => aot.iter().position(|t| t.get("name").and_then(|n| n.as_str()) == Some(rest[0].as_str())),
            };
            let idx = idx.ok_or_else(|| format!("no entry {:?} in {resolved}", rest[0]))?;
            resolved.push_str(&format!("[{idx}]"));
            if rest.len() == 1 {
                return Err(format!("{resolved} is a whole entry of a list; remove it from the file, or unset one of its fields"));
            }
            unset_in(aot.get_mut(idx).expect("index checked"), &rest[1..], resolved)
        }
        Item::Table(sub) => unset_in(sub, rest, resolved),
        Item::Value(Value::InlineTable(it)) => unset_in(it, rest, resolved),
        _ => Err(format!("{resolved} is not a table, so it has no field {:?}", rest[0])),
    }
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
        match t.get(part) {
            Some(Item::Table(_)) => return Err(whole_table(resolved)),
            Some(Item::ArrayOfTables(_)) => return Err(format!("{resolved} is a list of tables; set a field of one entry (e.g. {resolved}.0.name=...)")),
            _ => {}
        }
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
        Item::Value(Value::Array(a)) => set_in_array(a, rest, v, resolved),
        _ => Err(format!("{resolved} is not a table, so it has no field {:?}", rest[0])),
    }
}

/// A field of an entry of an inline list of tables, picked by index: a workflow's edges,
/// `streams.images.stages.prelabel.next[0].when.model_confidence_below=0.9`.
fn set_in_array(a: &mut toml_edit::Array, rest: &[String], v: Value, resolved: &mut String) -> Result<(), String> {
    let idx = match rest[0].parse::<usize>() {
        Ok(n) if n < a.len() => n,
        Ok(n) => return Err(format!("{resolved} has {} entries; index {n} is out of range", a.len())),
        Err(_) => return Err(format!("{resolved} is a list: pick an entry by its index (e.g. {resolved}[0]), not {:?}", rest[0])),
    };
    resolved.push_str(&format!("[{idx}]"));
    match a.get_mut(idx) {
        Some(Value::InlineTable(it)) if rest.len() > 1 => set_in_inline(it, &rest[1..], v, resolved),
        Some(Value::InlineTable(_)) => Err(whole_table(resolved)),
        _ => Err(format!("{resolved} is not a table, so it has no field {:?}", rest.get(1).map_or("", |s| s.as_str()))),
    }
}

fn whole_table(resolved: &str) -> String {
    format!("{resolved} is a whole table: --set would reset every field of it; set its fields one by one (e.g. {resolved}.FIELD=VALUE) or remove it with --unset {resolved}")
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
        Some(Value::Array(a)) => set_in_array(a, rest, v, resolved),
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
    fn sets_a_field_of_an_inline_list_entry_by_index() {
        let text = "[[streams]]\nname = \"s\"\n[[streams.stages]]\nname = \"pre\"\nnext = [{ to = \"label\", when = { model_confidence_below = 0.9 } }, { to = \"audit\" }]\n";
        let (r, out) = set(text, "streams.s.stages.pre.next[0].when.model_confidence_below=0.97").unwrap();
        assert_eq!(r, "streams[0].stages[0].next[0].when.model_confidence_below");
        assert!(out.contains("model_confidence_below = 0.97"), "{out}");
        let e = set(text, "streams.s.stages.pre.next[2].to=final").unwrap_err();
        assert!(e.contains("has 2 entries"), "{e}");
        let e = set(text, "streams.s.stages.pre.next.first.to=final").unwrap_err();
        assert!(e.contains("pick an entry by its index"), "{e}");
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
    #[test]
    fn tables_are_not_replaced_and_fields_can_be_unset() {
        let text = "[run]\nhorizon = \"3d\"\nseed = 4\n[[pools]]\nname = \"crowd\"\nlearning = { speedup = 0.2 }\n";
        assert!(set(text, "run={}").unwrap_err().contains("whole table"));
        assert!(set(text, "pools={}").unwrap_err().contains("list of tables"));
        let (_, out) = set(text, "run.tasks=100").unwrap();
        assert!(out.contains("tasks = 100") && !out.contains("horizon"), "{out}");
        let (_, out) = set("[run]\ntasks = 5\n", "run.horizon=2d").unwrap();
        assert!(out.contains("horizon") && !out.contains("tasks"), "{out}");
        let mut doc: DocumentMut = text.parse().unwrap();
        assert_eq!(unset(&mut doc, "run.seed").unwrap(), "run.seed");
        assert_eq!(unset(&mut doc, "pools.crowd.learning.speedup").unwrap(), "pools[0].learning.speedup");
        assert_eq!(unset(&mut doc, "pools.crowd.learning").unwrap(), "pools[0].learning");
        assert!(!doc.to_string().contains("seed") && !doc.to_string().contains("learning"), "{doc}");
        assert!(unset(&mut doc, "run.seed").unwrap_err().contains("not in the scenario"));
        assert!(unset(&mut doc, "pools.nobody.count").unwrap_err().contains("no entry"));
        assert_eq!(unset(&mut doc, "run").unwrap(), "run");
    }
}
