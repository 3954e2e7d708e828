//! A validator for the subset of JSON Schema (draft 2020-12) that `docs/schemas/` uses, so the
//! tests can check real outputs of the binary against the documented schemas without a schema
//! crate (and without any remote `$ref`). It refuses every keyword it does not implement: a
//! schema cannot silently ask for more than is checked.
//!
//! Implemented: `type` (one name or a list), `properties`, `required`, `additionalProperties`
//! (`false` or a schema), `items`, `enum`, `const`, `minimum`, and `$ref` to `#/$defs/NAME`.
//! Annotations (`$schema`, `$id`, `title`, `description`) are ignored; `$defs` is allowed at
//! the root only.

use std::path::PathBuf;

use serde_json::Value;

use crate::harness::project_root;

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "$ref",
    "$schema",
    "$id",
    "title",
    "description",
];

/// `docs/schemas/<name>.schema.json`.
pub fn path(name: &str) -> PathBuf {
    project_root()
        .join("docs/schemas")
        .join(format!("{name}.schema.json"))
}

/// The schema `name` from `docs/schemas/`.
pub fn load(name: &str) -> Value {
    let p = path(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}

/// Every violation of `schema` by `instance`, as `path: what` lines; empty when it conforms.
pub fn violations(schema: &Value, instance: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, schema, instance, "$", &mut out);
    out
}

/// Panic with every violation (and the document) unless `text` is one JSON document that
/// conforms to the schema `name`; returns the parsed document.
pub fn assert_conforms(name: &str, text: &[u8]) -> Value {
    let doc: Value = serde_json::from_slice(text).unwrap_or_else(|e| {
        panic!(
            "output for {name} is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(text)
        )
    });
    let errors = violations(&load(name), &doc);
    assert!(
        errors.is_empty(),
        "output does not conform to docs/schemas/{name}.schema.json:\n  {}\n{doc:#}",
        errors.join("\n  ")
    );
    doc
}

/// Panic unless every (nested) schema of `schema` uses only the implemented keywords.
pub fn assert_supported(schema: &Value, at: &str) {
    let obj = schema
        .as_object()
        .unwrap_or_else(|| panic!("{at}: a schema must be an object"));
    for (key, sub) in obj {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "$defs" | "properties" => {
                assert!(
                    at.is_empty() || key != "$defs",
                    "{here}: $defs only at the root"
                );
                for (name, s) in sub.as_object().unwrap() {
                    assert_supported(s, &format!("{here}/{name}"));
                }
            }
            "items" => assert_supported(sub, &here),
            "additionalProperties" if sub.is_object() => assert_supported(sub, &here),
            k => assert!(
                KEYWORDS.contains(&k),
                "{here}: schema keyword {k:?} is not implemented by tests/integration/schema.rs"
            ),
        }
    }
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        other => panic!("unknown type {other:?} in a schema"),
    }
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        panic!("{at}: a schema must be an object, not {schema}");
    };
    for key in schema.keys() {
        let at_root = key == "$defs" && std::ptr::eq(schema, root.as_object().unwrap());
        assert!(
            KEYWORDS.contains(&key.as_str()) || at_root,
            "{at}: schema keyword {key:?} is not implemented by tests/integration/schema.rs"
        );
    }
    if let Some(r) = schema.get("$ref") {
        let name = r
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .unwrap_or_else(|| panic!("{at}: only local #/$defs/ references: {r}"));
        let target = root["$defs"]
            .get(name)
            .unwrap_or_else(|| panic!("{at}: no $defs/{name}"));
        check(root, target, v, at, out);
    }
    if let Some(t) = schema.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().map(|n| n.as_str().unwrap()).collect(),
            other => panic!("{at}: bad type {other}"),
        };
        if !names.iter().any(|n| type_matches(n, v)) {
            out.push(format!("{at}: expected {}, found {v}", names.join(" or ")));
            return;
        }
    }
    if let Some(e) = schema.get("enum")
        && !e.as_array().unwrap().contains(v)
    {
        out.push(format!("{at}: {v} is not one of {e}"));
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        out.push(format!("{at}: {v} is not {c}"));
    }
    if let (Some(min), Some(n)) = (schema.get("minimum"), v.as_f64())
        && n < min.as_f64().unwrap()
    {
        out.push(format!("{at}: {n} is below the minimum {min}"));
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap();
            if !obj.contains_key(name) {
                out.push(format!("{at}: required field {name:?} is missing"));
            }
        }
        for (name, value) in obj {
            let field = format!("{at}.{name}");
            match props.and_then(|p| p.get(name)) {
                Some(sub) => check(root, sub, value, &field, out),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        out.push(format!("{at}: field {name:?} is not in the schema"));
                    }
                    Some(Value::Bool(true)) | None => {}
                    Some(sub) => check(root, sub, value, &field, out),
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (n, item) in arr.iter().enumerate() {
            check(root, items, item, &format!("{at}[{n}]"), out);
        }
    }
}
