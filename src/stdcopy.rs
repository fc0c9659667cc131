//! Docker's multiplexed stream for attach and logs without a tty: each frame is an 8-byte
//! header `[stream, 0, 0, 0, len(u32 big-endian)]` followed by `len` bytes. Stream 0 is
//! stdin, 1 stdout, 2 stderr, 3 the daemon's system error.

use std::io::{self, Read, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    System = 3,
}

/// Writes one frame.
pub fn write_frame(w: &mut dyn Write, stream: StreamType, data: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(8 + data.len());
    frame.push(stream as u8);
    frame.extend_from_slice(&[0, 0, 0]);
    frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
    frame.extend_from_slice(data);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub fn read_frame(r: &mut dyn Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        let n = r.read(&mut header[got..])?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream header cut short")) };
        }
        got += n;
    }
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((header[0], data)))
}

/// Copies a multiplexed stream to `stdout` and `stderr` until it ends; a system frame
/// becomes an error.
pub fn demux(r: &mut dyn Read, stdout: &mut dyn Write, stderr: &mut dyn Write) -> io::Result<()> {
    while let Some((stream, data)) = read_frame(r)? {
        match stream {
            0 | 1 => {
                stdout.write_all(&data)?;
                stdout.flush()?;
            }
            2 => {
                stderr.write_all(&data)?;
                stderr.flush()?;
            }
            3 => return Err(io::Error::other(String::from_utf8_lossy(&data).into_owned())),
            other => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown stream id {other}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split() {
        let mut wire = Vec::new();
        write_frame(&mut wire, StreamType::Stdout, b"out\n").unwrap();
        write_frame(&mut wire, StreamType::Stderr, b"err\n").unwrap();
        assert_eq!(&wire[..8], &[1, 0, 0, 0, 0, 0, 0, 4]);
        let (mut o, mut e) = (Vec::new(), Vec::new());
        demux(&mut io::Cursor::new(wire), &mut o, &mut e).unwrap();
        assert_eq!((o.as_slice(), e.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    }
}
