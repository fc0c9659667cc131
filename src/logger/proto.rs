//! The few protocol-buffer wire rules the `local` driver's entries need: varints,
//! length-delimited fields, and skipping what a reader does not know.

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint field (wire type 0); proto3 leaves zero values out.
pub fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_varint(out, u64::from(field << 3));
        put_varint(out, v);
    }
}

/// A length-delimited field (wire type 2); empty ones are left out unless `always`
/// (a repeated message's element is written even when empty).
pub fn put_bytes(out: &mut Vec<u8>, field: u32, v: &[u8], always: bool) {
    if !v.is_empty() || always {
        put_varint(out, u64::from(field << 3 | 2));
        put_varint(out, v.len() as u64);
        out.extend_from_slice(v);
    }
}

/// A field as read: its number and value.
pub enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
    /// Fixed-width fields, which no entry has: skipped.
    Other,
}

/// Reads the fields of one message; `None` when it is malformed.
pub fn fields(mut b: &[u8]) -> Option<Vec<Field<'_>>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&x, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let field = (key >> 3) as u32;
        match key & 7 {
            0 => out.push(Field::Varint(field, varint(&mut b)?)),
            1 => {
                b = b.get(8..)?;
                out.push(Field::Other);
            }
            2 => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                let v = b.get(..len)?;
                b = &b[len..];
                out.push(Field::Bytes(field, v));
            }
            5 => {
                b = b.get(4..)?;
                out.push(Field::Other);
            }
            _ => return None,
        }
    }
    Some(out)
}
