//! The template parser under property tests: any text is answered (a template or an error
//! with a position inside the text), never a panic; generated templates over the whole
//! vocabulary parse back to the tree they were written from, whatever their text holds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use proptest::prelude::*;
use sandframe_package::template::{Binding, Element, Node, PathSegment, Piece, Tag, Template};

/// A generated element: its tag, an optional leading text (literal + optional binding), an
/// optional tap handler, and element children.
#[derive(Clone, Debug)]
struct Gen {
    tag: Tag,
    text: Option<(String, Option<Vec<String>>)>,
    handler: Option<String>,
    children: Vec<Gen>,
}

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,10}"
}

/// Text with markup characters, quotes and non-ASCII, always with a letter (so it is never a
/// whitespace-only run), never braces.
fn literal() -> impl Strategy<Value = String> {
    "[a-z<>&\"' é中😀\t]{0,12}[a-z]"
}

fn element() -> impl Strategy<Value = Gen> {
    let leaf = (
        prop_oneof![Just(Tag::View), Just(Tag::Text), Just(Tag::Button)],
        proptest::option::of((
            literal(),
            proptest::option::of(prop::collection::vec(ident(), 1..4)),
        )),
        proptest::option::of(ident()),
    )
        .prop_map(|(tag, text, handler)| Gen {
            tag,
            text,
            handler,
            children: Vec::new(),
        });
    leaf.prop_recursive(5, 48, 4, |inner| {
        (
            prop_oneof![Just(Tag::View), Just(Tag::Button)],
            proptest::option::of((
                literal(),
                proptest::option::of(prop::collection::vec(ident(), 1..4)),
            )),
            proptest::option::of(ident()),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(tag, text, handler, children)| Gen {
                tag,
                text,
                handler,
                children,
            })
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn write(g: &Gen, out: &mut String) {
    out.push('<');
    out.push_str(g.tag.name());
    if let Some(h) = &g.handler {
        out.push_str(&format!(" bind:tap=\"{h}\""));
    }
    out.push('>');
    if let Some((lit, binding)) = &g.text {
        out.push_str(&escape(lit));
        if let Some(path) = binding {
            out.push_str(&format!("{{{{{}}}}}", path.join(".")));
        }
    }
    for c in &g.children {
        write(c, out);
    }
    out.push_str(&format!("</{}>", g.tag.name()));
}

fn check(g: &Gen, e: &Element) {
    assert_eq!(e.tag, g.tag);
    let expected_events: Vec<_> = g
        .handler
        .iter()
        .map(|h| (sandframe_core::EventKind::Tap, h.clone()))
        .collect();
    assert_eq!(e.events, expected_events);
    let mut children = e.children.iter();
    if let Some((lit, binding)) = &g.text {
        let Some(Node::Text(pieces)) = children.next() else {
            panic!("missing text in {e:?}")
        };
        let mut expected = vec![Piece::Literal(lit.clone())];
        if let Some(path) = binding {
            expected.push(Piece::Bound(Binding {
                path: path.iter().map(|p| PathSegment::Field(p.clone())).collect(),
                negated: false,
            }));
        }
        assert_eq!(pieces, &expected);
    }
    for c in &g.children {
        let Some(Node::Element(child)) = children.next() else {
            panic!("missing child in {e:?}")
        };
        check(c, child);
    }
    assert!(children.next().is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_is_answered_never_a_panic(text in "\\PC{0,400}") {
        if let Err(e) = Template::parse(&text) {
            let lines = text.lines().count().max(1) as u32 + 1;
            prop_assert!(e.line >= 1 && e.line <= lines, "{e} for {text:?}");
            prop_assert!(e.column >= 1);
        }
    }

    #[test]
    fn markup_shaped_text_is_answered_never_a_panic(
        parts in prop::collection::vec(
            prop_oneof![
                Just("<view>".to_owned()), Just("</view>".to_owned()), Just("<text>".to_owned()),
                Just("</text>".to_owned()), Just("{{a}}".to_owned()), Just("{{".to_owned()),
                Just("}}".to_owned()), Just("<list items=\"{{xs}}\">".to_owned()),
                Just("</list>".to_owned()), Just("&amp;".to_owned()), Just("&bogus;".to_owned()),
                Just("<!-- c -->".to_owned()), Just("<![CDATA[x]]>".to_owned()),
                Just(" bind:tap=\"h\"".to_owned()), "[a-z ]{0,4}",
            ],
            0..40,
        )
    ) {
        if let Err(e) = Template::parse(&parts.concat()) {
            prop_assert!(!names_a_position(&e.message), "a second position: {e}");
        }
    }

    #[test]
    fn generated_templates_parse_back_to_their_tree(g in element()) {
        let mut text = String::new();
        write(&g, &mut text);
        let t = Template::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        check(&g, t.root());
    }
}

/// Whether a message names a position of its own (`at 1:87`), beside the error's line and
/// column.
fn names_a_position(message: &str) -> bool {
    message.split(" at ").skip(1).any(|rest| {
        let pos: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        pos.split(':').filter(|p| !p.is_empty()).count() == 2
    })
}

/// A malformed template is reported at one position, the template's own (the parser's own
/// text, which counts in the document the template is wrapped in, is left out).
#[test]
fn a_malformed_template_gives_one_position_and_the_right_one() {
    for (text, at) in [
        ("<view><text>a</view>", (1, 14)),
        ("<view>\n  <text>a\n  </view>", (3, 3)),
        ("<view a=\"1\" a=\"2\"/>", (1, 13)),
        ("<view><!-- a -- b --></view>", (1, 7)),
    ] {
        let e = Template::parse(text).unwrap_err();
        assert_eq!((e.line, e.column), at, "{e} for {text:?}");
        assert!(e.message.starts_with("not a well-formed template: "), "{e}");
        assert!(!names_a_position(&e.message), "{e}");
        assert_eq!(
            e.to_string().matches("line ").count(),
            1,
            "one position: {e}"
        );
    }
    assert!(names_a_position("expected '>' at 1:87"));
}
