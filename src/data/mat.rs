//! A small reader for MATLAB v5 `.mat` files (also the v6/v7 variants: v7 adds
//! `miCOMPRESSED`, zlib-compressed elements). Enough for numeric arrays: it lists the
//! variables with their class and dimensions, and opens a variable's real part as a
//! stream, so a 1.6 GB array (SVHN `extra`) can be read in chunks without holding it.
//!
//! Layout: a 128-byte header (116 bytes of text, 8 bytes subsystem offset, u16 version,
//! 2-byte endian indicator "IM"/"MI"), then tagged data elements. A tag is (u32 type,
//! u32 byte count), data padded to 8 bytes; in the small-element format the count sits in
//! the upper 16 bits of the first word and up to 4 data bytes in the second word.
//! A variable is a `miMATRIX` element holding sub-elements: array flags (class in the low
//! byte), dimensions (`miINT32`), name (`miINT8`), real part (any numeric type).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::source::{io_err, DataError};

pub const MI_INT8: u32 = 1;
pub const MI_UINT8: u32 = 2;
pub const MI_INT16: u32 = 3;
pub const MI_UINT16: u32 = 4;
pub const MI_INT32: u32 = 5;
pub const MI_UINT32: u32 = 6;
pub const MI_SINGLE: u32 = 7;
pub const MI_DOUBLE: u32 = 9;
pub const MI_INT64: u32 = 12;
pub const MI_UINT64: u32 = 13;
pub const MI_MATRIX: u32 = 14;
pub const MI_COMPRESSED: u32 = 15;

/// MATLAB array classes (the low byte of the array flags).
pub const MX_DOUBLE: u8 = 6;
pub const MX_SINGLE: u8 = 7;
pub const MX_INT8: u8 = 8;
pub const MX_UINT8: u8 = 9;
pub const MX_INT16: u8 = 10;
pub const MX_UINT16: u8 = 11;
pub const MX_INT32: u8 = 12;
pub const MX_UINT32: u8 = 13;
pub const MX_INT64: u8 = 14;
pub const MX_UINT64: u8 = 15;

/// Where a variable's real part lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// Uncompressed: the data starts at this file offset.
    Raw { offset: u64 },
    /// Inside the `miCOMPRESSED` element whose zlib stream starts at `offset`, `len` bytes long.
    Compressed { offset: u64, len: u64 },
    /// Small-element format: the (≤ 4) bytes themselves.
    Inline(Vec<u8>),
}

/// One variable of a `.mat` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub name: String,
    /// `mx*_CLASS` of the array.
    pub class: u8,
    pub complex: bool,
    /// MATLAB dimensions (column-major: the first varies fastest).
    pub dims: Vec<usize>,
    /// `mi*` type the real part is stored as (may be narrower than the class, e.g. a
    /// double array of small integers stored as `miUINT8`).
    pub data_type: u32,
    pub data_bytes: u64,
    pub location: Location,
}

