//! MySQL-style box tables, as the `mysql` client prints them (used by `palo sql` and the
//! scenario transcripts).

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
}
