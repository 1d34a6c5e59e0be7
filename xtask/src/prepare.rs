//! The preparation transforms that run on the spec before a generator sees it.
//!
//! Each transform is a pure function from one document to another, works
//! around one generator limit, and is named in the header of every file it
//! shaped.

use std::collections::{BTreeMap, BTreeSet};

use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, StatusCode, Type};

use crate::spec;

/// One named transform.
#[derive(Clone, Copy)]
pub struct Transform {
    /// The name written in generated headers.
    pub name: &'static str,
    /// What it does to the document.
    pub apply: fn(&mut OpenAPI),
}

/// *readOnly split*: typify ignores `readOnly`, so every schema with readOnly
/// properties that a request body uses gets a `<Name>Request` twin without
/// them, and request-only schemas refer to the twin.
pub const READ_ONLY_SPLIT: Transform = Transform {
    name: "readOnly split",
    apply: read_only_split,
};

/// *request defaults*: the server applies a request `default` only on create;
/// a client that filled it in would overwrite stored values on update.
pub const REQUEST_DEFAULTS: Transform = Transform {
    name: "request defaults",
    apply: strip_request_defaults,
};

/// *client media type*: progenitor handles one request media type, so the
/// client keeps `application/json`.
pub const CLIENT_MEDIA_TYPE: Transform = Transform {
    name: "client media type",
    apply: json_request_bodies_only,
};

/// *error union*: progenitor needs one error type per operation, so error
/// responses with different schemas are given one `oneOf` of them.
pub const ERROR_UNION: Transform = Transform {
    name: "error union",
    apply: union_error_responses,
};

/// The transforms behind the server-trait crate.
pub const SERVER: &[Transform] = &[READ_ONLY_SPLIT];

/// The transforms behind the client crate.
pub const CLIENT: &[Transform] = &[
    READ_ONLY_SPLIT,
    REQUEST_DEFAULTS,
    CLIENT_MEDIA_TYPE,
    ERROR_UNION,
];

/// Applies `transforms` in order to a copy of `spec`.
pub fn prepare(spec: &OpenAPI, transforms: &[Transform]) -> OpenAPI {
    let mut spec = spec.clone();
    for transform in transforms {
        (transform.apply)(&mut spec);
    }
    spec
}

