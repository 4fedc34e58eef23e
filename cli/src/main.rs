//! `palo`: the operator's command line. `palo sql` runs statements against an FE's gRPC SQL
//! endpoint and prints MySQL-style tables (or, for a statement ended with `\G`, vertical rows).

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use palo_node::client::{ClientError, SqlClient};
use palo_node::fe::QueryOutput;
use palo_node::rpc::RpcTimeouts;
use palo_node::table;
use rustyline::error::ReadlineError;

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
    /// (or statements read from standard input when it is not a terminal). Exit status is 1 if any
    /// statement failed.
    ///
    /// Statements end with `;`, or with `\G` to print each row vertically (one `column: value`
    /// line per column, as the mysql client does).
    ///
    /// Every statement is sent with the user and password (-u, -p); the FE checks them as it checks
    /// a MySQL login and runs the statement with that user's privileges.
    ///
    /// At the prompt, up and down recall earlier statements, kept in ~/.palo_history (or the file
    /// named by PALO_HISTFILE, readable by its owner only; the last 1000). Statements that mention
    /// PASSWORD, IDENTIFIED, SECRET or TOKEN, and those typed with a leading space, are not kept. `\c` drops the statement being typed,
    /// `help` or `\h` lists these commands, and `exit`, `quit`, `\q` or Ctrl-D leave.
    Sql {
        /// The FE's gRPC address (host:port).
        #[arg(long, default_value = "127.0.0.1:9020", env = "PALO_FE")]
        fe: String,
        /// The user to log in as.
        #[arg(short = 'u', long, default_value = "root", env = "PALO_USER")]
        user: String,
        /// The user's password (none by default): -p PASSWORD, -pPASSWORD or --password PASSWORD.
        /// Prefer the PALO_PASSWORD environment variable: a password on the command line can be
        /// seen by other users of the machine.
        #[arg(short = 'p', long, env = "PALO_PASSWORD", hide_env_values = true, value_name = "PASSWORD")]
        password: Option<String>,
        /// Statements to run, each ended by `;` or `\G` (the last one needs neither).
        #[arg(short = 'e', long = "execute", value_name = "SQL")]
        execute: Option<String>,
        /// Seconds to wait for each statement (1 to 86400).
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
}

/// A statement of a script and how its result prints.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    sql: String,
    /// Ended by `\G`: rows print vertically.
    vertical: bool,
}

impl Statement {
    fn table(sql: &str) -> Statement {
        Statement { sql: sql.to_string(), vertical: false }
    }
}

