//! FRU inventory (IPMI spec 34; Platform Management FRU Information
//! Storage Definition v1.0 sections 8–12).

use super::Command;
use crate::wire::{DecodeError, NetFn, Reader, Request};

/// Get FRU Inventory Area Info (34.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetFruInventoryAreaInfo(pub u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FruAreaInfo {
    pub size: u16,
    /// Device is accessed in words (offsets and counts are in 16-bit units).
    pub by_words: bool,
}

impl Command for GetFruInventoryAreaInfo {
    type Output = FruAreaInfo;
    const NAME: &'static str = "Get FRU Inventory Area Info";
    fn request(&self) -> Request {
        Request::new(NetFn::STORAGE, 0x10, vec![self.0])
    }
    fn parse(&self, data: &[u8]) -> Result<FruAreaInfo, DecodeError> {
        let mut r = Reader::new(data);
        Ok(FruAreaInfo {
            size: r.u16le("FRU area size")?,
            by_words: r.u8("FRU access")? & 1 != 0,
        })
    }
}

/// Read FRU Data (34.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadFruData {
    pub device: u8,
    pub offset: u16,
    pub count: u8,
}

impl Command for ReadFruData {
    type Output = Vec<u8>;
    const NAME: &'static str = "Read FRU Data";
    fn request(&self) -> Request {
        let mut d = vec![self.device];
        d.extend_from_slice(&self.offset.to_le_bytes());
        d.push(self.count);
        Request::new(NetFn::STORAGE, 0x11, d)
    }
    fn parse(&self, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut r = Reader::new(data);
        let n = usize::from(r.u8("count returned")?);
        let avail = r.remaining();
        if n > avail {
            return Err(DecodeError::BadLength {
                what: "FRU data",
                len: n,
                available: avail,
            });
        }
        Ok(r.take(n, "FRU data")?.to_vec())
    }
}

/// Chassis info area (FRU spec 10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChassisInfo {
    pub chassis_type: u8,
    pub part_number: String,
    pub serial: String,
    pub custom: Vec<String>,
}

/// Board info area (FRU spec 11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardInfo {
    /// Manufacturing time, seconds since the Unix epoch (None if unspecified).
    pub mfg_time: Option<u64>,
    pub manufacturer: String,
    pub product: String,
    pub serial: String,
    pub part_number: String,
    pub fru_file_id: String,
    pub custom: Vec<String>,
}

/// Product info area (FRU spec 12).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductInfo {
    pub manufacturer: String,
    pub name: String,
    pub part_number: String,
    pub version: String,
    pub serial: String,
    pub asset_tag: String,
    pub fru_file_id: String,
    pub custom: Vec<String>,
}

/// Parsed FRU inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fru {
    pub chassis: Option<ChassisInfo>,
    pub board: Option<BoardInfo>,
    pub product: Option<ProductInfo>,
}

/// Minutes from 1970-01-01 to 1996-01-01, the FRU time origin.
const FRU_EPOCH_MINUTES: u64 = 820_454_400 / 60;

/// Decode one type/length-prefixed field (FRU spec 13). `None` at the end
/// marker C1h.
fn field(r: &mut Reader<'_>) -> Result<Option<String>, DecodeError> {
    let tl = r.u8("FRU type/length")?;
    if tl == 0xC1 {
        return Ok(None);
    }
    let len = usize::from(tl & 0x3F);
    let b = r.take(len, "FRU field")?;
    Ok(Some(
        match tl >> 6 {
            0b00 => b.iter().map(|c| format!("{c:02x}")).collect(),
            0b01 => b
                .iter()
                .flat_map(|c| [c >> 4, c & 0x0F]) // packed BCD: high digit first
                .map(|d| match d {
                    0..=9 => char::from(b'0' + d),
                    0xA => ' ',
                    0xB => '-',
                    0xC => '.',
                    _ => '?',
                })
                .collect(),
            0b10 => unpack_6bit(b),
            _ => b.iter().map(|c| char::from(*c)).collect::<String>(),
        }
        .trim_end_matches(['\0', ' '])
        .to_string(),
    ))
}

/// 6-bit packed ASCII: four characters per three bytes, offset 0x20.
fn unpack_6bit(b: &[u8]) -> String {
    let mut out = String::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &byte in b {
        acc |= u32::from(byte) << bits;
        bits += 8;
        while bits >= 6 {
            out.push(char::from(((acc & 0x3F) as u8) + 0x20));
            acc >>= 6;
            bits -= 6;
        }
    }
    out
}

/// Slice an area at `offset8 * 8`, check its length byte and checksum.
fn area<'a>(
    image: &'a [u8],
    offset8: u8,
    what: &'static str,
) -> Result<Option<&'a [u8]>, DecodeError> {
    if offset8 == 0 {
        return Ok(None);
    }
    let start = usize::from(offset8) * 8;
    let hdr = image
        .get(start..start + 2)
        .ok_or(DecodeError::Truncated { what, needed: 2 })?;
    let len = usize::from(hdr[1]) * 8;
    let a = image
        .get(start..start + len)
        .ok_or(DecodeError::BadLength {
            what,
            len,
            available: image.len().saturating_sub(start),
        })?;
    if len < 3 {
        return Err(DecodeError::BadLength {
            what,
            len,
            available: len,
        });
    }
    if a.iter().fold(0u8, |s, b| s.wrapping_add(*b)) != 0 {
        return Err(DecodeError::Checksum(what));
    }
    Ok(Some(a))
}

