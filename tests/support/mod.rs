//! Test fixtures: a fleet of real sshd hosts and a runner for the ship binary.

pub mod app;
pub mod background;
pub mod fleet;
pub mod hostbin;
pub mod http;
pub mod moto;
pub mod sshd;
pub mod static_http;

pub use fleet::{Fleet, Run};
