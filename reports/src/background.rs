//! A file written on its own thread. Bytes gather in chunks of [`CHUNK`] bytes; a full chunk
//! goes over a bounded channel to a writer thread that writes the chunks in order, so the
//! simulation never waits on the disk (page-cache writeback throttles a writer that produces
//! a gigabyte of tasks.csv) while at most [`IN_FLIGHT`] chunks are held: memory stays bounded.
//! The bytes on disk are the bytes written, in order, whatever the timing.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes per chunk handed to the writer thread.
pub const CHUNK: usize = 1 << 18;
/// Chunks queued for the writer thread at most (beyond the one it writes).
pub const IN_FLIGHT: usize = 4;
/// Bytes one file's chunks hold at most (a chunk holds [`CHUNK`] bytes and one write): the one
/// filling, those queued, the one being written, and the written ones waiting for reuse.
pub const HELD_AT_MOST_BYTES: usize = (1 + IN_FLIGHT + 1 + IN_FLIGHT + 1) * CHUNK;

/// A file written by a background thread (see the module doc). Call [`BackgroundFile::close`]
/// to write everything and learn of any error; dropping it without closing still writes every
/// byte handed to it, but the error, if any, is lost.
pub struct BackgroundFile {
    buf: Vec<u8>,
    tx: Option<SyncSender<Vec<u8>>>,
    /// Chunks the writer thread has written, back for reuse.
    spare: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<io::Result<()>>>,
}

impl BackgroundFile {
    /// Starts the writer thread for `file`; `name` names the thread.
    pub fn new(mut file: File, name: &str) -> io::Result<BackgroundFile> {
        let (tx, rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (back, spare) = sync_channel::<Vec<u8>>(IN_FLIGHT + 1);
        let writer = std::thread::Builder::new().name(name.into()).spawn(move || -> io::Result<()> {
            for mut chunk in rx {
                file.write_all(&chunk)?;
                chunk.clear();
                let _ = back.try_send(chunk);
            }
            file.flush()
        })?;
        Ok(BackgroundFile { buf: Vec::with_capacity(CHUNK), tx: Some(tx), spare, writer: Some(writer) })
    }

    /// Closes the channel and waits for the writer thread: its result (a panic as an error; Ok
    /// when it was joined before).
    fn join(&mut self) -> io::Result<()> {
        self.tx = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the file's writer thread panicked")),
            None => Ok(()),
        }
    }

    /// The writer thread's error after it stopped early.
    fn stopped(&mut self) -> io::Error {
        self.join().err().unwrap_or_else(|| io::Error::other("the file's writer thread stopped"))
    }

    /// Hands the current chunk to the writer thread.
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        let Some(tx) = &self.tx else { return Err(io::Error::other("the file is closed")) };
        if tx.send(full).is_err() {
            return Err(self.stopped());
        }
        Ok(())
    }

    /// Writes every byte handed over, waits for the writer thread, and says whether all of it
    /// reached the file. Later writes fail.
    pub fn close(&mut self) -> io::Result<()> {
        if self.tx.is_none() {
            return Ok(());
        }
        self.send()?;
        self.join()
    }
}

impl Write for BackgroundFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }
    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(())
    }
    /// Hands the bytes so far to the writer thread (it does not wait for them to reach the
    /// file: [`BackgroundFile::close`] does).
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for BackgroundFile {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file holds every byte in order, across many chunks and odd write sizes; a second
    /// close is harmless and a write after it fails.
    #[test]
    fn writes_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let mut f = BackgroundFile::new(File::create(&path).unwrap(), "test-writer").unwrap();
        let mut expected = Vec::new();
        let mut x: u32 = 1;
        for i in 0..20_000usize {
            let n = i % 257;
            let piece: Vec<u8> = (0..n).map(|_| { x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223); (x >> 24) as u8 }).collect();
            f.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
        }
        assert!(expected.len() > 4 * CHUNK, "the test crosses several chunks");
        f.close().unwrap();
        f.close().unwrap();
        assert!(f.write_all(&[0; CHUNK]).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    /// A write error on the writer thread comes back to the caller (here: a file opened
    /// read-only).
    #[test]
    fn a_write_error_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.bin");
        std::fs::write(&path, b"").unwrap();
        let mut f = BackgroundFile::new(File::open(&path).unwrap(), "test-writer").unwrap();
        let mut failed = false;
        for _ in 0..(IN_FLIGHT + 4) {
            if f.write_all(&vec![1u8; CHUNK]).is_err() {
                failed = true;
                break;
            }
        }
        failed |= f.close().is_err();
        assert!(failed, "the error was reported");
    }
}
