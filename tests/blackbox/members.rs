//! `/api/tenants/{id}/members`: adding, listing and removing members, owner-only rules, and loss of access.

use serde_json::{Value, json};

use crate::harness::{Daemon, PASSWORD, assert_error, assert_invalid_field};

fn members_path(tenant: &str) -> String {
    format!("/api/tenants/{tenant}/members")
}

fn member_ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["userId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn owner_adds_a_member_who_can_list_members() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (member_token, member_id, member_email) = daemon.user();

    let added = daemon
        .post(
            &members_path(&owner.tenant_id),
            &owner.token,
            json!({ "email": member_email.to_uppercase(), "role": "member" }),
        )
        .expect(201);
    assert_eq!(added["userId"], member_id.as_str());
    assert_eq!(added["email"], member_email.as_str());
    assert!(
        added["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{added}"
    );
    assert_eq!(added["role"], "member");
    assert!(
        added["createdAt"].as_str().is_some_and(|at| !at.is_empty()),
        "{added}"
    );

    // The member's session does not need to be scoped to the tenant to list its members.
    let list = daemon
        .get(&members_path(&owner.tenant_id), &member_token)
        .expect(200);
    assert_eq!(list["total"], 2);
    assert_eq!(
        member_ids(&list),
        [owner.user_id.clone(), member_id.clone()],
        "oldest first"
    );
    let roles: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["role"])
        .collect();
    assert_eq!(roles, [&json!("owner"), &json!("member")]);

    let offsets = daemon
        .get(
            &format!("{}?limit=1&offset=1", members_path(&owner.tenant_id)),
            &member_token,
        )
        .expect(200);
    assert_eq!(
        offsets["pagination"],
        json!({ "limit": 1, "offset": 1, "total": 2, "has_more": false })
    );
    assert_eq!(member_ids(&offsets), std::slice::from_ref(&member_id));

    // The new member sees the tenant in their list, as a member, and can scope a session to it.
    let tenants = daemon.get("/api/tenants", &member_token).expect(200);
    assert_eq!(tenants["items"][0]["id"], owner.tenant_id.as_str());
    assert_eq!(tenants["items"][0]["role"], "member");
    let scoped = daemon.refresh_to(&member_token, &owner.tenant_id);
    let me = daemon.get("/auth/me", &scoped).expect(200);
    assert_eq!(
        (&me["tenantId"], &me["role"]),
        (&json!(owner.tenant_id), &json!("member"))
    );
    daemon.get("/api/api-keys", &scoped).expect(200);
}

#[test]
fn adding_members_is_checked() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (member_token, _, member_email) = daemon.user();
    let (_, _, other_email) = daemon.user();
    let path = members_path(&owner.tenant_id);
    daemon.add_member(&owner.token, &owner.tenant_id, &member_email, "member");

    // A member may not add anyone, whatever their session is scoped to.
    let scoped = daemon.refresh_to(&member_token, &owner.tenant_id);
    for token in [&member_token, &scoped] {
        let reply = daemon.post(
            &path,
            token,
            json!({ "email": other_email, "role": "member" }),
        );
        assert_error(&reply, 403, "FORBIDDEN");
    }
    let unknown = daemon.post(
        &path,
        &owner.token,
        json!({ "email": "nobody@example.org", "role": "member" }),
    );
    assert_error(&unknown, 404, "NOT_FOUND");
    let duplicate = daemon.post(
        &path,
        &owner.token,
        json!({ "email": member_email, "role": "owner" }),
    );
    assert_error(&duplicate, 409, "CONFLICT");
    let owner_again = daemon.post(
        &path,
        &owner.token,
        json!({ "email": owner.email, "role": "member" }),
    );
    assert_error(&owner_again, 409, "CONFLICT");

    let invalid: &[(Value, &str)] = &[
        (json!({ "email": other_email, "role": "admin" }), "role"),
        (json!({ "email": other_email, "role": "Owner" }), "role"),
        (json!({ "email": other_email, "role": "" }), "role"),
        (json!({ "email": other_email }), "role"),
        (json!({ "email": other_email, "role": 1 }), "role"),
        (json!({ "role": "member" }), "email"),
        (
            json!({ "email": "not-an-email", "role": "member" }),
            "email",
        ),
    ];
    for (body, field) in invalid {
        assert_invalid_field(&daemon.post(&path, &owner.token, body.clone()), field);
    }
    let list = daemon.get(&path, &owner.token).expect(200);
    assert_eq!(list["total"], 2, "no refused request added anyone: {list}");
    let key = daemon.api_key(&owner.token, "live");
    assert_error(
        &daemon.post(
            &path,
            &key,
            json!({ "email": other_email, "role": "member" }),
        ),
        403,
        "FORBIDDEN",
    );
    assert_error(&daemon.get(&path, &key), 403, "FORBIDDEN");
}

