//! Integrity, origin, pinning, version policy, capabilities, views, definitions and host
//! checks: each one tried with a package that should break it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

mod common;

use std::collections::BTreeMap;

use common::*;
use sandframe_core::AppId;
use sandframe_package::{Package, PackageContents, TrustStore};
use sandframe_validate::{
    Check, Context, Definitions, Finding, Installed, Location, Pin, ValidateError, Validator, codes,
};

fn wasm() -> Vec<u8> {
    wat::parse_str(good_module()).unwrap()
}

fn rejected(
    result: Result<sandframe_validate::VerifiedPackage, ValidateError>,
) -> sandframe_validate::Report {
    match result {
        Err(ValidateError::Rejected(r)) => *r,
        Err(e) => panic!("unexpected error: {e}"),
        Ok(v) => panic!("accepted: {:?}", v.report()),
    }
}

fn installed(version: Option<&str>, signer: u8, caps: &[&str]) -> BTreeMap<AppId, Installed> {
    let mut m = BTreeMap::new();
    m.insert(
        ID.parse().unwrap(),
        Installed {
            publisher: key(signer).public_key(),
            version: version.map(|v| v.parse().unwrap()),
            capabilities: caps.iter().map(|c| c.parse().unwrap()).collect(),
        },
    );
    m
}

#[test]
fn a_good_package_is_verified_and_pins_its_publisher() {
    let v = verify_with(&Validator::new(), &package(&good_module())).unwrap();
    assert_eq!(v.pin(), &Pin::New);
    assert_eq!(v.publisher_name(), "One");
    assert!(!v.report().has_errors());
}

#[test]
fn tampered_bytes_never_verify() {
    let bytes = package(&good_module());
    for at in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[at] ^= 0x20;
        let r = rejected(verify_with(&Validator::new(), &b));
        assert!(
            r.has(codes::MALFORMED) || r.has(codes::BAD_SIGNATURE) || r.has(codes::UNTRUSTED),
            "byte {at}: {r}"
        );
        assert_eq!(
            r.findings().len(),
            1,
            "integrity failures stop verification: {r}"
        );
    }
}

#[test]
fn untrusted_and_revoked_publishers_are_refused() {
    let stranger = package_with(&manifest("1.0.0", ""), wasm(), &key(9));
    assert!(rejected(verify_with(&Validator::new(), &stranger)).has(codes::UNTRUSTED));

    let mut t = trust();
    t.revoke(key(1).public_key());
    let none = nothing_installed();
    let r = rejected(Validator::new().verify(&package(&good_module()), &Context::new(&t, &none)));
    assert!(r.has(codes::REVOKED), "{r}");
}

#[test]
fn an_app_id_pinned_to_another_trusted_publisher_is_refused() {
    // Both keys are trusted, but the id was first installed by key 1.
    let by_two = package_with(&manifest("2.0.0", ""), wasm(), &key(2));
    let pins = installed(Some("1.0.0"), 1, &[]);
    let t = trust();
    let r = rejected(Validator::new().verify(&by_two, &Context::new(&t, &pins)));
    assert!(r.has(codes::PINNED_ELSEWHERE), "{r}");

    // Still refused after an uninstall: the pin is a tombstone.
    let tomb = installed(None, 1, &[]);
    let r = rejected(Validator::new().verify(&by_two, &Context::new(&t, &tomb)));
    assert!(r.has(codes::PINNED_ELSEWHERE), "{r}");

    // An explicit rotation to key 2 is accepted and reported.
    let k2 = key(2).public_key();
    let v = Validator::new()
        .verify(&by_two, &Context::new(&t, &pins).rotate_pin_to(&k2))
        .unwrap();
    assert_eq!(
        v.pin(),
        &Pin::Rotated {
            from: key(1).public_key()
        }
    );

    // A rotation to some other key does not open the door for key 2.
    let k3 = key(3).public_key();
    let r = rejected(Validator::new().verify(&by_two, &Context::new(&t, &pins).rotate_pin_to(&k3)));
    assert!(r.has(codes::PINNED_ELSEWHERE));
}

