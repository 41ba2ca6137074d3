//! The Prometheus text exposition format (version 0.0.4), written out:
//! each metric family gets its `# HELP` and `# TYPE` lines, then one sample
//! line per label value.
//!
//! Pure: it formats numbers it is given into a `String`, and knows nothing
//! of sockets or of which metrics pop3d has (that list is in
//! [`super::render`]).

use std::fmt::{Display, Write as _};

use crate::shared::stats::{Family, Label};

/// The `Content-Type` of a scrape in this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family is, as its `# TYPE` line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only ever goes up (until the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl MetricType {
    fn name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
        }
    }
}

/// A scrape being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// A family with one sample and no labels.
    pub fn single(&mut self, name: &str, kind: MetricType, help: &str, value: impl Display) {
        self.header(name, kind, help);
        let _ = writeln!(self.text, "{name} {value}");
    }

    /// A family with one sample per value of `L`, labelled `key="value"`;
    /// every value is written, zero or not, so a series never appears out
    /// of nowhere.
    pub fn family<L: Label>(&mut self, name: &str, kind: MetricType, help: &str, key: &str, family: &Family<L>) {
        self.labelled(name, kind, help, key, family.values().map(|(label, count)| (label.name(), count)));
    }

    /// A family with one sample per `(label value, sample)`.
    pub fn labelled<V: Display>(
        &mut self,
        name: &str,
        kind: MetricType,
        help: &str,
        key: &str,
        samples: impl IntoIterator<Item = (&'static str, V)>,
    ) {
        self.header(name, kind, help);
        for (label, value) in samples {
            let _ = writeln!(self.text, "{name}{{{key}=\"{}\"}} {value}", escape_label_value(label));
        }
    }

    fn header(&mut self, name: &str, kind: MetricType, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.name());
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

/// HELP text escapes `\` and line feeds.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value also escapes `"`.
fn escape_label_value(text: &str) -> String {
    escape_help(text).replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::stats::LoginResult;

    #[test]
    fn families_have_help_type_and_every_label_value() {
        let logins = Family::<LoginResult>::default();
        logins.add(LoginResult::Failure, 3);
        let mut exposition = Exposition::default();
        exposition.family("pop3d_logins_total", MetricType::Counter, "POP3 logins.", "result", &logins);
        exposition.single("pop3d_uptime_seconds", MetricType::Gauge, "Seconds since start.", 12.5);
        assert_eq!(
            exposition.into_text(),
            "# HELP pop3d_logins_total POP3 logins.\n\
             # TYPE pop3d_logins_total counter\n\
             pop3d_logins_total{result=\"success\"} 0\n\
             pop3d_logins_total{result=\"failure\"} 3\n\
             # HELP pop3d_uptime_seconds Seconds since start.\n\
             # TYPE pop3d_uptime_seconds gauge\n\
             pop3d_uptime_seconds 12.5\n"
        );
    }

    #[test]
    fn help_and_label_values_are_escaped() {
        let mut exposition = Exposition::default();
        exposition.labelled("m", MetricType::Gauge, "a \\ b\nc", "k", [("say \"hi\"\n", 1)]);
        assert_eq!(exposition.into_text(), "# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm{k=\"say \\\"hi\\\"\\n\"} 1\n");
    }
}
