//! Store operations against the real embedded engine in memory.

use super::*;
use crate::ids::{KeyEnvironment, TenantId, TenantScope, UserId};

fn scope(tenant: &str) -> TenantScope {
    TenantScope::authenticated(TenantId::new(tenant))
}

async fn memory_store() -> Store {
    let mut config = Config::default();
    config.storage.url = Some("mem://".into());
    Store::open(&config).await.expect("open mem:// store")
}

const ALL: Window = Window {
    offset: 0,
    limit: 100,
};

#[tokio::test]
async fn users_are_unique_by_email() {
    let store = memory_store().await;
    let user = store
        .create_user("a@example.org", "A", "hash")
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_email("a@example.org")
            .await
            .unwrap()
            .unwrap()
            .uid,
        user.uid
    );
    assert_eq!(
        store.user_by_id(&user.uid).await.unwrap().unwrap().email,
        "a@example.org"
    );
    assert!(!format!("{user:?}").contains("\"hash\""), "{user:?}");
    let again = store.create_user("a@example.org", "B", "hash").await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert!(
        store
            .user_by_email("b@example.org")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn tenant_creation_makes_an_owner_and_scopes_the_user() {
    let store = memory_store().await;
    let owner = store.create_user("o@example.org", "O", "h").await.unwrap();
    let tenant = store.create_tenant(&owner.uid, "Acme").await.unwrap();
    assert_eq!(
        store.role_of(&tenant.uid, &owner.uid).await.unwrap(),
        Some(Role::Owner)
    );
    let user = store.user_by_id(&owner.uid).await.unwrap().unwrap();
    assert_eq!(user.current_tenant.as_deref(), Some(tenant.uid.as_str()));
    let (tenants, total) = store.tenants_of(&owner.uid, ALL).await.unwrap();
    assert_eq!((tenants.len(), total), (1, 1));
    assert_eq!(tenants[0].tenant.name, "Acme");
}

#[tokio::test]
async fn members_and_the_last_owner_rule() {
    let store = memory_store().await;
    let owner = store.create_user("o@example.org", "O", "h").await.unwrap();
    let member = store.create_user("m@example.org", "M", "h").await.unwrap();
    let tenant = store.create_tenant(&owner.uid, "Acme").await.unwrap();
    store
        .add_member(&scope(&tenant.uid), &member, Role::Member)
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_member(&scope(&tenant.uid), &member, Role::Owner)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let (members, total) = store.members(&scope(&tenant.uid), ALL).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        members.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
        ["o@example.org", "m@example.org"]
    );
    let last_owner = store.remove_member(&scope(&tenant.uid), &owner.uid).await;
    assert!(
        matches!(last_owner, Err(StoreError::Conflict(_))),
        "{last_owner:?}"
    );
    assert_eq!(
        store.role_of(&tenant.uid, &owner.uid).await.unwrap(),
        Some(Role::Owner),
        "rolled back"
    );
    store
        .remove_member(&scope(&tenant.uid), &member.uid)
        .await
        .unwrap();
    assert!(matches!(
        store.remove_member(&scope(&tenant.uid), &member.uid).await,
        Err(StoreError::NotFound(_))
    ));
    let window = Window {
        offset: 0,
        limit: 1,
    };
    assert_eq!(
        store
            .members(&scope(&tenant.uid), window)
            .await
            .unwrap()
            .0
            .len(),
        1
    );
}