#[test]
fn downgrades_are_refused_unless_allowed() {
    let old = package_with(&manifest("1.0.0", ""), wasm(), &key(1));
    let pins = installed(Some("1.2.0"), 1, &[]);
    let t = trust();
    let r = rejected(Validator::new().verify(&old, &Context::new(&t, &pins)));
    assert!(r.has(codes::DOWNGRADE), "{r}");
    let v = Validator::new()
        .verify(&old, &Context::new(&t, &pins).allow_downgrade())
        .unwrap();
    assert!(
        v.report().has(codes::DOWNGRADE),
        "the allowed downgrade is still reported"
    );
    // A pre-release is lower than its release.
    let pre = package_with(&manifest("1.2.0-beta.1", ""), wasm(), &key(1));
    assert!(
        rejected(Validator::new().verify(&pre, &Context::new(&t, &pins))).has(codes::DOWNGRADE)
    );
    // Same version: accepted, reported.
    let same = package_with(&manifest("1.2.0", ""), wasm(), &key(1));
    let v = Validator::new()
        .verify(&same, &Context::new(&t, &pins))
        .unwrap();
    assert!(v.report().has(codes::SAME_VERSION));
}

#[test]
fn an_update_reports_the_capabilities_it_adds() {
    let caps = "[[capabilities]]\nname = \"storage:local\"\nreason = \"r\"\n\n[[capabilities]]\nname = \"user:readProfile\"\nreason = \"r\"\n";
    let update = package_with(&manifest("2.0.0", caps), wasm(), &key(1));
    let pins = installed(Some("1.0.0"), 1, &["storage:local"]);
    let t = trust();
    let v = Validator::new()
        .verify(&update, &Context::new(&t, &pins))
        .unwrap();
    let added: Vec<&str> = v.added_capabilities().iter().map(|c| c.as_str()).collect();
    assert_eq!(added, ["user:readProfile"]);
    assert!(v.report().has(codes::NEW_CAPABILITIES));
}

#[test]
fn unknown_capabilities_are_refused_and_hosts_can_add_their_own() {
    let caps = "[[capabilities]]\nname = \"payments:charge\"\nreason = \"buy things\"\n";
    let pkg = package_with(&manifest("1.0.0", caps), wasm(), &key(1));
    let r = rejected(verify_with(&Validator::new(), &pkg));
    assert!(r.has(codes::UNKNOWN_CAPABILITY), "{r}");
    let host = Validator::new().with_capability("payments:charge".parse().unwrap());
    assert!(verify_with(&host, &pkg).is_ok());
}

#[test]
fn oversized_and_non_utf8_views_are_refused() {
    let build = |view: Vec<u8>| {
        let mut c = PackageContents::new(manifest("1.0.0", "").into_bytes());
        c.add_file("logic.wasm", wasm()).unwrap();
        c.add_file("views/index.xml", view).unwrap();
        c.sign(&key(1)).unwrap()
    };
    // A valid template of exactly `n` bytes.
    let template = |n: usize| {
        let mut t = b"<view>".to_vec();
        t.resize(n - 7, b'a');
        t.extend_from_slice(b"</view>");
        t
    };
    let cap = sandframe_validate::DEFAULT_VIEW_BYTES as usize;
    assert!(verify_with(&Validator::new(), &build(template(cap))).is_ok());
    assert!(
        rejected(verify_with(&Validator::new(), &build(template(cap + 1))))
            .has(codes::VIEW_TOO_LARGE)
    );
    // A template that is not UTF-8 cannot be packed any more; bytes made by another tool are
    // refused as a bad template, with its position.
    let logic = wasm();
    let r = rejected(verify_with(
        &Validator::new(),
        &hand_encoded(&[
            ("logic.wasm", &logic),
            ("views/index.xml", b"<view>\xff</view>"),
        ]),
    ));
    assert!(r.has(codes::BAD_TEMPLATE), "{r}");
    assert!(r.to_string().contains("not UTF-8"), "{r}");
}

