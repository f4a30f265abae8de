//! The library's error at its public boundary: a caller can tell "not permitted" from "the kernel's socket list
//! could not be read" from "bad input", without parsing messages. Inside the crate, `anyhow` carries context; it is
//! turned into one of these where a public function returns.

use std::path::PathBuf;

/// What went wrong, by kind. The `Display` text is a complete sentence-like message for a person.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused something this run needed (not root, a security module, hidepid).
    #[error("{0}")]
    NotPermitted(String),
    /// The kernel's socket list could not be read (netlink sock_diag on Linux, the IP helper tables elsewhere).
    #[error("{0}")]
    SocketList(String),
    /// The process table could not be read, so no owner could be seen.
    #[error("{0}")]
    ProcessTable(String),
    /// A file given to portwarden is malformed: the message names the file, the line and what was expected.
    #[error("{message}")]
    BadInput {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong, with the file, line and what was expected.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
}

impl Error {
    /// Wraps an internal error chain as a [`Error::BadInput`] for `path`, keeping the whole chain in the message.
    pub(crate) fn bad_input(path: impl Into<PathBuf>, e: &anyhow::Error) -> Self {
        Error::BadInput { path: path.into(), message: format!("{e:#}") }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
