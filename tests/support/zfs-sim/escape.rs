//! `%XX` escaping for the simulator's plain-text files (state, config, call log).
//!
//! Every byte outside printable ASCII, plus space, `%`, `=` and `#`, is written
//! as `%` followed by two hex digits, so any byte string (passphrases with
//! spaces, NUL or non-UTF-8 bytes) fits in one whitespace-separated token.

/// Escapes `bytes` into a single token without spaces.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() && !matches!(b, b'%' | b'=' | b'#') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Reverses [`encode`]. Unescaped bytes other than `%XX` are taken as they are.
pub fn decode(token: &str) -> Result<Vec<u8>, String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = token
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("truncated %XX escape in '{token}'"))?;
            let b = u8::from_str_radix(hex, 16)
                .map_err(|_| format!("bad %XX escape '%{hex}' in '{token}'"))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// [`decode`], then requires UTF-8 (for names, paths and property values).
pub fn decode_str(token: &str) -> Result<String, String> {
    String::from_utf8(decode(token)?).map_err(|_| format!("'{token}' is not UTF-8 once decoded"))
}
