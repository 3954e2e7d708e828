//! The JSON shape of every list result: `{"items": [...]}` (docs/json.md), an object rather than
//! a bare array so that a field can be added later without breaking a reader.

use serde::Serialize;

#[derive(Serialize)]
pub struct Items<'a, T: Serialize> {
    pub items: &'a [T],
}

impl<'a, T: Serialize> Items<'a, T> {
    pub fn of(items: &'a [T]) -> Items<'a, T> {
        Items { items }
    }
}
