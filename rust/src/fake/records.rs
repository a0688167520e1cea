//! Collections of JSON records the fake agent keeps for its CRUD routes (plugin releases,
//! containers, Docker containers), with the paging of a Django REST framework list.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use super::state::lock;

/// Records by collection name, in the order created, and the next id of each collection.
#[derive(Debug, Default)]
pub(super) struct Records {
    collections: Mutex<HashMap<&'static str, (u64, Vec<Value>)>>,
}

/// Items per page when the request does not say.
const DEFAULT_PAGE_SIZE: usize = 100;

impl Records {
    /// Stores `fields` with a new `id` (from `make_id(n)`) and returns the record.
    pub fn create(&self, collection: &'static str, fields: Map<String, Value>, make_id: fn(u64) -> Value) -> Value {
        let mut all = lock(&self.collections);
        let (next, items) = all.entry(collection).or_default();
        *next += 1;
        let mut record = fields;
        record.insert("id".into(), make_id(*next));
        let record = Value::Object(record);
        items.push(record.clone());
        record
    }

    /// The record whose `id` (as text) or `key` field equals `lookup`.
    pub fn find(&self, collection: &'static str, lookup: &str, key: &str) -> Option<Value> {
        let all = lock(&self.collections);
        let items = &all.get(collection)?.1;
        items.iter().find(|r| matches(r, lookup, key)).cloned()
    }

    /// Merges `patch` into a record; the updated record, or `None` if there is none.
    pub fn update(&self, collection: &'static str, lookup: &str, patch: &Map<String, Value>) -> Option<Value> {
        let mut all = lock(&self.collections);
        let items = &mut all.get_mut(collection)?.1;
        let record = items.iter_mut().find(|r| matches(r, lookup, ""))?;
        if let Value::Object(fields) = record {
            fields.extend(patch.iter().filter(|(k, _)| k.as_str() != "id").map(|(k, v)| (k.clone(), v.clone())));
        }
        Some(record.clone())
    }

    /// Removes a record; `false` if there was none.
    pub fn remove(&self, collection: &'static str, lookup: &str, key: &str) -> bool {
        let mut all = lock(&self.collections);
        let Some((_, items)) = all.get_mut(collection) else { return false };
        let before = items.len();
        items.retain(|r| !matches(r, lookup, key));
        items.len() != before
    }

    /// Every record of a collection.
    pub fn all(&self, collection: &'static str) -> Vec<Value> {
        lock(&self.collections).get(collection).map(|(_, items)| items.clone()).unwrap_or_default()
    }

    /// One page of a collection as `{"count", "next", "previous", "results"}`; `page` and
    /// `page_size` come from the query, whose other parameters the links keep.
    pub fn page(&self, collection: &'static str, list_url: &str, query: &[(String, String)]) -> Value {
        let items = self.all(collection);
        let number = |name: &str, default: usize| {
            query.iter().rev().find(|(k, _)| k == name).and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(default)
        };
        let page = number("page", 1).max(1);
        let size = number("page_size", DEFAULT_PAGE_SIZE).clamp(1, 1000);
        let start = (page - 1).saturating_mul(size).min(items.len());
        let end = start.saturating_add(size).min(items.len());
        let link = |to: usize| {
            let mut pairs: Vec<String> =
                query.iter().filter(|(k, _)| k != "page").map(|(k, v)| format!("{k}={v}")).collect();
            pairs.push(format!("page={to}"));
            Value::String(format!("{list_url}?{}", pairs.join("&")))
        };
        json!({
            "count": items.len(),
            "next": if end < items.len() { link(page + 1) } else { Value::Null },
            "previous": if page > 1 { link(page - 1) } else { Value::Null },
            "results": items[start..end].to_vec(),
        })
    }
}

fn matches(record: &Value, lookup: &str, key: &str) -> bool {
    let id_matches = match record.get("id") {
        Some(Value::String(id)) => id == lookup,
        Some(Value::Number(id)) => id.as_u64().is_some_and(|n| lookup.parse::<u64>() == Ok(n)),
        Some(_) => false,
        None => false,
    };
    id_matches || (!key.is_empty() && record.get(key).and_then(Value::as_str) == Some(lookup))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: u64) -> Value {
        json!(n)
    }

    #[test]
    fn pages_follow_the_rest_framework_shape() {
        let records = Records::default();
        for name in ["a", "b", "c"] {
            let mut fields = Map::new();
            fields.insert("code".into(), json!(name));
            records.create("things", fields, numbered);
        }
        let query = vec![("page_size".to_owned(), "2".to_owned()), ("q".to_owned(), "x".to_owned())];
        let first = records.page("things", "http://h/things/", &query);
        assert_eq!(first["count"], 3);
        assert_eq!(first["next"], "http://h/things/?page_size=2&q=x&page=2");
        assert_eq!(first["results"].as_array().map(Vec::len), Some(2));
        let query = vec![("page_size".to_owned(), "2".to_owned()), ("page".to_owned(), "2".to_owned())];
        let last = records.page("things", "http://h/things/", &query);
        assert_eq!((last["next"].clone(), last["results"][0]["code"].clone()), (Value::Null, json!("c")));
        assert_eq!(records.find("things", "c", "code").map(|r| r["id"].clone()), Some(json!(3)));
        assert!(records.remove("things", "2", "code") && !records.remove("things", "2", "code"));
    }
}