#[test]
fn owner_removes_a_member_who_loses_access_at_once() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (member_token, member_id, member_email) = daemon.user();
    daemon.add_member(&owner.token, &owner.tenant_id, &member_email, "member");
    let scoped = daemon.refresh_to(&member_token, &owner.tenant_id);
    // Warm the tenant actor's role cache with the membership that is about to go.
    daemon.get("/api/api-keys", &scoped).expect(200);
    daemon.get("/api/api-keys", &scoped).expect(200);

    let removed = daemon.delete(
        &format!("{}/{member_id}", members_path(&owner.tenant_id)),
        &owner.token,
    );
    assert_eq!(removed.status, 204, "{}", removed.text);
    assert!(removed.text.is_empty());

    // Well within tenants.cache_ttl: the removal must still be seen at once.
    assert_error(&daemon.get("/api/api-keys", &scoped), 403, "FORBIDDEN");
    assert_error(
        &daemon.get(&members_path(&owner.tenant_id), &member_token),
        404,
        "NOT_FOUND",
    );
    assert_eq!(
        daemon.get("/api/tenants", &member_token).expect(200)["total"],
        0
    );
    assert_error(
        &daemon.post(
            "/auth/refresh",
            &member_token,
            json!({ "tenantId": owner.tenant_id }),
        ),
        404,
        "NOT_FOUND",
    );
    assert_eq!(
        member_ids(
            &daemon
                .get(&members_path(&owner.tenant_id), &owner.token)
                .expect(200)
        ),
        [owner.user_id]
    );
    // The removed member's next refresh or login has no tenant.
    assert_eq!(
        daemon
            .get("/auth/me", &daemon.refresh(&member_token))
            .expect(200)["tenantId"],
        Value::Null
    );
    assert_eq!(
        daemon.login(&member_email, PASSWORD)["tenantId"],
        Value::Null
    );
}

#[test]
fn a_member_may_remove_only_themself() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (first_token, first_id, first_email) = daemon.user();
    let (_, second_id, second_email) = daemon.user();
    daemon.add_member(&owner.token, &owner.tenant_id, &first_email, "member");
    daemon.add_member(&owner.token, &owner.tenant_id, &second_email, "member");
    let path = members_path(&owner.tenant_id);

    assert_error(
        &daemon.delete(&format!("{path}/{second_id}"), &first_token),
        403,
        "FORBIDDEN",
    );
    assert_error(
        &daemon.delete(&format!("{path}/{}", owner.user_id), &first_token),
        403,
        "FORBIDDEN",
    );
    assert_eq!(
        daemon
            .delete(&format!("{path}/{first_id}"), &first_token)
            .expect(204),
        Value::Null
    );
    assert_eq!(
        member_ids(&daemon.get(&path, &owner.token).expect(200)),
        [owner.user_id.clone(), second_id]
    );
    assert_error(
        &daemon.delete(&format!("{path}/{first_id}"), &first_token),
        404,
        "NOT_FOUND",
    );
}

#[test]
fn the_last_owner_cannot_leave() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (second_token, second_id, second_email) = daemon.user();
    let path = members_path(&owner.tenant_id);

    assert_error(
        &daemon.delete(&format!("{path}/{}", owner.user_id), &owner.token),
        409,
        "CONFLICT",
    );
    daemon.get("/api/api-keys", &owner.token).expect(200);

    // With a second owner, either may go; then the remaining one is the last again.
    daemon.add_member(&owner.token, &owner.tenant_id, &second_email, "owner");
    assert_eq!(
        daemon
            .delete(&format!("{path}/{}", owner.user_id), &owner.token)
            .status,
        204
    );
    assert_error(&daemon.get("/api/api-keys", &owner.token), 403, "FORBIDDEN");
    assert_error(
        &daemon.delete(&format!("{path}/{second_id}"), &second_token),
        409,
        "CONFLICT",
    );
    assert_eq!(
        member_ids(&daemon.get(&path, &second_token).expect(200)),
        [second_id]
    );
    // An added owner has the full owner role.
    let second = daemon.refresh_to(&second_token, &owner.tenant_id);
    assert_eq!(daemon.get("/auth/me", &second).expect(200)["role"], "owner");
    daemon.api_key(&second, "test");
}

