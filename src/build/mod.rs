//! The local build: package it once (tar + gzip, hashed, spooled to a
//! file), its files manifest, the artifact cache `ship sync` draws on.

pub mod artifact;
pub mod cache;
pub mod manifest;
