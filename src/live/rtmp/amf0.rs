//! AMF0: the value encoding of RTMP commands and FLV script data.
//!
//! Decoding is bounded: nesting deeper than [`MAX_DEPTH`] is refused, and no
//! container preallocates more elements than the remaining input could hold,
//! so a hostile count such as `0xFFFF_FFFF` costs nothing. An input longer
//! than [`MAX_INPUT`] or holding more than [`MAX_VALUES`] values is refused
//! too: each decoded value takes some 50 bytes however few it took on the
//! wire (a null is one byte), so the count bounds the amplification. Long strings decode
//! into [`Amf0Value::String`]; encoding picks the long form when a string does
//! not fit a 16-bit length.

use thiserror::Error;

/// Deepest nesting of objects/arrays accepted by the decoder.
pub const MAX_DEPTH: usize = 32;

/// Most values (nested ones and object properties included) one decode call
/// accepts. A connect or onMetaData holds a few dozen.
pub const MAX_VALUES: usize = 4096;

/// Longest input one decode call accepts (bytes); the chunk layer already
/// caps command and data messages well below it.
pub const MAX_INPUT: usize = 1024 * 1024;

/// Type markers of AMF0.
mod marker {
    pub const NUMBER: u8 = 0x00;
    pub const BOOLEAN: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const OBJECT: u8 = 0x03;
    pub const NULL: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const ECMA_ARRAY: u8 = 0x08;
    pub const OBJECT_END: u8 = 0x09;
    pub const STRICT_ARRAY: u8 = 0x0A;
    pub const DATE: u8 = 0x0B;
    pub const LONG_STRING: u8 = 0x0C;
}

/// Errors while decoding AMF0.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Amf0Error {
    /// The input ended inside a value; `needed` more bytes were expected at `offset`.
    #[error("AMF0 input truncated at offset {offset}: {needed} more bytes needed")]
    Truncated {
        /// Offset (from the start of the decoded buffer) where the read failed.
        offset: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// A type marker this decoder does not know (or that is not allowed here).
    #[error("unsupported AMF0 type marker {marker:#04x} at offset {offset}")]
    UnknownMarker {
        /// The marker byte.
        marker: u8,
        /// Where it was found.
        offset: usize,
    },
    /// Objects/arrays nested deeper than [`MAX_DEPTH`].
    #[error("AMF0 nesting deeper than {max} levels")]
    TooDeep {
        /// The limit that was exceeded.
        max: usize,
    },
    /// More than [`MAX_VALUES`] values in one input.
    #[error("AMF0 input holds more than {max} values (at offset {offset})")]
    TooManyValues {
        /// The limit that was exceeded.
        max: usize,
        /// Where the value over the limit starts.
        offset: usize,
    },
    /// An input longer than [`MAX_INPUT`].
    #[error("AMF0 input of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The input's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string that is not UTF-8.
    #[error("AMF0 string at offset {offset} is not valid UTF-8")]
    BadUtf8 {
        /// Where the string starts.
        offset: usize,
    },
}

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// IEEE-754 double.
    Number(f64),
    /// Boolean.
    Boolean(bool),
    /// String (short or long form on the wire).
    String(String),
    /// Anonymous object: ordered key/value pairs.
    Object(Vec<(String, Amf0Value)>),
    /// Null.
    Null,
    /// Undefined.
    Undefined,
    /// ECMA (associative) array: ordered key/value pairs.
    EcmaArray(Vec<(String, Amf0Value)>),
    /// Strict (dense) array.
    StrictArray(Vec<Amf0Value>),
    /// Date: milliseconds since the epoch and a time-zone offset (minutes, unused by Flash).
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Time-zone offset in minutes.
        tz: i16,
    },
}

