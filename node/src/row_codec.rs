//! PLACEHOLDER until the storage branch lands (theirs wins at merge).
use crate::schema::{Row, Schema};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

pub fn encode_rows(_schema: &Schema, _rows: &[Row], _out: &mut Vec<u8>) {}

pub fn decode_rows(_schema: &Schema, _bytes: &[u8]) -> Result<Vec<Row>, CodecError> {
    Err(CodecError("placeholder".into()))
}
