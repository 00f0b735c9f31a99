//! One file per subcommand besides `deploy` (whose recipe is
//! [`crate::deploy`]): each returns a typed result and an exit code and
//! never prints; [`crate::report`] renders what it returns.

pub mod check;
pub mod exec;
pub mod inspect;
pub mod manual;
pub mod plan;
pub mod rollback;
pub mod sync;