fn rest_fields(r: &mut Reader<'_>) -> Result<Vec<String>, DecodeError> {
    let mut v = Vec::new();
    // Custom fields run until C1h; a bound stops a corrupt area from looping.
    while v.len() < 64 {
        match field(r)? {
            Some(s) => v.push(s),
            None => break,
        }
    }
    Ok(v)
}

fn next(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    Ok(field(r)?.unwrap_or_default())
}

impl Fru {
    /// Parse a FRU image starting with the common header.
    pub fn parse(image: &[u8]) -> Result<Fru, DecodeError> {
        let hdr = image.get(..8).ok_or(DecodeError::Truncated {
            what: "FRU common header",
            needed: 8usize.saturating_sub(image.len()),
        })?;
        if hdr.iter().fold(0u8, |s, b| s.wrapping_add(*b)) != 0 {
            return Err(DecodeError::Checksum("FRU common header"));
        }
        if hdr[0] & 0x0F != 0x01 {
            return Err(DecodeError::Unexpected {
                what: "FRU format version",
                value: hdr[0].into(),
            });
        }
        let mut fru = Fru::default();
        if let Some(a) = area(image, hdr[2], "FRU chassis area")? {
            let mut r = Reader::new(a.get(2..).unwrap_or_default());
            let chassis_type = r.u8("chassis type")?;
            fru.chassis = Some(ChassisInfo {
                chassis_type,
                part_number: next(&mut r)?,
                serial: next(&mut r)?,
                custom: rest_fields(&mut r)?,
            });
        }
        if let Some(a) = area(image, hdr[3], "FRU board area")? {
            let mut r = Reader::new(a.get(2..).unwrap_or_default());
            r.skip(1, "language")?;
            let t: [u8; 3] = r.array("manufacturing time")?;
            let minutes = u64::from(u32::from_le_bytes([t[0], t[1], t[2], 0]));
            fru.board = Some(BoardInfo {
                mfg_time: (minutes != 0).then_some((minutes + FRU_EPOCH_MINUTES) * 60),
                manufacturer: next(&mut r)?,
                product: next(&mut r)?,
                serial: next(&mut r)?,
                part_number: next(&mut r)?,
                fru_file_id: next(&mut r)?,
                custom: rest_fields(&mut r)?,
            });
        }
        if let Some(a) = area(image, hdr[4], "FRU product area")? {
            let mut r = Reader::new(a.get(2..).unwrap_or_default());
            r.skip(1, "language")?;
            fru.product = Some(ProductInfo {
                manufacturer: next(&mut r)?,
                name: next(&mut r)?,
                part_number: next(&mut r)?,
                version: next(&mut r)?,
                serial: next(&mut r)?,
                asset_tag: next(&mut r)?,
                fru_file_id: next(&mut r)?,
                custom: rest_fields(&mut r)?,
            });
        }
        Ok(fru)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn tl(s: &str) -> Vec<u8> {
        let mut v = vec![0xC0 | s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn close(mut a: Vec<u8>) -> Vec<u8> {
        a.push(0xC1);
        while !(a.len() + 1).is_multiple_of(8) {
            a.push(0);
        }
        a[1] = ((a.len() + 1) / 8) as u8;
        let s = a.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        a.push(s.wrapping_neg());
        a
    }

    /// Same layout as lab/bmcs.sh writes.
    pub(crate) fn sample() -> Vec<u8> {
        let mut board = vec![1, 0, 0, 0x10, 0x32, 0x0c];
        for f in ["Ironrack", "IR-Board", "BRD0001", "PN-100", ""] {
            board.extend(tl(f));
        }
        let board = close(board);
        let mut product = vec![1, 0, 0];
        for f in [
            "Ironrack", "IR-1000", "IR1000-A", "1.0", "SN0001", "TAG0001", "",
        ] {
            product.extend(tl(f));
        }
        let product = close(product);
        let mut hdr = vec![1, 0, 0, 1, 1 + (board.len() / 8) as u8, 0, 0];
        let s = hdr.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        hdr.push(s.wrapping_neg());
        [hdr, board, product].concat()
    }

    #[test]
    fn parse_sample() {
        let img = sample();
        let f = Fru::parse(&img).unwrap();
        let b = f.board.unwrap();
        assert_eq!(b.manufacturer, "Ironrack");
        assert_eq!(b.serial, "BRD0001");
        // 0x0c3210 minutes after 1996-01-01 = 1997-07-09 00:48 UTC (ipmitool agrees).
        assert_eq!(b.mfg_time, Some(868_409_280));
        let p = f.product.unwrap();
        assert_eq!((p.name.as_str(), p.serial.as_str()), ("IR-1000", "SN0001"));
        assert_eq!(p.asset_tag, "TAG0001");
        let mut bad = img.clone();
        bad[12] ^= 0x55;
        assert!(matches!(Fru::parse(&bad), Err(DecodeError::Checksum(_))));
        assert!(Fru::parse(&img[..20]).is_err());
    }

    #[test]
    fn six_bit_and_bcd() {
        // "IPMI" packed as 6-bit ASCII: 0x29 0xdc 0xa6.
        assert_eq!(unpack_6bit(&[0x29, 0xdc, 0xa6]), "IPMI");
        let mut r = Reader::new(&[0x42, 0x12, 0xba]);
        assert_eq!(field(&mut r).unwrap().unwrap(), "12-");
    }
}
