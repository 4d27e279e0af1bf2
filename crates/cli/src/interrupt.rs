//! Ctrl-C and SIGTERM while a refresh runs in this process.
//!
//! Killed outright, the CLI would leave its refresh to be taken over and completed by a
//! running server, which is not what a person pressing Ctrl-C means. So the first Ctrl-C
//! asks, the second cancels the refresh at its next safe point (staging dropped, the
//! target unchanged), and a third stops the process at once. SIGTERM (`timeout`, a
//! service manager) cancels at once: nobody is there to answer.

use dataalm_ops::refresh::cancel_in_this_process;
use tokio::signal::unix::{SignalKind, signal};

/// Handles Ctrl-C and SIGTERM as described above, from now until the process ends.
pub fn cancel_on_signals() {
    let started = std::thread::Builder::new()
        .name("signals".into())
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build();
            match runtime {
                Ok(runtime) => runtime.block_on(listen()),
                Err(error) => tracing::warn!(%error, "Ctrl-C will not cancel the refresh"),
            }
        });
    if let Err(error) = started {
        tracing::warn!(%error, "Ctrl-C will not cancel the refresh");
    }
}

async fn listen() {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot handle signals: Ctrl-C will not cancel the refresh");
        return;
    };
    let mut presses = 0;
    loop {
        tokio::select! {
            _ = interrupt.recv() => presses += 1,
            _ = terminate.recv() => presses = presses.max(2),
        }
        match presses {
            1 => eprintln!("\ncancel the refresh? (Ctrl-C again to cancel)"),
            2 => {
                cancel_in_this_process();
                eprintln!(
                    "\ncancelling at the next safe point: the staging copy is dropped and the \
                     target stays as it was (once the cutover has started the refresh finishes \
                     instead; roll it back then). Ctrl-C again to stop at once."
                );
            }
            _ => std::process::exit(130),
        }
    }
}
