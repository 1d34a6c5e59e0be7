//! A small model of the spec's component schemas: just what the generator
//! supports, with a clear error for anything else.

use anyhow::{bail, Result};
use openapiv3::{
    AdditionalProperties, OpenAPI, ReferenceOr, Schema, SchemaKind, StringFormat, Type,
    VariantOrUnknownOrEmpty,
};

use crate::spec;

/// Which side of the API a type is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Decoded from request bodies and checked field by field.
    Request,
    /// Serialised into response bodies.
    Response,
}

/// The value shape of a property.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `type: string`, with its `format` when it is a plain-text one.
    Text(TextFormat),
    /// `format: uuid`.
    Uuid,
    /// `format: date-time`.
    DateTime,
    /// `type: integer`.
    Integer,
    /// `type: boolean`.
    Boolean,
    /// `type: object` with free-form properties.
    FreeObject,
    /// `{}`: any JSON value.
    Any,
    /// `type: array`.
    List(Box<Shape>),
    /// A `$ref` to another component schema.
    Named(String),
}

/// A plain-text string format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// No format.
    Plain,
    /// `format: email`.
    Email,
    /// `format: uri`.
    Uri,
}

/// One property of an object schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub shape: Shape,
    pub required: bool,
    pub nullable: bool,
    pub read_only: bool,
    pub max_length: Option<usize>,
    /// Whether an empty string is accepted: for nullable properties (as
    /// upstream's `blank=True` fields are) and for query parameters, where
    /// `?search=` means no search.
    pub allow_blank: bool,
    pub description: Option<String>,
    pub default: Option<serde_json::Value>,
}

/// One component schema, as a struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    pub name: String,
    pub side: Side,
    pub description: Option<String>,
    pub fields: Vec<Field>,
    /// `additionalProperties` with a schema: the shape of the other values.
    pub extra: Option<Shape>,
}

/// Every component schema the operations use.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub structs: Vec<Struct>,
}

impl Model {
    /// Builds the model from a prepared spec.
    pub fn build(spec: &OpenAPI) -> Result<Self> {
        let request_side = spec::reachable(spec, spec::request_roots(spec));
        let response_side = spec::reachable(spec, spec::response_roots(spec));
        if let Some(both) = request_side.intersection(&response_side).next() {
            bail!("schema {both} is used by both request and response bodies; give the request side its own schema");
        }
        let mut structs = Vec::new();
        let components = spec.components.as_ref().map(|c| &c.schemas);
        for (name, schema) in components.into_iter().flatten() {
            let side = if request_side.contains(name) {
                Side::Request
            } else if response_side.contains(name) {
                Side::Response
            } else {
                continue;
            };
            let ReferenceOr::Item(schema) = schema else {
                bail!("component schema {name} is a reference; inline it");
            };
            structs.push(build_struct(name, side, schema)?);
        }
        Ok(Model { structs })
    }

    /// The struct with this name.
    pub fn get(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }
}

fn build_struct(name: &str, side: Side, schema: &Schema) -> Result<Struct> {
    let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
        bail!("component schema {name} is not an object");
    };
    let mut fields = Vec::new();
    for (property, item) in &object.properties {
        let (shape, data, max_length) = match item {
            ReferenceOr::Reference { reference } => (named(reference)?, Default::default(), None),
            ReferenceOr::Item(inner) => (
                shape_of(inner).map_err(|e| e.context(format!("{name}.{property}")))?,
                inner.schema_data.clone(),
                max_length_of(inner),
            ),
        };
        fields.push(Field {
            name: property.clone(),
            shape,
            required: object.required.contains(property),
            nullable: data.nullable,
            read_only: data.read_only,
            max_length,
            allow_blank: data.nullable,
            description: data.description.clone(),
            default: data.default.clone(),
        });
    }
    let extra = match &object.additional_properties {
        Some(AdditionalProperties::Schema(extra)) if !object.properties.is_empty() => {
            Some(match extra.as_ref() {
                ReferenceOr::Reference { reference } => named(reference)?,
                ReferenceOr::Item(schema) => shape_of(schema)?,
            })
        }
        _ => None,
    };
    Ok(Struct {
        name: name.to_owned(),
        side,
        description: schema.schema_data.description.clone(),
        fields,
        extra,
    })
}

