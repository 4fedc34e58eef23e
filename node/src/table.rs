//! MySQL-style box tables, as the `mysql` client prints them (used by `palo sql` and the
//! scenario transcripts), and the vertical layout of a statement ended with `\G`.

/// Renders a result set; NULL cells print as `NULL`, numbers are right-aligned, and a newline or
/// tab inside a cell prints as `\n` / `\t` (as `mysql -B` does) so the box stays a box.
pub fn render(columns: &[String], rows: &[Vec<Option<String>>]) -> String {
    let escaped: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter().map(|c| c.as_deref().unwrap_or("NULL").replace('\n', "\\n").replace('\t', "\\t")).collect()
        })
        .collect();
    let cells: Vec<Vec<&str>> = escaped.iter().map(|row| row.iter().map(String::as_str).collect()).collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in &cells {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let border: String = widths.iter().fold("+".to_string(), |mut acc, w| {
        acc.push_str(&"-".repeat(w + 2));
        acc.push('+');
        acc
    });
    let line = |values: &[&str], align_numbers: bool| {
        let mut out = String::from("|");
        for (i, w) in widths.iter().enumerate() {
            let value = values.get(i).copied().unwrap_or("");
            let pad = w - value.chars().count().min(*w);
            let numeric = align_numbers && !value.is_empty() && value.parse::<f64>().is_ok();
            if numeric {
                out.push_str(&format!(" {}{value} |", " ".repeat(pad)));
            } else {
                out.push_str(&format!(" {value}{} |", " ".repeat(pad)));
            }
        }
        out
    };
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut out = vec![border.clone(), line(&header, false), border.clone()];
    for row in &cells {
        out.push(line(row, true));
    }
    out.push(border);
    out.join("\n")
}

/// Renders a result set one row at a time, as `mysql` does for a statement ended with `\G`:
/// a numbered banner per row, then `name: value` lines with the names right-aligned to the longest.
/// NULL prints as `NULL`; values print as they are (a multi-line value keeps its lines, which is
/// what `\G` is for).
pub fn render_vertical(columns: &[String], rows: &[Vec<Option<String>>]) -> String {
    let width = columns.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&format!("*************************** {}. row ***************************", n + 1));
        for (i, column) in columns.iter().enumerate() {
            let value = row.get(i).and_then(Option::as_deref).unwrap_or("NULL");
            out.push_str(&format!("\n{column:>width$}: {value}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_mysql_client() {
        let columns = vec!["Name".to_string(), "Port".to_string()];
        let rows = vec![vec![Some("b1".to_string()), Some("8000".to_string())], vec![None, Some("1".to_string())]];
        let expected = "\
+------+------+
| Name | Port |
+------+------+
| b1   | 8000 |
| NULL |    1 |
+------+------+";
        assert_eq!(render(&columns, &rows), expected);
        let rows = vec![vec![Some("a\nb".to_string()), None]];
        assert!(render(&columns, &rows).contains("| a\\nb | NULL |"));
    }

    #[test]
    fn renders_rows_vertically_like_the_mysql_client() {
        let columns = vec!["Name".to_string(), "Port".to_string(), "CreateStatement".to_string()];
        let rows = vec![
            vec![Some("b1".to_string()), Some("8000".to_string()), Some("CREATE x (\n  a INT\n)".to_string())],
            vec![Some("b2".to_string()), None, None],
        ];
        let expected = "\
*************************** 1. row ***************************
           Name: b1
           Port: 8000
CreateStatement: CREATE x (
  a INT
)
*************************** 2. row ***************************
           Name: b2
           Port: NULL
CreateStatement: NULL";
        assert_eq!(render_vertical(&columns, &rows), expected);
        assert_eq!(render_vertical(&columns, &[]), "");
    }
}