#[tokio::test]
async fn api_keys_are_found_by_hash_and_revoked_within_their_tenant() {
    let store = memory_store().await;
    let owner = store.create_user("o@example.org", "O", "h").await.unwrap();
    let a = store.create_tenant(&owner.uid, "A").await.unwrap();
    let b = store.create_tenant(&owner.uid, "B").await.unwrap();
    let key = store
        .create_api_key(
            &scope(&a.uid),
            "ci",
            KeyEnvironment::Live,
            "sgk_live_0123",
            "ff00",
            &owner.uid,
        )
        .await
        .unwrap();
    assert_eq!(
        store.api_key_by_hash("ff00").await.unwrap().unwrap().uid,
        key.uid
    );
    assert!(
        store
            .create_api_key(
                &scope(&a.uid),
                "dup",
                KeyEnvironment::Live,
                "p",
                "ff00",
                &owner.uid
            )
            .await
            .is_err()
    );
    assert!(matches!(
        store.revoke_api_key(&scope(&b.uid), &key.uid).await,
        Err(StoreError::NotFound(_))
    ));
    store.touch_api_key(&key.uid).await.unwrap();
    assert!(
        store.api_keys(&scope(&a.uid), ALL).await.unwrap().0[0]
            .last_used_at
            .is_some()
    );
    store
        .revoke_api_key(&scope(&a.uid), &key.uid)
        .await
        .unwrap();
    assert!(store.api_key_by_hash("ff00").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_secret_is_stable() {
    let store = memory_store().await;
    let first = store.jwt_secret().await.unwrap();
    assert_eq!(first.len(), 32);
    assert_eq!(store.jwt_secret().await.unwrap(), first);
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_migration_is_idempotent() {
    let store = memory_store().await;
    assert_eq!(
        schema::current_version(&store).await.unwrap(),
        SCHEMA_VERSION
    );
    schema::migrate(&store).await.unwrap();
    store
        .run(
            "UPSERT meta:schema SET version = $v;",
            json!({ "v": SCHEMA_VERSION + 1 }),
        )
        .await
        .unwrap();
    let refused = schema::migrate(&store).await;
    assert!(
        matches!(refused, Err(StoreError::SchemaTooNew { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn embedded_surrealkv_store_opens_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.data_dir = Some(dir.path().to_path_buf());
    let store = Store::open(&config).await.expect("first open");
    store.create_user("a@example.org", "A", "h").await.unwrap();
    drop(store);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let store = Store::open(&config).await.expect("second open");
    assert!(
        store
            .user_by_email("a@example.org")
            .await
            .unwrap()
            .is_some()
    );
}

fn new_stamp(tenant: &str, hash: &str, label: Option<&str>) -> NewStamp {
    NewStamp {
        tenant: TenantId::new(tenant),
        hash_hex: hash.into(),
        hash_alg_oid: "2.16.840.1.101.3.4.2.1".into(),
        serial: "42".into(),
        gen_time: "2026-11-21T07:00:00Z".into(),
        tsr: "AAAA".into(),
        provider: "local".into(),
        tsa_name: "Sigil local TSA".into(),
        label: label.map(String::from),
        qualified: false,
        policy_oid: "1.3.6.1.4.1.32473.1.1".into(),
        parent: None,
        cert_not_after: Some("2027-11-21T07:00:00Z".into()),
        cert_not_before: None,
        latency_ms: 3,
    }
}

#[tokio::test]
async fn stamps_are_deduplicated_scoped_and_searchable() {
    let store = memory_store().await;
    let first = store
        .insert_stamp(
            new_stamp("t1", "abcd", Some("Contract.pdf")),
            IfStamped::Conflict,
        )
        .await
        .unwrap();
    assert_eq!(first.record.gen_time, "2026-11-21T07:00:00Z");
    assert_eq!(
        first.record.cert_not_after.as_deref(),
        Some("2027-11-21T07:00:00Z")
    );
    let again = store
        .insert_stamp(new_stamp("t1", "abcd", None), IfStamped::Conflict)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let forced = store
        .insert_stamp(new_stamp("t1", "abcd", None), IfStamped::Add)
        .await
        .unwrap();
    assert_ne!(forced.uid, first.uid);
    store
        .insert_stamp(new_stamp("t2", "abcd", None), IfStamped::Conflict)
        .await
        .unwrap();
    let found = store
        .first_stamp_of(&scope("t1"), "abcd")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.record.tenant.as_str(), found.uid.as_str()),
        ("t1", first.uid.as_str())
    );
    assert_eq!(
        found.created_at, first.created_at,
        "written and read back alike"
    );
    assert_eq!(found.record.gen_time, first.record.gen_time);
    assert!(
        store
            .first_stamp_of(&scope("t3"), "abcd")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .stamp(&scope("t1"), &forced.uid)
            .await
            .unwrap()
            .unwrap()
            .uid,
        forced.uid
    );
    assert!(
        store
            .stamp(&scope("t2"), &forced.uid)
            .await
            .unwrap()
            .is_none(),
        "scoped to the tenant"
    );
    assert!(
        store
            .stamp(&scope("t2"), &first.uid)
            .await
            .unwrap()
            .is_none(),
        "other tenant"
    );
    assert_eq!(store.stamps_by_hash("abcd", 10).await.unwrap().len(), 3);
    let (found, total) = store
        .stamps_page(&scope("t1"), Some("contract"), ALL)
        .await
        .unwrap();
    assert_eq!((found.len(), total), (1, 1));
    let (found, _) = store
        .stamps_page(&scope("t1"), Some("AB"), ALL)
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    store
        .set_stamp_label(&scope("t1"), &first.uid, "renamed")
        .await
        .unwrap();
    assert!(matches!(
        store.set_stamp_label(&scope("t2"), &first.uid, "x").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .count_stamps_since(&TenantId::new("t1"), "2000-01-01T00:00:00Z", false)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_stamps_since(&TenantId::new("t1"), "2000-01-01T00:00:00Z", true)
            .await
            .unwrap(),
        0
    );
    let usage = store.provider_usage(&scope("t1")).await.unwrap();
    assert_eq!((usage[0].provider.as_str(), usage[0].count), ("local", 2));
}

#[tokio::test]
async fn tenant_settings_and_failures() {
    let store = memory_store().await;
    assert_eq!(
        store.tenant_settings(&scope("t1")).await.unwrap(),
        TenantSettings::default()
    );
    let mut settings = TenantSettings {
        enabled_tsa_slugs: vec!["local".into(), "digicert".into()],
        public_lookup: PublicLookup::Full,
        store_cades_seals: true,
    };
    store
        .set_tenant_settings(&scope("t1"), &settings)
        .await
        .unwrap();
    settings.enabled_tsa_slugs = vec!["local".into()];
    store
        .set_tenant_settings(&scope("t1"), &settings)
        .await
        .unwrap();
    assert_eq!(store.tenant_settings(&scope("t1")).await.unwrap(), settings);
    let disclosed = store
        .public_lookup_of(&[TenantId::new("t1"), TenantId::new("t2")])
        .await
        .unwrap();
    assert_eq!(disclosed.get("t1"), Some(&PublicLookup::Full));
    assert_eq!(
        disclosed.get("t2"),
        None,
        "no settings: the default applies"
    );
    let failure = Failure {
        provider: "digicert".into(),
        error_class: "timeout".into(),
        status_code: None,
        message: "slow".into(),
        latency_ms: 10,
        at: String::new(),
    };
    store
        .record_tsa_failure(&scope("t1"), &failure)
        .await
        .unwrap();
    assert_eq!(
        store.recent_tsa_failures(&scope("t1"), 5).await.unwrap()[0].error_class,
        "timeout"
    );
    assert_eq!(
        store.failure_counts(&scope("t1")).await.unwrap(),
        [("digicert".to_string(), 1)]
    );
    assert!(store.local_tsa_state().await.unwrap().is_none());
    store
        .save_local_tsa_state(
            "k",
            "sigil-soft:store=default;object=k",
            "ecdsa-p256",
            "PEM",
        )
        .await
        .unwrap();
    assert_eq!(
        store.local_tsa_state().await.unwrap().unwrap().key_uri,
        "sigil-soft:store=default;object=k"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_owner_removals_keep_an_owner() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.data_dir = Some(dir.path().to_path_buf());
    let store = Store::open(&config).await.unwrap();
    for round in 0..20 {
        let a = store
            .create_user(&format!("a{round}@example.org"), "A", "h")
            .await
            .unwrap();
        let b = store
            .create_user(&format!("b{round}@example.org"), "B", "h")
            .await
            .unwrap();
        let tenant = store.create_tenant(&a.uid, "T").await.unwrap();
        store
            .add_member(&scope(&tenant.uid), &b, Role::Owner)
            .await
            .unwrap();
        let tenant_scope = scope(&tenant.uid);
        let (first, second) = tokio::join!(
            store.remove_member(&tenant_scope, &b.uid),
            store.remove_member(&tenant_scope, &a.uid)
        );
        let owners = store.members(&scope(&tenant.uid), ALL).await.unwrap().0;
        assert_eq!(owners.len(), 1, "round {round}: {first:?} {second:?}");
        assert!(
            first.is_ok() != second.is_ok(),
            "round {round}: exactly one removal wins: {first:?} {second:?}"
        );
    }
}

/// The lookups on every request or stamp must use an index, never a scan that grows with the data.
#[tokio::test]
async fn hot_lookups_use_indexes() {
    let store = memory_store().await;
    let cases = [
        (
            format!(
                "SELECT * FROM stamp WHERE {} EXPLAIN;",
                stamps::STAMP_BY_UID
            ),
            "stamp_uid",
        ),
        (
            format!(
                "SELECT * FROM stamp WHERE {} EXPLAIN;",
                stamps::STAMPS_OF_HASH
            ),
            "stamp_hash",
        ),
        (
            format!("SELECT * FROM stamp WHERE {} EXPLAIN;", stamps::RESTAMPS_OF),
            "stamp_parent",
        ),
        (
            "SELECT * FROM api_key WHERE hash = $hash LIMIT 1 EXPLAIN;".into(),
            "api_key_hash",
        ),
        (
            "SELECT * FROM membership WHERE tenant = $tenant AND user = $user LIMIT 1 EXPLAIN;"
                .into(),
            "membership_pair",
        ),
        (
            "SELECT * FROM user WHERE uid = $uid LIMIT 1 EXPLAIN;".into(),
            "user_uid",
        ),
    ];
    let vars = json!({ "tenant": "t", "hash": "h", "parent_uid": "p", "user": "u", "uid": "u" });
    for (sql, index) in cases {
        let plan = serde_json::to_string(&store.run(&sql, vars.clone()).await.unwrap()).unwrap();
        assert!(
            plan.contains(&format!("\"index\":\"{index}\"")),
            "{sql} does not use {index}: {plan}"
        );
    }
}

/// Many stamps at once share group commits; each gets its own answer, and identical concurrent first stamps of
/// one digest store exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stamps_are_grouped_and_deduplicated() {
    let store = memory_store().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Every digest twice: one of each pair must lose.
            let hash = format!("{:04x}", i / 2);
            store
                .insert_stamp(new_stamp("t1", &hash, None), IfStamped::Conflict)
                .await
        }));
    }
    let mut stored = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => stored += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!((stored, conflicts), (100, 100));
    let (_, total) = store.stamps_page(&scope("t1"), None, ALL).await.unwrap();
    assert_eq!(total, 100);
}

/// Migration 4 re-keys stamps written under version 3 and keeps their ids.
#[tokio::test]
async fn stamps_of_version_3_are_rekeyed() {
    let store = memory_store().await;
    store
        .run(
            "DEFINE INDEX stamp_dedupe ON stamp FIELDS dedupe_key UNIQUE;
             DEFINE INDEX stamp_tenant_hash ON stamp FIELDS tenant, hash_hex;
             CREATE stamp CONTENT { uid: 'old-uid', tenant: 't1', dedupe_key: 't1:abcd', hash_hex: 'abcd',
                 hash_alg_oid: '2.16.840.1.101.3.4.2.1', serial: '1', gen_time: d'2026-01-01T00:00:00Z',
                 tsr: 'AA==', provider: 'local', tsa_name: 'Local', qualified: false, policy_oid: '1.2',
                 latency_ms: 1, created_at: d'2026-01-01T00:00:00Z' };
             UPSERT meta:schema SET version = 3;",
            json!({}),
        )
        .await
        .unwrap();
    schema::migrate(&store).await.unwrap();
    let stamp = store
        .first_stamp_of(&scope("t1"), "abcd")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stamp.uid, "old-uid");
    assert_eq!(
        schema::current_version(&store).await.unwrap(),
        SCHEMA_VERSION
    );
    let again = store
        .insert_stamp(new_stamp("t1", "abcd", None), IfStamped::Conflict)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

/// Quotas are counted in the store: a refusal counts nothing, a release gives back, a new counter starts from the
/// month's stored stamps, and concurrent reservations never pass the limit.
#[tokio::test]
async fn quota_counters_refuse_past_the_limit_and_start_from_stored_stamps() {
    let store = memory_store().await;
    let now = chrono::Utc::now();
    let key = crate::store::QuotaPeriod::of(&scope("t1"), now);
    // Two stamps stored this month before any counter existed.
    for hash in ["aa", "bb"] {
        let mut stamp = new_stamp("t1", hash, None);
        stamp.gen_time = now.to_rfc3339();
        store
            .insert_stamp(stamp, IfStamped::Conflict)
            .await
            .unwrap();
    }
    let limits = QuotaLimits {
        stamps: 3,
        qualified: 1,
    };
    assert_eq!(
        store.reserve_stamp(&key, false, limits).await.unwrap(),
        Ok(())
    );
    assert_eq!(store.quota_usage(&key).await.unwrap(), Some((3, 0)));
    assert_eq!(
        store.reserve_stamp(&key, false, limits).await.unwrap(),
        Err(QuotaRefusal::Stamps(3))
    );
    assert_eq!(store.quota_usage(&key).await.unwrap(), Some((3, 0)));
    store.release_stamp(&key, false).await.unwrap();
    assert_eq!(store.quota_usage(&key).await.unwrap(), Some((2, 0)));
    let qualified_only = QuotaLimits {
        stamps: 0,
        qualified: 1,
    };
    assert_eq!(
        store
            .reserve_stamp(&key, true, qualified_only)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        store
            .reserve_stamp(&key, true, qualified_only)
            .await
            .unwrap(),
        Err(QuotaRefusal::Qualified(1))
    );

    // Twenty concurrent reservations against a limit of five on a fresh tenant: exactly five pass.
    let key = crate::store::QuotaPeriod::of(&scope("t2"), now);
    let limits = QuotaLimits {
        stamps: 5,
        qualified: 0,
    };
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                loop {
                    match store.reserve_stamp(&key, false, limits).await {
                        Ok(outcome) => return outcome.is_ok(),
                        // A write conflict the runner's retries did not absorb: try again, as a caller would.
                        Err(StoreError::Query(message)) if message.contains("conflict") => continue,
                        Err(other) => panic!("{other}"),
                    }
                }
            })
        })
        .collect();
    let mut passed = 0;
    for task in tasks {
        passed += usize::from(task.await.unwrap());
    }
    assert_eq!(passed, 5);
    assert_eq!(store.quota_usage(&key).await.unwrap(), Some((5, 0)));
}

