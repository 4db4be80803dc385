//! Storage beside raw files in the same run (docs/targets.md's table): a durable put beside a raw
//! write + fsync + rename + directory fsync of the same bytes, a get beside a raw read plus
//! XChaCha20-Poly1305 open, and the AEAD alone; 64 B, 4 KiB and 1 MiB values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench: failing loudly is the point

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sandframe_core::{AppId, Storage};
use sandframe_storage::{DiskStorage, MemoryKeySource, StorageConfig};

fn raw_durable_write(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
    drop(f);
    std::fs::rename(&tmp, dir.join(name)).unwrap();
    std::fs::File::open(dir).unwrap().sync_all().unwrap();
}

fn storage(c: &mut Criterion) {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let root = t.path().join("storage");
    std::fs::create_dir_all(&root).unwrap();
    let s = DiskStorage::new(
        cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap(),
        Arc::new(MemoryKeySource::new([9; 32])),
        StorageConfig {
            quota_bytes: 1 << 30,
            quota_keys: 100,
        },
    );
    let app: AppId = "com.example.bench".parse().unwrap();
    let cipher = XChaCha20Poly1305::new(&[9u8; 32].into());
    for (label, size) in [("64 B", 64usize), ("4 KiB", 4 << 10), ("1 MiB", 1 << 20)] {
        let value = vec![0x5a; size];
        let mut g = c.benchmark_group(format!("storage/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        g.sample_size(if size > 100_000 { 20 } else { 50 })
            .measurement_time(Duration::from_secs(5));
        g.bench_function(
            "put baseline: raw write + fsync + rename + dir fsync",
            |b| b.iter(|| raw_durable_write(&raw, "k", &value)),
        );
        g.bench_function("put sandframe: DiskStorage::set (sealed, durable)", |b| {
            b.iter(|| s.set(&app, "k", &value).unwrap())
        });
        raw_durable_write(&raw, "k", &value);
        s.set(&app, "k", &value).unwrap();
        let nonce = XNonce::from([1u8; 24]);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &value,
                    aad: b"aad",
                },
            )
            .unwrap();
        g.bench_function("get baseline: raw read + XChaCha20-Poly1305 open", |b| {
            b.iter(|| {
                let bytes = std::fs::read(raw.join("k")).unwrap();
                assert_eq!(bytes.len(), size);
                cipher
                    .decrypt(
                        &nonce,
                        Payload {
                            msg: &sealed,
                            aad: b"aad",
                        },
                    )
                    .unwrap()
            })
        });
        g.bench_function("get baseline: raw read", |b| {
            b.iter(|| std::fs::read(raw.join("k")).unwrap())
        });
        g.bench_function("get sandframe: DiskStorage::get", |b| {
            b.iter(|| s.get(&app, "k").unwrap().unwrap())
        });
        g.bench_function("AEAD alone: XChaCha20-Poly1305 seal", |b| {
            b.iter(|| {
                cipher
                    .encrypt(
                        &nonce,
                        Payload {
                            msg: &value,
                            aad: b"aad",
                        },
                    )
                    .unwrap()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, storage);
criterion_main!(benches);
