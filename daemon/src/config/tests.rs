use super::*;

fn parse(text: &str) -> Result<Config, String> {
    let config = Config::from_toml(text, Path::new("test.toml")).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn shipped_config_is_the_default() {
    let text = include_str!("../../../config/sigild.toml");
    assert_eq!(
        parse(text).unwrap(),
        Config::default(),
        "config/sigild.toml must show every default"
    );
}

#[test]
fn isolation_defaults_to_in_process_and_reaches_provider_instances() {
    let config = parse(
        r#"
        [[plugins]]
        name = "vendor"
        file = "libvendor.so"
        isolation = "process"

        [[plugins]]
        name = "plain"
        file = "libplain.so"

        [[tsa_providers]]
        slug = "remote"
        name = "Remote"
        plugin = "tsa-http"
        isolation = "process"
        "#,
    )
    .unwrap();
    let isolation = |name: &str| {
        crate::wiring::plugin_instances(&config)
            .into_iter()
            .find(|p| p.name == name)
            .map(|p| p.isolation)
    };
    assert_eq!(isolation("vendor"), Some(Isolation::Process));
    assert_eq!(isolation("plain"), Some(Isolation::InProcess));
    assert_eq!(isolation("tsa-remote"), Some(Isolation::Process));
    assert_eq!(isolation("local-kms"), Some(Isolation::InProcess));
    assert!(
        parse("[[plugins]]\nname = \"x\"\nfile = \"x.so\"\nisolation = \"sandbox\"\n")
            .unwrap_err()
            .to_string()
            .contains("`in_process`")
    );
}

#[test]
fn errors_name_key_and_line() {
    let cases: &[(&str, &str)] = &[
        ("[server]\nlistn = \"1.2.3.4:5\"\n", "unknown field `listn`"),
        ("[server]\nlistn = \"1.2.3.4:5\"\n", "line 2"),
        ("[nope]\n", "unknown field `nope`"),
        ("[server]\nlisten = \"not an address\"\n", "line 2"),
        ("[server]\nrequest_timeout = \"soon\"\n", "line 2"),
        (
            "[limits]\nsession_per_minute = 0\n",
            "limits.session_per_minute",
        ),
        (
            "[storage]\nurl = \"postgres://x\"\n",
            "unsupported storage url",
        ),
        (
            "[storage]\nurl = \"ws://user:pw@host:8000\"\n",
            "no inline credentials",
        ),
        ("[auth]\njwt_ttl = \"1s\"\n", "auth.jwt_ttl"),
        ("[log]\nformat = \"xml\"\n", "line 2"),
        ("[server\n", "line 1"),
    ];
    for (text, expected) in cases {
        let error = parse(text).expect_err(text);
        assert!(
            error.contains(expected),
            "{text:?}: `{error}` should contain `{expected}`"
        );
    }
}

#[test]
fn shipped_providers_can_be_included_and_are_disabled() {
    let providers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/providers.toml");
    let dir = std::env::temp_dir().join(format!("sigil-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let main = dir.join("sigild.toml");
    std::fs::write(
        &main,
        format!("include = [{:?}]\n", providers.display().to_string()),
    )
    .unwrap();
    let config = Config::load(Some(&main), &Overrides::default()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let slugs: Vec<&str> = config
        .tsa_providers
        .iter()
        .map(|p| p.slug.as_str())
        .collect();
    for expected in [
        "digicert",
        "sectigo",
        "globalsign",
        "swisssign",
        "rfc3161.ai.moda",
        "skid-ecc",
        "skid-rsa",
    ] {
        assert!(
            slugs.contains(&expected),
            "{expected} missing from {slugs:?}"
        );
    }
    assert!(
        config
            .tsa_providers
            .iter()
            .all(|p| !p.enabled && p.plugin_file() == "libsigil_tsa_http.so")
    );
    // Disabled providers get no plugin instance; the local TSA's KMS is implicit.
    let names: Vec<String> = crate::wiring::plugin_instances(&config)
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["local-kms"]);
}

#[test]
fn debug_never_shows_secrets() {
    let text = r#"
        [storage]
        username = "sigil"
        password_file = "/run/credentials/surrealdb-password"

        [[plugins]]
        name = "hsm"
        file = "libsigil_kms_pkcs11.so"
        [plugins.config]
        token_label = "sigil"
        pin = "pin-7391"

        [[plugins]]
        name = "push"
        file = "libsigil_push_webhook.so"
        [plugins.config]
        secret = "webhook-secret-5521"
        secret_file = "/etc/sigil/webhook.key"
        [plugins.config.nested]
        password = "nested-password-1"

        [[tsa_providers]]
        slug = "acme"
        name = "Acme TSA"
        plugin = "tsa-http"
        [tsa_providers.config]
        url = "https://tsa.example"
        username = "alice"
        password = "tsa-password-8812"
    "#;
    let config = parse(text).unwrap();
    let shown = format!("{config:?}");
    for secret in [
        "pin-7391",
        "webhook-secret-5521",
        "nested-password-1",
        "tsa-password-8812",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    for visible in [
        "token_label",
        "/etc/sigil/webhook.key",
        "alice",
        "https://tsa.example",
        "/run/credentials/surrealdb-password",
        "<redacted>",
    ] {
        assert!(shown.contains(visible), "{visible} missing from {shown}");
    }
}

#[test]
fn entry_errors_carry_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sigild.toml");
    std::fs::write(
        &path,
        "[local_tsa]\nenabled = false\n\n[[tsa_providers]]\nslug = \"acme\"\nname = \"Acme\"\nplugin = '../x'\n",
    )
    .unwrap();
    let error = Config::load(Some(&path), &Overrides::default()).unwrap_err();
    let ConfigError::InvalidAt { key, line, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!((*key, *line), ("tsa_providers.plugin", 7), "{error}");
    // A key outside the entries keeps the plain form.
    let sources = vec![(path.clone(), "x = \"`y`\"\n".to_string())];
    let plain = ConfigError::Invalid {
        key: "server.max_body_bytes",
        reason: "`x` is wrong".into(),
    }
    .located(&sources);
    assert!(matches!(plain, ConfigError::Invalid { .. }));
    assert_eq!(locate(&sources, "x", "`y`").map(|(_, line)| line), Some(1));
}

#[test]
fn missing_plugin_files_name_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[plugin_host]\ndir = {:?}\n\n[[plugins]]\nname = \"a\"\nfile = \"liba.so\"\n\n[[plugins]]\nname = \"off\"\nfile = \"liboff.so\"\nenabled = false\n",
        dir.path().display().to_string()
    );
    let path = dir.path().join("sigild.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load(Some(&path), &Overrides::default()).unwrap();
    let missing = config.missing_plugin_files(&source_files(Some(&path), &config));
    // liba.so and the implicit local KMS; the disabled entry is not loaded, so not checked.
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(missing[0].contains("`plugins.file`") && missing[0].contains("line 6"));
    assert!(missing[1].contains("`local_tsa.kms`"));
    std::fs::write(dir.path().join("liba.so"), b"").unwrap();
    std::fs::write(dir.path().join("libsigil_kms_soft.so"), b"").unwrap();
    assert!(config.missing_plugin_files(&[]).is_empty());
}

#[test]
fn store_urls() {
    assert_eq!(StoreUrl::parse("mem://").unwrap(), StoreUrl::Memory);
    assert_eq!(
        StoreUrl::parse("surrealkv:///tmp/x").unwrap(),
        StoreUrl::SurrealKv("/tmp/x".into())
    );
    assert_eq!(
        StoreUrl::parse("ws://db:8000").unwrap(),
        StoreUrl::Remote("ws://db:8000".into())
    );
    assert!(StoreUrl::parse("surrealkv://").is_err());
    assert!(StoreUrl::parse("rocksdb://x").is_err());
}

#[test]
fn overrides_win() {
    let overrides = Overrides {
        listen: Some("127.0.0.1:9".parse().unwrap()),
        data_dir: Some(PathBuf::from("/tmp/d")),
    };
    let config = Config::load(None, &overrides).unwrap();
    assert_eq!(config.server.listen.port(), 9);
    assert_eq!(
        config.store_url(),
        StoreUrl::SurrealKv("/tmp/d/store".into())
    );
}