/// A cache fill that read a key just before the key was revoked must not put it back: revocation is final.
/// The interleaving is the one a concurrent request and revocation can produce: the fill's read, then the
/// revocation, then the fill's write to the cache.
#[tokio::test]
async fn a_fill_that_read_a_key_before_its_revocation_does_not_resurrect_it() {
    let store = memory_store().await;
    let owner = store.create_user("k@example.org", "K", "h").await.unwrap();
    let tenant = store.create_tenant(&owner.uid, "Keys").await.unwrap();
    let key = store
        .create_api_key(
            &scope(&tenant.uid),
            "ci",
            KeyEnvironment::Live,
            "sgk_live_ab",
            "aa11",
            &owner.uid,
        )
        .await
        .unwrap();
    let cache = store
        .api_keys
        .clone()
        .expect("the embedded store caches keys");
    // The fill starts and reads the key from the store...
    let ticket = cache.ticket();
    let read: ApiKey = store
        .first(
            "SELECT * FROM api_key WHERE hash = $hash LIMIT 1;",
            json!({ "hash": "aa11" }),
        )
        .await
        .unwrap()
        .unwrap();
    // ...the key is revoked meanwhile...
    store
        .revoke_api_key(&scope(&tenant.uid), &key.uid)
        .await
        .unwrap();
    // ...and the fill finishes: it must not cache what it read.
    assert!(!cache.put(ticket, &read));
    assert!(store.api_key_by_hash("aa11").await.unwrap().is_none());
    // A fill that starts after the revocation caches normally.
    let other = store
        .create_api_key(
            &scope(&tenant.uid),
            "ci2",
            KeyEnvironment::Live,
            "sgk_live_cd",
            "bb22",
            &owner.uid,
        )
        .await
        .unwrap();
    assert_eq!(
        store.api_key_by_hash("bb22").await.unwrap().unwrap().uid,
        other.uid
    );
    assert!(cache.get("bb22").is_some());
}