/// Splits a script into statements at `;`, `\g` (same as `;`) and `\G` (vertical output) outside
/// quotes and comments (`--`, `#`, `/* */`), honouring backslash escapes in strings, as the FE's
/// lexer does. Returns the statements and the unfinished rest.
fn split_statements(script: &str) -> (Vec<Statement>, String) {
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
            Mode::Code => {
                let end = match (c, next) {
                    (';', _) => Some((false, 1)),
                    ('\\', Some('g')) => Some((false, 2)),
                    ('\\', Some('G')) => Some((true, 2)),
                    _ => None,
                };
                if let Some((vertical, len)) = end {
                    if !current.trim().is_empty() {
                        statements.push(Statement { sql: current.trim().to_string(), vertical });
                    }
                    current.clear();
                    i += len;
                    continue;
                }
                match c {
                    '\'' | '"' | '`' => mode = Mode::Quote(c),
                    '#' => mode = Mode::LineComment,
                    '-' if next == Some('-') => mode = Mode::LineComment,
                    '/' if next == Some('*') => {
                        current.push_str("/*");
                        mode = Mode::BlockComment;
                        i += 2;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        current.push(c);
        i += 1;
    }
    (statements, current)
}

/// Runs one statement and prints its outcome. Returns false if it failed.
async fn run_statement(client: &mut SqlClient, statement: &Statement) -> bool {
    let started = std::time::Instant::now();
    match client.execute(&statement.sql).await {
        Ok(QueryOutput::Rows { columns, rows }) => {
            let seconds = started.elapsed().as_secs_f64();
            if rows.is_empty() {
                println!("Empty set ({seconds:.2} sec)");
            } else {
                if statement.vertical {
                    println!("{}", table::render_vertical(&columns, &rows));
                } else {
                    println!("{}", table::render(&columns, &rows));
                }
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

/// What `help` / `\h` prints.
const CLIENT_HELP: &str = "\
Statements end with ';' (a table) or '\\G' (one 'column: value' line per column).
For the server's statement reference, run the HELP statement: 'HELP;' or 'HELP topic;'.

Commands (alone on a line):
  help, \\h, \\?       this list
  \\c                 drop the statement being typed
  exit, quit, \\q     leave (so does Ctrl-D)

Up and down recall earlier statements (kept in ~/.palo_history, or PALO_HISTFILE); statements
that mention PASSWORD, IDENTIFIED, SECRET or TOKEN, or start with a space, are not kept.
";

/// A command of the client itself, typed alone on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientCommand {
    Quit,
    Help,
    /// Drop the statement being typed (mysql's `\c`).
    Clear,
}

fn client_command(line: &str) -> Option<ClientCommand> {
    let word = line.trim();
    match word.to_ascii_lowercase().as_str() {
        "exit" | "quit" | "exit;" | "quit;" => Some(ClientCommand::Quit),
        "help" | "?" => Some(ClientCommand::Help),
        // Backslash commands are case-sensitive, as in mysql (`\G` is not `\g`).
        _ => match word {
            "\\q" => Some(ClientCommand::Quit),
            "\\h" | "\\?" => Some(ClientCommand::Help),
            "\\c" => Some(ClientCommand::Clear),
            _ => None,
        },
    }
}

/// At most this many statements are kept in the history file.
const HISTORY_LIMIT: usize = 1000;

/// The history file: `PALO_HISTFILE` if set, else `$HOME/.palo_history`; none without either.
fn history_path(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(file) = set("PALO_HISTFILE") {
        return Some(PathBuf::from(file));
    }
    set("HOME").map(|home| PathBuf::from(home).join(".palo_history"))
}

/// Words that mark an entry as one that may hold a secret: mysql's default histignore
/// (`*IDENTIFIED*:*PASSWORD*`), and repository credentials (`s3.secret_key`, `s3.session_token`).
const SECRET_WORDS: [&str; 4] = ["PASSWORD", "IDENTIFIED", "SECRET", "TOKEN"];

/// Whether an entry goes into the history: not a blank one, not one typed with a leading space,
/// and never one that may hold a secret.
fn worth_recording(entry: &str) -> bool {
    let upper = entry.to_ascii_uppercase();
    !entry.trim().is_empty() && !entry.starts_with([' ', '\t']) && !SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// What to do after a line of input.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// Statements typed or piped in, line by line.
struct Shell {
    client: SqlClient,
    /// The statement being typed.
    pending: String,
    all_ok: bool,
}

impl Shell {
    fn idle(&self) -> bool {
        self.pending.trim().is_empty()
    }

    /// Takes one line (a recalled history entry may hold several): a client command, or SQL whose
    /// finished statements run now.
    async fn feed(&mut self, line: &str) -> Flow {
        match client_command(line) {
            Some(ClientCommand::Clear) => {
                self.pending.clear();
                return Flow::Continue;
            }
            Some(ClientCommand::Quit) if self.idle() => return Flow::Quit,
            Some(ClientCommand::Help) if self.idle() => {
                println!("{CLIENT_HELP}");
                return Flow::Continue;
            }
            _ => {}
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        let (statements, rest) = split_statements(&self.pending);
        self.pending = rest;
        for statement in statements {
            self.all_ok &= run_statement(&mut self.client, &statement).await;
        }
        Flow::Continue
    }

    /// Runs what is left unfinished at the end of the input.
    async fn finish(&mut self) {
        if !self.idle() {
            let statement = Statement::table(self.pending.trim());
            self.pending.clear();
            self.all_ok &= run_statement(&mut self.client, &statement).await;
        }
    }

    fn exit_code(&self) -> ExitCode {
        if self.all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}

/// The prompt: line editing, and history across sessions when there is a history file.
async fn interactive(shell: &mut Shell) -> Result<(), ReadlineError> {
    let config = rustyline::Config::builder()
        .max_history_size(HISTORY_LIMIT)?
        .history_ignore_dups(true)?
        .auto_add_history(false)
        .build();
    let mut editor = rustyline::DefaultEditor::with_config(config)?;
    let history = history_path(|name| std::env::var_os(name));
    if let Some(path) = &history
        && let Err(e) = editor.load_history(path)
        && !matches!(&e, ReadlineError::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
    {
        eprintln!("palo: cannot read the history in {}: {e}", path.display());
    }
    // The lines of the entry being typed, recorded as one history entry once its statements end.
    let mut entry = String::new();
    loop {
        let prompt = if shell.idle() { "palo> " } else { "   -> " };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            // Ctrl-C drops the statement being typed, as in mysql.
            Err(ReadlineError::Interrupted) => {
                shell.pending.clear();
                entry.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e),
        };
        if !entry.is_empty() {
            entry.push('\n');
        }
        entry.push_str(&line);
        let is_command = client_command(&line).is_some();
        let flow = shell.feed(&line).await;
        if shell.idle() {
            if !is_command && worth_recording(&entry) {
                let _ = editor.add_history_entry(entry.as_str());
            }
            entry.clear();
        }
        if flow == Flow::Quit {
            break;
        }
    }
    if let Some(path) = &history {
        if let Err(e) = editor.append_history(path) {
            eprintln!("palo: cannot save the history in {}: {e}", path.display());
        }
        // The history is its owner's alone, as mysql's is.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

async fn sql(
    fe: String,
    user: String,
    password: Option<String>,
    execute: Option<String>,
    timeout_secs: u64,
) -> ExitCode {
    let timeouts = RpcTimeouts { connect_ms: 3_000, request_ms: timeout_secs.clamp(1, 86_400) * 1_000 };
    let client = match SqlClient::new(&fe, timeouts) {
        Ok(c) => c.with_login(&user, password.as_deref().unwrap_or("")),
        Err(e) => {
            eprintln!("palo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut shell = Shell { client, pending: String::new(), all_ok: true };
    if let Some(script) = execute {
        let (statements, rest) = split_statements(&script);
        for statement in statements {
            shell.all_ok &= run_statement(&mut shell.client, &statement).await;
        }
        shell.pending = rest;
        shell.finish().await;
        return shell.exit_code();
    }

    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Log in first, as mysql does: a wrong password or an unreachable FE ends the session
        // before anything is typed.
        match shell.client.execute("SELECT CURRENT_USER()").await {
            Ok(QueryOutput::Rows { rows, .. }) => {
                let who = rows.first().and_then(|r| r.first()).cloned().flatten().unwrap_or_default();
                println!("Palo SQL shell: {who} on the FE at {fe}.");
                println!("Statements end with ';' or '\\G'. Type 'help' for help, 'exit' or Ctrl-D to leave.\n");
            }
            Ok(QueryOutput::Ok { .. }) => {}
            Err(ClientError::Sql(e)) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("ERROR 2003 (HY000): {e}");
                return ExitCode::from(2);
            }
        }
        if let Err(e) = interactive(&mut shell).await {
            eprintln!("palo: the prompt failed: {e}");
            return ExitCode::from(2);
        }
        // Ctrl-D in the middle of a statement leaves without running it.
        shell.pending.clear();
        println!("Bye");
    } else {
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if shell.feed(&line).await == Flow::Quit {
                break;
            }
        }
    }
    shell.finish().await;
    shell.exit_code()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sql { fe, user, password, execute, timeout_secs } => {
            sql(fe, user, password, execute, timeout_secs).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(statements: &[Statement]) -> Vec<&str> {
        statements.iter().map(|s| s.sql.as_str()).collect()
    }

    #[test]
    fn splits_at_semicolons_outside_quotes() {
        let (statements, rest) = split_statements("SHOW BACKENDS; ALTER SYSTEM ADD BROKER b \"h;x:1\";\nSHOW");
        assert_eq!(sqls(&statements), vec!["SHOW BACKENDS", "ALTER SYSTEM ADD BROKER b \"h;x:1\""]);
        assert!(statements.iter().all(|s| !s.vertical));
        assert_eq!(rest.trim(), "SHOW");

        let (statements, rest) =
            split_statements("-- don't stop here\nSHOW DATABASES; CREATE DATABASE a # it's a comment\n;");
        assert_eq!(sqls(&statements), vec!["-- don't stop here\nSHOW DATABASES", "CREATE DATABASE a # it's a comment"]);
        assert!(rest.trim().is_empty());
        let (statements, _) = split_statements("ALTER SYSTEM ADD BROKER b 'x\\';y:1'; /* ; */ SHOW BROKER;");
        assert_eq!(sqls(&statements), vec!["ALTER SYSTEM ADD BROKER b 'x\\';y:1'", "/* ; */ SHOW BROKER"]);
    }

    #[test]
    fn backslash_g_ends_a_statement_that_prints_vertically() {
        let (statements, rest) = split_statements("SHOW BACKENDS\\G SHOW BROKER;\nSHOW FRONTENDS \\G\nSHOW");
        assert_eq!(
            statements,
            vec![
                Statement { sql: "SHOW BACKENDS".into(), vertical: true },
                Statement { sql: "SHOW BROKER".into(), vertical: false },
                Statement { sql: "SHOW FRONTENDS".into(), vertical: true },
            ]
        );
        assert_eq!(rest.trim(), "SHOW");
        // `\g` is `;`, as in mysql.
        let (statements, _) = split_statements("SHOW DATABASES\\g");
        assert_eq!(statements, vec![Statement::table("SHOW DATABASES")]);
        // Not inside strings, quoted names or comments; a string's `\\` escape is not a `\`.
        let (statements, rest) = split_statements(
            "SELECT 'a\\G', \"b\\G\", `c\\G` -- d\\G\n/* e\\G */ FROM t # f\\G\n\\G SELECT 'x\\\\'\\G",
        );
        assert_eq!(
            sqls(&statements),
            vec!["SELECT 'a\\G', \"b\\G\", `c\\G` -- d\\G\n/* e\\G */ FROM t # f\\G", "SELECT 'x\\\\'"]
        );
        assert!(statements.iter().all(|s| s.vertical));
        assert!(rest.is_empty());
        // A lone terminator is no statement.
        let (statements, _) = split_statements("\\G ; \\g");
        assert!(statements.is_empty());
    }

    #[test]
    fn client_commands_are_whole_lines() {
        assert_eq!(client_command(" \\q "), Some(ClientCommand::Quit));
        assert_eq!(client_command("EXIT"), Some(ClientCommand::Quit));
        assert_eq!(client_command("quit;"), Some(ClientCommand::Quit));
        assert_eq!(client_command("help"), Some(ClientCommand::Help));
        assert_eq!(client_command("\\h"), Some(ClientCommand::Help));
        assert_eq!(client_command("\\c"), Some(ClientCommand::Clear));
        // `HELP;` and `HELP topic` are the server's statement.
        assert_eq!(client_command("help;"), None);
        assert_eq!(client_command("help create user"), None);
        assert_eq!(client_command("\\Q"), None);
        assert_eq!(client_command("exit_code"), None);
    }

    #[test]
    fn history_never_keeps_secrets() {
        assert!(worth_recording("SHOW BACKENDS"));
        assert!(worth_recording("SELECT *\nFROM t"));
        assert!(!worth_recording("CREATE USER 'u'@'%' IDENTIFIED BY 'pw'"));
        assert!(!worth_recording("create user u\nidentified by 'pw'"));
        assert!(!worth_recording("SET PASSWORD = PASSWORD('x')"));
        assert!(!worth_recording("set password for 'u'@'%' = 'x'"));
        assert!(!worth_recording(" SHOW BACKENDS"), "a leading space keeps it out, as in bash");
        let repo = "CREATE REPOSITORY r WITH S3 ON LOCATION \"s3://b/p\" PROPERTIES (\"s3.access_key\" = \"k\", \
                    \"s3.secret_key\" = \"sk\")";
        assert!(!worth_recording(repo), "repository credentials are never kept");
        assert!(!worth_recording("... \"s3.session_token\" = \"t\")"));
        assert!(!worth_recording("  \n"));
    }

    #[test]
    fn history_file_is_palo_histfile_or_under_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| OsString::from(v))
        };
        assert_eq!(history_path(env(&[("HOME", "/home/op")])), Some(PathBuf::from("/home/op/.palo_history")));
        assert_eq!(
            history_path(env(&[("HOME", "/home/op"), ("PALO_HISTFILE", "/tmp/h")])),
            Some(PathBuf::from("/tmp/h"))
        );
        assert_eq!(history_path(env(&[])), None, "no HOME: no history file");
        assert_eq!(history_path(env(&[("HOME", "")])), None);
    }
}
