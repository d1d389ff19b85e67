//! Generates the C header `include/sigil_plugin.h` from the ABI definitions in [`crate::abi`] and
//! [`crate::messages`], so C plugins and the Rust side share one source. A test compares the committed file
//! with [`c_header`] and fails on drift; `SIGIL_BLESS=1` rewrites it.

use std::fmt::Write as _;

use crate::abi::{
    PluginKind, SigilBuffer, SigilPluginDescriptor, SigilPluginVtable, SigilSlice, Status,
    abi_constants, abi_fn_types,
};
use crate::layout::{CConstant, CEnumLayout, CFnTypedef, CStructLayout};
use crate::messages::op_constants;

const PREAMBLE: &str = "\
/*
 * sigil_plugin.h: the C ABI (v1) between sigild and its dynamic plugins.
 *
 * GENERATED from the Rust crate sigil-plugin-api by sigil_plugin_api::c_header(). Do not edit: change the Rust
 * definitions, then run `SIGIL_BLESS=1 cargo test -p sigil-plugin-api --test abi header` and commit both.
 *
 * A plugin is a shared library that exports one function, sigil_plugin_entry_v1, returning a pointer to a
 * static SigilPluginDescriptor. Only scalars, opaque handles and byte buffers cross the boundary; payloads are
 * JSON messages documented in plugin-api/README.md. Lifecycle: the host loads the library (and never unloads
 * it), validates the descriptor, then calls create, health, call... and finally destroy on each instance.
 * Buffers returned by the plugin are released with their own free function; slices passed by the host are
 * borrowed for the duration of one call.
 */
#ifndef SIGIL_PLUGIN_H
#define SIGIL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern \"C\" {
#endif

/* Marks the entry symbol as exported even when building with -fvisibility=hidden. */
#ifndef SIGIL_PLUGIN_EXPORT
#  if defined(_WIN32)
#    define SIGIL_PLUGIN_EXPORT __declspec(dllexport)
#  elif defined(__GNUC__)
#    define SIGIL_PLUGIN_EXPORT __attribute__((visibility(\"default\")))
#  else
#    define SIGIL_PLUGIN_EXPORT
#  endif
#endif

";

const POSTAMBLE: &str = "\
#ifdef __cplusplus
} /* extern \"C\" */
#endif

#endif /* SIGIL_PLUGIN_H */
";

/// Returns the text of `include/sigil_plugin.h` for this version of the ABI.
///
/// The layout assertions at its end carry this target's sizes and offsets; the committed header is
/// generated on a 64-bit target, which is the layout the crate freezes.
pub fn c_header() -> String {
    let mut out = String::from(PREAMBLE);

    section(&mut out, "ABI identity");
    for constant in abi_constants() {
        define(&mut out, &constant);
    }

    section(&mut out, "Plugin kinds");
    c_enum(&mut out, &PluginKind::c_layout());

    section(&mut out, "Status codes");
    c_enum(&mut out, &Status::c_layout());

    section(&mut out, "Op names (the `op` argument of the call hook)");
    for constant in op_constants() {
        define(&mut out, &constant);
    }

    let structs = [
        SigilSlice::c_layout(),
        SigilBuffer::c_layout(),
        SigilPluginVtable::c_layout(),
        SigilPluginDescriptor::c_layout(),
    ];

    section(&mut out, "Types");
    out.push_str(
        "/**\n * An instance of a plugin, created by the create hook. Opaque to the host.\n *\n * OWNERSHIP: \
         allocated by the plugin in create, owned by the host until it passes the handle to destroy\n * \
         exactly once. The host never dereferences it.\n */\n",
    );
    out.push_str("typedef struct SigilInstance SigilInstance;\n");
    for layout in &structs {
        let _ = writeln!(out, "typedef struct {0} {0};", layout.name);
    }
    out.push('\n');

    section(&mut out, "Hooks the plugin implements");
    for typedef in abi_fn_types() {
        fn_typedef(&mut out, &typedef);
    }

    section(&mut out, "Structs");
    for layout in &structs {
        c_struct(&mut out, layout);
    }

    section(&mut out, "Entry symbol");
    let _ = writeln!(
        out,
        "/** Defined by every plugin (type SigilPluginEntryFn); the name carries the ABI major. */\n\
         SIGIL_PLUGIN_EXPORT const SigilPluginDescriptor *{}(void);\n",
        crate::abi::SIGIL_PLUGIN_ENTRY_SYMBOL
    );

    section(&mut out, "Layout checks");
    layout_asserts(&mut out, &structs);

    out.push_str(POSTAMBLE);
    out
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "/* ---- {title} ---- */\n");
}

