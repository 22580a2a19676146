//! The directive tree: `name args;` and `name args { ... }`, with `include`
//! followed and `$VAR` expanded, each directive remembering its file and line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::env::{expand_vars, Env};
use super::error::ConfigError;
use super::lexer::{Lexer, Quote, TokenKind};

/// How many files deep `include` may go (the top file is depth 1).
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;
/// How deeply blocks may nest (SRS's deepest is 4).
pub(crate) const MAX_NESTING: usize = 32;
/// The largest configuration file read (an include of a device or a huge
/// file must not hang or exhaust memory).
pub(crate) const MAX_FILE_BYTES: u64 = 4 << 20;

/// One directive of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    /// The first word.
    pub name: String,
    /// The other words, `$VAR`s expanded (except in single quotes).
    pub args: Vec<String>,
    /// The directives inside `{ ... }`.
    pub children: Vec<Directive>,
    /// Whether it was written as a block (`{ ... }`) rather than ended by `;`.
    pub is_block: bool,
    /// The file it was read from.
    pub file: Arc<str>,
    /// The line its name is on.
    pub line: u32,
}

/// Parses `text` (from `file`) into directives, following includes relative
/// to `file`'s directory. `canonical` is `file`'s canonical path when it is a
/// real file, to detect a file including itself.
pub(crate) fn parse_tree(
    text: &str,
    file: &str,
    canonical: Option<PathBuf>,
    env: &dyn Env,
) -> Result<Vec<Directive>, ConfigError> {
    let mut ctx = Ctx {
        env,
        stack: canonical.into_iter().collect(),
    };
    let file: Arc<str> = Arc::from(file);
    parse_file(&mut ctx, text, file, 0)
}

/// Reads a configuration file: a regular file, at most `MAX_FILE_BYTES`,
/// UTF-8. Errors are reasons (the caller knows where the read came from).
pub(crate) fn read_file(path: &Path) -> Result<String, ReadFailure> {
    let meta = std::fs::metadata(path).map_err(ReadFailure::Io)?;
    if !meta.is_file() {
        return Err(ReadFailure::NotAFile);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadFailure::TooLarge(meta.len()));
    }
    let bytes = std::fs::read(path).map_err(ReadFailure::Io)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count() as u32;
        ReadFailure::NotUtf8(line)
    })
}

/// Why a file could not be read.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// Open/read failed.
    Io(std::io::Error),
    /// A directory, device, FIFO...
    NotAFile,
    /// Larger than `MAX_FILE_BYTES`.
    TooLarge(u64),
    /// Not UTF-8; the line of the first bad byte.
    NotUtf8(u32),
}

struct Ctx<'e> {
    env: &'e dyn Env,
    /// Canonical paths of the files being parsed, outermost first.
    stack: Vec<PathBuf>,
}

fn parse_file(
    ctx: &mut Ctx<'_>,
    text: &str,
    file: Arc<str>,
    nesting: usize,
) -> Result<Vec<Directive>, ConfigError> {
    let file_for_lexer = file.clone();
    let mut p = FileParser {
        lexer: Lexer::new(text, &file_for_lexer),
        file,
        ctx,
    };
    p.block(None, nesting)
}

struct FileParser<'a, 'c, 'e> {
    lexer: Lexer<'a>,
    file: Arc<str>,
    ctx: &'c mut Ctx<'e>,
}

