//! The invisible and format characters the review of issue 17 named (and the ranges it named,
//! in full), shared by the render crate's tests and the `sandframe` binary's
//! (`crates/cli/tests/cli.rs` includes this file by path).

/// The ranges: zero-width space, non-joiner and joiner; word joiner and the invisible
/// operators; the byte order mark; the soft hyphen; the line and paragraph separators; the
/// interlinear annotation marks; the Hangul filler; the Mongolian vowel separator; the
/// combining grapheme joiner; the Hangul choseong and jungseong fillers; the halfwidth Hangul
/// filler; the variation selectors (both blocks); the tag characters.
pub(crate) const RANGES: &[(u32, u32)] = &[
    (0x200b, 0x200d),
    (0x2060, 0x2064),
    (0xfeff, 0xfeff),
    (0x00ad, 0x00ad),
    (0x2028, 0x2029),
    (0xfff9, 0xfffb),
    (0x3164, 0x3164),
    (0x180e, 0x180e),
    (0x034f, 0x034f),
    (0x115f, 0x1160),
    (0xffa0, 0xffa0),
    (0xfe00, 0xfe0f),
    (0xe0100, 0xe01ef),
    (0xe0000, 0xe007f),
];

/// Every character of [`RANGES`].
pub(crate) fn all() -> Vec<char> {
    RANGES
        .iter()
        .flat_map(|&(a, b)| (a..=b).filter_map(char::from_u32))
        .collect()
}

/// Every character named one by one, and the first and last of the two long ranges
/// (variation selectors, tags): few enough for a 64-character app name.
#[allow(dead_code)] // used by the cli tests only
pub(crate) fn named() -> Vec<char> {
    RANGES
        .iter()
        .flat_map(|&(a, b)| {
            let picked: Vec<u32> = if b - a < 8 {
                (a..=b).collect()
            } else {
                vec![a, b]
            };
            picked.into_iter().filter_map(char::from_u32)
        })
        .collect()
}
