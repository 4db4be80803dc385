//! # sandframe-bench
//!
//! sandframe's benchmarks (criterion), each figure beside a baseline measured in the same run;
//! run them with `cargo xtask bench` once the layers they measure exist.
//!
//! **Status:** no benchmark yet.
