//! Declaration macros that define every ABI item exactly once and record its C spelling next to it, so the
//! committed header (`include/sigil_plugin.h`) is generated from the same source as the Rust definitions.
//!
//! Each macro emits the ordinary Rust item plus a description (name, docs, Rust type text, size, offset) that
//! [`crate::header`] turns into C. Sizes and offsets come from the compiler (`size_of`, `offset_of!`), never
//! from hand-written numbers, so the header cannot disagree with the Rust layout.

/// One field of a `#[repr(C)]` struct, as the header generator sees it.
pub(crate) struct CFieldLayout {
    pub(crate) name: &'static str,
    pub(crate) rust_type: &'static str,
    pub(crate) doc: &'static [&'static str],
    pub(crate) offset: usize,
    pub(crate) size: usize,
}

/// One `#[repr(C)]` struct, as the header generator sees it.
pub(crate) struct CStructLayout {
    pub(crate) name: &'static str,
    pub(crate) doc: &'static [&'static str],
    pub(crate) size: usize,
    pub(crate) align: usize,
    pub(crate) fields: Vec<CFieldLayout>,
}

/// One function-pointer typedef (a hook the plugin implements).
pub(crate) struct CFnTypedef {
    pub(crate) name: &'static str,
    pub(crate) doc: &'static [&'static str],
    pub(crate) params: &'static [(&'static str, &'static str)],
    pub(crate) ret: Option<&'static str>,
}

/// One named constant with its C literal.
pub(crate) struct CConstant {
    pub(crate) name: &'static str,
    pub(crate) doc: &'static [&'static str],
    pub(crate) literal: String,
}

/// A `typedef uint32_t X;` plus the enum constants that are its values.
pub(crate) struct CEnumLayout {
    pub(crate) typedef: &'static str,
    pub(crate) doc: &'static [&'static str],
    pub(crate) variants: Vec<CConstant>,
}

/// Renders a Rust constant as a C literal of the same type.
pub(crate) trait CLiteral {
    /// The C spelling, e.g. `1u`, `0x5349ull`, `"describe"`.
    fn c_literal(&self) -> String;
}

impl CLiteral for u32 {
    fn c_literal(&self) -> String {
        format!("{self}u")
    }
}

impl CLiteral for u64 {
    fn c_literal(&self) -> String {
        format!("0x{self:X}ull")
    }
}

impl CLiteral for &str {
    fn c_literal(&self) -> String {
        // Constants are ABI names (symbols, op names); keep them to characters that need no C escaping.
        assert!(
            self.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'),
            "string constant {self:?} needs escaping in C"
        );
        format!("\"{self}\"")
    }
}

