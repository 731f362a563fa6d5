//! The `$metadata` document (OData CSDL XML) under the `/api/v2.0` root,
//! built from the same schema the sandbox serves, so a client that reads
//! entity shapes and enum members from `$metadata` sees exactly what the
//! endpoints return.
//!
//! NOTE: only what the sandbox models is described: entity types with their
//! properties, key, `MaxLength` and the navigation properties that the
//! sandbox serves, enum types with their wire member names, the entity
//! container and the bound actions. BC's annotations and ordinals are left
//! out.

use std::fmt::Write;

use super::http::child_link;
use super::schema::{EdmType, Schema};

const NAMESPACE: &str = "Microsoft.NAV";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn type_name(schema: &Schema, edm: &EdmType) -> String {
    match edm {
        EdmType::String => "Edm.String".into(),
        EdmType::Guid => "Edm.Guid".into(),
        EdmType::Decimal => "Edm.Decimal".into(),
        EdmType::Int32 => "Edm.Int32".into(),
        EdmType::Int64 => "Edm.Int64".into(),
        EdmType::Boolean => "Edm.Boolean".into(),
        EdmType::Date => "Edm.Date".into(),
        EdmType::DateTimeOffset => "Edm.DateTimeOffset".into(),
        EdmType::Enum(index) => schema.enums[*index].edm_name.clone(),
    }
}

/// Renders the CSDL document of every entity set in `schema`.
pub fn document(schema: &Schema) -> String {
    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n");
    xml.push_str("<edmx:DataServices>\n");
    let _ = writeln!(xml, "<Schema Namespace=\"{NAMESPACE}\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">");

    for enumeration in &schema.enums {
        let name = enumeration.edm_name.strip_prefix("Microsoft.NAV.").unwrap_or(&enumeration.edm_name);
        let _ = writeln!(xml, "<EnumType Name=\"{}\">", escape(name));
        for member in &enumeration.members {
            let _ = writeln!(xml, "<Member Name=\"{}\"/>", escape(member));
        }
        xml.push_str("</EnumType>\n");
    }

    for set in &schema.sets {
        let _ = writeln!(xml, "<EntityType Name=\"{}\">", escape(&set.entity));
        xml.push_str("<Key><PropertyRef Name=\"id\"/></Key>\n");
        for property in &set.properties {
            let nullable = if property.name == "id" { " Nullable=\"false\"" } else { "" };
            let length = property.max_length.map(|length| format!(" MaxLength=\"{length}\"")).unwrap_or_default();
            let _ = writeln!(
                xml,
                "<Property Name=\"{}\" Type=\"{}\"{nullable}{length}/>",
                escape(&property.name),
                escape(&type_name(schema, &property.edm))
            );
        }
        for navigation in &set.navigation {
            let Some((child_set, _)) = child_link(&set.set, navigation) else { continue };
            let Some(child) = schema.set(child_set) else { continue };
            let _ = writeln!(
                xml,
                "<NavigationProperty Name=\"{}\" Type=\"Collection({NAMESPACE}.{})\"/>",
                escape(navigation),
                escape(&child.entity)
            );
        }
        xml.push_str("</EntityType>\n");
    }

    for set in &schema.sets {
        for action in &set.bound_actions {
            let _ = writeln!(xml, "<Action Name=\"{}\" IsBound=\"true\">", escape(action));
            let _ = writeln!(xml, "<Parameter Name=\"bindingParameter\" Type=\"{NAMESPACE}.{}\"/>", escape(&set.entity));
            xml.push_str("</Action>\n");
        }
    }

    xml.push_str("<EntityContainer Name=\"default\">\n");
    for set in &schema.sets {
        let _ = writeln!(xml, "<EntitySet Name=\"{}\" EntityType=\"{NAMESPACE}.{}\"/>", escape(&set.set), escape(&set.entity));
    }
    xml.push_str("</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
    xml
}