#[test]
fn builtin_definitions_catch_a_miner_pool_url() {
    let r = rejected(verify_with(
        &Validator::new(),
        &package(&module(
            r#"(memory (export "memory") 1 1) (data (i32.const 64) "connect stratum+tcp://pool.example:3333")"#,
        )),
    ));
    let f = r
        .findings()
        .iter()
        .find(|f| f.code == codes::BLOCKED_PATTERN)
        .expect("finding");
    assert_eq!(f.location.section.as_deref(), Some("data"));
    assert!(f.location.offset.is_some());
    // In a custom section too.
    let mut wasm = wasm();
    let payload = b"\x04note xmrig inside";
    wasm.push(0);
    wasm.push(payload.len() as u8);
    wasm.extend_from_slice(payload);
    let r = rejected(verify_with(
        &Validator::new(),
        &package_with(&manifest("1.0.0", ""), wasm, &key(1)),
    ));
    assert!(r.has(codes::BLOCKED_PATTERN), "{r}");
}

fn signed_defs(version: u64, extra: &str, signer: u8) -> Vec<u8> {
    Definitions::from_toml(&format!("version = {version}\n{extra}"))
        .unwrap()
        .sign(&key(signer))
        .unwrap()
}

#[test]
fn definitions_updates_must_be_signed_newer_and_canonical() {
    let defs_key = key(40);
    let mut v = Validator::new().with_definitions_key(defs_key.public_key());
    // No key configured: refused.
    assert!(matches!(
        Validator::new().update_definitions(&signed_defs(1, "", 40)),
        Err(ValidateError::NoDefinitionsKey)
    ));
    // Wrong signer: refused.
    assert!(matches!(
        v.update_definitions(&signed_defs(1, "", 41)),
        Err(ValidateError::DefinitionsSignature)
    ));
    // Unsigned garbage and a flipped byte: refused.
    assert!(v.update_definitions(b"SFDEF\x01garbage").is_err());
    let mut bent = signed_defs(1, "blocked_exports = [\"mine\"]", 40);
    let last = bent.len() - 1;
    bent[last] ^= 1;
    assert!(v.update_definitions(&bent).is_err());
    let mut long = signed_defs(1, "", 40);
    long.push(0);
    assert!(v.update_definitions(&long).is_err());
    // Good: version 3.
    assert_eq!(
        v.update_definitions(&signed_defs(3, "blocked_exports = [\"mine\"]", 40))
            .unwrap(),
        3
    );
    assert_eq!(v.definitions().version(), 3);
    // Older or equal: refused, and the current set stays.
    assert!(matches!(
        v.update_definitions(&signed_defs(2, "", 40)),
        Err(ValidateError::DefinitionsRollback {
            current: 3,
            offered: 2
        })
    ));
    assert!(matches!(
        v.update_definitions(&signed_defs(3, "", 40)),
        Err(ValidateError::DefinitionsRollback { .. })
    ));
    assert!(v.definitions().blocks_export("mine"));
    // The built-in set stays in force under an update.
    assert!(v.definitions().patterns().any(|p| p == b"stratum+tcp://"));
}

#[test]
fn definitions_block_digests_publishers_and_exports() {
    let bytes = package(&module(
        r#"(memory (export "memory") 1 1) (func (export "mine"))"#,
    ));
    let digest = Package::parse(&bytes).unwrap().digest().to_hex();
    let mut v = Validator::new().with_definitions_key(key(40).public_key());

    v.update_definitions(&signed_defs(1, "blocked_exports = [\"mine\"]", 40))
        .unwrap();
    assert!(rejected(verify_with(&v, &bytes)).has(codes::BLOCKED_EXPORT));

    v.update_definitions(&signed_defs(
        2,
        &format!("blocked_digests = [\"{digest}\"]"),
        40,
    ))
    .unwrap();
    assert!(rejected(verify_with(&v, &bytes)).has(codes::BLOCKED_DIGEST));

    let pk = key(1).public_key();
    v.update_definitions(&signed_defs(
        3,
        &format!("revoked_publishers = [\"{pk}\"]"),
        40,
    ))
    .unwrap();
    let r = rejected(verify_with(&v, &package(&good_module())));
    assert!(r.has(codes::REVOKED), "{r}");
}

