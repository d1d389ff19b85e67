//! Black-box tests of the ABI as plugin authors and C compilers see it. One binary, one module per area.
#![allow(unsafe_code)] // reason: these tests load plugins and call them through the C ABI, as the host does.

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The C compiler to use, or `None` (the C tests then say so and pass: the drift test still guards the header).
fn c_compiler() -> Option<String> {
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let found = Command::new(&compiler).arg("--version").output().is_ok();
    if !found {
        eprintln!("no C compiler ({compiler}); skipping a C check");
    }
    found.then_some(compiler)
}

/// Runs a compiler command and fails the test with its output on error.
fn run(mut command: Command) {
    let output = command.output().expect("compiler runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The committed header is exactly what the Rust definitions generate.
mod header {
    use super::*;

    #[test]
    fn header_matches_the_rust_definitions() {
        let path = crate_dir().join("include/sigil_plugin.h");
        let generated = sigil_plugin_api::c_header();
        if std::env::var_os("SIGIL_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write the header");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
            panic!(
                "include/sigil_plugin.h drifted from the Rust ABI definitions (first difference at line {}).\n\
                 Regenerate with `SIGIL_BLESS=1 cargo test -p sigil-plugin-api --test abi header` and review \
                 the diff: any change to an existing line breaks ABI v1.",
                line + 1
            );
        }
    }

    #[test]
    fn header_compiles_as_c11_and_cpp() {
        let Some(cc) = c_compiler() else { return };
        let include = crate_dir().join("include");
        let mut c = Command::new(&cc);
        c.args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-fsyntax-only",
            "-x",
            "c",
        ])
        .arg("-I")
        .arg(&include)
        .arg(include.join("sigil_plugin.h"));
        run(c);
        if Command::new("c++").arg("--version").output().is_ok() {
            let mut cpp = Command::new("c++");
            cpp.args([
                "-std=c++11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-fsyntax-only",
                "-x",
                "c++",
            ])
            .arg(include.join("sigil_plugin.h"));
            run(cpp);
        }
    }
}

/// The README's example plugins are the files that the build and these tests compile.
mod readme {
    use super::*;

    #[test]
    fn readme_embeds_the_example_plugins_verbatim() {
        let readme = std::fs::read_to_string(crate_dir().join("README.md")).unwrap();
        for example in ["examples/minimal_push.rs", "examples/c/minimal_push.c"] {
            let source = std::fs::read_to_string(crate_dir().join(example)).unwrap();
            assert!(
                readme.contains(&source),
                "README.md must contain {example} verbatim; copy the file into its code block"
            );
        }
    }
}

/// A plugin written in C, built as a shared object and loaded with dlopen, driven through the Rust host API.
#[cfg(target_os = "linux")]
mod c_plugin {
    use super::*;
    use core::ffi::{c_char, c_int, c_void};
    use std::ffi::{CStr, CString};

    use sigil_plugin_api::{
        DescriptorError, PluginKind, SIGIL_PLUGIN_ABI_MAJOR, SIGIL_PLUGIN_ENTRY_SYMBOL,
        SendResponse, SigilPluginEntryFn, Status, ValidateRecipientResponse, ValidatedDescriptor,
        validate_descriptor,
    };

    const RTLD_NOW: c_int = 2;
    const RTLD_LOCAL: c_int = 0;

    unsafe extern "C" {
        // In glibc's libc.so.6 since 2.34, which the Rust standard library already links.
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
        fn dlerror() -> *const c_char;
    }

    /// Compiles `source` into a shared object in the test's scratch directory.
    fn build_shared_object(cc: &str, source: &Path, name: &str) -> PathBuf {
        let output = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lib{name}.so"));
        let mut command = Command::new(cc);
        command
            .args([
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-shared",
                "-fPIC",
            ])
            .arg("-I")
            .arg(crate_dir().join("include"))
            .arg("-o")
            .arg(&output)
            .arg(source);
        run(command);
        output
    }

