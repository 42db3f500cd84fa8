//! The API's edges: tenant isolation on every object, hostile bodies on every endpoint (never a
//! 500, always a JSON error naming the field), and the OpenAPI document against the routes.

mod common;
use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_live::clock::ManualClock;

struct World {
    _dir: tempfile::TempDir,
    s: Server,
    key: String,
    project: i64,
    task: i64,
    annotator: i64,
    token: String,
    assignment: u64,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("live.db"), Arc::new(ManualClock::new(T0)));
    let key = tenant(&s, "a");
    let (project, _) = project(&s, &key, &one_stream(2), 600.0);
    let task = task(&s, &key, project, json!({ "payload": { "img": "x.png" }, "callback_url": "http://127.0.0.1:9/h" }));
    let (annotator, token) = annotator(&s, &key, project, json!({ "external_id": "a1" }));
    let assignment = next(&s, annotator, &token).unwrap()["assignment_id"].as_u64().unwrap();
    World { _dir: dir, s, key, project, task, annotator, token, assignment }
}

/// Every route with a body or an id, as (method, path).
fn routes(w: &World) -> Vec<(&'static str, String)> {
    let (p, t, a, g) = (w.project, w.task, w.annotator, w.assignment);
    vec![
        ("GET", format!("/v1/projects/{p}")),
        ("POST", format!("/v1/projects/{p}/annotators")),
        ("POST", format!("/v1/projects/{p}/tasks")),
        ("POST", format!("/v1/projects/{p}/tasks/bulk")),
        ("GET", format!("/v1/projects/{p}/tasks")),
        ("GET", format!("/v1/projects/{p}/export")),
        ("GET", format!("/v1/projects/{p}/trace")),
        ("GET", format!("/v1/tasks/{t}")),
        ("GET", format!("/v1/tasks/{t}/answers")),
        ("GET", format!("/v1/tasks/{t}/deliveries")),
        ("POST", format!("/v1/tasks/{t}/redeliver")),
        ("POST", format!("/v1/annotators/{a}/next")),
        ("POST", format!("/v1/annotators/{a}/assignments/{g}/submit")),
        ("POST", format!("/v1/annotators/{a}/assignments/{g}/return")),
        ("POST", format!("/v1/annotators/{a}/assignments/{g}/skip")),
        ("POST", format!("/v1/annotators/{a}/assignments/{g}/heartbeat")),
    ]
}

#[test]
fn another_tenant_sees_nothing() {
    let w = world();
    let other = tenant(&w.s, "b");
    for (method, path) in routes(&w) {
        // A valid body, so that only ownership can refuse it.
        let body = match (method, path.rsplit('/').next().unwrap()) {
            ("GET", _) => None,
            (_, "annotators") => Some(json!({ "external_id": "x" })),
            (_, "bulk") => Some(json!({ "tasks": [{}] })),
            (_, "submit") => Some(json!({ "label": 1 })),
            _ => Some(json!({})),
        };
        let (st, v) = w.s.call(method, &path, &other, body);
        assert_eq!(st, 404, "{method} {path} with another tenant's key: {v}");
        assert_eq!(v["error"], "not_found", "{method} {path}: {v}");
    }
    // A person's token cannot act as the tenant, nor for another person.
    let (st, _) = w.s.call("GET", &format!("/v1/tasks/{}", w.task), &w.token, None);
    assert_eq!(st, 403);
    let (st, _) = w.s.call("POST", "/v1/projects", &w.key, Some(json!({ "name": "x", "settings": ONE_STREAM })));
    assert_eq!(st, 201, "the owner may");
    let (st, _) = w.s.call("POST", "/v1/tenants", &w.key, Some(json!({ "name": "x" })));
    assert_eq!(st, 403, "a tenant key cannot create tenants");
    let (st, _) = w.s.call("POST", "/v1/tenants/999/keys", ADMIN, None);
    assert_eq!(st, 404, "no key for a tenant that does not exist");
    let (st, k) = w.s.call("POST", "/v1/tenants/1/keys", ADMIN, None);
    assert_eq!(st, 201);
    let (st, _) = w.s.call("GET", &format!("/v1/tasks/{}", w.task), k["api_key"].as_str().unwrap(), None);
    assert_eq!(st, 200, "a second key of the same tenant works");
    let (st, v) = w.s.call("GET", &format!("/v1/tasks/{}", w.task), "tsk_forged", None);
    assert_eq!((st, v["error"].as_str()), (401, Some("unauthorized")));
}

