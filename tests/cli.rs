//! The command line and configuration errors of the real binary.
