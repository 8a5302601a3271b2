//! What the fuzz targets (`fuzz_targets/`) share.

use std::fmt::Debug;
use std::io::Read;

use ingestd::fuzzing::Sent;

/// A body arriving in pieces: at most `chunk` bytes per read.
pub struct Chunked {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
}

impl Chunked {
    pub fn new(data: &[u8], chunk: usize) -> Chunked {
        Chunked {
            data: data.to_vec(),
            at: 0,
            chunk: chunk.max(1),
        }
    }
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// An ingest converter sent the encoder its messages in order, and `End` exactly when it
/// succeeded.
pub fn assert_sent_in_order<T: Debug, E: Debug>(result: &Result<T, E>, sent: &Sent) {
    assert_eq!(
        sent.disorder, None,
        "the encoder was sent messages out of order"
    );
    assert_eq!(
        sent.ended,
        result.is_ok(),
        "End sent iff the conversion succeeded: {result:?}"
    );
}

std::thread_local! {
    /// What the last panic on this thread said, and where.
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Runs `f`, turning a panic in it into `Err` with its message, quietly: libFuzzer's panic
/// hook would abort the process at the panic, caught or not. For code outside this
/// repository that is known to panic on bad input.
pub fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|last| *last.borrow_mut() = info.to_string());
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|_| LAST_PANIC.with(|last| last.borrow().clone()))
}

/// Runs `f`, which catches some panics itself on purpose (ingestd's guard around the
/// Parquet reader): those stay quiet, where libFuzzer's hook would abort at them; a panic
/// that escapes `f` is raised again with its message and place, the crash it is.
pub fn allowing_caught_panics<T>(f: impl FnOnce() -> T) -> T {
    match caught(f) {
        Ok(value) => value,
        Err(message) => panic!("{message}"),
    }
}