/// Sessions: a token's session must exist; logout ends one, a password change ends all of the user's.
#[tokio::test]
async fn sessions_end_on_logout_and_password_change() {
    let store = memory_store().await;
    let user = store.create_user("s@example.org", "S", "h1").await.unwrap();
    let first = store.start_session(&user.uid, 100, 0).await.unwrap();
    let second = store.start_session(&user.uid, 200, 0).await.unwrap();
    let session = store.session(&first).await.unwrap().unwrap();
    assert_eq!(
        (session.user.as_str(), session.started_at),
        (user.uid.as_str(), 100)
    );
    store.end_session(&first).await.unwrap();
    assert!(store.session(&first).await.unwrap().is_none());
    assert!(store.session(&second).await.unwrap().is_some());
    let third = store.change_password(&user.uid, "h2", 300).await.unwrap();
    assert!(store.session(&second).await.unwrap().is_none());
    assert!(store.session(&third).await.unwrap().is_some());
    assert_eq!(
        store
            .user_by_id(&user.uid)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "h2"
    );
    // Starting a session clears the user's sessions that outlived the cut-off.
    let fourth = store.start_session(&user.uid, 1000, 301).await.unwrap();
    assert!(store.session(&third).await.unwrap().is_none());
    assert!(store.session(&fourth).await.unwrap().is_some());
    assert!(matches!(
        store.change_password(&UserId::new("nobody"), "h", 1).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Concurrent writers contending for one record all succeed: conflicts are retried, not reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_member_removals_in_one_tenant_all_succeed() {
    let store = memory_store().await;
    let owner = store.create_user("o@example.org", "O", "h").await.unwrap();
    let tenant = store.create_tenant(&owner.uid, "Busy").await.unwrap();
    let mut members = Vec::new();
    for n in 0..20 {
        let user = store
            .create_user(&format!("m{n}@example.org"), "M", "h")
            .await
            .unwrap();
        store
            .add_member(&scope(&tenant.uid), &user, Role::Member)
            .await
            .unwrap();
        members.push(user.uid);
    }
    let removals = members.iter().map(|member| {
        let (store, tenant) = (store.clone(), tenant.uid.clone());
        let member = member.clone();
        tokio::spawn(async move { store.remove_member(&scope(&tenant), &member).await })
    });
    for outcome in futures::future::join_all(removals).await {
        outcome.unwrap().unwrap();
    }
    let (left, total) = store.members(&scope(&tenant.uid), ALL).await.unwrap();
    assert_eq!((left.len(), total), (1, 1));
}

#[tokio::test]
async fn seal_certificates_and_operations_stay_in_their_tenant() {
    use crate::ids::{SealCertificateId, SealOperationId};
    let store = memory_store().await;
    let uid = SealCertificateId::random();
    let new = NewSealCertificate {
        uid: uid.clone(),
        label: "acme".into(),
        key_algorithm: "ecdsa-p256".into(),
        kms: "local-kms".into(),
        key_uri: "sigil-soft:store=default;object=seal-x".into(),
        csr_pem: "csr".into(),
    };
    let created = store
        .create_seal_certificate(&scope("t1"), &new)
        .await
        .unwrap();
    assert_eq!(created.status, "provisioning");
    // Another tenant neither reads, lists, activates nor revokes it.
    assert!(
        store
            .seal_certificate(&scope("t2"), &uid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .seal_certificates(&scope("t2"))
            .await
            .unwrap()
            .is_empty()
    );
    let activation = Activation {
        chain_pem: "chain".into(),
        subject: "CN=Acme".into(),
        not_before: "2026-01-01T00:00:00Z".into(),
        not_after: "2027-01-01T00:00:00Z".into(),
    };
    assert!(matches!(
        store
            .activate_seal_certificate(&scope("t2"), &uid, &activation)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        !store
            .revoke_seal_certificate(&scope("t2"), &uid, 0)
            .await
            .unwrap()
    );
    // Activation only from provisioning; revocation records the key's deletion once.
    let active = store
        .activate_seal_certificate(&scope("t1"), &uid, &activation)
        .await
        .unwrap();
    assert_eq!(active.status, "active");
    assert!(
        store
            .activate_seal_certificate(&scope("t1"), &uid, &activation)
            .await
            .is_err()
    );
    assert!(
        store
            .revoke_seal_certificate(&scope("t1"), &uid, 1_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_seal_certificate(&scope("t1"), &uid, 1_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .due_key_deletions_of_all_tenants(999)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.due_key_deletions_of_all_tenants(1_000).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].key_uri, new.key_uri);
    store.key_deletion_done(&due[0].uid).await.unwrap();
    assert!(
        store
            .due_key_deletions_of_all_tenants(i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );

    // Operations: listed newest first, searched by label prefix or hash prefix, never across tenants.
    for (label, hash, p7s) in [
        (Some("invoice-1"), "aa11", None),
        (Some("contract"), "bb22", Some("cDdz".to_string())),
    ] {
        let operation = SealOperation {
            uid: SealOperationId::random(),
            file_name: None,
            size: 1,
            document_hash: hash.into(),
            format: "cades".into(),
            level: "B-T".into(),
            certificate_id: uid.to_string(),
            cert_label: "acme".into(),
            tsa_name: None,
            label: label.map(str::to_string),
            p7s,
            created_at: String::new(),
        };
        store
            .record_seal_operation(&scope("t1"), &operation)
            .await
            .unwrap();
    }
    let (all, total) = store
        .seal_operations(&scope("t1"), None, ALL)
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(all.len(), 2);
    let (found, _) = store
        .seal_operations(&scope("t1"), Some("INVOICE"), ALL)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].p7s.is_none());
    let (found, _) = store
        .seal_operations(&scope("t1"), Some("bb"), ALL)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].p7s.is_some(), "the list says a .p7s is kept");
    let kept = store
        .seal_operation(&scope("t1"), &found[0].uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.p7s.as_deref(), Some("cDdz"));
    assert!(
        store
            .seal_operation(&scope("t2"), &found[0].uid)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .seal_operations(&scope("t2"), None, ALL)
            .await
            .unwrap()
            .1,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_seal_operations_are_grouped_and_each_recorded_once() {
    use crate::ids::SealOperationId;
    let store = memory_store().await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let tenant = if i % 2 == 0 { "t1" } else { "t2" };
                let operation = SealOperation {
                    uid: SealOperationId::random(),
                    file_name: (i % 3 == 0).then(|| format!("file-{i}.bin")),
                    size: i,
                    document_hash: format!("{i:064x}"),
                    format: "cades".into(),
                    level: "B-T".into(),
                    certificate_id: "platform".into(),
                    cert_label: "Sigil platform seal".into(),
                    tsa_name: Some("Sigil local TSA".into()),
                    label: None,
                    p7s: None,
                    created_at: String::new(),
                };
                store
                    .record_seal_operation(&scope(tenant), &operation)
                    .await
                    .unwrap();
                (tenant, operation.uid)
            })
        })
        .collect();
    let mut recorded = Vec::new();
    for task in tasks {
        recorded.push(task.await.unwrap());
    }
    for tenant in ["t1", "t2"] {
        let (listed, total) = store
            .seal_operations(&scope(tenant), None, ALL)
            .await
            .unwrap();
        assert_eq!(total, 20, "{tenant}");
        let mut listed: Vec<_> = listed.into_iter().map(|o| o.uid).collect();
        let mut expected: Vec<_> = recorded
            .iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, uid)| uid.clone())
            .collect();
        listed.sort_by_key(|uid| uid.to_string());
        expected.sort_by_key(|uid| uid.to_string());
        assert_eq!(listed, expected, "{tenant}");
    }
}

