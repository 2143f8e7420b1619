//! The OpenAPI 3.1 document served at `/api/openapi.json`, assembled from `openapi.json`
//! (info, components, and each operation under `x-operations` by its id) and [`ROUTES`]
//! (which path and method serve each operation, and who may call it).
//!
//! The `paths` are never written by hand: a route in the table is documented by
//! construction, an operation no route serves is an error, and so is a route whose operation
//! is missing. A test builds the document, so such an error never reaches a release.

use crate::routes::{Access, ROUTES};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The hand-written part: everything but `paths`.
const SOURCE: &str = include_str!("openapi.json");

/// Operations not yet placed under a path.
const OPERATIONS: &str = "x-operations";

/// The served document, built once; or why it could not be built.
pub fn document() -> &'static Result<String, String> {
    static DOCUMENT: OnceLock<Result<String, String>> = OnceLock::new();
    DOCUMENT.get_or_init(|| build().map(|doc| format!("{doc:#}")))
}

fn build() -> Result<Value, String> {
    let mut doc: Value =
        serde_json::from_str(SOURCE).map_err(|e| format!("openapi.json is not valid JSON: {e}"))?;
    let root = doc
        .as_object_mut()
        .ok_or("openapi.json is not a JSON object")?;
    let mut operations = match root.remove(OPERATIONS) {
        Some(Value::Object(operations)) => operations,
        _ => return Err(format!("openapi.json has no object `{OPERATIONS}`")),
    };
    if root.contains_key("paths") {
        return Err("openapi.json must not write `paths`: they come from ROUTES".into());
    }
    let mut paths = Map::new();
    for route in ROUTES {
        let id = route.operation_id;
        let Some(Value::Object(mut operation)) = operations.remove(id) else {
            return Err(format!(
                "{} {}: no operation `{id}` under `{OPERATIONS}` in openapi.json (or used twice)",
                route.method.openapi_key(),
                route.path
            ));
        };
        operation.insert("operationId".into(), id.into());
        document_access(&mut operation, route.access);
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(item) = item.as_object_mut() else {
            return Err(format!("{}: not a path item", route.path));
        };
        if item
            .insert(route.method.openapi_key().into(), operation.into())
            .is_some()
        {
            return Err(format!(
                "{} {} is in ROUTES twice",
                route.method.openapi_key(),
                route.path
            ));
        }
    }
    if let Some(unused) = operations.keys().next() {
        return Err(format!(
            "operation `{unused}` of openapi.json is served by no route in ROUTES"
        ));
    }
    root.insert("paths".into(), paths.into());
    Ok(doc)
}

/// States the route's [`Access`] in the operation, so the document cannot claim a probe
/// needs a token or forget that an API route may.
fn document_access(operation: &mut Map<String, Value>, access: Access) {
    match access {
        Access::Open => {
            operation.insert("security".into(), json!([]));
        }
        Access::Token => {
            operation.insert("security".into(), json!([{ "bearer": [] }]));
            if let Some(Value::Object(responses)) = operation.get_mut("responses") {
                responses.entry("401").or_insert_with(|| {
                    json!({
                        "description": "Tokens are configured and the request has no valid one",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                    })
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_builds_with_no_operation_left_over() {
        let doc = build().unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let operations: usize = paths
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, ROUTES.len());
        assert!(doc.get(OPERATIONS).is_none());
        assert_eq!(document().as_ref().unwrap(), &format!("{doc:#}"));
    }
}