impl Var {
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A parsed `.mat` file: its path, byte order, and variables.
#[derive(Debug, Clone)]
pub struct MatFile {
    pub path: PathBuf,
    pub big_endian: bool,
    pub vars: Vec<Var>,
}

fn type_size(t: u32) -> Option<usize> {
    Some(match t {
        MI_INT8 | MI_UINT8 => 1,
        MI_INT16 | MI_UINT16 => 2,
        MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
        MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
        _ => return None,
    })
}

fn pad8(n: u64) -> u64 {
    n.div_ceil(8) * 8
}

/// Reads tags and numbers with the file's byte order, counting bytes consumed.
struct Cursor<R> {
    r: R,
    big: bool,
    pos: u64,
}

impl<R: Read> Cursor<R> {
    fn bytes(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        let mut b = vec![0; n];
        self.r.read_exact(&mut b)?;
        self.pos += n as u64;
        Ok(b)
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        let b: [u8; 4] = self.bytes(4)?.try_into().unwrap();
        Ok(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
    /// A tag: (type, byte count, inline data for the small format).
    fn tag(&mut self) -> std::io::Result<(u32, u64, Option<Vec<u8>>)> {
        let w = self.u32()?;
        if w >> 16 != 0 {
            let data = self.bytes(4)?;
            let n = (w >> 16) as usize;
            Ok((w & 0xffff, n as u64, Some(data[..n.min(4)].to_vec())))
        } else {
            let n = self.u32()?;
            Ok((w, n as u64, None))
        }
    }
    fn skip(&mut self, n: u64) -> std::io::Result<()> {
        let k = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())?;
        self.pos += k;
        if k < n {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
    /// The payload of a sub-element (small or padded to 8 bytes). Header sub-elements are
    /// small; a huge count means a corrupted file, not something to allocate.
    fn payload(&mut self, n: u64, inline: Option<Vec<u8>>) -> std::io::Result<Vec<u8>> {
        match inline {
            Some(d) => Ok(d),
            None if n > 1 << 16 => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a header sub-element declares {n} bytes"),
            )),
            None => {
                let b = self.bytes(n as usize)?;
                self.skip(pad8(n) - n)?;
                Ok(b)
            }
        }
    }
}

fn fmt_err(path: &Path, detail: impl Into<String>) -> DataError {
    DataError::Format {
        file: path.to_path_buf(),
        format: "MATLAB v5 .mat".into(),
        detail: detail.into(),
    }
}

/// Parses a `miMATRIX` element's header (the tag already read, `n` bytes long) up to
/// the start of its real part. `base` is the cursor position of the data after the tag.
fn matrix_header<R: Read>(
    c: &mut Cursor<R>,
    path: &Path,
    n: u64,
    compressed: Option<(u64, u64)>,
) -> Result<Option<Var>, DataError> {
    let start = c.pos;
    let eof = |e: std::io::Error| {
        fmt_err(
            path,
            format!("matrix element at byte {start} is cut short ({e}); truncated file?"),
        )
    };
    if n == 0 {
        return Ok(None); // an empty placeholder element
    }
    let (t, len, inline) = c.tag().map_err(eof)?;
    let flags = c.payload(len, inline).map_err(eof)?;
    if t != MI_UINT32 || flags.len() < 8 {
        return Err(fmt_err(
            path,
            format!("array flags at byte {start} have type {t}, expected miUINT32"),
        ));
    }
    let word = if c.big {
        u32::from_be_bytes(flags[..4].try_into().unwrap())
    } else {
        u32::from_le_bytes(flags[..4].try_into().unwrap())
    };
    let class = (word & 0xff) as u8;
    let complex = word & 0x800 != 0;
    if !(MX_DOUBLE..=MX_UINT64).contains(&class) {
        // Cells, structs, objects, chars, sparse: not needed here (the caller seeks past
        // the element); listed without a name so they are dropped.
        return Ok(Some(Var {
            name: String::new(),
            class,
            complex,
            dims: vec![],
            data_type: 0,
            data_bytes: 0,
            location: Location::Inline(vec![]),
        }));
    }
    let (t, len, inline) = c.tag().map_err(eof)?;
    let dims_b = c.payload(len, inline).map_err(eof)?;
    if t != MI_INT32 {
        return Err(fmt_err(
            path,
            format!("dimensions at byte {start} have type {t}, expected miINT32"),
        ));
    }
    let dims: Vec<usize> = dims_b
        .chunks_exact(4)
        .map(|b| {
            let b: [u8; 4] = b.try_into().unwrap();
            (if c.big {
                i32::from_be_bytes(b)
            } else {
                i32::from_le_bytes(b)
            })
            .max(0) as usize
        })
        .collect();
    let (_, len, inline) = c.tag().map_err(eof)?;
    let name_b = c.payload(len, inline).map_err(eof)?;
    let name = String::from_utf8_lossy(&name_b)
        .trim_end_matches('\0')
        .to_string();
    let (data_type, data_bytes, inline) = c.tag().map_err(eof)?;
    let elem = type_size(data_type).ok_or_else(|| {
        fmt_err(
            path,
            format!("variable '{name}': unsupported data type {data_type}"),
        )
    })?;
    let numel: usize = dims.iter().product();
    if data_bytes != (numel * elem) as u64 {
        return Err(fmt_err(
            path,
            format!(
                "variable '{name}': dimensions {dims:?} need {} bytes of type {data_type}, the element holds {data_bytes}",
                numel * elem
            ),
        ));
    }
    let location = match (inline, compressed) {
        (Some(d), _) => Location::Inline(d),
        (None, Some((offset, len))) => Location::Compressed { offset, len },
        (None, None) => Location::Raw { offset: c.pos },
    };
    Ok(Some(Var {
        name,
        class,
        complex,
        dims,
        data_type,
        data_bytes,
        location,
    }))
}

impl MatFile {
    /// Reads the header and the variable table (not the data).
    pub fn open(path: &Path) -> Result<MatFile, DataError> {
        let f = File::open(path).map_err(|e| io_err(path, e))?;
        let file_len = f.metadata().map_err(|e| io_err(path, e))?.len();
        let mut r = BufReader::new(f);
        let mut head = [0u8; 128];
        r.read_exact(&mut head).map_err(|_| DataError::Size {
            file: path.to_path_buf(),
            expected: "at least 128 bytes (the MATLAB v5 header)".into(),
            found: format!("{file_len} bytes"),
        })?;
        let big = match &head[126..128] {
            b"IM" => false,
            b"MI" => true,
            other => {
                let hint = if head.starts_with(b"\x89HDF")
                    || head[..116].windows(4).any(|w| w == b"7.3 ")
                {
                    " (MATLAB v7.3 files are HDF5, not supported)"
                } else {
                    ""
                };
                return Err(fmt_err(
                    path,
                    format!("endian indicator {other:?}, expected \"IM\" or \"MI\"{hint}"),
                ));
            }
        };
        let mut c = Cursor { r, big, pos: 128 };
        let mut vars = Vec::new();
        while c.pos < file_len {
            let at = c.pos;
            if file_len - at < 8 {
                return Err(DataError::Size {
                    file: path.to_path_buf(),
                    expected: format!("a complete 8-byte element tag at byte {at}"),
                    found: format!("{} trailing bytes", file_len - at),
                });
            }
            let (t, n, _) = c.tag().map_err(|e| io_err(path, e))?;
            let end = match t {
                MI_COMPRESSED => at + 8 + n,
                _ => at + 8 + pad8(n),
            };
            // The element must fit in the file (MATLAB may omit the final padding).
            if at + 8 + n > file_len {
                return Err(DataError::Size {
                    file: path.to_path_buf(),
                    expected: format!(
                        "{} bytes (element at byte {at} declares {n} bytes of data)",
                        at + 8 + n
                    ),
                    found: format!("{file_len} bytes (truncated?)"),
                });
            }
            match t {
                MI_MATRIX => {
                    if let Some(v) = matrix_header(&mut c, path, n, None)? {
                        vars.push(v);
                    }
                }
                MI_COMPRESSED => {
                    let f = File::open(path).map_err(|e| io_err(path, e))?;
                    let mut f = BufReader::new(f);
                    f.seek(SeekFrom::Start(at + 8))
                        .map_err(|e| io_err(path, e))?;
                    let z = flate2::read::ZlibDecoder::new(f.take(n));
                    let mut zc = Cursor { r: z, big, pos: 0 };
                    let (it, inner_n, _) = zc.tag().map_err(|e| {
                        fmt_err(path, format!("compressed element at byte {at}: {e}"))
                    })?;
                    if it == MI_MATRIX {
                        if let Some(v) = matrix_header(&mut zc, path, inner_n, Some((at + 8, n)))? {
                            vars.push(v);
                        }
                    }
                }
                _ => {}
            }
            let end = end.min(file_len);
            c.r.seek(SeekFrom::Start(end))
                .map_err(|e| io_err(path, e))?;
            c.pos = end;
        }
        vars.retain(|v| !v.name.is_empty());
        Ok(MatFile {
            path: path.to_path_buf(),
            big_endian: big,
            vars,
        })
    }