#[test]
fn definitions_sources_are_checked() {
    assert!(Definitions::from_toml("version = 1\nblocked_patterns = [\"abc\"]").is_err()); // too short
    assert!(Definitions::from_toml("version = 1\nblocked_digests = [\"zz\"]").is_err());
    assert!(Definitions::from_toml("version = 1\ncolour = 1").is_err());
    assert!(Definitions::from_toml("blocked_exports = []").is_err()); // no version
}

struct NoLogo;
impl Check for NoLogo {
    fn name(&self) -> &str {
        "no-logo"
    }
    fn check(&self, package: &Package, findings: &mut Vec<Finding>) {
        if package.file("assets/logo.png").is_none() {
            findings.push(Finding::error(
                "SF-V001",
                Location::file("assets/logo.png"),
                "every app needs a logo",
            ));
        }
        findings.push(Finding::new(
            "ACME-1",
            sandframe_validate::Severity::Info,
            Location::default(),
            "checked",
        ));
    }
}

#[test]
fn host_checks_add_findings_but_cannot_pose_as_built_ins() {
    let v = Validator::new().with_check(Box::new(NoLogo));
    let r = rejected(verify_with(&v, &package(&good_module())));
    assert!(r.has("HOST-SF-V001"), "{r}");
    assert!(!r.has(codes::MALFORMED));
    assert!(r.has("ACME-1"));
}

#[test]
fn host_checks_cannot_skip_the_signature_check() {
    struct Permissive;
    impl Check for Permissive {
        fn name(&self) -> &str {
            "permissive"
        }
        fn check(&self, _: &Package, _: &mut Vec<Finding>) {}
    }
    let v = Validator::new().with_check(Box::new(Permissive));
    let stranger = package_with(&manifest("1.0.0", ""), wasm(), &key(9));
    assert!(rejected(verify_with(&v, &stranger)).has(codes::UNTRUSTED));
    let empty = TrustStore::new();
    let none = nothing_installed();
    let r = rejected(v.verify(&package(&good_module()), &Context::new(&empty, &none)));
    assert!(r.has(codes::UNTRUSTED));
}

#[test]
fn the_hello_example_passes_static_analysis() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let bytes = sandframe_package::source::read_dir(&dir)
        .unwrap()
        .sign(&key(1))
        .unwrap();
    let v = verify_with(&Validator::new(), &bytes).unwrap();
    assert!(!v.report().has_errors(), "{}", v.report());
}

/// The install record a host keeps for `version` of the test app, pinned to `publisher`.
fn record(version: Option<&str>, publisher: u8) -> BTreeMap<AppId, Installed> {
    let mut r = BTreeMap::new();
    r.insert(
        ID.parse().unwrap(),
        Installed {
            publisher: key(publisher).public_key(),
            version: version.map(|v| v.parse().unwrap()),
            capabilities: Vec::new(),
        },
    );
    r
}

#[test]
fn a_receipt_reinstates_exactly_the_package_it_was_made_for() {
    let secret = [5u8; 32];
    let bytes = package(&good_module());
    let v = verify_with(&Validator::new(), &bytes).unwrap();
    let receipt = v.receipt(&secret);
    let validator = Validator::new();
    let trust = trust();
    let installed = record(Some("1.0.0"), 1);
    let home = Context::new(&trust, &installed);
    let back = validator
        .reinstate(&bytes, &receipt, &secret, &home)
        .unwrap();
    assert_eq!(back.package().digest(), v.package().digest());

    // Another host's secret, a bent receipt, a short receipt: refused.
    assert!(matches!(
        validator.reinstate(&bytes, &receipt, &[6; 32], &home),
        Err(ValidateError::BadReceipt)
    ));
    let mut bent = receipt;
    bent[0] ^= 1;
    assert!(matches!(
        validator.reinstate(&bytes, &bent, &secret, &home),
        Err(ValidateError::BadReceipt)
    ));
    assert!(matches!(
        validator.reinstate(&bytes, &receipt[..31], &secret, &home),
        Err(ValidateError::BadReceipt)
    ));

    // The receipt of one package does not launch another (validly signed) one.
    let other = package_with(&manifest("1.0.1", ""), wasm(), &key(1));
    assert!(matches!(
        validator.reinstate(&other, &receipt, &secret, &home),
        Err(ValidateError::BadReceipt)
    ));
    // Changed bytes fail parsing or the receipt.
    let mut b = bytes.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    assert!(validator.reinstate(&b, &receipt, &secret, &home).is_err());

    // A publisher revoked since install does not launch.
    let mut revoked = trust.clone();
    revoked.revoke(key(1).public_key());
    let r = rejected(validator.reinstate(
        &bytes,
        &receipt,
        &secret,
        &Context::new(&revoked, &installed),
    ));
    assert!(r.has(codes::REVOKED), "{r}");
}

