//! The stop signals every benchmark binary obeys.

use std::io;

/// SIGTERM and SIGINT (Ctrl-C), caught from the moment [`ShutdownSignals::install`]
/// returns: the first starts the graceful stop of every binary, a second one during the
/// drain ends the process at once.
///
/// The handlers are installed before the caller announces its address, so a signal sent
/// the moment a script sees the address is never lost to the default action (which
/// would kill the process with a non-zero status).
pub struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Installs both handlers now. Must be called inside a tokio runtime.
    pub fn install() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    /// Completes at the next SIGTERM or SIGINT.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
