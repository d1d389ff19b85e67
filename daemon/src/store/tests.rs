//! Store operations against the real embedded engine in memory.

use super::*;

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
        .add_member(&tenant.uid, &member, Role::Member)
        .await
        .unwrap();
    assert!(matches!(
        store.add_member(&tenant.uid, &member, Role::Owner).await,
        Err(StoreError::Conflict(_))
    ));
    let (members, total) = store.members(&tenant.uid, ALL).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        members.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
        ["o@example.org", "m@example.org"]
    );
    let last_owner = store.remove_member(&tenant.uid, &owner.uid).await;
    assert!(
        matches!(last_owner, Err(StoreError::Conflict(_))),
        "{last_owner:?}"
    );
    assert_eq!(
        store.role_of(&tenant.uid, &owner.uid).await.unwrap(),
        Some(Role::Owner),
        "rolled back"
    );
    store.remove_member(&tenant.uid, &member.uid).await.unwrap();
    assert!(matches!(
        store.remove_member(&tenant.uid, &member.uid).await,
        Err(StoreError::NotFound(_))
    ));
    let window = Window {
        offset: 0,
        limit: 1,
    };
    assert_eq!(store.members(&tenant.uid, window).await.unwrap().0.len(), 1);
}

#[tokio::test]
async fn api_keys_are_found_by_hash_and_revoked_within_their_tenant() {
    let store = memory_store().await;
    let owner = store.create_user("o@example.org", "O", "h").await.unwrap();
    let a = store.create_tenant(&owner.uid, "A").await.unwrap();
    let b = store.create_tenant(&owner.uid, "B").await.unwrap();
    let key = store
        .create_api_key(&a.uid, "ci", "live", "sgk_live_0123", "ff00", &owner.uid)
        .await
        .unwrap();
    assert_eq!(
        store.api_key_by_hash("ff00").await.unwrap().unwrap().uid,
        key.uid
    );
    assert!(
        store
            .create_api_key(&a.uid, "dup", "live", "p", "ff00", &owner.uid)
            .await
            .is_err()
    );
    assert!(matches!(
        store.revoke_api_key(&b.uid, &key.uid).await,
        Err(StoreError::NotFound(_))
    ));
    store.touch_api_key(&key.uid).await.unwrap();
    assert!(
        store.api_keys(&a.uid, ALL).await.unwrap().0[0]
            .last_used_at
            .is_some()
    );
    store.revoke_api_key(&a.uid, &key.uid).await.unwrap();
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
