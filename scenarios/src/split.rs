//! A scenario's pools split into shift tours, in its text (comments and layout kept): how
//! `tessera plan --shifts` writes a plan whose headcount is per pool per shift.

use crate::error::{Issue, ScenarioError};
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Table, Value};

/// Sets `key` to `v`, keeping the old value's comments and spacing.
fn set(t: &mut Table, key: &str, mut v: Value) {
    match t.get_mut(key).and_then(|i| i.as_value_mut()) {
        Some(old) => {
            *v.decor_mut() = old.decor().clone();
            *old = v;
        }
        None => t[key] = value(v),
    }
}

/// One copy of a pool: its new name, calendar (`shifts`) and headcount.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolCopy {
    pub name: String,
    pub shifts: Vec<String>,
    pub count: i64,
}

/// `text` with pool `i` (index in `pools`) replaced, in place, by its copies, for every
/// `(i, copies)` in `split`; a pool given no copies is removed. Errors name `origin`.
pub fn split_pools(text: &str, origin: &str, split: &[(usize, Vec<PoolCopy>)]) -> Result<String, ScenarioError> {
    let bad = |message: String| ScenarioError::Invalid(vec![Issue { location: origin.to_string(), path: "pools".into(), message }]);
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| bad(e.message().trim().to_string()))?;
    let pools = doc.get_mut("pools").and_then(|p| p.as_array_of_tables_mut()).ok_or_else(|| bad("expected [[pools]] tables".into()))?;
    if let Some((i, _)) = split.iter().find(|(i, _)| *i >= pools.len()) {
        return Err(bad(format!("no pool at index {i} (the scenario has {})", pools.len())));
    }
    let mut out = ArrayOfTables::new();
    // Names of split pools and of their copies, for the workflow stages that name them.
    let mut renamed: Vec<(String, Vec<String>)> = Vec::new();
    for (i, table) in pools.iter().enumerate() {
        match split.iter().find(|(j, _)| *j == i) {
            None => out.push(table.clone()),
            Some((_, copies)) => {
                let name = table.get("name").and_then(|v| v.as_str()).map_or_else(|| format!("pool-{i}"), str::to_string);
                renamed.push((name, copies.iter().map(|c| c.name.clone()).collect()));
                for c in copies {
                    let mut t = table.clone();
                    set(&mut t, "name", c.name.as_str().into());
                    set(&mut t, "shifts", c.shifts.iter().map(String::as_str).collect::<Array>().into());
                    set(&mut t, "count", c.count.into());
                    out.push(t);
                }
            }
        }
    }
    *pools = out;
    // A workflow stage that names a split pool names its copies instead.
    if let Some(streams) = doc.get_mut("streams").and_then(|s| s.as_array_of_tables_mut()) {
        for stream in streams.iter_mut() {
            let Some(stages) = stream.get_mut("stages").and_then(|s| s.as_array_of_tables_mut()) else { continue };
            for stage in stages.iter_mut() {
                let Some(names) = stage.get("pools").and_then(|p| p.as_array()) else { continue };
                let old: Vec<String> = names.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
                if !old.iter().any(|n| renamed.iter().any(|(r, _)| r == n)) {
                    continue;
                }
                let new: Array = old.iter().flat_map(|n| renamed.iter().find(|(r, _)| r == n).map_or_else(|| vec![n.clone()], |(_, c)| c.clone())).collect();
                set(stage, "pools", new.into());
            }
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_stages_name_the_copies_of_a_split_pool() {
        let text = "[[streams]]\nname = \"s\"\n[[streams.stages]]\nname = \"lab\"\nkind = \"label\"\npools = [\"a\", \"b\"]  # who labels\n[[streams.stages]]\nname = \"rev\"\nkind = \"review\"\npools = [\"b\"]\n\n[[pools]]\nname = \"a\"\n\n[[pools]]\nname = \"b\"\n";
        let copies = vec![PoolCopy { name: "a@early".into(), shifts: vec!["mon-fri 06:00-14:00".into()], count: 3 }, PoolCopy { name: "a@late".into(), shifts: vec!["mon-fri 14:00-22:00".into()], count: 1 }];
        let out = split_pools(text, "x.toml", &[(0, copies)]).unwrap();
        assert!(out.contains("pools = [\"a@early\", \"a@late\", \"b\"]  # who labels"), "{out}");
        let doc: toml::Table = out.parse().unwrap();
        let stages = doc["streams"].as_array().unwrap()[0]["stages"].as_array().unwrap();
        assert_eq!(stages[1]["pools"].as_array().unwrap().len(), 1, "a stage naming no split pool is left as it is");
    }

    #[test]
    fn pools_are_replaced_by_their_copies_in_place_and_comments_stay() {
        let text = "name = \"x\"\n\n[[pools]]\nname = \"a\"  # the crowd\ncount = 5\nshifts = [\"daily 08:00-16:00\"]\npay = { per_hour = 10.0 }\n\n[[pools]]\nname = \"b\"\ncount = 2\n";
        let copies = vec![PoolCopy { name: "a@early".into(), shifts: vec!["mon-fri 06:00-14:00".into()], count: 3 }, PoolCopy { name: "a@late".into(), shifts: vec!["mon-fri 14:00-22:00".into()], count: 1 }];
        let out = split_pools(text, "x.toml", &[(0, copies)]).unwrap();
        let doc: toml::Table = out.parse().unwrap();
        let pools = doc["pools"].as_array().unwrap();
        let names: Vec<&str> = pools.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a@early", "a@late", "b"]);
        assert_eq!(pools[1]["count"].as_integer(), Some(1));
        assert_eq!(pools[0]["shifts"].as_array().unwrap()[0].as_str(), Some("mon-fri 06:00-14:00"));
        assert_eq!(pools[0]["pay"]["per_hour"].as_float(), Some(10.0));
        assert!(out.contains("# the crowd"), "{out}");
        // No copies: the pool goes; a bad index is an error naming the file.
        let out = split_pools(text, "x.toml", &[(1, vec![])]).unwrap();
        assert_eq!(out.parse::<toml::Table>().unwrap()["pools"].as_array().unwrap().len(), 1);
        let e = split_pools(text, "x.toml", &[(7, vec![])]).unwrap_err().to_string();
        assert!(e.contains("x.toml") && e.contains("index 7"), "{e}");
    }
}
