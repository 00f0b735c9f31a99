//! One file per subcommand besides `deploy` (whose recipe is
//! [`crate::deploy`]): each returns a typed result and an exit code and
//! never prints; [`crate::report`] renders what it returns.

pub(crate) mod check;
pub(crate) mod exec;
pub(crate) mod inspect;
pub(crate) mod lock;
pub(crate) mod manual;
pub(crate) mod plan;
pub(crate) mod prune;
pub(crate) mod rollback;
pub(crate) mod sync;
