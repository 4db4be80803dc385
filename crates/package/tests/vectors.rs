//! The test vectors in docs/format.md, recomputed: another implementation can check its
//! output against the same numbers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use std::collections::HashMap;

use sandframe_package::{Package, PackageContents, PublicKey, SecretKey, TrustStore};

/// `name: value` lines of the vector block in docs/format.md.
fn vector() -> HashMap<String, String> {
    let doc = include_str!("../../../docs/format.md");
    let start = doc
        .find("<!-- vector:begin -->")
        .expect("vector block in docs/format.md");
    let end = doc
        .find("<!-- vector:end -->")
        .expect("end of vector block");
    let mut v = HashMap::new();
    let mut last = String::new();
    for line in doc[start..end].lines() {
        let line = line.trim_end();
        if let Some((k, val)) = line.split_once(": ")
            && !k.contains(' ')
            && !k.is_empty()
        {
            last = k.to_string();
            v.insert(last.clone(), val.trim().to_string());
            continue;
        }
        // continuation of a long hex value
        if !last.is_empty() && !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit()) {
            v.get_mut(&last).unwrap().push_str(line);
        }
    }
    v
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn build(v: &HashMap<String, String>) -> (SecretKey, Vec<u8>) {
    let seed: [u8; 32] = unhex(&v["seed"]).try_into().unwrap();
    let key = SecretKey::from_seed(&seed);
    let mut c = PackageContents::new(unhex(&v["manifest"]));
    c.add_file("logic.wasm", unhex(&v["logic.wasm"])).unwrap();
    c.add_file("views/index.xml", unhex(&v["views/index.xml"]))
        .unwrap();
    let bytes = c.sign(&key).unwrap();
    (key, bytes)
}

#[test]
fn format_md_vectors_match() {
    let v = vector();
    let (key, bytes) = build(&v);
    let p = Package::parse(&bytes).unwrap();
    assert_eq!(hex(key.public_key().as_bytes()), v["public-key"]);
    assert_eq!(
        key.public_key().to_file_text().trim_end(),
        v["public-key-file"]
    );
    assert_eq!(hex(p.statement()), v["statement"]);
    assert_eq!(hex(&bytes[bytes.len() - 64..]), v["signature"]);
    assert_eq!(hex(&bytes), v["package"]);
    assert_eq!(p.digest().to_hex(), v["package-digest"]);
    // The vector package, taken as bytes from the document, verifies.
    let doc_pkg = Package::parse(&unhex(&v["package"])).unwrap();
    doc_pkg.verify_signature().unwrap();
    let pk: PublicKey = format!("sandframe-public-key-v1:{}", v["public-key"])
        .parse()
        .unwrap();
    let mut t = TrustStore::new();
    t.trust(pk, "vector");
    t.check(doc_pkg.publisher()).unwrap();
}
