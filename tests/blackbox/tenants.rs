//! `/api/tenants`: creating and listing tenants, and both pagination styles with their bounds.

use serde_json::{Value, json};

use crate::harness::{Daemon, PASSWORD, assert_error, assert_invalid_field, str_field};

#[test]
fn create_tenant_returns_id_name_and_owner_role() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let body = daemon
        .post("/api/tenants", &token, json!({ "name": "  Acme  " }))
        .expect(201);
    assert!(!str_field(&body, "id").is_empty());
    assert_eq!(body["name"], "Acme", "names are trimmed");
    assert_eq!(body["role"], "owner");
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "name", "role"]);

    let list = daemon.get("/api/tenants", &token).expect(200);
    assert_eq!(list["total"], 1);
    let item = &list["items"][0];
    assert_eq!(
        (&item["id"], &item["name"], &item["role"]),
        (&body["id"], &json!("Acme"), &json!("owner"))
    );
    assert!(
        item["createdAt"].as_str().is_some_and(|at| !at.is_empty()),
        "{item}"
    );
}

#[test]
fn invalid_tenant_names_are_refused() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let cases: &[(Value, &str)] = &[
        (json!({ "name": "" }), "name"),
        (json!({ "name": "  " }), "name"),
        (json!({ "name": "x".repeat(201) }), "name"),
        (json!({ "name": "bell\u{7}" }), "name"),
        (json!({ "name": 7 }), "name"),
        (json!({}), "name"),
        (json!({ "name": "Acme", "owner": "someone" }), "owner"),
    ];
    for (body, field) in cases {
        assert_invalid_field(&daemon.post("/api/tenants", &token, body.clone()), field);
    }
    assert_eq!(daemon.get("/api/tenants", &token).expect(200)["total"], 0);
    assert_error(
        &daemon.post_public("/api/tenants", json!({ "name": "Acme" })),
        401,
        "UNAUTHORIZED",
    );
}

#[test]
fn tenant_lists_page_in_both_styles() {
    let daemon = Daemon::start();
    let (token, _) = daemon.register("Ann", "ann@example.org", PASSWORD);
    let ids: Vec<String> = (0..3)
        .map(|i| daemon.create_tenant(&token, &format!("Tenant {i}")))
        .collect();

    let all = daemon.get("/api/tenants", &token).expect(200);
    assert_eq!(
        (&all["total"], &all["page"], &all["pageSize"]),
        (&json!(3), &json!(1), &json!(50)),
        "{all}"
    );
    let listed: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "oldest first"
    );

    let page = daemon
        .get("/api/tenants?page=2&pageSize=2", &token)
        .expect(200);
    assert_eq!(envelope_keys(&page), ["items", "page", "pageSize", "total"]);
    assert_eq!(
        (&page["total"], &page["page"], &page["pageSize"]),
        (&json!(3), &json!(2), &json!(2))
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], ids[2].as_str());

    let first = daemon
        .get("/api/tenants?limit=2&offset=0", &token)
        .expect(200);
    assert_eq!(envelope_keys(&first), ["items", "pagination"]);
    assert_eq!(
        first["pagination"],
        json!({ "limit": 2, "offset": 0, "total": 3, "has_more": true })
    );
    assert_eq!(first["items"].as_array().unwrap().len(), 2);

    let last = daemon
        .get("/api/tenants?offset=2&limit=2", &token)
        .expect(200);
    assert_eq!(
        last["pagination"],
        json!({ "limit": 2, "offset": 2, "total": 3, "has_more": false })
    );
    assert_eq!(last["items"][0]["id"], ids[2].as_str());

    let beyond = daemon
        .get("/api/tenants?page=9&pageSize=200", &token)
        .expect(200);
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], 3);
    let offset_only = daemon.get("/api/tenants?offset=1", &token).expect(200);
    assert_eq!(
        offset_only["pagination"]["limit"], 50,
        "limit defaults to 50"
    );
}

fn envelope_keys(body: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn pagination_bounds_are_enforced() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    // The field a bad parameter is reported under; mixing the styles only has to be refused.
    let cases: &[(&str, Option<&str>)] = &[
        ("pageSize=201", Some("pageSize")),
        ("pageSize=0", Some("pageSize")),
        ("page=0", Some("page")),
        ("page=-1", Some("page")),
        ("page=one", Some("page")),
        ("limit=0", Some("limit")),
        ("limit=201", Some("limit")),
        ("limit=ten", Some("limit")),
        ("offset=-1", Some("offset")),
        ("page=1&limit=10", None),
        ("pageSize=10&offset=0", None),
    ];
    let members = format!("/api/tenants/{}/members", owner.tenant_id);
    for path in ["/api/tenants", members.as_str(), "/api/api-keys"] {
        for (query, field) in cases {
            let reply = daemon.get(&format!("{path}?{query}"), &owner.token);
            assert_eq!(reply.status, 400, "{path}?{query}: {}", reply.text);
            match field {
                Some(field) => assert_invalid_field(&reply, field),
                None => {
                    assert_error(&reply, 400, "INVALID_REQUEST");
                }
            }
        }
        daemon
            .get(&format!("{path}?pageSize=200"), &owner.token)
            .expect(200);
        daemon
            .get(&format!("{path}?limit=200&offset=0"), &owner.token)
            .expect(200);
    }
}
