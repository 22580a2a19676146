//! Tokens of SRS's configuration format (the nginx-like format read by
//! `SrsConfDirective::read_token`).
//!
//! - whitespace is space, tab, CR and LF;
//! - `#` at the start of a token starts a comment that runs to the end of the
//!   line (inside a word it is an ordinary character, as in SRS);
//! - `;`, `{` and `}` are punctuation;
//! - a word is either bare (it ends at whitespace, `;` or `{`, except that
//!   `${NAME}` stays inside it) or quoted with
//!   `"..."` or `'...'` (no escapes, no line breaks inside; the closing quote
//!   must be followed by whitespace, `;` or `{`).

use super::error::ConfigError;

/// How a word was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    /// Bare word.
    None,
    /// `"..."`.
    Double,
    /// `'...'` (no `$VAR` expansion).
    Single,
}

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A word and how it was quoted.
    Word(String, Quote),
    /// `;`
    Semicolon,
    /// `{`
    BlockStart,
    /// `}`
    BlockEnd,
}

/// A token and the (1-based) line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub line: u32,
}

/// Splits a configuration text into tokens.
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
    file: &'a str,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Lexer<'a> {
    /// A lexer over `text`, which came from `file` (used in errors).
    pub fn new(text: &'a str, file: &'a str) -> Self {
        Lexer {
            text,
            pos: 0,
            line: 1,
            file,
        }
    }

    fn syntax(&self, line: u32, reason: String) -> ConfigError {
        ConfigError::Syntax {
            file: self.file.to_string(),
            line,
            directive: None,
            reason,
        }
    }

    /// The next token, `Ok(None)` at the end of the text.
    pub fn next_token(&mut self) -> Result<Option<Token>, ConfigError> {
        let bytes = self.text.as_bytes();
        loop {
            // Skip whitespace.
            while let Some(&b) = bytes.get(self.pos) {
                if !is_space(b) {
                    break;
                }
                if b == b'\n' {
                    self.line += 1;
                }
                self.pos += 1;
            }
            let Some(&b) = bytes.get(self.pos) else {
                return Ok(None);
            };
            let line = self.line;
            match b {
                b'#' => {
                    // Comment to end of line; the LF itself is counted above.
                    while let Some(&c) = bytes.get(self.pos) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                    continue;
                }
                b';' | b'{' | b'}' => {
                    self.pos += 1;
                    let kind = match b {
                        b';' => TokenKind::Semicolon,
                        b'{' => TokenKind::BlockStart,
                        _ => TokenKind::BlockEnd,
                    };
                    return Ok(Some(Token { kind, line }));
                }
                b'"' | b'\'' => return self.quoted(b, line).map(Some),
                _ => {
                    let start = self.pos;
                    while let Some(&c) = bytes.get(self.pos) {
                        if c == b'$' && bytes.get(self.pos + 1) == Some(&b'{') {
                            // `${NAME}` stays inside the word (its `{` is not a block).
                            let name_len = bytes[self.pos + 2..]
                                .iter()
                                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                                .count();
                            if name_len > 0 && bytes.get(self.pos + 2 + name_len) == Some(&b'}') {
                                self.pos += name_len + 3;
                                continue;
                            }
                        }
                        if is_space(c) || c == b';' || c == b'{' {
                            break;
                        }
                        self.pos += 1;
                    }
                    // The delimiters are ASCII, so both ends are char boundaries.
                    let word = self.text[start..self.pos].to_string();
                    return Ok(Some(Token {
                        kind: TokenKind::Word(word, Quote::None),
                        line,
                    }));
                }
            }
        }
    }

    fn quoted(&mut self, q: u8, line: u32) -> Result<Token, ConfigError> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        let mut end = start;
        loop {
            match bytes.get(end) {
                None | Some(b'\n') => {
                    let shown: String = self.text[self.pos..end].chars().take(40).collect();
                    return Err(self.syntax(line, format!("unterminated quoted string {shown}")));
                }
                Some(&c) if c == q => break,
                Some(_) => end += 1,
            }
        }
        let word = self.text[start..end].to_string();
        self.pos = end + 1;
        if let Some(&c) = bytes.get(self.pos) {
            if !(is_space(c) || c == b';' || c == b'{') {
                let ch = self.text[self.pos..].chars().next().unwrap_or('?');
                return Err(self.syntax(
                    line,
                    format!("unexpected '{ch}' after the quoted string \"{word}\""),
                ));
            }
        }
        let quote = if q == b'"' {
            Quote::Double
        } else {
            Quote::Single
        };
        Ok(Token {
            kind: TokenKind::Word(word, quote),
            line,
        })
    }
}