fn claim(uid: &str, principal: &str, state: ApprovalState) -> NewApproval {
    NewApproval {
        uid: crate::ids::ApprovalId::new(uid),
        kind: "agent_claim",
        slot: format!("alice/svc/{principal}"),
        realm: "alice".into(),
        party: "svc".into(),
        principal: principal.into(),
        state,
        decided_by: (state != ApprovalState::Pending).then(|| DecidedBy::policy("limits", "x")),
        expires_at: Some(now_ms() + 60_000),
        payload: serde_json::Map::new(),
        owner_node: Some("node-a".into()),
    }
}

#[tokio::test]
async fn an_active_slot_answers_its_request_and_a_finished_one_is_replaced() {
    let store = memory_store().await;
    let tenant = scope("t1");
    let first = match store
        .submit_approval(
            &tenant,
            &claim("cl_1", "k1", ApprovalState::Pending),
            None,
            &Companions::none(),
        )
        .await
        .unwrap()
    {
        Submitted::Created(approval) => approval,
        Submitted::Existing(_) => panic!("a new slot must create"),
    };
    assert_eq!(first.state, ApprovalState::Pending);
    assert_eq!(first.owner_node.as_deref(), Some("node-a"));
    // Same slot again while pending: the existing request comes back.
    match store
        .submit_approval(
            &tenant,
            &claim("cl_2", "k1", ApprovalState::Pending),
            None,
            &Companions::none(),
        )
        .await
        .unwrap()
    {
        Submitted::Existing(approval) => assert_eq!(approval.uid, first.uid),
        Submitted::Created(_) => panic!("an active slot must not be replaced"),
    }
    // Another tenant cannot see it through the slot.
    assert!(matches!(
        store
            .submit_approval(
                &scope("t2"),
                &claim("cl_3", "k1", ApprovalState::Pending),
                None,
                &Companions::none()
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Rejected: the slot takes a fresh request with a new id.
    let rejected = store
        .transition_approval(
            &tenant,
            &first,
            ApprovalState::Rejected,
            &DecidedBy::user("u1", None),
            None,
            &Companions::none(),
        )
        .await
        .unwrap();
    assert_eq!(rejected.state, ApprovalState::Rejected);
    assert_eq!(rejected.owner_node, None);
    match store
        .submit_approval(
            &tenant,
            &claim("cl_4", "k1", ApprovalState::Pending),
            None,
            &Companions::none(),
        )
        .await
        .unwrap()
    {
        Submitted::Created(approval) => assert_eq!(approval.uid.as_str(), "cl_4"),
        Submitted::Existing(_) => panic!("a finished slot must be replaced"),
    }
    assert!(store.approval(&tenant, &first.uid).await.unwrap().is_none());
    // The audit trail of the first request survives its replacement.
    let audit = store.approval_audit(&tenant, &first.uid).await.unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
}

#[tokio::test]
async fn two_deciders_of_one_version_cannot_both_win() {
    let store = memory_store().await;
    let tenant = scope("t1");
    let Submitted::Created(pending) = store
        .submit_approval(
            &tenant,
            &claim("cl_1", "k1", ApprovalState::Pending),
            None,
            &Companions::none(),
        )
        .await
        .unwrap()
    else {
        panic!("created")
    };
    store
        .transition_approval(
            &tenant,
            &pending,
            ApprovalState::Approved,
            &DecidedBy::user("u1", None),
            None,
            &Companions::none(),
        )
        .await
        .unwrap();
    let late = store
        .transition_approval(
            &tenant,
            &pending,
            ApprovalState::Expired,
            &DecidedBy::timer(),
            None,
            &Companions::none(),
        )
        .await;
    assert!(
        matches!(late, Err(StoreError::Conflict(ref why)) if why == "state"),
        "{late:?}"
    );
    // Another tenant cannot decide it at all.
    let foreign = store
        .transition_approval(
            &scope("t2"),
            &pending,
            ApprovalState::Rejected,
            &DecidedBy::user("u2", None),
            None,
            &Companions::none(),
        )
        .await;
    assert!(foreign.is_err());
    let current = store
        .approval(&tenant, &pending.uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.state, ApprovalState::Approved);
    assert!(current.approved_at.is_some());
}

#[tokio::test]
async fn a_realm_guard_refuses_a_decision_made_on_stale_counts() {
    let store = memory_store().await;
    let tenant = scope("t1");
    let counts = store
        .realm_counts(&tenant, "agent_claim", "alice", "svc", 20)
        .await
        .unwrap();
    assert_eq!((counts.version, counts.pending), (0, 0));
    let guard = RealmGuard {
        key: "agent_claim:alice".into(),
        seen: counts.version,
    };
    store
        .submit_approval(
            &tenant,
            &claim("cl_1", "k1", ApprovalState::Pending),
            Some(&guard),
            &Companions::none(),
        )
        .await
        .unwrap();
    // A second decision on the same (now stale) counts must be refused.
    let stale = store
        .submit_approval(
            &tenant,
            &claim("cl_2", "k2", ApprovalState::Pending),
            Some(&guard),
            &Companions::none(),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(ref why)) if why == "stale"),
        "{stale:?}"
    );
    let counts = store
        .realm_counts(&tenant, "agent_claim", "alice", "svc", 20)
        .await
        .unwrap();
    assert_eq!((counts.version, counts.pending), (1, 1));
}

#[tokio::test]
async fn companion_statements_commit_with_the_change_or_not_at_all() {
    let store = memory_store().await;
    let tenant = scope("t1");
    let mut companions = Companions::none();
    let var = companions.next_var();
    companions.push(
        format!("CREATE probe CONTENT ${var}"),
        serde_json::json!({ "n": 1 }),
    );
    let Submitted::Created(pending) = store
        .submit_approval(
            &tenant,
            &claim("cl_1", "k1", ApprovalState::Pending),
            None,
            &companions,
        )
        .await
        .unwrap()
    else {
        panic!("created")
    };
    // A losing transition must not leave its companion behind.
    store
        .transition_approval(
            &tenant,
            &pending,
            ApprovalState::Approved,
            &DecidedBy::user("u", None),
            None,
            &Companions::none(),
        )
        .await
        .unwrap();
    let mut losing = Companions::none();
    let var = losing.next_var();
    losing.push(
        format!("CREATE probe CONTENT ${var}"),
        serde_json::json!({ "n": 2 }),
    );
    assert!(
        store
            .transition_approval(
                &tenant,
                &pending,
                ApprovalState::Rejected,
                &DecidedBy::user("u", None),
                None,
                &losing
            )
            .await
            .is_err()
    );
    let probes: Vec<serde_json::Value> = store
        .rows("SELECT n FROM probe;", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(probes, vec![serde_json::json!({ "n": 1 })]);
}

#[tokio::test]
async fn pending_requests_of_a_lapsed_node_are_adopted() {
    let store = memory_store().await;
    let tenant = scope("t1");
    let now = now_ms();
    store
        .renew_node_lease("node-a", now + 30_000)
        .await
        .unwrap();
    store
        .submit_approval(
            &tenant,
            &claim("cl_1", "k1", ApprovalState::Pending),
            None,
            &Companions::none(),
        )
        .await
        .unwrap();
    // node-a is alive: node-b takes nothing.
    assert!(
        store
            .adopt_pending_all_tenants("node-b", now)
            .await
            .unwrap()
            .is_empty()
    );
    // node-a's lease lapses: node-b takes its request.
    store.renew_node_lease("node-a", now - 1).await.unwrap();
    let adopted = store
        .adopt_pending_all_tenants("node-b", now)
        .await
        .unwrap();
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].uid.as_str(), "cl_1");
    let held = store
        .approval(&tenant, &adopted[0].uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.owner_node.as_deref(), Some("node-b"));
}

