//! Running the `zfs` program: one module per invocation keygate makes.
//!
//! Every call goes through [`Zfs::run`], on the generic [`crate::runner`]:
//! an argument list (never a shell), a hard timeout after which the call's
//! whole process group is killed, and the call's stderr carried in the error.

mod command;
pub mod get;
pub mod load_key;
pub mod mount;
pub mod unload_key;
pub mod unmount;

pub use crate::runner::CallOutput;
pub use command::{Zfs, ZfsError};