/// Defines a `#[repr(C)]` struct and its `c_layout()` description. Fields must all be `pub`.
macro_rules! c_struct {
    (
        $(#[doc = $doc:literal])*
        #[derive($($derive:path),* $(,)?)]
        pub struct $name:ident {
            $(
                $(#[doc = $fdoc:literal])*
                pub $field:ident : $fty:ty,
            )*
        }
    ) => {
        $(#[doc = $doc])*
        #[repr(C)]
        #[derive($($derive),*)]
        pub struct $name {
            $(
                $(#[doc = $fdoc])*
                pub $field: $fty,
            )*
        }

        impl $name {
            /// The layout description the header generator renders.
            pub(crate) fn c_layout() -> $crate::layout::CStructLayout {
                $crate::layout::CStructLayout {
                    name: stringify!($name),
                    doc: &[$($doc),*],
                    size: ::core::mem::size_of::<$name>(),
                    align: ::core::mem::align_of::<$name>(),
                    fields: vec![
                        $(
                            $crate::layout::CFieldLayout {
                                name: stringify!($field),
                                rust_type: stringify!($fty),
                                doc: &[$($fdoc),*],
                                offset: ::core::mem::offset_of!($name, $field),
                                size: ::core::mem::size_of::<$fty>(),
                            },
                        )*
                    ],
                }
            }
        }
    };
}

/// Defines a group of `unsafe extern "C" fn` typedefs and a function listing their descriptions.
macro_rules! c_fn_types {
    (
        fn $list:ident;
        $(
            $(#[doc = $doc:literal])*
            pub type $name:ident = unsafe extern "C" fn($($arg:ident : $aty:ty),* $(,)?) $(-> $ret:ty)?;
        )*
    ) => {
        $(
            $(#[doc = $doc])*
            pub type $name = unsafe extern "C" fn($($arg: $aty),*) $(-> $ret)?;
        )*

        /// The descriptions of the function-pointer typedefs above, in declaration order.
        pub(crate) fn $list() -> Vec<$crate::layout::CFnTypedef> {
            vec![
                $(
                    $crate::layout::CFnTypedef {
                        name: stringify!($name),
                        doc: &[$($doc),*],
                        params: &[$((stringify!($arg), stringify!($aty))),*],
                        ret: c_fn_types!(@ret $($ret)?),
                    },
                )*
            ]
        }
    };
    (@ret) => { None };
    (@ret $ret:ty) => { Some(stringify!($ret)) };
}

/// Defines a group of `pub const` items and a function listing them with their C literals.
macro_rules! c_constants {
    (
        fn $list:ident;
        $(
            $(#[doc = $doc:literal])*
            pub const $name:ident : $ty:ty = $value:expr;
        )*
    ) => {
        $(
            $(#[doc = $doc])*
            pub const $name: $ty = $value;
        )*

        /// The descriptions of the constants above, in declaration order.
        pub(crate) fn $list() -> Vec<$crate::layout::CConstant> {
            vec![
                $(
                    $crate::layout::CConstant {
                        name: stringify!($name),
                        doc: &[$($doc),*],
                        literal: $crate::layout::CLiteral::c_literal(&$name),
                    },
                )*
            ]
        }
    };
}

/// Defines a `u32` typedef with its named values (the C side), and a Rust enum mirroring them.
///
/// The raw `u32` is what crosses the boundary: a Rust `#[repr(u32)] enum` must never be read from foreign
/// memory, because a value outside its variants is undefined behaviour. `from_raw` is the checked way in.
macro_rules! c_enum {
    (
        $(#[doc = $tdoc:literal])*
        pub type $typedef:ident = u32;

        $(#[doc = $edoc:literal])*
        pub enum $enum:ident {
            $(
                $(#[doc = $vdoc:literal])*
                $variant:ident = $cname:ident = $value:literal => $text:literal,
            )*
        }
    ) => {
        $(#[doc = $tdoc])*
        pub type $typedef = u32;

        $(
            $(#[doc = $vdoc])*
            pub const $cname: $typedef = $value;
        )*

        $(#[doc = $edoc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum $enum {
            $(
                $(#[doc = $vdoc])*
                $variant = $value,
            )*
        }

        impl $enum {
            /// Every value, in numeric order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),*];

            /// The value for a raw ABI code, or `None` for a code this version does not know.
            pub const fn from_raw(raw: $typedef) -> Option<Self> {
                match raw {
                    $($value => Some($enum::$variant),)*
                    _ => None,
                }
            }

            /// The raw ABI code.
            pub const fn as_raw(self) -> $typedef {
                self as $typedef
            }

            /// The stable lowercase name, as used in logs and messages.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($enum::$variant => $text,)*
                }
            }

            /// The layout description the header generator renders.
            pub(crate) fn c_layout() -> $crate::layout::CEnumLayout {
                $crate::layout::CEnumLayout {
                    typedef: stringify!($typedef),
                    doc: &[$($tdoc),*],
                    variants: vec![
                        $(
                            $crate::layout::CConstant {
                                name: stringify!($cname),
                                doc: &[$($vdoc),*],
                                literal: $crate::layout::CLiteral::c_literal(&$cname),
                            },
                        )*
                    ],
                }
            }
        }

        impl ::core::fmt::Display for $enum {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