/// The names of `transforms`, for generated headers.
pub fn names(transforms: &[Transform]) -> String {
    transforms
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The suffix of a request twin.
pub const REQUEST_SUFFIX: &str = "Request";

fn has_read_only_properties(schema: &Schema) -> bool {
    match &schema.schema_kind {
        SchemaKind::Type(Type::Object(object)) => {
            object.properties.values().any(|property| match property {
                ReferenceOr::Item(p) => p.schema_data.read_only,
                ReferenceOr::Reference { .. } => false,
            })
        }
        _ => false,
    }
}

fn without_read_only(schema: &Schema) -> Schema {
    let mut twin = schema.clone();
    if let SchemaKind::Type(Type::Object(object)) = &mut twin.schema_kind {
        let read_only: BTreeSet<String> = object
            .properties
            .iter()
            .filter(|(_, p)| matches!(p, ReferenceOr::Item(p) if p.schema_data.read_only))
            .map(|(name, _)| name.clone())
            .collect();
        object
            .properties
            .retain(|name, _| !read_only.contains(name));
        object.required.retain(|name| !read_only.contains(name));
    }
    twin
}

fn read_only_split(spec: &mut OpenAPI) {
    let request_roots = spec::request_roots(spec);
    let request_side = spec::reachable(spec, request_roots);
    let response_side = spec::reachable(spec, spec::response_roots(spec));
    let schemas = spec::component_schemas(spec);
    let twins: BTreeMap<String, String> = request_side
        .iter()
        .filter(|name| schemas.get(*name).is_some_and(has_read_only_properties))
        .map(|name| (name.clone(), format!("{name}{REQUEST_SUFFIX}")))
        .collect();
    if twins.is_empty() {
        return;
    }
    let mut rewrite = |reference: &mut String| {
        let twin = spec::ref_name(reference).and_then(|name| twins.get(name));
        if let Some(twin) = twin {
            *reference = spec::schema_ref(twin);
        }
    };
    let Some(components) = spec.components.as_mut() else {
        return;
    };
    for (original, twin) in &twins {
        let mut schema = without_read_only(&schemas[original]);
        spec::for_each_ref_mut(&mut schema, &mut rewrite);
        components
            .schemas
            .insert(twin.clone(), ReferenceOr::Item(schema));
    }
    // A schema used by responses too keeps pointing at the full types.
    for name in request_side.difference(&response_side) {
        if let Some(ReferenceOr::Item(schema)) = components.schemas.get_mut(name) {
            spec::for_each_ref_mut(schema, &mut rewrite);
        }
    }
    for op in spec::operations_mut(spec) {
        if let Some(ReferenceOr::Item(body)) = op.request_body.as_mut() {
            for media in body.content.values_mut() {
                if let Some(ReferenceOr::Reference { reference }) = media.schema.as_mut() {
                    rewrite(reference);
                }
            }
        }
    }
}

fn strip_request_defaults(spec: &mut OpenAPI) {
    let request_side = spec::reachable(spec, spec::request_roots(spec));
    let response_side = spec::reachable(spec, spec::response_roots(spec));
    let Some(components) = spec.components.as_mut() else {
        return;
    };
    for name in request_side.difference(&response_side) {
        let Some(ReferenceOr::Item(schema)) = components.schemas.get_mut(name) else {
            continue;
        };
        schema.schema_data.default = None;
        if let SchemaKind::Type(Type::Object(object)) = &mut schema.schema_kind {
            for property in object.properties.values_mut() {
                if let ReferenceOr::Item(property) = property {
                    property.schema_data.default = None;
                }
            }
        }
    }
}

const JSON: &str = "application/json";

fn json_request_bodies_only(spec: &mut OpenAPI) {
    for op in spec::operations_mut(spec) {
        if let Some(ReferenceOr::Item(body)) = op.request_body.as_mut() {
            if body.content.contains_key(JSON) {
                body.content.retain(|media_type, _| media_type == JSON);
            }
        }
    }
}

fn is_error(status: &StatusCode) -> bool {
    match status {
        StatusCode::Code(code) => *code >= 400,
        StatusCode::Range(range) => *range >= 4,
    }
}

fn union_error_responses(spec: &mut OpenAPI) {
    let mut unions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for op in spec::operations_mut(spec) {
        let mut names: BTreeSet<String> = BTreeSet::new();
        let error_media = op
            .responses
            .responses
            .iter_mut()
            .filter(|(status, _)| is_error(status))
            .filter_map(|(_, response)| match response {
                ReferenceOr::Item(response) => Some(response),
                ReferenceOr::Reference { .. } => None,
            })
            .flat_map(|response| response.content.values_mut())
            .collect::<Vec<_>>();
        for media in &error_media {
            if let Some(ReferenceOr::Reference { reference }) = &media.schema {
                names.extend(spec::ref_name(reference).map(str::to_owned));
            }
        }
        if names.len() < 2 {
            continue;
        }
        let union = names.iter().cloned().collect::<Vec<_>>().join("Or");
        for media in error_media {
            if let Some(ReferenceOr::Reference { reference }) = media.schema.as_mut() {
                *reference = spec::schema_ref(&union);
            }
        }
        unions.insert(union, names.into_iter().collect());
    }
    let Some(components) = spec.components.as_mut() else {
        return;
    };
    for (union, members) in unions {
        let one_of = members
            .iter()
            .map(|name| ReferenceOr::Reference {
                reference: spec::schema_ref(name),
            })
            .collect();
        let schema = Schema {
            schema_data: openapiv3::SchemaData {
                description: Some(format!("Any error body: {}.", members.join(" or "))),
                ..Default::default()
            },
            schema_kind: SchemaKind::OneOf { one_of },
        };
        components.schemas.insert(union, ReferenceOr::Item(schema));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /things:
    post:
      operationId: makeThing
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ThingEdit'}
          multipart/form-data:
            schema: {$ref: '#/components/schemas/ThingEdit'}
      responses:
        '201':
          description: ''
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
        '400':
          description: ''
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Invalid'}
        '401':
          description: ''
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Detail'}
components:
  schemas:
    ThingEdit:
      type: object
      properties:
        source: {type: string, default: website}
        flag: {type: boolean, default: false}
        tags:
          type: array
          items: {$ref: '#/components/schemas/Tag'}
    Thing:
      type: object
      properties:
        source: {type: string, default: website}
        tags:
          type: array
          items: {$ref: '#/components/schemas/Tag'}
    Tag:
      type: object
      properties:
        id: {type: integer, readOnly: true}
        name: {type: string, maxLength: 100}
      required: [id, name]
    Invalid: {type: object}
    Detail: {type: object, properties: {detail: {type: string}}}
"##;

    fn spec() -> OpenAPI {
        spec::parse(SPEC).expect("test spec parses")
    }

    fn schema<'a>(spec: &'a OpenAPI, name: &str) -> &'a Schema {
        match &spec.components.as_ref().expect("components").schemas[name] {
            ReferenceOr::Item(schema) => schema,
            ReferenceOr::Reference { .. } => panic!("{name} is a reference"),
        }
    }

    fn object(schema: &Schema) -> &openapiv3::ObjectType {
        match &schema.schema_kind {
            SchemaKind::Type(Type::Object(object)) => object,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn items_ref(schema: &Schema, property: &str) -> String {
        let ReferenceOr::Item(tags) = &object(schema).properties[property] else {
            panic!("inline property expected");
        };
        match &tags.schema_kind {
            SchemaKind::Type(Type::Array(array)) => match &array.items {
                Some(ReferenceOr::Reference { reference }) => reference.clone(),
                other => panic!("unexpected items {other:?}"),
            },
            other => panic!("not an array: {other:?}"),
        }
    }

    #[test]
    fn read_only_split_makes_a_request_twin_and_rewires_request_schemas() {
        let prepared = prepare(&spec(), &[READ_ONLY_SPLIT]);
        let twin = object(schema(&prepared, "TagRequest"));
        assert_eq!(twin.properties.keys().collect::<Vec<_>>(), ["name"]);
        assert_eq!(twin.required, ["name"]);
        assert_eq!(
            items_ref(schema(&prepared, "ThingEdit"), "tags"),
            "#/components/schemas/TagRequest"
        );
        // The response side still sees the full tag, with its id.
        assert_eq!(
            items_ref(schema(&prepared, "Thing"), "tags"),
            "#/components/schemas/Tag"
        );
        assert_eq!(object(schema(&prepared, "Tag")).required, ["id", "name"]);
    }

    #[test]
    fn request_defaults_are_removed_from_request_schemas_only() {
        let prepared = prepare(&spec(), &[REQUEST_DEFAULTS]);
        let default_of =
            |schema_name: &str, property: &str| match &object(schema(&prepared, schema_name))
                .properties[property]
            {
                ReferenceOr::Item(p) => p.schema_data.default.clone(),
                ReferenceOr::Reference { .. } => None,
            };
        assert_eq!(default_of("ThingEdit", "source"), None);
        assert_eq!(default_of("ThingEdit", "flag"), None);
        assert_eq!(default_of("Thing", "source"), Some("website".into()));
    }

    #[test]
    fn client_media_type_keeps_json_only() {
        let prepared = prepare(&spec(), &[CLIENT_MEDIA_TYPE]);
        let (_, _, op) = spec::operations(&prepared)[0];
        let body = spec::request_body(op).expect("inline body");
        assert_eq!(
            body.content.keys().collect::<Vec<_>>(),
            ["application/json"]
        );
    }

    #[test]
    fn error_union_gives_one_error_schema_per_operation() {
        let prepared = prepare(&spec(), &[ERROR_UNION]);
        let (_, _, op) = spec::operations(&prepared)[0];
        for (status, response) in spec::responses(op) {
            let Some(ReferenceOr::Reference { reference }) =
                &response.content["application/json"].schema
            else {
                panic!("reference expected");
            };
            let expected = if status >= 400 {
                "DetailOrInvalid"
            } else {
                "Thing"
            };
            assert_eq!(reference, &spec::schema_ref(expected), "status {status}");
        }
        let union = schema(&prepared, "DetailOrInvalid");
        let SchemaKind::OneOf { one_of } = &union.schema_kind else {
            panic!("oneOf expected");
        };
        assert_eq!(one_of.len(), 2);
    }

    #[test]
    fn transforms_are_pure() {
        let original = spec();
        let before = serde_json::to_string(&original).expect("serialise");
        let once = prepare(&original, CLIENT);
        let twice = prepare(&original, CLIENT);
        assert_eq!(serde_json::to_string(&original).expect("serialise"), before);
        assert_eq!(once, twice);
    }
}
