//! The local build: package it once (tar + gzip, hashed, spooled to a
//! file), its files manifest, the artifact cache `ship sync` draws on.

pub(crate) mod artifact;
pub(crate) mod cache;
mod check;
pub(crate) mod delta;
pub(crate) mod manifest;
