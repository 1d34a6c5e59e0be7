//! A request field that can be absent, `null`, or set.

/// A nullable request field, keeping apart "not sent", "sent as `null`" and
/// "sent with a value".
///
/// A partial update needs all three: an absent field keeps the stored value,
/// `null` clears it, and a value replaces it.
///
/// ```
/// use hilos_api::Patch;
///
/// let name: Patch<String> = Patch::Value("Ana".into());
/// assert_eq!(name.as_ref().value(), Some(&"Ana".to_string()));
/// assert!(Patch::<String>::Null.is_present());
/// assert!(!Patch::<String>::Absent.is_present());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// The field was not in the request.
    #[default]
    Absent,
    /// The field was sent as `null`.
    Null,
    /// The field was sent with a value.
    Value(T),
}

impl<T> Patch<T> {
    /// Whether the field was in the request at all, as `null` or a value.
    pub fn is_present(&self) -> bool {
        !matches!(self, Patch::Absent)
    }

    /// The value, if one was sent.
    pub fn value(self) -> Option<T> {
        match self {
            Patch::Value(v) => Some(v),
            Patch::Absent | Patch::Null => None,
        }
    }

    /// Borrows the value inside.
    pub fn as_ref(&self) -> Patch<&T> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(v),
        }
    }

    /// Maps the value inside, keeping `Absent` and `Null` as they are.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => Patch::Value(f(v)),
        }
    }
}