#[test]
fn removing_unknown_members_is_not_found() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (_, outsider_id, _) = daemon.user();
    let path = members_path(&owner.tenant_id);
    for member in [
        outsider_id.as_str(),
        "00000000-0000-4000-8000-000000000000",
        "not-a-uuid",
    ] {
        assert_error(
            &daemon.delete(&format!("{path}/{member}"), &owner.token),
            404,
            "NOT_FOUND",
        );
    }
    for tenant in ["00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        assert_error(
            &daemon.get(&members_path(tenant), &owner.token),
            404,
            "NOT_FOUND",
        );
        let reply = daemon.post(
            &members_path(tenant),
            &owner.token,
            json!({ "email": owner.email, "role": "member" }),
        );
        assert_error(&reply, 404, "NOT_FOUND");
        assert_error(
            &daemon.delete(
                &format!("{}/{}", members_path(tenant), owner.user_id),
                &owner.token,
            ),
            404,
            "NOT_FOUND",
        );
    }
    assert_error(&daemon.get_public(&path), 401, "UNAUTHORIZED");
}

#[test]
fn concurrent_removals_never_leave_a_tenant_without_an_owner() {
    let daemon = Daemon::start();
    // Each round: two owners remove each other at the same moment. Checking "another owner remains" before
    // deleting is a classic write skew; the store's transaction must refuse one of them.
    for round in 0..5 {
        let first = daemon.owner_with_tenant();
        let (second_token, second_id, second_email) = daemon.user();
        daemon.add_member(&first.token, &first.tenant_id, &second_email, "owner");
        let path = members_path(&first.tenant_id);
        let barrier = std::sync::Barrier::new(2);
        let removals = [
            (first.token.as_str(), second_id.as_str()),
            (second_token.as_str(), first.user_id.as_str()),
        ];
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let threads: Vec<_> = removals
                .iter()
                .map(|(token, victim)| {
                    let (daemon, barrier, path) = (&daemon, &barrier, &path);
                    scope.spawn(move || {
                        barrier.wait();
                        daemon.delete(&format!("{path}/{victim}"), token).status
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        // 403: the other removal finished before this request was authorised, so its caller was no longer a
        // member (a removed member loses access at once).
        assert!(
            statuses.iter().all(|s| [204, 403, 404, 409].contains(s)),
            "unexpected statuses {statuses:?}"
        );
        assert!(
            statuses.iter().filter(|s| **s == 204).count() <= 1,
            "both owners removed each other; the tenant has no owner left (round {round}, statuses {statuses:?})"
        );
        let survivor = if statuses[0] == 204 {
            &first.token
        } else {
            &second_token
        };
        let list = daemon.get(&path, survivor).expect(200);
        let owners = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "owner")
            .count();
        assert!(
            owners >= 1,
            "the tenant lost its last owner ({statuses:?}): {list}"
        );
    }
}

#[test]
fn concurrent_adds_of_one_member_add_it_once() {
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let (_, _, email) = daemon.user();
    let path = members_path(&owner.tenant_id);
    let barrier = std::sync::Barrier::new(6);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (daemon, barrier, path, owner, email) =
                    (&daemon, &barrier, &path, &owner, &email);
                scope.spawn(move || {
                    barrier.wait();
                    daemon
                        .post(
                            path,
                            &owner.token,
                            json!({ "email": email, "role": "member" }),
                        )
                        .status
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [201, 409].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(daemon.get(&path, &owner.token).expect(200)["total"], 2);
}

#[test]
fn twenty_concurrent_removals_by_the_owner_all_happen() {
    // Every removal bumps the tenant's version, so concurrent removals conflict in the store; the conflicts are
    // retried, never reported as 500s, and every removal takes effect.
    let daemon = Daemon::start();
    let owner = daemon.owner_with_tenant();
    let path = members_path(&owner.tenant_id);
    let members: Vec<String> = (0..20)
        .map(|_| {
            let (_, id, email) = daemon.user();
            daemon.add_member(&owner.token, &owner.tenant_id, &email, "member");
            id
        })
        .collect();
    let barrier = std::sync::Barrier::new(members.len());
    let replies: Vec<(u16, String)> = std::thread::scope(|scope| {
        let threads: Vec<_> = members
            .iter()
            .map(|member| {
                let (daemon, barrier, path, owner) = (&daemon, &barrier, &path, &owner);
                scope.spawn(move || {
                    barrier.wait();
                    let reply = daemon.delete(&format!("{path}/{member}"), &owner.token);
                    (reply.status, reply.text)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (status, text) in &replies {
        assert_eq!(*status, 204, "a removal failed: {text}");
    }
    let list = daemon.get(&path, &owner.token).expect(200);
    assert_eq!(
        member_ids(&list),
        std::slice::from_ref(&owner.user_id),
        "{list}"
    );
}
