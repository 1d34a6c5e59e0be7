//! Turning generated tokens into a formatted, stable Rust file.

use anyhow::{Context, Result};
use proc_macro2::TokenStream;
use syn::visit_mut::VisitMut;

/// Parses `tokens` as a file and prints it with prettyplease, one item per
/// paragraph. The result is formatted again by rustfmt before it is written.
pub fn render(tokens: TokenStream) -> Result<String> {
    let mut file: syn::File = syn::parse2(tokens).context("generated code does not parse")?;
    OneLineDocs.visit_file_mut(&mut file);
    progenitor_impl::space_out_items(prettyplease::unparse(&file))
        .map_err(|err| anyhow::anyhow!("spacing out items: {err}"))
}

/// Splits every multi-line `#[doc = "..."]` into one attribute per line.
///
/// prettyplease prints a multi-line doc string as an indented `/** */` block,
/// and rustdoc then reads each indented paragraph as a code block, which
/// becomes a failing doctest. One `///` line per line of text avoids both.
struct OneLineDocs;

impl VisitMut for OneLineDocs {
    fn visit_attributes_mut(&mut self, attrs: &mut Vec<syn::Attribute>) {
        let mut out = Vec::with_capacity(attrs.len());
        for attr in attrs.drain(..) {
            match doc_text(&attr) {
                Some(text) if text.contains('\n') => {
                    for line in text.trim_end().lines() {
                        let line = format!(" {}", line.trim());
                        out.push(syn::parse_quote!(#[doc = #line]));
                    }
                }
                _ => out.push(attr),
            }
        }
        *attrs = out;
    }
}

fn doc_text(attr: &syn::Attribute) -> Option<String> {
    if !attr.path().is_ident("doc") {
        return None;
    }
    let syn::Meta::NameValue(meta) = &attr.meta else {
        return None;
    };
    match &meta.value {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => Some(text.value()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn multi_line_docs_become_one_line_each() {
        let rendered = render(quote! {
            #[doc = "Title\n\n     Indented paragraph."]
            pub fn f() {}
        })
        .expect("renders");
        assert!(
            rendered.contains("/// Title\n///\n/// Indented paragraph.\npub fn f() {}"),
            "{rendered}"
        );
    }
}