impl Amf0Value {
    /// The number, if this is a `Number`.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The string, if this is a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Amf0Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The property `key` of an `Object` or `EcmaArray` (first match).
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        match self {
            Amf0Value::Object(props) | Amf0Value::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// Shorthand: an `Object` from `(&str, value)` pairs.
    pub fn object<'a>(props: impl IntoIterator<Item = (&'a str, Amf0Value)>) -> Self {
        Amf0Value::Object(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Shorthand: a `String` value.
    pub fn string(s: impl Into<String>) -> Self {
        Amf0Value::String(s.into())
    }

    /// Append the encoding of this value to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Amf0Value::Number(n) => {
                out.push(marker::NUMBER);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Amf0Value::Boolean(b) => {
                out.push(marker::BOOLEAN);
                out.push(u8::from(*b));
            }
            Amf0Value::String(s) => {
                if s.len() <= u16::MAX as usize {
                    out.push(marker::STRING);
                    put_utf8(out, s);
                } else {
                    out.push(marker::LONG_STRING);
                    // Strings longer than 4 GiB cannot exist in a message we would send.
                    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Amf0Value::Object(props) => {
                out.push(marker::OBJECT);
                put_props(out, props);
            }
            Amf0Value::Null => out.push(marker::NULL),
            Amf0Value::Undefined => out.push(marker::UNDEFINED),
            Amf0Value::EcmaArray(props) => {
                out.push(marker::ECMA_ARRAY);
                out.extend_from_slice(&(props.len() as u32).to_be_bytes());
                put_props(out, props);
            }
            Amf0Value::StrictArray(items) => {
                out.push(marker::STRICT_ARRAY);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
                for v in items {
                    v.encode(out);
                }
            }
            Amf0Value::Date { millis, tz } => {
                out.push(marker::DATE);
                out.extend_from_slice(&millis.to_be_bytes());
                out.extend_from_slice(&tz.to_be_bytes());
            }
        }
    }
}

/// Write a key or short string: u16 length then bytes (truncated at 65535 bytes,
/// which only a programming error could reach for keys).
fn put_utf8(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_props(out: &mut Vec<u8>, props: &[(String, Amf0Value)]) {
    for (k, v) in props {
        put_utf8(out, k);
        v.encode(out);
    }
    out.extend_from_slice(&[0, 0, marker::OBJECT_END]);
}

/// Encode a sequence of values (e.g. a command: name, transaction id, args...).
pub fn encode_all(values: &[Amf0Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        v.encode(&mut out);
    }
    out
}

/// Decode every value in `data` (a command or data message body).
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0Value>, Amf0Error> {
    let mut r = Reader::new(data)?;
    let mut values = Vec::new();
    while r.pos < data.len() {
        values.push(r.value(0)?);
    }
    Ok(values)
}

/// Decode one value from the front of `data`; returns it and the bytes consumed.
pub fn decode(data: &[u8]) -> Result<(Amf0Value, usize), Amf0Error> {
    let mut r = Reader::new(data)?;
    let v = r.value(0)?;
    Ok((v, r.pos))
}

/// A cursor over the input that reports offsets in its errors.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Values decoded so far (bounded by [`MAX_VALUES`]).
    values: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Result<Self, Amf0Error> {
        if data.len() > MAX_INPUT {
            return Err(Amf0Error::TooLarge {
                len: data.len(),
                max: MAX_INPUT,
            });
        }
        Ok(Reader {
            data,
            pos: 0,
            values: 0,
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        let rest = &self.data[self.pos..];
        if rest.len() < n {
            return Err(Amf0Error::Truncated {
                offset: self.pos,
                needed: n - rest.len(),
            });
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Amf0Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, len: usize) -> Result<String, Amf0Error> {
        let offset = self.pos;
        let b = self.take(len)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Amf0Error::BadUtf8 { offset })
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn value(&mut self, depth: usize) -> Result<Amf0Value, Amf0Error> {
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep { max: MAX_DEPTH });
        }
        let offset = self.pos;
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(Amf0Error::TooManyValues {
                max: MAX_VALUES,
                offset,
            });
        }
        let m = self.u8()?;
        Ok(match m {
            marker::NUMBER => Amf0Value::Number(self.f64()?),
            marker::BOOLEAN => Amf0Value::Boolean(self.u8()? != 0),
            marker::STRING => {
                let len = self.u16()? as usize;
                Amf0Value::String(self.utf8(len)?)
            }
            marker::LONG_STRING => {
                let len = self.u32()? as usize;
                Amf0Value::String(self.utf8(len)?)
            }
            marker::OBJECT => Amf0Value::Object(self.props(depth)?),
            marker::NULL => Amf0Value::Null,
            marker::UNDEFINED => Amf0Value::Undefined,
            marker::ECMA_ARRAY => {
                // The count is advisory (writers get it wrong); the end marker is authoritative.
                let _count = self.u32()?;
                Amf0Value::EcmaArray(self.props(depth)?)
            }
            marker::STRICT_ARRAY => {
                let count = self.u32()? as usize;
                // Every element takes at least one byte: never reserve more than could follow.
                let mut items = Vec::with_capacity(count.min(self.remaining()));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Amf0Value::StrictArray(items)
            }
            marker::DATE => {
                let millis = self.f64()?;
                let tz = self.u16()? as i16;
                Amf0Value::Date { millis, tz }
            }
            marker => return Err(Amf0Error::UnknownMarker { marker, offset }),
        })
    }

    /// Key/value pairs up to the `00 00 09` end marker.
    fn props(&mut self, depth: usize) -> Result<Vec<(String, Amf0Value)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            let key_len = self.u16()? as usize;
            if key_len == 0 {
                // Some encoders end an object with only `00 00` at the very end of the input.
                match self.data.get(self.pos) {
                    None => return Ok(props),
                    Some(&marker::OBJECT_END) => {
                        self.pos += 1;
                        return Ok(props);
                    }
                    // An empty key followed by a value: legal, if odd.
                    Some(_) => {}
                }
            }
            let key = self.utf8(key_len)?;
            let v = self.value(depth + 1)?;
            props.push((key, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: Amf0Value) {
        let mut out = Vec::new();
        v.encode(&mut out);
        let (back, used) = decode(&out).unwrap();
        assert_eq!(back, v);
        assert_eq!(used, out.len());
    }

    #[test]
    fn round_trips_every_type() {
        round_trip(Amf0Value::Number(29.97));
        round_trip(Amf0Value::Boolean(true));
        round_trip(Amf0Value::Boolean(false));
        round_trip(Amf0Value::string("live"));
        round_trip(Amf0Value::string("x".repeat(70_000)));
        round_trip(Amf0Value::Null);
        round_trip(Amf0Value::Undefined);
        round_trip(Amf0Value::Date {
            millis: 1.7e12,
            tz: -60,
        });
        round_trip(Amf0Value::object([
            ("app", Amf0Value::string("live")),
            ("nested", Amf0Value::object([("n", Amf0Value::Number(1.0))])),
        ]));
        round_trip(Amf0Value::EcmaArray(vec![
            ("width".into(), Amf0Value::Number(1280.0)),
            ("encoder".into(), Amf0Value::string("Lavf")),
        ]));
        round_trip(Amf0Value::StrictArray(vec![
            Amf0Value::Number(1.0),
            Amf0Value::Null,
            Amf0Value::string("a"),
        ]));
    }

    #[test]
    fn long_string_marker_used_past_64k() {
        let mut out = Vec::new();
        Amf0Value::string("y".repeat(65_536)).encode(&mut out);
        assert_eq!(out[0], marker::LONG_STRING);
        assert_eq!(&out[1..5], &65_536u32.to_be_bytes());
    }

    #[test]
    fn decodes_a_command() {
        let body = encode_all(&[
            Amf0Value::string("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::object([("app", Amf0Value::string("live"))]),
        ]);
        let vals = decode_all(&body).unwrap();
        assert_eq!(vals.len(), 3);
        assert_eq!(vals[0].as_str(), Some("connect"));
        assert_eq!(vals[1].as_number(), Some(1.0));
        assert_eq!(vals[2].get("app").and_then(Amf0Value::as_str), Some("live"));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut out = Vec::new();
        Amf0Value::Number(1.0).encode(&mut out);
        assert_eq!(
            decode(&out[..5]),
            Err(Amf0Error::Truncated {
                offset: 1,
                needed: 4
            })
        );
        // An object without its end marker.
        assert!(matches!(
            decode(&[marker::OBJECT, 0, 1, b'a', marker::NULL]),
            Err(Amf0Error::Truncated { .. })
        ));
    }

    #[test]
    fn unknown_marker_is_an_error() {
        assert_eq!(
            decode(&[0x11]),
            Err(Amf0Error::UnknownMarker {
                marker: 0x11,
                offset: 0
            })
        );
        // Object end where a value is expected.
        assert!(matches!(
            decode(&[marker::OBJECT_END]),
            Err(Amf0Error::UnknownMarker { marker: 9, .. })
        ));
    }

    #[test]
    fn bad_utf8_is_an_error() {
        assert_eq!(
            decode(&[marker::STRING, 0, 2, 0xff, 0xfe]),
            Err(Amf0Error::BadUtf8 { offset: 3 })
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut data = Vec::new();
        for _ in 0..100 {
            data.extend_from_slice(&[marker::STRICT_ARRAY, 0, 0, 0, 1]);
        }
        data.push(marker::NULL);
        assert_eq!(decode(&data), Err(Amf0Error::TooDeep { max: MAX_DEPTH }));
    }

    #[test]
    fn many_small_values_are_refused() {
        // One byte on the wire, ~32 bytes decoded: 1 MiB of nulls would be 32 MiB.
        let nulls = vec![marker::NULL; MAX_VALUES + 1];
        assert_eq!(
            decode_all(&nulls),
            Err(Amf0Error::TooManyValues {
                max: MAX_VALUES,
                offset: MAX_VALUES
            })
        );
        assert_eq!(decode_all(&nulls[..MAX_VALUES]).unwrap().len(), MAX_VALUES);
        // Nested values and properties count too.
        let mut arr = vec![marker::STRICT_ARRAY];
        arr.extend_from_slice(&(MAX_VALUES as u32).to_be_bytes());
        arr.extend(vec![marker::NULL; MAX_VALUES]);
        assert!(matches!(decode(&arr), Err(Amf0Error::TooManyValues { .. })));
        let mut obj = vec![marker::OBJECT];
        for _ in 0..MAX_VALUES {
            obj.extend_from_slice(&[0, 1, b'k', marker::NULL]);
        }
        obj.extend_from_slice(&[0, 0, marker::OBJECT_END]);
        assert!(matches!(decode(&obj), Err(Amf0Error::TooManyValues { .. })));
    }

    #[test]
    fn oversized_input_is_refused() {
        let mut big = vec![marker::LONG_STRING];
        big.extend_from_slice(&(MAX_INPUT as u32).to_be_bytes());
        big.extend(vec![b'a'; MAX_INPUT]);
        assert_eq!(
            decode(&big),
            Err(Amf0Error::TooLarge {
                len: MAX_INPUT + 5,
                max: MAX_INPUT
            })
        );
    }

    #[test]
    fn huge_array_count_does_not_allocate() {
        // Claims 4 billion elements, holds none.
        let r = decode(&[marker::STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(r, Err(Amf0Error::Truncated { .. })));
    }
}
