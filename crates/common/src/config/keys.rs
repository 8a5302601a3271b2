//! How a configuration key is declared: its section, name, type, default and what it does.
//! Each crate declares the keys of the sections it owns, once, in its `config` module
//! (`KEYS`, beside the typed section it reads from them; this crate's are the
//! process-wide ones, [`super::process`]); the binary gathers them into one [`Declared`]
//! list. The loader takes defaults and the typing of `LAKEHOUSE_<SECTION>_<KEY>`
//! overrides from it and warns about any key not in it; `lakehouse config` prints every key
//! from it, and docs/configuration.md is [`Declared::reference`] (a test fails when the
//! two differ).

/// How a key's value is written: in the file, and in its environment override.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string (a bind, a URL, a path, a duration such as `"30s"`).
    Str,
    /// A non-negative integer.
    Int,
    Bool,
    /// A list of strings; in the environment, comma-separated.
    List,
}

/// A key's value when the file and the environment leave it unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    Str(&'static str),
    Int(u64),
    Bool(bool),
    /// An empty list.
    Empty,
    /// Unset: the feature is off, or the value comes from elsewhere (the doc says where).
    Unset,
    /// Worked out when the configuration loads, as the text says.
    Computed(&'static str),
}

/// One configuration key.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    pub default: Default,
    /// A secret: never shown, by `lakehouse config` or in an error.
    pub secret: bool,
    /// What it does, one line of Markdown.
    pub doc: &'static str,
}

impl Key {
    /// The environment variable that overrides it.
    pub fn env_var(&self) -> String {
        format!(
            "LAKEHOUSE_{}_{}",
            self.section.to_uppercase(),
            self.name.to_uppercase()
        )
    }
}

pub const fn key(
    section: &'static str,
    name: &'static str,
    kind: Kind,
    default: Default,
    doc: &'static str,
) -> Key {
    Key {
        section,
        name,
        kind,
        default,
        secret: false,
        doc,
    }
}

/// A secret string key: never shown, by `lakehouse config` or in an error.
pub const fn secret(section: &'static str, name: &'static str, doc: &'static str) -> Key {
    Key {
        secret: true,
        ..key(section, name, Kind::Str, Default::Unset, doc)
    }
}

/// Every key the loader knows: the declarations of every crate, in the order given (which
/// is the order of `lakehouse config` and of docs/configuration.md).
#[derive(Clone, Debug, Default)]
pub struct Declared(Vec<&'static Key>);

impl Declared {
    pub fn new(parts: &[&'static [Key]]) -> Declared {
        Declared(parts.iter().flat_map(|keys| keys.iter()).collect())
    }

    pub fn keys(&self) -> impl Iterator<Item = &'static Key> + '_ {
        self.0.iter().copied()
    }

    /// The sections, in the order of their first key.
    pub fn sections(&self) -> Vec<&'static str> {
        let mut sections: Vec<&str> = Vec::new();
        for k in &self.0 {
            if !sections.contains(&k.section) {
                sections.push(k.section);
            }
        }
        sections
    }

    /// The declaration of `[section] name`.
    pub fn find(&self, section: &str, name: &str) -> Option<&'static Key> {
        self.keys().find(|k| k.section == section && k.name == name)
    }

    /// `[section]`'s keys.
    pub fn section(&self, section: &str) -> Vec<&'static Key> {
        self.keys().filter(|k| k.section == section).collect()
    }

    /// docs/configuration.md: every key with its default, environment variable and doc line.
    pub fn reference(&self) -> String {
        let mut text = String::from(
            "# Configuration\n\n\
             <!-- Generated from the crates' `config` modules (`KEYS`) by\n     \
             `lakehouse config --reference`; a test fails when this file and the declarations\n     \
             differ. -->\n\n\
             `lakehouse serve --config lakehouse.toml` reads a TOML file (the Go system's loads\n\
             unchanged; [lakehouse.example.toml](lakehouse.example.toml) shows one); without one,\n\
             every key has its default: standalone, data in `./lakehouse-data`, loopback only. A\n\
             `LAKEHOUSE_<SECTION>_<KEY>` environment variable overrides the file (a list is\n\
             comma-separated); a key the loader does not know is ignored with a warning.\n\
             `lakehouse config [--config FILE]` prints the configuration in effect, secrets hidden.\n",
        );
        for section in self.sections() {
            text += &format!(
                "\n## [{section}]\n\n| key | default | what it does |\n| --- | --- | --- |\n"
            );
            for k in self.section(section) {
                text += &format!(
                    "| `{}` | {} | {} |\n",
                    k.name,
                    shown_default(&k.default),
                    k.doc
                );
            }
        }
        text
    }
}

/// How a default reads in the docs.
pub fn shown_default(default: &Default) -> String {
    match default {
        Default::Str(s) => format!("`{s}`"),
        Default::Int(n) => {
            const GIB: u64 = 1 << 30;
            if *n >= GIB && n % GIB == 0 {
                format!("{n} ({} GiB)", n / GIB)
            } else {
                n.to_string()
            }
        }
        Default::Bool(b) => format!("`{b}`"),
        Default::Empty => "`[]`".into(),
        Default::Unset => "unset".into(),
        Default::Computed(how) => (*how).into(),
    }
}
