//! RFC 8785 JSON Canonicalization Scheme (JCS) for `serde_json::Value`: object members sorted by the
//! UTF-16 code units of their names, no whitespace, minimal string escaping and ECMAScript numbers.

use std::cmp::Ordering;

use serde_json::Value;

use crate::DeviceError;

/// The largest integer magnitude a JSON number may have here: 2^53, beyond which IEEE 754 doubles
/// (which RFC 8785 serializes) no longer represent every integer, and two actions could hash the same.
pub const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// The RFC 8785 canonical form of `value`.
///
/// Integers beyond ±2^53 are refused rather than rounded (`INVALID_ACTION`): rounding would let a
/// signature over one amount serve for a neighbouring one.
pub fn canonicalize(value: &Value) -> Result<String, DeviceError> {
    canonicalize_with(value, utf16_order)
}

/// The canonical form of `value` with object members sorted by `key_order` instead of UTF-16 code
/// units; everything else (no whitespace, escaping, ECMAScript numbers, the ±2^53 limit) is as in
/// [`canonicalize`]. For protocols whose signers sort keys another way (e.g. JavaScript's
/// `localeCompare`). `key_order` must be a total order.
pub fn canonicalize_with(
    value: &Value,
    key_order: fn(&str, &str) -> Ordering,
) -> Result<String, DeviceError> {
    let mut out = String::new();
    write_value(&mut out, value, key_order)?;
    Ok(out)
}

/// RFC 8785 member order: the UTF-16 code units of the names.
fn utf16_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn write_value(
    out: &mut String,
    value: &Value,
    key_order: fn(&str, &str) -> Ordering,
) -> Result<(), DeviceError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number)?,
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item, key_order)?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|(a, _), (b, _)| key_order(a, b));
            out.push('{');
            for (index, (name, item)) in sorted.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_value(out, item, key_order)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_number(out: &mut String, number: &serde_json::Number) -> Result<(), DeviceError> {
    const TOO_LARGE: DeviceError =
        DeviceError::InvalidAction("integer beyond +/-2^53 cannot be canonicalized exactly");
    if let Some(unsigned) = number.as_u64() {
        if unsigned > MAX_EXACT_INTEGER {
            return Err(TOO_LARGE);
        }
        out.push_str(&unsigned.to_string());
    } else if let Some(signed) = number.as_i64() {
        if signed.unsigned_abs() > MAX_EXACT_INTEGER {
            return Err(TOO_LARGE);
        }
        out.push_str(&signed.to_string());
    } else {
        let float = number
            .as_f64()
            .ok_or(DeviceError::InvalidAction("number is not finite"))?;
        out.push_str(&format_f64(float)?);
    }
    Ok(())
}

