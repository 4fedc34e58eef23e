//! Tokens of the Doris SQL dialect, each with its position.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word: keyword or identifier (keywords are matched case-insensitively by the parser).
    Word(String),
    /// A `backquoted` identifier: never a keyword.
    QuotedIdent(String),
    /// A 'single' or "double" quoted string (Doris treats both as strings).
    String(String),
    Number(String),
    Symbol(&'static str),
    End,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Word(w) => write!(f, "{w}"),
            TokenKind::QuotedIdent(w) => write!(f, "`{w}`"),
            TokenKind::String(s) => write!(f, "\"{s}\""),
            TokenKind::Number(n) => write!(f, "{n}"),
            TokenKind::Symbol(s) => write!(f, "{s}"),
            TokenKind::End => write!(f, "end of statement"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// 1-based line and column of the token's first character.
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct LexError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Limit on tokens per statement: a statement longer than this is refused, not buffered.
pub const MAX_TOKENS: usize = 1_000_000;

pub(super) const SYMBOLS: [&str; 20] =
    ["<=", ">=", "<>", "!=", "(", ")", ",", ";", ".", "=", "<", ">", "*", "+", "-", "/", "%", "@", "[", "]"];

struct Cursor {
    chars: Vec<char>,
    at: usize,
    line: u32,
    column: u32,
}

impl Cursor {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    /// Moves past the current character, keeping line and column.
    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error(&self, line: u32, column: u32, message: String) -> LexError {
        LexError { line, column, message }
    }
}

pub fn tokenize(sql: &str) -> Result<Vec<Token>, LexError> {
    let mut cur = Cursor { chars: sql.chars().collect(), at: 0, line: 1, column: 1 };
    let mut tokens = Vec::new();
    while let Some(c) = cur.peek(0) {
        if c.is_whitespace() {
            cur.bump();
            continue;
        }
        if (c == '-' && cur.peek(1) == Some('-')) || c == '#' {
            while cur.peek(0).is_some_and(|d| d != '\n') {
                cur.bump();
            }
            continue;
        }
        if c == '/' && cur.peek(1) == Some('*') {
            let (line, column) = (cur.line, cur.column);
            cur.bump();
            cur.bump();
            loop {
                match (cur.peek(0), cur.peek(1)) {
                    (None, _) => return Err(cur.error(line, column, "unterminated /* comment".into())),
                    (Some('*'), Some('/')) => {
                        cur.bump();
                        cur.bump();
                        break;
                    }
                    _ => {
                        cur.bump();
                    }
                }
            }
            continue;
        }
        let (line, column) = (cur.line, cur.column);
        if tokens.len() >= MAX_TOKENS {
            return Err(cur.error(line, column, format!("statement has more than {MAX_TOKENS} tokens")));
        }
        let kind = if c.is_alphabetic() || c == '_' {
            let mut word = String::new();
            while let Some(d) = cur.peek(0).filter(|d| d.is_alphanumeric() || *d == '_' || *d == '$') {
                word.push(d);
                cur.bump();
            }
            TokenKind::Word(word)
        } else if c.is_ascii_digit() {
            let mut number = String::new();
            while let Some(d) = cur.peek(0).filter(|d| d.is_ascii_digit() || *d == '.') {
                number.push(d);
                cur.bump();
            }
            TokenKind::Number(number)
        } else if c == '\'' || c == '"' || c == '`' {
            let quote = c;
            cur.bump();
            let mut text = String::new();
            loop {
                let Some(d) = cur.bump() else {
                    return Err(cur.error(line, column, format!("unterminated {quote} quote")));
                };
                if d == quote {
                    if cur.peek(0) == Some(quote) {
                        cur.bump();
                        text.push(quote);
                        continue;
                    }
                    break;
                }
                if d == '\\'
                    && quote != '`'
                    && let Some(e) = cur.bump()
                {
                    text.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        '0' => '\0',
                        other => other,
                    });
                    continue;
                }
                text.push(d);
            }
            if quote == '`' { TokenKind::QuotedIdent(text) } else { TokenKind::String(text) }
        } else {
            let two: String = [cur.peek(0), cur.peek(1)].iter().flatten().collect();
            let Some(symbol) = SYMBOLS.iter().find(|s| two.starts_with(**s)) else {
                return Err(cur.error(line, column, format!("unexpected character {c:?}")));
            };
            for _ in 0..symbol.len() {
                cur.bump();
            }
            TokenKind::Symbol(symbol)
        };
        tokens.push(Token { kind, line, column });
    }
    tokens.push(Token { kind: TokenKind::End, line: cur.line, column: cur.column });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<TokenKind> {
        tokenize(sql).map(|t| t.into_iter().map(|t| t.kind).collect()).unwrap_or_default()
    }

    #[test]
    fn words_strings_symbols_and_positions() {
        let toks = tokenize("ALTER SYSTEM\n  ADD BACKEND \"h:9050\", 'x''y'; -- c").expect("lexes");
        assert_eq!(toks[0].kind, TokenKind::Word("ALTER".into()));
        assert_eq!((toks[2].line, toks[2].column), (2, 3));
        assert_eq!(toks[4].kind, TokenKind::String("h:9050".into()));
        assert_eq!(toks[6].kind, TokenKind::String("x'y".into()));
        assert_eq!(toks[7].kind, TokenKind::Symbol(";"));
        assert_eq!(toks[8].kind, TokenKind::End);
        assert_eq!(
            kinds("a<=b"),
            vec![TokenKind::Word("a".into()), TokenKind::Symbol("<="), TokenKind::Word("b".into()), TokenKind::End]
        );
    }

    #[test]
    fn unterminated_string_names_its_start() {
        let err = tokenize("SELECT\n 'abc").expect_err("must fail");
        assert_eq!((err.line, err.column), (2, 2));
        assert!(err.message.contains("unterminated"), "{err}");
    }
}