#[test]
fn hostile_bodies_get_a_json_error_that_names_the_field_and_never_a_500() {
    let w = world();
    let posts: Vec<String> = routes(&w).into_iter().filter(|(m, _)| *m == "POST").map(|(_, p)| p).chain(["/v1/projects".to_string()]).collect();
    let big = format!("{{\"payload\":\"{}\"}}", "x".repeat(70 << 20));
    for path in &posts {
        for body in ["{", "[]", "null", "\"text\"", "{\"label\":\"two\",\"name\":7,\"settings\":[],\"tasks\":{},\"external_id\":5}", "{\"unknown_field\":1}", "\u{0}\u{1}"] {
            let (st, v) = w.s.raw("POST", path, &w.key, body, &[]);
            assert!(st < 500, "POST {path} {body:?} → {st} {v}");
            if st >= 400 && st != 404 && st != 409 {
                assert!(v["error"].is_string() && v["message"].is_string(), "POST {path} {body:?}: {v}");
            }
        }
        let (st, v) = w.s.raw("POST", path, &w.key, &big, &[]);
        assert!(st == 413 || st == 404 || st == 409 || st == 200 || st == 202, "an oversized body: POST {path} → {st} {v}");
    }
    // Wrong types name their field.
    let (st, v) = w.s.raw("POST", &format!("/v1/projects/{}/tasks", w.project), &w.key, r#"{"priority":"high"}"#, &[]);
    assert_eq!((st, v["field"].as_str()), (422, Some("priority")), "{v}");
    let (st, v) = w.s.raw("POST", &format!("/v1/projects/{}/tasks/bulk", w.project), &w.key, r#"{"tasks":[{},{"deadline_us":-1}]}"#, &[]);
    assert_eq!((st, v["field"].as_str()), (422, Some("tasks[1].deadline_us")), "{v}");
    let (st, v) = w.s.raw("POST", &format!("/v1/annotators/{}/assignments/{}/submit", w.annotator, w.assignment), &w.token, r#"{"label":7}"#, &[]);
    assert_eq!((st, v["field"].as_str()), (422, Some("label")), "a class outside the stream: {v}");
    let (st, v) = w.s.raw("POST", &format!("/v1/annotators/{}/assignments/{}/submit", w.annotator, w.assignment), &w.token, r#"{"label":1,"accept":true}"#, &[]);
    assert_eq!(st, 422, "{v}");
    let (st, v) = w.s.call("POST", "/v1/projects", &w.key, Some(json!({ "name": "p", "settings": "[run]\nhorizon = \"1d\"\n[[streams]]\ntask_type = \"x\"\nclasses = 2\n" })));
    assert_eq!((st, v["field"].as_str()), (422, Some("settings.run")), "simulation-only sections are refused by name: {v}");
    let (st, v) = w.s.call("POST", "/v1/projects", &w.key, Some(json!({ "name": "p", "settings": "[[streams]]\ntask_type = \"x\"\nclasses = 1.5\n" })));
    assert_eq!(st, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("classes"), "{v}");
    let (st, v) = w.s.call("POST", "/v1/projects", &w.key, Some(json!({ "name": "p", "settings": "[[streams]\n" })));
    assert!(st == 422 && v["message"].as_str().unwrap().contains("settings:1:"), "TOML errors say where: {v}");
    // Bad path and query parameters.
    for (path, field) in [("/v1/tasks/abc", "path"), ("/v1/projects/1/tasks?limit=0", "limit"), ("/v1/projects/1/tasks?cursor=zzz", "cursor"), ("/v1/projects/1/export?format=xml", "format")] {
        let (st, v) = w.s.call("GET", path, &w.key, None);
        assert_eq!((st, v["field"].as_str()), (400, Some(field)), "{path}: {v}");
    }
    let (st, v) = w.s.call("GET", "/v1/no/such/route", &w.key, None);
    assert_eq!((st, v["error"].as_str()), (404, Some("not_found")));
    // Nothing was lost or half-written: the task and its lease are as they were.
    let (st, v) = submit(&w.s, w.annotator, &w.token, w.assignment, json!({ "label": 1 }));
    assert_eq!((st, v["outcome"].as_str()), (200, Some("counted")), "{v}");
}

#[test]
fn the_openapi_document_describes_every_route_the_server_answers() {
    let w = world();
    let (st, doc) = w.s.call("GET", "/v1/openapi.json", "", None);
    assert_eq!(st, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    // Every documented route answers (with the ids of this world) with a documented status.
    let mut answered = 0;
    for (template, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let path = template
                .replace("{project_id}", &w.project.to_string())
                .replace("{task_id}", &w.task.to_string())
                .replace("{annotator_id}", &w.annotator.to_string())
                .replace("{assignment_id}", &w.assignment.to_string())
                .replace("{tenant_id}", "1");
            let token = if template.starts_with("/v1/tenants") { ADMIN } else { &w.key };
            let body = if method == "post" { Some(json!({})) } else { None };
            let (st, v) = w.s.call(&method.to_uppercase(), &path, token, body);
            let documented: Vec<u16> = op["responses"].as_object().unwrap().keys().filter_map(|k| k.parse().ok()).collect();
            assert!(documented.contains(&st), "{method} {path} answered {st}, documented {documented:?}: {v}");
            // JSON answers carry what the schema requires.
            if let Some(schema) = op["responses"][st.to_string()]["content"]["application/json"]["schema"].as_object() {
                let schema = resolve(&doc, &Value::Object(schema.clone()));
                for field in schema["required"].as_array().into_iter().flatten() {
                    assert!(v.get(field.as_str().unwrap()).is_some(), "{method} {path} → {st}: `{field}` is required by the schema: {v}");
                }
            }
            answered += 1;
        }
    }
    assert!(answered >= 20, "{answered} operations documented");
    // And every route the server has is documented.
    for (method, path) in routes(&w) {
        let template = path
            .replace(&format!("/projects/{}", w.project), "/projects/{project_id}")
            .replace(&format!("/tasks/{}", w.task), "/tasks/{task_id}")
            .replace(&format!("/assignments/{}", w.assignment), "/assignments/{assignment_id}")
            .replace(&format!("/annotators/{}", w.annotator), "/annotators/{annotator_id}");
        assert!(paths.get(&template).and_then(|p| p.get(method.to_lowercase())).is_some(), "{method} {template} is not in the OpenAPI document");
    }
}

fn resolve(doc: &Value, schema: &Value) -> Value {
    match schema.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => doc["components"]["schemas"][r.rsplit('/').next().unwrap()].clone(),
        None => schema.clone(),
    }
}