/// Writes a doc comment; Rust doc lines carry one leading space, which is dropped.
fn doc(out: &mut String, lines: &[&str], indent: &str) {
    let lines: Vec<&str> = lines
        .iter()
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    for line in &lines {
        assert!(
            !line.contains("*/"),
            "doc line {line:?} would end the C comment"
        );
    }
    match lines.as_slice() {
        [] => {}
        [line] => {
            let _ = writeln!(out, "{indent}/** {line} */");
        }
        lines => {
            let _ = writeln!(out, "{indent}/**");
            for line in lines {
                if line.is_empty() {
                    let _ = writeln!(out, "{indent} *");
                } else {
                    let _ = writeln!(out, "{indent} * {line}");
                }
            }
            let _ = writeln!(out, "{indent} */");
        }
    }
}

fn define(out: &mut String, constant: &CConstant) {
    doc(out, constant.doc, "");
    let _ = writeln!(out, "#define {} {}\n", constant.name, constant.literal);
}

fn c_enum(out: &mut String, layout: &CEnumLayout) {
    doc(out, layout.doc, "");
    let _ = writeln!(out, "typedef uint32_t {};\n", layout.typedef);
    let _ = writeln!(out, "/** Values of {}. */", layout.typedef);
    let _ = writeln!(out, "enum {}Value {{", layout.typedef);
    for variant in &layout.variants {
        doc(out, variant.doc, "    ");
        let _ = writeln!(out, "    {} = {},", variant.name, variant.literal);
    }
    out.push_str("};\n\n");
}

/// Translates the Rust spelling of an ABI type into C. Panics on a type the ABI does not use, so that adding
/// one forces a decision here.
fn c_type(rust: &str) -> String {
    let rust = rust.trim();
    if let Some(inner) = rust.strip_prefix("*const") {
        let inner = c_type(inner);
        assert!(
            !inner.ends_with('*'),
            "pointer to const pointer is not used by the ABI"
        );
        return format!("const {inner} *");
    }
    if let Some(inner) = rust.strip_prefix("*mut") {
        let inner = c_type(inner);
        return if inner.ends_with('*') {
            format!("{inner}*")
        } else {
            format!("{inner} *")
        };
    }
    if let Some(inner) = rust
        .strip_prefix("Option")
        .map(str::trim_start)
        .and_then(|rest| rest.strip_prefix('<'))
        .and_then(|rest| rest.strip_suffix('>'))
    {
        // Option<fn> is a nullable function pointer; in C the typedef itself is nullable.
        let inner = c_type(inner);
        assert!(
            inner.ends_with("Fn") || inner.ends_with("Hook"),
            "Option<{inner}> is not a nullable function pointer"
        );
        return inner;
    }
    let name = rust.rsplit("::").next().unwrap_or(rust).trim();
    match name {
        "u8" => "uint8_t".to_owned(),
        "u16" => "uint16_t".to_owned(),
        "u32" => "uint32_t".to_owned(),
        "u64" => "uint64_t".to_owned(),
        "usize" => "size_t".to_owned(),
        "c_char" => "char".to_owned(),
        "c_void" => "void".to_owned(),
        name if name.starts_with("Sigil") && name.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            name.to_owned()
        }
        other => panic!("no C spelling for Rust type {other:?}"),
    }
}

/// `type name`, without a space after a `*`.
fn declare(c_type: &str, name: &str) -> String {
    if c_type.ends_with('*') {
        format!("{c_type}{name}")
    } else {
        format!("{c_type} {name}")
    }
}

