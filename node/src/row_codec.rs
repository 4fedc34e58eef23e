//! Row encoding: how rows travel from the FE to a BE (WriteRows), from a BE to the FE (Scan), and
//! how they lie in a rowset file's data section. The encoding is directed by the schema: no type
//! tags, no column names, just each column's value in schema order, little endian:
//!
//! | column type          | bytes                                   |
//! |----------------------|-----------------------------------------|
//! | nullable (any type)  | 1 null flag first (1 = NULL, no value)   |
//! | BOOLEAN, TINYINT     | 1                                       |
//! | SMALLINT             | 2                                       |
//! | INT, FLOAT (f32)     | 4                                       |
//! | BIGINT, DOUBLE       | 8                                       |
//! | LARGEINT             | 16                                      |
//! | DECIMAL              | 16 (unscaled; the scale is the type's)  |
//! | DATE (days)          | 4                                       |
//! | DATETIME (seconds)   | 8                                       |
//! | CHAR, VARCHAR, STRING| u32 length, then that many UTF-8 bytes  |
//!
//! Decoding trusts nothing: truncated input, bad flags, over-long strings and invalid UTF-8 are
//! errors, never panics. [`StreamDecoder`] decodes input that arrives in arbitrary pieces.

use crate::schema::{Column, ColumnType, Row, Schema, Value};

/// Why bytes are not rows of the schema, or a row cannot be encoded with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("row {row}, column {column}: the data ends in the middle of the value")]
    Truncated { row: u64, column: String },
    #[error("row {row}, column {column}: {detail}")]
    Invalid { row: u64, column: String, detail: String },
    #[error("row {row} has {values} values but the schema has {columns} columns")]
    Arity { row: u64, values: usize, columns: usize },
}

/// What went wrong inside one value, before the row and column are known.
enum Fault {
    Truncated,
    Invalid(String),
}

impl Fault {
    fn at(self, row: u64, column: &Column) -> CodecError {
        match self {
            Fault::Truncated => CodecError::Truncated { row, column: column.name.clone() },
            Fault::Invalid(detail) => CodecError::Invalid { row, column: column.name.clone(), detail },
        }
    }
}

// ---------- encoding ----------