/// Where an operation parameter is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    /// A `{name}` segment of the path.
    Path,
    /// The query string.
    Query,
}

/// An operation parameter, as a field of its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub location: ParamLocation,
    pub field: Field,
}

/// The parameters of an operation, in order.
pub fn params(op: &openapiv3::Operation) -> Result<Vec<Param>> {
    let mut out = Vec::new();
    for param in &op.parameters {
        let ReferenceOr::Item(param) = param else {
            bail!("parameter references are not supported; inline the parameter");
        };
        let (location, data) = match param {
            openapiv3::Parameter::Path { parameter_data, .. } => {
                (ParamLocation::Path, parameter_data)
            }
            openapiv3::Parameter::Query { parameter_data, .. } => {
                (ParamLocation::Query, parameter_data)
            }
            other => bail!(
                "{}: only path and query parameters are supported",
                other.parameter_data_ref().name
            ),
        };
        let openapiv3::ParameterSchemaOrContent::Schema(ReferenceOr::Item(schema)) = &data.format
        else {
            bail!("{}: a parameter needs an inline schema", data.name);
        };
        let shape = shape_of(schema)?;
        if !matches!(
            shape,
            Shape::Text(_) | Shape::Uuid | Shape::Integer | Shape::Boolean
        ) {
            bail!(
                "{}: parameters must be strings, uuids, integers or booleans",
                data.name
            );
        }
        out.push(Param {
            location,
            field: Field {
                name: data.name.clone(),
                shape,
                required: data.required,
                nullable: false,
                read_only: false,
                max_length: max_length_of(schema),
                allow_blank: true,
                description: data.description.clone(),
                default: None,
            },
        });
    }
    Ok(out)
}

fn named(reference: &str) -> Result<Shape> {
    match spec::ref_name(reference) {
        Some(name) => Ok(Shape::Named(name.to_owned())),
        None => bail!("unsupported reference {reference}"),
    }
}

pub(super) fn max_length_of(schema: &Schema) -> Option<usize> {
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(string)) => string.max_length,
        _ => None,
    }
}

pub(super) fn shape_of(schema: &Schema) -> Result<Shape> {
    Ok(match &schema.schema_kind {
        SchemaKind::Type(Type::String(string)) => match &string.format {
            VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => Shape::DateTime,
            VariantOrUnknownOrEmpty::Unknown(format) => match format.as_str() {
                "uuid" => Shape::Uuid,
                "email" => Shape::Text(TextFormat::Email),
                "uri" => Shape::Text(TextFormat::Uri),
                other => bail!("unsupported string format {other}"),
            },
            VariantOrUnknownOrEmpty::Empty => Shape::Text(TextFormat::Plain),
            VariantOrUnknownOrEmpty::Item(other) => bail!("unsupported string format {other:?}"),
        },
        SchemaKind::Type(Type::Integer(_)) => Shape::Integer,
        SchemaKind::Type(Type::Boolean(_)) => Shape::Boolean,
        SchemaKind::Type(Type::Object(object)) if object.properties.is_empty() => Shape::FreeObject,
        SchemaKind::Type(Type::Array(array)) => {
            let items = match &array.items {
                Some(ReferenceOr::Reference { reference }) => named(reference)?,
                Some(ReferenceOr::Item(items)) => shape_of(items)?,
                None => Shape::Any,
            };
            Shape::List(Box::new(items))
        }
        SchemaKind::Any(any) if any == &Default::default() => Shape::Any,
        other => bail!("unsupported schema {other:?}; name it as a component object"),
    })
}
