//! The binary container: `MAGIC`, a version byte, then one postcard-encoded body.
//!
//! Decoding is canonical: the body must be consumed exactly and must re-encode to the same
//! bytes, so there is one byte string per package and "changed bytes" means "changed package".

use serde::{Deserialize, Serialize};

use crate::error::PackageError;

/// The first five bytes of every package.
pub const MAGIC: &[u8; 5] = b"SFPKG";
/// The container format version this library writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// The domain-separation prefix of the signed statement.
pub const STATEMENT_DOMAIN: &[u8] = b"sandframe package statement v1\0";

#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
pub(crate) struct WireFile<'a> {
    pub(crate) path: &'a str,
    pub(crate) digest: [u8; 32],
    #[serde(with = "serde_bytes_compat")]
    pub(crate) bytes: &'a [u8],
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
pub(crate) struct WireBody<'a> {
    #[serde(with = "serde_bytes_compat")]
    pub(crate) manifest: &'a [u8],
    #[serde(borrow)]
    pub(crate) files: Vec<WireFile<'a>>,
    pub(crate) publisher: [u8; 32],
    #[serde(with = "serde_bytes_compat")]
    pub(crate) signature: &'a [u8],
}

/// What the publisher signs (after [`STATEMENT_DOMAIN`]).
#[derive(Serialize)]
pub(crate) struct WireStatement<'a> {
    pub(crate) format_version: u8,
    pub(crate) manifest_digest: [u8; 32],
    pub(crate) files: Vec<(&'a str, [u8; 32])>,
}

/// `&[u8]` as a postcard byte string (length prefix then bytes), borrowed on the way in.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'de [u8], D::Error> {
        <&'de [u8] as serde::Deserialize<'de>>::deserialize(d)
    }
}

/// Splits and decodes a container, canonically.
pub(crate) fn decode(bytes: &[u8]) -> Result<WireBody<'_>, PackageError> {
    let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err(PackageError::NotAPackage);
    };
    let Some((&version, body)) = rest.split_first() else {
        return Err(PackageError::Corrupt("it ends after the header".into()));
    };
    if version != FORMAT_VERSION {
        return Err(PackageError::UnsupportedVersion(version));
    }
    let (wire, tail) = postcard::take_from_bytes::<WireBody<'_>>(body)
        .map_err(|e| PackageError::Corrupt(e.to_string()))?;
    if !tail.is_empty() {
        return Err(PackageError::TrailingBytes(tail.len()));
    }
    // Postcard accepts some non-minimal varints; re-encoding is the definitive test.
    let again = postcard::to_stdvec(&wire).map_err(|e| PackageError::Corrupt(e.to_string()))?;
    if again != body {
        return Err(PackageError::NotCanonical);
    }
    Ok(wire)
}

/// Encodes a container.
pub(crate) fn encode(body: &WireBody<'_>) -> Result<Vec<u8>, PackageError> {
    let mut out = Vec::with_capacity(MAGIC.len() + 1);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    let encoded = postcard::to_stdvec(body).map_err(|e| PackageError::Corrupt(e.to_string()))?;
    out.extend_from_slice(&encoded);
    Ok(out)
}

/// The exact bytes a publisher signs.
pub(crate) fn statement(
    manifest: &[u8],
    files: &[(&str, [u8; 32])],
) -> Result<Vec<u8>, PackageError> {
    let st = WireStatement {
        format_version: FORMAT_VERSION,
        manifest_digest: *blake3::hash(manifest).as_bytes(),
        files: files.to_vec(),
    };
    let mut out = STATEMENT_DOMAIN.to_vec();
    out.extend_from_slice(
        &postcard::to_stdvec(&st).map_err(|e| PackageError::Corrupt(e.to_string()))?,
    );
    Ok(out)
}
