//! SQL text for both databases, built once with the right placeholders.
//!
//! SQLite and PostgreSQL agree on almost everything this crate needs (`INSERT … ON CONFLICT
//! DO UPDATE`, `excluded.`, keyset `ORDER BY … LIMIT`). They differ in placeholders (`?` vs
//! `$1`), in "does this text contain that" (`instr` vs `strpos`), and in the record column
//! (TEXT vs JSONB). [`Statement`] hides those so every query is written once.

/// Which SQL flavour to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound value. Only the types the schema uses.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

/// SQL text plus its values in placeholder order.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) dialect: Dialect,
    pub(crate) sql: String,
    pub(crate) args: Vec<Value>,
}

impl Statement {
    pub(crate) fn new(dialect: Dialect, sql: &str) -> Statement {
        Statement {
            dialect,
            sql: sql.to_string(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: Value) -> &mut Self {
        let value = match (self.dialect, value) {
            (Dialect::Postgres, Value::Text(s)) => Value::Text(without_nul(s)),
            (Dialect::Postgres, Value::OptText(s)) => Value::OptText(s.map(without_nul)),
            (_, v) => v,
        };
        self.args.push(value);
        match self.dialect {
            Dialect::Sqlite => self.sql.push('?'),
            Dialect::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.args.len().to_string());
            }
        }
        self
    }

    /// Appends the placeholder for the call record JSON (JSONB in PostgreSQL).
    pub(crate) fn bind_json(&mut self, json: String) -> &mut Self {
        let json = match self.dialect {
            Dialect::Postgres => json_without_nul(json),
            Dialect::Sqlite => json,
        };
        self.bind(Value::Text(json));
        if self.dialect == Dialect::Postgres {
            self.sql.push_str("::jsonb");
        }
        self
    }

    /// `haystack contains needle`, written for the dialect.
    pub(crate) fn contains(&mut self, column: &str, needle: &str) -> &mut Self {
        let func = match self.dialect {
            Dialect::Sqlite => "instr(",
            Dialect::Postgres => "strpos(",
        };
        self.push(func).push(column).push(", ");
        self.bind(Value::Text(needle.to_string()));
        self.push(") > 0")
    }
}

/// PostgreSQL text cannot hold NUL (and JSONB refuses `\u0000`); a NUL can only come
/// from a misbehaving peer, and refusing the whole record would block the writer on it
/// forever, so it is dropped.
fn without_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

/// [`without_nul`] for the strings inside a JSON document.
fn json_without_nul(json: String) -> String {
    if !json.contains("\\u0000") {
        return json;
    }
    fn clean(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = without_nul(std::mem::take(s)),
            serde_json::Value::Array(a) => a.iter_mut().for_each(clean),
            serde_json::Value::Object(o) => {
                let entries: Vec<_> = std::mem::take(o).into_iter().collect();
                for (k, mut v) in entries {
                    clean(&mut v);
                    o.insert(without_nul(k), v);
                }
            }
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(&json) {
        Ok(mut v) => {
            clean(&mut v);
            v.to_string()
        }
        Err(_) => json,
    }
}

/// The record column as text, whatever its stored type.
pub(crate) fn record_column(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "record",
        Dialect::Postgres => "record::text",
    }
}

/// Binds a statement's values onto an sqlx query of either database. A macro because the
/// two `Query` types share no trait that offers `bind` for our value types.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::sql::Value::Text(v) => query.bind(v.as_str()),
                $crate::sql::Value::OptText(v) => query.bind(v.as_deref()),
                $crate::sql::Value::Int(v) => query.bind(*v),
                $crate::sql::Value::OptInt(v) => query.bind(*v),
            };
        }
        query
    }};
}
pub(crate) use bind_all;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let mut s = Statement::new(Dialect::Postgres, "SELECT ");
        s.bind(Value::Int(1)).push(", ");
        s.contains("a", "x");
        assert_eq!(s.sql, "SELECT $1, strpos(a, $2) > 0");
        let mut s = Statement::new(Dialect::Sqlite, "SELECT ");
        s.bind(Value::Int(1)).push(", ");
        s.contains("a", "x");
        assert_eq!(s.sql, "SELECT ?, instr(a, ?) > 0");
    }

    #[test]
    fn postgres_never_sees_nul() {
        let mut s = Statement::new(Dialect::Postgres, "");
        s.bind(Value::Text("a\0b".into()));
        s.bind_json(serde_json::json!({"k\u{0}": ["x\u{0}y", 1]}).to_string());
        assert!(matches!(&s.args[0], Value::Text(t) if t == "ab"));
        assert!(matches!(&s.args[1], Value::Text(t) if t == r#"{"k":["xy",1]}"#));
    }
}