impl FileParser<'_, '_, '_> {
    fn syntax(&self, line: u32, directive: Option<&str>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Syntax {
            file: self.file.to_string(),
            line,
            directive: directive.map(str::to_string),
            reason: reason.into(),
        }
    }

    /// Reads directives until the end of the text (`open == None`) or the
    /// `}` closing the block `open` = (name, line).
    fn block(
        &mut self,
        open: Option<(&str, u32)>,
        nesting: usize,
    ) -> Result<Vec<Directive>, ConfigError> {
        let mut out = Vec::new();
        loop {
            let Some(tok) = self.lexer.next_token()? else {
                return match open {
                    None => Ok(out),
                    Some((name, line)) => Err(self.syntax(
                        line,
                        Some(name),
                        "unterminated block: missing '}' before the end of the file",
                    )),
                };
            };
            let name = match tok.kind {
                TokenKind::Word(w, _) => w,
                TokenKind::BlockEnd => {
                    return match open {
                        Some(_) => Ok(out),
                        None => {
                            Err(self.syntax(tok.line, None, "unexpected '}': no block is open"))
                        }
                    };
                }
                TokenKind::Semicolon => {
                    return Err(self.syntax(tok.line, None, "unexpected ';': empty directive"))
                }
                TokenKind::BlockStart => {
                    return Err(self.syntax(tok.line, None, "unexpected '{': block without a name"))
                }
            };
            let line = tok.line;
            let mut args = Vec::new();
            let is_block = loop {
                let Some(t) = self.lexer.next_token()? else {
                    return Err(self.syntax(
                        line,
                        Some(&name),
                        "missing ';' before the end of the file",
                    ));
                };
                if t.line != line {
                    // SRS requires a directive to end on the line it starts.
                    return Err(self.syntax(
                        line,
                        Some(&name),
                        "missing ';' at the end of the line",
                    ));
                }
                match t.kind {
                    TokenKind::Word(w, q) => args.push(if q == Quote::Single {
                        w
                    } else {
                        expand_vars(&w, self.ctx.env)
                    }),
                    TokenKind::Semicolon => break false,
                    TokenKind::BlockStart => break true,
                    TokenKind::BlockEnd => {
                        return Err(self.syntax(line, Some(&name), "missing ';' before '}'"))
                    }
                }
            };
            if name == "include" {
                if is_block {
                    return Err(self.syntax(line, Some("include"), "include cannot be a block"));
                }
                self.include(line, &args, nesting, &mut out)?;
                continue;
            }
            let children = if is_block {
                if nesting + 1 > MAX_NESTING {
                    return Err(self.syntax(
                        line,
                        Some(&name),
                        format!("blocks nested deeper than {MAX_NESTING}"),
                    ));
                }
                self.block(Some((&name, line)), nesting + 1)?
            } else {
                Vec::new()
            };
            out.push(Directive {
                name,
                args,
                children,
                is_block,
                file: self.file.clone(),
                line,
            });
        }
    }

    fn include(
        &mut self,
        line: u32,
        args: &[String],
        nesting: usize,
        out: &mut Vec<Directive>,
    ) -> Result<(), ConfigError> {
        let fail = |target: &Path, reason: String| ConfigError::Include {
            file: self.file.to_string(),
            line,
            target: target.display().to_string(),
            reason,
        };
        if args.is_empty() || args.iter().all(|a| a.is_empty()) {
            return Err(fail(Path::new(""), "no file named".into()));
        }
        let dir = Path::new(&*self.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for arg in args.iter().filter(|a| !a.is_empty()) {
            let target = dir.join(arg);
            let shown = target.display().to_string();
            if self.ctx.stack.len() >= MAX_INCLUDE_DEPTH {
                return Err(fail(
                    &target,
                    format!("includes nested deeper than {MAX_INCLUDE_DEPTH} files at \"{shown}\""),
                ));
            }
            let canonical = std::fs::canonicalize(&target)
                .map_err(|e| fail(&target, format!("cannot read \"{shown}\": {e}")))?;
            if self.ctx.stack.contains(&canonical) {
                return Err(fail(
                    &target,
                    format!("include cycle: \"{shown}\" is already being read"),
                ));
            }
            let text = read_file(&canonical).map_err(|e| match e {
                ReadFailure::Io(e) => fail(&target, format!("cannot read \"{shown}\": {e}")),
                ReadFailure::NotAFile => {
                    fail(&target, format!("\"{shown}\" is not a regular file"))
                }
                ReadFailure::TooLarge(n) => fail(
                    &target,
                    format!("\"{shown}\" is {n} bytes, more than the {MAX_FILE_BYTES} allowed"),
                ),
                ReadFailure::NotUtf8(l) => ConfigError::NotUtf8 {
                    file: shown.clone(),
                    line: l,
                },
            })?;
            self.ctx.stack.push(canonical);
            let parsed = parse_file(self.ctx, &text, Arc::from(shown.as_str()), nesting);
            self.ctx.stack.pop();
            out.extend(parsed?);
        }
        Ok(())
    }
}
