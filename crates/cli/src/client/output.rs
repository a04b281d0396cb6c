//! Human output: aligned tables and `Label: value` blocks, built from the API's JSON.

use serde_json::Value;

/// A column or field: its header and the dotted path of the value (`bmc.driver`).
pub type Column = (&'static str, &'static str);

/// Renders rows under headers, columns three spaces apart and as wide as their
/// widest cell, with no trailing spaces (like `kubectl get`).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("   ");
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The value at a dotted path, `Null` when any step is missing.
pub fn lookup<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .try_fold(value, |v, key| v.get(key))
        .unwrap_or(&Value::Null)
}

/// One value as table text. Times (keys `at` or `*_at`) lose their fractional
/// seconds; empty and null values show as `-`.
pub fn cell(value: &Value, path: &str) -> String {
    let key = path.rsplit('.').next().unwrap_or(path);
    let text = match value {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::String(s) if key == "at" || key.ends_with("_at") => short_time(s),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|v| cell(v, ""))
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v, k)))
            .collect::<Vec<_>>()
            .join(","),
    };
    if text.is_empty() {
        "-".to_string()
    } else {
        text
    }
}

/// `2025-01-02T03:04:05.678Z` → `2025-01-02 03:04:05Z`.
fn short_time(s: &str) -> String {
    let Some((date, time)) = s.split_once('T') else {
        return s.to_string();
    };
    let (clock, zone) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => time.split_at(i),
        None => (time, ""),
    };
    let clock = clock.split('.').next().unwrap_or(clock);
    format!("{date} {clock}{zone}")
}

/// The `items` of a list response as a table.
pub fn items_table(list: &Value, columns: &[Column]) -> String {
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let rows: Vec<Vec<String>> = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|(_, p)| cell(lookup(item, p), p))
                .collect()
        })
        .collect();
    table(&headers, &rows)
}

/// One object as aligned `Label:  value` lines.
pub fn fields(value: &Value, fields: &[Column]) -> String {
    let width = fields
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    fields
        .iter()
        .map(|(label, p)| {
            format!(
                "{:<width$}  {}\n",
                format!("{label}:"),
                cell(lookup(value, p), p)
            )
        })
        .collect()
}

pub fn print_json(value: &Value) {
    // Serializing a `Value` cannot fail.
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_on_widest_cell_without_trailing_spaces() {
        let rows = vec![
            vec!["1".into(), "web-1".into(), "-".into()],
            vec!["12".into(), "db".into(), "acme".into()],
        ];
        assert_eq!(
            table(&["ID", "NAME", "TENANT"], &rows),
            "ID   NAME    TENANT\n\
             1    web-1   -\n\
             12   db      acme\n"
        );
        assert_eq!(table(&["ID", "NAME"], &[]), "ID   NAME\n");
    }

    #[test]
    fn table_counts_characters_not_bytes() {
        let rows = vec![
            vec!["Zürich".into(), "x".into()],
            vec!["a".into(), "y".into()],
        ];
        assert_eq!(
            table(&["LOC", "N"], &rows),
            "LOC      N\nZürich   x\na        y\n"
        );
    }

    #[test]
    fn cells() {
        let v = json!({
            "tenant": null, "pin_set": true, "macs": ["aa:bb", "cc:dd"], "n": 3,
            "bmc": {"driver": "fake", "options": {"a": "1", "b": 2}},
            "created_at": "2025-01-02T03:04:05.678901Z", "at": "2025-01-02T03:04:05+02:00",
            "empty": [], "name": "2025-01-02T03:04:05.1Z"
        });
        let c = |p| cell(lookup(&v, p), p);
        assert_eq!(c("tenant"), "-");
        assert_eq!(c("missing.deep"), "-");
        assert_eq!(c("pin_set"), "yes");
        assert_eq!(c("macs"), "aa:bb,cc:dd");
        assert_eq!(c("n"), "3");
        assert_eq!(c("bmc.driver"), "fake");
        assert_eq!(c("bmc.options"), "a=1,b=2");
        assert_eq!(c("created_at"), "2025-01-02 03:04:05Z");
        assert_eq!(c("at"), "2025-01-02 03:04:05+02:00");
        assert_eq!(c("empty"), "-");
        // Only time keys are reformatted.
        assert_eq!(c("name"), "2025-01-02T03:04:05.1Z");
    }

    #[test]
    fn items_table_and_fields() {
        let list =
            json!({"items": [{"id": 1, "name": "a", "site": {"x": 1}}], "next_cursor": null});
        assert_eq!(
            items_table(&list, &[("ID", "id"), ("NAME", "name"), ("X", "site.x")]),
            "ID   NAME   X\n1    a      1\n"
        );
        assert_eq!(
            fields(
                &json!({"id": 7, "name": "n"}),
                &[("ID", "id"), ("Name", "name")]
            ),
            "ID:    7\nName:  n\n"
        );
    }
}
