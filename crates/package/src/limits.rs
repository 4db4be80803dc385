//! Hard limits of the package format. A package over any of them is rejected before
//! anything else looks at it.

/// Largest package file, in bytes (32 MiB).
pub const MAX_PACKAGE_BYTES: usize = 32 << 20;
/// Most files in one package (manifest not counted).
pub const MAX_FILES: usize = 1024;
/// Longest file path, in bytes.
pub const MAX_PATH_BYTES: usize = 255;
/// Longest path component, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 64;
/// Deepest path, in components.
pub const MAX_PATH_DEPTH: usize = 8;
/// Largest `manifest.toml`, in bytes (64 KiB).
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;
/// Largest key file or trust store, in bytes.
pub const MAX_KEY_FILE_BYTES: usize = 1 << 10;
/// Largest trust store file, in bytes (1 MiB).
pub const MAX_TRUST_STORE_BYTES: usize = 1 << 20;
/// Most capabilities one manifest may declare.
pub const MAX_CAPABILITIES: usize = 64;
/// Most origins one `net:fetch` capability may list.
pub const MAX_ORIGINS: usize = 32;
/// Most views one manifest may list.
pub const MAX_VIEWS: usize = 64;
/// Longest app display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Longest capability reason, in characters.
pub const MAX_REASON_CHARS: usize = 256;
/// Deepest bracket nesting accepted in `manifest.toml` (checked before the TOML parser runs).
pub const MAX_MANIFEST_NESTING: usize = 16;
/// Largest `logic.js`, in bytes (1 MiB). The host never parses it natively: the JS engine
/// parses it inside the sandbox, under fuel and QuickJS's stack limit.
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;