/// A receipt is valid only for the version the install record names: an older package put
/// back beside its own old (once valid) receipt is a downgrade, and a package without a
/// record naming its version, or pinned to another publisher, does not launch either.
#[test]
fn an_older_package_put_back_with_its_old_receipt_is_refused_as_a_downgrade() {
    let secret = [5u8; 32];
    let old = package(&good_module()); // 1.0.0
    let old_receipt = verify_with(&Validator::new(), &old)
        .unwrap()
        .receipt(&secret);
    let validator = Validator::new();
    let trust = trust();
    let reinstate = |installed: &BTreeMap<AppId, Installed>| {
        validator.reinstate(
            &old,
            &old_receipt,
            &secret,
            &Context::new(&trust, installed),
        )
    };
    // The record says 1.0.1 is installed (the attacker put 1.0.0 and its receipt back).
    let r = rejected(reinstate(&record(Some("1.0.1"), 1)));
    assert!(r.has(codes::DOWNGRADE), "{r}");
    assert!(r.to_string().contains("put back"), "{r}");
    // An uninstalled app (a tombstone), or no record at all.
    let r = rejected(reinstate(&record(None, 1)));
    assert!(r.has(codes::MALFORMED), "{r}");
    let r = rejected(reinstate(&BTreeMap::new()));
    assert!(r.has(codes::MALFORMED), "{r}");
    // Pinned to another publisher since.
    let r = rejected(reinstate(&record(Some("1.0.0"), 2)));
    assert!(r.has(codes::PINNED_ELSEWHERE), "{r}");
    // The record that names it: it launches.
    assert!(reinstate(&record(Some("1.0.0"), 1)).is_ok());
}

/// Package bytes encoded by hand from `docs/format.md` (as an attacker's tool would, with no
/// check of its own): `SFPKG`, version 1, then the postcard body.
fn hand_encoded(files: &[(&str, &[u8])]) -> Vec<u8> {
    hand_encoded_with(
        b"id = \"com.example.tpl\"\nname = \"T\"\nversion = \"1.0.0\"\nviews = [\"index\"]\n",
        files,
    )
}

