//! Derived values: a column filled from the row's other cells by a template
//! (`"{first_name}.{last_name}|slug"`), where the row's own cell is empty or
//! the file has no such column. Pure: parsing and rendering, no I/O.

use super::columns::Column;
use crate::suggest::did_you_mean;

/// What a placeholder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A column's value.
    Cell(Column),
    /// `email.local`: the e-mail before its `@`.
    EmailLocal,
    /// `email.domain`: the e-mail after its `@`.
    EmailDomain,
}

impl Source {
    fn parse(name: &str) -> Result<Source, String> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("email.local") {
            return Ok(Source::EmailLocal);
        }
        if name.eq_ignore_ascii_case("email.domain") {
            return Ok(Source::EmailDomain);
        }
        match Column::from_header(name) {
            Some(Column::Password) => {
                Err("{password} cannot be read by a template: a password is never copied".into())
            }
            Some(col) => Ok(Source::Cell(col)),
            None => {
                let known = Column::ALL
                    .iter()
                    .map(|c| c.name())
                    .chain(["email.local", "email.domain"]);
                Err(format!(
                    "{{{name}}} names no column{}; a placeholder names an import column (after \
                     --column mapping), email.local or email.domain",
                    did_you_mean(name, known)
                ))
            }
        }
    }

    /// The column the placeholder needs in the file.
    pub(crate) fn column(self) -> Column {
        match self {
            Source::Cell(c) => c,
            Source::EmailLocal | Source::EmailDomain => Column::Email,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Source::Cell(c) => c.name(),
            Source::EmailLocal => "email.local",
            Source::EmailDomain => "email.domain",
        }
    }
}

/// A filter applied to the whole text, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    Lower,
    Upper,
    /// Folded to ASCII (`Zoë Núñez` → `Zoe Nunez`).
    Ascii,
    /// ASCII, lower case, and only what a username may hold.
    Slug,
}

impl Filter {
    const NAMES: [&'static str; 4] = ["lower", "upper", "ascii", "slug"];

    fn parse(name: &str) -> Result<Filter, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "lower" => Ok(Filter::Lower),
            "upper" => Ok(Filter::Upper),
            "ascii" => Ok(Filter::Ascii),
            "slug" => Ok(Filter::Slug),
            "" => Err("a \"|\" is followed by no filter".into()),
            other => Err(format!(
                "\"{other}\" is not a filter{}; the filters are lower, upper, ascii and slug",
                did_you_mean(other, Filter::NAMES)
            )),
        }
    }

    fn apply(self, text: &str) -> String {
        match self {
            Filter::Lower => text.to_lowercase(),
            Filter::Upper => text.to_uppercase(),
            Filter::Ascii => deunicode::deunicode(text),
            Filter::Slug => deunicode::deunicode(text)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .map(|c| c.to_ascii_lowercase())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(Source),
}

/// A parsed template: literal text and placeholders, then filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    /// As written, for messages.
    pub(crate) source: String,
    parts: Vec<Part>,
    filters: Vec<Filter>,
}

/// Why a template gives no value for a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Underivable {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("email \"{0}\" has no \"@\" to split at")]
    NoAt(String),
    #[error("the result is empty")]
    Nothing,
}