    pub fn var(&self, name: &str) -> Option<&Var> {
        self.vars.iter().find(|v| v.name == name)
    }

    /// A reader over `var`'s real-part bytes (exactly `data_bytes` of them, in file order).
    pub fn open_data(&self, var: &Var) -> Result<Box<dyn Read + Send>, DataError> {
        let path = &self.path;
        match &var.location {
            Location::Inline(d) => Ok(Box::new(std::io::Cursor::new(d.clone()))),
            Location::Raw { offset } => {
                let mut f = BufReader::with_capacity(
                    1 << 20,
                    File::open(path).map_err(|e| io_err(path, e))?,
                );
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| io_err(path, e))?;
                Ok(Box::new(f.take(var.data_bytes)))
            }
            Location::Compressed { offset, len } => {
                let mut f = BufReader::with_capacity(
                    1 << 20,
                    File::open(path).map_err(|e| io_err(path, e))?,
                );
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| io_err(path, e))?;
                let z = flate2::read::ZlibDecoder::new(f.take(*len));
                let mut c = Cursor {
                    r: z,
                    big: self.big_endian,
                    pos: 0,
                };
                let (_, n, _) = c.tag().map_err(|e| io_err(path, e))?;
                matrix_header(&mut c, path, n, Some((*offset, *len)))?;
                Ok(Box::new(c.r.take(var.data_bytes)))
            }
        }
    }

    /// Reads a whole numeric variable as f64 (for small arrays such as labels).
    pub fn read_f64(&self, var: &Var) -> Result<Vec<f64>, DataError> {
        let mut b = Vec::with_capacity(var.data_bytes as usize);
        self.open_data(var)?
            .read_to_end(&mut b)
            .map_err(|e| fmt_err(&self.path, format!("variable '{}': {e}", var.name)))?;
        if b.len() as u64 != var.data_bytes {
            return Err(DataError::Size {
                file: self.path.clone(),
                expected: format!(
                    "{} bytes of data for variable '{}'",
                    var.data_bytes, var.name
                ),
                found: format!("{} bytes", b.len()),
            });
        }
        Ok(decode_f64(&b, var.data_type, self.big_endian))
    }
}

/// Converts raw element bytes of type `t` to f64.
pub fn decode_f64(b: &[u8], t: u32, big: bool) -> Vec<f64> {
    macro_rules! conv {
        ($ty:ty, $n:expr) => {
            b.chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap();
                    (if big {
                        <$ty>::from_be_bytes(a)
                    } else {
                        <$ty>::from_le_bytes(a)
                    }) as f64
                })
                .collect()
        };
    }
    match t {
        MI_INT8 => b.iter().map(|&x| x as i8 as f64).collect(),
        MI_UINT8 => b.iter().map(|&x| x as f64).collect(),
        MI_INT16 => conv!(i16, 2),
        MI_UINT16 => conv!(u16, 2),
        MI_INT32 => conv!(i32, 4),
        MI_UINT32 => conv!(u32, 4),
        MI_SINGLE => conv!(f32, 4),
        MI_DOUBLE => conv!(f64, 8),
        MI_INT64 => conv!(i64, 8),
        MI_UINT64 => conv!(u64, 8),
        _ => vec![],
    }
}