/// The periodic check takes over only lapsed nodes' requests (a clean stop lapses the lease at once), leaves a
/// live node's alone, and forgets a lapsed lease once it holds nothing; the check at start keeps the node's
/// own requests.
#[tokio::test]
async fn a_released_lease_is_taken_over_by_the_periodic_check_then_forgotten() {
    let store = memory_store().await;
    let tenant = scope("t1");
    let now = now_ms();
    for node in ["node-a", "node-b", "node-c"] {
        store.renew_node_lease(node, now + 30_000).await.unwrap();
    }
    for (uid, principal, node) in [("cl_a", "ka", "node-a"), ("cl_c", "kc", "node-c")] {
        let mut held = claim(uid, principal, ApprovalState::Pending);
        held.owner_node = Some(node.into());
        store
            .submit_approval(&tenant, &held, None, &Companions::none())
            .await
            .unwrap();
    }
    let owner = |uid: &'static str| {
        let store = store.clone();
        let tenant = tenant.clone();
        async move {
            let held = store
                .approval(&tenant, &crate::ids::ApprovalId::new(uid))
                .await
                .unwrap();
            (
                held.as_ref().and_then(|h| h.owner_node.clone()),
                held.map(|h| h.version),
            )
        }
    };
    let nothing_moves = || async {
        assert!(
            store
                .adopt_lapsed_all_tenants("node-b", now)
                .await
                .unwrap()
                .is_empty()
        )
    };
    // Everyone is alive: nothing moves.
    nothing_moves().await;
    // node-a stops cleanly: node-b's next check takes its request, and only that one.
    store.release_node_lease("node-a").await.unwrap();
    let adopted = store.adopt_lapsed_all_tenants("node-b", now).await.unwrap();
    assert_eq!(
        adopted.iter().map(|a| a.uid.as_str()).collect::<Vec<_>>(),
        ["cl_a"]
    );
    assert_eq!(owner("cl_a").await.0.as_deref(), Some("node-b"));
    assert_eq!(owner("cl_c").await.0.as_deref(), Some("node-c"));
    // The next check finds node-a's lease holding nothing and forgets it; the live leases stay.
    nothing_moves().await;
    let mut leases: Vec<String> = store
        .rows::<serde_json::Value>(
            "SELECT VALUE meta::id(id) FROM node_lease;",
            serde_json::json!({}),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|node| node.as_str().unwrap().to_string())
        .collect();
    leases.sort();
    assert_eq!(leases, ["node-b", "node-c"]);
    // node-c restarts: the check at start returns its own request, still its own.
    let before = owner("cl_c").await;
    let held = store
        .adopt_pending_all_tenants("node-c", now)
        .await
        .unwrap();
    assert_eq!(
        held.iter().map(|a| a.uid.as_str()).collect::<Vec<_>>(),
        ["cl_c"]
    );
    assert_eq!(owner("cl_c").await, before);
}

