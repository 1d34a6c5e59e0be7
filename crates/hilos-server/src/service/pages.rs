//! Page-number pagination, as Django REST Framework's
//! `PageNumberPagination` does it.

/// Page size when the request does not give one.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page size; larger requests are clamped to it.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Which page a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u64,
    /// Items per page.
    pub size: u64,
}

impl PageRequest {
    /// Reads `page` and `page_size`. A missing, zero or negative size is the
    /// default, a larger one is clamped; `None` means the page number is below
    /// 1, which is an invalid page.
    pub fn new(page: Option<i64>, page_size: Option<i64>) -> Option<Self> {
        let size = match page_size {
            Some(size) if size > 0 => (size as u64).min(MAX_PAGE_SIZE),
            _ => DEFAULT_PAGE_SIZE,
        };
        let page = page.unwrap_or(1);
        (page >= 1).then_some(Self {
            page: page as u64,
            size,
        })
    }

    /// Rows to skip.
    pub fn offset(self) -> u64 {
        (self.page - 1).saturating_mul(self.size)
    }

    /// Whether this page exists among `count` items. The first page always
    /// does, even when there is nothing to show.
    pub fn exists(self, count: u64) -> bool {
        self.page == 1 || self.offset() < count
    }

    /// Whether a later page exists.
    pub fn has_next(self, count: u64) -> bool {
        self.page.saturating_mul(self.size) < count
    }
}

/// The absolute URL of another page of the same listing: the query keeps
/// its other parameters, sorted by name as upstream's links are, and page 1
/// is written without `page`.
pub fn page_link(base: &str, params: &[(&str, Option<String>)], page: u64) -> String {
    let mut pairs: Vec<(&str, String)> = params
        .iter()
        .filter(|(name, _)| *name != "page")
        .filter_map(|(name, value)| value.clone().map(|v| (*name, v)))
        .collect();
    if page > 1 {
        pairs.push(("page", page.to_string()));
    }
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    if pairs.is_empty() {
        return base.to_owned();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_and_clamp() {
        assert_eq!(
            PageRequest::new(None, None),
            Some(PageRequest { page: 1, size: 20 })
        );
        assert_eq!(
            PageRequest::new(Some(3), Some(500)).map(|p| p.size),
            Some(100)
        );
        assert_eq!(PageRequest::new(None, Some(0)).map(|p| p.size), Some(20));
        assert_eq!(PageRequest::new(Some(0), None), None);
        assert_eq!(PageRequest::new(Some(-2), None), None);
    }

    #[test]
    fn pages_exist_up_to_the_last() {
        let page = |n| PageRequest { page: n, size: 10 };
        assert!(page(1).exists(0));
        assert!(page(3).exists(21));
        assert!(!page(3).exists(20));
        assert!(page(2).has_next(21));
        assert!(!page(3).has_next(21));
    }

    #[test]
    fn links_keep_other_parameters_sorted() {
        let params = [
            ("search", Some("ana ruiz".to_owned())),
            ("page_size", Some("5".to_owned())),
            ("page", Some("2".to_owned())),
        ];
        assert_eq!(
            page_link("http://h/api/contact", &params, 3),
            "http://h/api/contact?page=3&page_size=5&search=ana+ruiz"
        );
        assert_eq!(
            page_link("http://h/api/contact", &params, 1),
            "http://h/api/contact?page_size=5&search=ana+ruiz"
        );
        assert_eq!(
            page_link("http://h/api/contact", &[], 1),
            "http://h/api/contact"
        );
    }
}