/// ECMAScript `Number.prototype.toString` for a finite double (ECMA-262 §6.1.6.1.20), as RFC 8785
/// requires. Rust's `{:e}` gives the shortest round-tripping digits; only the layout is ECMAScript's.
pub fn format_f64(value: f64) -> Result<String, DeviceError> {
    if !value.is_finite() {
        return Err(DeviceError::InvalidAction("number is not finite"));
    }
    if value == 0.0 {
        return Ok("0".to_owned()); // also -0
    }
    // `{:e}` gives the fewest digits that round-trip, but breaks an exact tie between two such
    // candidates upwards; ECMAScript takes the even one, as does `{:.*e}` (exact, ties to even). Use the
    // latter at the same length whenever it still round-trips.
    let shortest = format!("{:e}", value.abs());
    let length = shortest.split_once('e').map_or(0, |(mantissa, _)| {
        mantissa.bytes().filter(u8::is_ascii_digit).count()
    });
    let exact = format!("{:.*e}", length.saturating_sub(1), value.abs());
    let scientific = if exact.parse::<f64>() == Ok(value.abs()) {
        exact
    } else {
        shortest
    };
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("{:e} always has an exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    // value = 0.d1d2...dk × 10^n with n = exponent + 1 (ECMAScript's notation).
    let k = i32::try_from(digits.len()).expect("at most 17 digits");
    let n = exponent + 1;
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
    Ok(out)
}

/// A JSON string with RFC 8785 §3.2.2.2 escaping: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other
/// controls below U+0020 as `\u00xx` (lower-case hex), everything else as is.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc8785_appendix_b_numbers() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for &(bits, expected) in cases {
            assert_eq!(
                format_f64(f64::from_bits(bits)).unwrap(),
                expected,
                "bits {bits:#018x}"
            );
        }
        assert!(format_f64(f64::NAN).is_err());
        assert!(format_f64(f64::INFINITY).is_err());
    }

    #[test]
    fn numbers_round_trip_with_the_fewest_digits() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let value = f64::from_bits(state);
            if !value.is_finite() {
                continue;
            }
            let text = format_f64(value).unwrap();
            assert_eq!(text.parse::<f64>().unwrap(), value, "{text}");
        }
    }

    #[test]
    fn rfc8785_section_3_2_3_example() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            canonicalize(&value).unwrap(),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn rfc8785_sorting_by_utf16_code_units() {
        let input = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh",
            "1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
        let value: Value = serde_json::from_str(input).unwrap();
        let canonical = canonicalize(&value).unwrap();
        let names = [
            "\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}",
        ];
        let mut position = 0;
        for name in names {
            let quoted = canonicalize(&Value::String(name.to_owned())).unwrap();
            let found = canonical[position..]
                .find(&quoted)
                .expect("name present in order");
            position += found + quoted.len();
        }
        // Code-point order would put U+FB33 before U+1F600; UTF-16 puts the surrogate pair (0xD83D) first.
        assert!(canonical.find("\u{1f600}").unwrap() < canonical.find("\u{fb33}").unwrap());
    }

    #[test]
    fn key_order_nesting_and_whitespace() {
        let value = json!({"b": [3, {"z": 1, "a": {"y": true, "x": null}}], "a": "é\u{2028}\u{7f}", "": 0.5});
        assert_eq!(
            canonicalize(&value).unwrap(),
            "{\"\":0.5,\"a\":\"é\u{2028}\u{7f}\",\"b\":[3,{\"a\":{\"x\":null,\"y\":true},\"z\":1}]}"
        );
        assert_eq!(canonicalize(&json!({})).unwrap(), "{}");
        assert_eq!(canonicalize(&json!([])).unwrap(), "[]");
        assert_eq!(
            canonicalize(&json!("\u{1}\u{1f}")).unwrap(),
            "\"\\u0001\\u001f\""
        );
    }

    #[test]
    fn canonicalize_with_uses_the_given_key_order() {
        let value = json!({"b": {"y": 1, "z": [{"q": 0, "r": 1}]}, "a": 2});
        let reversed = canonicalize_with(&value, |a, b| b.cmp(a)).unwrap();
        assert_eq!(reversed, r#"{"b":{"z":[{"r":1,"q":0}],"y":1},"a":2}"#);
        assert_eq!(
            canonicalize_with(&value, utf16_order).unwrap(),
            canonicalize(&value).unwrap()
        );
    }

    #[test]
    fn integers_and_their_limits() {
        assert_eq!(canonicalize(&json!(-42)).unwrap(), "-42");
        assert_eq!(canonicalize(&json!(1.0)).unwrap(), "1");
        assert_eq!(canonicalize(&json!(1e21)).unwrap(), "1e+21");
        assert_eq!(
            canonicalize(&json!(9_007_199_254_740_992u64)).unwrap(),
            "9007199254740992"
        );
        assert_eq!(
            canonicalize(&json!(-9_007_199_254_740_992i64)).unwrap(),
            "-9007199254740992"
        );
        for too_large in [
            json!(9_007_199_254_740_993u64),
            json!(-9_007_199_254_740_993i64),
            json!(u64::MAX),
        ] {
            assert_eq!(
                canonicalize(&too_large).unwrap_err().code(),
                "INVALID_ACTION"
            );
        }
    }
}