/// [`hand_encoded`] around `manifest`.
fn hand_encoded_with(manifest: &[u8], files: &[(&str, &[u8])]) -> Vec<u8> {
    fn varint(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut out = b"SFPKG\x01".to_vec();
    varint(manifest.len(), &mut out);
    out.extend_from_slice(manifest);
    varint(files.len(), &mut out);
    for (path, bytes) in files {
        varint(path.len(), &mut out);
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(blake3::hash(bytes).as_bytes());
        varint(bytes.len(), &mut out);
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(&[0; 32]);
    varint(64, &mut out);
    out.extend_from_slice(&[0; 64]);
    out
}

#[test]
fn a_hostile_template_is_rejected_at_install_with_file_line_and_column() {
    let logic = wasm();
    let bytes = hand_encoded(&[
        ("logic.wasm", &logic),
        (
            "views/index.xml",
            b"<view>\n  <text>hi</text>\n  <image src=\"javascript:alert(1)\"/>\n</view>",
        ),
    ]);
    let r = rejected(verify_with(&Validator::new(), &bytes));
    assert!(r.has(codes::BAD_TEMPLATE), "{r}");
    let f = r
        .findings()
        .iter()
        .find(|f| f.code == codes::BAD_TEMPLATE)
        .unwrap();
    assert_eq!(f.location, Location::text("views/index.xml", 3, 10));
    assert!(f.message.contains("not a package asset"), "{}", f.message);
    assert!(
        r.to_string().contains("views/index.xml, line 3, column 10"),
        "{r}"
    );
}

/// A finding about the package as a whole (no file, no offset) ends with its message, not an
/// empty "()"; one with a location still names it.
#[test]
fn a_finding_without_a_location_has_no_empty_parentheses() {
    let stranger = package_with(&manifest("1.0.0", ""), wasm(), &key(9));
    let r = rejected(verify_with(&Validator::new(), &stranger));
    let f = r
        .findings()
        .iter()
        .find(|f| f.code == codes::UNTRUSTED)
        .unwrap();
    assert_eq!(f.location, Location::default());
    let text = f.to_string();
    assert!(text.starts_with("error SF-V003: "), "{text}");
    assert!(text.ends_with(&f.message) && !text.contains("()"), "{text}");
    let located = Finding::error(
        codes::BAD_TEMPLATE,
        Location::text("views/a.xml", 2, 5),
        "x",
    );
    assert_eq!(
        located.to_string(),
        "error SF-V304: x (views/a.xml, line 2, column 5)"
    );
}

/// A malformed `origins` list is a finding with its code, file, line and column; a good one is
/// kept in its canonical form (A-labels, default port left out).
#[test]
fn net_fetch_origins_are_checked_at_install_with_their_line() {
    let cap = |origins: &str| {
        format!(
            "\n[[capabilities]]\nname = \"net:fetch\"\nreason = \"sync\"\norigins = [\n  \"https://api.example.com\",\n  {origins},\n]\n"
        )
    };
    for (bad, why) in [
        ("\"https://*.com\"", "public suffix"),
        ("\"https://127.1\"", "IP address"),
        ("\"http://user@api.example.com\"", "userinfo"),
        ("\"https://api.example.com/v1\"", "path"),
        ("\"https://api.example.com\"", "twice"),
    ] {
        let logic = wasm();
        let bytes = hand_encoded_with(
            manifest("1.0.0", &cap(bad)).as_bytes(),
            &[
                ("logic.wasm", &logic),
                ("views/index.xml", b"<view>{{x}}</view>"),
            ],
        );
        let r = rejected(verify_with(&Validator::new(), &bytes));
        let f = r
            .findings()
            .iter()
            .find(|f| f.code == codes::BAD_ORIGINS)
            .unwrap_or_else(|| panic!("{bad}: {r}"));
        // manifest(): four lines, then a blank one; the bad origin is on line 11, column 3.
        assert_eq!(f.location, Location::text("manifest.toml", 11, 3), "{bad}");
        assert!(f.message.contains(why), "{bad}: {}", f.message);
    }
    let net: sandframe_core::Capability = "net:fetch".parse().unwrap();
    let validator = Validator::new().with_capability(net.clone());
    let bytes = package_with(
        &manifest("1.0.0", &cap("\"https://*.CDN.b\u{fc}cher.example:8443\"")),
        wasm(),
        &key(1),
    );
    let v = verify_with(&validator, &bytes).unwrap();
    let scope: Vec<String> = v.package().manifest().capabilities()[0]
        .scope()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        scope,
        [
            "https://api.example.com",
            "https://*.cdn.xn--bcher-kva.example:8443"
        ]
    );
    // Origins belong to net:fetch alone, and net:fetch needs them.
    let on_storage = "\n[[capabilities]]\nname = \"storage:local\"\nreason = \"r\"\norigins = [\"https://a.example.com\"]\n";
    let logic = wasm();
    let files: [(&str, &[u8]); 2] = [
        ("logic.wasm", &logic),
        ("views/index.xml", b"<view>{{x}}</view>"),
    ];
    let bytes = hand_encoded_with(manifest("1.0.0", on_storage).as_bytes(), &files);
    assert!(rejected(verify_with(&validator, &bytes)).has(codes::BAD_ORIGINS));
    let bare = "\n[[capabilities]]\nname = \"net:fetch\"\nreason = \"r\"\n";
    let bytes = hand_encoded_with(manifest("1.0.0", bare).as_bytes(), &files);
    let r = rejected(verify_with(&validator, &bytes));
    assert!(
        r.has(codes::MALFORMED) && r.to_string().contains("needs `origins`"),
        "{r}"
    );
}