/// Appends `rows` to `out`. On error `out` is left as it was, so a caller may reuse the buffer.
pub fn encode_rows(schema: &Schema, rows: &[Row], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    for (i, row) in rows.iter().enumerate() {
        if let Err(e) = encode_row_at(schema, row, i as u64, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// Appends one row to `out`. On error `out` is left as it was.
pub fn encode_row(schema: &Schema, row: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let result = encode_row_at(schema, row, 0, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_row_at(schema: &Schema, row: &[Value], index: u64, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if row.len() != schema.columns.len() {
        return Err(CodecError::Arity { row: index, values: row.len(), columns: schema.columns.len() });
    }
    for (column, value) in schema.columns.iter().zip(row) {
        write_value(column, value, out).map_err(|detail| CodecError::Invalid {
            row: index,
            column: column.name.clone(),
            detail,
        })?;
    }
    Ok(())
}

#[inline]
fn write_value(column: &Column, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    if column.nullable {
        if value.is_null() {
            out.push(1);
            return Ok(());
        }
        out.push(0);
    } else if value.is_null() {
        return Err("NULL in a NOT NULL column".into());
    }
    let mismatch = || format!("{value:?} is not a {} value", column.ty);
    match column.ty {
        ColumnType::Boolean => match value {
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Int(i @ (0 | 1)) => out.push(*i as u8),
            _ => return Err(mismatch()),
        },
        ColumnType::TinyInt => out.push(int_in::<i8>(value, column)? as u8),
        ColumnType::SmallInt => out.extend_from_slice(&int_in::<i16>(value, column)?.to_le_bytes()),
        ColumnType::Int => out.extend_from_slice(&int_in::<i32>(value, column)?.to_le_bytes()),
        ColumnType::BigInt => out.extend_from_slice(&int_in::<i64>(value, column)?.to_le_bytes()),
        ColumnType::LargeInt => match value {
            Value::Int(i) => out.extend_from_slice(&i.to_le_bytes()),
            _ => return Err(mismatch()),
        },
        ColumnType::Float => match value {
            Value::Float(_) | Value::Int(_) | Value::Decimal(..) => {
                let f = value.as_f64().unwrap_or(0.0) as f32;
                out.extend_from_slice(&f.to_le_bytes());
            }
            _ => return Err(mismatch()),
        },
        ColumnType::Double => match value {
            Value::Float(_) | Value::Int(_) | Value::Decimal(..) => {
                out.extend_from_slice(&value.as_f64().unwrap_or(0.0).to_le_bytes());
            }
            _ => return Err(mismatch()),
        },
        ColumnType::Decimal { scale, .. } => {
            let (unscaled, from) = match value {
                Value::Decimal(u, s) => (*u, *s),
                Value::Int(i) => (*i, 0),
                _ => return Err(mismatch()),
            };
            let unscaled = rescale(unscaled, from, scale)
                .ok_or_else(|| format!("{value} does not fit a {} without rounding", column.ty))?;
            out.extend_from_slice(&unscaled.to_le_bytes());
        }
        ColumnType::Date => match value {
            Value::Date(d) => out.extend_from_slice(&d.to_le_bytes()),
            _ => return Err(mismatch()),
        },
        ColumnType::DateTime => match value {
            Value::DateTime(s) => out.extend_from_slice(&s.to_le_bytes()),
            Value::Date(d) => out.extend_from_slice(&(i64::from(*d) * 86_400).to_le_bytes()),
            _ => return Err(mismatch()),
        },
        ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::String => match value {
            Value::Str(s) => {
                let max = column.ty.max_bytes().unwrap_or(crate::schema::MAX_STRING_BYTES);
                let len = u32::try_from(s.len()).ok().filter(|len| *len <= max).ok_or_else(|| {
                    format!("a string of {} bytes is longer than {} allows ({max} bytes)", s.len(), column.ty)
                })?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            _ => return Err(mismatch()),
        },
    }
    Ok(())
}

/// `value` as an integer of type `T` (the column's width), if it is one and fits.
#[inline]
fn int_in<T: TryFrom<i128>>(value: &Value, column: &Column) -> Result<T, String> {
    match value {
        Value::Int(i) => T::try_from(*i).map_err(|_| format!("{i} is out of range for {}", column.ty)),
        _ => Err(format!("{value:?} is not a {} value", column.ty)),
    }
}

/// `unscaled / 10^from` as an unscaled integer of scale `to`, if that is exact.
fn rescale(unscaled: i128, from: u8, to: u8) -> Option<i128> {
    if from == to {
        return Some(unscaled);
    }
    if from < to {
        return 10i128.checked_pow(u32::from(to - from)).and_then(|m| unscaled.checked_mul(m));
    }
    let divisor = 10i128.checked_pow(u32::from(from - to))?;
    (unscaled % divisor == 0).then_some(unscaled / divisor)
}

// ---------- decoding ----------

/// Every row in `bytes`; an error if `bytes` is not a whole number of rows of `schema`.
pub fn decode_rows(schema: &Schema, bytes: &[u8]) -> Result<Vec<Row>, CodecError> {
    let mut rows = Vec::new();
    let mut cursor = Cursor { bytes, pos: 0 };
    while cursor.pos < bytes.len() {
        let index = rows.len() as u64;
        rows.push(read_row::<true>(schema, &mut cursor, index)?);
    }
    Ok(rows)
}

/// How many rows `bytes` holds, checking them exactly as [`decode_rows`] does but without
/// building values (the load path validates every chunk this way).
pub fn count_rows(schema: &Schema, bytes: &[u8]) -> Result<u64, CodecError> {
    let mut count = 0u64;
    let mut cursor = Cursor { bytes, pos: 0 };
    while cursor.pos < bytes.len() {
        read_row::<false>(schema, &mut cursor, count)?;
        count += 1;
    }
    Ok(count)
}

/// Decodes rows from input that arrives in pieces cut anywhere (file reads, network chunks).
/// Keeps the bytes of an incomplete last row until the next piece.
pub struct StreamDecoder<'s> {
    schema: &'s Schema,
    carry: Vec<u8>,
    rows_seen: u64,
}

impl<'s> StreamDecoder<'s> {
    pub fn new(schema: &'s Schema) -> Self {
        StreamDecoder { schema, carry: Vec::new(), rows_seen: 0 }
    }

    /// Rows decoded (or validated) so far.
    pub fn rows_seen(&self) -> u64 {
        self.rows_seen
    }

    /// Decodes every complete row of the input so far into `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Row>) -> Result<(), CodecError> {
        self.run::<true>(bytes, |row| out.push(row))
    }

    /// Checks every complete row of the input so far, building no values.
    pub fn feed_validate(&mut self, bytes: &[u8]) -> Result<(), CodecError> {
        self.run::<false>(bytes, |_| {})
    }

    /// Ends the input: an error if it stopped in the middle of a row. Returns the row count.
    pub fn finish(self) -> Result<u64, CodecError> {
        if self.carry.is_empty() {
            return Ok(self.rows_seen);
        }
        let mut cursor = Cursor { bytes: &self.carry, pos: 0 };
        // Reading the leftover again names the column where it stops.
        read_row::<false>(self.schema, &mut cursor, self.rows_seen)?;
        Err(CodecError::Invalid {
            row: self.rows_seen,
            column: String::new(),
            detail: "trailing bytes after the last row".into(),
        })
    }

    fn run<const BUILD: bool>(&mut self, bytes: &[u8], mut sink: impl FnMut(Row)) -> Result<(), CodecError> {
        self.carry.extend_from_slice(bytes);
        let mut cursor = Cursor { bytes: &self.carry, pos: 0 };
        let mut consumed = 0;
        loop {
            if cursor.pos == cursor.bytes.len() {
                break;
            }
            match read_row::<BUILD>(self.schema, &mut cursor, self.rows_seen) {
                Ok(row) => {
                    sink(row);
                    self.rows_seen += 1;
                    consumed = cursor.pos;
                }
                Err(CodecError::Truncated { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        self.carry.drain(..consumed);
        Ok(())
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Fault> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len()).ok_or(Fault::Truncated)?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fault> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, Fault> {
        Ok(self.array::<1>()?[0])
    }
}

/// One row. With `BUILD == false` only checks it, and the values returned are placeholders.
#[inline]
fn read_row<const BUILD: bool>(schema: &Schema, cursor: &mut Cursor<'_>, index: u64) -> Result<Row, CodecError> {
    let mut row = if BUILD { Vec::with_capacity(schema.columns.len()) } else { Vec::new() };
    for column in &schema.columns {
        let value = read_value::<BUILD>(column, cursor).map_err(|f| f.at(index, column))?;
        if BUILD {
            row.push(value);
        }
    }
    Ok(row)
}

#[inline]
fn read_value<const BUILD: bool>(column: &Column, cursor: &mut Cursor<'_>) -> Result<Value, Fault> {
    if column.nullable {
        match cursor.byte()? {
            0 => {}
            1 => return Ok(Value::Null),
            flag => return Err(Fault::Invalid(format!("null flag {flag} is neither 0 nor 1"))),
        }
    }
    Ok(match column.ty {
        ColumnType::Boolean => match cursor.byte()? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(Fault::Invalid(format!("boolean byte {b} is neither 0 nor 1"))),
        },
        ColumnType::TinyInt => Value::Int(i128::from(i8::from_le_bytes(cursor.array()?))),
        ColumnType::SmallInt => Value::Int(i128::from(i16::from_le_bytes(cursor.array()?))),
        ColumnType::Int => Value::Int(i128::from(i32::from_le_bytes(cursor.array()?))),
        ColumnType::BigInt => Value::Int(i128::from(i64::from_le_bytes(cursor.array()?))),
        ColumnType::LargeInt => Value::Int(i128::from_le_bytes(cursor.array()?)),
        ColumnType::Float => Value::Float(f64::from(f32::from_le_bytes(cursor.array()?))),
        ColumnType::Double => Value::Float(f64::from_le_bytes(cursor.array()?)),
        ColumnType::Decimal { scale, .. } => Value::Decimal(i128::from_le_bytes(cursor.array()?), scale),
        ColumnType::Date => Value::Date(i32::from_le_bytes(cursor.array()?)),
        ColumnType::DateTime => Value::DateTime(i64::from_le_bytes(cursor.array()?)),
        ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::String => {
            let len = u32::from_le_bytes(cursor.array()?);
            let max = column.ty.max_bytes().unwrap_or(crate::schema::MAX_STRING_BYTES);
            if len > max {
                return Err(Fault::Invalid(format!("a string of {len} bytes is longer than {} allows", column.ty)));
            }
            let bytes = cursor.take(len as usize)?;
            let text = std::str::from_utf8(bytes).map_err(|e| Fault::Invalid(format!("string is not UTF-8: {e}")))?;
            if BUILD { Value::Str(text.to_owned()) } else { Value::Null }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Aggregation, KeysType};

    fn column(name: &str, ty: ColumnType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable,
            default: None,
            comment: String::new(),
            aggregation: None::<Aggregation>,
            is_key: false,
        }
    }

    fn every_type_schema() -> Schema {
        let types = [
            ColumnType::Boolean,
            ColumnType::TinyInt,
            ColumnType::SmallInt,
            ColumnType::Int,
            ColumnType::BigInt,
            ColumnType::LargeInt,
            ColumnType::Float,
            ColumnType::Double,
            ColumnType::Decimal { precision: 20, scale: 3 },
            ColumnType::Date,
            ColumnType::DateTime,
            ColumnType::Char { len: 4 },
            ColumnType::Varchar { len: 10 },
            ColumnType::String,
        ];
        let mut columns: Vec<Column> =
            types.iter().enumerate().map(|(i, ty)| column(&format!("c{i}"), *ty, false)).collect();
        columns.extend(types.iter().enumerate().map(|(i, ty)| column(&format!("n{i}"), *ty, true)));
        Schema { columns, keys_type: KeysType::Duplicate }
    }

    fn sample_row(seed: i128) -> Row {
        let values = vec![
            Value::Bool(seed % 2 == 0),
            Value::Int(-(seed % 128)),
            Value::Int(seed * 7 % 30_000),
            Value::Int(seed * 1_000),
            Value::Int(seed * 1_000_000_007),
            Value::Int(seed * 170_141_183_460_469_231),
            Value::Float(1.5),
            Value::Float(seed as f64 / 3.0),
            Value::Decimal(seed * 12_345, 3),
            Value::Date(19_000 + seed as i32),
            Value::DateTime(1_700_000_000 + seed as i64),
            Value::Str("ab".into()),
            Value::Str(format!("v{seed}é")),
            Value::Str("x".repeat(seed as usize % 50)),
        ];
        let mut row = values.clone();
        row.extend(
            values.into_iter().enumerate().map(|(i, v)| if (i as i128 + seed) % 3 == 0 { Value::Null } else { v }),
        );
        row
    }

    #[test]
    fn rows_round_trip_with_every_type() {
        let schema = every_type_schema();
        let rows: Vec<Row> = (0..50).map(sample_row).collect();
        let mut bytes = Vec::new();
        encode_rows(&schema, &rows, &mut bytes).expect("encodes");
        assert_eq!(decode_rows(&schema, &bytes).expect("decodes"), rows);
        assert_eq!(count_rows(&schema, &bytes).expect("counts"), 50);
        assert_eq!(decode_rows(&schema, &[]).expect("empty"), Vec::<Row>::new());
    }

    #[test]
    fn encoding_is_compact_and_little_endian() {
        let schema = Schema {
            columns: vec![column("a", ColumnType::Int, false), column("b", ColumnType::Varchar { len: 8 }, true)],
            keys_type: KeysType::Duplicate,
        };
        let mut bytes = Vec::new();
        encode_rows(
            &schema,
            &[vec![Value::Int(1), Value::Str("hi".into())], vec![Value::Int(-1), Value::Null]],
            &mut bytes,
        )
        .expect("encodes");
        assert_eq!(bytes, [1, 0, 0, 0, 0, 2, 0, 0, 0, b'h', b'i', 0xff, 0xff, 0xff, 0xff, 1]);
    }

    #[test]
    fn values_that_do_not_fit_are_errors_and_leave_the_buffer_alone() {
        let schema = Schema {
            columns: vec![column("a", ColumnType::TinyInt, false), column("b", ColumnType::Char { len: 2 }, false)],
            keys_type: KeysType::Duplicate,
        };
        let mut bytes = vec![9];
        let good = vec![Value::Int(1), Value::Str("ok".into())];
        for bad in [
            vec![Value::Int(128), Value::Str("a".into())],
            vec![Value::Null, Value::Str("a".into())],
            vec![Value::Int(1), Value::Str("long".into())],
            vec![Value::Str("1".into()), Value::Str("a".into())],
            vec![Value::Int(1)],
        ] {
            let err = encode_rows(&schema, &[good.clone(), bad.clone()], &mut bytes).expect_err("must not encode");
            assert_eq!(bytes, [9], "{bad:?}: {err}");
        }
        let decimal = Schema {
            columns: vec![column("d", ColumnType::Decimal { precision: 10, scale: 2 }, false)],
            keys_type: KeysType::Duplicate,
        };
        let mut out = Vec::new();
        encode_rows(
            &decimal,
            &[vec![Value::Decimal(15, 1)], vec![Value::Int(3)], vec![Value::Decimal(1230, 3)]],
            &mut out,
        )
        .expect("exact rescales");
        let back = decode_rows(&decimal, &out).expect("decodes");
        assert_eq!(
            back,
            vec![vec![Value::Decimal(150, 2)], vec![Value::Decimal(300, 2)], vec![Value::Decimal(123, 2)]]
        );
        assert!(encode_rows(&decimal, &[vec![Value::Decimal(1235, 3)]], &mut out).is_err());
    }

    #[test]
    fn truncated_and_invalid_input_are_errors() {
        let schema = every_type_schema();
        let mut bytes = Vec::new();
        encode_rows(&schema, &[sample_row(4)], &mut bytes).expect("encodes");
        let first_row_bytes = bytes.len();
        encode_rows(&schema, &[sample_row(5)], &mut bytes).expect("encodes");
        for cut in (1..bytes.len()).filter(|cut| *cut != first_row_bytes) {
            let prefix = &bytes[..cut];
            if let Ok(rows) = decode_rows(&schema, prefix) {
                panic!("a prefix of {cut} bytes decoded into {} rows", rows.len());
            }
        }
        // A null flag of 7.
        let nullable = Schema { columns: vec![column("a", ColumnType::Int, true)], keys_type: KeysType::Duplicate };
        let err = decode_rows(&nullable, &[7, 0, 0, 0, 0]).expect_err("bad flag");
        assert!(err.to_string().contains("null flag"), "{err}");
        // Invalid UTF-8 and an over-long string.
        let text = Schema {
            columns: vec![column("s", ColumnType::Varchar { len: 4 }, false)],
            keys_type: KeysType::Duplicate,
        };
        assert!(decode_rows(&text, &[2, 0, 0, 0, 0xff, 0xfe]).expect_err("utf8").to_string().contains("UTF-8"));
        assert!(decode_rows(&text, &[5, 0, 0, 0, b'a', b'b', b'c', b'd', b'e']).is_err());
        assert!(decode_rows(&text, &[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let schema = every_type_schema();
        // A deterministic xorshift stream of bytes, cut at many lengths.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..2_000 {
            let len = round % 300;
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Mostly small bytes, so flags and lengths are sometimes valid.
                    if state.is_multiple_of(4) { (state >> 8) as u8 } else { (state >> 8) as u8 % 3 }
                })
                .collect();
            let _ = decode_rows(&schema, &garbage);
            let _ = count_rows(&schema, &garbage);
            let mut stream = StreamDecoder::new(&schema);
            let mut rows = Vec::new();
            for piece in garbage.chunks(7) {
                if stream.feed(piece, &mut rows).is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn stream_decoder_accepts_any_cut() {
        let schema = every_type_schema();
        let rows: Vec<Row> = (0..20).map(sample_row).collect();
        let mut bytes = Vec::new();
        encode_rows(&schema, &rows, &mut bytes).expect("encodes");
        for piece_len in [1, 3, 64, 1000, bytes.len()] {
            let mut stream = StreamDecoder::new(&schema);
            let mut out = Vec::new();
            for piece in bytes.chunks(piece_len) {
                stream.feed(piece, &mut out).expect("feeds");
            }
            assert_eq!(stream.finish().expect("complete"), 20);
            assert_eq!(out, rows);
        }
        let mut stream = StreamDecoder::new(&schema);
        stream.feed_validate(&bytes[..bytes.len() - 1]).expect("incomplete is fine until finish");
        assert!(stream.finish().is_err());
    }
}