impl Template {
    /// `text {column} text|filter|filter`. A `|` outside braces starts the
    /// filters; braces do not nest.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = split_filters(text)?.into_iter();
        let body = pieces.next().unwrap_or_default();
        let filters = pieces
            .map(|f| Filter::parse(&f))
            .collect::<Result<Vec<_>, _>>()?;
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    parts.push(Part::Text(rest.to_owned()));
                    rest = "";
                }
                Some(i) if rest[i..].starts_with('}') => {
                    return Err("a \"}\" closes no \"{\"".into());
                }
                Some(i) => {
                    if i > 0 {
                        parts.push(Part::Text(rest[..i].to_owned()));
                    }
                    let after = &rest[i + 1..];
                    let end = after
                        .find('}')
                        .ok_or("a \"{\" is never closed by a \"}\"")?;
                    let name = &after[..end];
                    if name.contains('{') {
                        return Err("a \"{\" opens inside a placeholder".into());
                    }
                    parts.push(Part::Placeholder(Source::parse(name)?));
                    rest = &after[end + 1..];
                }
            }
        }
        if !parts.iter().any(|p| matches!(p, Part::Placeholder(_))) {
            return Err(
                "it has no {placeholder}: every row would get the same value; name a column, \
                 e.g. {email.local}"
                    .into(),
            );
        }
        Ok(Template {
            source: text.trim().to_owned(),
            parts,
            filters,
        })
    }

    /// The columns the template reads.
    pub(crate) fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(s) => Some(*s),
            Part::Text(_) => None,
        })
    }

    /// The value for a row whose cells `get` gives (trimmed). A
    /// placeholder with nothing to read gives no value.
    pub(crate) fn render<'a>(
        &self,
        get: impl Fn(Column) -> &'a str,
    ) -> Result<String, Underivable> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Placeholder(source) => out.push_str(read(*source, &get)?),
            }
        }
        let out = self
            .filters
            .iter()
            .fold(out, |text, filter| filter.apply(&text));
        let out = out.trim();
        if out.is_empty() {
            return Err(Underivable::Nothing);
        }
        Ok(out.to_owned())
    }
}

fn read<'a>(source: Source, get: &impl Fn(Column) -> &'a str) -> Result<&'a str, Underivable> {
    let value = get(source.column());
    if value.is_empty() {
        return Err(Underivable::Empty(source.column().name()));
    }
    let split = || {
        value
            .rsplit_once('@')
            .ok_or_else(|| Underivable::NoAt(value.to_owned()))
    };
    let part = match source {
        Source::Cell(_) => value,
        Source::EmailLocal => split()?.0,
        Source::EmailDomain => split()?.1,
    };
    if part.is_empty() {
        return Err(Underivable::Empty(source.name()));
    }
    Ok(part)
}

/// The template's text, then each filter's name: split at the `|` outside braces.
fn split_filters(text: &str) -> Result<Vec<String>, String> {
    let mut pieces = vec![String::new()];
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => {
                pieces.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = pieces.last_mut() {
            last.push(c);
        }
    }
    if pieces[0].trim().is_empty() {
        return Err("the template is empty".into());
    }
    Ok(pieces)
}

/// One `column=template` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) column: Column,
    pub(crate) template: Template,
}

impl Rule {
    /// `username={email.local}` (the command line's form).
    pub(crate) fn parse_arg(arg: &str) -> Result<Rule, String> {
        let (column, template) = arg.split_once('=').ok_or_else(|| {
            format!(
                "--derive \"{arg}\" has no \"=\": write COLUMN=TEMPLATE, e.g. \
                 --derive 'username={{email.local}}'"
            )
        })?;
        Rule::new(column, template).map_err(|e| format!("--derive \"{arg}\": {e}"))
    }

    /// A rule from its column's name and its template's text.
    pub(crate) fn new(column: &str, template: &str) -> Result<Rule, String> {
        let column = target(column.trim())?;
        let template = Template::parse(template).map_err(|e| format!("the template {e}"))?;
        Ok(Rule { column, template })
    }
}

/// The column a rule fills: any but the password (generated, never derived).
fn target(name: &str) -> Result<Column, String> {
    match Column::from_header(name) {
        Some(Column::Password) => Err(
            "a password is never derived from other cells: --generate-passwords FILE gives each \
             row a random one"
                .into(),
        ),
        Some(c) => Ok(c),
        None => Err(format!(
            "\"{name}\" is not an import column{}",
            did_you_mean(name, Column::ALL.iter().map(|c| c.name()))
        )),
    }
}

/// The rules of a run: at most one per column, none reading another's column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Derivations {
    rules: Vec<Rule>,
}

