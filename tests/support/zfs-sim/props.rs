//! The properties the simulator knows: names, column names, widths and the
//! value and source of each on a dataset.

use crate::state::{KeyFormat, Source, State};

/// How `zfs` sizes and aligns a property's column.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Right-aligned, at least 5 wide.
    Number,
    /// Wide enough for every value in the table.
    Index(&'static [&'static str]),
    /// As wide as the longest value.
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Std {
    Type,
    Used,
    Available,
    Referenced,
    Mounted,
    Mountpoint,
    Canmount,
    Name,
    Encryption,
    Keylocation,
    Keyformat,
    Pbkdf2iters,
    Encryptionroot,
    Keystatus,
}

/// In the order `zfs get all` prints them.
pub const ALL: &[Std] = &[
    Std::Type,
    Std::Used,
    Std::Available,
    Std::Referenced,
    Std::Mounted,
    Std::Mountpoint,
    Std::Canmount,
    Std::Encryption,
    Std::Keylocation,
    Std::Keyformat,
    Std::Pbkdf2iters,
    Std::Encryptionroot,
    Std::Keystatus,
];

const ALL_NAMES: &[Std] = &[
    Std::Type,
    Std::Used,
    Std::Available,
    Std::Referenced,
    Std::Mounted,
    Std::Mountpoint,
    Std::Canmount,
    Std::Name,
    Std::Encryption,
    Std::Keylocation,
    Std::Keyformat,
    Std::Pbkdf2iters,
    Std::Encryptionroot,
    Std::Keystatus,
];

impl Std {
    pub fn name(self) -> &'static str {
        match self {
            Std::Type => "type",
            Std::Used => "used",
            Std::Available => "available",
            Std::Referenced => "referenced",
            Std::Mounted => "mounted",
            Std::Mountpoint => "mountpoint",
            Std::Canmount => "canmount",
            Std::Name => "name",
            Std::Encryption => "encryption",
            Std::Keylocation => "keylocation",
            Std::Keyformat => "keyformat",
            Std::Pbkdf2iters => "pbkdf2iters",
            Std::Encryptionroot => "encryptionroot",
            Std::Keystatus => "keystatus",
        }
    }

    pub fn colname(self) -> &'static str {
        match self {
            Std::Type => "TYPE",
            Std::Used => "USED",
            Std::Available => "AVAIL",
            Std::Referenced => "REFER",
            Std::Mounted => "MOUNTED",
            Std::Mountpoint => "MOUNTPOINT",
            Std::Canmount => "CANMOUNT",
            Std::Name => "NAME",
            Std::Encryption => "ENCRYPTION",
            Std::Keylocation => "KEYLOCATION",
            Std::Keyformat => "KEYFORMAT",
            Std::Pbkdf2iters => "PBKDF2ITERS",
            Std::Encryptionroot => "ENCROOT",
            Std::Keystatus => "KEYSTATUS",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Std::Used | Std::Available | Std::Referenced | Std::Pbkdf2iters => Kind::Number,
            Std::Mounted => Kind::Index(&["yes", "no"]),
            Std::Canmount => Kind::Index(&["on", "off", "noauto"]),
            Std::Keyformat => Kind::Index(&["none", "raw", "hex", "passphrase"]),
            Std::Keystatus => Kind::Index(&["none", "unavailable", "available"]),
            Std::Encryption => Kind::Index(&[
                "on",
                "off",
                "aes-128-ccm",
                "aes-192-ccm",
                "aes-256-ccm",
                "aes-128-gcm",
                "aes-192-gcm",
                "aes-256-gcm",
            ]),
            Std::Type | Std::Mountpoint | Std::Name | Std::Keylocation | Std::Encryptionroot => {
                Kind::Text
            }
        }
    }

    /// The width `zfs` starts a column at, before looking at values.
    pub fn initial_width(self) -> usize {
        let base = self.colname().len();
        match self.kind() {
            Kind::Number => base.max(5),
            Kind::Index(values) => values.iter().map(|v| v.len()).fold(base, usize::max),
            Kind::Text => base,
        }
    }
}

/// A property named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prop {
    Std(Std),
    User(String),
}

impl Prop {
    /// Like `zfs_name_to_prop`: the name, or the column name in any case
    /// (so `encroot` is `encryptionroot`); user properties contain `:`.
    pub fn parse(s: &str) -> Option<Prop> {
        if let Some(p) = ALL_NAMES
            .iter()
            .find(|p| p.name() == s || p.colname().eq_ignore_ascii_case(s))
        {
            return Some(Prop::Std(*p));
        }
        let user_ok = s.contains(':')
            && s.len() <= 256
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.:".contains(&b))
            && !s.starts_with(':');
        user_ok.then(|| Prop::User(s.to_owned()))
    }

    pub fn name(&self) -> &str {
        match self {
            Prop::Std(p) => p.name(),
            Prop::User(s) => s,
        }
    }

    pub fn header(&self) -> String {
        match self {
            Prop::Std(p) => p.colname().to_owned(),
            Prop::User(s) => s.to_ascii_uppercase(),
        }
    }

    pub fn initial_width(&self) -> usize {
        match self {
            Prop::Std(p) => p.initial_width(),
            Prop::User(s) => s.len(),
        }
    }

    pub fn right_aligned(&self) -> bool {
        matches!(self, Prop::Std(p) if p.kind() == Kind::Number)
    }
}

/// The value and source of `prop` on dataset `ds`; `None` where zfs has no
/// value (printed as `-` with source `-`).
pub fn value(state: &State, ds: &str, prop: &Prop, literal: bool) -> Option<(String, Source)> {
    let p = match prop {
        Prop::User(u) => return state.user_prop(ds, u),
        Prop::Std(p) => *p,
    };
    let crypt = state.crypt_of(ds);
    let is_root = state.encryption_root(ds) == Some(ds);
    let none = |v: &str| Some((v.to_owned(), Source::None));
    let default = |v: &str| Some((v.to_owned(), Source::Default));
    match p {
        Std::Name => none(ds),
        Std::Type => none("filesystem"),
        Std::Used => none(if literal { "196608" } else { "192K" }),
        Std::Available => none(if literal { "1879048192" } else { "1.75G" }),
        Std::Referenced => none(if literal { "98304" } else { "96K" }),
        Std::Mounted => none(if state.is_mounted(ds) { "yes" } else { "no" }),
        Std::Mountpoint => Some(state.mountpoint(ds)),
        Std::Canmount => Some(state.canmount(ds)),
        Std::Encryption => match crypt {
            Some(c) => none(&c.encryption),
            None => default("off"),
        },
        Std::Keylocation => match crypt {
            Some(c) if is_root => Some((c.keylocation.clone(), Source::Local)),
            _ => default("none"),
        },
        Std::Keyformat => match crypt {
            Some(c) => none(c.keyformat.as_str()),
            None => default("none"),
        },
        Std::Pbkdf2iters => match crypt {
            Some(c) if c.keyformat == KeyFormat::Passphrase => none(&c.pbkdf2iters.to_string()),
            _ => default("0"),
        },
        Std::Encryptionroot => state.encryption_root(ds).and_then(none),
        Std::Keystatus => match crypt {
            Some(c) => none(if c.loaded { "available" } else { "unavailable" }),
            None => None,
        },
    }
}

/// Parses a comma-separated property list; `Err(bad)` names the first
/// invalid entry (an empty entry included).
pub fn parse_list(s: &str) -> Result<Vec<Prop>, String> {
    s.split(',')
        .map(|p| Prop::parse(p).ok_or_else(|| p.to_owned()))
        .collect()
}