fn fn_typedef(out: &mut String, typedef: &CFnTypedef) {
    doc(out, typedef.doc, "");
    let ret = typedef.ret.map_or_else(|| "void".to_owned(), c_type);
    let head = declare(&ret, &format!("(*{})", typedef.name));
    let params: Vec<String> = typedef
        .params
        .iter()
        .map(|(name, rust)| declare(&c_type(rust), name))
        .collect();
    match params.len() {
        0 => {
            let _ = writeln!(out, "typedef {head}(void);\n");
        }
        1 => {
            let _ = writeln!(out, "typedef {head}({});\n", params[0]);
        }
        _ => {
            let _ = writeln!(out, "typedef {head}(\n    {});\n", params.join(",\n    "));
        }
    }
}

fn c_struct(out: &mut String, layout: &CStructLayout) {
    doc(out, layout.doc, "");
    let _ = writeln!(out, "struct {} {{", layout.name);
    for field in &layout.fields {
        doc(out, field.doc, "    ");
        let _ = writeln!(
            out,
            "    {};",
            declare(&c_type(field.rust_type), field.name)
        );
    }
    out.push_str("};\n\n");
}

fn layout_asserts(out: &mut String, structs: &[CStructLayout]) {
    out.push_str(
        "/* The v1 layout on 64-bit targets, as the Rust definitions freeze it. */\n\
         #if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu && (defined(__cplusplus) || \\\n    \
         (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L))\n\
         #  ifdef __cplusplus\n\
         #    define SIGIL_LAYOUT_ASSERT(cond, what) static_assert(cond, what)\n\
         #    define SIGIL_LAYOUT_ALIGNOF(type) alignof(type)\n\
         #  else\n\
         #    define SIGIL_LAYOUT_ASSERT(cond, what) _Static_assert(cond, what)\n\
         #    define SIGIL_LAYOUT_ALIGNOF(type) _Alignof(type)\n\
         #  endif\n",
    );
    for layout in structs {
        let _ = writeln!(
            out,
            "SIGIL_LAYOUT_ASSERT(sizeof({0}) == {1}, \"sizeof({0})\");",
            layout.name, layout.size
        );
        let _ = writeln!(
            out,
            "SIGIL_LAYOUT_ASSERT(SIGIL_LAYOUT_ALIGNOF({0}) == {1}, \"alignof({0})\");",
            layout.name, layout.align
        );
        for field in &layout.fields {
            let _ = writeln!(
                out,
                "SIGIL_LAYOUT_ASSERT(offsetof({0}, {1}) == {2}, \"offsetof({0}, {1})\");",
                layout.name, field.name, field.offset
            );
            let _ = writeln!(
                out,
                "SIGIL_LAYOUT_ASSERT(sizeof((({0} *)0)->{1}) == {2}, \"sizeof({0}.{1})\");",
                layout.name, field.name, field.size
            );
        }
    }
    out.push_str("#  undef SIGIL_LAYOUT_ASSERT\n#  undef SIGIL_LAYOUT_ALIGNOF\n#endif\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_translate_to_c() {
        assert_eq!(c_type("*const u8"), "const uint8_t *");
        assert_eq!(c_type("*mut *mut SigilInstance"), "SigilInstance **");
        assert_eq!(c_type("*const core::ffi::c_char"), "const char *");
        assert_eq!(c_type("Option<SigilCallHook>"), "SigilCallHook");
        assert_eq!(c_type("usize"), "size_t");
        assert_eq!(declare("SigilInstance **", "out"), "SigilInstance **out");
    }

    #[test]
    #[should_panic(expected = "no C spelling")]
    fn unknown_types_are_refused() {
        c_type("String");
    }

    #[test]
    fn struct_fields_are_contiguous_up_to_padding() {
        // repr(C) with fields in declaration order: each starts at or after the previous end, and any gap is
        // smaller than the field's own size (alignment padding, never a hidden field).
        for layout in [
            SigilSlice::c_layout(),
            SigilBuffer::c_layout(),
            SigilPluginVtable::c_layout(),
            SigilPluginDescriptor::c_layout(),
        ] {
            let mut end = 0;
            for field in &layout.fields {
                assert!(field.offset >= end, "{}.{}", layout.name, field.name);
                assert!(
                    field.offset - end < field.size.max(1),
                    "{}.{}",
                    layout.name,
                    field.name
                );
                end = field.offset + field.size;
            }
            assert!(layout.size >= end && layout.size - end < layout.align);
        }
    }
}