    /// Loads a plugin and validates its descriptor. The library is never closed, as in sigild.
    fn load(path: &Path) -> Result<ValidatedDescriptor, DescriptorError> {
        let path = CString::new(path.to_str().unwrap()).unwrap();
        let symbol = CString::new(SIGIL_PLUGIN_ENTRY_SYMBOL).unwrap();
        // SAFETY: valid NUL-terminated strings; the handle is deliberately leaked (never dlclose).
        let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a NUL-terminated message after a failed dlopen.
            panic!("dlopen: {:?}", unsafe { CStr::from_ptr(dlerror()) });
        }
        // SAFETY: as above.
        let entry = unsafe { dlsym(handle, symbol.as_ptr()) };
        assert!(
            !entry.is_null(),
            "the plugin exports {SIGIL_PLUGIN_ENTRY_SYMBOL}"
        );
        // SAFETY: the symbol is the plugin's entry function, of type SigilPluginEntryFn by the ABI.
        let entry: SigilPluginEntryFn = unsafe { std::mem::transmute(entry) };
        // SAFETY: the descriptor comes from the entry symbol of a library that stays loaded.
        unsafe { validate_descriptor(entry()) }
    }

    #[test]
    fn c_plugin_builds_loads_and_serves() {
        let Some(cc) = c_compiler() else { return };
        let library = build_shared_object(
            &cc,
            &crate_dir().join("examples/c/minimal_push.c"),
            "c_push",
        );
        let plugin = load(&library).expect("the C plugin's descriptor is valid");
        assert_eq!(plugin.kind(), PluginKind::PushChannel);
        assert_eq!(plugin.name(), "c-push");
        assert_eq!(plugin.version(), "1.0.0");

        let instance = plugin.create_instance(b"{}").unwrap();
        assert_eq!(instance.health().unwrap().detail, None);

        let valid: ValidateRecipientResponse = instance
            .call_message(
                "validate_recipient",
                &serde_json::json!({"recipient": "device:7"}),
            )
            .unwrap();
        assert!(valid.valid);
        let invalid: ValidateRecipientResponse = instance
            .call_message("validate_recipient", &serde_json::json!({"recipient": ""}))
            .unwrap();
        assert!(!invalid.valid && invalid.reason.is_some());

        // Concurrent sends from several threads (max_concurrency 0: no bound) get distinct ids.
        let mut ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|n| {
                    let instance = &instance;
                    scope.spawn(move || {
                        let sent: SendResponse = instance
                            .call_message(
                                "send",
                                &serde_json::json!({"recipient": "device:7", "payload": {"n": n},
                                                    "idempotency_key": format!("k{n}")}),
                            )
                            .unwrap();
                        sent.delivery_id
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        ids.sort();
        assert_eq!(ids, ["c-1", "c-2", "c-3", "c-4"]);

        let error = instance.call("sign", b"{}").unwrap_err();
        assert_eq!(error.status, Status::Unsupported);
        assert_eq!(error.message, "unknown op");
    }

    #[test]
    fn c_plugin_with_another_major_is_refused_by_field() {
        let Some(cc) = c_compiler() else { return };
        let source = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wrong_major.c");
        std::fs::write(
            &source,
            "#include <sigil_plugin.h>\n\
             static const SigilPluginDescriptor d = {.magic = SIGIL_PLUGIN_MAGIC,\n\
                 .struct_size = sizeof(SigilPluginDescriptor), .abi_major = SIGIL_PLUGIN_ABI_MAJOR + 1};\n\
             SIGIL_PLUGIN_EXPORT const SigilPluginDescriptor *sigil_plugin_entry_v1(void) { return &d; }\n",
        )
        .unwrap();
        let library = build_shared_object(&cc, &source, "wrong_major");
        let error = load(&library).unwrap_err();
        assert_eq!(
            error,
            DescriptorError::AbiMajorMismatch {
                found: SIGIL_PLUGIN_ABI_MAJOR + 1,
                expected: SIGIL_PLUGIN_ABI_MAJOR
            }
        );
        assert!(error.to_string().contains("abi_major"), "{error}");
    }
}

/// A Rust plugin exported with the macro from outside the crate, exactly as a plugin author writes it.
mod rust_plugin {
    use sigil_plugin_api::serde_json::Value;
    use sigil_plugin_api::{
        PluginError, PluginKind, SigilPluginDescriptor, Status, TimestampRequest,
        TimestampResponse, TsaBackend, TsaDescribeRequest, TsaDescription, export_tsa_backend,
        validate_descriptor,
    };

    /// Echoes the request as the "response"; a request of one 0xFF byte makes it panic.
    struct EchoTsa;

    impl TsaBackend for EchoTsa {
        fn create(_config: Value) -> Result<Self, PluginError> {
            Ok(EchoTsa)
        }

        fn describe(&self, _request: TsaDescribeRequest) -> Result<TsaDescription, PluginError> {
            Ok(TsaDescription {
                slug: "echo".into(),
                name: "Echo TSA".into(),
                hash_algorithms: vec!["sha256".into()],
                qualified: false,
                policy_oid: None,
            })
        }

        fn timestamp(&self, request: TimestampRequest) -> Result<TimestampResponse, PluginError> {
            if request.request_der.0 == [0xFF] {
                panic!("the echo TSA choked");
            }
            Ok(TimestampResponse {
                response_der: request.request_der,
            })
        }
    }

    export_tsa_backend!(
        EchoTsa,
        name = "echo-tsa",
        version = "2.0.0",
        max_concurrency = 4
    );

    unsafe extern "C" {
        fn sigil_plugin_entry_v1() -> *const SigilPluginDescriptor;
    }

    #[test]
    fn exported_tsa_serves_and_survives_a_panic() {
        // SAFETY: the entry symbol defined above by the macro; this binary is never unloaded.
        let plugin = unsafe { validate_descriptor(sigil_plugin_entry_v1()) }.unwrap();
        assert_eq!(plugin.kind(), PluginKind::TsaBackend);
        assert_eq!((plugin.name(), plugin.version()), ("echo-tsa", "2.0.0"));
        assert_eq!(plugin.max_concurrency(), 4);

        let instance = plugin.create_instance(b"").unwrap();
        let description: TsaDescription = instance
            .call_message("describe", &TsaDescribeRequest {})
            .unwrap();
        assert_eq!(description.slug, "echo");
        let response: TimestampResponse = instance
            .call_message(
                "timestamp",
                &TimestampRequest {
                    request_der: vec![0x30, 0x00].into(),
                    timeout_ms: Some(1000),
                },
            )
            .unwrap();
        assert_eq!(&*response.response_der, &[0x30, 0x00]);

        let error = instance
            .call("timestamp", br#"{"request_der":"/w=="}"#)
            .unwrap_err();
        assert_eq!(error.status, Status::Panicked);
        assert!(error.message.contains("the echo TSA choked"), "{error}");
        let error = instance.call("describe", b"{}").unwrap_err();
        assert_eq!(error.status, Status::Panicked);

        drop(instance);
        let fresh = plugin.create_instance(b"").unwrap();
        fresh.call("describe", b"").unwrap();
    }
}
