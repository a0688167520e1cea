//! The fake agent's container, build, system and resource routes (the SDK's container, system
//! and resource mixins), answered from its records.

use hyper::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::records::Records;
use super::reply::{self, Body};
use super::rest::{body_json, decode};

/// `containers/docker/{id}` ids are strings, `containers/{id}` ids numbers, as on the agent.
fn docker_id(n: u64) -> Value {
    json!(format!("docker-{n}"))
}

fn numbered(n: u64) -> Value {
    json!(n)
}

fn fields(body: &[u8]) -> Map<String, Value> {
    match body_json(body) {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => Map::from_iter([("body".to_owned(), other)]),
    }
}

fn found(record: Option<Value>) -> Response<Body> {
    record.map_or_else(|| reply::detail(StatusCode::NOT_FOUND, "Not found"), |r| reply::ok(&r))
}

fn deleted(removed: bool) -> Response<Body> {
    if removed {
        reply::empty(StatusCode::NO_CONTENT)
    } else {
        reply::detail(StatusCode::NOT_FOUND, "Not found")
    }
}

/// Answers `builds/`, `containers/`, `system/` and `resources/` routes; `None` for other paths.
pub(super) fn answer(
    records: &Records,
    method: &Method,
    segments: &[&str],
    list_url: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Option<Response<Body>> {
    let status = |s: &str| Map::from_iter([("status".to_owned(), json!(s))]);
    Some(match (method.as_str(), segments) {
        // A container build completes at once: its result is the container record.
        ("GET", ["builds", id]) => match id.strip_prefix("build-").and_then(|n| records.find("containers", n, "")) {
            Some(container) => {
                reply::ok(&json!({ "build_id": decode(id), "status": "completed", "result": container }))
            }
            None => reply::detail(StatusCode::NOT_FOUND, "Build not found"),
        },
        ("GET", ["containers", "docker"]) => reply::ok(&Value::Array(records.all("docker"))),
        ("POST", ["containers", "docker"]) => {
            let mut record = fields(body);
            record.insert("status".into(), json!("running"));
            reply::ok(&records.create("docker", record, docker_id))
        }
        ("GET", ["containers", "docker", id]) => found(records.find("docker", &decode(id), "")),
        ("DELETE", ["containers", "docker", id]) => deleted(records.remove("docker", &decode(id), "")),
        ("POST", ["containers", "docker", id, action @ ("stop" | "start")]) => {
            let state = if *action == "stop" { "exited" } else { "running" };
            found(records.update("docker", &decode(id), &status(state)))
        }
        ("GET", ["containers"]) => reply::ok(&records.page("containers", list_url, query)),
        ("POST", ["containers"]) => {
            let mut record = fields(body);
            record.insert("status".into(), json!("running"));
            record.insert("endpoint".into(), json!("http://127.0.0.1:7860"));
            let container = records.create("containers", record, numbered);
            let build_id = format!("build-{}", container["id"]);
            reply::ok(&json!({ "build_id": build_id, "status": "queued", "status_url": format!("builds/{build_id}/") }))
        }
        ("GET", ["containers", id]) => found(records.find("containers", &decode(id), "")),
        ("PATCH", ["containers", id]) => found(records.update("containers", &decode(id), &fields(body))),
        ("DELETE", ["containers", id]) => deleted(records.remove("containers", &decode(id), "")),
        ("GET", ["system", "compose-config"]) => reply::ok(&json!({
            "working_dir": "/opt/synapse-agent", "config_files": ["docker-compose.yml"], "is_gpu_mode": false,
        })),
        ("GET", ["system", "status"]) => {
            reply::ok(&json!({ "in_progress": false, "operation": null, "started_at": null }))
        }
        ("POST", ["system", what @ ("update" | "restart")]) => {
            reply::ok(&json!({ "status": "success", "message": format!("{what} started"), "request": body_json(body) }))
        }
        ("GET", ["resources", "cluster"]) => reply::ok(&cluster(query)),
        ("POST", ["resources", "feasibility"]) => reply::ok(&json!({ "feasible": true, "request": body_json(body) })),
        ("GET", ["resources", "policy"]) => reply::ok(&policy(records)),
        ("PATCH", ["resources", "policy"]) => {
            let patch = fields(body);
            if records.update("policy", "1", &patch).is_none() {
                let mut stored = patch;
                stored.insert("id".into(), json!(1));
                records.create("policy", stored, numbered);
            }
            reply::ok(&policy(records))
        }
        _ => return None,
    })
}

/// The default runtime policy under what was patched into it.
fn policy(records: &Records) -> Value {
    let mut policy = json!({
        "max_concurrent_jobs": 3, "max_concurrent_serve_replicas": 16, "gatekeeping_enabled": true,
        "cpu_max_utilization_percent": 90.0, "memory_max_utilization_percent": 90.0,
        "gpu_max_utilization_percent": 90.0, "gpu_max_memory_percent": 90.0,
        "max_concurrent_ray_jobs": 0, "resource_cache_ttl_seconds": 5.0,
    });
    if let (Some(Value::Object(patched)), Value::Object(map)) = (records.find("policy", "1", ""), &mut policy) {
        map.extend(patched.into_iter().filter(|(k, _)| k != "id"));
    }
    policy
}

fn cluster(query: &[(String, String)]) -> Value {
    let use_cache = query.iter().rev().find(|(k, _)| k == "use_cache").is_none_or(|(_, v)| v != "false");
    json!({
        "collected_at": "2026-12-02T12:00:00Z",
        "stale": use_cache,
        "cpu": { "total": 16.0, "used": 4.0, "available": 12.0 },
        "memory": { "total": 68_719_476_736_u64, "used": 17_179_869_184_u64, "available": 51_539_607_552_u64 },
        "gpu": { "total_gpus": 1, "available_gpus": 1, "total_memory_bytes": 17_179_869_184_u64,
                 "available_memory_bytes": 17_179_869_184_u64, "max_utilization": 0.0, "avg_utilization": 0.0 },
        "running_jobs": 0,
        "node_counts": { "total": 1, "alive": 1, "dead": 0 },
        "nodes": [{
            "node_id": "node-1", "host_name": "fake", "ip": "127.0.0.1", "is_head_node": true, "state": "ALIVE",
            "cpu": { "total": 16.0, "used": 4.0, "available": 12.0 },
            "gpus": [{ "index": 0, "name": "Fake GPU", "memory_used": 0, "memory_total": 16384 }],
            "a_field_from_a_newer_agent": true,
        }],
    })
}