impl Derivations {
    /// The config's rules, then the command line's, which win for the same column.
    pub(crate) fn build(config: Vec<Rule>, cli: Vec<Rule>) -> Result<Derivations, String> {
        let mut rules = config;
        for (i, rule) in cli.iter().enumerate() {
            if cli[..i].iter().any(|r| r.column == rule.column) {
                return Err(format!(
                    "--derive is given twice for \"{}\"; keep one",
                    rule.column.name()
                ));
            }
        }
        for rule in cli {
            rules.retain(|r| r.column != rule.column);
            rules.push(rule);
        }
        // A value derived from a derived value would depend on the order:
        // each template reads the file's cells only.
        for rule in &rules {
            if let Some(read) = rule
                .template
                .sources()
                .find(|s| rules.iter().any(|r| r.column == s.column()))
            {
                return Err(format!(
                    "the template for \"{}\" (\"{}\") reads {{{}}}, which is derived too; a \
                     template reads the file's own cells: derive {} from those",
                    rule.column.name(),
                    rule.template.source,
                    read.name(),
                    rule.column.name()
                ));
            }
        }
        Ok(Derivations { rules })
    }

    pub(crate) fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(crate) fn rule(&self, column: Column) -> Option<&Rule> {
        self.rules.iter().find(|r| r.column == column)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, cells: &[(Column, &'static str)]) -> Result<String, Underivable> {
        let t = Template::parse(template).unwrap();
        t.render(|c| cells.iter().find(|(k, _)| *k == c).map_or("", |(_, v)| *v))
    }

    fn names(first: &'static str, last: &'static str) -> [(Column, &'static str); 3] {
        [
            (Column::FirstName, first),
            (Column::LastName, last),
            (Column::Email, "ann.obrien@acme.example"),
        ]
    }

    #[test]
    fn ascii_folds_with_deunicode() {
        assert_eq!(
            render("{first_name} {last_name}|ascii", &names("Zoë", "Núñez")).unwrap(),
            "Zoe Nunez"
        );
        assert_eq!(
            render("{first_name}|ascii", &names("Łukasz", "x")).unwrap(),
            "Lukasz"
        );
        assert_eq!(
            render("{last_name}|ascii", &names("x", "Åberg")).unwrap(),
            "Aberg"
        );
    }

    #[test]
    fn slug_keeps_what_a_username_may_hold() {
        assert_eq!(
            render("{last_name}|slug", &names("x", "O'Brien")).unwrap(),
            "obrien"
        );
        assert_eq!(
            render("{first_name}|slug", &names("Ann Marie", "x")).unwrap(),
            "annmarie"
        );
        assert_eq!(
            render(
                "{first_name}.{last_name}|slug",
                &names("Zoë", "Núñez-Åberg")
            )
            .unwrap(),
            "zoe.nunez-aberg"
        );
        assert_eq!(
            render("{first_name}_{last_name}|slug", &names("Łukasz", "D'Arcy")).unwrap(),
            "lukasz_darcy"
        );
    }

    #[test]
    fn lower_upper_and_filters_in_order() {
        assert_eq!(
            render("{first_name}|upper", &names("zoë", "x")).unwrap(),
            "ZOË"
        );
        assert_eq!(
            render("{first_name}|upper|ascii", &names("zoë", "x")).unwrap(),
            "ZOE"
        );
        assert_eq!(
            render("{first_name}|ascii|lower", &names("ZOË", "x")).unwrap(),
            "zoe"
        );
        assert_eq!(
            render("{first_name} | Lower ", &names("ANN", "x")).unwrap(),
            "ann",
            "filter names: any case, spaces around"
        );
    }

    #[test]
    fn email_parts_and_literal_text() {
        let cells = names("x", "y");
        assert_eq!(render("{email.local}", &cells).unwrap(), "ann.obrien");
        assert_eq!(render("{email.domain}", &cells).unwrap(), "acme.example");
        assert_eq!(
            render("ext-{email.local}@{email.domain}", &cells).unwrap(),
            "ext-ann.obrien@acme.example"
        );
        assert_eq!(
            render("{ Email.Local }", &cells).unwrap(),
            "ann.obrien",
            "placeholder names: any case, spaces around"
        );
        assert_eq!(
            render("{email.local}", &[(Column::Email, "a@b@c.io")]).unwrap(),
            "a@b",
            "the domain follows the last @"
        );
    }

    #[test]
    fn a_placeholder_with_nothing_gives_no_value() {
        assert_eq!(
            render("{first_name}.{last_name}|slug", &names("Ann", "")),
            Err(Underivable::Empty("last_name"))
        );
        assert_eq!(
            render("{email.local}", &[(Column::Email, "no-at-sign")]),
            Err(Underivable::NoAt("no-at-sign".into()))
        );
        assert_eq!(
            render("{email.local}", &[(Column::Email, "@acme.example")]),
            Err(Underivable::Empty("email.local"))
        );
        assert_eq!(
            render("{first_name}|slug", &names("!!!", "x")),
            Err(Underivable::Nothing)
        );
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        let err = |t: &str| Template::parse(t).unwrap_err();
        assert!(err("").contains("empty"));
        assert!(err("  |slug").contains("empty"));
        assert!(err("{first_name").contains("never closed"));
        assert!(err("first_name}").contains("closes no"));
        assert!(err("{first_{name}}").contains("inside a placeholder"));
        assert!(err("acme").contains("no {placeholder}"));
        let e = err("{frist_name}");
        assert!(e.contains("did you mean \"first_name\""), "{e}");
        let e = err("{first_name}|slugify");
        assert!(
            e.contains("\"slugify\" is not a filter") && e.contains("\"slug\""),
            "{e}"
        );
        assert!(err("{first_name}|").contains("no filter"));
        assert!(err("{password}").contains("never copied"));
    }

    #[test]
    fn rules_from_the_command_line_and_the_config() {
        let r = Rule::parse_arg("username={email.local}").unwrap();
        assert_eq!(r.column, Column::Username);
        assert_eq!(r.template.source, "{email.local}");
        assert!(
            Rule::parse_arg("username")
                .unwrap_err()
                .contains("has no \"=\"")
        );
        assert!(
            Rule::parse_arg("usernme={email.local}")
                .unwrap_err()
                .contains("did you mean \"username\"")
        );
        assert!(
            Rule::parse_arg("password={email.local}")
                .unwrap_err()
                .contains("--generate-passwords")
        );
        let config = vec![
            Rule::new("username", "{first_name}.{last_name}|slug").unwrap(),
            Rule::new("company_name", "{email.domain}").unwrap(),
        ];
        let cli = vec![Rule::parse_arg("username={email.local}").unwrap()];
        let d = Derivations::build(config, cli).unwrap();
        assert_eq!(d.rules().len(), 2);
        assert_eq!(
            d.rule(Column::Username).unwrap().template.source,
            "{email.local}",
            "the command line wins"
        );
        let twice = vec![
            Rule::parse_arg("username={email.local}").unwrap(),
            Rule::parse_arg("username={first_name}").unwrap(),
        ];
        assert!(
            Derivations::build(vec![], twice)
                .unwrap_err()
                .contains("twice")
        );
        let chained = vec![
            Rule::new("username", "{email.local}").unwrap(),
            Rule::new("email", "{first_name}@acme.example").unwrap(),
        ];
        let e = Derivations::build(chained, vec![]).unwrap_err();
        assert!(
            e.contains("reads {email.local}, which is derived too"),
            "{e}"
        );
    }

    proptest::proptest! {
        /// Any text is a template or a sentence saying why not; never a panic.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,40}") {
            let _ = Template::parse(&text);
        }

        /// A slug is always something a username may hold, whatever the cells.
        #[test]
        fn a_slug_is_a_username(first in "\\PC{0,20}", last in "\\PC{0,20}") {
            let t = Template::parse("{first_name}.{last_name}|slug").unwrap();
            let got = t.render(|c| match c {
                Column::FirstName => first.trim(),
                Column::LastName => last.trim(),
                _ => "",
            });
            if let Ok(v) = got {
                proptest::prop_assert!(
                    v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)),
                    "{v:?}"
                );
            }
        }
    }
}
