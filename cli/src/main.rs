//! `palo`: the operator's command line. `palo sql` runs statements against an FE's gRPC SQL
//! endpoint and prints MySQL-style tables.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use palo_node::client::{ClientError, SqlClient};
use palo_node::fe::QueryOutput;
use palo_node::rpc::RpcTimeouts;
use palo_node::table;

/// Palo command line.
#[derive(Parser, Debug)]
#[command(name = "palo", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run SQL against an FE: with -e, the given statements; otherwise an interactive prompt
    /// (or statements read from standard input when it is not a terminal). Statements end
    /// with `;`. Exit status is 1 if any statement failed.
    Sql {
        /// The FE's gRPC address (host:port).
        #[arg(long, default_value = "127.0.0.1:9020", env = "PALO_FE")]
        fe: String,
        /// Statements to run, separated by `;`.
        #[arg(short = 'e', long = "execute", value_name = "SQL")]
        execute: Option<String>,
        /// Seconds to wait for each statement (1 to 86400).
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
}

/// Splits a script into statements at `;` outside quotes and comments (`--`, `#`, `/* */`),
/// honouring backslash escapes in strings, as the FE's lexer does. Returns the statements and the
/// unfinished rest.
fn split_statements(script: &str) -> (Vec<String>, String) {
    #[derive(PartialEq)]
    enum Mode {
        Code,
        Quote(char),
        LineComment,
        BlockComment,
    }
    let chars: Vec<char> = script.chars().collect();
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut mode = Mode::Code;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match mode {
            Mode::Quote(q) => {
                if c == '\\' && q != '`' {
                    current.push(c);
                    if let Some(n) = next {
                        current.push(n);
                    }
                    i += 2;
                    continue;
                }
                if c == q {
                    mode = Mode::Code;
                }
            }
            Mode::LineComment if c == '\n' => mode = Mode::Code,
            Mode::LineComment => {}
            Mode::BlockComment if c == '*' && next == Some('/') => {
                current.push_str("*/");
                mode = Mode::Code;
                i += 2;
                continue;
            }
            Mode::BlockComment => {}
            Mode::Code => match c {
                '\'' | '"' | '`' => mode = Mode::Quote(c),
                '#' => mode = Mode::LineComment,
                '-' if next == Some('-') => mode = Mode::LineComment,
                '/' if next == Some('*') => {
                    current.push_str("/*");
                    mode = Mode::BlockComment;
                    i += 2;
                    continue;
                }
                ';' => {
                    if !current.trim().is_empty() {
                        statements.push(current.trim().to_string());
                    }
                    current.clear();
                    i += 1;
                    continue;
                }
                _ => {}
            },
        }
        current.push(c);
        i += 1;
    }
    (statements, current)
}

/// Runs one statement and prints its outcome. Returns false if it failed.
async fn run_statement(client: &mut SqlClient, sql: &str) -> bool {
    let started = std::time::Instant::now();
    match client.execute(sql).await {
        Ok(QueryOutput::Rows { columns, rows }) => {
            let seconds = started.elapsed().as_secs_f64();
            if rows.is_empty() {
                println!("Empty set ({seconds:.2} sec)");
            } else {
                println!("{}", table::render(&columns, &rows));
                let noun = if rows.len() == 1 { "row" } else { "rows" };
                println!("{} {noun} in set ({seconds:.2} sec)", rows.len());
            }
            println!();
            true
        }
        Ok(QueryOutput::Ok { affected_rows }) => {
            let noun = if affected_rows == 1 { "row" } else { "rows" };
            println!("Query OK, {affected_rows} {noun} affected ({:.2} sec)\n", started.elapsed().as_secs_f64());
            true
        }
        Err(ClientError::Sql(e)) => {
            eprintln!("{e}");
            false
        }
        Err(e) => {
            eprintln!("ERROR 2003 (HY000): {e}");
            false
        }
    }
}

async fn sql(fe: String, execute: Option<String>, timeout_secs: u64) -> ExitCode {
    let timeouts = RpcTimeouts { connect_ms: 3_000, request_ms: timeout_secs.clamp(1, 86_400) * 1_000 };
    let mut client = match SqlClient::new(&fe, timeouts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("palo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut all_ok = true;
    if let Some(script) = execute {
        let (mut statements, rest) = split_statements(&script);
        if !rest.trim().is_empty() {
            statements.push(rest.trim().to_string());
        }
        for statement in statements {
            all_ok &= run_statement(&mut client, &statement).await;
        }
        return if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }

    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        println!("Palo SQL shell. Statements end with ';'. Type 'exit' or Ctrl-D to leave.\n");
    }
    let mut pending = String::new();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("{}", if pending.trim().is_empty() { "palo> " } else { "   -> " });
            let _ = std::io::stdout().flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        if pending.trim().is_empty() && matches!(line.trim().to_ascii_lowercase().as_str(), "exit" | "quit" | "\\q") {
            break;
        }
        pending.push_str(&line);
        pending.push('\n');
        let (statements, rest) = split_statements(&pending);
        pending = rest;
        for statement in statements {
            all_ok &= run_statement(&mut client, &statement).await;
        }
    }
    if !pending.trim().is_empty() {
        all_ok &= run_statement(&mut client, pending.trim()).await;
    }
    if interactive {
        println!("Bye");
    }
    if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sql { fe, execute, timeout_secs } => sql(fe, execute, timeout_secs).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_semicolons_outside_quotes() {
        let (statements, rest) = split_statements("SHOW BACKENDS; ALTER SYSTEM ADD BROKER b \"h;x:1\";\nSHOW");
        assert_eq!(statements, vec!["SHOW BACKENDS", "ALTER SYSTEM ADD BROKER b \"h;x:1\""]);
        assert_eq!(rest.trim(), "SHOW");

        let (statements, rest) =
            split_statements("-- don't stop here\nSHOW DATABASES; CREATE DATABASE a # it's a comment\n;");
        assert_eq!(statements, vec!["-- don't stop here\nSHOW DATABASES", "CREATE DATABASE a # it's a comment"]);
        assert!(rest.trim().is_empty());
        let (statements, _) = split_statements("ALTER SYSTEM ADD BROKER b 'x\\';y:1'; /* ; */ SHOW BROKER;");
        assert_eq!(statements, vec!["ALTER SYSTEM ADD BROKER b 'x\\';y:1'", "/* ; */ SHOW BROKER"]);
    }
}