/// Settings written before version 13 (under a random id) are found after the migration that keys them by
/// tenant, and the next write replaces them rather than adding a second row.
#[tokio::test]
async fn tenant_settings_of_an_older_store_are_keyed_by_tenant_by_the_migration() {
    let store = memory_store().await;
    store
        .run(
            "CREATE tenant_settings CONTENT { tenant: 't1', enabled_tsa_slugs: ['local'], \
                 public_lookup: 'full', store_cades_seals: true, updated_at: time::now() };\
             UPSERT meta:schema SET version = 12;",
            json!({}),
        )
        .await
        .unwrap();
    schema::migrate(&store).await.unwrap();
    assert_eq!(
        schema::current_version(&store).await.unwrap(),
        SCHEMA_VERSION
    );
    let mut settings = TenantSettings {
        enabled_tsa_slugs: vec!["local".into()],
        public_lookup: PublicLookup::Full,
        store_cades_seals: true,
    };
    assert_eq!(store.tenant_settings(&scope("t1")).await.unwrap(), settings);
    settings.store_cades_seals = false;
    store
        .set_tenant_settings(&scope("t1"), &settings)
        .await
        .unwrap();
    assert_eq!(store.tenant_settings(&scope("t1")).await.unwrap(), settings);
    let rows: Vec<serde_json::Value> = store
        .rows("SELECT * FROM tenant_settings;", json!({}))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn a_nonce_is_accepted_once_until_it_expires() {
    let store = memory_store().await;
    let now = now_ms();
    assert!(
        store
            .record_nonce("sig:alice", "n1", now + 600_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_nonce("sig:alice", "n1", now + 600_000)
            .await
            .unwrap()
    );
    // Scopes are separate.
    assert!(
        store
            .record_nonce("sig:bob", "n1", now + 600_000)
            .await
            .unwrap()
    );
    // An expired record counts until the sweeper forgets it; then the nonce is new again.
    assert!(
        store
            .record_nonce("sig:carol", "n2", now - 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_nonce("sig:carol", "n2", now + 600_000)
            .await
            .unwrap()
    );
    assert_eq!(store.sweep_nonces().await.unwrap(), 1);
    assert!(
        store
            .record_nonce("sig:carol", "n2", now + 600_000)
            .await
            .unwrap()
    );
    // Concurrent records of one nonce: exactly one is new, whether or not they share a batch.
    let attempts = (0..16).map(|_| store.record_nonce("sig:dave", "n3", now + 600_000));
    let fresh = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|outcome| *outcome.as_ref().unwrap())
        .count();
    assert_eq!(fresh, 1);
}
