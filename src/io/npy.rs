//! The `.npy` container: header parsing (through `npyz`) and a small writer for the plain
//! little-endian C-order arrays crosscode produces.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Element types crosscode reads from `.npy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    /// `uint8`.
    U8,
    /// `int8`.
    I8,
    /// little-endian `float32`.
    F32,
    /// little-endian `uint64`.
    U64,
    /// little-endian `int64`.
    I64,
}

impl NpyDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyDtype::U8 | NpyDtype::I8 => 1,
            NpyDtype::F32 => 4,
            NpyDtype::U64 | NpyDtype::I64 => 8,
        }
    }
}

/// A `.npy` file positioned at its data, with its element type and shape.
pub struct NpyInput {
    /// Element type.
    pub dtype: NpyDtype,
    /// Shape (C order).
    pub shape: Vec<u64>,
    /// Reader positioned at the first element.
    pub reader: BufReader<File>,
}

/// Opens a `.npy` file and reads its header. Fortran order, big-endian and object
/// arrays are refused with [`Error::UnsupportedInput`].
pub fn open_npy(path: &Path) -> Result<NpyInput> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::with_capacity(1 << 20, file)).map_err(|e| {
        Error::UnsupportedInput {
            path: path.to_path_buf(),
            expected: "a .npy file".to_string(),
            found: format!("unreadable header ({e})"),
        }
    })?;
    let unsupported = |found: String| Error::UnsupportedInput {
        path: path.to_path_buf(),
        expected: "a C-order array of uint8, int8, little-endian float32, uint64 or int64"
            .to_string(),
        found,
    };
    if npy.header().order() != npyz::Order::C {
        return Err(unsupported(
            "a Fortran-order array (save it with np.ascontiguousarray)".into(),
        ));
    }
    let descr = match npy.header().dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => return Err(unsupported(format!("dtype {}", other.descr()))),
    };
    let dtype = match descr.as_str() {
        "|u1" | "<u1" | ">u1" | "=u1" => NpyDtype::U8,
        "|i1" | "<i1" | ">i1" | "=i1" => NpyDtype::I8,
        "<f4" => NpyDtype::F32,
        "<u8" => NpyDtype::U64,
        "<i8" => NpyDtype::I64,
        _ => return Err(unsupported(format!("dtype {descr}"))),
    };
    let shape = npy.header().shape().to_vec();
    Ok(NpyInput {
        dtype,
        shape,
        reader: npy.into_inner(),
    })
}

/// Element types [`write_npy`] writes.
pub trait NpyElement: bytemuck::Pod {
    /// The numpy type string.
    const DESCR: &'static str;
}

impl NpyElement for u64 {
    const DESCR: &'static str = "<u8";
}
impl NpyElement for u32 {
    const DESCR: &'static str = "<u4";
}
impl NpyElement for u8 {
    const DESCR: &'static str = "|u1";
}
impl NpyElement for i8 {
    const DESCR: &'static str = "|i1";
}
impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
}
impl NpyElement for i64 {
    const DESCR: &'static str = "<i8";
}
impl NpyElement for i32 {
    const DESCR: &'static str = "<i4";
}

/// A `.npy` array read whole into memory: shape and elements in C order.
#[derive(Clone, Debug)]
pub struct NpyArray<T> {
    /// The shape.
    pub shape: Vec<usize>,
    /// The elements, C order.
    pub data: Vec<T>,
}

/// Reads a whole C-order `.npy` of element type `T` (f32, i32, i64, u8 …); a Fortran-order
/// file or another dtype is [`Error::Format`].
pub fn read_npy<T: npyz::Deserialize>(path: &Path) -> Result<NpyArray<T>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(|e| Error::Format {
        path: path.into(),
        reason: format!("not a .npy file: {e}"),
    })?;
    if npy.order() == npyz::Order::Fortran {
        return Err(Error::Format {
            path: path.into(),
            reason: "Fortran-order arrays are not supported; save with C order".into(),
        });
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let dtype = npy.dtype();
    let reader = npy.data::<T>().map_err(|e| Error::Format {
        path: path.into(),
        reason: format!("unexpected dtype {dtype:?}: {e}"),
    })?;
    let data = reader
        .collect::<std::io::Result<Vec<T>>>()
        .map_err(|e| Error::io(path, e))?;
    Ok(NpyArray { shape, data })
}

/// The version 1.0 header for a C-order array of `T` with `shape`.
pub fn npy_header<T: NpyElement>(shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}",
        T::DESCR
    );
    // Magic (6) + version (2) + length (2) + dict + '\n', padded to a multiple of 64.
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    while 10 + dict.len() + 1 < total {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes a little-endian C-order `.npy` file; `data.len()` must be the shape's product.
pub fn write_npy<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(Error::LengthMismatch {
            what: "npy data (product of the shape)",
            expected: n,
            found: data.len(),
        });
    }
    if cfg!(target_endian = "big") {
        return Err(Error::InvalidArgument {
            name: "target",
            reason: "writing .npy needs a little-endian host".to_string(),
        });
    }
    let mut w = std::io::BufWriter::new(File::create(path).map_err(|e| Error::io(path, e))?);
    w.write_all(&npy_header::<T>(shape))
        .and_then(|()| w.write_all(bytemuck::cast_slice(data)))
        .and_then(|()| w.flush())
        .map_err(|e| Error::io(path, e))
}
